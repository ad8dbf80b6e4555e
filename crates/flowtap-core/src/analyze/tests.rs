use std::collections::HashMap;
use std::io::Cursor;

use super::*;
use crate::capture::{CaptureReader, ReaderOptions};
use crate::decode::decode;
use crate::session::SessionEvent;

/// Loopback HTTP (IPv4, IPv6, keep-alive), DNS over UDP and TCP, ping.
const EXAMPLE: &[u8] = include_bytes!("../../../../examples/loopback-http-dns.pcapng");

fn run(opts: AnalyzeOptions, bytes: &[u8]) -> (Vec<AnalyzeEvent>, Vec<u8>, Analyzer) {
    let mut a = Analyzer::new(opts);
    let mut reader = CaptureReader::new(Cursor::new(bytes), ReaderOptions::default()).unwrap();
    while let Ok(Some(frame)) = reader.next_frame() {
        let info = decode(frame.link_type, frame.data, frame.origlen);
        a.on_packet(&frame, &info);
    }
    a.finish();
    let (events, arena) = a.take_events();
    (events, arena, a)
}

#[test]
fn flows_only_matches_the_tracker() {
    let (events, arena, a) = run(AnalyzeOptions::flows_only(FlowOptions::default()), EXAMPLE);
    assert!(arena.is_empty());
    let mut t = FlowTracker::new(FlowOptions::default());
    let mut reader = CaptureReader::new(Cursor::new(EXAMPLE), ReaderOptions::default()).unwrap();
    while let Ok(Some(frame)) = reader.next_frame() {
        let info = decode(frame.link_type, frame.data, frame.origlen);
        t.on_packet(&frame, &info);
    }
    t.finish();
    let theirs = t.take_events();
    assert_eq!(events.len(), theirs.len());
    for (ours, theirs) in events.iter().zip(&theirs) {
        let AnalyzeEvent::Flow(ev, None) = ours else {
            panic!("{ours:?}");
        };
        assert_eq!(format!("{ev:?}"), format!("{theirs:?}"));
    }
    assert_eq!(a.stats(), AnalyzeStats::default());
}

#[test]
fn sessions_sit_between_their_flow_start_and_end() {
    let (events, _, a) = run(AnalyzeOptions::default(), EXAMPLE);
    let mut open: HashMap<u64, bool> = HashMap::new();
    let mut http = 0;
    let mut dns = 0;
    let mut services = Vec::new();
    for ev in &events {
        match ev {
            AnalyzeEvent::Flow(FlowEvent::Start(r), _) => {
                assert!(open.insert(r.seq, true).is_none());
            }
            AnalyzeEvent::Flow(FlowEvent::End(r, _), service) => {
                assert!(open.remove(&r.seq).is_some());
                if let Some(p) = service {
                    services.push((r.proto, *p));
                }
            }
            AnalyzeEvent::Session(rec) => {
                assert!(open.contains_key(&rec.flow.seq), "session outside its flow");
                assert_ne!(rec.flow.orig_port, 0);
                match &rec.event {
                    SessionEvent::Http(t) => {
                        http += 1;
                        assert!(t.request.is_some() && t.response.is_some());
                    }
                    SessionEvent::Dns(t) => {
                        dns += 1;
                        assert!(t.query.is_some() && t.response.is_some());
                    }
                    _ => {}
                }
            }
            AnalyzeEvent::Stream(_) => panic!("streams were not asked for"),
            AnalyzeEvent::Plugin(_) => panic!("no plugins were given"),
        }
    }
    assert!(open.is_empty());
    assert_eq!(http, 4);
    assert_eq!(dns, 3);
    assert_eq!(a.stats().http_transactions, 4);
    assert!(services.contains(&(6, Protocol::Http)));
    assert!(services.contains(&(6, Protocol::Dns)));
    assert!(services.contains(&(17, Protocol::Dns)));
    assert_eq!(a.memcap_stats().used, 0);
}

#[test]
fn streams_are_contiguous_and_point_into_the_arena() {
    let opts = AnalyzeOptions {
        streams: true,
        protocols: Protocols::NONE,
        ..AnalyzeOptions::default()
    };
    let (events, arena, a) = run(opts, EXAMPLE);
    let mut next: HashMap<(u64, Direction), u64> = HashMap::new();
    let mut ended = 0;
    let mut bytes = 0;
    for ev in &events {
        let AnalyzeEvent::Stream(s) = ev else {
            continue;
        };
        let at = next.entry((s.flow, s.dir)).or_insert(0);
        match s.piece {
            StreamPiece::Data { offset, start, len } => {
                assert_eq!(offset, *at);
                assert!(start + len <= arena.len());
                *at += len as u64;
                bytes += len;
            }
            StreamPiece::Gap { offset, len, .. } => {
                assert_eq!(offset, *at);
                *at += len;
            }
            StreamPiece::End { .. } => ended += 1,
        }
    }
    // Five TCP connections, both directions of each.
    assert_eq!(ended, 10);
    assert_eq!(bytes as u64, a.stats().stream_bytes);
    assert!(bytes > 10_000);
    assert_eq!(a.stats().gaps, 0);
}

#[test]
fn a_parser_can_be_turned_off() {
    let opts = AnalyzeOptions {
        protocols: Protocols {
            http: false,
            ..Protocols::ALL
        },
        ..AnalyzeOptions::default()
    };
    let (events, _, a) = run(opts, EXAMPLE);
    assert!(!events.iter().any(|e| matches!(
        e,
        AnalyzeEvent::Session(r) if matches!(r.event, SessionEvent::Http(_))
    )));
    assert_eq!(a.stats().detected[0], 0);
    assert!(a.stats().dns_transactions > 0);
}
