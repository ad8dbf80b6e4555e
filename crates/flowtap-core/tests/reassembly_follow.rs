//! TCP reassembly against tshark's "follow tcp" (`expected/NAME.follow.tsv`
//! of the shared corpus): for every followed stream and node, the bytes
//! flowtap delivers have tshark's byte count and sha256, once each gap is
//! rendered as tshark renders it: a hole with data after it becomes the
//! text `[N bytes missing in capture file]` and a NUL; a hole at the end of
//! the stream becomes nothing. tshark never prints out-of-order data still
//! waiting for a hole at the end of the capture, which flowtap's `finish`
//! delivers after a gap, so what `finish` delivers is left out of the
//! comparison (and counted).
//!
//! Packets are grouped per connection by 5-tuple here (IP fragments are
//! reassembled first with `flowtap_core::defrag`), fed to one
//! `TcpReassembler` each, and finished at the end of the capture.

use std::collections::HashMap;
use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use flowtap_core::capture::{CaptureReader, ReaderOptions};
use flowtap_core::decode::{decode, ip_flags, Net, PacketInfo};
use flowtap_core::defrag::{DefragOptions, Defragmenter, Outcome};
use flowtap_core::reassembly::{
    Direction, GapReason, Memcap, ReassemblyOptions, StreamChunk, TcpReassembler, TcpSegment,
};
use flowtap_core::LinkType;
use sha2::{Digest, Sha256};

mod common;
use common::corpus_dir;

/// Streams (capture, tshark stream index) where flowtap deliberately
/// differs from tshark, and why.
const DIFFERENT: &[(&str, u32, &str)] = &[
    (
        "zeek_gtp1_fragmentation.pcap",
        0,
        "tshark follows the GTP-tunnelled connection; flowtap does not decapsulate GTP",
    ),
    (
        "zeek_tunnels_gre-aruba.pcap",
        8,
        "tshark follows the GRE-tunnelled connection; flowtap does not decapsulate GRE",
    ),
    (
        "zeek_tunnels_gre-aruba.pcap",
        10,
        "tshark follows the GRE-tunnelled connection; flowtap does not decapsulate GRE",
    ),
    (
        "zeek_tunnels_gre-aruba.pcap",
        11,
        "tshark follows the GRE-tunnelled connection; flowtap does not decapsulate GRE",
    ),
    (
        "zeek_tcp_reassembly.pcap",
        0,
        "5 frames whose IP length exceeds the frame are malformed to flowtap's decoder \
         (their payload becomes gaps); tshark uses their captured bytes",
    ),
];

/// What a direction delivered, in order; the flag marks what `finish`
/// delivered.
#[derive(Debug)]
enum Out {
    Data(Vec<u8>, bool),
    Gap(u64, GapReason, bool),
}

/// One connection's reassembler and what it delivered per sender.
struct Conn {
    orig: SocketAddr,
    r: TcpReassembler,
    out: [Vec<Out>; 2],
}

fn record(out: &mut [Vec<Out>; 2], d: Direction, chunk: StreamChunk<'_>, fin: bool) {
    let v = &mut out[dir_index(d)];
    match chunk {
        StreamChunk::Data { bytes, .. } => match v.last_mut() {
            Some(Out::Data(b, f)) if *f == fin => b.extend_from_slice(bytes),
            _ => v.push(Out::Data(bytes.to_vec(), fin)),
        },
        StreamChunk::Gap { len, reason, .. } => match v.last_mut() {
            Some(Out::Gap(n, r, f)) if *r == reason && *f == fin => *n += len,
            _ => v.push(Out::Gap(len, reason, fin)),
        },
        StreamChunk::End { .. } => {}
    }
}

/// The stream as tshark's follow prints it, its gaps, and whether
/// `finish` delivered data that was left out.
fn render(out: &[Out]) -> (Vec<u8>, Vec<(u64, GapReason)>, bool) {
    let mut bytes = Vec::new();
    let mut gaps = Vec::new();
    let before_finish = out
        .iter()
        .take_while(|o| !matches!(o, Out::Data(_, true) | Out::Gap(_, _, true)))
        .count();
    for (i, o) in out[..before_finish].iter().enumerate() {
        match o {
            Out::Data(b, _) => bytes.extend_from_slice(b),
            Out::Gap(n, r, _) => {
                gaps.push((*n, *r));
                if i + 1 < before_finish {
                    bytes.extend_from_slice(
                        format!("[{n} bytes missing in capture file]\0").as_bytes(),
                    );
                }
            }
        }
    }
    let left_out = out[before_finish..]
        .iter()
        .any(|o| matches!(o, Out::Data(..)));
    (bytes, gaps, left_out)
}

fn endpoints(info: &PacketInfo) -> Option<(SocketAddr, SocketAddr)> {
    let ip = |a: &[u8; 16]| match info.net {
        Net::Ipv4 => Some(IpAddr::from([a[0], a[1], a[2], a[3]])),
        Net::Ipv6 => Some(IpAddr::from(*a)),
        _ => None,
    };
    Some((
        SocketAddr::new(ip(&info.src)?, info.src_port),
        SocketAddr::new(ip(&info.dst)?, info.dst_port),
    ))
}

fn key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

fn dir_index(d: Direction) -> usize {
    match d {
        Direction::Orig => 0,
        Direction::Resp => 1,
    }
}

/// Reassembles every TCP connection of a capture.
fn reassemble(path: &Path) -> HashMap<(SocketAddr, SocketAddr), Conn> {
    let mut conns: HashMap<(SocketAddr, SocketAddr), Conn> = HashMap::new();
    let mut budget = Memcap::default();
    let mut defrag = Defragmenter::new(DefragOptions::default());
    let Ok(mut reader) = CaptureReader::new(File::open(path).unwrap(), ReaderOptions::default())
    else {
        return conns;
    };
    let mut feed = |data: &[u8], info: &PacketInfo, budget: &mut Memcap| {
        let Some((src, dst)) = endpoints(info) else {
            return;
        };
        let c = conns.entry(key(src, dst)).or_insert_with(|| Conn {
            orig: src,
            r: TcpReassembler::new(ReassemblyOptions::default()),
            out: [Vec::new(), Vec::new()],
        });
        let Some(seg) = TcpSegment::from_packet(data, info, src == c.orig) else {
            return;
        };
        let out = &mut c.out;
        c.r.on_segment(&seg, budget, &mut |d, chunk| record(out, d, chunk, false));
    };
    while let Ok(Some(frame)) = reader.next_frame() {
        let info = decode(frame.link_type, frame.data, frame.origlen);
        if info.ip_flags & ip_flags::FRAGMENT != 0 {
            if let Outcome::Complete(dgram) = defrag.push(frame.ts_ns, frame.data, &info) {
                let inner = decode(LinkType::RAW, &dgram, dgram.len() as u32);
                feed(&dgram, &inner, &mut budget);
            }
            continue;
        }
        feed(frame.data, &info, &mut budget);
    }
    for c in conns.values_mut() {
        let out = &mut c.out;
        c.r.finish(&mut budget, &mut |d, chunk| record(out, d, chunk, true));
    }
    assert_eq!(budget.used(), 0, "{}: memory not returned", path.display());
    conns
}

/// One row of a follow.tsv.
struct Row {
    stream: u32,
    endpoint: SocketAddr,
    bytes: u64,
    sha256: String,
}

fn parse_follow(text: &str) -> Vec<Row> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Some(Row {
                stream: f.first()?.parse().ok()?,
                endpoint: f.get(2)?.parse().ok()?,
                bytes: f.get(4)?.parse().ok()?,
                sha256: f.get(5)?.to_string(),
            })
        })
        .collect()
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[test]
fn reassembled_streams_match_tshark_follow() {
    let Some(dir) = corpus_dir() else { return };
    let mut files: Vec<_> = std::fs::read_dir(dir.join("expected"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.strip_suffix(".follow.tsv").map(str::to_string)
        })
        .collect();
    files.sort();
    let (mut compared, mut matched, mut failures) = (0, 0, Vec::new());
    let (mut expected_different, mut finish_left_out) = (0, 0);
    for name in files {
        let text = std::fs::read_to_string(dir.join("expected").join(format!("{name}.follow.tsv")))
            .unwrap();
        let rows = parse_follow(&text);
        let conns = reassemble(&dir.join(&name));
        // Each stream's two rows name its two endpoints.
        let mut streams: HashMap<u32, Vec<&Row>> = HashMap::new();
        for r in &rows {
            streams.entry(r.stream).or_default().push(r);
        }
        let mut ids: Vec<_> = streams.keys().copied().collect();
        ids.sort();
        for id in ids {
            let pair = &streams[&id];
            let [a, b] = pair[..] else {
                failures.push(format!("{name} stream {id}: {} rows", pair.len()));
                continue;
            };
            let known = DIFFERENT.iter().any(|(n, s, _)| *n == name && *s == id);
            let conn = conns.get(&key(a.endpoint, b.endpoint));
            let mut stream_ok = true;
            for row in [a, b] {
                compared += 1;
                let (got, gaps, left_out) = match conn {
                    Some(c) => render(&c.out[if row.endpoint == c.orig { 0 } else { 1 }]),
                    None => (Vec::new(), Vec::new(), false),
                };
                finish_left_out += left_out as u32;
                let ok = got.len() as u64 == row.bytes && sha256_hex(&got) == row.sha256;
                stream_ok &= ok;
                if ok {
                    matched += 1;
                } else if known {
                    expected_different += 1;
                } else {
                    failures.push(format!(
                        "{name} stream {id} {}: tshark {} bytes, flowtap {} bytes{}; gaps {:?}",
                        row.endpoint,
                        row.bytes,
                        got.len(),
                        if got.len() as u64 == row.bytes {
                            " (content differs)"
                        } else {
                            ""
                        },
                        &gaps[..gaps.len().min(6)],
                    ));
                }
            }
            if known && stream_ok {
                failures.push(format!(
                    "{name} stream {id}: listed as different but matches"
                ));
            }
        }
    }
    eprintln!(
        "follow: {matched} of {compared} stream directions match tshark, \
         {expected_different} listed as different, {finish_left_out} with data from finish left out"
    );
    assert!(
        compared >= 130,
        "only {compared} stream directions compared"
    );
    assert!(
        failures.is_empty(),
        "{} of {compared} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
