//! Plugins across the boundary: their claim rules in, the pieces of the
//! flows they claimed out.
//!
//! Out, per analyzer step: one JSON array of control records — `claim`
//! (with the flow's identity) and `close` — and the pieces of the claimed
//! flows as stream-batch columns over one byte arena. For any one flow its
//! claim precedes its pieces, which precede its close, so the TypeScript
//! side handles a step's claims, then its pieces, then its closes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use flowtap_core::analyze::{
    Analyzer, PluginEvent, PluginSpec, Plugins, Priority, Signature, StreamRecord,
};
use flowtap_core::reassembly::Direction;
use flowtap_core::session::Transport;
use napi_derive::napi;

use crate::binding_error::BindingError;
use crate::binding_json::Json;
use crate::binding_sessions::{flow_json, stream_batch, BindingStreamBatch};

/// Plugins per source at most (their ids are u16 and lists are scanned
/// per undecided flow).
pub const MAX_PLUGINS: usize = 64;
/// Ports and signatures per plugin at most, and bytes per signature.
const MAX_PORTS: usize = 1024;
const MAX_SIGNATURES: usize = 64;
const MAX_SIGNATURE_BYTES: usize = 256;

/// Bytes a plugin's first data must show.
#[napi(object)]
#[derive(Clone)]
pub struct BindingSignature {
    /// Where in the side's first bytes. @default 0
    pub offset: Option<u32>,
    pub bytes: Vec<u8>,
    /// "orig", "resp"; absent: either side.
    pub direction: Option<String>,
}

/// One plugin's claim rules (see `PluginSpec` in the core).
#[napi(object)]
#[derive(Clone)]
pub struct BindingPluginSpec {
    pub id: u32,
    /// "tcp" or "udp".
    pub transport: String,
    pub ports: Option<Vec<u32>>,
    pub signatures: Option<Vec<BindingSignature>>,
    /// "first": before the built-in parsers; "last" (default): after.
    pub priority: Option<String>,
    /// A JS predicate decides flows nothing else claimed.
    pub predicate: Option<bool>,
}

pub fn to_core(list: &[BindingPluginSpec]) -> Result<Plugins, BindingError> {
    let bad = BindingError::invalid_arg;
    if list.len() > MAX_PLUGINS {
        return Err(bad(format!("at most {MAX_PLUGINS} plugins per source")));
    }
    let mut specs = Vec::with_capacity(list.len());
    for p in list {
        let transport = match p.transport.as_str() {
            "tcp" => Transport::Tcp,
            "udp" => Transport::Udp,
            t => {
                return Err(bad(format!(
                    "plugin transport must be tcp or udp, got {t:?}"
                )))
            }
        };
        let ports = p.ports.clone().unwrap_or_default();
        if ports.len() > MAX_PORTS || ports.iter().any(|&x| x > 65535) {
            return Err(bad(format!(
                "plugin ports: at most {MAX_PORTS}, each 0..=65535"
            )));
        }
        let mut signatures = Vec::new();
        for s in p.signatures.as_deref().unwrap_or_default() {
            if s.bytes.is_empty() || s.bytes.len() > MAX_SIGNATURE_BYTES {
                return Err(bad(format!(
                    "a signature has 1..={MAX_SIGNATURE_BYTES} bytes"
                )));
            }
            let offset = s.offset.unwrap_or(0) as usize;
            if offset + s.bytes.len() > 2048 {
                return Err(bad(
                    "a signature must end within the first 2048 bytes".into()
                ));
            }
            let dir = match s.direction.as_deref() {
                None => None,
                Some("orig") => Some(Direction::Orig),
                Some("resp") => Some(Direction::Resp),
                Some(d) => {
                    return Err(bad(format!(
                        "signature direction must be orig or resp, got {d:?}"
                    )))
                }
            };
            signatures.push(Signature {
                dir,
                offset,
                bytes: s.bytes.clone(),
            });
        }
        if signatures.len() > MAX_SIGNATURES {
            return Err(bad(format!(
                "at most {MAX_SIGNATURES} signatures per plugin"
            )));
        }
        let priority = match p.priority.as_deref() {
            None | Some("last") => Priority::Last,
            Some("first") => Priority::First,
            Some(x) => {
                return Err(bad(format!(
                    "plugin priority must be first or last, got {x:?}"
                )))
            }
        };
        specs.push(PluginSpec {
            id: u16::try_from(p.id).map_err(|_| bad("plugin id out of range".into()))?,
            transport,
            ports: ports.into_iter().map(|x| x as u16).collect(),
            signatures,
            priority,
            predicate: p.predicate.unwrap_or(false),
        });
    }
    Ok(Plugins::new(specs))
}

/// The plugin part of one analyzer step.
#[napi(object, object_from_js = false)]
pub struct BindingPluginBatch {
    /// JSON array: `{"k":"claim","seq","plugins":[ids],"ask","tsNs",…flow}`
    /// and `{"k":"close","seq","reason","tsNs"}`.
    pub control: Option<String>,
    pub pieces: Option<BindingStreamBatch>,
}

/// Gathers a step's plugin events.
#[derive(Default)]
pub struct PluginCollector {
    control: Option<Json>,
    pieces: Vec<StreamRecord>,
}

impl PluginCollector {
    pub fn add(&mut self, ev: &PluginEvent) {
        match ev {
            PluginEvent::Piece(r) => self.pieces.push(*r),
            PluginEvent::Claim {
                flow,
                plugins,
                ask,
                ts,
            } => {
                let j = self.json();
                j.begin_obj();
                j.str("k", "claim");
                j.num("seq", flow.seq);
                j.arr("plugins");
                for id in plugins {
                    j.item_num(*id as u64);
                }
                j.end_arr();
                j.bool("ask", *ask);
                j.ns("tsNs", *ts);
                flow_json(j, flow);
                j.end_obj();
            }
            PluginEvent::Close { flow, ts, reason } => {
                let j = self.json();
                j.begin_obj();
                j.str("k", "close");
                j.num("seq", *flow);
                j.str("reason", reason.as_str());
                j.ns("tsNs", *ts);
                j.end_obj();
            }
        }
    }

    pub fn has_pieces(&self) -> bool {
        !self.pieces.is_empty()
    }

    fn json(&mut self) -> &mut Json {
        self.control.get_or_insert_with(|| {
            let mut j = Json::new();
            j.begin_arr();
            j
        })
    }

    /// The batch, if anything was gathered; `arena` is the step's arena.
    pub fn finish(self, arena: Vec<u8>) -> Option<BindingPluginBatch> {
        if self.control.is_none() && self.pieces.is_empty() {
            return None;
        }
        Some(BindingPluginBatch {
            control: self.control.map(|mut j| {
                j.end_arr();
                j.buf
            }),
            pieces: (!self.pieces.is_empty()).then(|| stream_batch(&self.pieces, arena)),
        })
    }
}

/// Flows JavaScript gave back (declined by every predicate, or whose
/// plugin threw), on their way to the analyzer that owns them: a worker's
/// flow numbers start at `worker << 40`. Bounded by the flows claimed, and
/// drained by the analyzers' threads at every step.
#[derive(Default)]
pub struct Releases {
    pending: AtomicBool,
    lists: Mutex<Vec<Vec<u64>>>,
}

impl Releases {
    pub fn push(&self, seqs: impl IntoIterator<Item = u64>) {
        let mut lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
        for seq in seqs {
            let w = (seq >> 40) as usize;
            if w >= lists.len() {
                if w >= 1 << 16 {
                    continue;
                }
                lists.resize_with(w + 1, Vec::new);
            }
            lists[w].push(seq);
        }
        self.pending.store(true, Ordering::Release);
    }

    /// Releases worker `w`'s given-back flows in `a`.
    pub fn apply(&self, w: usize, a: &mut Analyzer) {
        if !self.pending.load(Ordering::Acquire) {
            return;
        }
        let mut lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = lists.get_mut(w) {
            for seq in list.drain(..) {
                a.release(seq);
            }
        }
        if lists.iter().all(Vec::is_empty) {
            self.pending.store(false, Ordering::Release);
        }
    }
}
