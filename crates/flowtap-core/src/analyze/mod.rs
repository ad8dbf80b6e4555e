//! [`Analyzer`]: the whole per-packet pipeline of the core — flow tracking,
//! TCP reassembly and session parsing — behind one `on_packet` call.
//!
//! Decoded packets go to the [`FlowTracker`]; each TCP packet of a flow then
//! goes to that flow's [`TcpReassembler`], whose in-order chunks (and gaps)
//! go to the session parser chosen for the flow by content
//! ([`crate::session::detect`]); each UDP datagram goes to its flow's
//! parser directly. Everything the layers report comes out of
//! [`Analyzer::take_events`] as one ordered list of [`AnalyzeEvent`]s:
//! flow starts and ends, session records (each with its flow's identity)
//! and, when asked for, the reassembled stream pieces.
//!
//! Ordering: within a flow, events come in the order they happened; a
//! flow's session records and stream pieces come after its `flow.start` and
//! before its `flow.end`. A flow that ends (FIN/RST after the close delay,
//! idle, evicted, end of input) first flushes its reassembly and parser, so
//! nothing buffered is lost silently: the rest of a stream becomes gaps,
//! pending requests become unpaired records.
//!
//! Contract: memory is bounded by the flow table's `max_flows`, the
//! reassembly [`Memcap`] and per-direction limits, the session parsers'
//! [`SessionOptions`], and the events not yet taken (with the stream bytes they point
//! at). No method
//! panics on any input.

#[cfg(test)]
mod plugin_tests;
pub mod plugins;
mod state;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use foldhash::fast::RandomState;

use crate::capture::Frame;
use crate::decode::PacketInfo;
use crate::flow::tracker::{FlowEvent, FlowOptions, FlowRecord, FlowTracker};
use crate::reassembly::{GapReason, Memcap, MemcapStats, ReassemblyOptions, StreamEnd};
use crate::session::{Protocol, SessionEvent, SessionOptions};

pub use crate::reassembly::Direction;
pub use plugins::{PluginEvent, PluginSpec, Plugins, Priority, Signature};
use state::FlowState;

/// Which built-in parsers may claim flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocols {
    pub http: bool,
    pub dns: bool,
    pub tls: bool,
}

impl Protocols {
    pub const ALL: Protocols = Protocols {
        http: true,
        dns: true,
        tls: true,
    };
    pub const NONE: Protocols = Protocols {
        http: false,
        dns: false,
        tls: false,
    };

    pub fn allows(&self, p: Protocol) -> bool {
        match p {
            Protocol::Http => self.http,
            Protocol::Dns => self.dns,
            Protocol::Tls => self.tls,
        }
    }

    pub fn any(&self) -> bool {
        self.http || self.dns || self.tls
    }
}

/// Everything an [`Analyzer`] can be told.
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    pub flows: FlowOptions,
    pub reassembly: ReassemblyOptions,
    /// Bytes all connections together may buffer out of order.
    pub memcap: u64,
    pub sessions: SessionOptions,
    /// The parsers to run ([`Protocols::NONE`]: none, no detection).
    pub protocols: Protocols,
    /// Report the reassembled stream pieces as [`AnalyzeEvent::Stream`].
    pub streams: bool,
    /// Parsers outside the core and the flows they claim
    /// ([`AnalyzeEvent::Plugin`]).
    pub plugins: Plugins,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            flows: FlowOptions::default(),
            reassembly: ReassemblyOptions::default(),
            memcap: crate::reassembly::DEFAULT_MEMCAP,
            sessions: SessionOptions::default(),
            protocols: Protocols::ALL,
            streams: false,
            plugins: Plugins::default(),
        }
    }
}

impl AnalyzeOptions {
    /// Flow tracking alone: no reassembly, no parsers.
    pub fn flows_only(flows: FlowOptions) -> Self {
        AnalyzeOptions {
            flows,
            protocols: Protocols::NONE,
            streams: false,
            ..AnalyzeOptions::default()
        }
    }
}

/// Who a session record or stream piece belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowMeta {
    /// The flow's number ([`FlowRecord::seq`]); its uid derives from it.
    pub seq: u64,
    pub proto: u8,
    pub ipv6: bool,
    pub vlan: u16,
    pub orig_addr: [u8; 16],
    pub orig_port: u16,
    pub resp_addr: [u8; 16],
    pub resp_port: u16,
}

impl FlowMeta {
    pub fn of(r: &FlowRecord) -> Self {
        FlowMeta {
            seq: r.seq,
            proto: r.proto,
            ipv6: r.ipv6,
            vlan: r.vlan,
            orig_addr: r.orig_addr,
            orig_port: r.orig_port,
            resp_addr: r.resp_addr,
            resp_port: r.resp_port,
        }
    }

    /// The flow's Zeek-style uid (the same as its flow events').
    pub fn uid(&self) -> String {
        crate::flow::tracker::uid(self.seq)
    }
}

/// A session parser's output, with its flow.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub flow: FlowMeta,
    pub event: SessionEvent,
}

/// One piece of a reassembled stream; `Data` bytes are
/// `arena[start..start + len]` of the arena [`Analyzer::take_events`]
/// returned with the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamPiece {
    Data {
        offset: u64,
        start: usize,
        len: usize,
    },
    Gap {
        offset: u64,
        len: u64,
        reason: GapReason,
    },
    End {
        reason: StreamEnd,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamRecord {
    pub flow: u64,
    pub dir: Direction,
    /// Time of the packet that made the piece deliverable.
    pub ts: u64,
    pub piece: StreamPiece,
}

/// What [`Analyzer::take_events`] returns.
#[derive(Debug, Clone)]
pub enum AnalyzeEvent {
    /// A flow event; an end carries the protocol its parser was chosen for.
    Flow(FlowEvent, Option<Protocol>),
    Session(Box<SessionRecord>),
    Stream(StreamRecord),
    /// A claim, piece or close of a flow a plugin claimed; `Data` pieces
    /// point into the arena like [`AnalyzeEvent::Stream`]'s.
    Plugin(PluginEvent),
}

/// Counters of the layers above flow tracking.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnalyzeStats {
    /// Flows whose parser was chosen, per protocol (HTTP, DNS, TLS).
    pub detected: [u64; 3],
    /// Flows no parser claimed.
    pub undetected: u64,
    pub http_transactions: u64,
    pub dns_transactions: u64,
    pub tls_handshakes: u64,
    /// Anomalies the parsers reported (each is also an event).
    pub anomalies: u64,
    /// Stream bytes delivered in order.
    pub stream_bytes: u64,
    /// Stream bytes reported as gaps, and how many gaps.
    pub gap_bytes: u64,
    pub gaps: u64,
    /// Flows claimed by plugins (outright or for their predicates).
    pub plugin_flows: u64,
    /// Stream and datagram bytes handed to plugins.
    pub plugin_bytes: u64,
    /// Plugin flows given back with [`Analyzer::release`].
    pub plugin_released: u64,
}

/// See the module docs.
pub struct Analyzer {
    tracker: FlowTracker,
    memcap: Memcap,
    /// Boxed: a state is large (the reassembler's two directions) and the
    /// map moves its values when it grows.
    flows: HashMap<u64, Box<FlowState>, RandomState>,
    opts: AnalyzeOptions,
    events: Vec<AnalyzeEvent>,
    /// Stream bytes of the events not yet taken.
    arena: Vec<u8>,
    /// The payload of a datagram reassembled from fragments, for the
    /// length of one call.
    held: Vec<u8>,
    stats: AnalyzeStats,
}

impl Analyzer {
    pub fn new(opts: AnalyzeOptions) -> Self {
        Analyzer {
            tracker: FlowTracker::new(opts.flows),
            memcap: Memcap::new(opts.memcap),
            flows: HashMap::with_hasher(RandomState::default()),
            opts,
            events: Vec::new(),
            arena: Vec::new(),
            held: Vec::new(),
            stats: AnalyzeStats::default(),
        }
    }

    pub fn tracker(&self) -> &FlowTracker {
        &self.tracker
    }

    pub fn stats(&self) -> AnalyzeStats {
        self.stats
    }

    pub fn memcap_stats(&self) -> MemcapStats {
        self.memcap.stats()
    }

    /// Whether anything beyond flow tracking runs.
    fn deep(&self) -> bool {
        self.opts.streams || self.opts.protocols.any() || !self.opts.plugins.is_empty()
    }

    /// Stops handing flow `seq`'s pieces to plugins (its plugin declined
    /// it or failed): nothing more of it, not even its close, is reported
    /// as a [`PluginEvent`]. Unknown or already released flows are ignored.
    pub fn release(&mut self, seq: u64) {
        if let Some(st) = self.flows.get_mut(&seq) {
            if st.release_plugin() {
                self.stats.plugin_released += 1;
            }
        }
    }

    /// Counts one decoded packet in its flow, and feeds its payload to the
    /// flow's reassembly and parser.
    pub fn on_packet(&mut self, frame: &Frame<'_>, info: &PacketInfo) {
        if !self.deep() {
            self.tracker.on_packet(frame, info);
            self.collect();
            return;
        }
        // The packet is handled after the flow events it caused (the end of
        // flows it pushed out, its own flow's start), so its flow's state
        // exists with the flow's identity. Its payload stays where it is —
        // in the frame — unless it is a datagram the tracker reassembled
        // from fragments, which lives only during the call and is copied.
        let mut pending: Option<state::Packet> = None;
        let held = &mut self.held;
        let frame_bytes = frame.data.as_ptr_range();
        self.tracker.on_packet_with(frame, info, |t| {
            let p = t.payload.as_ptr_range();
            let payload = if p.start >= frame_bytes.start && p.end <= frame_bytes.end {
                let at = p.start as usize - frame_bytes.start as usize;
                state::Payload::Frame(at, t.payload.len())
            } else {
                held.clear();
                held.extend_from_slice(t.payload);
                state::Payload::Held
            };
            pending = Some(state::Packet::of(t, payload));
        });
        self.collect();
        if let Some(p) = pending {
            let payload = match p.payload {
                state::Payload::Frame(at, len) => frame.data.get(at..at + len).unwrap_or(&[]),
                state::Payload::Held => &self.held[..],
            };
            let Analyzer {
                memcap,
                flows,
                opts,
                events,
                arena,
                stats,
                ..
            } = self;
            if let Some(st) = flows.get_mut(&p.seq) {
                let mut cx = state::Cx {
                    memcap,
                    out: state::Out {
                        opts,
                        out: events,
                        arena,
                        stats,
                    },
                };
                st.on_packet(&p, payload, &mut cx);
            }
        }
    }

    /// Ends every flow whose timeout passed at `now_ns` (a clock, for live
    /// sources; capture replay is driven by packet times).
    pub fn expire(&mut self, now_ns: u64) {
        self.tracker.expire(now_ns);
        self.collect();
    }

    /// Ends every flow (end of input or close), flushing what they buffer.
    pub fn finish(&mut self) {
        while !self.finish_some(usize::MAX) {}
    }

    /// [`Analyzer::finish`] in steps of at most `max` flows; true once no
    /// flow is left. Taking the events between steps bounds what is held
    /// at the end of a large input.
    pub fn finish_some(&mut self, max: usize) -> bool {
        let done = self.tracker.finish_some(max);
        self.collect();
        done
    }

    /// Moves the tracker's events into `events`: a flow that starts gets
    /// its state (when something beyond tracking runs), a flow that ends
    /// first flushes its reassembly and parser.
    fn collect(&mut self) {
        let deep = self.deep();
        for ev in self.tracker.take_events() {
            match ev {
                FlowEvent::Start(ref r) => {
                    if deep {
                        self.flows
                            .insert(r.seq, Box::new(FlowState::new(FlowMeta::of(r), &self.opts)));
                    }
                    self.events.push(AnalyzeEvent::Flow(ev, None));
                }
                FlowEvent::End(ref r, reason) => {
                    let mut service = None;
                    if let Some(mut s) = self.flows.remove(&r.seq) {
                        let mut cx = state::Cx {
                            memcap: &mut self.memcap,
                            out: state::Out {
                                opts: &self.opts,
                                out: &mut self.events,
                                arena: &mut self.arena,
                                stats: &mut self.stats,
                            },
                        };
                        s.finish(r.last_ns, reason, &mut cx);
                        service = s.protocol();
                    }
                    self.events.push(AnalyzeEvent::Flow(ev, service));
                }
            }
        }
    }

    /// Events since the last call, in order, and the stream bytes their
    /// [`StreamPiece::Data`] pieces point at.
    pub fn take_events(&mut self) -> (Vec<AnalyzeEvent>, Vec<u8>) {
        // The next call's vectors start at this one's size: growing them
        // from empty every batch would move every event several times.
        let events = Vec::with_capacity(self.events.capacity());
        let arena = Vec::with_capacity(self.arena.len());
        (
            std::mem::replace(&mut self.events, events),
            std::mem::replace(&mut self.arena, arena),
        )
    }

    /// [`Analyzer::take_events`], with `arena` (emptied, then grown to
    /// this batch's size) as the next batch's arena: a caller that
    /// recycles arenas spares the allocator fresh pages per batch.
    pub fn take_events_into(&mut self, mut arena: Vec<u8>) -> (Vec<AnalyzeEvent>, Vec<u8>) {
        arena.clear();
        arena.reserve(self.arena.len());
        let events = Vec::with_capacity(self.events.capacity());
        (
            std::mem::replace(&mut self.events, events),
            std::mem::replace(&mut self.arena, arena),
        )
    }

    /// Stream bytes of the events not yet taken.
    pub fn arena(&self) -> &[u8] {
        &self.arena
    }

    pub fn pending_events(&self) -> usize {
        self.events.len()
    }
}
