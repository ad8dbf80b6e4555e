//! Hostile traffic through the whole pipeline: captures generated in memory
//! (pcap written by hand), read by the capture reader, decoded and fed to an
//! [`Analyzer`], each test asserting that the configured bounds hold and the
//! counters report what was given up.
//!
//! What the unit tests already cover is not repeated: the 1M-segment
//! memcap test (reassembly/tests.rs), the single-parser limit tests
//! (session/tests.rs), the defrag limit unit tests (defrag/tests.rs) and
//! the pcap huge-caplen case (capture/reader.rs). Here the same limits are
//! reached through the analyzer, where they interact.
//!
//! Limits exercised, their defaults and where they are counted:
//!
//! | limit | default | counted in |
//! |---|---|---|
//! | `FlowOptions::max_flows` | 1 000 000 | `FlowStats::evicted` |
//! | `AnalyzeOptions::memcap` | 256 MiB | `MemcapStats::{peak,hits}`, `GapReason::Memcap` gaps |
//! | `ReassemblyOptions::max_ooo_segments` | 1024 | `StreamStats::ooo_limit_hits`, `GapReason::OooLimit` gaps |
//! | first-data-wins overlap policy | – | `StreamStats::inconsistent_overlaps` |
//! | `SessionOptions::max_header_block` | 64 KiB | `AnomalyKind::HeaderTooLarge` |
//! | HTTP chunk-size line | 4096 B (`MAX_LINE`) | `AnomalyKind::Malformed` |
//! | DNS compression jumps / name length | 64 (`MAX_JUMPS`) / 255 B (`MAX_NAME`) | `AnomalyKind::BadName` |
//! | TLS record length | 2^14 + 2048 | `AnomalyKind::Malformed` |
//! | `SessionOptions::max_handshake` | 64 KiB | `AnomalyKind::HandshakeTooLarge` |
//! | `DefragOptions::{max_datagrams,max_bytes,timeout_ns}` | 4096, 16 MiB, 30 s | `DefragStats::{evicted_*,timeouts,flushed,peak_*}` |
//! | `ReaderOptions::max_block_len` | 16 MiB | `Error::RecordTooLarge` (`ERR_LIMIT_EXCEEDED`) |
//!
//! Memory is measured two ways: a counting global allocator (bytes live now
//! and the peak since a reset: exact, but blind to memory the allocator
//! keeps) and the resident set size from `/proc/self/statm`. The tests take
//! one lock so that only one of them allocates at a time; the numbers are
//! printed (`cargo test --test hostile -- --nocapture`).
//!
//! `FLOWTAP_SOAK=K` multiplies the SYN flood and the out-of-order flood by
//! K with the same bounds asserted (the soak variant: `scripts/soak.sh`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

use flowtap_core::analyze::{AnalyzeEvent, AnalyzeOptions, Analyzer, StreamPiece};
use flowtap_core::capture::{CaptureReader, ReaderOptions};
use flowtap_core::decode::decode;
use flowtap_core::flow::tracker::FlowOptions;
use flowtap_core::reassembly::{Direction, GapReason};
use flowtap_core::session::{AnomalyKind, SessionEvent};
use flowtap_core::{Error, ErrorCode};

// ---------------------------------------------------------------- memory

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Relaxed) + l.size();
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        LIVE.fetch_sub(l.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, l, new);
        if !q.is_null() {
            if new >= l.size() {
                let now = LIVE.fetch_add(new - l.size(), Relaxed) + new - l.size();
                PEAK.fetch_max(now, Relaxed);
            } else {
                LIVE.fetch_sub(l.size() - new, Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The soak multiplier (`FLOWTAP_SOAK`, default 1).
fn soak() -> usize {
    std::env::var("FLOWTAP_SOAK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// One test at a time, so the allocator and RSS figures are its own.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn live() -> usize {
    LIVE.load(Relaxed)
}

/// Starts a peak measurement from the bytes live now.
fn reset_peak() -> usize {
    let now = live();
    PEAK.store(now, Relaxed);
    now
}

fn peak() -> usize {
    PEAK.load(Relaxed)
}

/// Resident set size in bytes (0 where /proc is missing).
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

const MIB: usize = 1 << 20;

fn mib(n: usize) -> f64 {
    n as f64 / MIB as f64
}

// ---------------------------------------------------------------- packets

/// xorshift64*: deterministic "random" ports and addresses.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

/// An IPv4 packet (LINKTYPE_RAW); `frag` is the flags/offset field.
fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, id: u16, frag: u16, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[64, proto, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let sum = checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

#[derive(Clone, Copy)]
struct Ep {
    ip: [u8; 4],
    port: u16,
}

fn tcp(src: Ep, dst: Ep, flags: u8, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&src.port.to_be_bytes());
    t.extend_from_slice(&dst.port.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    ipv4(src.ip, dst.ip, 6, 1, 0x4000, &t)
}

fn udp(src: Ep, dst: Ep, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&src.port.to_be_bytes());
    u.extend_from_slice(&dst.port.to_be_bytes());
    u.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    ipv4(src.ip, dst.ip, 17, 1, 0, &u)
}

/// A pcap (nanosecond, LINKTYPE_RAW) written by hand.
struct Pcap(Vec<u8>);

impl Pcap {
    fn new() -> Self {
        let mut v = Vec::new();
        v.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&262_144u32.to_le_bytes());
        v.extend_from_slice(&101u32.to_le_bytes());
        Pcap(v)
    }

    fn push(&mut self, ts_ns: u64, frame: &[u8]) {
        let v = &mut self.0;
        v.extend_from_slice(&((ts_ns / 1_000_000_000) as u32).to_le_bytes());
        v.extend_from_slice(&((ts_ns % 1_000_000_000) as u32).to_le_bytes());
        v.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        v.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        v.extend_from_slice(frame);
    }
}

/// One TCP connection's two endpoints and sequence numbers, for writing
/// its packets into a capture.
struct Conn {
    c: Ep,
    s: Ep,
    /// Next client / server sequence numbers (ISN + 1 after the handshake).
    cseq: u32,
    sseq: u32,
}

impl Conn {
    fn open(pcap: &mut Pcap, ts: u64, c: Ep, s: Ep) -> Conn {
        let (ci, si) = (1000u32, 5000u32);
        pcap.push(ts, &tcp(c, s, SYN, ci, 0, b""));
        pcap.push(ts + 1, &tcp(s, c, SYN | ACK, si, ci + 1, b""));
        pcap.push(ts + 2, &tcp(c, s, ACK, ci + 1, si + 1, b""));
        Conn {
            c,
            s,
            cseq: ci + 1,
            sseq: si + 1,
        }
    }

    /// Client data at stream offset `off` (not advancing `cseq`).
    fn client_at(&self, pcap: &mut Pcap, ts: u64, off: u32, data: &[u8]) {
        let f = tcp(
            self.c,
            self.s,
            ACK | PSH,
            self.cseq.wrapping_add(off),
            self.sseq,
            data,
        );
        pcap.push(ts, &f);
    }

    /// In-order client data.
    fn client(&mut self, pcap: &mut Pcap, ts: u64, data: &[u8]) {
        self.client_at(pcap, ts, 0, data);
        self.cseq = self.cseq.wrapping_add(data.len() as u32);
    }

    /// In-order server data.
    fn server(&mut self, pcap: &mut Pcap, ts: u64, data: &[u8]) {
        let f = tcp(self.s, self.c, ACK | PSH, self.sseq, self.cseq, data);
        pcap.push(ts, &f);
        self.sseq = self.sseq.wrapping_add(data.len() as u32);
    }

    fn close(&mut self, pcap: &mut Pcap, ts: u64) {
        pcap.push(
            ts,
            &tcp(self.c, self.s, FIN | ACK, self.cseq, self.sseq, b""),
        );
        pcap.push(
            ts + 1,
            &tcp(self.s, self.c, FIN | ACK, self.sseq, self.cseq + 1, b""),
        );
    }
}

fn ep(a: u8, b: u8, port: u16) -> Ep {
    Ep {
        ip: [10, 0, a, b],
        port,
    }
}

// ---------------------------------------------------------------- running

/// What a run saw, folded as events are taken (so that the test itself
/// holds no events).
#[derive(Default, Debug)]
struct Seen {
    anomalies: HashMap<AnomalyKind, u64>,
    gaps: HashMap<GapReason, u64>,
    gap_bytes: u64,
    http: Vec<flowtap_core::session::http::HttpTransaction>,
    dns: Vec<flowtap_core::session::dns::DnsTransaction>,
    /// Delivered stream bytes of flow `stream_of` (client side), kept.
    stream: Vec<u8>,
    stream_of: Option<u64>,
    ends: u64,
}

impl Seen {
    fn take(&mut self, a: &mut Analyzer) {
        let (events, arena) = a.take_events();
        for e in events {
            match e {
                AnalyzeEvent::Session(r) => match r.event {
                    SessionEvent::Anomaly(x) => *self.anomalies.entry(x.kind).or_default() += 1,
                    SessionEvent::Http(t) => self.http.push(*t),
                    SessionEvent::Dns(t) => self.dns.push(*t),
                    _ => {}
                },
                AnalyzeEvent::Stream(s) => match s.piece {
                    StreamPiece::Gap { len, reason, .. } => {
                        *self.gaps.entry(reason).or_default() += 1;
                        self.gap_bytes += len;
                    }
                    StreamPiece::Data { start, len, .. }
                        if Some(s.flow) == self.stream_of && s.dir == Direction::Orig =>
                    {
                        self.stream.extend_from_slice(&arena[start..start + len]);
                    }
                    _ => {}
                },
                AnalyzeEvent::Flow(flowtap_core::flow::tracker::FlowEvent::End(..), _) => {
                    self.ends += 1
                }
                _ => {}
            }
        }
    }

    fn anomaly(&self, k: AnomalyKind) -> u64 {
        self.anomalies.get(&k).copied().unwrap_or(0)
    }
}

/// Reads `pcap` into `a`, taking the events every `every` packets and
/// calling `probe` after each packet with the count so far; then finishes.
fn run(
    a: &mut Analyzer,
    pcap: &[u8],
    seen: &mut Seen,
    every: usize,
    mut probe: impl FnMut(usize, &Analyzer),
) {
    let mut r = CaptureReader::new(pcap, ReaderOptions::default()).unwrap();
    let mut n = 0;
    while let Some(f) = r.next_frame().unwrap() {
        let info = decode(f.link_type, f.data, f.origlen);
        a.on_packet(&f, &info);
        n += 1;
        if n % every == 0 {
            seen.take(a);
        }
        probe(n, a);
    }
    seen.take(a);
    // Finish a flow at a time, taking the events in between: what a flow
    // flushes at its end is held until taken.
    while !a.finish_some(1) {
        seen.take(a);
    }
    seen.take(a);
}

// ---------------------------------------------------------------- tests

/// 60 000 SYNs from random addresses and ports at one server, against a
/// table of 2 000 flows: the table stays at its maximum, every flow beyond
/// it is an eviction, and memory is flat from the first thousands of flows
/// to the last.
#[test]
fn syn_flood_keeps_the_flow_table_at_max_flows() {
    let _g = serial();
    let n_syn: usize = 60_000 * soak();
    const MAX: usize = 2_000;
    let mut rng = Rng(0x5eed);
    let mut pcap = Pcap::new();
    let server = ep(0, 1, 80);
    for i in 0..n_syn {
        let r = rng.next();
        let c = Ep {
            ip: [
                172,
                16 + (r >> 40) as u8 % 16,
                (r >> 48) as u8,
                (r >> 56) as u8,
            ],
            port: 1024 + (r % 64000) as u16,
        };
        pcap.push(i as u64 * 1000, &tcp(c, server, SYN, r as u32, 0, b""));
    }
    let opts = AnalyzeOptions {
        flows: FlowOptions {
            max_flows: MAX,
            ..FlowOptions::default()
        },
        ..AnalyzeOptions::default()
    };
    let mut a = Analyzer::new(opts);
    let mut seen = Seen::default();
    let (mut base, mut rss0, mut table0) = (0, 0, 0);
    let mut max_active = 0;
    let t0 = Instant::now();
    run(&mut a, &pcap.0, &mut seen, 1000, |n, a| {
        max_active = max_active.max(a.tracker().stats().active);
        if n == 10_000 {
            base = reset_peak();
            rss0 = rss();
            table0 = a.tracker().table_bytes();
        }
        if n == n_syn {
            let st = a.tracker().stats();
            assert_eq!(st.active, MAX as u64);
            assert_eq!(a.tracker().table_bytes(), table0, "table grew");
        }
    });
    let st = a.tracker().stats();
    let growth = peak() - base;
    let rss_growth = rss().saturating_sub(rss0);
    eprintln!(
        "syn flood: {n_syn} SYNs in {:?}, max_flows {MAX}: max active {max_active}, evicted {}, \
         table {} KiB, heap peak growth after 10k SYNs {:.2} MiB, RSS growth {:.2} MiB",
        t0.elapsed(),
        st.evicted,
        table0 / 1024,
        mib(growth),
        mib(rss_growth)
    );
    assert_eq!(max_active, MAX as u64);
    assert_eq!(st.flows, n_syn as u64);
    assert_eq!(st.evicted, (n_syn - MAX) as u64);
    assert_eq!(seen.ends, n_syn as u64, "every flow ended once");
    // The events of 1000 packets (starts and ends) are what may grow
    // between takes; the flows themselves must not.
    assert!(growth < 4 * MIB, "heap grew {growth} bytes");
    assert!(rss_growth < 16 * MIB, "RSS grew {rss_growth} bytes");
}

/// 16 connections each send 400 × 1000-byte segments with a 1000-byte hole
/// before each (never filled, never acknowledged), against a 2 MiB memcap;
/// one more sends 2 000 tiny out-of-order pieces against the 1 024-piece
/// limit. The memcap holds, both limits are reported as gaps, every byte
/// position is delivered or gapped, and finishing returns all memory.
#[test]
fn out_of_order_flood_with_holes_holds_the_memcap() {
    let _g = serial();
    const MEMCAP: u64 = 2 << 20;
    let mut pcap = Pcap::new();
    let server = ep(0, 1, 9000);
    let mut ts = 0;
    // The piece-limit connection first, while the memcap is free.
    let tiny = Conn::open(&mut pcap, ts, ep(1, 200, 40000), server);
    for k in 1..=2000u32 {
        ts += 10;
        tiny.client_at(&mut pcap, ts, 2 * k, b"x");
    }
    let mut conns: Vec<Conn> = (0..16)
        .map(|i| Conn::open(&mut pcap, 100_000 + i * 10, ep(1, i as u8, 40000), server))
        .collect();
    let payload = vec![b'a'; 1000];
    let rounds = 400 * soak() as u64;
    for k in 1..=rounds as u32 {
        for c in &mut conns {
            ts += 10;
            c.client_at(&mut pcap, 1_000_000 + ts, 2000 * k, &payload);
        }
    }
    let opts = AnalyzeOptions {
        memcap: MEMCAP,
        streams: true,
        ..AnalyzeOptions::default()
    };
    let mut a = Analyzer::new(opts);
    let mut seen = Seen::default();
    let base = reset_peak();
    let rss0 = rss();
    let mut max_used = 0;
    run(&mut a, &pcap.0, &mut seen, 256, |_, a| {
        max_used = max_used.max(a.memcap_stats().used);
    });
    let m = a.memcap_stats();
    let growth = peak() - base;
    eprintln!(
        "ooo flood: memcap {} MiB: peak {:.2} MiB, hits {}, gaps {:?}, gap bytes {}, \
         ooo limit hits {}, heap peak growth {:.2} MiB, RSS growth {:.2} MiB",
        MEMCAP >> 20,
        mib(m.peak as usize),
        m.hits,
        seen.gaps,
        seen.gap_bytes,
        m.totals.ooo_limit_hits,
        mib(growth),
        mib(rss().saturating_sub(rss0))
    );
    assert!(m.peak <= MEMCAP && max_used <= MEMCAP);
    assert!(m.hits > 0, "the memcap was reached");
    assert_eq!(m.used, 0, "finish returns every byte");
    assert!(seen.gaps.get(&GapReason::Memcap).is_some_and(|&n| n > 0));
    assert!(seen.gaps.get(&GapReason::OooLimit).is_some_and(|&n| n > 0));
    assert!(m.totals.memcap_hits > 0 && m.totals.ooo_limit_hits > 0);
    // Each direction is covered up to its highest byte: the 16 streams to
    // 2000 × 400 + 1000 bytes, the tiny one to 2 × 2000 + 1, by data or gaps.
    let covered = m.totals.delivered_bytes + m.totals.gap_bytes;
    assert_eq!(covered, 16 * (2000 * rounds + 1000) + 4001);
    assert_eq!(a.stats().gaps, m.totals.gaps);
    // The capture itself (about 8 MiB) is not counted: it was allocated
    // before the measurement started. Beyond the memcap: the reader's
    // 1 MiB buffer, and the stream bytes a flushed connection delivers
    // into the event arena before they are taken.
    assert!(
        growth < MEMCAP as usize + 4 * MIB,
        "heap grew {growth} bytes"
    );
}

/// A segment that overlaps data already buffered, with different bytes:
/// the first data wins (the HTTP parser sees the first copy), and the
/// conflict is counted.
#[test]
fn overlapping_segments_with_conflicting_data_first_wins() {
    let _g = serial();
    let mut pcap = Pcap::new();
    let mut c = Conn::open(&mut pcap, 0, ep(2, 1, 40000), ep(0, 1, 80));
    let req = b"GET /good HTTP/1.1\r\nHost: h\r\n\r\n";
    // Bytes 4..9 arrive first, out of order, saying "/evil"; then the whole
    // request with "/good" overlaps them.
    c.client_at(&mut pcap, 10, 4, b"/evil");
    c.client(&mut pcap, 20, req);
    c.server(
        &mut pcap,
        30,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    );
    c.close(&mut pcap, 40);
    let mut a = Analyzer::new(AnalyzeOptions {
        streams: true,
        ..AnalyzeOptions::default()
    });
    let mut seen = Seen {
        stream_of: Some(0),
        ..Seen::default()
    };
    run(&mut a, &pcap.0, &mut seen, 1, |_, _| {});
    let m = a.memcap_stats();
    eprintln!(
        "overlap: stream {:?}, inconsistent overlaps {}, retransmitted bytes {}",
        String::from_utf8_lossy(&seen.stream),
        m.totals.inconsistent_overlaps,
        m.totals.retransmitted_bytes
    );
    assert_eq!(seen.stream, b"GET /evil HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(seen.http.len(), 1);
    assert_eq!(seen.http[0].request.as_ref().unwrap().uri, "/evil");
    assert_eq!(m.totals.inconsistent_overlaps, 1);
    assert_eq!(m.totals.retransmitted_bytes, 5);
}

/// HTTP through the analyzer: 2 MiB of headers (limit 64 KiB), an endless
/// chunked body (8 MiB, never terminated), and a chunk-size line longer
/// than any number. Each is reported once, and memory stays flat while
/// the bytes keep coming.
#[test]
fn http_huge_headers_and_endless_chunked_bodies_stay_bounded() {
    let _g = serial();
    let mut pcap = Pcap::new();
    let server = ep(0, 1, 80);
    let mut ts = 0;
    // 1: endless headers.
    let mut h = Conn::open(&mut pcap, ts, ep(3, 1, 40000), server);
    h.client(&mut pcap, 10, b"GET / HTTP/1.1\r\n");
    let line =
        b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(20);
    for _ in 0..(2 * MIB / line.len()) {
        ts += 10;
        h.client(&mut pcap, ts, &line);
    }
    // 2: an endless chunked response body.
    let mut b = Conn::open(&mut pcap, ts, ep(3, 2, 40000), server);
    b.client(&mut pcap, ts + 3, b"GET /stream HTTP/1.1\r\n\r\n");
    b.server(
        &mut pcap,
        ts + 4,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    let mut chunk = b"400\r\n".to_vec();
    chunk.extend_from_slice(&[b'z'; 0x400]);
    chunk.extend_from_slice(b"\r\n");
    let body_packets = 8 * MIB / chunk.len();
    for _ in 0..body_packets {
        ts += 10;
        b.server(&mut pcap, ts, &chunk);
    }
    // 3: a chunk-size line of 10 000 hex digits.
    let mut l = Conn::open(&mut pcap, ts, ep(3, 3, 40000), server);
    l.client(&mut pcap, ts + 3, b"GET /x HTTP/1.1\r\n\r\n");
    l.server(
        &mut pcap,
        ts + 4,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    for _ in 0..10 {
        ts += 10;
        l.server(&mut pcap, ts, &[b'f'; 1000]);
    }
    l.server(&mut pcap, ts + 1, b"\r\n");
    let mut a = Analyzer::new(AnalyzeOptions::default());
    let mut seen = Seen::default();
    let total = 3 * 3 + 1 + 2 * MIB / line.len() + 2 + body_packets + 2 + 11;
    let (mut base, mut mid) = (0, 0);
    run(&mut a, &pcap.0, &mut seen, 256, |n, _| {
        // Heap use while the endless body streams: a quarter in, and at
        // its end.
        if n == total - 13 - body_packets * 3 / 4 {
            base = reset_peak();
        }
        if n == total - 13 {
            mid = peak() - base;
        }
    });
    eprintln!(
        "http: anomalies {:?}, transactions {}, heap peak growth over 6 MiB of body {} KiB",
        seen.anomalies,
        seen.http.len(),
        mid / 1024
    );
    assert_eq!(seen.anomaly(AnomalyKind::HeaderTooLarge), 1);
    assert!(seen.anomaly(AnomalyKind::Malformed) >= 1, "chunk-size line");
    assert!(
        seen.anomaly(AnomalyKind::Incomplete) >= 1,
        "the endless body ends incomplete"
    );
    let endless = seen
        .http
        .iter()
        .find(|t| t.request.as_ref().is_some_and(|r| r.uri == "/stream"))
        .expect("the endless response's transaction");
    assert!(!endless.response.as_ref().unwrap().complete);
    assert!(mid < 512 * 1024, "heap grew {mid} bytes while streaming");
}

/// DNS names with compression loops (self, two-pointer, long chain) over
/// UDP, and a 64 KiB DNS/TCP message of chained pointers: each is a
/// `BadName`, the transactions still come out, and it takes milliseconds.
#[test]
fn dns_compression_pointer_loops_are_errors_not_hangs() {
    let _g = serial();
    let mut pcap = Pcap::new();
    let s = ep(0, 53, 53);
    let hdr = |id: u16, qd: u16, an: u16| {
        let mut m = id.to_be_bytes().to_vec();
        m.extend_from_slice(&[0x81, 0x80]);
        for n in [qd, an, 0, 0] {
            m.extend_from_slice(&n.to_be_bytes());
        }
        m
    };
    // Self loop: the question name is a pointer to itself.
    let mut m1 = hdr(1, 1, 0);
    m1.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    // Two-pointer loop: the question points to 18, 18 to 20, 20 to 18.
    let mut m2 = hdr(2, 1, 0);
    m2.extend_from_slice(&[0xc0, 18, 0, 1, 0, 1, 0xc0, 20, 0xc0, 18]);
    // 200 "abc" labels chained by pointers, each to the one before: no
    // loop, but 801 bytes once expanded (the limit is 255).
    let mut m3 = hdr(3, 1, 0);
    m3.extend_from_slice(&[0xc0, 0, 0, 1, 0, 1]);
    let mut prev: Option<u16> = None;
    for _ in 0..200 {
        let at = m3.len() as u16;
        m3.extend_from_slice(&[3, b'a', b'b', b'c']);
        match prev {
            Some(p) => m3.extend_from_slice(&(0xc000 | p).to_be_bytes()),
            None => m3.push(0),
        }
        prev = Some(at);
    }
    m3[12..14].copy_from_slice(&(0xc000 | prev.unwrap()).to_be_bytes());
    for (i, m) in [&m1, &m2, &m3].iter().enumerate() {
        let c = ep(4, 1, 40000 + i as u16);
        let mut q = hdr(m[1] as u16, 1, 0);
        q[2] = 1; // a query, RD
        q[3] = 0;
        q.extend_from_slice(&[1, b'a', 0, 0, 1, 0, 1]);
        pcap.push(i as u64 * 10, &udp(c, s, &q));
        pcap.push(i as u64 * 10 + 1, &udp(s, c, m));
    }
    // DNS over TCP: one 64 KiB response of 6 000 answers whose names are
    // pointers into a 2-label loop: every record fails fast.
    let mut t = Conn::open(&mut pcap, 100, ep(4, 2, 40000), s);
    let mut q = hdr(9, 1, 0);
    q[2] = 1; // a query
    q[3] = 0;
    q.extend_from_slice(&[1, b'a', 0, 0, 1, 0, 1]);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    t.client(&mut pcap, 200, &framed);
    let mut big = hdr(9, 1, 6000);
    // 12: "a" → pointer to 16: "b" → pointer to 12 → …
    big.extend_from_slice(&[1, b'a', 0xc0, 16, 1, b'b', 0xc0, 12]);
    while big.len() + 12 <= 65535 - 2 {
        big.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0]);
    }
    let mut framed = (big.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&big);
    for (i, part) in framed.chunks(1400).enumerate() {
        t.server(&mut pcap, 300 + i as u64, part);
    }
    t.close(&mut pcap, 10_000);
    let mut a = Analyzer::new(AnalyzeOptions::default());
    let mut seen = Seen::default();
    let t0 = Instant::now();
    run(&mut a, &pcap.0, &mut seen, 1, |_, _| {});
    let took = t0.elapsed();
    eprintln!(
        "dns loops: {took:?}, anomalies {:?}, transactions {}, errors {:?}",
        seen.anomalies,
        seen.dns.len(),
        seen.dns
            .iter()
            .map(|t| t.response.as_ref().and_then(|r| r.error))
            .collect::<Vec<_>>()
    );
    assert!(took.as_secs() < 5, "took {took:?}");
    assert_eq!(
        seen.anomaly(AnomalyKind::BadName),
        4,
        "{:?}",
        seen.anomalies
    );
    // A response whose question cannot be read pairs with no query: each
    // comes out alone, the response with its error.
    let bad = seen
        .dns
        .iter()
        .filter_map(|t| t.response.as_ref())
        .filter(|r| r.error == Some(AnomalyKind::BadName))
        .count();
    assert_eq!(bad, 4);
    assert_eq!(seen.dns.iter().filter(|t| t.query.is_some()).count(), 4);
}

/// TLS records whose lengths lie: a record longer than TLS allows, a
/// handshake message claiming 16 MiB streamed over 2 MiB of records, and a
/// record cut by the end of the connection. Each is reported; the
/// handshake buffer stays at its limit.
#[test]
fn tls_records_with_lying_lengths() {
    let _g = serial();
    let mut pcap = Pcap::new();
    let server = ep(0, 1, 443);
    // 1: a record header claiming 0x48ff bytes (over 2^14 + 2048, but
    // its first length byte still passes detection).
    let mut c1 = Conn::open(&mut pcap, 0, ep(5, 1, 40000), server);
    let mut r = vec![22, 3, 1, 0x48, 0xff];
    r.extend_from_slice(&[1; 100]);
    c1.client(&mut pcap, 10, &r);
    c1.close(&mut pcap, 20);
    // 2: a ClientHello claiming 0xffffff bytes, then 2 MiB of handshake
    // records to feed it.
    let mut c2 = Conn::open(&mut pcap, 100, ep(5, 2, 40000), server);
    let mut first = vec![22, 3, 1, 0x40, 0x00, 1, 0xff, 0xff, 0xff];
    first.extend_from_slice(&[0; 0x4000 - 4]);
    c2.client(&mut pcap, 110, &first);
    let mut rec = vec![22, 3, 1, 0x40, 0x00];
    rec.extend_from_slice(&[0x41; 0x4000]);
    let mut ts = 120;
    for _ in 0..(2 * MIB / rec.len()) {
        ts += 1;
        for part in rec.chunks(1400) {
            c2.client(&mut pcap, ts, part);
        }
    }
    c2.close(&mut pcap, ts + 10);
    // 3: a record claiming 1000 bytes, the connection ends after 10.
    let mut c3 = Conn::open(&mut pcap, ts + 100, ep(5, 3, 40000), server);
    c3.client(
        &mut pcap,
        ts + 110,
        &[22, 3, 1, 0x03, 0xe8, 1, 0, 0, 0xe4, 3],
    );
    c3.close(&mut pcap, ts + 120);
    let mut a = Analyzer::new(AnalyzeOptions::default());
    let mut seen = Seen::default();
    let base = reset_peak();
    run(&mut a, &pcap.0, &mut seen, 64, |_, _| {});
    let growth = peak() - base;
    eprintln!(
        "tls: anomalies {:?}, detected {:?}, heap peak growth {} KiB (max_handshake 64 KiB)",
        seen.anomalies,
        a.stats().detected,
        growth / 1024
    );
    assert_eq!(a.stats().detected[2], 3, "all three are TLS");
    assert!(seen.anomaly(AnomalyKind::Malformed) >= 1, "record too long");
    assert_eq!(seen.anomaly(AnomalyKind::HandshakeTooLarge), 1);
    assert!(seen.anomaly(AnomalyKind::Incomplete) >= 1, "cut record");
    // The capture was allocated before; what grows is at most a few
    // handshake buffers and the in-flight events.
    assert!(growth < 2 * MIB, "heap grew {growth} bytes");
}

/// First fragments that are never completed: 3 000 of 8 KiB (24 MiB, over
/// the 16 MiB buffer limit), then 6 000 small ones (over the 4 096
/// datagram limit), then a packet 31 s later that times out all buffered,
/// then 10 left for the end. The limits hold, and every datagram given up
/// on is counted.
#[test]
fn ip_fragments_that_never_complete_stay_within_the_defrag_limits() {
    let _g = serial();
    let mut pcap = Pcap::new();
    let dst = [10, 0, 0, 1];
    let mut ts = 0u64;
    let mut n = 0u64;
    let mut frag = |pcap: &mut Pcap, ts: u64, i: u32, len: usize| {
        let src = [192, 168, (i >> 8) as u8, i as u8];
        // MF set, offset 0: a first fragment whose rest never comes.
        pcap.push(
            ts,
            &ipv4(src, dst, 17, (i >> 16) as u16 + 7, 0x2000, &vec![0x55; len]),
        );
        n += 1;
    };
    for i in 0..3000 {
        ts += 1000;
        frag(&mut pcap, ts, i, 8192);
    }
    for i in 0..6000 {
        ts += 1000;
        frag(&mut pcap, ts, 100_000 + i, 64);
    }
    // A packet that is no fragment 31 s later: every datagram still
    // buffered times out (the tracker moves the defragmenter's clock with
    // every packet). Then 10 more, left for the end of input.
    let late = ts + 31_000_000_000;
    pcap.push(late, &udp(ep(6, 1, 1000), ep(0, 1, 2000), b"late"));
    for i in 0..10 {
        frag(&mut pcap, late + 1 + i as u64, 200_000 + i, 64);
    }
    let total = n;
    let mut a = Analyzer::new(AnalyzeOptions::default());
    let mut seen = Seen::default();
    let base = reset_peak();
    let rss0 = rss();
    run(&mut a, &pcap.0, &mut seen, 1024, |_, _| {});
    let growth = peak() - base;
    let d = a.tracker().defrag_stats().unwrap();
    let lim = flowtap_core::defrag::DefragOptions::default();
    eprintln!(
        "defrag: {total} fragments: peak {} datagrams (max {}), peak {:.2} MiB (max {} MiB), \
         evicted memory {} datagram {}, timeouts {}, flushed {}, heap peak growth {:.2} MiB, \
         RSS growth {:.2} MiB",
        d.peak_datagrams,
        lim.max_datagrams,
        mib(d.peak_bytes as usize),
        lim.max_bytes >> 20,
        d.evicted_memory_limit,
        d.evicted_datagram_limit,
        d.timeouts,
        d.flushed,
        mib(growth),
        mib(rss().saturating_sub(rss0))
    );
    assert_eq!(d.fragments, total);
    assert_eq!(d.fragments_buffered, total);
    assert!(d.peak_datagrams <= lim.max_datagrams as u64);
    assert!(d.peak_bytes <= lim.max_bytes as u64);
    assert!(d.evicted_memory_limit > 0 && d.evicted_datagram_limit > 0);
    assert_eq!(d.timeouts, lim.max_datagrams as u64, "the table was full");
    assert_eq!(d.flushed, 10);
    assert_eq!(d.datagrams_reassembled, 0);
    assert_eq!(
        d.evicted_memory_limit + d.evicted_datagram_limit + d.timeouts + d.flushed,
        total,
        "every datagram is accounted for"
    );
    let st = a.tracker().stats();
    assert_eq!(st.fragments, total);
    assert_eq!(st.flows, 1, "only the late UDP packet made a flow");
    // Buffer limit plus bookkeeping (~64 B a fragment, ~150 B a datagram).
    assert!(growth < lim.max_bytes + 4 * MIB, "heap grew {growth} bytes");
}

/// pcapng blocks whose lengths are absurd: each is a typed error at the
/// block's offset, and no length is believed beyond `max_block_len`.
#[test]
fn pcapng_blocks_with_absurd_lengths_are_typed_errors() {
    let _g = serial();
    let block = |ty: u32, len: u32, body: &[u8]| {
        let mut b = ty.to_le_bytes().to_vec();
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(body);
        b
    };
    let shb_body = {
        let mut b = 0x1a2b_3c4du32.to_le_bytes().to_vec();
        b.extend_from_slice(&[1, 0, 0, 0]);
        b.extend_from_slice(&(-1i64).to_le_bytes());
        b
    };
    let shb = {
        let mut b = block(0x0a0d_0d0a, 28, &shb_body);
        b.extend_from_slice(&28u32.to_le_bytes());
        b
    };
    let idb = {
        let mut b = block(1, 20, &[101, 0, 0, 0, 0, 0, 4, 0]);
        b.extend_from_slice(&20u32.to_le_bytes());
        b
    };
    let epb_head = |len: u32, caplen: u32| {
        let mut body = vec![0; 12];
        body.extend_from_slice(&caplen.to_le_bytes());
        body.extend_from_slice(&caplen.to_le_bytes());
        block(6, len, &body)
    };
    let with = |tail: Vec<u8>| [shb.clone(), idb.clone(), tail].concat();
    let cases: Vec<(&str, Vec<u8>, ErrorCode)> = vec![
        (
            "SHB of 4 GiB",
            [block(0x0a0d_0d0a, 0xffff_fff0, &shb_body), vec![0; 64]].concat(),
            ErrorCode::CaptureFormat,
        ),
        (
            "EPB of 4 GiB",
            with(epb_head(0xffff_fffc, 64)),
            ErrorCode::LimitExceeded,
        ),
        (
            "EPB of 16 MiB + 4",
            with(epb_head((16 << 20) + 4, 64)),
            ErrorCode::LimitExceeded,
        ),
        (
            "EPB of 15 MiB, 100 bytes there",
            with([epb_head(15 << 20, 64), vec![0; 100]].concat()),
            ErrorCode::CaptureTruncated,
        ),
        (
            "EPB caplen of 4 GiB in a 64-byte block",
            with([epb_head(64, 0xffff_ffff), vec![0; 40]].concat()),
            ErrorCode::CaptureFormat,
        ),
        (
            "block length 8",
            with(epb_head(8, 0)),
            ErrorCode::CaptureFormat,
        ),
        (
            "block length 13",
            with(epb_head(13, 0)),
            ErrorCode::CaptureFormat,
        ),
        (
            "IDB of 4 GiB",
            [shb.clone(), block(1, 0xffff_fff0, &[101, 0, 0, 0])].concat(),
            ErrorCode::LimitExceeded,
        ),
    ];
    let rss0 = rss();
    for (name, bytes, code) in &cases {
        let base = reset_peak();
        let mut r = match CaptureReader::new(&bytes[..], ReaderOptions::default()) {
            Ok(r) => r,
            Err(e) => {
                assert_eq!(e.code(), *code, "{name}: {e}");
                continue;
            }
        };
        let mut err: Option<Error> = None;
        loop {
            match r.next_frame() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        let growth = peak() - base;
        let e = err.unwrap_or_else(|| panic!("{name}: no error"));
        eprintln!(
            "pcapng {name}: {} (heap peak growth {} KiB)",
            e,
            growth / 1024
        );
        assert_eq!(e.code(), *code, "{name}: {e}");
        assert!(e.offset().is_some(), "{name}: no offset");
        // The reader's own buffer is 1 MiB. It grows to hold a block whose
        // length it believes before that block's bytes arrive (pcap-parser
        // grows its buffer to the length), so a lying length under the
        // limit costs up to `max_block_len` (16 MiB); above it, nothing.
        let bound = if name.contains("15 MiB") {
            17 * MIB
        } else {
            2 * MIB
        };
        assert!(growth <= bound, "{name}: heap grew {growth} bytes");
    }
    let rss_growth = rss().saturating_sub(rss0);
    eprintln!(
        "pcapng absurd lengths: RSS growth {:.2} MiB",
        mib(rss_growth)
    );
    assert!(rss_growth < 24 * MIB);
}
