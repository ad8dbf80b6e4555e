//! Re-reads the IP header of a fragment from the frame's bytes.
//!
//! The decoder's [`PacketInfo`](crate::decode::PacketInfo) says *whether* a
//! packet is a fragment and where its IP header starts; everything else is
//! read here, with bounds checks, because the decoder's `payload_offset` and
//! `ip_proto` are not what reassembly needs: for IPv4 with an authentication
//! header and for IPv6 it parses headers *after* the fragment header, which
//! in a non-first fragment are just data (see the module documentation).

use super::DropReason;
use crate::decode::ipv6_ext::{find_fragment, Walk};

/// What identifies the fragments of one datagram (RFC 791 / RFC 8200).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Key {
    /// 4 or 6: IPv4 and IPv6 fragments never mix, even with equal numbers.
    pub family: u8,
    /// IPv4 protocol; 0 for IPv6 (not part of its key).
    pub proto: u8,
    pub id: u32,
    pub src: [u8; 16],
    pub dst: [u8; 16],
}

/// One fragment, borrowed from the frame.
#[derive(Debug)]
pub(super) struct Fragment<'a> {
    pub key: Key,
    /// Byte offset of `data` in the datagram's fragmentable part.
    pub offset: u32,
    /// More fragments follow (IPv4 MF, IPv6 M).
    pub more: bool,
    pub data: &'a [u8],
    /// The header the reassembled datagram starts with, should this be the
    /// first fragment: the IPv4 header with its options, or the IPv6 header
    /// and the extension headers before the fragment header.
    pub header: &'a [u8],
    /// IPv6: index in `header` of the "next header" byte that names the
    /// fragment header (6 when the fragment header follows the IPv6 header).
    pub next_header_at: usize,
    /// IPv6: the fragment header's next header; IPv4: the protocol.
    pub next_header: u8,
}

#[derive(Debug)]
pub(super) enum Parsed<'a> {
    Fragment(Fragment<'a>),
    /// Not fragmented after all (IPv4 offset 0 and MF clear; IPv6 without a
    /// fragment header).
    Whole,
    /// IPv6 whose first fragment header has offset 0 and M=0 (RFC 6946).
    Atomic,
    Bad(DropReason),
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// `missing` is what to report when the IP length claims bytes the frame
/// does not have: truncated (snaplen) or malformed (the length lies).
pub(super) fn parse(ip: &[u8], missing: DropReason) -> Parsed<'_> {
    match ip.first().map(|b| b >> 4) {
        Some(4) => parse_v4(ip, missing),
        Some(6) => parse_v6(ip, missing),
        Some(_) => Parsed::Bad(DropReason::Malformed),
        None => Parsed::Bad(missing),
    }
}

fn parse_v4(ip: &[u8], missing: DropReason) -> Parsed<'_> {
    if ip.len() < 20 {
        return Parsed::Bad(missing);
    }
    let ihl = (ip[0] & 0x0f) as usize * 4;
    let total = be16(ip, 2) as usize;
    if ihl < 20 || total < ihl {
        // total 0 (segmentation offload) cannot be a fragment either
        return Parsed::Bad(DropReason::Malformed);
    }
    if ip.len() < total {
        return Parsed::Bad(missing);
    }
    let word = be16(ip, 6);
    let more = word & 0x2000 != 0;
    let offset = (word & 0x1fff) as u32 * 8;
    if !more && offset == 0 {
        return Parsed::Whole;
    }
    let mut src = [0; 16];
    let mut dst = [0; 16];
    src[..4].copy_from_slice(&ip[12..16]);
    dst[..4].copy_from_slice(&ip[16..20]);
    Parsed::Fragment(Fragment {
        key: Key {
            family: 4,
            proto: ip[9],
            id: be16(ip, 4) as u32,
            src,
            dst,
        },
        offset,
        more,
        data: &ip[ihl..total],
        header: &ip[..ihl],
        next_header_at: 9,
        next_header: ip[9],
    })
}

fn parse_v6(ip: &[u8], missing: DropReason) -> Parsed<'_> {
    if ip.len() < 40 {
        return Parsed::Bad(missing);
    }
    let plen = be16(ip, 4) as usize;
    if plen == 0 {
        // a jumbogram (RFC 2675 forbids fragmenting those) or offload
        return Parsed::Bad(DropReason::Malformed);
    }
    let Some(ip) = ip.get(..40 + plen) else {
        return Parsed::Bad(missing);
    };
    // The extension headers before the fragment header form the
    // unfragmentable part.
    let f = match find_fragment(ip[6], &ip[40..]) {
        Walk::Fragment(f) => f,
        Walk::NoFragment => return Parsed::Whole,
        Walk::Cut => return Parsed::Bad(DropReason::Malformed),
    };
    let at = 40 + f.at;
    let next_at = f.named_at.map_or(6, |n| 40 + n);
    let more = f.more;
    let offset = f.offset_units as u32 * 8;
    if !more && offset == 0 {
        return Parsed::Atomic;
    }
    let mut src = [0; 16];
    let mut dst = [0; 16];
    src.copy_from_slice(&ip[8..24]);
    dst.copy_from_slice(&ip[24..40]);
    Parsed::Fragment(Fragment {
        key: Key {
            family: 6,
            proto: 0,
            id: f.id,
            src,
            dst,
        },
        offset,
        more,
        data: &ip[at + 8..],
        header: &ip[..at],
        next_header_at: next_at,
        next_header: f.next,
    })
}
