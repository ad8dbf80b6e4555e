//! TCP reassembly over every capture of the shared corpus, twice: with the
//! default limits, and with limits so tight that they are hit all the time.
//! Both runs must keep the stream contract (per direction, data and gaps
//! abut from offset 0, one `End` last), stay within the memcap after every
//! segment and return all memory at the end; and every byte the tight run
//! delivers must be the byte the default run delivered at that offset —
//! forced skips turn bytes into gaps, never into other bytes.

use std::collections::HashMap;
use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use flowtap_core::capture::{CaptureReader, ReaderOptions};
use flowtap_core::decode::{decode, ip_flags, Net, PacketInfo};
use flowtap_core::defrag::{DefragOptions, Defragmenter, Outcome};
use flowtap_core::reassembly::{
    Direction, Memcap, ReassemblyOptions, StreamChunk, StreamStats, TcpReassembler, TcpSegment,
};
use flowtap_core::LinkType;

mod common;
use common::corpus_dir;

type Key = (SocketAddr, SocketAddr);

/// One direction's output: data runs by offset, the covered length, and
/// whether its `End` came.
#[derive(Default)]
struct DirOut {
    runs: Vec<(u64, Vec<u8>)>,
    pos: u64,
    ended: bool,
    gaps: u64,
}

impl DirOut {
    fn push(&mut self, chunk: StreamChunk<'_>) -> Result<(), String> {
        if self.ended {
            return Err(format!("{chunk:?} after End"));
        }
        match chunk {
            StreamChunk::Data { offset, bytes } => {
                if offset != self.pos || bytes.is_empty() {
                    return Err(format!(
                        "data at {offset} ({} bytes), expected {}",
                        bytes.len(),
                        self.pos
                    ));
                }
                self.pos += bytes.len() as u64;
                match self.runs.last_mut() {
                    Some((o, b)) if *o + b.len() as u64 == offset => b.extend_from_slice(bytes),
                    _ => self.runs.push((offset, bytes.to_vec())),
                }
            }
            StreamChunk::Gap { offset, len, .. } => {
                if offset != self.pos || len == 0 {
                    return Err(format!(
                        "gap at {offset} (len {len}), expected {}",
                        self.pos
                    ));
                }
                self.pos += len;
                self.gaps += 1;
            }
            StreamChunk::End { .. } => self.ended = true,
        }
        Ok(())
    }

    /// The delivered byte at `offset`, if any.
    fn byte_at(&self, offset: u64) -> Option<u8> {
        let i = self
            .runs
            .partition_point(|(o, _)| *o <= offset)
            .checked_sub(1)?;
        let (o, b) = &self.runs[i];
        b.get((offset - o) as usize).copied()
    }
}

struct Conn {
    orig: SocketAddr,
    r: TcpReassembler,
    out: [DirOut; 2],
}

fn idx(d: Direction) -> usize {
    match d {
        Direction::Orig => 0,
        Direction::Resp => 1,
    }
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

struct Run {
    conns: HashMap<Key, Conn>,
    stats: HashMap<(Key, usize), StreamStats>,
    errors: Vec<String>,
}

fn run(path: &Path, opts: ReassemblyOptions, memcap: u64) -> Run {
    let mut conns: HashMap<Key, Conn> = HashMap::new();
    let mut errors = Vec::new();
    let mut budget = Memcap::new(memcap);
    let mut defrag = Defragmenter::new(DefragOptions::default());
    let Ok(mut reader) = CaptureReader::new(File::open(path).unwrap(), ReaderOptions::default())
    else {
        return Run {
            conns,
            stats: HashMap::new(),
            errors,
        };
    };
    let mut feed =
        |data: &[u8], info: &PacketInfo, budget: &mut Memcap, errors: &mut Vec<String>| {
            let Some((src, dst)) = endpoints(info) else {
                return;
            };
            let key = if src <= dst { (src, dst) } else { (dst, src) };
            let c = conns.entry(key).or_insert_with(|| Conn {
                orig: src,
                r: TcpReassembler::new(opts),
                out: Default::default(),
            });
            let Some(seg) = TcpSegment::from_packet(data, info, src == c.orig) else {
                return;
            };
            let out = &mut c.out;
            c.r.on_segment(&seg, budget, &mut |d, chunk| {
                if let Err(e) = out[idx(d)].push(chunk) {
                    errors.push(format!("{key:?} {d:?}: {e}"));
                }
            });
            if budget.used() > budget.limit() {
                errors.push(format!(
                    "memcap exceeded: {} > {}",
                    budget.used(),
                    budget.limit()
                ));
            }
            for d in [Direction::Orig, Direction::Resp] {
                let s = c.r.stats(d);
                if s.ooo_bytes > opts.max_ooo_bytes || s.ooo_segments > opts.max_ooo_segments as u64
                {
                    errors.push(format!("{key:?} {d:?}: ooo limits exceeded: {s:?}"));
                }
            }
        };
    while let Ok(Some(frame)) = reader.next_frame() {
        let info = decode(frame.link_type, frame.data, frame.origlen);
        if info.ip_flags & ip_flags::FRAGMENT != 0 {
            if let Outcome::Complete(dgram) = defrag.push(frame.ts_ns, frame.data, &info) {
                let inner = decode(LinkType::RAW, &dgram, dgram.len() as u32);
                feed(&dgram, &inner, &mut budget, &mut errors);
            }
            continue;
        }
        feed(frame.data, &info, &mut budget, &mut errors);
    }
    let mut stats = HashMap::new();
    for (key, c) in conns.iter_mut() {
        let out = &mut c.out;
        c.r.finish(&mut budget, &mut |d, chunk| {
            if let Err(e) = out[idx(d)].push(chunk) {
                errors.push(format!("{key:?} {d:?}: {e}"));
            }
        });
        for d in [Direction::Orig, Direction::Resp] {
            let s = *c.r.stats(d);
            let o = &c.out[idx(d)];
            if !o.ended {
                errors.push(format!("{key:?} {d:?}: no End after finish"));
            }
            if s.delivered_bytes + s.gap_bytes != o.pos {
                errors.push(format!(
                    "{key:?} {d:?}: stats {s:?} disagree with {} covered",
                    o.pos
                ));
            }
            stats.insert((*key, idx(d)), s);
        }
    }
    if budget.used() != 0 {
        errors.push(format!("{} bytes of memcap not returned", budget.used()));
    }
    Run {
        conns,
        stats,
        errors,
    }
}

#[test]
fn every_capture_keeps_the_stream_contract_under_tight_limits() {
    let Some(dir) = corpus_dir() else { return };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    // Out-of-order limits and memcap tiny; then depth small.
    let tight = [
        (
            ReassemblyOptions {
                max_ooo_bytes: 1000,
                max_ooo_segments: 1,
                ..Default::default()
            },
            2 * 1024,
        ),
        (
            ReassemblyOptions {
                depth: 10_000,
                ..Default::default()
            },
            u64::MAX,
        ),
    ];
    let mut failures = Vec::new();
    let (mut directions, mut compared_bytes, mut skips, mut deep) = (0u64, 0u64, 0u64, 0u64);
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let full = run(path, ReassemblyOptions::default(), u64::MAX);
        failures.extend(full.errors.iter().take(5).map(|e| format!("{name}: {e}")));
        for (opts, memcap) in tight {
            let small = run(path, opts, memcap);
            failures.extend(small.errors.iter().take(5).map(|e| format!("{name}: {e}")));
            for (key, c) in &small.conns {
                let Some(f) = full.conns.get(key) else {
                    continue;
                };
                for d in 0..2 {
                    directions += 1;
                    let (ss, fs) = (&small.stats[&(*key, d)], &full.stats[&(*key, d)]);
                    skips += ss.ooo_limit_hits + ss.memcap_hits;
                    deep += (ss.beyond_depth_bytes > 0) as u64;
                    // With conflicting retransmissions, which copy wins
                    // depends on what was buffered.
                    if ss.inconsistent_overlaps + fs.inconsistent_overlaps > 0 {
                        continue;
                    }
                    for (o, bytes) in &c.out[d].runs {
                        for (i, b) in bytes.iter().enumerate() {
                            let at = o + i as u64;
                            compared_bytes += 1;
                            if f.out[d].byte_at(at) != Some(*b) {
                                failures.push(format!(
                                    "{name} {key:?} dir {d}: byte at {at} is {b:#04x} with {opts:?}, \
                                     {:?} by default",
                                    f.out[d].byte_at(at)
                                ));
                                break;
                            }
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "reassembly corpus: {} captures, {directions} directions, {skips} forced skips, \
         {deep} cut at depth, {compared_bytes} bytes cross-checked",
        files.len()
    );
    // The corpus holds little reordering: a few dozen skips is all there is.
    assert!(
        skips >= 20,
        "the tight limits were hardly hit ({skips} skips)"
    );
    assert!(deep >= 20, "depth was hardly reached ({deep} directions)");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
