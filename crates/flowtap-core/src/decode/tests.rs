//! Layer-by-layer tests of [`decode`] on hand-built frames with known values.
//!
//! Frames are assembled from literal header bytes by the small builders
//! below (lengths and offsets are computed, values are literal), so each
//! assertion states exactly what the wire says.

use super::*;
use crate::LinkType;

// ---------------------------------------------------------------- builders

const MAC_A: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
const MAC_B: [u8; 6] = [0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb];
const V4_SRC: [u8; 4] = [192, 168, 1, 10];
const V4_DST: [u8; 4] = [10, 0, 0, 1];
const V6_SRC: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
];
const V6_DST: [u8; 16] = [
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55,
];

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn eth(ethertype: u16) -> Vec<u8> {
    cat(&[&MAC_B, &MAC_A, &ethertype.to_be_bytes()])
}

/// The rest of an 802.1Q/802.1ad tag after its TPID (which the previous
/// header's type field holds): PCP 3 / DEI 0 / VID, then the next type.
fn vlan(vid: u16, next: u16) -> Vec<u8> {
    cat(&[&((3 << 13) | vid).to_be_bytes(), &next.to_be_bytes()])
}

/// IPv4 header with correct IHL and total length (checksum left 0, which the
/// decoder does not check). `frag` is the raw flags+offset word.
fn ipv4(proto: u8, ttl: u8, id: u16, frag: u16, options: &[u8], payload: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let ihl = 5 + options.len() / 4;
    let total = (ihl * 4 + payload.len()) as u16;
    cat(&[
        &[0x40 | ihl as u8, 0x00],
        &total.to_be_bytes(),
        &id.to_be_bytes(),
        &frag.to_be_bytes(),
        &[ttl, proto, 0, 0],
        &V4_SRC,
        &V4_DST,
        options,
        payload,
    ])
}

const DF: u16 = 0x4000;
const MF: u16 = 0x2000;

fn ipv6(next: u8, hop_limit: u8, payload: &[u8]) -> Vec<u8> {
    cat(&[
        &[0x60, 0x00, 0x00, 0x00],
        &(payload.len() as u16).to_be_bytes(),
        &[next, hop_limit],
        &V6_SRC,
        &V6_DST,
        payload,
    ])
}

/// An IPv6 extension header of 8 bytes (hop-by-hop or destination options,
/// padded with a PadN option).
fn ext8(next: u8) -> Vec<u8> {
    vec![next, 0, 1, 4, 0, 0, 0, 0]
}

fn frag6(next: u8, offset_units: u16, more: bool, id: u32) -> Vec<u8> {
    let word = (offset_units << 3) | more as u16;
    cat(&[&[next, 0], &word.to_be_bytes(), &id.to_be_bytes()])
}

#[allow(clippy::too_many_arguments)]
fn tcp(
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u16,
    window: u16,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let doff = (5 + options.len() / 4) as u16;
    let word = (doff << 12) | (flags & 0x01ff);
    cat(&[
        &sport.to_be_bytes(),
        &dport.to_be_bytes(),
        &seq.to_be_bytes(),
        &ack.to_be_bytes(),
        &word.to_be_bytes(),
        &window.to_be_bytes(),
        &[0, 0, 0, 0], // checksum, urgent pointer
        options,
        payload,
    ])
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    cat(&[
        &sport.to_be_bytes(),
        &dport.to_be_bytes(),
        &len.to_be_bytes(),
        &[0, 0],
        payload,
    ])
}

/// ICMPv4/ICMPv6 message: type, code, checksum 0, 4 bytes rest-of-header.
fn icmp(ty: u8, code: u8, rest: [u8; 4], payload: &[u8]) -> Vec<u8> {
    cat(&[&[ty, code, 0, 0], &rest, payload])
}

/// Ethernet/IPv4 ARP request.
fn arp_request() -> Vec<u8> {
    cat(&[
        &[0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01],
        &MAC_A,
        &V4_SRC,
        &[0; 6],
        &V4_DST,
    ])
}

fn v4(a: [u8; 4]) -> [u8; 16] {
    let mut out = [0; 16];
    out[..4].copy_from_slice(&a);
    out
}

/// Decodes a whole (uncut) frame and checks the invariants every result
/// must hold.
fn dec(link: LinkType, data: &[u8]) -> PacketInfo {
    dec_cut(link, data, data.len() as u32)
}

fn dec_cut(link: LinkType, data: &[u8], origlen: u32) -> PacketInfo {
    let p = decode(link, data, origlen);
    assert!(
        p.payload_offset as usize + p.payload_len as usize <= data.len(),
        "payload {}+{} beyond {} bytes: {p:?}",
        p.payload_offset,
        p.payload_len,
        data.len()
    );
    assert!(p.l3_offset as usize <= data.len() && p.l4_offset as usize <= data.len());
    p
}

const PAYLOAD: &[u8] = b"GET / HTTP/1.1\r\n\r\n";

// ---------------------------------------------------------------- link layers

#[test]
fn ethernet_ipv4_tcp_all_fields() {
    // MSS 1460, SACK permitted, timestamps 0x01020304/0x0a0b0c0d, NOP, WS 7
    let opts = [
        2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 1, 3, 3, 7,
    ];
    let seg = tcp(
        49152,
        80,
        0x1122_3344,
        0x5566_7788,
        tcp_flags::SYN | tcp_flags::ACK,
        29200,
        &opts,
        PAYLOAD,
    );
    let f = cat(&[&eth(0x0800), &ipv4(6, 64, 0xbeef, DF, &[], &seg)]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(p.status, Status::Ok);
    assert_eq!(p.stop, Layer::Tcp);
    assert_eq!(p.ethertype, 0x0800);
    assert_eq!((p.vlan_count, p.vlan_id), (0, 0));
    assert_eq!(p.net, Net::Ipv4);
    assert_eq!(p.src, v4(V4_SRC));
    assert_eq!(p.dst, v4(V4_DST));
    assert_eq!(p.ip_proto, 6);
    assert_eq!(p.ttl, 64);
    assert_eq!(p.ip_id, 0xbeef);
    assert_eq!(p.ip_flags, ip_flags::DONT_FRAGMENT);
    assert_eq!(p.frag_offset, 0);
    assert_eq!(p.transport, Transport::Tcp);
    assert_eq!((p.src_port, p.dst_port), (49152, 80));
    assert_eq!((p.seq, p.ack), (0x1122_3344, 0x5566_7788));
    assert_eq!(p.window, 29200);
    assert_eq!(p.tcp_flags, tcp_flags::SYN | tcp_flags::ACK);
    assert_eq!(
        p.tcp_options,
        TcpOptions {
            present: tcp_opts::MSS
                | tcp_opts::SACK_PERMITTED
                | tcp_opts::TIMESTAMP
                | tcp_opts::WSCALE,
            mss: 1460,
            wscale: 7,
            ts_val: 0x0102_0304,
            ts_ecr: 0x0a0b_0c0d,
        }
    );
    assert_eq!(p.l3_offset, 14);
    assert_eq!(p.l4_offset, 34);
    assert_eq!(p.payload_offset, 34 + 40);
    assert_eq!(p.payload_len, PAYLOAD.len() as u32);
    assert_eq!(
        &f[p.payload_offset as usize..][..p.payload_len as usize],
        PAYLOAD
    );
}

#[test]
fn tcp_flag_bits_in_wire_order() {
    for (bits, name) in [
        (tcp_flags::FIN, "FIN"),
        (tcp_flags::SYN, "SYN"),
        (tcp_flags::RST, "RST"),
        (tcp_flags::PSH, "PSH"),
        (tcp_flags::ACK, "ACK"),
        (tcp_flags::URG, "URG"),
        (tcp_flags::ECE, "ECE"),
        (tcp_flags::CWR, "CWR"),
        (tcp_flags::NS, "NS"),
        (0x1ff, "all"),
        (0, "none"),
    ] {
        let seg = tcp(1, 2, 3, 4, bits, 5, &[], &[]);
        let f = cat(&[&eth(0x0800), &ipv4(6, 1, 1, 0, &[], &seg)]);
        let p = dec(LinkType::ETHERNET, &f);
        assert_eq!(p.tcp_flags, bits, "{name}");
        assert_eq!(p.tcp_options, TcpOptions::default(), "{name}");
        assert_eq!((p.payload_offset, p.payload_len), (54, 0), "{name}");
    }
    // The wire byte itself: 0x12 is SYN+ACK, the low bit of byte 12 is NS.
    let mut seg = tcp(1, 2, 3, 4, 0, 5, &[], &[]);
    seg[12] |= 1;
    seg[13] = 0x12;
    let f = cat(&[&eth(0x0800), &ipv4(6, 1, 1, 0, &[], &seg)]);
    assert_eq!(
        dec(LinkType::ETHERNET, &f).tcp_flags,
        tcp_flags::NS | tcp_flags::SYN | tcp_flags::ACK
    );
}

#[test]
fn tcp_bad_option_list_is_flagged_but_segment_decodes() {
    // MSS option claiming 40 bytes inside an 8-byte option area
    let seg = tcp(
        1,
        2,
        3,
        4,
        tcp_flags::SYN,
        5,
        &[2, 40, 5, 0xb4, 1, 1, 1, 1],
        b"x",
    );
    let f = cat(&[&eth(0x0800), &ipv4(6, 1, 1, 0, &[], &seg)]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(
        (p.status, p.stop, p.transport),
        (Status::Ok, Layer::Tcp, Transport::Tcp)
    );
    assert_eq!(p.tcp_options.present, tcp_opts::INVALID);
    assert_eq!((p.payload_offset, p.payload_len), (34 + 28, 1));
}

#[test]
fn ethernet_ipv4_udp_excludes_ethernet_padding() {
    // 4-byte datagram: the frame is padded to the 60-byte Ethernet minimum.
    let mut f = cat(&[
        &eth(0x0800),
        &ipv4(17, 128, 7, 0, &[], &udp(5353, 53, b"abcd")),
    ]);
    assert_eq!(f.len(), 46);
    f.resize(60, 0);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!((p.status, p.stop), (Status::Ok, Layer::Udp));
    assert_eq!(p.transport, Transport::Udp);
    assert_eq!(p.ip_proto, 17);
    assert_eq!((p.src_port, p.dst_port), (5353, 53));
    assert_eq!((p.l3_offset, p.l4_offset), (14, 34));
    assert_eq!((p.payload_offset, p.payload_len), (42, 4));
    assert_eq!((p.seq, p.tcp_flags, p.window), (0, 0, 0));
}

#[test]
fn single_vlan_tag() {
    let seg = udp(1000, 2000, b"hi");
    let f = cat(&[
        &eth(0x8100),
        &vlan(100, 0x0800),
        &ipv4(17, 64, 1, 0, &[], &seg),
    ]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!((p.status, p.stop), (Status::Ok, Layer::Udp));
    assert_eq!((p.vlan_count, p.vlan_id), (1, 100));
    assert_eq!(p.ethertype, 0x0800);
    assert_eq!((p.l3_offset, p.l4_offset), (18, 38));
    assert_eq!((p.payload_offset, p.payload_len), (46, 2));
    assert_eq!(p.src, v4(V4_SRC));
}

#[test]
fn qinq_and_triple_tags() {
    // 802.1ad outer (VID 10) + 802.1Q inner (VID 20)
    let inner = ipv4(
        6,
        64,
        1,
        0,
        &[],
        &tcp(1, 2, 3, 4, tcp_flags::ACK, 9, &[], &[]),
    );
    let f = cat(&[&eth(0x88a8), &vlan(10, 0x8100), &vlan(20, 0x0800), &inner]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!((p.status, p.stop), (Status::Ok, Layer::Tcp));
    assert_eq!((p.vlan_count, p.vlan_id), (2, 10));
    assert_eq!(p.ethertype, 0x0800);
    assert_eq!((p.l3_offset, p.l4_offset, p.payload_offset), (22, 42, 62));

    // 0x88a8, 0x8100, 0x8100 (as in Zeek's vlan-qinqinq trace), then IPv6
    let inner6 = ipv6(17, 255, &udp(546, 547, b"dhcp"));
    let f = cat(&[
        &eth(0x88a8),
        &vlan(4000, 0x8100),
        &vlan(2, 0x8100),
        &vlan(3, 0x86dd),
        &inner6,
    ]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!((p.status, p.stop), (Status::Ok, Layer::Udp));
    assert_eq!((p.vlan_count, p.vlan_id), (3, 4000));
    assert_eq!(p.ethertype, 0x86dd);
    assert_eq!(p.net, Net::Ipv6);
    assert_eq!((p.l3_offset, p.l4_offset), (26, 66));
    assert_eq!((p.src_port, p.dst_port, p.payload_len), (546, 547, 4));

    // the old non-standard QinQ TPIDs 0x9100/0x9200 count as tags too
    let f = cat(&[&eth(0x9100), &vlan(7, 0x9200), &vlan(8, 0x0800), &inner]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!((p.vlan_count, p.vlan_id, p.l3_offset), (2, 7, 22));
    assert_eq!(p.stop, Layer::Tcp);
}

#[test]
fn mpls_label_stack_to_ipv4() {
    // two labels (16, 17); bottom-of-stack bit on the second; TTL 255
    let labels = [0x00, 0x01, 0x00, 0xff, 0x00, 0x01, 0x11, 0xff];
    let f = cat(&[
        &eth(0x8847),
        &labels,
        &ipv4(17, 63, 9, 0, &[], &udp(1, 2, b"xyz")),
    ]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!((p.status, p.stop), (Status::Ok, Layer::Udp));
    assert_eq!(p.ethertype, 0x8847);
    assert_eq!(p.net, Net::Ipv4);
    assert_eq!((p.l3_offset, p.l4_offset, p.payload_offset), (22, 42, 50));
    assert_eq!(p.ttl, 63);

    // VLAN, then MPLS (multicast ethertype), then IPv6
    let f = cat(&[
        &eth(0x8100),
        &vlan(5, 0x8848),
        &[0x00, 0x01, 0x01, 0x40],
        &ipv6(59, 1, &[]),
    ]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!((p.vlan_count, p.vlan_id, p.ethertype), (1, 5, 0x8848));
    assert_eq!((p.net, p.l3_offset), (Net::Ipv6, 22));
    // next header 59 (no next header): IPv6 is the innermost layer
    assert_eq!(
        (p.status, p.stop, p.transport),
        (Status::Ok, Layer::Ipv6, Transport::Other)
    );
}

#[test]
fn mpls_pseudowire_and_cut_stack() {
    // Ethernet pseudowire with a control word: not IP, left undecoded
    let f = cat(&[
        &eth(0x8847),
        &[0x00, 0x02, 0x01, 0x40],
        &[0, 0, 0, 0],
        &eth(0x0800),
    ]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(
        (p.status, p.stop, p.net),
        (Status::Ok, Layer::Mpls, Net::Other)
    );
    assert_eq!((p.payload_offset, p.payload_len), (18, 18));

    // a stack without bottom-of-stack label that runs off the captured bytes
    let f = cat(&[&eth(0x8847), &[0x00, 0x01, 0x00, 0x40, 0x00, 0x01]]);
    let p = dec_cut(LinkType::ETHERNET, &f, 100);
    assert_eq!(
        (p.status, p.stop, p.ethertype),
        (Status::Truncated, Layer::Mpls, 0x8847)
    );
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!((p.status, p.stop), (Status::Malformed, Layer::Mpls));
}

#[test]
fn linux_sll_cooked_v1() {
    // packet type 0 (to us), ARPHRD_ETHER, address length 6, MAC + 2 pad, protocol
    let sll = |proto: u16| {
        cat(&[
            &[0x00, 0x00, 0x00, 0x01, 0x00, 0x06],
            &MAC_A,
            &[0, 0],
            &proto.to_be_bytes(),
        ])
    };
    let f = cat(&[
        &sll(0x0800),
        &ipv4(
            6,
            64,
            2,
            0,
            &[],
            &tcp(80, 51000, 1, 2, tcp_flags::FIN, 3, &[], b"bye"),
        ),
    ]);
    let p = dec(LinkType::LINUX_SLL, &f);
    assert_eq!((p.status, p.stop), (Status::Ok, Layer::Tcp));
    assert_eq!(p.ethertype, 0x0800);
    assert_eq!(
        (p.l3_offset, p.l4_offset, p.payload_offset, p.payload_len),
        (16, 36, 56, 3)
    );
    assert_eq!(
        (p.src_port, p.dst_port, p.tcp_flags),
        (80, 51000, tcp_flags::FIN)
    );

    // VLAN-tagged protocol on the cooked header
    let f = cat(&[
        &sll(0x8100),
        &vlan(33, 0x86dd),
        &ipv6(17, 2, &udp(7, 8, &[])),
    ]);
    let p = dec(LinkType::LINUX_SLL, &f);
    assert_eq!(
        (p.vlan_count, p.vlan_id, p.l3_offset, p.stop),
        (1, 33, 20, Layer::Udp)
    );

    // Linux pseudo-protocol 0x0004 (802.2 LLC): not an ethertype
    let f = cat(&[&sll(0x0004), &[0x42, 0x42, 0x03]]);
    let p = dec(LinkType::LINUX_SLL, &f);
    assert_eq!(
        (p.status, p.net, p.ethertype),
        (Status::Ok, Net::Other, 0x0004)
    );
    assert_eq!((p.payload_offset, p.payload_len), (16, 3));

    // cooked header cut short
    let p = dec_cut(LinkType::LINUX_SLL, &sll(0x0800)[..10], 60);
    assert_eq!((p.status, p.stop), (Status::Truncated, Layer::Link));
}

#[test]
fn linux_sll2_cooked_v2() {
    // protocol, reserved, ifindex 3, ARPHRD_ETHER, packet type 4 (outgoing), addr len 6, addr
    let hdr = cat(&[
        &0x86ddu16.to_be_bytes(),
        &[0, 0],
        &3u32.to_be_bytes(),
        &1u16.to_be_bytes(),
        &[4, 6],
        &MAC_B,
        &[0, 0],
    ]);
    assert_eq!(hdr.len(), 20);
    let f = cat(&[&hdr, &ipv6(17, 64, &udp(40000, 443, b"quic"))]);
    let p = dec(LinkType::LINUX_SLL2, &f);
    assert_eq!(
        (p.status, p.stop, p.net),
        (Status::Ok, Layer::Udp, Net::Ipv6)
    );
    assert_eq!(p.ethertype, 0x86dd);
    assert_eq!(p.src, V6_SRC);
    assert_eq!(p.dst, V6_DST);
    assert_eq!(p.ttl, 64);
    assert_eq!(
        (p.l3_offset, p.l4_offset, p.payload_offset, p.payload_len),
        (20, 60, 68, 4)
    );
    assert_eq!((p.src_port, p.dst_port), (40000, 443));

    let p = dec(LinkType::LINUX_SLL2, &hdr[..19]);
    assert_eq!((p.status, p.stop), (Status::Malformed, Layer::Link));
}

#[test]
fn bsd_null_both_byte_orders_and_families() {
    let ip4 = ipv4(17, 64, 1, 0, &[], &udp(1, 2, b"4"));
    let ip6 = ipv6(17, 64, &udp(1, 2, b"6"));
    for (af, ip, net) in [
        (2u32, &ip4, Net::Ipv4),
        (24, &ip6, Net::Ipv6), // NetBSD/OpenBSD AF_INET6
        (28, &ip6, Net::Ipv6), // FreeBSD
        (30, &ip6, Net::Ipv6), // Darwin
        (10, &ip6, Net::Ipv6), // Linux
    ] {
        for hdr in [af.to_le_bytes(), af.to_be_bytes()] {
            let f = cat(&[&hdr, ip]);
            for link in [LinkType::NULL, LinkType::LOOP] {
                let p = dec(link, &f);
                assert_eq!(
                    (p.status, p.stop, p.net),
                    (Status::Ok, Layer::Udp, net),
                    "{af} {hdr:?} {link:?}"
                );
                assert_eq!(p.l3_offset, 4);
                assert_eq!(p.l4_offset, if net == Net::Ipv4 { 24 } else { 44 });
                assert_eq!(p.payload_len, 1);
                assert_eq!(p.ethertype, 0);
            }
        }
    }
    // an address family we do not know: the rest is left alone
    let f = cat(&[&7u32.to_le_bytes(), &ip4]);
    let p = dec(LinkType::NULL, &f);
    assert_eq!(
        (p.status, p.stop, p.net),
        (Status::Ok, Layer::Link, Net::Other)
    );
    assert_eq!((p.payload_offset, p.payload_len), (4, ip4.len() as u32));
    // fewer than 4 header bytes
    let p = dec_cut(LinkType::NULL, &[2, 0], 40);
    assert_eq!((p.status, p.stop), (Status::Truncated, Layer::Link));
}

#[test]
fn raw_ip_link_types() {
    let ip4 = ipv4(1, 9, 1, 0, &[], &icmp(8, 0, [0, 1, 0, 2], b"ping"));
    let ip6 = ipv6(58, 255, &icmp(128, 0, [0, 1, 0, 2], b"ping"));
    for link in [
        LinkType::RAW,
        LinkType::RAW_BSD12,
        LinkType::RAW_BSD14,
        LinkType::IPV4,
    ] {
        let p = dec(link, &ip4);
        assert_eq!(
            (p.status, p.stop, p.net),
            (Status::Ok, Layer::Icmpv4, Net::Ipv4),
            "{link:?}"
        );
        assert_eq!(
            (p.l3_offset, p.l4_offset, p.payload_offset, p.payload_len),
            (0, 20, 28, 4)
        );
        assert_eq!(p.src, v4(V4_SRC));
    }
    for link in [LinkType::RAW, LinkType::IPV6] {
        let p = dec(link, &ip6);
        assert_eq!(
            (p.status, p.stop, p.net),
            (Status::Ok, Layer::Icmpv6, Net::Ipv6),
            "{link:?}"
        );
        assert_eq!(
            (p.l3_offset, p.l4_offset, p.payload_offset, p.payload_len),
            (0, 40, 48, 4)
        );
        assert_eq!((p.src, p.dst), (V6_SRC, V6_DST));
    }
    // a version nibble that is neither 4 nor 6
    let mut bad = ip4.clone();
    bad[0] = 0x75;
    let p = dec(LinkType::RAW, &bad);
    assert_eq!((p.status, p.net), (Status::Malformed, Net::Other));
}

#[test]
fn unknown_link_type_is_carried_through() {
    let p = dec(LinkType(147), b"\x01\x02\x03");
    assert_eq!(
        (p.status, p.stop, p.net),
        (Status::Ok, Layer::Link, Net::None)
    );
    assert_eq!((p.payload_offset, p.payload_len), (0, 3));
}

#[test]
fn ieee_802_3_llc_frame() {
    // 802.3 length 38, LLC DSAP/SSAP 0x42 (STP), UI; then a config BPDU
    let llc = cat(&[&[0x42, 0x42, 0x03], &[0u8; 35]]);
    let mut f = cat(&[
        &[0x01, 0x80, 0xc2, 0, 0, 0],
        &MAC_A,
        &38u16.to_be_bytes(),
        &llc,
    ]);
    f.resize(60, 0);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(
        (p.status, p.stop, p.net),
        (Status::Ok, Layer::Link, Net::Other)
    );
    assert_eq!(p.ethertype, 38);
    assert_eq!(p.transport, Transport::None);
    assert_eq!((p.payload_offset, p.payload_len), (14, 46));
}

#[test]
fn other_ethertype_is_left_alone() {
    let f = cat(&[&eth(0x88cc), &[1, 2, 3, 4]]); // LLDP
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(
        (p.status, p.stop, p.net, p.ethertype),
        (Status::Ok, Layer::Link, Net::Other, 0x88cc)
    );
    assert_eq!((p.payload_offset, p.payload_len), (14, 4));
}

// ---------------------------------------------------------------- network layer

#[test]
fn ipv4_with_options() {
    // Router Alert (4 bytes) + NOP NOP NOP EOL
    let opts = [0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00];
    let f = cat(&[
        &eth(0x0800),
        &ipv4(17, 1, 0x1234, 0, &opts, &udp(9, 10, b"opt")),
    ]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!((p.status, p.stop), (Status::Ok, Layer::Udp));
    assert_eq!(p.ip_flags, ip_flags::IPV4_OPTIONS);
    assert_eq!(
        (p.l3_offset, p.l4_offset, p.payload_offset, p.payload_len),
        (14, 42, 50, 3)
    );
    assert_eq!(p.ip_id, 0x1234);
}

#[test]
fn ipv4_unknown_protocol() {
    let gre = [0x00, 0x00, 0x08, 0x00, 0x45];
    let f = cat(&[&eth(0x0800), &ipv4(47, 64, 1, 0, &[], &gre)]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(
        (p.status, p.stop, p.transport),
        (Status::Ok, Layer::Ipv4, Transport::Other)
    );
    assert_eq!(p.ip_proto, 47);
    assert_eq!(p.l4_offset, 0);
    assert_eq!((p.payload_offset, p.payload_len), (34, 5));
}

#[test]
fn ipv4_authentication_header() {
    // AH: next header UDP, payload length 4 (=> 24 bytes), SPI, sequence, 12-byte ICV
    let ah = cat(&[
        &[17, 4, 0, 0],
        &0x100u32.to_be_bytes(),
        &1u32.to_be_bytes(),
        &[0xaa; 12],
    ]);
    let f = cat(&[
        &eth(0x0800),
        &ipv4(51, 64, 1, 0, &[], &cat(&[&ah, &udp(500, 500, b"ike")])),
    ]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!((p.status, p.stop), (Status::Ok, Layer::Udp));
    assert_eq!(p.ip_flags, ip_flags::EXTENSIONS);
    assert_eq!(p.ip_proto, 17);
    assert_eq!((p.l4_offset, p.payload_offset, p.payload_len), (58, 66, 3));
}

#[test]
fn ipv4_first_and_later_fragments() {
    // First fragment: MF, offset 0; it carries the UDP header, which is not
    // decoded because the transport needs reassembly.
    let data = [0x5a; 24];
    let first = cat(&[
        &eth(0x0800),
        &ipv4(17, 64, 0x4242, MF, &[], &udp(53, 3333, &data)),
    ]);
    let p = dec(LinkType::ETHERNET, &first);
    assert_eq!(
        (p.status, p.stop, p.net),
        (Status::Ok, Layer::Ipv4, Net::Ipv4)
    );
    assert_eq!(p.ip_flags, ip_flags::FRAGMENT | ip_flags::MORE_FRAGMENTS);
    assert_eq!((p.ip_id, p.frag_offset, p.ip_proto), (0x4242, 0, 17));
    assert_eq!(p.transport, Transport::None);
    assert_eq!((p.src_port, p.dst_port, p.l4_offset), (0, 0, 0));
    assert_eq!((p.payload_offset, p.payload_len), (34, 32));

    // Last fragment at byte offset 1480 (185 units of 8), MF clear, DF clear
    let last = cat(&[&eth(0x0800), &ipv4(17, 64, 0x4242, 185, &[], &[0x5a; 100])]);
    let p = dec(LinkType::ETHERNET, &last);
    assert_eq!((p.status, p.stop), (Status::Ok, Layer::Ipv4));
    assert_eq!(p.ip_flags, ip_flags::FRAGMENT);
    assert_eq!((p.ip_id, p.frag_offset), (0x4242, 1480));
    assert_eq!(p.transport, Transport::None);
    assert_eq!((p.payload_offset, p.payload_len), (34, 100));

    // A middle fragment cut by the snaplen: headers whole, payload cut.
    let mid = cat(&[&eth(0x0800), &ipv4(6, 64, 7, MF | 10, &[], &[0x5a; 200])]);
    let p = dec_cut(LinkType::ETHERNET, &mid[..60], mid.len() as u32);
    assert_eq!((p.status, p.stop), (Status::Truncated, Layer::Payload));
    assert_eq!(p.ip_flags, ip_flags::FRAGMENT | ip_flags::MORE_FRAGMENTS);
    assert_eq!((p.frag_offset, p.transport), (80, Transport::None));
    assert_eq!((p.payload_offset, p.payload_len), (34, 26));
}

#[test]
fn ipv4_total_length_zero_is_tso_not_malformed() {
    // Captured on the sender before segmentation offload: total length 0.
    let mut f = cat(&[
        &eth(0x0800),
        &ipv4(
            6,
            64,
            1,
            DF,
            &[],
            &tcp(1, 2, 3, 4, tcp_flags::ACK, 5, &[], PAYLOAD),
        ),
    ]);
    f[16] = 0;
    f[17] = 0;
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(
        (p.status, p.stop, p.transport),
        (Status::Ok, Layer::Tcp, Transport::Tcp)
    );
    assert_eq!(
        (p.payload_offset, p.payload_len),
        (54, PAYLOAD.len() as u32)
    );
}

#[test]
fn ipv6_hop_by_hop_and_destination_options() {
    let seg = tcp(
        443,
        50000,
        10,
        20,
        tcp_flags::PSH | tcp_flags::ACK,
        1024,
        &[],
        PAYLOAD,
    );
    let body = cat(&[&ext8(60), &ext8(6), &seg]);
    let f = cat(&[&eth(0x86dd), &ipv6(0, 3, &body)]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(
        (p.status, p.stop, p.net),
        (Status::Ok, Layer::Tcp, Net::Ipv6)
    );
    assert_eq!(p.ip_flags, ip_flags::EXTENSIONS);
    assert_eq!((p.ip_proto, p.ttl), (6, 3));
    assert_eq!((p.src, p.dst), (V6_SRC, V6_DST));
    assert_eq!((p.l3_offset, p.l4_offset), (14, 14 + 40 + 16));
    assert_eq!(
        (p.src_port, p.dst_port, p.seq, p.ack, p.window),
        (443, 50000, 10, 20, 1024)
    );
    assert_eq!(
        (p.payload_offset, p.payload_len),
        (90, PAYLOAD.len() as u32)
    );
}

#[test]
fn ipv6_fragments_and_atomic_fragment() {
    // first fragment (offset 0, M=1)
    let f = cat(&[
        &eth(0x86dd),
        &ipv6(
            44,
            64,
            &cat(&[&frag6(17, 0, true, 0xdead_beef), &udp(1, 2, &[0; 40])]),
        ),
    ]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(
        (p.status, p.stop, p.transport),
        (Status::Ok, Layer::Ipv6, Transport::None)
    );
    assert_eq!(
        p.ip_flags,
        ip_flags::EXTENSIONS | ip_flags::FRAGMENT | ip_flags::MORE_FRAGMENTS
    );
    assert_eq!((p.ip_id, p.frag_offset, p.ip_proto), (0xdead_beef, 0, 17));
    assert_eq!((p.payload_offset, p.payload_len), (62, 48));

    // a later fragment (offset 1232 = 154 units, M=0)
    let f = cat(&[
        &eth(0x86dd),
        &ipv6(44, 64, &cat(&[&frag6(17, 154, false, 7), &[1; 16]])),
    ]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(
        (p.status, p.stop, p.transport),
        (Status::Ok, Layer::Ipv6, Transport::None)
    );
    assert_eq!(p.ip_flags, ip_flags::EXTENSIONS | ip_flags::FRAGMENT);
    assert_eq!((p.ip_id, p.frag_offset), (7, 1232));

    // atomic fragment (RFC 6946): offset 0, M=0 — a whole packet; TCP decoded
    let seg = tcp(80, 1025, 1, 1, tcp_flags::ACK, 100, &[], b"ok");
    let f = cat(&[
        &eth(0x86dd),
        &ipv6(44, 64, &cat(&[&frag6(6, 0, false, 99), &seg])),
    ]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(
        (p.status, p.stop, p.transport),
        (Status::Ok, Layer::Tcp, Transport::Tcp)
    );
    assert_eq!(p.ip_flags, ip_flags::EXTENSIONS | ip_flags::ATOMIC_FRAGMENT);
    assert_eq!((p.ip_id, p.frag_offset, p.ip_proto), (99, 0, 6));
    assert_eq!((p.l4_offset, p.payload_offset, p.payload_len), (62, 82, 2));
}

#[test]
fn udp_icmpv4_icmpv6() {
    let f = cat(&[
        &eth(0x0800),
        &ipv4(17, 64, 1, 0, &[], &udp(68, 67, &[0; 300])),
    ]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(
        (p.transport, p.src_port, p.dst_port),
        (Transport::Udp, 68, 67)
    );
    assert_eq!((p.payload_offset, p.payload_len), (42, 300));

    // ICMPv4 destination unreachable / port unreachable quoting an IP header
    let quoted = ipv4(17, 1, 1, 0, &[], &udp(1, 2, &[]))[..28].to_vec();
    let f = cat(&[
        &eth(0x0800),
        &ipv4(1, 64, 2, 0, &[], &icmp(3, 3, [0; 4], &quoted)),
    ]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(
        (p.status, p.stop, p.transport),
        (Status::Ok, Layer::Icmpv4, Transport::Icmpv4)
    );
    assert_eq!((p.icmp_type, p.icmp_code, p.ip_proto), (3, 3, 1));
    assert_eq!((p.src_port, p.dst_port), (0, 0));
    assert_eq!((p.l4_offset, p.payload_offset, p.payload_len), (34, 42, 28));

    // ICMPv6 neighbor solicitation (135): 4 reserved bytes + 16-byte target
    let f = cat(&[&eth(0x86dd), &ipv6(58, 255, &icmp(135, 0, [0; 4], &V6_DST))]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(
        (p.status, p.stop, p.transport),
        (Status::Ok, Layer::Icmpv6, Transport::Icmpv6)
    );
    assert_eq!(
        (p.icmp_type, p.icmp_code, p.ip_proto, p.ttl),
        (135, 0, 58, 255)
    );
    assert_eq!((p.l4_offset, p.payload_offset, p.payload_len), (54, 62, 16));
}

#[test]
fn arp_request_and_damaged_arp() {
    let mut f = cat(&[&eth(0x0806), &arp_request()]);
    f.resize(60, 0);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(
        (p.status, p.stop, p.net),
        (Status::Ok, Layer::Arp, Net::Arp)
    );
    assert_eq!(
        (p.ethertype, p.l3_offset, p.transport),
        (0x0806, 14, Transport::None)
    );
    assert_eq!((p.payload_offset, p.payload_len), (14, 46));

    // cut by the snaplen inside the target addresses
    let p = dec_cut(LinkType::ETHERNET, &f[..30], 60);
    assert_eq!(
        (p.status, p.stop, p.net),
        (Status::Truncated, Layer::Arp, Net::Arp)
    );

    // hardware address length 200: the addresses overrun the whole frame
    let mut bad = f.clone();
    bad[14 + 4] = 200;
    let p = dec(LinkType::ETHERNET, &bad);
    assert_eq!(
        (p.status, p.stop, p.net),
        (Status::Malformed, Layer::Arp, Net::Arp)
    );
}

// ---------------------------------------------------------------- truncation

/// A TCP/IPv4 frame: 14 + 20 + 20 + payload bytes.
fn tcp_frame() -> Vec<u8> {
    let seg = tcp(
        1234,
        80,
        1000,
        2000,
        tcp_flags::PSH | tcp_flags::ACK,
        512,
        &[],
        PAYLOAD,
    );
    cat(&[&eth(0x0800), &ipv4(6, 64, 77, DF, &[], &seg)])
}

#[test]
fn snaplen_cut_in_each_header() {
    let f = tcp_frame();
    let orig = f.len() as u32;

    // inside the Ethernet header
    let p = dec_cut(LinkType::ETHERNET, &f[..12], orig);
    assert_eq!((p.status, p.stop), (Status::Truncated, Layer::Link));
    assert_eq!((p.net, p.ethertype), (Net::None, 0));

    // inside the IPv4 header: the Ethernet fields are still good
    let p = dec_cut(LinkType::ETHERNET, &f[..14 + 12], orig);
    assert_eq!((p.status, p.stop), (Status::Truncated, Layer::Ipv4));
    assert_eq!((p.ethertype, p.net, p.l3_offset), (0x0800, Net::Ipv4, 14));
    assert_eq!(p.transport, Transport::None);

    // inside the TCP header: IPv4 fields are valid, TCP ones are not set
    let p = dec_cut(LinkType::ETHERNET, &f[..34 + 10], orig);
    assert_eq!((p.status, p.stop), (Status::Truncated, Layer::Tcp));
    assert_eq!((p.net, p.src, p.dst), (Net::Ipv4, v4(V4_SRC), v4(V4_DST)));
    assert_eq!((p.ip_proto, p.ttl, p.ip_id), (6, 64, 77));
    assert_eq!(p.l4_offset, 34);
    assert_eq!(p.transport, Transport::None);
    assert_eq!((p.src_port, p.seq), (0, 0));

    // headers whole, payload cut after 5 bytes
    let p = dec_cut(LinkType::ETHERNET, &f[..54 + 5], orig);
    assert_eq!((p.status, p.stop), (Status::Truncated, Layer::Payload));
    assert_eq!(p.transport, Transport::Tcp);
    assert_eq!(
        (p.src_port, p.dst_port, p.seq, p.ack),
        (1234, 80, 1000, 2000)
    );
    assert_eq!((p.l4_offset, p.payload_offset, p.payload_len), (34, 54, 5));

    // headers whole, zero payload bytes captured
    let p = dec_cut(LinkType::ETHERNET, &f[..54], orig);
    assert_eq!((p.status, p.stop), (Status::Truncated, Layer::Payload));
    assert_eq!((p.payload_offset, p.payload_len), (54, 0));
}

#[test]
fn snaplen_cut_only_in_the_link_trailer_is_not_truncation() {
    // The IP packet is whole; only Ethernet padding/FCS was not captured
    // (e.g. a 60-byte capture of a 64-byte frame).
    let mut f = cat(&[&eth(0x0800), &ipv4(17, 64, 1, 0, &[], &udp(1, 2, b"ab"))]);
    f.resize(60, 0);
    let p = dec_cut(LinkType::ETHERNET, &f, 64);
    assert_eq!((p.status, p.stop), (Status::Ok, Layer::Udp));
    let p = dec_cut(LinkType::ETHERNET, &f[..44], 64);
    assert_eq!((p.status, p.stop), (Status::Ok, Layer::Udp));
    assert_eq!(p.payload_len, 2);
}

#[test]
fn snaplen_cut_in_vlan_ipv6_udp_icmp_layers() {
    let vlan = cat(&[
        &eth(0x8100),
        &vlan(9, 0x0800),
        &ipv4(17, 1, 1, 0, &[], &udp(1, 2, b"x")),
    ]);
    let p = dec_cut(LinkType::ETHERNET, &vlan[..16], 100);
    assert_eq!(
        (p.status, p.stop, p.ethertype),
        (Status::Truncated, Layer::Vlan, 0x8100)
    );

    let v6 = cat(&[
        &eth(0x86dd),
        &ipv6(0, 1, &cat(&[&ext8(17), &udp(3, 4, b"abc")])),
    ]);
    let orig = v6.len() as u32;
    let p = dec_cut(LinkType::ETHERNET, &v6[..14 + 30], orig);
    assert_eq!(
        (p.status, p.stop, p.net),
        (Status::Truncated, Layer::Ipv6, Net::Ipv6)
    );
    let p = dec_cut(LinkType::ETHERNET, &v6[..14 + 40 + 4], orig);
    assert_eq!((p.status, p.stop), (Status::Truncated, Layer::IpExtension));
    assert_eq!((p.src, p.dst), (V6_SRC, V6_DST));
    let p = dec_cut(LinkType::ETHERNET, &v6[..14 + 48 + 6], orig);
    assert_eq!((p.status, p.stop), (Status::Truncated, Layer::Udp));
    assert_eq!(p.ip_flags, ip_flags::EXTENSIONS);

    let ic = cat(&[
        &eth(0x0800),
        &ipv4(1, 1, 1, 0, &[], &icmp(0, 0, [0; 4], b"pong")),
    ]);
    let p = dec_cut(LinkType::ETHERNET, &ic[..34 + 3], ic.len() as u32);
    assert_eq!((p.status, p.stop), (Status::Truncated, Layer::Icmpv4));
}

// ---------------------------------------------------------------- malformed

#[test]
fn ipv4_total_length_beyond_uncut_frame_is_malformed() {
    let mut f = tcp_frame();
    let total = u16::from_be_bytes([f[16], f[17]]) + 10;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!((p.status, p.stop), (Status::Malformed, Layer::Ipv4));
    assert_eq!(
        (p.net, p.src, p.dst, p.ip_proto),
        (Net::Ipv4, v4(V4_SRC), v4(V4_DST), 6)
    );
    assert_eq!(p.transport, Transport::None);
    // the same bytes cut by a snaplen are merely truncated
    let p = dec_cut(LinkType::ETHERNET, &f, f.len() as u32 + 10);
    assert_eq!(
        (p.status, p.stop, p.transport),
        (Status::Truncated, Layer::Payload, Transport::Tcp)
    );
}

#[test]
fn ipv4_total_length_below_header_is_malformed() {
    let mut f = tcp_frame();
    f[16..18].copy_from_slice(&12u16.to_be_bytes());
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(
        (p.status, p.stop, p.net),
        (Status::Malformed, Layer::Ipv4, Net::Ipv4)
    );
    assert_eq!(p.src, v4(V4_SRC));
}

#[test]
fn ipv4_bad_ihl_is_malformed() {
    let mut f = tcp_frame();
    f[14] = 0x43; // IHL 3 (12 bytes) is below the minimum of 5
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!(
        (p.status, p.stop, p.net),
        (Status::Malformed, Layer::Ipv4, Net::Ipv4)
    );
}

#[test]
fn tcp_data_offset_below_five_is_malformed() {
    let mut f = tcp_frame();
    f[34 + 12] = 0x40; // data offset 4
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!((p.status, p.stop), (Status::Malformed, Layer::Tcp));
    assert_eq!((p.net, p.src, p.ip_proto), (Net::Ipv4, v4(V4_SRC), 6));
    assert_eq!(p.l4_offset, 34);
    assert_eq!(p.transport, Transport::None);
}

#[test]
fn header_longer_than_ip_payload_is_malformed_when_not_cut() {
    // IP says 10 bytes of TCP follow: the TCP header cannot fit, and the
    // frame was not cut, so the lengths contradict each other.
    let seg = tcp(1, 2, 3, 4, 0, 5, &[], &[]);
    let f = cat(&[&eth(0x0800), &ipv4(6, 64, 1, 0, &[], &seg[..10])]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!((p.status, p.stop), (Status::Malformed, Layer::Tcp));
    let f = cat(&[&eth(0x0800), &ipv4(17, 64, 1, 0, &[], &[0; 4])]);
    let p = dec(LinkType::ETHERNET, &f);
    assert_eq!((p.status, p.stop), (Status::Malformed, Layer::Udp));
}

#[test]
fn empty_and_tiny_frames() {
    for link in [
        LinkType::ETHERNET,
        LinkType::LINUX_SLL,
        LinkType::LINUX_SLL2,
        LinkType::NULL,
        LinkType::LOOP,
        LinkType::RAW,
        LinkType::IPV4,
        LinkType::IPV6,
    ] {
        for len in 0..4 {
            let data = vec![0x45; len];
            let p = dec(link, &data);
            assert_eq!(p.status, Status::Malformed, "{link:?} {len}");
            let p = dec_cut(link, &data, 1500);
            assert_eq!(p.status, Status::Truncated, "{link:?} {len}");
        }
    }
}

#[test]
fn offsets_past_64k_do_not_wrap() {
    // 20,000 MPLS labels (80,000 bytes) before an IPv4/UDP packet: absurd,
    // but legal within a large snaplen; offsets must stay exact.
    let mut labels = Vec::new();
    for i in 0..20_000u32 {
        let bottom = if i == 19_999 { 1 } else { 0 };
        labels.extend_from_slice(&[0, 0x10, bottom, 64]);
    }
    let data = cat(&[
        &eth(0x8847),
        &labels,
        &ipv4(17, 64, 1, 0, &[], &udp(1, 2, b"x")),
    ]);
    let p = dec(LinkType::ETHERNET, &data);
    assert_eq!(p.status, Status::Ok);
    assert_eq!(p.l3_offset, 14 + 80_000);
    assert_eq!(p.l4_offset, 14 + 80_000 + 20);
    assert_eq!((p.src_port, p.dst_port, p.payload_len), (1, 2, 1));
}

mod fast_path_equivalence {
    //! The direct decoding of the common case must agree field for field
    //! with the general (etherparse) path, on valid packets and on every
    //! near miss: odd header lengths, lying lengths, fragments, other
    //! protocols, cut captures.
    use super::super::decode_with;
    use crate::LinkType;
    use proptest::prelude::*;

    fn checksum_free_ipv4(
        ihl: u8,
        total: Option<u16>,
        frag: u16,
        proto: u8,
        l4: &[u8],
        opts_seed: u8,
    ) -> Vec<u8> {
        let hl = ihl as usize * 4;
        let mut h = vec![0u8; hl.max(20)];
        h[0] = 0x40 | (ihl & 0x0f);
        let total = total.unwrap_or((hl + l4.len()) as u16);
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        h[6..8].copy_from_slice(&frag.to_be_bytes());
        h[8] = 64;
        h[9] = proto;
        h[12..16].copy_from_slice(&[10, 0, 0, 1]);
        h[16..20].copy_from_slice(&[10, 0, 0, 2]);
        for (i, b) in h.iter_mut().enumerate().skip(20) {
            *b = opts_seed.wrapping_add(i as u8) % 2; // NOPs and end-of-list
        }
        h.truncate(hl.max(20));
        h.extend_from_slice(l4);
        h
    }

    fn ipv6(plen: Option<u16>, next: u8, l4: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 40];
        h[0] = 0x60;
        let plen = plen.unwrap_or(l4.len() as u16);
        h[4..6].copy_from_slice(&plen.to_be_bytes());
        h[6] = next;
        h[7] = 33;
        h[8] = 0xfe;
        h[24] = 0xfd;
        h[39] = 9;
        h.extend_from_slice(l4);
        h
    }

    fn transport() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<[u8; 20]>(),
            0u8..16,
            prop::option::of(any::<u16>()),
            prop::collection::vec(any::<u8>(), 0..80),
            any::<bool>(),
        )
            .prop_map(|(mut hdr, doff, udp_len, payload, as_udp)| {
                if as_udp {
                    let len = udp_len.unwrap_or(8 + payload.len() as u16);
                    hdr[4..6].copy_from_slice(&len.to_be_bytes());
                } else {
                    hdr[12] = (doff << 4) | (hdr[12] & 1);
                }
                let mut v = hdr.to_vec();
                v.extend_from_slice(&payload);
                v
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn agrees_with_the_general_path(
            v4 in any::<bool>(),
            ihl in prop_oneof![Just(5u8), 0u8..16],
            total in prop::option::weighted(0.2, any::<u16>()),
            frag in prop_oneof![Just(0u16), Just(0x4000), any::<u16>()],
            proto in prop_oneof![Just(6u8), Just(17), Just(1), Just(58), Just(51), Just(0), Just(44), any::<u8>()],
            l4 in transport(),
            opts_seed in any::<u8>(),
            cut in prop::option::weighted(0.3, 0usize..200),
            trailer in prop::collection::vec(any::<u8>(), 0..6),
            ethernet in any::<bool>(),
        ) {
            let mut ip = if v4 {
                checksum_free_ipv4(ihl, total, frag, proto, &l4, opts_seed)
            } else {
                ipv6(total, proto, &l4)
            };
            ip.extend_from_slice(&trailer);
            let (link, mut frame) = if ethernet {
                let mut f = vec![0u8; 12];
                f.extend_from_slice(&(if v4 { 0x0800u16 } else { 0x86dd }).to_be_bytes());
                f.extend_from_slice(&ip);
                (LinkType::ETHERNET, f)
            } else {
                (LinkType::RAW, ip)
            };
            let origlen = frame.len() as u32;
            if let Some(c) = cut {
                frame.truncate(c.min(frame.len()));
            }
            let fast = decode_with(link, &frame, origlen, true);
            let general = decode_with(link, &frame, origlen, false);
            prop_assert_eq!(fast, general);
        }
    }
}

#[test]
fn fast_path_agrees_on_every_corpus_packet() {
    let Some(dir) = crate::test_support::corpus_dir() else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        panic!("cannot list {}", dir.display());
    };
    let mut packets = 0;
    for e in entries.flatten() {
        let Ok(f) = std::fs::File::open(e.path()) else {
            continue;
        };
        let Ok(mut r) = crate::capture::CaptureReader::new(f, Default::default()) else {
            continue;
        };
        while let Ok(Some(fr)) = r.next_frame() {
            let fast = super::decode_with(fr.link_type, fr.data, fr.origlen, true);
            let general = super::decode_with(fr.link_type, fr.data, fr.origlen, false);
            assert_eq!(
                fast,
                general,
                "{} at byte {}",
                e.path().display(),
                fr.offset
            );
            packets += 1;
        }
    }
    assert!(packets > 50_000, "only {packets} corpus packets compared");
}

#[test]
fn a_later_ipv4_fragment_is_not_parsed_as_its_protocol_header() {
    // Offset 16 bytes, protocol AH: the data is the middle of the datagram,
    // not an AH header.
    let data = [0x33u8, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 1, 2, 3, 4];
    let pkt = ipv4(51, 64, 0x4242, 2, &[], &data);
    let p = dec(LinkType::RAW, &pkt);
    assert_eq!(
        (p.status, p.stop, p.net),
        (Status::Ok, Layer::Ipv4, Net::Ipv4)
    );
    assert_eq!((p.ip_proto, p.ip_id, p.frag_offset), (51, 0x4242, 16));
    assert_eq!(p.ip_flags, ip_flags::FRAGMENT);
    assert_eq!((p.payload_offset, p.payload_len), (20, data.len() as u32));
    assert_eq!(p.transport, Transport::None);
}

#[test]
fn a_later_ipv6_fragment_stops_at_the_fragment_header() {
    // Hop-by-hop, then a fragment at offset 24 whose "next header" is a
    // destination-options header: the bytes after it are data, not headers.
    let data = [60u8, 0xff, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9];
    let pkt = ipv6(0, 7, &cat(&[&ext8(44), &frag6(60, 3, true, 0xabcd), &data]));
    let p = dec(LinkType::RAW, &pkt);
    assert_eq!(
        (p.status, p.stop, p.net),
        (Status::Ok, Layer::Ipv6, Net::Ipv6)
    );
    assert_eq!((p.ip_proto, p.ip_id, p.frag_offset), (60, 0xabcd, 24));
    assert_eq!(
        p.ip_flags,
        ip_flags::FRAGMENT | ip_flags::MORE_FRAGMENTS | ip_flags::EXTENSIONS
    );
    assert_eq!((p.payload_offset, p.payload_len), (56, data.len() as u32));
    assert_eq!(p.ttl, 7);
}

#[test]
fn a_later_fragment_whose_length_lies_is_malformed_or_truncated() {
    let pkt = ipv4(17, 64, 1, 4, &[], &[0u8; 40]);
    let p = dec(LinkType::RAW, &pkt[..50]);
    assert_eq!((p.status, p.stop), (Status::Malformed, Layer::Ipv4));
    let p = dec_cut(LinkType::RAW, &pkt[..50], pkt.len() as u32);
    assert_eq!((p.status, p.stop), (Status::Truncated, Layer::Payload));
    assert_eq!(p.ip_flags & ip_flags::FRAGMENT, ip_flags::FRAGMENT);
}
