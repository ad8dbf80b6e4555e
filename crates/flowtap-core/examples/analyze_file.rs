//! Runs the whole pipeline (flows, reassembly, HTTP/DNS/TLS) over a capture
//! file and prints what it found: `cargo run --release --example
//! analyze_file -- FILE`.

use std::fs::File;
use std::io::BufReader;
use std::time::Instant;

use flowtap_core::analyze::{AnalyzeEvent, AnalyzeOptions, Analyzer};
use flowtap_core::capture::{CaptureReader, ReaderOptions};
use flowtap_core::decode::decode;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: analyze_file FILE")?;
    let file = BufReader::with_capacity(1 << 20, File::open(&path)?);
    let mut reader = CaptureReader::new(file, ReaderOptions::default())?;
    let mut a = Analyzer::new(AnalyzeOptions::default());
    let (mut packets, mut payload, mut sessions, mut flows) = (0u64, 0u64, 0u64, 0u64);
    let t0 = Instant::now();
    while let Some(frame) = reader.next_frame()? {
        let info = decode(frame.link_type, frame.data, frame.origlen);
        payload += info.payload_len as u64;
        a.on_packet(&frame, &info);
        packets += 1;
        if a.pending_events() >= 4096 {
            for ev in a.take_events().0 {
                match ev {
                    AnalyzeEvent::Session(_) => sessions += 1,
                    AnalyzeEvent::Flow(..) => flows += 1,
                    AnalyzeEvent::Stream(_) | AnalyzeEvent::Plugin(_) => {}
                }
            }
        }
    }
    a.finish();
    for ev in a.take_events().0 {
        match ev {
            AnalyzeEvent::Session(_) => sessions += 1,
            AnalyzeEvent::Flow(..) => flows += 1,
            AnalyzeEvent::Stream(_) | AnalyzeEvent::Plugin(_) => {}
        }
    }
    let s = t0.elapsed().as_secs_f64();
    let st = a.stats();
    println!(
        "{{\"packets\":{packets},\"seconds\":{s:.3},\"pps\":{:.0},\"payload_gbps\":{:.3},\"stream_gbps\":{:.3},\"flow_events\":{flows},\"sessions\":{sessions},\"http\":{},\"dns\":{},\"tls_hellos\":{},\"gaps\":{}}}",
        packets as f64 / s,
        payload as f64 / s / 1e9,
        st.stream_bytes as f64 / s / 1e9,
        st.http_transactions,
        st.dns_transactions,
        st.tls_handshakes,
        st.gaps
    );
    Ok(())
}
