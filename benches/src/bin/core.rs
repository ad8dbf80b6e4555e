//! flowtap core alone over a capture file, in one of three modes:
//!
//! * `for_each` — `PacketSource::for_each`: read, decode every packet, touch
//!   its ports. The fastest path a Rust consumer has.
//! * `batches` — `PacketSource::next_batch` with `keep_bytes = true` and the
//!   default batch bounds: what the Node binding runs on its worker thread
//!   for every batch, without the hand-over to JavaScript.
//! * `flows` — `PacketSource::for_each` into a `FlowTracker` with the
//!   default options (or `--max-flows N`), events drained every 4096: parse
//!   plus flow tracking in the core alone. It also prints the flows, the
//!   peak of flows tracked at once, and the resident size when the last
//!   packet has been counted (before the flows still tracked are ended).
//!
//! * `plugin` — parse, flow tracking and TCP reassembly into one plugin
//!   claiming every TCP flow (no built-in parser): what the binding does
//!   before handing plugin pieces to JavaScript. Prints `pluginBytes`.
//! * `sessions` — the same with the built-in HTTP/DNS/TLS parsers instead.
//!   Prints `streamBytes` and `sessions`.
//!
//! All read the file through `std::fs::File` as the binding does (the
//! reader has its own buffer).
//!
//! ```text
//! core_bench --mode for_each|batches|flows|plugin|sessions [--batch-size N] [--max-flows N] FILE
//! ```
//!
//! Prints `{"name":"core_for_each"|"core_batches"|"core_flows","packets":N,"seconds":S,…}`;
//! `flows` adds `"flows","peakActive","activeAtEnd","evicted","rssKbAtEnd","hwmKb"`.

use std::fs::File;
use std::time::Instant;

use flowtap_bench::{die, Args, Report};
use flowtap_core::analyze::{
    AnalyzeEvent, AnalyzeOptions, Analyzer, PluginSpec, Plugins, Priority, Protocols,
};
use flowtap_core::batch::{U16_DST_PORT, U16_SRC_PORT, U32_CAPLEN, U8_TRANSPORT};
use flowtap_core::flow::tracker::{FlowEvent, FlowOptions, FlowTracker};
use flowtap_core::session::Transport;
use flowtap_core::source::{PacketSource, SourceOptions};

fn main() {
    let args = Args::parse(&[]);
    args.check_known(&["mode", "batch-size", "max-flows"]);
    let Some(path) = args.positional.first() else {
        die("usage: core_bench --mode for_each|batches|flows [--batch-size N] [--max-flows N] FILE")
    };
    let mode = args.get("mode").unwrap_or("for_each");
    let mut opts = SourceOptions {
        keep_bytes: true,
        ..SourceOptions::default()
    };
    opts.batch_packets = args.num("batch-size", opts.batch_packets);

    let t = Instant::now();
    let file = File::open(path).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    let mut src = PacketSource::new(file, opts).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    let (mut packets, mut bytes, mut ports, mut check) = (0u64, 0u64, 0u64, 0u64);
    let mut extra = String::new();
    let name = match mode {
        "for_each" => {
            src.for_each(|frame, info| {
                packets += 1;
                bytes += frame.data.len() as u64;
                ports ^= u64::from(info.src_port ^ info.dst_port);
                check = check.wrapping_add(info.transport as u64);
            })
            .unwrap_or_else(|e| die(&format!("{path}: {e}")));
            "core_for_each"
        }
        "batches" => {
            loop {
                let batch = match src.next_batch() {
                    Ok(Some(b)) => b,
                    Ok(None) => break,
                    Err(e) => die(&format!("{path}: {e}")),
                };
                let n = batch.len();
                packets += n as u64;
                let caplen = batch.u32_col(U32_CAPLEN);
                let sp = batch.u16_col(U16_SRC_PORT);
                let dp = batch.u16_col(U16_DST_PORT);
                let tr = batch.u8_col(U8_TRANSPORT);
                for i in 0..n {
                    bytes += u64::from(caplen[i]);
                    ports ^= u64::from(sp[i] ^ dp[i]);
                    check = check.wrapping_add(u64::from(tr[i]));
                }
                check ^= batch.data.len() as u64;
            }
            "core_batches"
        }
        "flows" => {
            // Parse + flow tracking: every packet into the flow table, every
            // event drained as it comes (what the binding does per step).
            let mut tracker = FlowTracker::new(FlowOptions {
                max_flows: args.num("max-flows", FlowOptions::default().max_flows),
                ..FlowOptions::default()
            });
            let mut peak = 0u64;
            let drain = |t: &mut FlowTracker, check: &mut u64| {
                for ev in t.take_events() {
                    if let FlowEvent::End(r, _) = ev {
                        *check = check.wrapping_add(r.orig.packets + r.resp.packets);
                    }
                }
            };
            src.for_each(|frame, info| {
                packets += 1;
                bytes += frame.data.len() as u64;
                ports ^= u64::from(info.src_port ^ info.dst_port);
                tracker.on_packet(frame, info);
                if tracker.pending_events() >= 4096 {
                    peak = peak.max(tracker.stats().active);
                    drain(&mut tracker, &mut check);
                }
            })
            .unwrap_or_else(|e| die(&format!("{path}: {e}")));
            // The table as the last packet left it: every flow still tracked
            // (idle, waiting for its timeout) is in this resident size.
            let active_at_end = tracker.stats().active;
            peak = peak.max(active_at_end);
            let rss_at_end = proc_status_kb("VmRSS");
            tracker.finish();
            drain(&mut tracker, &mut check);
            let s = tracker.stats();
            extra = format!(
                ",\"flows\":{},\"peakActive\":{peak},\"activeAtEnd\":{active_at_end},\"evicted\":{},\"rssKbAtEnd\":{},\"hwmKb\":{}",
                s.flows,
                s.evicted,
                rss_at_end.map_or("null".to_string(), |v| v.to_string()),
                proc_status_kb("VmHWM").map_or("null".to_string(), |v| v.to_string()),
            );
            "core_flows"
        }
        "plugin" | "sessions" => {
            let plugin = mode == "plugin";
            let mut opts = AnalyzeOptions::default();
            if plugin {
                opts.protocols = Protocols::NONE;
                opts.plugins = Plugins::new(vec![PluginSpec {
                    id: 0,
                    transport: Transport::Tcp,
                    ports: Vec::new(),
                    signatures: Vec::new(),
                    priority: Priority::First,
                    predicate: false,
                }]);
            }
            let mut a = Analyzer::new(opts);
            let mut sessions = 0u64;
            let mut drain = |a: &mut Analyzer, check: &mut u64| {
                let (events, arena) = a.take_events();
                *check = check.wrapping_add(arena.len() as u64);
                sessions += events
                    .iter()
                    .filter(|e| matches!(e, AnalyzeEvent::Session(_)))
                    .count() as u64;
            };
            src.for_each(|frame, info| {
                packets += 1;
                bytes += frame.data.len() as u64;
                a.on_packet(frame, info);
                if a.pending_events() >= 4096 {
                    drain(&mut a, &mut check);
                }
            })
            .unwrap_or_else(|e| die(&format!("{path}: {e}")));
            a.finish();
            drain(&mut a, &mut check);
            let st = a.stats();
            extra = format!(
                ",\"streamBytes\":{},\"pluginBytes\":{},\"sessions\":{sessions}",
                st.stream_bytes, st.plugin_bytes
            );
            if plugin {
                "core_plugin"
            } else {
                "core_sessions"
            }
        }
        m => die(&format!(
            "--mode must be for_each, batches, flows, plugin or sessions, not {m}"
        )),
    };
    let elapsed = t.elapsed();

    let mut r = Report::new(name, elapsed);
    r.packets = packets;
    r.bytes = bytes;
    r.ports = ports;
    r.check = check;
    let json = r.to_json();
    println!("{}{extra}}}", &json[..json.len() - 1]);
}

/// A `kB` line of `/proc/self/status` (`VmRSS`, `VmHWM`), where there is one.
fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
    line[field.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
