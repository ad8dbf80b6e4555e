//! Flow tracking against tshark's conversation tables (`-z conv,tcp -z
//! conv,udp`, in `expected/NAME.conv.txt` of the shared corpus): for every
//! TCP and UDP conversation, the frames and (when tshark prints them
//! exactly) bytes per direction equal the sum over flowtap's flows of that
//! 5-tuple. tshark does not split a conversation on idle time or FIN, so
//! flows of one 5-tuple are added up.

use std::collections::HashMap;
use std::fs::File;
use std::net::IpAddr;
use std::path::PathBuf;

use flowtap_core::capture::{CaptureReader, ReaderOptions};
use flowtap_core::decode::decode;
use flowtap_core::flow::tracker::{FlowEvent, FlowOptions, FlowRecord, FlowTracker};

mod common;
use common::corpus_dir;

/// Captures where tshark sees conversations flowtap does not track as such,
/// and why. (Fragmented datagrams match: both reassemble and count a
/// datagram once, on its last fragment's frame.)
const DIFFERENT: &[(&str, &str)] = &[
    (
        "zeek_gtp1_fragmentation.pcap",
        "tshark counts the GTP-tunnelled TCP connection",
    ),
    (
        "zeek_tunnels_gre-aruba.pcap",
        "tshark counts GRE-tunnelled conversations",
    ),
    (
        "tcpdump_ipv4_invalid_total_length.pcap",
        "flowtap marks the IP length malformed",
    ),
    (
        "zeek_tcp_reassembly.pcap",
        "5 frames whose IP length exceeds the frame are malformed to flowtap",
    ),
];

#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
struct Dir {
    frames: u64,
    bytes: u64,
}

type Tuple = (u8, IpAddr, u16, IpAddr, u16);

fn addr(a: &[u8; 16], v6: bool) -> IpAddr {
    if v6 {
        IpAddr::from(*a)
    } else {
        IpAddr::from([a[0], a[1], a[2], a[3]])
    }
}

/// Frames/bytes per direction for every directed 5-tuple, over all flows.
fn flowtap_conversations(path: &PathBuf) -> HashMap<Tuple, (Dir, Dir)> {
    let mut out: HashMap<Tuple, (Dir, Dir)> = HashMap::new();
    let mut add = |r: &FlowRecord| {
        let (o, p) = (addr(&r.orig_addr, r.ipv6), addr(&r.resp_addr, r.ipv6));
        let e = out
            .entry((r.proto, o, r.orig_port, p, r.resp_port))
            .or_default();
        e.0.frames += r.orig.packets;
        e.0.bytes += r.orig.wire_bytes;
        e.1.frames += r.resp.packets;
        e.1.bytes += r.resp.wire_bytes;
    };
    let mut tracker = FlowTracker::new(FlowOptions::default());
    let Ok(mut reader) = CaptureReader::new(File::open(path).unwrap(), ReaderOptions::default())
    else {
        return out;
    };
    let mut drain = |t: &mut FlowTracker| {
        for ev in t.take_events() {
            if let FlowEvent::End(r, _) = ev {
                add(&r);
            }
        }
    };
    while let Ok(Some(frame)) = reader.next_frame() {
        let info = decode(frame.link_type, frame.data, frame.origlen);
        tracker.on_packet(&frame, &info);
        if tracker.pending_events() > 1024 {
            drain(&mut tracker);
        }
    }
    tracker.finish();
    drain(&mut tracker);
    out
}

fn parse_endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let (a, p) = s.rsplit_once(':')?;
    Some((a.parse().ok()?, p.parse().ok()?))
}

/// (proto, A, B, frames/bytes B→A, frames/bytes A→B); bytes None when
/// tshark rounded them (kB).
type ConvRow = (
    u8,
    (IpAddr, u16),
    (IpAddr, u16),
    (u64, Option<u64>),
    (u64, Option<u64>),
);

fn tshark_conversations(text: &str) -> Vec<ConvRow> {
    let mut proto = 0u8;
    let mut rows = Vec::new();
    for line in text.lines() {
        if line.starts_with("TCP Conversations") {
            proto = 6;
        } else if line.starts_with("UDP Conversations") {
            proto = 17;
        }
        let Some((a, rest)) = line.split_once("<->") else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // B, frames, bytes, unit, frames, bytes, unit, …
        let (Some(a), Some(b)) = (
            parse_endpoint(a.trim()),
            f.first().and_then(|s| parse_endpoint(s)),
        ) else {
            continue;
        };
        let num = |i: usize| {
            f.get(i)
                .and_then(|s| s.replace(',', "").parse::<u64>().ok())
        };
        let bytes = |i: usize| (f.get(i + 1) == Some(&"bytes")).then(|| num(i)).flatten();
        if let (Some(f1), Some(f2)) = (num(1), num(4)) {
            rows.push((proto, a, b, (f1, bytes(2)), (f2, bytes(5))));
        }
    }
    rows
}

#[test]
fn conversations_match_tshark() {
    let Some(dir) = corpus_dir() else { return };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    let (mut compared, mut failures) = (0, Vec::new());
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let conv = dir.join("expected").join(format!("{name}.conv.txt"));
        let Ok(text) = std::fs::read_to_string(&conv) else {
            continue;
        };
        if DIFFERENT.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let ours = flowtap_conversations(&path);
        for (proto, a, b, b_to_a, a_to_b) in tshark_conversations(&text) {
            // tshark's A may be our originator or our responder.
            let fwd = ours.get(&(proto, a.0, a.1, b.0, b.1)).map(|&(o, r)| (o, r));
            let rev = ours.get(&(proto, b.0, b.1, a.0, a.1)).map(|&(o, r)| (r, o));
            let mut got = (Dir::default(), Dir::default());
            for (x, y) in [fwd, rev].into_iter().flatten() {
                got.0.frames += x.frames;
                got.0.bytes += x.bytes;
                got.1.frames += y.frames;
                got.1.bytes += y.bytes;
            }
            let ok = got.0.frames == a_to_b.0
                && got.1.frames == b_to_a.0
                && a_to_b.1.is_none_or(|x| x == got.0.bytes)
                && b_to_a.1.is_none_or(|x| x == got.1.bytes);
            compared += 1;
            if !ok {
                failures.push(format!(
                    "{name} {proto} {a:?} <-> {b:?}: tshark A→B {a_to_b:?} B→A {b_to_a:?}, flowtap {got:?}"
                ));
            }
        }
    }
    assert!(compared > 4000, "only {compared} conversations compared");
    assert!(
        failures.is_empty(),
        "{} of {compared} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
