//! Fragment reassembly ([`Defragmenter`]) over the real captures of the
//! shared corpus that hold IPv4/IPv6 fragments, checked against what the
//! captures are known to contain and against tshark's conversation table
//! (`expected/NAME.conv.txt`, Wireshark 4.0.17, which reassembles IP by
//! default): after reassembly, our UDP/TCP conversations — every decoded
//! frame that is not a fragment plus every reassembled datagram, counted
//! with the length of the frame that completed it, as tshark counts — must
//! equal tshark's, frame for frame and byte for byte, in both directions.
//! Plus: every capture of the corpus goes through without a panic and
//! within the limits.
//!
//! The corpus is found through `FLOWTAP_CORPUS`, else at
//! `<crate>/../../../shared/corpus`; when it is missing the test fails under
//! CI (env `CI` set) and is skipped otherwise.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use flowtap_core::capture::{CaptureReader, ReaderOptions};
use flowtap_core::decode::{decode, ip_flags, tcp_flags, Net, PacketInfo, Transport};
use flowtap_core::defrag::{DefragOptions, DefragStats, Defragmenter, Outcome};
use flowtap_core::LinkType;

mod common;
use common::corpus_dir;

/// A reassembled datagram and the frame that completed it.
struct Done {
    /// 1-based number of the completing frame.
    frame: u64,
    origlen: u32,
    /// Nesting: 0 for a datagram made of captured frames, 1 for one made
    /// of reassembled datagrams (nested fragmentation), …
    depth: u32,
    bytes: Vec<u8>,
}

/// The captured frame a packet stands for: its time, 1-based number and
/// length on the wire.
#[derive(Clone, Copy)]
struct At {
    ts: u64,
    frame: u64,
    origlen: u32,
}

/// Conversation endpoints as tshark prints them ("addr:port"), A first.
type ConvKey = (String, String);
/// Frames and bytes A→B, then B→A.
type ConvVal = [u64; 4];

#[derive(Default)]
struct Run {
    frames: u64,
    outcomes: BTreeMap<String, u64>,
    done: Vec<Done>,
    stats: DefragStats,
    /// Incomplete datagrams left at the end.
    flushed: usize,
    udp: BTreeMap<ConvKey, ConvVal>,
    tcp: BTreeMap<ConvKey, ConvVal>,
    max_bytes_seen: usize,
    max_datagrams_seen: usize,
}

fn endpoint(net: Net, addr: &[u8; 16], port: u16) -> String {
    match net {
        Net::Ipv4 => format!(
            "{}:{port}",
            Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])
        ),
        _ => format!("{}:{port}", Ipv6Addr::from(*addr)),
    }
}

impl Run {
    /// Counts a decoded packet (a frame, or a reassembled datagram standing
    /// for the frame that completed it) in its conversation.
    fn count(&mut self, p: &PacketInfo, origlen: u32) {
        let table = match p.transport {
            Transport::Udp => &mut self.udp,
            Transport::Tcp => &mut self.tcp,
            _ => return,
        };
        let src = endpoint(p.net, &p.src, p.src_port);
        let dst = endpoint(p.net, &p.dst, p.dst_port);
        // Keyed without direction; which side tshark calls A is resolved
        // when comparing.
        let (key, forward) = if src <= dst {
            ((src, dst), true)
        } else {
            ((dst, src), false)
        };
        let v = table.entry(key).or_default();
        let i = if forward { 0 } else { 2 };
        v[i] += 1;
        v[i + 1] += origlen as u64;
    }

    /// Pushes one packet; reassembled datagrams are pushed again (nested
    /// fragmentation) and, when whole, counted.
    fn feed(&mut self, d: &mut Defragmenter, at: At, data: &[u8], p: &PacketInfo, depth: u32) {
        let At { ts, frame, origlen } = at;
        let outcome = d.push(ts, data, p);
        self.max_bytes_seen = self.max_bytes_seen.max(d.buffered_bytes());
        self.max_datagrams_seen = self.max_datagrams_seen.max(d.datagrams());
        let name = match &outcome {
            Outcome::NotAFragment => "not-a-fragment".to_string(),
            Outcome::Buffered => "buffered".to_string(),
            Outcome::Complete(_) => "complete".to_string(),
            Outcome::Dropped(r) => format!("dropped-{r:?}"),
        };
        *self.outcomes.entry(name).or_default() += 1;
        match outcome {
            Outcome::NotAFragment => self.count(p, origlen),
            Outcome::Complete(bytes) => {
                let q = decode(LinkType::RAW, &bytes, bytes.len() as u32);
                self.done.push(Done {
                    frame,
                    origlen,
                    depth,
                    bytes: bytes.clone(),
                });
                if depth < 4 {
                    self.feed(d, at, &bytes, &q, depth + 1);
                }
            }
            _ => {}
        }
    }
}

fn run(path: &Path, opts: DefragOptions) -> Run {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = Run::default();
    let Ok(mut reader) = CaptureReader::new(file, ReaderOptions::default()) else {
        return r;
    };
    let mut d = Defragmenter::new(opts);
    // Damaged files: everything before the error counts.
    while let Ok(Some(f)) = reader.next_frame() {
        r.frames += 1;
        let p = decode(f.link_type, f.data, f.origlen);
        let at = At {
            ts: f.ts_ns,
            frame: r.frames,
            origlen: f.origlen,
        };
        r.feed(&mut d, at, f.data, &p, 0);
        assert!(d.buffered_bytes() <= opts.max_bytes);
        assert!(d.datagrams() <= opts.max_datagrams);
    }
    r.flushed = d.flush();
    r.stats = *d.stats();
    r
}

/// tshark's UDP and TCP conversations: (A, B) → [frames A→B, bytes A→B,
/// frames B→A, bytes B→A]. The columns are "<-" (B→A) then "->" (A→B).
fn parse_conv(text: &str) -> (BTreeMap<ConvKey, ConvVal>, BTreeMap<ConvKey, ConvVal>) {
    let mut udp = BTreeMap::new();
    let mut tcp = BTreeMap::new();
    let mut table = None;
    for line in text.lines() {
        if line.starts_with("UDP Conversations") {
            table = Some(&mut udp);
            continue;
        }
        if line.starts_with("TCP Conversations") {
            table = Some(&mut tcp);
            continue;
        }
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() < 12 || t[1] != "<->" {
            continue;
        }
        // A <-> B  frames bytes-unit  frames bytes-unit  …
        let num = |i: usize| -> u64 {
            assert_eq!(t[i + 1], "bytes", "{line}");
            t[i].parse().unwrap()
        };
        let v = [t[6].parse().unwrap(), num(7), t[3].parse().unwrap(), num(4)];
        if let Some(tab) = table.as_deref_mut() {
            tab.insert((t[0].to_string(), t[2].to_string()), v);
        }
    }
    (udp, tcp)
}

/// Our direction-free table in tshark's orientation.
fn orient(
    ours: &BTreeMap<ConvKey, ConvVal>,
    theirs: &BTreeMap<ConvKey, ConvVal>,
) -> BTreeMap<ConvKey, ConvVal> {
    ours.iter()
        .map(|((a, b), v)| {
            if theirs.contains_key(&(b.clone(), a.clone())) {
                ((b.clone(), a.clone()), [v[2], v[3], v[0], v[1]])
            } else {
                ((a.clone(), b.clone()), *v)
            }
        })
        .collect()
}

/// Compares our conversations with tshark's; `tcp_too: false` for
/// captures whose TCP is tunnelled (tshark decodes GTP, we do not).
fn check_conversations(dir: &Path, name: &str, r: &Run, tcp_too: bool) {
    let p = dir.join("expected").join(format!("{name}.conv.txt"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let (udp, tcp) = parse_conv(&text);
    assert_eq!(orient(&r.udp, &udp), udp, "{name}: UDP conversations");
    if tcp_too {
        assert_eq!(orient(&r.tcp, &tcp), tcp, "{name}: TCP conversations");
    }
}

fn stats_line(s: &DefragStats) -> String {
    format!("{s:?}")
}

// ------------------------------------------------------------------- tests

/// Five 1480-byte fragments of one datagram (IP protocol 6 — MANIFEST.md
/// calls it UDP, tshark and the bytes say TCP), all with MF and DF set
/// (Zeek: 5 × fragment_with_DF): the last fragment was never captured, so
/// nothing completes — as in tshark, which lists no conversation — and the
/// datagram is left over at the end.
#[test]
fn zeek_ipv4_fragmented_3() {
    let Some(dir) = corpus_dir() else { return };
    let name = "zeek_ipv4_fragmented-3.pcap";
    let r = run(&dir.join(name), DefragOptions::default());
    let s = r.stats;
    assert_eq!(r.frames, 5);
    assert_eq!(r.outcomes.get("buffered"), Some(&5), "{:?}", r.outcomes);
    assert_eq!((s.fragments, s.fragments_buffered), (5, 5));
    assert_eq!((s.datagrams_reassembled, r.flushed, s.flushed), (0, 1, 1));
    assert_eq!(
        r.max_bytes_seen,
        20 + 5 * 1480,
        "the first header + 5 × 1480"
    );
    let file = std::fs::File::open(dir.join(name)).unwrap();
    let mut reader = CaptureReader::new(file, ReaderOptions::default()).unwrap();
    while let Ok(Some(f)) = reader.next_frame() {
        let p = decode(f.link_type, f.data, f.origlen);
        let df_mf = ip_flags::FRAGMENT | ip_flags::MORE_FRAGMENTS | ip_flags::DONT_FRAGMENT;
        assert_eq!((p.ip_proto, p.ip_flags & df_mf), (6, df_mf));
    }
    check_conversations(&dir, name, &r, true);
}

/// A TCP SYN in three 8-byte fragments behind a VLAN tag (suricata-verify
/// bug-6887): reassembles to the 44-byte packet Suricata's alert logs.
#[test]
fn suricata_defrag_vlan_ipv4_tcp_syn() {
    let Some(dir) = corpus_dir() else { return };
    let name = "suricata_defrag-vlan-ipv4-tcp-syn.pcap";
    let r = run(&dir.join(name), DefragOptions::default());
    assert_eq!(r.frames, 3);
    assert_eq!(r.done.len(), 1);
    let d = &r.done[0];
    assert_eq!((d.frame, d.origlen, d.depth), (3, 46, 0));
    // test.yaml's alert `packet` (base64) from the IP header on: the
    // reassembled datagram, checksum 0x74c6 included.
    let expected: &[u8] = &[
        0x45, 0x00, 0x00, 0x2c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x06, 0x74, 0xc6, 0x01, 0x01, 0x01,
        0x01, 0x02, 0x02, 0x02, 0x02, 0x30, 0x39, 0x1f, 0x90, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x00, 0x60, 0x02, 0x20, 0x00, 0x19, 0x0c, 0x00, 0x00, 0x03, 0x03, 0x0e, 0x00,
    ];
    assert_eq!(d.bytes, expected);
    let p = decode(LinkType::RAW, &d.bytes, d.bytes.len() as u32);
    assert_eq!((p.transport, p.tcp_flags), (Transport::Tcp, tcp_flags::SYN));
    assert_eq!((p.src_port, p.dst_port), (12345, 8080));
    assert_eq!(
        r.stats.tiny_first_fragments, 1,
        "8 bytes of a 24-byte TCP header"
    );
    check_conversations(&dir, name, &r, true);
}

/// Four DNS responses over IPv4, each in two fragments: they reassemble to
/// UDP from port 53 (1730, 1518, 1730 and 1758 bytes), and the UDP
/// conversations then match tshark's exactly (76 frames).
#[test]
fn zeek_dns_edns_ecs() {
    let Some(dir) = corpus_dir() else { return };
    let name = "zeek_dns-edns-ecs.pcap";
    let r = run(&dir.join(name), DefragOptions::default());
    assert_eq!(r.frames, 89);
    let lens: Vec<usize> = r.done.iter().map(|d| d.bytes.len()).collect();
    assert_eq!(lens, [1730, 1518, 1730, 1758]);
    let frames: Vec<u64> = r.done.iter().map(|d| d.frame).collect();
    assert_eq!(frames, [54, 59, 63, 85], "tshark's frame numbers");
    for d in &r.done {
        let p = decode(LinkType::RAW, &d.bytes, d.bytes.len() as u32);
        assert_eq!(
            (p.net, p.transport, p.src_port),
            (Net::Ipv4, Transport::Udp, 53)
        );
        assert_eq!(
            p.payload_len as usize,
            d.bytes.len() - 28,
            "the whole DNS message"
        );
    }
    let s = r.stats;
    assert_eq!((s.fragments, s.datagrams_reassembled, r.flushed), (8, 4, 0));
    let udp_frames: u64 = r.udp.values().map(|v| v[0] + v[2]).sum();
    assert_eq!(udp_frames, 76);
    check_conversations(&dir, name, &r, true);
}

/// GTP-U with fragmented outer IPv4: 40 datagrams of a 1500-byte and a
/// 36-byte fragment, of which the capture lacks 4 second fragments (after
/// frames 56, 80, 90 and 92). 36 reassemble to 1516-byte UDP 2152 ↔ 2152,
/// 4 are left at the end, and the UDP conversation (68 frames: 32 whole,
/// 36 reassembled) matches tshark's.
#[test]
fn zeek_gtp1_fragmentation() {
    let Some(dir) = corpus_dir() else { return };
    let name = "zeek_gtp1_fragmentation.pcap";
    let r = run(&dir.join(name), DefragOptions::default());
    assert_eq!(r.frames, 108);
    assert_eq!(r.done.len(), 36);
    for d in &r.done {
        assert_eq!((d.bytes.len(), d.origlen, d.depth), (1516, 60, 0));
        let p = decode(LinkType::RAW, &d.bytes, d.bytes.len() as u32);
        assert_eq!(
            (p.transport, p.src_port, p.dst_port),
            (Transport::Udp, 2152, 2152)
        );
    }
    let s = r.stats;
    assert_eq!(
        (s.fragments, s.datagrams_reassembled, r.flushed),
        (76, 36, 4)
    );
    // tshark also lists the TCP connection inside the tunnel
    check_conversations(&dir, name, &r, false);
}

/// IPv6 fragments inside IPv6 fragments (suricata-verify
/// ipv6-malformed-fragments-35): frames 6–7 (id 0x1aaaa) reassemble to a
/// packet whose payload is itself the first fragment of id 0x1bbbb; pushed
/// again (depth 1: Buffered), frames 8–9 complete it into a 1208-byte
/// ICMPv6 echo request — the probe that frame 10, the ICMPv6 parameter
/// problem Suricata's rule alerts on, answers.
#[test]
fn suricata_ipv6_malformed_fragments_35() {
    let Some(dir) = corpus_dir() else { return };
    let name = "suricata_ipv6-malformed-fragments-35.pcap";
    let r = run(&dir.join(name), DefragOptions::default());
    assert_eq!(r.frames, 14);
    let summary: Vec<(u64, u32, usize)> = r
        .done
        .iter()
        .map(|d| (d.frame, d.depth, d.bytes.len()))
        .collect();
    assert_eq!(
        summary,
        [(7, 0, 448), (9, 0, 1248)],
        "{}",
        stats_line(&r.stats)
    );
    let outer = decode(LinkType::RAW, &r.done[0].bytes, 448);
    assert_eq!(outer.ip_id, 0x1bbbb, "the nested fragment header");
    let inner = &r.done[1].bytes;
    let p = decode(LinkType::RAW, inner, inner.len() as u32);
    assert_eq!(
        (p.transport, p.icmp_type, p.icmp_code),
        (Transport::Icmpv6, 128, 0)
    );
    assert_eq!(p.payload_len, 1208 - 8);
    let s = r.stats;
    assert_eq!((s.fragments, s.datagrams_reassembled, r.flushed), (5, 2, 0));
    check_conversations(&dir, name, &r, true);
}

/// 16384 fragments (suricata-verify security-8510): per source, an IPv4
/// datagram of protocol 44 and an IPv6/UDP datagram with the same
/// identification, their fragments interleaved. Family is part of the key,
/// so all 8192 datagrams reassemble and nothing is left; memory stays at
/// two datagrams' worth. The 4096 IPv6 ones (UDP length 22873 in a 24-byte
/// payload) are tshark's 4096 UDP conversations.
#[test]
fn suricata_defrag_spray() {
    let Some(dir) = corpus_dir() else { return };
    let name = "suricata_security-8510_defrag-spray.pcap";
    let path = dir.join(name);
    let r = run(&path, DefragOptions::default());
    assert_eq!(r.frames, 16384);
    let s = r.stats;
    assert_eq!(
        (s.fragments, s.datagrams_reassembled, r.flushed),
        (16384, 8192, 0)
    );
    assert_eq!(r.outcomes.get("buffered"), Some(&8192));
    let v4 = r.done.iter().filter(|d| d.bytes[0] >> 4 == 4).count();
    assert_eq!(v4, 4096);
    for d in &r.done {
        let p = decode(LinkType::RAW, &d.bytes, d.bytes.len() as u32);
        match p.net {
            Net::Ipv4 => assert_eq!((d.bytes.len(), p.ip_proto), (20 + 104, 44)),
            _ => assert_eq!((d.bytes.len(), p.transport), (40 + 24, Transport::Udp)),
        }
    }
    // at most the IPv4 (20 + 96 bytes) and IPv6 (40 + 16 bytes) first
    // fragments of one source, plus, for an instant, the completing 8 bytes
    assert_eq!((r.max_datagrams_seen, s.peak_datagrams), (2, 2));
    assert_eq!((r.max_bytes_seen, s.peak_bytes), (172, 180));
    check_conversations(&dir, name, &r, true);

    // With room for one datagram only, every new one evicts the other and
    // nothing completes; the counters say so.
    let r = run(
        &path,
        DefragOptions {
            max_datagrams: 1,
            ..DefragOptions::default()
        },
    );
    let s = r.stats;
    assert_eq!(s.datagrams_reassembled, 0);
    assert_eq!(s.evicted_datagram_limit, 16383);
    assert_eq!((r.flushed, s.flushed), (1, 1));
    // With 150 bytes of buffer, each IPv6 first fragment (56 bytes) evicts
    // the older IPv4 one (116): the 4096 IPv6 datagrams complete, the IPv4
    // ones never do — each of their 8192 fragments starts a datagram that
    // is evicted in turn (or left at the end).
    let r = run(
        &path,
        DefragOptions {
            max_bytes: 150,
            ..DefragOptions::default()
        },
    );
    let s = r.stats;
    assert_eq!(s.datagrams_reassembled, 4096, "{}", stats_line(&s));
    assert!(r.done.iter().all(|d| d.bytes[0] >> 4 == 6));
    assert_eq!(
        s.evicted_memory_limit + r.flushed as u64,
        8192,
        "{}",
        stats_line(&s)
    );
    assert!(s.peak_bytes <= 150);
}

/// HTTP over IPv6 where 5 packets carry an atomic fragment header (offset
/// 0, M=0): whole packets, passed through and counted, and the TCP
/// conversations match tshark's.
#[test]
fn zeek_ipv6_http_atomic_frag() {
    let Some(dir) = corpus_dir() else { return };
    let name = "zeek_ipv6-http-atomic-frag.pcap";
    let r = run(&dir.join(name), DefragOptions::default());
    assert_eq!(r.frames, 38);
    let s = r.stats;
    assert_eq!((s.atomic_fragments, s.fragments, r.flushed), (5, 0, 0));
    assert_eq!(r.outcomes.get("not-a-fragment"), Some(&38));
    check_conversations(&dir, name, &r, true);
}

/// Every capture of the corpus: no panic, the limits hold at every packet
/// (checked in `run`), each reassembled datagram decodes to a consistent
/// IP length, and files without fragments see none.
#[test]
fn whole_corpus() {
    let Some(dir) = corpus_dir() else { return };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    names.sort();
    assert!(names.len() >= 60, "{}", names.len());
    let mut with_fragments = Vec::new();
    for name in &names {
        let r = run(&dir.join(name), DefragOptions::default());
        for d in &r.done {
            let b = &d.bytes;
            match b[0] >> 4 {
                4 => assert_eq!(u16::from_be_bytes([b[2], b[3]]) as usize, b.len(), "{name}"),
                _ => assert_eq!(
                    u16::from_be_bytes([b[4], b[5]]) as usize + 40,
                    b.len(),
                    "{name}"
                ),
            }
        }
        if r.stats.fragments > 0 {
            with_fragments.push(format!(
                "{name}: {} fragments, {} reassembled, {} left; {:?}",
                r.stats.fragments, r.stats.datagrams_reassembled, r.flushed, r.outcomes
            ));
        }
        let dropped: u64 = r
            .outcomes
            .iter()
            .filter(|(k, _)| k.starts_with("dropped"))
            .map(|(_, v)| v)
            .sum();
        assert_eq!(
            r.stats.fragments,
            r.outcomes.get("buffered").copied().unwrap_or(0)
                + r.outcomes.get("complete").copied().unwrap_or(0)
                + dropped,
            "{name}: every fragment has one outcome"
        );
    }
    eprintln!("{}", with_fragments.join("\n"));
}
