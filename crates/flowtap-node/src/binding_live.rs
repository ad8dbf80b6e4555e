//! `BindingLive`: a live capture on a Linux interface (AF_PACKET TPACKET_V3
//! rings from `flowtap_capture::ring`), read by worker threads and handed to
//! JavaScript one batch per `nextBatch()`, like a capture file.
//!
//! Workers: one per ring; with `workers > 1` the rings form a PACKET_FANOUT
//! group and each worker owns its ring, its decoder state and (in flow or
//! session mode) its own analyzer, with a disjoint range of flow numbers so
//! uids stay unique. In flow and session mode frames are decoded straight
//! from the ring, with no copy; packet mode copies each frame once, into
//! its batch.
//!
//! Bounds and backpressure: the channel to JavaScript holds at most
//! [`QUEUE_PER_WORKER`] messages per worker. A worker that cannot send
//! waits, its ring block still held, so the kernel fills the ring's other
//! blocks and then drops packets, counting them (`kernelDrops`): memory in
//! flowtap stays bounded whatever the consumer does.
//!
//! Lifecycle: nothing opens before the first `nextBatch()`, and every ring
//! is opened (so every error reported) before a worker starts. `nextBatch()`
//! returns an idle result after `pollMs` without packets, so JavaScript can
//! act on a quiet link (abort, stats). `stop()` lets the workers end their
//! flows and drain; `close()` and garbage collection stop them at once and
//! join them before returning.

use std::fs::File;
use std::io::BufWriter;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use flowtap_capture::ring::{Fanout, FanoutMode, Ring, RingConfig, StatsReader, Waker};
use flowtap_capture::CaptureError;
use flowtap_core::analyze::{AnalyzeOptions, Analyzer};
use flowtap_core::batch::PacketBatch;
use flowtap_core::capture::writer::PcapngWriter;
use flowtap_core::capture::Frame;
use flowtap_core::decode::decode;
use flowtap_core::source::{SourceOptions, SourceStats};
use flowtap_core::LinkType;
use napi::bindgen_prelude::AsyncTask;
use napi::{Env, ScopedTask};
use napi_derive::napi;

use crate::binding_error::BindingError;
use crate::binding_flows::{BindingAnalyzeOptions, BindingFlowOptions};
use crate::binding_plugins::Releases;
use crate::binding_pool;
use crate::binding_sessions::BindingEvents;
use crate::binding_types::{
    BindingAnalysisStats, BindingBatch, BindingBatchResult, BindingLiveCounters,
    BindingOpenOptions, BindingStats, BindingWorkerStats,
};

/// Messages waiting for JavaScript, per worker.
pub const QUEUE_PER_WORKER: usize = 2;
/// How long a worker waits for a ring block before looking at its flags.
const RING_POLL: Duration = Duration::from_millis(20);
/// A partly filled batch (or pending events) leaves after this long.
const FLUSH_AFTER: Duration = Duration::from_millis(25);
/// Events that make a step worth sending at once.
const EVENTS_PER_STEP: usize = 4096;
/// Flows ended per message when a stopped worker drains.
const FINISH_STEP: usize = 16_384;
/// Ring statistics are read (and published) at most this often.
const STATS_EVERY: Duration = Duration::from_millis(100);

/// Live capture options (see `capture()` in TypeScript for the defaults).
#[napi(object)]
#[derive(Default, Clone)]
pub struct BindingLiveOptions {
    /// Bytes kept per packet, 1..=262144. @default 262144
    pub snaplen: Option<u32>,
    pub promiscuous: Option<bool>,
    /// Ring block size in bytes (a multiple of 4096). @default 1 MiB
    pub block_size: Option<u32>,
    /// Blocks per ring. @default 32
    pub block_count: Option<u32>,
    /// Frame size hint (a multiple of 16). @default 2048
    pub frame_size: Option<u32>,
    /// A block is handed over after this long even if not full. @default 50
    pub block_timeout_ms: Option<u32>,
    /// Rings and worker threads (a fanout group when more than one). @default 1
    pub workers: Option<u32>,
    /// "hash" (default), "cpu" or "lb".
    pub fanout_mode: Option<String>,
    /// Drop the second copy of each packet on loopback. @default true
    pub dedup_loopback: Option<bool>,
    /// Write every captured packet to this pcapng file.
    pub record: Option<String>,
    /// `nextBatch()` resolves idle after this long without data. @default 100
    pub poll_ms: Option<u32>,
}

struct Config {
    iface: String,
    ring: RingConfig,
    workers: u32,
    fanout: FanoutMode,
    record: Option<String>,
    poll: Duration,
    source: SourceOptions,
    analyze: Option<AnalyzeOptions>,
    flow_events: bool,
}

impl Config {
    fn new(
        iface: String,
        live: BindingLiveOptions,
        options: Option<BindingOpenOptions>,
        flows: Option<BindingFlowOptions>,
        analyze: Option<BindingAnalyzeOptions>,
    ) -> Result<Self, BindingError> {
        let bad = BindingError::invalid_arg;
        let d = RingConfig::default();
        let snaplen = live.snaplen.unwrap_or(d.snaplen);
        if !(1..=flowtap_capture::ring::MAX_SNAPLEN).contains(&snaplen) {
            return Err(bad(format!("snaplen must be 1..=262144, got {snaplen}")));
        }
        let block_size = live.block_size.unwrap_or(d.block_size);
        if block_size == 0 || !block_size.is_multiple_of(4096) || block_size > 1 << 30 {
            return Err(bad(format!(
                "blockSize must be a multiple of 4096 up to 1 GiB, got {block_size}"
            )));
        }
        let block_count = live.block_count.unwrap_or(d.block_count);
        if !(1..=65_536).contains(&block_count) {
            return Err(bad(format!(
                "blockCount must be 1..=65536, got {block_count}"
            )));
        }
        let frame_size = live.frame_size.unwrap_or(d.frame_size);
        if frame_size < 64 || !frame_size.is_multiple_of(16) || frame_size > block_size {
            return Err(bad(format!(
                "frameSize must be a multiple of 16, at least 64 and at most blockSize, got {frame_size}"
            )));
        }
        let block_timeout_ms = live.block_timeout_ms.unwrap_or(d.block_timeout_ms);
        if !(1..=60_000).contains(&block_timeout_ms) {
            return Err(bad(format!(
                "blockTimeoutMs must be 1..=60000, got {block_timeout_ms}"
            )));
        }
        let workers = live.workers.unwrap_or(1);
        if !(1..=64).contains(&workers) {
            return Err(bad(format!("workers must be 1..=64, got {workers}")));
        }
        let fanout = match live.fanout_mode.as_deref().unwrap_or("hash") {
            "hash" => FanoutMode::Hash,
            "cpu" => FanoutMode::Cpu,
            "lb" => FanoutMode::LoadBalance,
            m => return Err(bad(format!("fanout mode must be hash, cpu or lb, got {m}"))),
        };
        let poll_ms = live.poll_ms.unwrap_or(100);
        if !(1..=60_000).contains(&poll_ms) {
            return Err(bad(format!("pollMs must be 1..=60000, got {poll_ms}")));
        }
        let mut options = options.unwrap_or_default();
        let filter = options.filter.take().filter(|f| !f.trim().is_empty());
        let mut source = options.to_core()?;
        let flows = match (flows, &analyze) {
            (None, Some(_)) => Some(BindingFlowOptions::default()),
            (f, _) => f,
        };
        let analyze_opts = match flows {
            None => None,
            Some(f) => {
                let f = f.to_core()?;
                source.keep_bytes = false;
                Some(match &analyze {
                    None => AnalyzeOptions::flows_only(f),
                    Some(a) => a.to_core(f)?,
                })
            }
        };
        Ok(Config {
            iface,
            ring: RingConfig {
                block_size,
                block_count,
                frame_size,
                block_timeout_ms,
                snaplen,
                promiscuous: live.promiscuous.unwrap_or(false),
                filter,
                dedup_loopback: live.dedup_loopback.unwrap_or(true),
            },
            workers,
            fanout,
            record: live.record,
            poll: Duration::from_millis(u64::from(poll_ms)),
            source,
            analyze: analyze_opts,
            flow_events: analyze.and_then(|a| a.flow_events).unwrap_or(true),
        })
    }
}

fn capture_error(iface: &str, e: &CaptureError) -> BindingError {
    BindingError {
        code: e.code().to_string(),
        message: format!("{iface}: {e}"),
        offset: None,
    }
}

/// What a worker sends.
enum Msg {
    Batch(PacketBatch, u32),
    Events(Box<BindingEvents>, u32),
    Failed(BindingError),
    /// The worker drained after `stop()` and ended.
    Done,
}

/// Counters a worker publishes for `stats()`.
#[derive(Default, Clone)]
struct WorkerTotals {
    source: SourceStats,
    packets: u64,
    analysis: Option<BindingAnalysisStats>,
}

/// Where captured frames are recorded; shared by the workers.
type Recorder = Arc<Mutex<PcapngWriter<BufWriter<File>>>>;

struct Worker {
    id: u32,
    ring: Ring,
    link_type: LinkType,
    tx: SyncSender<Msg>,
    stop: Arc<AtomicBool>,
    drain: Arc<AtomicBool>,
    waker: Arc<Waker>,
    totals: Arc<Mutex<WorkerTotals>>,
    recorder: Option<Recorder>,
    source: SourceOptions,
    analyzer: Option<Box<Analyzer>>,
    releases: Arc<Releases>,
    flow_events: bool,
    stats: SourceStats,
    batch: Option<PacketBatch>,
    packets: u64,
    /// When the oldest unsent packet or event arrived.
    pending_since: Option<Instant>,
    /// Scratch for a frame whose VLAN tag the kernel took out.
    vlan_frame: Vec<u8>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Worker {
    fn run(mut self) {
        let result = catch_unwind(AssertUnwindSafe(|| self.capture()));
        let msg = match result {
            Ok(Ok(())) => Msg::Done,
            Ok(Err(e)) => Msg::Failed(e),
            Err(_) => Msg::Failed(BindingError::internal("panic in a capture worker")),
        };
        self.publish();
        let _ = self.tx.send(msg);
    }

    /// Reads the ring until stopped; Ok after a drain, Err on a failure.
    /// Returns early (Ok) when JavaScript has gone (a send fails).
    fn capture(&mut self) -> Result<(), BindingError> {
        BindingError::inject_panic("worker");
        let mut last_stats = Instant::now();
        while !self.stop.load(Ordering::Acquire) {
            if self.drain.load(Ordering::Acquire) {
                // What the kernel already put in the ring was captured: read
                // it (the block being filled retires within the block
                // timeout) before the flows end. Not woken by the waker,
                // which `stop()` left readable; `close()` still ends this
                // within one block timeout.
                let wait =
                    Duration::from_millis(u64::from(self.ring.config().block_timeout_ms) + 10);
                while !self.stop.load(Ordering::Acquire) && self.read_block(wait, false)? {
                    if !self.ship(false)? {
                        return Ok(());
                    }
                }
                return self.finish();
            }
            let got = self.read_block(RING_POLL, true)?;
            if !got {
                if let Some(a) = self.analyzer.as_mut() {
                    // A quiet link still ends idle flows, by the clock.
                    a.expire(wall_ns());
                }
            }
            if !self.ship(!got)? {
                return Ok(());
            }
            if last_stats.elapsed() >= STATS_EVERY {
                self.publish();
                last_stats = Instant::now();
            }
        }
        Ok(())
    }

    /// Handles one ring block, if one arrives within `wait` (or, with
    /// `wakeable`, until the waker is woken).
    fn read_block(&mut self, wait: Duration, wakeable: bool) -> Result<bool, BindingError> {
        let link_type = self.link_type;
        let Worker {
            ring,
            waker,
            recorder,
            vlan_frame,
            analyzer,
            batch,
            stats,
            source,
            tx,
            id,
            packets,
            pending_since,
            ..
        } = self;
        if let Some(a) = analyzer.as_mut() {
            self.releases.apply(*id as usize, a);
        }
        let block = match ring.next_block_or_wake(wait, wakeable.then_some(&**waker)) {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(false),
            Err(e) => return Err(capture_error("ring", &e)),
        };
        let mut rec = recorder.as_ref().map(|r| lock(r));
        for f in block.frames() {
            let data = match f.vlan {
                Some((tci, tpid)) if link_type == LinkType::ETHERNET && f.data.len() >= 12 => {
                    vlan_frame.clear();
                    vlan_frame.extend_from_slice(&f.data[..12]);
                    vlan_frame.extend_from_slice(&tpid.to_be_bytes());
                    vlan_frame.extend_from_slice(&tci.to_be_bytes());
                    vlan_frame.extend_from_slice(&f.data[12..]);
                    &vlan_frame[..]
                }
                _ => f.data,
            };
            let origlen = if f.vlan.is_some() && data.len() != f.data.len() {
                f.origlen + 4
            } else {
                f.origlen
            };
            let frame = Frame {
                ts_ns: f.ts_ns,
                origlen,
                interface: 0,
                link_type,
                offset: 0,
                data,
            };
            if let Some(w) = rec.as_mut() {
                w.write_packet(0, frame.ts_ns, frame.data, frame.origlen)
                    .map_err(|e| BindingError::io("record", &e))?;
            }
            *packets += 1;
            pending_since.get_or_insert_with(Instant::now);
            match analyzer.as_mut() {
                Some(a) => {
                    let info = decode(frame.link_type, frame.data, frame.origlen);
                    stats.record(&frame, &info);
                    a.on_packet(&frame, &info);
                }
                None => {
                    let b = batch.get_or_insert_with(|| {
                        PacketBatch::with_storage(
                            source.batch_packets,
                            source.batch_bytes,
                            binding_pool::take(),
                        )
                    });
                    if !b.fits(frame.data.len()) {
                        let mut full = batch.take().expect("just inserted");
                        full.decode_rows(stats, source.keep_bytes);
                        // Sent with the block still held: backpressure.
                        if tx.send(Msg::Batch(full, *id)).is_err() {
                            return Ok(true);
                        }
                        *pending_since = Some(Instant::now());
                        let b = batch.insert(PacketBatch::with_storage(
                            source.batch_packets,
                            source.batch_bytes,
                            binding_pool::take(),
                        ));
                        b.push_frame(&frame);
                    } else {
                        b.push_frame(&frame);
                    }
                }
            }
        }
        drop(rec);
        Ok(true)
    }

    /// Sends what is due. Returns false when JavaScript has gone.
    fn ship(&mut self, idle: bool) -> Result<bool, BindingError> {
        let due =
            |since: Option<Instant>| since.is_some_and(|t| idle || t.elapsed() >= FLUSH_AFTER);
        match self.analyzer.as_mut() {
            Some(a) => {
                let n = a.pending_events();
                if n > 0 && (n >= EVENTS_PER_STEP || due(self.pending_since)) {
                    let (events, arena) = a.take_events_into(binding_pool::take_bytes());
                    let ev = Box::new(BindingEvents::new(events, arena, self.flow_events));
                    self.pending_since = None;
                    self.publish();
                    return Ok(self.tx.send(Msg::Events(ev, self.id)).is_ok());
                }
                if n == 0 {
                    self.pending_since = None;
                }
            }
            None => {
                let full = self.batch.as_ref().is_some_and(|b| b.is_full());
                if self.batch.as_ref().is_some_and(|b| !b.is_empty())
                    && (full || due(self.pending_since))
                {
                    let mut b = self.batch.take().expect("checked");
                    b.decode_rows(&mut self.stats, self.source.keep_bytes);
                    self.pending_since = None;
                    self.publish();
                    return Ok(self.tx.send(Msg::Batch(b, self.id)).is_ok());
                }
            }
        }
        Ok(true)
    }

    /// After `stop()`: sends what is pending and ends every flow.
    fn finish(&mut self) -> Result<(), BindingError> {
        if let Some(mut b) = self.batch.take() {
            if !b.is_empty() {
                b.decode_rows(&mut self.stats, self.source.keep_bytes);
                if self.tx.send(Msg::Batch(b, self.id)).is_err() {
                    return Ok(());
                }
            }
        }
        while let Some(a) = self.analyzer.as_mut() {
            let done = a.finish_some(FINISH_STEP);
            let (events, arena) = a.take_events_into(binding_pool::take_bytes());
            let ev = Box::new(BindingEvents::new(events, arena, self.flow_events));
            self.publish();
            if self.tx.send(Msg::Events(ev, self.id)).is_err() || done {
                break;
            }
        }
        if let Some(r) = &self.recorder {
            lock(r)
                .flush()
                .map_err(|e| BindingError::io("record", &e))?;
        }
        Ok(())
    }

    fn publish(&mut self) {
        let mut t = lock(&self.totals);
        t.source.clone_from(&self.stats);
        t.packets = self.packets;
        t.analysis = self.analyzer.as_deref().map(BindingAnalysisStats::of);
    }
}

/// An open capture: its workers and the channel they fill.
struct Pipeline {
    /// Its own lock: `nextBatch()` waits on it without holding the state's,
    /// so `close()` never waits for a poll interval.
    rx: Arc<Mutex<Receiver<Msg>>>,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    threads: Vec<JoinHandle<()>>,
    running: usize,
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.waker.wake();
        for t in self.threads.drain(..) {
            // A worker blocked on a full channel needs a message taken to
            // see the flag; a `nextBatch()` in flight may hold the receiver,
            // and then it is the one taking messages.
            while !t.is_finished() {
                if let Ok(rx) = self.rx.try_lock() {
                    while rx.try_recv().is_ok() {}
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            let _ = t.join();
        }
        binding_pool::closed();
    }
}

enum State {
    Pending(Box<Config>),
    Open(Pipeline),
    Ended,
}

struct Shared {
    state: State,
    invalid: Option<BindingError>,
    poll: Duration,
}

/// Set from JavaScript at any time, read by the workers.
#[derive(Default)]
struct Flags {
    stop: Arc<AtomicBool>,
    drain: Arc<AtomicBool>,
    /// Wakes workers waiting for a ring block (set while open).
    waker: Mutex<Option<Arc<Waker>>>,
    /// Plugin flows JavaScript gave back.
    releases: Arc<Releases>,
}

impl Flags {
    fn wake(&self) {
        if let Some(w) = lock(&self.waker).as_ref() {
            w.wake();
        }
    }
}

#[derive(Default)]
struct LiveTotals {
    workers: Vec<Arc<Mutex<WorkerTotals>>>,
    /// Ring counters, read from the JS thread even while a worker is
    /// blocked (backpressure is when drops happen).
    rings: Vec<StatsReader>,
    link_type: u16,
}

/// A live capture on one interface, read in batches off the JS thread.
#[napi]
pub struct BindingLive {
    shared: Arc<Mutex<Shared>>,
    flags: Arc<Flags>,
    totals: Arc<Mutex<LiveTotals>>,
}

#[napi]
impl BindingLive {
    /// A capture on `iface`, opened by the first `nextBatch()`. `flows` and
    /// `analyze` select flow or session mode as for files.
    #[napi(factory)]
    pub fn open(
        iface: String,
        live: Option<BindingLiveOptions>,
        options: Option<BindingOpenOptions>,
        flows: Option<BindingFlowOptions>,
        analyze: Option<BindingAnalyzeOptions>,
    ) -> Self {
        let (state, invalid, poll) =
            match Config::new(iface, live.unwrap_or_default(), options, flows, analyze) {
                Ok(c) => {
                    let poll = c.poll;
                    (State::Pending(Box::new(c)), None, poll)
                }
                Err(e) => (State::Ended, Some(e), Duration::from_millis(100)),
            };
        BindingLive {
            shared: Arc::new(Mutex::new(Shared {
                state,
                invalid,
                poll,
            })),
            flags: Arc::new(Flags::default()),
            totals: Arc::new(Mutex::new(LiveTotals::default())),
        }
    }

    /// The next batch, flow/session step, idle result or end.
    #[napi(ts_return_type = "Promise<BindingBatchResult>")]
    pub fn next_batch(&self) -> AsyncTask<NextLive> {
        AsyncTask::new(NextLive {
            shared: Arc::clone(&self.shared),
            flags: Arc::clone(&self.flags),
            totals: Arc::clone(&self.totals),
        })
    }

    /// Stops capturing: the workers end their flows and send what they
    /// hold, then the iteration ends.
    #[napi]
    pub fn stop(&self) {
        self.flags.drain.store(true, Ordering::Release);
        self.flags.wake();
    }

    /// Stops at once and releases sockets, rings and threads.
    #[napi]
    pub fn close(&self) {
        self.flags.stop.store(true, Ordering::Release);
        self.flags.wake();
        let old = std::mem::replace(&mut lock(&self.shared).state, State::Ended);
        drop(old);
        // The pipeline (and its workers) are gone: release the eventfd now
        // rather than when the JS object is collected.
        lock(&self.flags.waker).take();
    }

    #[napi(getter)]
    pub fn is_open(&self) -> bool {
        !matches!(lock(&self.shared).state, State::Ended)
    }

    /// Plugin flows (by flow number) JavaScript no longer wants pieces of.
    #[napi]
    pub fn release_flows(&self, seqs: Vec<f64>) {
        self.flags.releases.push(seqs.into_iter().map(|s| s as u64));
    }

    /// Totals over all workers, and each worker's counters.
    #[napi]
    pub fn stats(&self) -> BindingStats {
        let t = lock(&self.totals);
        let mut source = SourceStats::default();
        let mut analysis: Option<BindingAnalysisStats> = None;
        let mut workers = Vec::with_capacity(t.workers.len());
        for (i, (w, r)) in t.workers.iter().zip(&t.rings).enumerate() {
            let ring = r.read().unwrap_or_default();
            let w = lock(w);
            source.merge(&w.source);
            if let Some(a) = &w.analysis {
                analysis.get_or_insert_with(Default::default).add(a);
            }
            workers.push(BindingWorkerStats {
                worker: i as u32,
                received: ring.packets as f64,
                kernel_drops: ring.drops as f64,
                freezes: ring.freeze_q_cnt as f64,
                packets: w.packets as f64,
            });
        }
        let mut stats = BindingStats::new(&source, Some("live"), 0, analysis);
        stats.live = Some(BindingLiveCounters {
            workers,
            link_type: u32::from(t.link_type),
        });
        stats
    }
}

impl Drop for BindingLive {
    fn drop(&mut self) {
        self.close();
    }
}

/// Opens every ring, then starts the workers.
fn open(cfg: Config, flags: &Flags, totals: &Mutex<LiveTotals>) -> Result<Pipeline, BindingError> {
    let fanout = (cfg.workers > 1).then(|| Fanout {
        // One group per capture: distinct in this process, which is the
        // scope the kernel checks group ids in (per network namespace).
        group: next_group(),
        mode: cfg.fanout,
    });
    let mut rings = Vec::with_capacity(cfg.workers as usize);
    for _ in 0..cfg.workers {
        rings.push(
            Ring::open(&cfg.iface, cfg.ring.clone(), fanout)
                .map_err(|e| capture_error(&cfg.iface, &e))?,
        );
    }
    let link_type = LinkType(rings[0].link_type());
    let readers: Vec<StatsReader> = rings.iter().map(Ring::stats_reader).collect();
    let recorder = match &cfg.record {
        None => None,
        Some(path) => {
            let f = File::create(path).map_err(|e| BindingError::io(path, &e))?;
            let mut w = PcapngWriter::new(BufWriter::with_capacity(1 << 20, f))
                .map_err(|e| BindingError::io(path, &e))?;
            w.add_interface(link_type, cfg.ring.snaplen)
                .map_err(|e| BindingError::io(path, &e))?;
            Some(Arc::new(Mutex::new(w)))
        }
    };
    let waker = Arc::new(Waker::new().map_err(|e| capture_error(&cfg.iface, &e))?);
    *lock(&flags.waker) = Some(Arc::clone(&waker));
    let (tx, rx) = sync_channel(QUEUE_PER_WORKER * cfg.workers as usize);
    let rx = Arc::new(Mutex::new(rx));
    let mut slots = Vec::with_capacity(rings.len());
    let mut threads = Vec::with_capacity(rings.len());
    let n = cfg.workers;
    for (id, ring) in rings.into_iter().enumerate() {
        let id = id as u32;
        let slot = Arc::new(Mutex::new(WorkerTotals::default()));
        slots.push(Arc::clone(&slot));
        let analyzer = cfg.analyze.as_ref().map(|a| {
            let mut a = a.clone();
            // Disjoint flow numbers per worker; the memcap is shared out.
            a.flows.first_seq = u64::from(id) << 40;
            a.memcap = (a.memcap / u64::from(n)).max(1);
            Box::new(Analyzer::new(a))
        });
        let worker = Worker {
            id,
            ring,
            link_type,
            tx: tx.clone(),
            stop: Arc::clone(&flags.stop),
            drain: Arc::clone(&flags.drain),
            waker: Arc::clone(&waker),
            totals: slot,
            recorder: recorder.clone(),
            source: cfg.source,
            analyzer,
            releases: Arc::clone(&flags.releases),
            flow_events: cfg.flow_events,
            stats: SourceStats::default(),
            batch: None,
            packets: 0,
            pending_since: None,
            vlan_frame: Vec::new(),
        };
        let t = std::thread::Builder::new()
            .name(format!("flowtap-live-{id}"))
            .spawn(move || worker.run());
        match t {
            Ok(t) => threads.push(t),
            Err(e) => {
                flags.stop.store(true, Ordering::Release);
                let p = Pipeline {
                    rx,
                    stop: Arc::clone(&flags.stop),
                    waker,
                    threads,
                    running: 0,
                };
                binding_pool::opened();
                drop(p);
                return Err(BindingError::io("worker thread", &e));
            }
        }
    }
    let mut t = lock(totals);
    t.workers = slots;
    t.rings = readers;
    t.link_type = link_type.0;
    drop(t);
    binding_pool::opened();
    Ok(Pipeline {
        rx,
        stop: Arc::clone(&flags.stop),
        waker,
        running: threads.len(),
        threads,
    })
}

fn next_group() -> u16 {
    use std::sync::atomic::AtomicU32;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // Mix in the pid so two processes in one namespace rarely meet.
    ((std::process::id().wrapping_mul(2_654_435_761) >> 16).wrapping_add(n) & 0xffff) as u16
}

/// What a `nextBatch()` computed on the pool thread.
pub enum LiveOutcome {
    Batch(PacketBatch, u32),
    Events(Box<BindingEvents>, u32),
    Idle,
    /// The rings are open and the workers running.
    Opened,
    Error(BindingError),
    Done,
}

pub struct NextLive {
    shared: Arc<Mutex<Shared>>,
    flags: Arc<Flags>,
    totals: Arc<Mutex<LiveTotals>>,
}

fn step(shared: &Mutex<Shared>, flags: &Flags, totals: &Mutex<LiveTotals>) -> LiveOutcome {
    let mut s = lock(shared);
    if let Some(e) = s.invalid.take() {
        return LiveOutcome::Error(e);
    }
    if let State::Pending(_) = s.state {
        let State::Pending(cfg) = std::mem::replace(&mut s.state, State::Ended) else {
            unreachable!("checked above")
        };
        match open(*cfg, flags, totals) {
            // Say so at once: JavaScript may wait for the rings to be open
            // before it makes traffic.
            Ok(p) => {
                s.state = State::Open(p);
                return LiveOutcome::Opened;
            }
            Err(e) => return LiveOutcome::Error(e),
        }
    }
    let poll = s.poll;
    let State::Open(p) = &s.state else {
        return LiveOutcome::Done;
    };
    let rx = Arc::clone(&p.rx);
    drop(s);
    loop {
        let msg = lock(&rx).recv_timeout(poll);
        let mut s = lock(shared);
        let State::Open(p) = &mut s.state else {
            // Closed while waiting.
            return LiveOutcome::Done;
        };
        match msg {
            Ok(Msg::Batch(b, w)) => return LiveOutcome::Batch(b, w),
            Ok(Msg::Events(e, w)) => return LiveOutcome::Events(e, w),
            Ok(Msg::Failed(e)) => {
                // One worker failed: stop the rest and report it.
                s.state = State::Ended;
                return LiveOutcome::Error(e);
            }
            Ok(Msg::Done) => {
                p.running -= 1;
                if p.running == 0 {
                    s.state = State::Ended;
                    return LiveOutcome::Done;
                }
            }
            Err(RecvTimeoutError::Timeout) => return LiveOutcome::Idle,
            Err(RecvTimeoutError::Disconnected) => {
                s.state = State::Ended;
                return LiveOutcome::Done;
            }
        }
    }
}

impl<'task> ScopedTask<'task> for NextLive {
    type Output = LiveOutcome;
    type JsValue = BindingBatchResult<'task>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let (shared, flags, totals) = (&self.shared, &self.flags, &self.totals);
        Ok(
            catch_unwind(AssertUnwindSafe(|| step(shared, flags, totals))).unwrap_or_else(|_| {
                lock(shared).state = State::Ended;
                LiveOutcome::Error(BindingError::internal("panic in a live capture"))
            }),
        )
    }

    fn resolve(&mut self, env: &'task Env, out: LiveOutcome) -> napi::Result<Self::JsValue> {
        Ok(match out {
            LiveOutcome::Batch(b, w) => BindingBatchResult {
                batch: Some(BindingBatch::new(env, b)?),
                worker: Some(w),
                ..Default::default()
            },
            LiveOutcome::Events(events, w) => {
                let BindingEvents {
                    flows,
                    sessions,
                    streams,
                    plugins,
                } = *events;
                BindingBatchResult {
                    flows: Some(flows),
                    sessions,
                    streams,
                    plugins,
                    worker: Some(w),
                    ..Default::default()
                }
            }
            LiveOutcome::Idle => BindingBatchResult {
                idle: Some(true),
                ..Default::default()
            },
            LiveOutcome::Opened => BindingBatchResult {
                idle: Some(true),
                opened: Some(true),
                ..Default::default()
            },
            LiveOutcome::Error(e) => BindingBatchResult {
                error: Some(e),
                done: true,
                ..Default::default()
            },
            LiveOutcome::Done => BindingBatchResult {
                done: true,
                ..Default::default()
            },
        })
    }
}
