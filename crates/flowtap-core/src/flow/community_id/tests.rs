//! Tests of the Community ID against the spec's published reference data and
//! a real capture.
//!
//! - [`SPEC_TABLES`]: the three tables of community-id-spec's
//!   `baseline/README.md` (default seed, seed 1, no base64), one row per
//!   tuple; ICMP/ICMPv6 rows give type and code as the ports.
//! - [`SPEC_BASELINE`]: `baseline/baseline_{deflt,seed1,nob64}.json`, which
//!   pycommunityid's `community-id-pcap` produced from the spec's
//!   `pcaps/combined.pcap.gz`. Its ICMP rows hold the ports *after* the
//!   type mapping (type, counterpart type) — feeding them back as (type,
//!   code) gives the same tuple, since paired types ignore the code.
//!
//! Every vector is checked through the tuple API and, after building the
//! frame with etherparse and decoding it, through the packet API. The Zeek
//! test baseline in the shared corpus is checked on its capture: found
//! through `FLOWTAP_CORPUS`, else `<crate>/../../../shared/corpus`; missing,
//! it fails under CI (env `CI` set) and is skipped otherwise.

use std::fmt::Write as _;
use std::net::IpAddr;

use etherparse::{IpNumber, PacketBuilder};
use proptest::prelude::*;

use super::*;
use crate::decode::{decode, ip_flags, PacketInfo, Status, Transport};
use crate::source::{PacketSource, SourceOptions};
use crate::test_support::corpus_dir;
use crate::LinkType;

/// (IP proto, source, destination, source port or ICMP type, destination
/// port or ICMP code, id with seed 0, id with seed 1, hex digest with seed 0).
type Vector = (
    u8,
    &'static str,
    &'static str,
    Option<u16>,
    Option<u16>,
    &'static str,
    &'static str,
    &'static str,
);

/// community-id-spec `baseline/README.md`, its three tables side by side.
#[rustfmt::skip]
const SPEC_TABLES: &[Vector] = &[
    (6, "1.2.3.4", "5.6.7.8", Some(1122), Some(3344), "1:wCb3OG7yAFWelaUydu0D+125CLM=", "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=", "c026f7386ef200559e95a53276ed03fb5db908b3"),
    (6, "5.6.7.8", "1.2.3.4", Some(3344), Some(1122), "1:wCb3OG7yAFWelaUydu0D+125CLM=", "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=", "c026f7386ef200559e95a53276ed03fb5db908b3"),
    (17, "1.2.3.4", "5.6.7.8", Some(1122), Some(3344), "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "1:OShq+iKDAMVouh/4bMxB9Sz4amw=", "d0cbbd227431eb3e1988264cffb1d78b658c84e8"),
    (17, "5.6.7.8", "1.2.3.4", Some(3344), Some(1122), "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "1:OShq+iKDAMVouh/4bMxB9Sz4amw=", "d0cbbd227431eb3e1988264cffb1d78b658c84e8"),
    (132, "1.2.3.4", "5.6.7.8", Some(1122), Some(3344), "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "1:uitchpn5MMGAQKBJh7bIr/bAr7s=", "10ab7832cc6ec9a13a98bfa19ab12443d72c0c3f"),
    (132, "5.6.7.8", "1.2.3.4", Some(3344), Some(1122), "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "1:uitchpn5MMGAQKBJh7bIr/bAr7s=", "10ab7832cc6ec9a13a98bfa19ab12443d72c0c3f"),
    // ICMP echo request and its reply.
    (1, "1.2.3.4", "5.6.7.8", Some(8), Some(0), "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=", "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=", "72ba1d4472f6144b078dbbf752446b7dbb386d9d"),
    (1, "5.6.7.8", "1.2.3.4", Some(0), Some(0), "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=", "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=", "72ba1d4472f6144b078dbbf752446b7dbb386d9d"),
    // ICMP time exceeded: one-way.
    (1, "1.2.3.4", "5.6.7.8", Some(11), Some(0), "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=", "1:1DD7cWGC/Yg91YGsQeni8du3pIA=", "7ff6224b25aa733ad381f5026650549ef1d170f9"),
    // ICMPv6 echo request and reply, then a one-way type.
    (58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", Some(128), Some(0), "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", "1:IO27GQzPuCtNnwFvjWALMHu5tJE=", "d1b7fb872309530b777cc103ef3f0b21f46905ea"),
    (58, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", Some(129), Some(0), "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", "1:IO27GQzPuCtNnwFvjWALMHu5tJE=", "d1b7fb872309530b777cc103ef3f0b21f46905ea"),
    (58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", Some(146), Some(0), "1:fYC8+pz24E+EhANP1EZhpX0Dw10=", "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s=", "7d80bcfa9cf6e04f8484034fd44661a57d03c35d"),
    // RSVP: no ports.
    (46, "1.2.3.4", "5.6.7.8", None, None, "1:ikv3kmf89luf73WPz1jOs49S768=", "1:/buhqeOmaRCopOZFy9HnoJd5XW8=", "8a4bf79267fcf65b9fef758fcf58ceb38f52efaf"),
    (46, "5.6.7.8", "1.2.3.4", None, None, "1:ikv3kmf89luf73WPz1jOs49S768=", "1:/buhqeOmaRCopOZFy9HnoJd5XW8=", "8a4bf79267fcf65b9fef758fcf58ceb38f52efaf"),
    (46, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", None, None, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM=", "c10ff69b0ae75cfe259897077462f978f8d1f9ed"),
    (46, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", None, None, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM=", "c10ff69b0ae75cfe259897077462f978f8d1f9ed"),
];

/// community-id-spec `baseline/baseline_{deflt,seed1,nob64}.json`, entry by
/// entry (ICMP ports as mapped; see the module docs).
#[rustfmt::skip]
const SPEC_BASELINE: &[Vector] = &[
    // ICMPv6 neighbor solicitation (135) / advertisement (136): the first
    // pair is solicited by ::200:86ff..., the second by ::260:97ff..., so
    // they are two flows.
    (58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", Some(135), Some(136), "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=", "7461f21af8cc7e58e0e81a69c26ddb8342cef136"),
    (58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", Some(136), Some(135), "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=", "7461f21af8cc7e58e0e81a69c26ddb8342cef136"),
    (58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", Some(135), Some(136), "1:zavyT/cezQr1fmImYCwYnMXbgck=", "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM=", "cdabf24ff71ecd0af57e6226602c189cc5db81c9"),
    (58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", Some(136), Some(135), "1:zavyT/cezQr1fmImYCwYnMXbgck=", "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM=", "cdabf24ff71ecd0af57e6226602c189cc5db81c9"),
    // ICMPv6 time exceeded (3/0) and destination unreachable (1/4): one-way.
    (58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", Some(3), Some(0), "1:2ObVBgIn28oZvibYZhZMBgh7WdQ=", "1:lVEtCZpYu84Xqaa++3lXFyuu2n4=", "d8e6d5060227dbca19be26d866164c06087b59d4"),
    (58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", Some(1), Some(4), "1:hLZd0XGWojozrvxqE0dWB1iM6R0=", "1:W8MHwXpWzpoSTD+cGcaJr4u0ys8=", "84b65dd17196a23a33aefc6a13475607588ce91d"),
    // ICMPv6 echo request / reply.
    (58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", Some(128), Some(129), "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=", "1:GfZxjAkDk2MkegpBYHV6tadtFXQ=", "f935be1ed2c7bd5d719c6855d65bfb5e826ba908"),
    (58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", Some(129), Some(128), "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=", "1:GfZxjAkDk2MkegpBYHV6tadtFXQ=", "f935be1ed2c7bd5d719c6855d65bfb5e826ba908"),
    // ICMPv6 router solicitation (133) and advertisement (134), multicast.
    (58, "fe80::200:86ff:fe05:80da", "ff02::2", Some(133), Some(134), "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0=", "1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8=", "84efac3781fe306e4c63ff2122b5cfa9ce19433d"),
    (58, "fe80::260:97ff:fe07:69ea", "ff02::1", Some(134), Some(133), "1:pkvHqCL88/tg1k4cPigmZXUtL00=", "1:K/ee5UCqAMAQXDorP5nSa2CGLjc=", "a64bc7a822fcf3fb60d64e1c3e282665752d2f4d"),
    // ICMP echo request / reply, then time exceeded (one-way).
    (1, "192.168.0.89", "192.168.0.1", Some(8), Some(0), "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA=", "5f4b27617a60c22bfd4d9b6a83ae2c833527e839"),
    (1, "192.168.0.1", "192.168.0.89", Some(0), Some(8), "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA=", "5f4b27617a60c22bfd4d9b6a83ae2c833527e839"),
    (1, "10.0.0.1", "10.0.0.2", Some(11), Some(0), "1:YHxtAirCG//0OzkcVAukqKQN9xM=", "1:XjUibYHaafLQ3pxQeiMI8g25q20=", "607c6d022ac21bfff43b391c540ba4a8a40df713"),
    (6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", Some(63943), Some(25), "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw=", "fea15a78047e8057b52988cccd50ec32ffb0814e"),
    (6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", Some(25), Some(63943), "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw=", "fea15a78047e8057b52988cccd50ec32ffb0814e"),
    // SCTP with equal ports: the addresses decide the order.
    (132, "192.168.170.8", "192.168.170.56", Some(7), Some(7), "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg=", "30fd84b5108050866f4f0e8cc491cb57b37b243b"),
    (132, "192.168.170.56", "192.168.170.8", Some(7), Some(7), "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg=", "30fd84b5108050866f4f0e8cc491cb57b37b243b"),
    (6, "128.232.110.120", "66.35.250.204", Some(34855), Some(80), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc=", "2d053da9994af81e45dca0e67afea6e4f3226eb8"),
    (6, "66.35.250.204", "128.232.110.120", Some(80), Some(34855), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc=", "2d053da9994af81e45dca0e67afea6e4f3226eb8"),
    (17, "192.168.1.52", "8.8.8.8", Some(54585), Some(53), "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI=", "77f14fe445b7c22635bc29dd87095e451287a304"),
    (17, "8.8.8.8", "192.168.1.52", Some(53), Some(54585), "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI=", "77f14fe445b7c22635bc29dd87095e451287a304"),
    (46, "10.1.12.1", "10.1.12.2", None, None, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI=", "28794b920a095bb89f513c934a0c957e4147ccac"),
    (46, "10.1.12.2", "10.1.12.1", None, None, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI=", "28794b920a095bb89f513c934a0c957e4147ccac"),
];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn hex(d: &[u8]) -> String {
    d.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn all_vectors() -> impl Iterator<Item = &'static Vector> {
    SPEC_TABLES.iter().chain(SPEC_BASELINE)
}

/// An Ethernet frame carrying the vector's packet: TCP/UDP/ICMP/ICMPv6
/// headers as such, SCTP as a common header in a raw IP payload, any other
/// protocol as 8 zero bytes of payload.
fn frame_of(v: &Vector) -> Vec<u8> {
    let &(proto, src, dst, sport, dport, ..) = v;
    let (sp, dp) = (sport.unwrap_or(0), dport.unwrap_or(0));
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let ip = match (ip(src), ip(dst)) {
        (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => eth.ipv6(s.octets(), d.octets(), 64),
        _ => panic!("mixed address families in {v:?}"),
    };
    let mut out = Vec::new();
    let built = match proto {
        6 => ip.tcp(sp, dp, 1, 1024).write(&mut out, &[]),
        17 => ip.udp(sp, dp).write(&mut out, &[]),
        1 => ip
            .icmpv4_raw(sp as u8, dp as u8, [0; 4])
            .write(&mut out, &[]),
        58 => ip
            .icmpv6_raw(sp as u8, dp as u8, [0; 4])
            .write(&mut out, &[]),
        132 => {
            let mut common = [0u8; 12];
            common[..2].copy_from_slice(&sp.to_be_bytes());
            common[2..4].copy_from_slice(&dp.to_be_bytes());
            ip.write(&mut out, IpNumber(132), &common)
        }
        p => ip.write(&mut out, IpNumber(p), &[0; 8]),
    };
    built.unwrap_or_else(|e| panic!("building {v:?}: {e}"));
    out
}

fn decoded(frame: &[u8]) -> PacketInfo {
    decode(LinkType::ETHERNET, frame, frame.len() as u32)
}

// ------------------------------------------------------------ reference data

#[test]
fn spec_vectors_through_the_tuple_api() {
    for v @ &(proto, src, dst, sport, dport, seed0, seed1, digest) in all_vectors() {
        let (sp, dp) = (sport.unwrap_or(0), dport.unwrap_or(0));
        let (s, d) = (ip(src), ip(dst));
        assert_eq!(community_id_v1(0, proto, s, d, sp, dp), seed0, "{v:?}");
        assert_eq!(community_id_v1(1, proto, s, d, sp, dp), seed1, "{v:?}");
        assert_eq!(
            hex(&community_id_v1_digest(0, proto, s, d, sp, dp)),
            digest,
            "{v:?}"
        );
    }
}

#[test]
fn spec_vectors_through_the_packet_api() {
    for v @ &(proto, _, _, _, _, seed0, seed1, digest) in all_vectors() {
        let frame = frame_of(v);
        let info = decoded(&frame);
        assert_eq!(
            (info.status, info.ip_proto),
            (Status::Ok, proto),
            "{v:?} decoded as {info:?}"
        );
        let id = |seed| community_id_v1_packet(seed, &info, &frame);
        assert_eq!(id(0).as_deref(), Some(seed0), "{v:?}");
        assert_eq!(id(1).as_deref(), Some(seed1), "{v:?}");
        let raw = community_id_v1_packet_digest(0, &info, &frame);
        assert_eq!(raw.map(|d| hex(&d)).as_deref(), Some(digest), "{v:?}");
    }
}

#[test]
fn encoding_is_padded_standard_base64() {
    assert_eq!(encode_v1(&[0; 20]), "1:AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    assert_eq!(encode_v1(&[0xff; 20]), "1://////////////////////////8=");
    // "1:wCb3OG7yAFWelaUydu0D+125CLM=" is the spec's TCP example.
    let d: [u8; 20] = [
        0xc0, 0x26, 0xf7, 0x38, 0x6e, 0xf2, 0x00, 0x55, 0x9e, 0x95, 0xa5, 0x32, 0x76, 0xed, 0x03,
        0xfb, 0x5d, 0xb9, 0x08, 0xb3,
    ];
    let mut buf = [0u8; COMMUNITY_ID_V1_LEN];
    assert_eq!(
        encode_v1_into(&d, &mut buf),
        "1:wCb3OG7yAFWelaUydu0D+125CLM="
    );
    assert_eq!(encode_v1(&d), "1:wCb3OG7yAFWelaUydu0D+125CLM=");
}

// ---------------------------------------------------------------- semantics

#[test]
fn icmp_types_pair_as_the_spec_does() {
    let v4 = [(8, 0), (13, 14), (15, 16), (10, 9), (17, 18)];
    let v6 = [
        (128, 129),
        (130, 131),
        (133, 134),
        (135, 136),
        (139, 140),
        (144, 145),
    ];
    for (icmpv6, pairs) in [(false, &v4[..]), (true, &v6[..])] {
        for &(a, b) in pairs {
            for code in [0, 7] {
                assert_eq!(
                    icmp_port_equivalents(icmpv6, a, code),
                    (a.into(), b.into(), false)
                );
                assert_eq!(
                    icmp_port_equivalents(icmpv6, b, code),
                    (b.into(), a.into(), false)
                );
            }
        }
    }
    // Errors and everything unpaired: one-way, the code is the "port".
    assert_eq!(icmp_port_equivalents(false, 3, 1), (3, 1, true));
    assert_eq!(icmp_port_equivalents(false, 128, 0), (128, 0, true));
    assert_eq!(icmp_port_equivalents(true, 8, 0), (8, 0, true));
    assert_eq!(icmp_port_equivalents(true, 1, 4), (1, 4, true));
}

#[test]
fn one_way_icmp_is_not_reordered() {
    let (a, b) = (ip("1.2.3.4"), ip("5.6.7.8"));
    // Time exceeded from b to a: not the same id as from a to b...
    assert_ne!(
        community_id_v1(0, 1, a, b, 11, 0),
        community_id_v1(0, 1, b, a, 11, 0)
    );
    // ...whereas an echo reply pairs with the request, whatever the codes.
    assert_eq!(
        community_id_v1(0, 1, a, b, 8, 0),
        community_id_v1(0, 1, b, a, 0, 3)
    );
    // A "type" above 255 cannot be paired: one-way.
    assert_ne!(
        community_id_v1(0, 1, a, b, 264, 0),
        community_id_v1(0, 1, b, a, 264, 0)
    );
}

#[test]
fn ports_count_only_for_port_protocols() {
    let (a, b) = (ip("10.1.12.1"), ip("10.1.12.2"));
    let rsvp = "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=";
    assert_eq!(community_id_v1(0, 46, a, b, 0, 0), rsvp);
    assert_eq!(community_id_v1(0, 46, a, b, 1234, 80), rsvp);
    for proto in [6, 17, 132] {
        assert_ne!(
            community_id_v1(0, proto, a, b, 1234, 80),
            community_id_v1(0, proto, a, b, 1234, 81)
        );
    }
}

#[test]
fn equal_addresses_are_ordered_by_port() {
    let a = ip("127.0.0.1");
    assert_eq!(
        community_id_v1(0, 6, a, a, 80, 1234),
        community_id_v1(0, 6, a, a, 1234, 80)
    );
    assert_ne!(
        community_id_v1(0, 6, a, a, 80, 1234),
        community_id_v1(0, 6, a, a, 80, 1235)
    );
}

#[test]
fn sctp_ports_need_the_frame_bytes() {
    let v = &SPEC_TABLES[4];
    assert_eq!(v.0, 132);
    let frame = frame_of(v);
    let info = decoded(&frame);
    assert_eq!(info.transport, Transport::Other);
    assert_eq!(community_id_v1_packet(0, &info, &[]), None);
    // Cut inside the SCTP ports.
    let cut = &frame[..info.payload_offset as usize + 3];
    assert_eq!(community_id_v1_packet(0, &info, cut), None);
    assert_eq!(
        community_id_v1_packet(0, &info, &frame).as_deref(),
        Some(v.5)
    );
}

/// Sets the IPv4 "more fragments" flag of an Ethernet/IPv4 frame.
fn fragmented(mut frame: Vec<u8>) -> Vec<u8> {
    frame[14 + 6] |= 0x20;
    frame
}

#[test]
fn packets_without_a_known_tuple_have_no_id() {
    // Not IP.
    assert_eq!(community_id_v1_packet(0, &PacketInfo::default(), &[]), None);
    let mut arp = vec![0xff; 6];
    arp.extend([2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    arp.extend([0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend([0; 20]);
    assert_eq!(community_id_v1_packet(0, &decoded(&arp), &arp), None);

    // A TCP fragment: its ports are not known before reassembly.
    let tcp = frame_of(&SPEC_TABLES[0]);
    let frag = fragmented(tcp.clone());
    let info = decoded(&frag);
    assert_ne!(info.ip_flags & ip_flags::FRAGMENT, 0);
    assert_eq!(community_id_v1_packet(0, &info, &frag), None);

    // A fragment of a port-less protocol keeps its id.
    let rsvp = fragmented(frame_of(&SPEC_TABLES[12]));
    let info = decoded(&rsvp);
    assert_ne!(info.ip_flags & ip_flags::FRAGMENT, 0);
    assert_eq!(
        community_id_v1_packet(0, &info, &rsvp).as_deref(),
        Some(SPEC_TABLES[12].5)
    );

    // A TCP header cut by the snaplen.
    let cut = &tcp[..14 + 20 + 10];
    let info = decode(LinkType::ETHERNET, cut, tcp.len() as u32);
    assert_eq!(info.status, Status::Truncated);
    assert_eq!(community_id_v1_packet(0, &info, cut), None);

    // An IPv4 header cut by the snaplen.
    let cut = &tcp[..14 + 12];
    let info = decode(LinkType::ETHERNET, cut, tcp.len() as u32);
    assert_ne!(info.status, Status::Ok);
    assert_eq!(community_id_v1_packet(0, &info, cut), None);

    // A TCP packet whose payload the snaplen cut still has its id.
    let v = &SPEC_TABLES[0];
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut full = Vec::new();
    eth.ipv4([1, 2, 3, 4], [5, 6, 7, 8], 64)
        .tcp(1122, 3344, 1, 1024)
        .write(&mut full, &[0x55; 100])
        .unwrap();
    let cut = &full[..full.len() - 50];
    let info = decode(LinkType::ETHERNET, cut, full.len() as u32);
    assert_eq!(info.status, Status::Truncated);
    assert_eq!(community_id_v1_packet(0, &info, cut).as_deref(), Some(v.5));
}

proptest! {
    #[test]
    fn both_directions_give_one_id(
        seed in any::<u16>(),
        proto in any::<u8>().prop_filter("not ICMP", |p| *p != 1 && *p != 58),
        v6 in any::<bool>(),
        a in any::<[u8; 16]>(),
        b in any::<[u8; 16]>(),
        sp in any::<u16>(),
        dp in any::<u16>(),
    ) {
        let addr = |x: [u8; 16]| -> IpAddr {
            if v6 {
                x.into()
            } else {
                [x[0], x[1], x[2], x[3]].into()
            }
        };
        let (a, b) = (addr(a), addr(b));
        prop_assert_eq!(
            community_id_v1_digest(seed, proto, a, b, sp, dp),
            community_id_v1_digest(seed, proto, b, a, dp, sp)
        );
    }

    #[test]
    fn icmp_request_and_reply_give_one_id(
        seed in any::<u16>(),
        (icmpv6, ty) in prop_oneof![
            prop::sample::select(vec![0u8, 8, 9, 10, 13, 14, 15, 16, 17, 18])
                .prop_map(|t| (false, t)),
            prop::sample::select(vec![128u8, 129, 130, 131, 133, 134, 135, 136, 139, 140, 144, 145])
                .prop_map(|t| (true, t)),
        ],
        codes in any::<(u8, u8)>(),
        a in any::<[u8; 16]>(),
        b in any::<[u8; 16]>(),
    ) {
        let (_, answer, one_way) = icmp_port_equivalents(icmpv6, ty, codes.0);
        prop_assert!(!one_way);
        let (proto, a, b): (u8, IpAddr, IpAddr) = if icmpv6 {
            (58, a.into(), b.into())
        } else {
            (1, [a[0], a[1], a[2], a[3]].into(), [b[0], b[1], b[2], b[3]].into())
        };
        prop_assert_eq!(
            community_id_v1(seed, proto, a, b, ty.into(), codes.0.into()),
            community_id_v1(seed, proto, b, a, answer, codes.1.into())
        );
    }
}

// ---------------------------------------------------------------- real data

/// Zeek test baselines in the shared corpus that log `community_id`:
/// (capture, baseline file under `expected/`). The baselines are
/// `zeek-cut id.orig_h id.orig_p id.resp_h id.resp_p proto service
/// community_id` output of Zeek's conn.log (seed 0).
const ZEEK_BASELINES: &[(&str, &str)] = &[(
    "zeek_tcp_handshake-reorder.pcap",
    "zeek_tcp_handshake-reorder.pcap.source/\
     scripts.policy.protocols.conn.community-id-logging-flipped/conn.log.cut",
)];

fn proto_number(name: &str) -> u8 {
    match name {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        other => panic!("unexpected proto {other:?}"),
    }
}

#[test]
fn zeek_conn_log_community_ids() {
    let Some(dir) = corpus_dir() else { return };
    for &(capture, baseline) in ZEEK_BASELINES {
        let path = dir.join("expected").join(baseline);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // (orig, resp, proto) -> (expected id, packets checked)
        let mut conns = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 7, "{}: {line:?}", path.display());
            let port = |s: &str| s.parse::<u16>().unwrap();
            let orig = (ip(f[0]), port(f[1]));
            let resp = (ip(f[2]), port(f[3]));
            let proto = proto_number(f[4]);
            // The tuple API on the logged tuple.
            assert_eq!(
                community_id_v1(0, proto, orig.0, resp.0, orig.1, resp.1),
                f[6],
                "{line:?}"
            );
            conns.push((orig, resp, proto, f[6].to_owned(), 0u64));
        }
        assert!(!conns.is_empty(), "{}: no connections", path.display());

        // The packet API on every packet of each connection.
        let file = std::fs::File::open(dir.join(capture)).unwrap();
        let mut src =
            PacketSource::new(std::io::BufReader::new(file), SourceOptions::default()).unwrap();
        let addr = |b: &[u8; 16], v6: bool| -> IpAddr {
            if v6 {
                (*b).into()
            } else {
                [b[0], b[1], b[2], b[3]].into()
            }
        };
        src.for_each(|frame, info| {
            let v6 = info.net == crate::decode::Net::Ipv6;
            let s = (addr(&info.src, v6), info.src_port);
            let d = (addr(&info.dst, v6), info.dst_port);
            for (orig, resp, proto, id, seen) in conns.iter_mut() {
                if info.ip_proto == *proto && ((s, d) == (*orig, *resp) || (s, d) == (*resp, *orig))
                {
                    let got = community_id_v1_packet(0, info, frame.data);
                    assert_eq!(got.as_deref(), Some(id.as_str()), "{capture}: {info:?}");
                    *seen += 1;
                }
            }
        })
        .unwrap();
        for (orig, resp, _, _, seen) in &conns {
            assert!(*seen > 0, "{capture}: no packet of {orig:?} -> {resp:?}");
        }
    }
}
