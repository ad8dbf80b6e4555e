//! The whole analyzer (flow tracking, defragmentation, reassembly, protocol
//! detection, HTTP/DNS/TLS parsing, stream pieces) over arbitrary capture
//! bytes, with small limits so that they are reached.
#![no_main]

use flowtap_core::analyze::{AnalyzeOptions, Analyzer};
use flowtap_core::capture::ReaderOptions;
use flowtap_core::flow::tracker::FlowOptions;
use flowtap_core::reassembly::ReassemblyOptions;
use flowtap_core::source::{PacketSource, SourceOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let small = data.len() % 2 == 1;
    let mut opts = AnalyzeOptions {
        streams: true,
        ..AnalyzeOptions::default()
    };
    if small {
        opts.flows = FlowOptions {
            max_flows: 4,
            ..FlowOptions::default()
        };
        opts.reassembly = ReassemblyOptions {
            max_ooo_bytes: 2048,
            max_ooo_segments: 8,
            ..ReassemblyOptions::default()
        };
        opts.memcap = 4096;
        opts.sessions = flowtap_fuzz::small_session_opts();
    }
    let sopts = SourceOptions {
        reader: ReaderOptions {
            buffer_size: 4096,
            ..ReaderOptions::default()
        },
        ..SourceOptions::default()
    };
    let Ok(mut src) = PacketSource::new(data, sopts) else {
        return;
    };
    let mut a = Analyzer::new(opts.clone());
    let mut n = 0;
    let _ = src.for_each(|f, info| {
        a.on_packet(f, info);
        n += 1;
        if n % 16 == 0 {
            check(a.take_events());
        }
        assert!(a.memcap_stats().used <= opts.memcap);
        assert!(a.tracker().stats().active <= opts.flows.max_flows as u64);
    });
    a.finish();
    check(a.take_events());
    assert_eq!(
        a.memcap_stats().used,
        0,
        "finish returns every byte charged"
    );
    assert_eq!(a.tracker().stats().active, 0);
});

fn check((events, arena): (Vec<flowtap_core::analyze::AnalyzeEvent>, Vec<u8>)) {
    use flowtap_core::analyze::{AnalyzeEvent, StreamPiece};
    for e in events {
        if let AnalyzeEvent::Stream(s) = e {
            if let StreamPiece::Data { start, len, .. } = s.piece {
                assert!(start + len <= arena.len());
            }
        }
    }
}
