//! Writes the seed corpora of every target from real captures:
//! `seedgen OUT_DIR CAPTURE...` fills `OUT_DIR/<target>/`.
//!
//! capture/analyze get the files as they are (the large ones cut to their
//! first 64 KiB: a damaged tail is an input too); decode gets single frames;
//! defrag/flow get frame sequences; reassembly gets the TCP segments of each
//! flow; the session targets get each flow's reassembled streams (in the
//! order the reassembler delivered them, gaps included), by detected
//! protocol.

use std::collections::HashMap;
use std::path::Path;

use flowtap_core::capture::CaptureReader;
use flowtap_core::decode::{decode, ip_flags, Transport};
use flowtap_core::reassembly::{Memcap, StreamChunk, TcpReassembler, TcpSegment};
use flowtap_core::session::{detect, Detection, Protocol, Transport as STransport};
use flowtap_fuzz::{link_sel, write_data_op, write_packet};

type Ep = ([u8; 16], u16);

#[derive(Default)]
struct Flow {
    tcp: bool,
    orig: Option<Ep>,
    segs: Vec<u8>,
    nsegs: usize,
    reasm: TcpReassembler,
    ops: Vec<u8>,
    first: [Vec<u8>; 2],
    ports: (u16, u16),
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = Path::new(&args[0]);
    let targets = [
        "capture",
        "decode",
        "defrag",
        "flow",
        "reassembly",
        "session_http",
        "session_dns",
        "session_tls",
        "analyze",
    ];
    for t in targets {
        std::fs::create_dir_all(out.join(t)).unwrap();
    }
    let mut n = 0usize;
    for path in &args[1..] {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        let name = Path::new(path).file_name().unwrap().to_string_lossy();
        let put = |t: &str, suffix: &str, data: &[u8]| {
            if !data.is_empty() {
                std::fs::write(out.join(t).join(format!("{name}{suffix}")), data).unwrap();
            }
        };
        let head = &bytes[..bytes.len().min(64 << 10)];
        put("capture", "", head);
        put("analyze", "", head);
        let Ok(mut r) = CaptureReader::new(&bytes[..], Default::default()) else {
            continue;
        };
        let (mut seq_all, mut seq_frag) = (Vec::new(), Vec::new());
        let mut flows: HashMap<(Ep, Ep, u8), Flow> = HashMap::new();
        let mut memcap = Memcap::default();
        let (mut frames, mut last_ts) = (0usize, None::<u64>);
        while let Ok(Some(f)) = r.next_frame() {
            frames += 1;
            let info = decode(f.link_type, f.data, f.origlen);
            let step = last_ts.map_or(0, |t| (f.ts_ns.saturating_sub(t) / 100_000_000).min(255));
            last_ts = Some(f.ts_ns);
            if frames <= 16 {
                let mut d = vec![link_sel(f.link_type)];
                d.extend_from_slice(f.data);
                put("decode", &format!(".{frames}"), &d);
                n += 1;
            }
            if frames <= 200 {
                write_packet(&mut seq_all, f.link_type, step as u8, f.data);
            }
            if info.ip_flags & ip_flags::FRAGMENT != 0 && seq_frag.len() < 256 << 10 {
                write_packet(&mut seq_frag, f.link_type, step as u8, f.data);
            }
            let tcp = info.transport == Transport::Tcp;
            if !tcp && info.transport != Transport::Udp {
                continue;
            }
            let a = (info.src, info.src_port);
            let b = (info.dst, info.dst_port);
            let key = if a <= b {
                (a, b, tcp as u8)
            } else {
                (b, a, tcp as u8)
            };
            if flows.len() >= 64 && !flows.contains_key(&key) {
                continue;
            }
            let fl = flows.entry(key).or_default();
            fl.tcp = tcp;
            let orig = *fl.orig.get_or_insert(a);
            let from_orig = orig == a;
            if fl.ports == (0, 0) {
                fl.ports = (info.src_port, info.dst_port);
            }
            if tcp {
                let Some(seg) = TcpSegment::from_packet(f.data, &info, from_orig) else {
                    continue;
                };
                if fl.nsegs < 300 {
                    fl.nsegs += 1;
                    let mut ctl = (!from_orig) as u8;
                    use flowtap_core::decode::tcp_flags::*;
                    for (bit, fl_) in [(1, SYN), (2, FIN), (3, RST), (4, PSH), (5, ACK), (6, URG)] {
                        if seg.flags & fl_ != 0 {
                            ctl |= 1 << bit;
                        }
                    }
                    let p = &seg.payload[..seg.payload.len().min(u16::MAX as usize)];
                    fl.segs.push(ctl);
                    fl.segs.extend_from_slice(&seg.seq.to_le_bytes());
                    fl.segs.extend_from_slice(&seg.ack.to_le_bytes());
                    fl.segs.push(0);
                    fl.segs.extend_from_slice(&(p.len() as u16).to_le_bytes());
                    fl.segs.extend_from_slice(p);
                }
                let Flow {
                    reasm, ops, first, ..
                } = fl;
                if ops.len() < 128 << 10 {
                    reasm.on_segment(&seg, &mut memcap, &mut |d, c| {
                        record(ops, first, d.index() == 0, c)
                    });
                }
            } else {
                let off = info.payload_offset as usize;
                let p = f
                    .data
                    .get(off..off + info.payload_len as usize)
                    .unwrap_or(&[]);
                if fl.ops.len() < 64 << 10 {
                    write_data_op(&mut fl.ops, from_orig, p);
                    let i = (!from_orig) as usize;
                    if fl.first[i].is_empty() {
                        fl.first[i] = p.to_vec();
                    }
                }
            }
        }
        put("flow", ".seq", &seq_all);
        put("defrag", ".seq", &seq_all);
        put("defrag", ".frags", &seq_frag);
        for (i, fl) in flows.values_mut().enumerate() {
            if fl.tcp {
                let Flow {
                    reasm, ops, first, ..
                } = fl;
                reasm.finish(&mut memcap, &mut |d, c| {
                    record(ops, first, d.index() == 0, c)
                });
                if i < 8 {
                    let mut s = vec![0u8];
                    s.extend_from_slice(&fl.segs);
                    put("reassembly", &format!(".{i}"), &s);
                }
            }
            let t = if fl.tcp {
                STransport::Tcp
            } else {
                STransport::Udp
            };
            let proto = match detect(t, &fl.first[0], &fl.first[1], fl.ports.0, fl.ports.1) {
                Detection::Found(p) => p,
                _ => continue,
            };
            let target = match proto {
                Protocol::Http => "session_http",
                Protocol::Dns => "session_dns",
                Protocol::Tls => "session_tls",
            };
            let mut s = vec![if fl.tcp { 0u8 } else { 2 }];
            s.extend_from_slice(&fl.ops[..fl.ops.len().min(256 << 10)]);
            put(target, &format!(".{i}"), &s);
            n += 1;
        }
    }
    eprintln!("seedgen: {} files, {n} seeds", args.len() - 1);
}

/// Appends a reassembled chunk as a session op.
fn record(ops: &mut Vec<u8>, first: &mut [Vec<u8>; 2], orig: bool, c: StreamChunk<'_>) {
    match c {
        StreamChunk::Data { bytes, .. } => {
            let i = (!orig) as usize;
            if first[i].len() < 512 {
                first[i].extend_from_slice(&bytes[..bytes.len().min(512)]);
            }
            write_data_op(ops, orig, bytes)
        }
        StreamChunk::Gap { len, .. } => {
            ops.push(if orig { 10 } else { 11 });
            ops.extend_from_slice(&(len.min(u16::MAX as u64) as u16).to_le_bytes());
        }
        StreamChunk::End { .. } => {
            ops.push(if orig { 14 } else { 15 });
            ops.extend_from_slice(&[0, 0]);
        }
    }
}
