//! The common case, decoded directly: IPv4 (options allowed, not a
//! fragment) or IPv6 without extension headers, carrying TCP or UDP, with
//! every header whole and every length consistent with the bytes captured.
//!
//! Contract: [`decode_ip`] either fills `p` exactly as the general
//! (etherparse) path would — a differential proptest checks this — and
//! returns `true`, or returns `false` without touching `p`, leaving
//! everything unusual (fragments, extension headers, AH, ICMP, bad or cut
//! headers, lengths that lie, segmentation offload) to the general path.
//! It reads only in bounds and never panics.

use super::{ip_flags, tcp_options, Cx, Layer, Net, PacketInfo, Transport};

const TCP: u8 = 6;
const UDP: u8 = 17;

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The IP layer's facts, gathered before anything is written.
struct Ip<'a> {
    net: Net,
    header: &'a [u8],
    /// The IP payload, cut to the IP length.
    payload: &'a [u8],
    proto: u8,
}

fn ipv4(b: &[u8]) -> Option<Ip<'_>> {
    if b.len() < 20 || b[0] >> 4 != 4 {
        return None;
    }
    let ihl = (b[0] & 0x0f) as usize * 4;
    let total = be16(b, 2) as usize;
    let frag = be16(b, 6);
    let proto = b[9];
    // Not a fragment (MF clear, offset 0); lengths consistent and captured.
    if ihl < 20 || total < ihl || total > b.len() || frag & 0x3fff != 0 {
        return None;
    }
    if proto != TCP && proto != UDP {
        return None;
    }
    Some(Ip {
        net: Net::Ipv4,
        header: &b[..ihl],
        payload: &b[ihl..total],
        proto,
    })
}

fn ipv6(b: &[u8]) -> Option<Ip<'_>> {
    if b.len() < 40 || b[0] >> 4 != 6 {
        return None;
    }
    let plen = be16(b, 4) as usize;
    let next = b[6];
    // Length 0 is a jumbogram or offload; any other header than TCP/UDP
    // next (extension headers) goes the general way.
    if plen == 0 || 40 + plen > b.len() || (next != TCP && next != UDP) {
        return None;
    }
    Some(Ip {
        net: Net::Ipv6,
        header: &b[..40],
        payload: &b[40..40 + plen],
        proto: next,
    })
}

pub(super) fn decode_ip(off: usize, cx: &Cx<'_>, p: &mut PacketInfo) -> bool {
    let Some(bytes) = cx.data.get(off..) else {
        return false;
    };
    let Some(ip) = ipv4(bytes).or_else(|| ipv6(bytes)) else {
        return false;
    };
    let l4 = ip.payload;
    // Transport header bounds, checked before anything is written.
    let (header_len, end) = match ip.proto {
        TCP => {
            if l4.len() < 20 {
                return false;
            }
            let doff = (l4[12] >> 4) as usize * 4;
            if doff < 20 || doff > l4.len() {
                return false;
            }
            (doff, l4.len())
        }
        _ => {
            if l4.len() < 8 {
                return false;
            }
            // As etherparse's lax UDP: the UDP length bounds the datagram
            // when it is plausible, else the IP payload does.
            let len = be16(l4, 4) as usize;
            (
                8,
                if (8..=l4.len()).contains(&len) {
                    len
                } else {
                    l4.len()
                },
            )
        }
    };

    let h = ip.header;
    p.l3_offset = off as u32;
    p.net = ip.net;
    p.ip_proto = ip.proto;
    if ip.net == Net::Ipv4 {
        p.src[..4].copy_from_slice(&h[12..16]);
        p.dst[..4].copy_from_slice(&h[16..20]);
        p.ttl = h[8];
        p.ip_id = be16(h, 4) as u32;
        if h[6] & 0x40 != 0 {
            p.ip_flags |= ip_flags::DONT_FRAGMENT;
        }
        if h.len() > 20 {
            p.ip_flags |= ip_flags::IPV4_OPTIONS;
        }
    } else {
        p.src.copy_from_slice(&h[8..24]);
        p.dst.copy_from_slice(&h[24..40]);
        p.ttl = h[7];
    }
    let l4_offset = off + h.len();
    p.l4_offset = l4_offset as u32;
    p.src_port = be16(l4, 0);
    p.dst_port = be16(l4, 2);
    if ip.proto == TCP {
        p.transport = Transport::Tcp;
        p.stop = Layer::Tcp;
        p.seq = be32(l4, 4);
        p.ack = be32(l4, 8);
        p.window = be16(l4, 14);
        p.tcp_flags = l4[13] as u16 | ((l4[12] as u16 & 1) << 8);
        p.tcp_options = tcp_options::parse(&l4[20..header_len]);
    } else {
        p.transport = Transport::Udp;
        p.stop = Layer::Udp;
    }
    p.set_payload(l4_offset + header_len, l4_offset + end);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Status;

    fn cx(data: &[u8]) -> Cx<'_> {
        Cx {
            data,
            cut: false,
            fast: true,
        }
    }

    fn ipv4_tcp(frag: u16) -> Vec<u8> {
        let mut v = vec![
            0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        v[6..8].copy_from_slice(&frag.to_be_bytes());
        v.extend_from_slice(&[0, 80, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 2, 0x50, 0x12, 1, 0]);
        v.extend_from_slice(&[0, 0, 0, 0]);
        v
    }

    #[test]
    fn takes_the_common_case() {
        let data = ipv4_tcp(0x4000);
        let mut p = PacketInfo::default();
        assert!(decode_ip(0, &cx(&data), &mut p));
        assert_eq!((p.src_port, p.dst_port, p.seq, p.ack), (80, 8080, 1, 2));
        assert_eq!(
            (p.transport, p.stop, p.status),
            (Transport::Tcp, Layer::Tcp, Status::Ok)
        );
        assert_eq!(p.ip_flags, ip_flags::DONT_FRAGMENT);
    }

    #[test]
    fn leaves_fragments_and_short_headers_alone() {
        let mut p = PacketInfo::default();
        assert!(!decode_ip(0, &cx(&ipv4_tcp(0x2000)), &mut p));
        assert!(!decode_ip(0, &cx(&ipv4_tcp(0)[..30]), &mut p));
        assert_eq!(p, PacketInfo::default());
    }
}
