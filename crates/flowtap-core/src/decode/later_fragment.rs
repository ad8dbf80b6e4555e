//! IP fragments other than the first: their payload is the middle of a
//! datagram, so nothing after the IP header (and, for IPv6, after the
//! fragment header) may be parsed as a header. etherparse would read an
//! IPv4 AH, or IPv6 extension headers following the fragment header, out of
//! that data; this module decodes such packets first.
//!
//! Contract: [`decode_ip`] returns `false` without touching `p` unless the
//! packet is an IPv4 fragment with a non-zero offset, or an IPv6 packet
//! whose fragment header has a non-zero offset; then it fills the IP fields,
//! the `FRAGMENT` flags and the payload (the fragment's data) and returns
//! `true`. Reads stay in bounds; nothing panics.

use super::ipv6_ext::{find_fragment, Walk};
use super::{ip_flags, Cx, Layer, Net, PacketInfo, Status};

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// What the IP header says, before anything is written.
struct Fragment {
    net: Net,
    /// Offset of the fragment's data in the packet.
    data_start: usize,
    /// End of the datagram by its length field(s), in the packet.
    end: usize,
    proto: u8,
    id: u32,
    offset_bytes: u16,
    more: bool,
    flags: u8,
}

fn ipv4(b: &[u8]) -> Option<Fragment> {
    let ihl = (*b.first()? & 0x0f) as usize * 4;
    let total = be16(b, 2)? as usize;
    let frag = be16(b, 6)?;
    if *b.first()? >> 4 != 4 || ihl < 20 || b.len() < ihl || frag & 0x1fff == 0 || total < ihl {
        return None;
    }
    let mut flags = 0;
    if frag & 0x4000 != 0 {
        flags |= ip_flags::DONT_FRAGMENT;
    }
    if ihl > 20 {
        flags |= ip_flags::IPV4_OPTIONS;
    }
    Some(Fragment {
        net: Net::Ipv4,
        data_start: ihl,
        end: total,
        proto: b[9],
        id: be16(b, 4)? as u32,
        offset_bytes: (frag & 0x1fff).wrapping_mul(8),
        more: frag & 0x2000 != 0,
        flags,
    })
}

fn ipv6(b: &[u8]) -> Option<Fragment> {
    if *b.first()? >> 4 != 6 || b.len() < 40 {
        return None;
    }
    let plen = be16(b, 4)? as usize;
    let Walk::Fragment(f) = find_fragment(b[6], &b[40..]) else {
        return None;
    };
    if f.offset_units == 0 {
        return None;
    }
    Some(Fragment {
        net: Net::Ipv6,
        data_start: 40 + f.at + 8,
        end: 40 + plen,
        proto: f.next,
        id: f.id,
        offset_bytes: f.offset_units.wrapping_mul(8),
        more: f.more,
        flags: ip_flags::EXTENSIONS,
    })
}

pub(super) fn decode_ip(off: usize, cx: &Cx<'_>, p: &mut PacketInfo) -> bool {
    let Some(b) = cx.data.get(off..) else {
        return false;
    };
    let Some(f) = ipv4(b).or_else(|| ipv6(b)) else {
        return false;
    };
    p.net = f.net;
    p.l3_offset = off as u32;
    if f.net == Net::Ipv4 {
        p.src[..4].copy_from_slice(&b[12..16]);
        p.dst[..4].copy_from_slice(&b[16..20]);
        p.ttl = b[8];
        p.stop = Layer::Ipv4;
    } else {
        p.src.copy_from_slice(&b[8..24]);
        p.dst.copy_from_slice(&b[24..40]);
        p.ttl = b[7];
        p.stop = Layer::Ipv6;
    }
    p.ip_proto = f.proto;
    p.ip_id = f.id;
    p.frag_offset = f.offset_bytes;
    p.ip_flags |= f.flags | ip_flags::FRAGMENT;
    if f.more {
        p.ip_flags |= ip_flags::MORE_FRAGMENTS;
    }
    let start = off + f.data_start.min(b.len());
    if f.end > b.len() {
        // The datagram's length claims bytes the capture does not have.
        p.set_payload(start, cx.data.len());
        if cx.cut {
            p.fail(Layer::Payload, Status::Truncated);
        } else {
            p.fail(p.stop, Status::Malformed);
        }
    } else {
        p.set_payload(start, off + f.end.max(f.data_start));
    }
    true
}
