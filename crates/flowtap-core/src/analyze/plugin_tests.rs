//! Plugin claims through the whole analyzer, on real captures: who gets a
//! flow (priority, signatures, predicates, transport), that a plugin sees
//! exactly the bytes `streams` reports, and that released flows go quiet.

use std::collections::HashMap;
use std::io::Cursor;

use super::*;
use crate::capture::{CaptureReader, ReaderOptions};
use crate::decode::decode;
use crate::session::{SessionEvent, Transport};

const EXAMPLE: &[u8] = include_bytes!("../../../../examples/loopback-http-dns.pcapng");
/// redis-server and redis-cli on port 16379: 14 connections, one with a
/// 100 kB request and one with a 100 kB reply.
const REDIS: &[u8] = include_bytes!("../../../../examples/plugins/redis.pcap");

fn spec(id: u16, transport: Transport, ports: &[u16], priority: Priority) -> PluginSpec {
    PluginSpec {
        id,
        transport,
        ports: ports.to_vec(),
        signatures: Vec::new(),
        priority,
        predicate: false,
    }
}

fn with_plugins(specs: Vec<PluginSpec>) -> AnalyzeOptions {
    AnalyzeOptions {
        plugins: Plugins::new(specs),
        ..AnalyzeOptions::default()
    }
}

/// Runs a capture; `on_claim` may release flows as their claims appear.
fn run_with(
    opts: AnalyzeOptions,
    bytes: &[u8],
    mut on_claim: impl FnMut(&FlowMeta) -> bool,
) -> (Vec<AnalyzeEvent>, Vec<u8>, Analyzer) {
    let mut a = Analyzer::new(opts);
    let mut reader = CaptureReader::new(Cursor::new(bytes), ReaderOptions::default()).unwrap();
    let mut events = Vec::new();
    let mut arena = Vec::new();
    let mut take = |a: &mut Analyzer, events: &mut Vec<AnalyzeEvent>, arena: &mut Vec<u8>| {
        let (evs, ar) = a.take_events();
        let base = arena.len();
        arena.extend_from_slice(&ar);
        for mut ev in evs {
            // Rebase data pieces onto the one arena kept here.
            match &mut ev {
                AnalyzeEvent::Stream(StreamRecord {
                    piece: StreamPiece::Data { start, .. },
                    ..
                }) => *start += base,
                AnalyzeEvent::Plugin(p) => match p {
                    PluginEvent::Piece(StreamRecord {
                        piece: StreamPiece::Data { start, .. },
                        ..
                    }) => *start += base,
                    PluginEvent::Claim { flow, .. } if on_claim(flow) => a.release(flow.seq),
                    _ => {}
                },
                _ => {}
            }
            events.push(ev);
        }
    };
    while let Ok(Some(frame)) = reader.next_frame() {
        let info = decode(frame.link_type, frame.data, frame.origlen);
        a.on_packet(&frame, &info);
        take(&mut a, &mut events, &mut arena);
    }
    a.finish();
    take(&mut a, &mut events, &mut arena);
    (events, arena, a)
}

fn run(opts: AnalyzeOptions, bytes: &[u8]) -> (Vec<AnalyzeEvent>, Vec<u8>, Analyzer) {
    run_with(opts, bytes, |_| false)
}

/// Per plugin flow: its claim, its bytes per direction, gaps and close.
#[derive(Default, Debug)]
struct Seen {
    plugins: Vec<u16>,
    ask: bool,
    bytes: [Vec<u8>; 2],
    next: [u64; 2],
    /// Offsets of the data pieces (datagram indices for UDP).
    offsets: [Vec<u64>; 2],
    closed: bool,
    ends: usize,
    udp: bool,
}

fn plugin_flows(events: &[AnalyzeEvent], arena: &[u8]) -> HashMap<u64, Seen> {
    let mut out: HashMap<u64, Seen> = HashMap::new();
    for ev in events {
        let AnalyzeEvent::Plugin(p) = ev else {
            continue;
        };
        match p {
            PluginEvent::Claim {
                flow, plugins, ask, ..
            } => {
                let s = out.entry(flow.seq).or_default();
                assert!(s.plugins.is_empty(), "claimed twice");
                s.plugins = plugins.clone();
                s.ask = *ask;
                s.udp = flow.proto == 17;
            }
            PluginEvent::Piece(r) => {
                let s = out.get_mut(&r.flow).expect("a piece before its claim");
                assert!(!s.closed, "a piece after the close");
                let d = r.dir.index();
                match r.piece {
                    StreamPiece::Data { offset, start, len } => {
                        s.offsets[d].push(offset);
                        assert!(offset >= s.next[d], "pieces go forward");
                        s.next[d] = offset + if s.udp { 1 } else { len as u64 };
                        s.bytes[d].extend_from_slice(&arena[start..start + len]);
                    }
                    StreamPiece::Gap { offset, len, .. } => s.next[d] = offset + len,
                    StreamPiece::End { .. } => s.ends += 1,
                }
            }
            PluginEvent::Close { flow, .. } => {
                let s = out.get_mut(flow).expect("a close before its claim");
                assert!(!s.closed);
                s.closed = true;
            }
        }
    }
    out
}

fn http_sessions(events: &[AnalyzeEvent]) -> usize {
    events
        .iter()
        .filter(
            |e| matches!(e, AnalyzeEvent::Session(r) if matches!(r.event, SessionEvent::Http(_))),
        )
        .count()
}

#[test]
fn a_first_priority_plugin_takes_flows_from_a_built_in_parser() {
    let (events, arena, a) = run(
        with_plugins(vec![spec(7, Transport::Tcp, &[18080], Priority::First)]),
        EXAMPLE,
    );
    assert_eq!(http_sessions(&events), 0);
    assert_eq!(a.stats().detected[0], 0);
    let flows = plugin_flows(&events, &arena);
    let (_, _, plain) = run(AnalyzeOptions::default(), EXAMPLE);
    assert_eq!(flows.len() as u64, plain.stats().detected[0]);
    for s in flows.values() {
        assert_eq!(s.plugins, vec![7]);
        assert!(!s.ask && s.closed);
        assert_eq!(s.ends, 2, "both directions end");
        assert!(s.bytes[0].starts_with(b"GET /"));
        assert!(s.bytes[1].starts_with(b"HTTP/1."));
    }
    // DNS still goes to the built-in parser.
    assert_eq!(a.stats().dns_transactions, plain.stats().dns_transactions);
    assert_eq!(a.stats().plugin_flows, flows.len() as u64);
}

#[test]
fn a_last_priority_plugin_gets_only_what_no_built_in_parser_claimed() {
    let (events, arena, a) = run(
        with_plugins(vec![spec(1, Transport::Tcp, &[18080], Priority::Last)]),
        EXAMPLE,
    );
    assert!(plugin_flows(&events, &arena).is_empty());
    assert_eq!(http_sessions(&events), 4);
    assert_eq!(a.stats().plugin_bytes, 0);
}

#[test]
fn a_plugin_sees_exactly_the_reassembled_streams() {
    let streams = AnalyzeOptions {
        streams: true,
        protocols: Protocols::NONE,
        ..AnalyzeOptions::default()
    };
    let (sevents, sarena, _) = run(streams, REDIS);
    let mut want: HashMap<(u64, usize), Vec<u8>> = HashMap::new();
    for ev in &sevents {
        if let AnalyzeEvent::Stream(StreamRecord {
            flow,
            dir,
            piece: StreamPiece::Data { start, len, .. },
            ..
        }) = ev
        {
            want.entry((*flow, dir.index()))
                .or_default()
                .extend_from_slice(&sarena[*start..start + len]);
        }
    }
    let (events, arena, a) = run(
        with_plugins(vec![spec(0, Transport::Tcp, &[16379], Priority::Last)]),
        REDIS,
    );
    let flows = plugin_flows(&events, &arena);
    assert_eq!(flows.len(), 14);
    let mut total = 0;
    for (seq, s) in &flows {
        assert!(s.closed);
        for d in 0..2 {
            let w = want.get(&(*seq, d)).cloned().unwrap_or_default();
            assert_eq!(s.bytes[d].len(), w.len(), "flow {seq} dir {d}");
            assert!(s.bytes[d] == w, "flow {seq} dir {d} differs");
            total += w.len();
        }
    }
    // The 100 kB request (first segment far beyond the detection buffer)
    // and the 100 kB reply are in there.
    assert!(total > 200_000);
    assert_eq!(a.stats().plugin_bytes, total as u64);
}

#[test]
fn signatures_claim_by_first_bytes_on_any_port() {
    let mut s = spec(3, Transport::Tcp, &[], Priority::First);
    s.signatures = vec![Signature {
        dir: Some(Direction::Orig),
        offset: 0,
        bytes: b"*1\r\n$4\r\nPING".to_vec(),
    }];
    let (events, arena, _) = run(with_plugins(vec![s]), REDIS);
    let flows = plugin_flows(&events, &arena);
    assert_eq!(flows.len(), 1, "only the PING connection");
    assert!(flows.values().all(|f| f.bytes[1] == b"+PONG\r\n"));
}

#[test]
fn predicates_are_asked_only_about_unclaimed_flows() {
    let mut s = spec(9, Transport::Tcp, &[], Priority::First);
    s.predicate = true;
    // Example capture: HTTP and DNS/TCP are claimed by the built-ins, so
    // no flow is offered to the predicate.
    let (events, arena, _) = run(with_plugins(vec![s.clone()]), EXAMPLE);
    assert!(plugin_flows(&events, &arena).is_empty());
    // Redis matches no built-in parser: every connection is offered.
    let (events, arena, _) = run(with_plugins(vec![s]), REDIS);
    let flows = plugin_flows(&events, &arena);
    assert_eq!(flows.len(), 14);
    assert!(flows.values().all(|f| f.ask && f.plugins == vec![9]));
}

#[test]
fn released_flows_go_quiet() {
    let mut released = 0;
    let (events, arena, a) = run_with(
        with_plugins(vec![spec(0, Transport::Tcp, &[16379], Priority::Last)]),
        REDIS,
        |_| {
            released += 1;
            released % 2 == 1
        },
    );
    let flows = plugin_flows(&events, &arena);
    let quiet = flows.values().filter(|s| !s.closed).count();
    assert_eq!(quiet as u64, a.stats().plugin_released);
    assert_eq!(quiet, 7);
    for s in flows.values().filter(|s| !s.closed) {
        // Only what came with the claim.
        assert!(s.bytes[0].len() + s.bytes[1].len() <= 100_100);
        assert_eq!(s.ends, 0);
    }
}

#[test]
fn datagram_plugins_get_each_datagram_with_its_index() {
    let (events, arena, a) = run(
        with_plugins(vec![spec(2, Transport::Udp, &[15353], Priority::First)]),
        EXAMPLE,
    );
    let flows = plugin_flows(&events, &arena);
    assert_eq!(flows.len(), 2, "two UDP DNS exchanges");
    for s in flows.values() {
        assert_eq!(
            s.offsets,
            [vec![0], vec![0]],
            "one query and one response each"
        );
        assert!(s.closed);
    }
    // The DNS over TCP connection stays with the built-in parser.
    assert_eq!(a.stats().dns_transactions, 1);
}

#[test]
fn plugins_alone_run_without_built_in_parsers() {
    let opts = AnalyzeOptions {
        protocols: Protocols::NONE,
        ..with_plugins(vec![spec(0, Transport::Tcp, &[16379], Priority::Last)])
    };
    let (events, arena, a) = run(opts, REDIS);
    assert_eq!(plugin_flows(&events, &arena).len(), 14);
    assert_eq!(a.stats().undetected, 0);
}
