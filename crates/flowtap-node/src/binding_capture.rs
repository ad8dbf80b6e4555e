//! `BindingCapture`: a capture source read on its own thread
//! ([`crate::binding_reader`]) and decoded on libuv's thread pool, one batch
//! per `nextBatch()` call.
//!
//! Opening is deferred to the first `nextBatch()`, so even the file open and
//! header parse happen off the JS thread and their errors arrive the same way
//! as read errors. `close()` stops the reader and closes the input before it
//! returns (waiting at most for a batch in flight); garbage collection of the
//! JS object does the same. A panic in the core becomes `ERR_INTERNAL`,
//! never an aborted process.

use std::fs::File;
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

use flowtap_core::analyze::{AnalyzeOptions, Analyzer};
use flowtap_core::batch::PacketBatch;
use flowtap_core::source::{PacketSource, SourceOptions, SourceStats};
use napi::bindgen_prelude::{AsyncTask, Uint8Array};
use napi::{Env, ScopedTask};
use napi_derive::napi;

use crate::binding_error::BindingError;
use crate::binding_filter::file_filter;
use crate::binding_flows::{BindingAnalyzeOptions, BindingFlowOptions};
use crate::binding_plugins::Releases;
use crate::binding_pool;
use crate::binding_reader::{Read, Reader};
use crate::binding_sessions::BindingEvents;
use crate::binding_types::{
    BindingAnalysisStats, BindingBatch, BindingBatchResult, BindingOpenOptions, BindingStats,
};

enum Input {
    File(String),
    Bytes(Vec<u8>),
}

enum State {
    Pending(Input, SourceOptions, Option<AnalyzeOptions>, Option<String>),
    Open(Pipeline),
    /// Open failed or the source was closed; reads end.
    Ended,
}

/// An open source: the reading thread and the decoding stage's state.
struct Pipeline {
    reader: Reader,
    keep_bytes: bool,
    /// Counted by the decoding stage.
    stats: SourceStats,
    /// In flow/session mode, the analyzer the decoded packets go through;
    /// batches then carry its events instead of packets.
    tracker: Option<Box<Analyzer>>,
    /// The input ended and the flows still open are being ended, at most
    /// [`FINISH_STEP`] per call; the read error to report afterwards.
    finishing: Option<Option<BindingError>>,
}

struct Shared {
    state: State,
    /// An invalid option, reported by the first `nextBatch()`.
    invalid: Option<BindingError>,
    /// Hand flow events to JS (a session-only consumer does not want them).
    flow_events: bool,
    /// Published after every batch under their own lock, so `stats()` on the
    /// JS thread never waits for a batch being read.
    totals: Arc<Mutex<Totals>>,
    releases: Arc<Releases>,
}

#[derive(Default)]
struct Totals {
    format: Option<&'static str>,
    stats: SourceStats,
    position: u64,
    analysis: Option<BindingAnalysisStats>,
}

impl Shared {
    /// Drops the source (closing its input) if it is open.
    fn end(&mut self) {
        if let State::Open(_) = std::mem::replace(&mut self.state, State::Ended) {
            binding_pool::closed();
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.end();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while reading is turned into an error and the state ended, so
    // a poisoned lock holds nothing inconsistent worth refusing.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A pcap/pcapng source read in batches off the JS thread.
#[napi]
pub struct BindingCapture {
    shared: Arc<Mutex<Shared>>,
    totals: Arc<Mutex<Totals>>,
    /// Not behind `shared`: giving flows back never waits for a batch.
    releases: Arc<Releases>,
}

#[napi]
impl BindingCapture {
    fn with(
        input: Input,
        options: Option<BindingOpenOptions>,
        flows: Option<BindingFlowOptions>,
        analyze: Option<BindingAnalyzeOptions>,
    ) -> Self {
        let mut options = options.unwrap_or_default();
        let filter = options.filter.take().filter(|f| !f.trim().is_empty());
        let (mut opts, mut invalid) = match options.to_core() {
            Ok(o) => (o, None),
            Err(e) => (SourceOptions::default(), Some(e)),
        };
        let flows = match (flows, &analyze) {
            (None, Some(_)) => Some(BindingFlowOptions::default()),
            (f, _) => f,
        };
        let flow_opts = match flows.map(|f| f.to_core()) {
            None => None,
            Some(Ok(f)) => {
                // Flow and session modes hand out no packet bytes.
                opts.keep_bytes = false;
                match analyze.as_ref().map(|a| a.to_core(f)) {
                    None => Some(AnalyzeOptions::flows_only(f)),
                    Some(Ok(a)) => Some(a),
                    Some(Err(e)) => {
                        invalid.get_or_insert(e);
                        None
                    }
                }
            }
            Some(Err(e)) => {
                invalid.get_or_insert(e);
                None
            }
        };
        let flow_events = analyze.as_ref().and_then(|a| a.flow_events).unwrap_or(true);
        let totals = Arc::new(Mutex::new(Totals::default()));
        let releases = Arc::new(Releases::default());
        BindingCapture {
            shared: Arc::new(Mutex::new(Shared {
                state: State::Pending(input, opts, flow_opts, filter),
                invalid,
                flow_events,
                totals: Arc::clone(&totals),
                releases: Arc::clone(&releases),
            })),
            totals,
            releases,
        }
    }

    /// A source over a file, opened by the first `nextBatch()`. With
    /// `flows`, batches carry flow events instead of packets; with
    /// `analyze` also session records and stream pieces.
    #[napi(factory)]
    pub fn from_file(
        path: String,
        options: Option<BindingOpenOptions>,
        flows: Option<BindingFlowOptions>,
        analyze: Option<BindingAnalyzeOptions>,
    ) -> Self {
        Self::with(Input::File(path), options, flows, analyze)
    }

    /// A source over bytes in memory (copied once, here).
    #[napi(factory)]
    pub fn from_bytes(
        bytes: Uint8Array,
        options: Option<BindingOpenOptions>,
        flows: Option<BindingFlowOptions>,
        analyze: Option<BindingAnalyzeOptions>,
    ) -> Self {
        Self::with(Input::Bytes(bytes.to_vec()), options, flows, analyze)
    }

    /// Reads and decodes the next batch on the thread pool.
    #[napi(ts_return_type = "Promise<BindingBatchResult>")]
    pub fn next_batch(&self) -> AsyncTask<NextBatch> {
        AsyncTask::new(NextBatch {
            shared: Arc::clone(&self.shared),
        })
    }

    /// Totals so far (kept after close).
    #[napi]
    pub fn stats(&self) -> BindingStats {
        let t = lock(&self.totals);
        BindingStats::new(&t.stats, t.format, t.position, t.analysis.clone())
    }

    /// Releases the file and buffers. Reads after this report the end.
    #[napi]
    pub fn close(&self) {
        lock(&self.shared).end();
    }

    /// Plugin flows (by flow number) JavaScript no longer wants pieces of.
    #[napi]
    pub fn release_flows(&self, seqs: Vec<f64>) {
        self.releases.push(seqs.into_iter().map(|s| s as u64));
    }

    /// Whether the underlying input is still held open.
    #[napi(getter)]
    pub fn is_open(&self) -> bool {
        !matches!(lock(&self.shared).state, State::Ended)
    }
}

/// What a `nextBatch()` computed on the pool thread.
pub enum Outcome {
    Batch(PacketBatch),
    /// Built on the pool thread; only the JS values are made in `resolve`.
    Events(Box<BindingEvents>),
    Error(BindingError),
    Done,
}

pub struct NextBatch {
    shared: Arc<Mutex<Shared>>,
}

fn step(shared: &Mutex<Shared>) -> Outcome {
    let mut s = lock(shared);
    if let Some(e) = s.invalid.take() {
        s.state = State::Ended;
        return Outcome::Error(e);
    }
    if let State::Pending(..) = s.state {
        let State::Pending(input, opts, flow_opts, filter) =
            std::mem::replace(&mut s.state, State::Ended)
        else {
            unreachable!("checked above")
        };
        BindingError::inject_panic("open");
        let opened = match input {
            Input::File(path) => match File::open(&path) {
                Ok(f) => PacketSource::new(f, opts).map_err(|e| {
                    let mut b = BindingError::from(&e);
                    b.message = format!("{path}: {}", b.message);
                    b
                }),
                Err(e) => Err(BindingError::io(&path, &e)),
            },
            Input::Bytes(bytes) => {
                PacketSource::new(Cursor::new(bytes), opts).map_err(|e| BindingError::from(&e))
            }
        };
        let mut src = match opened {
            Ok(src) => src,
            Err(e) => return Outcome::Error(e),
        };
        if let Some(expr) = filter {
            match file_filter(&expr) {
                Ok(f) => src.set_filter(f),
                Err(e) => return Outcome::Error(e),
            }
        }
        let format = src.format().name();
        let keep_bytes = src.options().keep_bytes;
        let reader = match Reader::spawn(src) {
            Ok(r) => r,
            Err(e) => return Outcome::Error(BindingError::io("reader thread", &e)),
        };
        lock(&s.totals).format = Some(format);
        s.state = State::Open(Pipeline {
            reader,
            keep_bytes,
            stats: SourceStats::default(),
            tracker: flow_opts.map(|o| Box::new(Analyzer::new(o))),
            finishing: None,
        });
        binding_pool::opened();
    }
    let s = &mut *s;
    let State::Open(p) = &mut s.state else {
        return Outcome::Done;
    };
    if let Some(t) = p.tracker.as_mut() {
        s.releases.apply(0, t);
    }
    // `last`: the reader has said its last word.
    let (outcome, position, last) = loop {
        if let (Some(deferred), Some(t)) = (p.finishing.as_mut(), p.tracker.as_mut()) {
            let done = t.finish_some(FINISH_STEP);
            if done {
                s.invalid = deferred.take();
            }
            break (Outcome::Events(events(t, s.flow_events)), None, done);
        }
        match (p.reader.recv(), p.tracker.as_mut()) {
            (Read::Batch(mut b, pos), None) => {
                b.decode_rows(&mut p.stats, p.keep_bytes);
                break (Outcome::Batch(b), Some(pos), false);
            }
            (Read::Batch(b, pos), Some(t)) => {
                b.decode_each(&mut p.stats, |f, i| t.on_packet(f, i));
                binding_pool::recycle(b);
                if t.pending_events() > 0 {
                    break (Outcome::Events(events(t, s.flow_events)), Some(pos), false);
                }
                lock(&s.totals).position = pos;
            }
            (Read::End(pos), None) => break (Outcome::Done, Some(pos), true),
            (Read::End(pos), Some(_)) => {
                // The flows still open end with the input, a step at a time.
                p.finishing = Some(None);
                lock(&s.totals).position = pos;
            }
            (Read::Failed(e, pos), None) => {
                break (Outcome::Error(BindingError::from(&e)), Some(pos), true)
            }
            (Read::Failed(e, pos), Some(_)) => {
                // Flows read before the damage end first; the error follows.
                p.finishing = Some(Some(BindingError::from(&e)));
                lock(&s.totals).position = pos;
            }
            (Read::Panicked, _) => {
                let e = BindingError::internal("panic while reading a capture");
                break (Outcome::Error(e), None, true);
            }
        }
    };
    let analysis = p.tracker.as_deref().map(BindingAnalysisStats::of);
    let mut t = lock(&s.totals);
    t.stats.clone_from(&p.stats);
    if analysis.is_some() {
        t.analysis = analysis;
    }
    if let Some(pos) = position {
        t.position = pos;
    }
    drop(t);
    if last {
        // Let the reader thread go now; a deferred error is still reported.
        s.end();
    }
    outcome
}

/// Flows ended per call once the input is over: a table of a million flows
/// ends in batches, not in one array of a million events.
const FINISH_STEP: usize = 16_384;

/// The analyzer's events so far, in their boundary form.
fn events(a: &mut Analyzer, flow_events: bool) -> Box<BindingEvents> {
    let (events, arena) = a.take_events_into(binding_pool::take_bytes());
    Box::new(BindingEvents::new(events, arena, flow_events))
}

impl<'task> ScopedTask<'task> for NextBatch {
    type Output = Outcome;
    type JsValue = BindingBatchResult<'task>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let shared = &self.shared;
        Ok(
            catch_unwind(AssertUnwindSafe(|| step(shared))).unwrap_or_else(|_| {
                lock(shared).end();
                Outcome::Error(BindingError::internal("panic while reading a capture"))
            }),
        )
    }

    fn resolve(&mut self, env: &'task Env, out: Outcome) -> napi::Result<Self::JsValue> {
        Ok(match out {
            Outcome::Batch(b) => BindingBatchResult {
                batch: Some(BindingBatch::new(env, b)?),
                ..Default::default()
            },
            Outcome::Events(events) => {
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
                    ..Default::default()
                }
            }
            Outcome::Error(e) => BindingBatchResult {
                error: Some(e),
                done: true,
                ..Default::default()
            },
            Outcome::Done => BindingBatchResult {
                done: true,
                ..Default::default()
            },
        })
    }
}
