//! The Community ID flow hash, version 1, as specified by Corelight's public
//! community-id-spec and computed by Zeek, Suricata and the `pycommunityid`
//! reference implementation.
//!
//! The id of a flow is `"1:"` followed by the base64 (standard alphabet,
//! padded) of the SHA-1 of these bytes, all in network byte order:
//!
//! ```text
//! seed (2) | address A (4 or 16) | address B (4 or 16) | IP proto (1) | 0 (1) | port A (2) | port B (2)
//! ```
//!
//! Endpoint A is the smaller of the two (address first, then port, compared
//! as big-endian bytes), so both directions of a flow give the same id. The
//! ports are hashed for TCP, UDP, SCTP, ICMP and ICMPv6 only; for every other
//! IP protocol the last four bytes are left out. ICMP and ICMPv6 have no
//! ports: the message type stands for the source port and, for the
//! destination port, the type of the matching reply or request when the type
//! belongs to a two-way exchange (echo, timestamp, router and neighbor
//! discovery, ...), else the code. A one-way message (an error, say) is never
//! reordered, so its two directions are two ids, as in the spec.
//!
//! Contract: pure functions — no I/O, no allocation except a returned
//! `String`, no panics on any input. Version 1 hashes neither VLAN ids nor
//! tunnels nor the ICMP echo identifier: two pings between the same hosts
//! share one id, as in Zeek and Suricata.

use std::net::IpAddr;

use sha1::{Digest, Sha1};

use crate::decode::{ip_flags, Layer, Net, PacketInfo, Status, Transport};

/// Length of a rendered version 1 id: `"1:"` and 28 base64 characters.
pub const COMMUNITY_ID_V1_LEN: usize = 30;

const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_ICMPV6: u8 = 58;
const PROTO_SCTP: u8 = 132;

/// Whether version 1 hashes ports (or ICMP types) for IP protocol `proto`.
fn has_ports(proto: u8) -> bool {
    matches!(
        proto,
        PROTO_ICMP | PROTO_TCP | PROTO_UDP | PROTO_ICMPV6 | PROTO_SCTP
    )
}

/// The ICMP type that answers (or is answered by) `ty`, for the types the
/// spec pairs (after Zeek's `ICMP4_counterpart`).
fn icmpv4_counterpart(ty: u8) -> Option<u8> {
    Some(match ty {
        8 => 0,   // echo request -> echo reply
        0 => 8,   // echo reply -> echo request
        13 => 14, // timestamp -> timestamp reply
        14 => 13,
        15 => 16, // information request -> reply
        16 => 15,
        10 => 9, // router solicitation -> router advertisement
        9 => 10,
        17 => 18, // address mask request -> reply
        18 => 17,
        _ => return None,
    })
}

/// The ICMPv6 counterpart of `ty` (after Zeek's `ICMP6_counterpart`).
fn icmpv6_counterpart(ty: u8) -> Option<u8> {
    Some(match ty {
        128 => 129, // echo request -> echo reply
        129 => 128,
        130 => 131, // multicast listener query -> report
        131 => 130,
        133 => 134, // router solicitation -> router advertisement
        134 => 133,
        135 => 136, // neighbor solicitation -> neighbor advertisement
        136 => 135,
        139 => 140, // node information query -> response ("who are you")
        140 => 139,
        144 => 145, // home agent address discovery request -> reply
        145 => 144,
        _ => return None,
    })
}

/// The port equivalents of an ICMP (`icmpv6` false) or ICMPv6 message:
/// `(type, counterpart type, false)` for a type of a two-way exchange,
/// `(type, code, true)` for a one-way message (whose tuple is never
/// reordered).
pub fn icmp_port_equivalents(icmpv6: bool, icmp_type: u8, icmp_code: u8) -> (u16, u16, bool) {
    let counterpart = if icmpv6 {
        icmpv6_counterpart(icmp_type)
    } else {
        icmpv4_counterpart(icmp_type)
    };
    match counterpart {
        Some(c) => (icmp_type.into(), c.into(), false),
        None => (icmp_type.into(), icmp_code.into(), true),
    }
}

/// The ports hashed for `proto` and whether the tuple is one-way. For ICMP
/// and ICMPv6, `sport` is the type and `dport` the code; a "type" above 255
/// cannot be paired and counts as one-way.
fn hashed_ports(proto: u8, sport: u16, dport: u16) -> (Option<(u16, u16)>, bool) {
    let icmpv6 = match proto {
        PROTO_ICMP => false,
        PROTO_ICMPV6 => true,
        p if has_ports(p) => return (Some((sport, dport)), false),
        _ => return (None, false),
    };
    match u8::try_from(sport) {
        Ok(ty) => {
            let (s, d, one_way) = icmp_port_equivalents(icmpv6, ty, 0);
            if one_way {
                (Some((sport, dport)), true)
            } else {
                (Some((s, d)), false)
            }
        }
        Err(_) => (Some((sport, dport)), true),
    }
}

/// The SHA-1 of the ordered tuple (see the module docs).
fn hash(
    seed: u16,
    proto: u8,
    src: &[u8],
    dst: &[u8],
    ports: Option<(u16, u16)>,
    one_way: bool,
) -> [u8; 20] {
    let (sp, dp) = ports.unwrap_or((0, 0));
    let flip = !one_way && (src, sp) > (dst, dp);
    let (a, b, pa, pb) = if flip {
        (dst, src, dp, sp)
    } else {
        (src, dst, sp, dp)
    };
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    h.update(a);
    h.update(b);
    h.update([proto, 0]);
    if ports.is_some() {
        h.update(pa.to_be_bytes());
        h.update(pb.to_be_bytes());
    }
    h.finalize().into()
}

/// An address's network-order bytes: the first 4 of 16 for IPv4.
fn octets(a: IpAddr) -> ([u8; 16], usize) {
    let mut out = [0u8; 16];
    match a {
        IpAddr::V4(v4) => {
            out[..4].copy_from_slice(&v4.octets());
            (out, 4)
        }
        IpAddr::V6(v6) => (v6.octets(), 16),
    }
}

/// The raw 20-byte digest of [`community_id_v1`], without allocating.
pub fn community_id_v1_digest(
    seed: u16,
    proto: u8,
    src: impl Into<IpAddr>,
    dst: impl Into<IpAddr>,
    sport: u16,
    dport: u16,
) -> [u8; 20] {
    let (s, sl) = octets(src.into());
    let (d, dl) = octets(dst.into());
    let (ports, one_way) = hashed_ports(proto, sport, dport);
    hash(seed, proto, &s[..sl], &d[..dl], ports, one_way)
}

/// The Community ID (v1) of a flow tuple, e.g. `1:wCb3OG7yAFWelaUydu0D+125CLM=`.
///
/// For ICMP (`proto` 1) and ICMPv6 (58), `sport` is the message type and
/// `dport` its code, as in the spec's tables; the pairing of request and
/// reply types is done here. For protocols other than TCP, UDP, SCTP, ICMP
/// and ICMPv6 the ports are ignored (pass 0). Both directions of a flow give
/// the same id. Addresses of mixed families (which no monitor produces) are
/// hashed each at its own length, as the Python reference does.
pub fn community_id_v1(
    seed: u16,
    proto: u8,
    src: impl Into<IpAddr>,
    dst: impl Into<IpAddr>,
    sport: u16,
    dport: u16,
) -> String {
    encode_v1(&community_id_v1_digest(seed, proto, src, dst, sport, dport))
}

/// The raw digest of [`community_id_v1_packet`], without allocating.
pub fn community_id_v1_packet_digest(
    seed: u16,
    info: &PacketInfo,
    frame: &[u8],
) -> Option<[u8; 20]> {
    let (len, sport, dport) = packet_tuple(info, frame)?;
    let proto = info.ip_proto;
    let (ports, one_way) = hashed_ports(proto, sport, dport);
    Some(hash(
        seed,
        proto,
        &info.src[..len],
        &info.dst[..len],
        ports,
        one_way,
    ))
}

/// Whether a packet has a Community ID (v1), without hashing: what
/// [`community_id_v1_packet_digest`] returns `Some` for.
pub fn community_id_v1_packet_defined(info: &PacketInfo, frame: &[u8]) -> bool {
    packet_tuple(info, frame).is_some()
}

/// Address length and the ports (ICMP type and code) a packet's id hashes,
/// or `None` when it has no id.
fn packet_tuple(info: &PacketInfo, frame: &[u8]) -> Option<(usize, u16, u16)> {
    let len = match info.net {
        Net::Ipv4 => 4,
        Net::Ipv6 => 16,
        _ => return None,
    };
    // The IP header (and its extension headers, which name the protocol)
    // must have decoded.
    if info.status != Status::Ok
        && matches!(
            info.stop,
            Layer::Link
                | Layer::Vlan
                | Layer::Mpls
                | Layer::Arp
                | Layer::Ipv4
                | Layer::Ipv6
                | Layer::IpExtension
        )
    {
        return None;
    }
    let proto = info.ip_proto;
    let (sport, dport) = match (proto, info.transport) {
        (PROTO_TCP, Transport::Tcp) | (PROTO_UDP, Transport::Udp) => (info.src_port, info.dst_port),
        (PROTO_ICMP, Transport::Icmpv4) | (PROTO_ICMPV6, Transport::Icmpv6) => {
            (info.icmp_type.into(), info.icmp_code.into())
        }
        (PROTO_SCTP, Transport::Other) => sctp_ports(info, frame)?,
        // A fragment, or a transport header that did not decode: the
        // ports are unknown.
        (p, _) if has_ports(p) => return None,
        _ => (0, 0),
    };
    Some((len, sport, dport))
}

/// The SCTP ports: the first four bytes of the IP payload, which the decoder
/// leaves undecoded (`Transport::Other`).
pub(crate) fn sctp_ports(info: &PacketInfo, frame: &[u8]) -> Option<(u16, u16)> {
    if info.ip_flags & ip_flags::FRAGMENT != 0 {
        return None;
    }
    let at = info.payload_offset as usize;
    let b = frame.get(at..at.checked_add(4)?)?;
    Some((
        u16::from_be_bytes([b[0], b[1]]),
        u16::from_be_bytes([b[2], b[3]]),
    ))
}

/// The Community ID (v1) of a decoded packet, whichever direction it goes.
///
/// `frame` is the packet's captured bytes (those `info` was decoded from);
/// they are read only for the ports of SCTP, which [`PacketInfo`] does not
/// carry — pass `&[]` when they are not at hand, and SCTP packets give
/// `None`. ICMP/ICMPv6 types and codes are mapped to ports as the spec does.
///
/// `None` when the id is undefined or unknown: not IPv4/IPv6, an IP (or IPv6
/// extension) header that failed to decode, or a TCP/UDP/SCTP/ICMP packet
/// whose transport header is not there — IP fragments (the ports are known
/// only after reassembly) and truncated or malformed headers. Fragments of
/// other protocols have an id (it has no ports). The spec lets a monitor
/// report an empty id where it has none.
pub fn community_id_v1_packet(seed: u16, info: &PacketInfo, frame: &[u8]) -> Option<String> {
    community_id_v1_packet_digest(seed, info, frame).map(|d| encode_v1(&d))
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Renders a digest as a version 1 id (`"1:"` and padded standard base64)
/// into `out`, without allocating.
pub fn encode_v1_into<'a>(digest: &[u8; 20], out: &'a mut [u8; COMMUNITY_ID_V1_LEN]) -> &'a str {
    out[0] = b'1';
    out[1] = b':';
    for (chunk, quad) in digest.chunks(3).zip(out[2..].chunks_mut(4)) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let bits = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for (i, c) in quad.iter_mut().enumerate() {
            *c = if i <= chunk.len() {
                BASE64[((bits >> (18 - 6 * i)) & 63) as usize]
            } else {
                b'='
            };
        }
    }
    std::str::from_utf8(out).unwrap_or_default()
}

/// Renders a digest as a version 1 id: `"1:"` and padded standard base64.
pub fn encode_v1(digest: &[u8; 20]) -> String {
    let mut buf = [0u8; COMMUNITY_ID_V1_LEN];
    encode_v1_into(digest, &mut buf).to_owned()
}

#[cfg(test)]
mod tests;
