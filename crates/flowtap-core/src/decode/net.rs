//! Network and transport layers, sliced by etherparse's lax (truncation
//! tolerant) zero-copy parser and summarised into a [`PacketInfo`].

use etherparse::err::packet::SliceError;
use etherparse::err::Layer as ELayer;
use etherparse::{LaxNetSlice, LaxSlicedPacket, LenSource, TransportSlice};

use super::ipv6_ext::{find_fragment, Walk};
use super::{ip_flags, tcp_options, Cx, Layer, Net, PacketInfo, Status, Transport};

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_ARP: u16 = 0x0806;

pub(super) fn decode_ethertype(et: u16, off: usize, cx: &Cx<'_>, p: &mut PacketInfo) {
    match et {
        ETH_IPV4 | ETH_IPV6 => decode_ip(off, cx, p),
        ETH_ARP => {
            p.net = Net::Arp;
            p.l3_offset = off as u32;
            // 8 fixed bytes, then sender and target hardware and protocol
            // addresses of the lengths the header gives (28 bytes in all for
            // Ethernet/IPv4); fewer bytes mean a cut or bogus packet.
            let need = match (cx.data.get(off + 4), cx.data.get(off + 5)) {
                (Some(&hlen), Some(&plen)) => 8 + 2 * (hlen as usize + plen as usize),
                _ => 8,
            };
            if cx.data.len() < off + need {
                p.fail(Layer::Arp, cx.short_status());
            } else {
                p.stop = Layer::Arp;
            }
            p.set_payload(off, cx.data.len());
        }
        _ => {
            p.net = Net::Other;
            p.set_payload(off, cx.data.len());
        }
    }
}

pub(super) fn decode_ip(off: usize, cx: &Cx<'_>, p: &mut PacketInfo) {
    if cx.fast && super::fast_path::decode_ip(off, cx, p) {
        return;
    }
    if super::later_fragment::decode_ip(off, cx, p) {
        return;
    }
    let data = cx.data;
    let Some(ip_bytes) = data.get(off..) else {
        p.fail(Layer::Link, cx.short_status());
        return;
    };
    p.l3_offset = off as u32;
    let version = ip_bytes.first().map(|b| b >> 4);
    let ip_layer = if version == Some(6) {
        Layer::Ipv6
    } else {
        Layer::Ipv4
    };
    let sliced = match LaxSlicedPacket::from_ip(ip_bytes) {
        Ok(s) => s,
        Err(e) => {
            use etherparse::err::ip::LaxHeaderSliceError as E;
            p.net = match version {
                Some(4) => Net::Ipv4,
                Some(6) => Net::Ipv6,
                _ => Net::Other,
            };
            let status = match e {
                E::Len(_) => cx.short_status(),
                E::Content(_) => Status::Malformed,
            };
            p.fail(ip_layer, status);
            p.set_payload(off, data.len());
            return;
        }
    };
    let base = data.as_ptr() as usize;
    let offset_of = |s: &[u8]| (s.as_ptr() as usize).saturating_sub(base);

    // IPv4 total length below the header length: bogus, except 0, which
    // TCP segmentation offload leaves in packets captured on the sender.
    let mut bogus_total_len = false;
    let payload = match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            bogus_total_len = h.total_len() != 0 && (h.total_len() as usize) < h.slice().len();
            p.net = Net::Ipv4;
            p.src[..4].copy_from_slice(&h.source());
            p.dst[..4].copy_from_slice(&h.destination());
            p.ttl = h.ttl();
            p.ip_id = h.identification() as u32;
            p.frag_offset = h.fragments_offset().byte_offset();
            if h.more_fragments() {
                p.ip_flags |= ip_flags::MORE_FRAGMENTS;
            }
            if h.dont_fragment() {
                p.ip_flags |= ip_flags::DONT_FRAGMENT;
            }
            if h.ihl() > 5 {
                p.ip_flags |= ip_flags::IPV4_OPTIONS;
            }
            if v4.extensions().auth.is_some() {
                p.ip_flags |= ip_flags::EXTENSIONS;
            }
            p.stop = Layer::Ipv4;
            v4.payload().clone()
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            p.net = Net::Ipv6;
            p.src = h.source();
            p.dst = h.destination();
            p.ttl = h.hop_limit();
            let exts = v6.extensions();
            if !exts.is_empty() {
                p.ip_flags |= ip_flags::EXTENSIONS;
            }
            let first = exts.first_header().map(|n| n.0);
            if let Some(Walk::Fragment(f)) = first.map(|n| find_fragment(n, exts.slice())) {
                let (id, units, more) = (f.id, f.offset_units, f.more);
                p.ip_id = id;
                p.frag_offset = units.wrapping_mul(8);
                if more {
                    p.ip_flags |= ip_flags::MORE_FRAGMENTS;
                } else if units == 0 {
                    p.ip_flags |= ip_flags::ATOMIC_FRAGMENT;
                }
            }
            p.stop = Layer::Ipv6;
            v6.payload().clone()
        }
        // from_ip never yields ARP or nothing.
        _ => return,
    };
    p.ip_proto = payload.ip_number.0;
    p.set_payload(
        offset_of(payload.payload),
        offset_of(payload.payload) + payload.payload.len(),
    );
    if payload.fragmented {
        p.ip_flags |= ip_flags::FRAGMENT;
    }
    if bogus_total_len || (payload.incomplete && !cx.cut) {
        // The IP length is impossible, or claims bytes that were never on
        // the wire.
        p.fail(ip_layer, Status::Malformed);
        return;
    }
    // The snaplen cut into the IP packet itself (not just a link trailer or
    // padding after it); when the IP length is unusable (TSO), any cut counts.
    let ip_cut = cx.cut && (payload.incomplete || payload.len_source == LenSource::Slice);

    if let Some((err, layer)) = &sliced.stop_err {
        let status = match err {
            SliceError::Len(_) => cx.short_status(),
            _ => Status::Malformed,
        };
        let layer = match layer {
            ELayer::TcpHeader => Layer::Tcp,
            ELayer::UdpHeader | ELayer::UdpPayload => Layer::Udp,
            ELayer::Icmpv4 | ELayer::Icmpv4Timestamp | ELayer::Icmpv4TimestampReply => {
                Layer::Icmpv4
            }
            ELayer::Icmpv6 => Layer::Icmpv6,
            ELayer::Ipv4Header | ELayer::Ipv4Packet => Layer::Ipv4,
            ELayer::Ipv6Header | ELayer::Ipv6Packet => Layer::Ipv6,
            ELayer::IpHeader => ip_layer,
            _ => Layer::IpExtension,
        };
        if matches!(
            layer,
            Layer::Tcp | Layer::Udp | Layer::Icmpv4 | Layer::Icmpv6
        ) {
            p.l4_offset = p.payload_offset;
        }
        p.fail(layer, status);
        return;
    }
    if payload.fragmented {
        if ip_cut {
            p.fail(Layer::Payload, Status::Truncated);
        }
        return;
    }

    // Records the transport header starting at `header` and its payload.
    let enter = |p: &mut PacketInfo, t: Transport, l: Layer, header: &[u8], pl: &[u8]| {
        p.transport = t;
        p.stop = l;
        p.l4_offset = offset_of(header) as u32;
        p.set_payload(offset_of(pl), offset_of(pl) + pl.len());
    };
    match &sliced.transport {
        Some(TransportSlice::Tcp(t)) => {
            enter(p, Transport::Tcp, Layer::Tcp, t.slice(), t.payload());
            p.src_port = t.source_port();
            p.dst_port = t.destination_port();
            p.seq = t.sequence_number();
            p.ack = t.acknowledgment_number();
            p.window = t.window_size();
            let hs = t.header_slice();
            p.tcp_flags = hs[13] as u16 | ((hs[12] as u16 & 1) << 8);
            p.tcp_options = tcp_options::parse(t.options());
        }
        Some(TransportSlice::Udp(u)) => {
            enter(p, Transport::Udp, Layer::Udp, u.slice(), u.payload());
            p.src_port = u.source_port();
            p.dst_port = u.destination_port();
        }
        Some(TransportSlice::Icmpv4(i)) => {
            enter(p, Transport::Icmpv4, Layer::Icmpv4, i.slice(), i.payload());
            (p.icmp_type, p.icmp_code) = (i.type_u8(), i.code_u8());
        }
        Some(TransportSlice::Icmpv6(i)) => {
            enter(p, Transport::Icmpv6, Layer::Icmpv6, i.slice(), i.payload());
            (p.icmp_type, p.icmp_code) = (i.type_u8(), i.code_u8());
        }
        Some(_) | None => {
            p.transport = Transport::Other;
        }
    }
    if ip_cut && p.status == Status::Ok {
        // Every header is whole but the payload lost bytes to the snaplen.
        p.status = Status::Truncated;
        p.stop = Layer::Payload;
    }
}
