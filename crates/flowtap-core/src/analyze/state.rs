//! [`FlowState`]: what the analyzer keeps per flow beyond the flow record —
//! the TCP reassembly, the bytes seen while the protocol is still unknown,
//! and the chosen session parser.
//!
//! Detection runs on the first in-order bytes of each direction (at most
//! [`DETECT_BYTES`] per direction are held for it); once a parser is chosen
//! those bytes are replayed into it, originator first, so the parser sees
//! each stream from its start. A gap before the decision, or bytes that
//! match nothing, leave the flow unparsed (its streams are still reported
//! when asked for).
//!
//! Plugins ([`super::plugins`]) join the decision: those of priority
//! `First` before the built-in detection, the others after it said no, and
//! plugin predicates last. A flow a plugin claims has its pieces (TCP) or
//! datagrams (UDP) reported as [`PluginEvent`]s, held bytes first, each
//! direction from where its held bytes started.

use super::plugins::{Claim, PluginEvent, Stage};
use super::{
    AnalyzeEvent, AnalyzeOptions, AnalyzeStats, Direction, FlowMeta, SessionRecord, StreamPiece,
    StreamRecord,
};
use crate::flow::tracker::{EndReason, Tracked};
use crate::reassembly::{Memcap, StreamChunk, TcpReassembler, TcpSegment};
use crate::session::{
    detect, new_parser, Detection, Protocol, SessionEvent, SessionParser, Transport,
};

/// Bytes per direction held while the protocol is unknown; a direction
/// that fills it without a match leaves the flow unparsed.
pub const DETECT_BYTES: usize = 2048;

/// UDP datagrams looked at before giving up on detection.
const DETECT_DATAGRAMS: u8 = 4;

const TCP: u8 = 6;
const UDP: u8 = 17;

/// Where a packet's payload is, while its flow events are handled first.
#[derive(Debug, Clone, Copy)]
pub(super) enum Payload {
    /// `len` bytes at `at` in the frame.
    Frame(usize, usize),
    /// In the analyzer's buffer for reassembled datagrams.
    Held,
}

/// A packet as the tracker counted it, without the borrow.
#[derive(Debug, Clone, Copy)]
pub(super) struct Packet {
    pub seq: u64,
    pub from_orig: bool,
    pub flipped: bool,
    pub tcp: Option<crate::flow::tracker::TcpSegment>,
    pub payload: Payload,
    pub payload_len_wire: u32,
    pub ts_ns: u64,
}

impl Packet {
    pub fn of(t: &Tracked<'_>, payload: Payload) -> Self {
        Packet {
            seq: t.seq,
            from_orig: t.from_orig,
            flipped: t.flipped,
            tcp: t.tcp,
            payload,
            payload_len_wire: t.payload_len_wire,
            ts_ns: t.ts_ns,
        }
    }
}

/// The layers' shared state, borrowed for one call: the memcap, which the
/// reassembler holds during its calls, and where pieces and records go.
pub(super) struct Cx<'a> {
    pub memcap: &'a mut Memcap,
    pub out: Out<'a>,
}

pub(super) struct Out<'a> {
    pub opts: &'a AnalyzeOptions,
    pub out: &'a mut Vec<AnalyzeEvent>,
    pub arena: &'a mut Vec<u8>,
    pub stats: &'a mut AnalyzeStats,
}

enum Parser {
    Undecided,
    Active(Protocol, Box<dyn SessionParser>),
    /// A plugin (or the predicates of plugins) outside the core has it.
    Plugin,
    Off,
}

/// The parsing side of a flow.
struct Session {
    parser: Parser,
    /// Bytes of each direction seen while `parser` is undecided.
    held: [Vec<u8>; 2],
    /// Stream offset of each direction's first held byte.
    held_at: [u64; 2],
    datagrams: u8,
    /// Datagrams per direction: a datagram's offset in a plugin piece.
    datagram_index: [u64; 2],
    scratch: Vec<SessionEvent>,
}

pub(super) struct FlowState {
    pub meta: FlowMeta,
    tcp: Option<TcpReassembler>,
    /// The roles flipped after the reassembler started: its directions are
    /// the first orientation's, and are mapped to the current one.
    swapped: bool,
    session: Session,
}

/// A reassembler direction in the flow's current orientation.
fn orient(d: Direction, swapped: bool) -> Direction {
    match (d, swapped) {
        (d, false) => d,
        (Direction::Orig, true) => Direction::Resp,
        (Direction::Resp, true) => Direction::Orig,
    }
}

impl FlowState {
    pub fn new(meta: FlowMeta, opts: &AnalyzeOptions) -> Self {
        let parses = (opts.protocols.any() || !opts.plugins.is_empty())
            && (meta.proto == TCP || meta.proto == UDP);
        FlowState {
            meta,
            tcp: None,
            swapped: false,
            session: Session {
                parser: if parses {
                    Parser::Undecided
                } else {
                    Parser::Off
                },
                held: [Vec::new(), Vec::new()],
                held_at: [0; 2],
                datagrams: 0,
                datagram_index: [0; 2],
                scratch: Vec::new(),
            },
        }
    }

    /// The protocol of the parser chosen for this flow.
    pub fn protocol(&self) -> Option<Protocol> {
        match &self.session.parser {
            Parser::Active(p, _) => Some(*p),
            _ => None,
        }
    }

    /// Takes the flow from its plugin; true if a plugin had it.
    pub fn release_plugin(&mut self) -> bool {
        if let Parser::Plugin = self.session.parser {
            self.session.parser = Parser::Off;
            true
        } else {
            false
        }
    }

    /// Whether this flow needs its TCP bytes reassembled.
    fn wants_stream(&self, opts: &AnalyzeOptions) -> bool {
        opts.streams || !matches!(self.session.parser, Parser::Off)
    }

    pub fn on_packet(&mut self, t: &Packet, payload: &[u8], cx: &mut Cx<'_>) {
        let ts = t.ts_ns;
        if t.flipped && self.tcp.is_some() {
            self.swapped = !self.swapped;
        }
        match (self.meta.proto, t.tcp) {
            (TCP, Some(h)) => {
                if self.tcp.is_none() && !self.wants_stream(cx.out.opts) {
                    return;
                }
                let seg = TcpSegment {
                    from_orig: t.from_orig != self.swapped,
                    flags: h.flags,
                    seq: h.seq,
                    ack: h.ack,
                    payload,
                    wire_len: t.payload_len_wire.max(payload.len() as u32),
                };
                let (meta, swapped) = (self.meta, self.swapped);
                let session = &mut self.session;
                let tcp = self
                    .tcp
                    .get_or_insert_with(|| TcpReassembler::new(cx.out.opts.reassembly));
                tcp.on_segment(&seg, cx.memcap, &mut |dir, chunk| {
                    session.on_chunk(&meta, orient(dir, swapped), chunk, ts, &mut cx.out);
                });
            }
            (UDP, _) if !payload.is_empty() => {
                let dir = if t.from_orig {
                    Direction::Orig
                } else {
                    Direction::Resp
                };
                self.session
                    .on_datagram(&self.meta, dir, payload, ts, &mut cx.out);
            }
            _ => {}
        }
    }

    /// The flow ended at `ts`: the reassembly delivers or gaps what it
    /// holds, the parser flushes pending records; the memcap gets its bytes
    /// back.
    pub fn finish(&mut self, ts: u64, reason: EndReason, cx: &mut Cx<'_>) {
        let meta = self.meta;
        let session = &mut self.session;
        let swapped = self.swapped;
        if let Some(tcp) = self.tcp.as_mut() {
            tcp.finish(cx.memcap, &mut |dir, chunk| {
                session.on_chunk(&meta, orient(dir, swapped), chunk, ts, &mut cx.out);
            });
        }
        session.finish(&meta, ts, reason, &mut cx.out);
    }
}

impl Session {
    fn on_chunk(
        &mut self,
        meta: &FlowMeta,
        dir: Direction,
        chunk: StreamChunk<'_>,
        ts: u64,
        out: &mut Out<'_>,
    ) {
        let plugin = matches!(self.parser, Parser::Plugin);
        let piece = match chunk {
            StreamChunk::Data { offset, bytes } => {
                out.stats.stream_bytes += bytes.len() as u64;
                if out.opts.streams || plugin {
                    let start = out.arena.len();
                    out.arena.extend_from_slice(bytes);
                    Some(StreamPiece::Data {
                        offset,
                        start,
                        len: bytes.len(),
                    })
                } else {
                    None
                }
            }
            StreamChunk::Gap {
                offset,
                len,
                reason,
            } => {
                out.stats.gaps += 1;
                out.stats.gap_bytes += len;
                Some(StreamPiece::Gap {
                    offset,
                    len,
                    reason,
                })
            }
            StreamChunk::End { reason } => Some(StreamPiece::End { reason }),
        };
        let record = piece.map(|piece| StreamRecord {
            flow: meta.seq,
            dir,
            ts,
            piece,
        });
        if let (true, Some(r)) = (out.opts.streams, record) {
            out.out.push(AnalyzeEvent::Stream(r));
        }
        if let (true, Some(r)) = (plugin, record) {
            plugin_piece(r, out);
            return;
        }
        match chunk {
            StreamChunk::Data { offset, bytes } => self.data(meta, dir, offset, bytes, ts, out),
            StreamChunk::Gap { len, .. } => match &mut self.parser {
                Parser::Active(_, p) => {
                    p.on_gap(dir, ts, len, &mut self.scratch);
                    self.emit(meta, out);
                }
                // The start of a stream is what tells protocols apart; past
                // a hole it cannot be trusted. Plugins that claim by port
                // alone, or by the bytes already held, still may.
                Parser::Undecided => {
                    if !out.opts.plugins.is_empty() {
                        self.decide_plugins(meta, ts, out);
                    }
                    match (&self.parser, record) {
                        (Parser::Plugin, Some(r)) => plugin_piece(r, out),
                        _ => self.give_up(),
                    }
                }
                Parser::Plugin | Parser::Off => {}
            },
            StreamChunk::End { .. } => {
                if let Parser::Undecided = self.parser {
                    self.decide(meta, true, ts, out, None);
                }
                match &mut self.parser {
                    Parser::Active(_, p) => {
                        p.on_end(dir, ts, &mut self.scratch);
                        self.emit(meta, out);
                    }
                    Parser::Plugin => {
                        if let Some(r) = record {
                            plugin_piece(r, out);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn data(
        &mut self,
        meta: &FlowMeta,
        dir: Direction,
        offset: u64,
        bytes: &[u8],
        ts: u64,
        out: &mut Out,
    ) {
        match &mut self.parser {
            Parser::Active(_, p) => {
                if p.wants_data(dir) {
                    p.on_data(dir, ts, bytes, &mut self.scratch);
                    self.emit(meta, out);
                }
            }
            Parser::Undecided if self.held[dir.index()].is_empty() => {
                // The usual case: the first chunk decides, and is never
                // copied.
                self.held_at[dir.index()] = offset;
                self.decide(meta, false, ts, out, Some((dir, bytes)));
            }
            Parser::Undecided => {
                let held = &mut self.held[dir.index()];
                if held.len() + bytes.len() > DETECT_BYTES {
                    if out.opts.plugins.is_empty() {
                        // Too much without a match: nothing here parses it.
                        self.give_up();
                        return;
                    }
                    // Plugins get their last say on what was seen (bounded
                    // by the limit plus this one chunk).
                    held.extend_from_slice(bytes);
                    self.decide(meta, true, ts, out, None);
                    return;
                }
                held.extend_from_slice(bytes);
                self.decide(meta, false, ts, out, None);
            }
            Parser::Plugin | Parser::Off => {}
        }
    }

    fn on_datagram(
        &mut self,
        meta: &FlowMeta,
        dir: Direction,
        payload: &[u8],
        ts: u64,
        out: &mut Out,
    ) {
        let index = self.datagram_index[dir.index()];
        self.datagram_index[dir.index()] += 1;
        if let Parser::Undecided = self.parser {
            self.datagrams = self.datagrams.saturating_add(1);
            let (o, r): (&[u8], &[u8]) = match dir {
                Direction::Orig => (payload, &[]),
                Direction::Resp => (&[], payload),
            };
            let plugins = &out.opts.plugins;
            // A datagram is whole: a signature it does not match now, it
            // never will.
            match plugins.decide(Stage::First, meta, o, r, true) {
                Claim::Plugin(id) => self.claim(meta, vec![id], false, ts, out),
                _ => match detect(Transport::Udp, o, r, meta.orig_port, meta.resp_port) {
                    Detection::Found(p) if out.opts.protocols.allows(p) => self.start(p, true, out),
                    Detection::NeedMore if self.datagrams < DETECT_DATAGRAMS => return,
                    _ => match plugins.decide(Stage::Last, meta, o, r, true) {
                        Claim::Plugin(id) => self.claim(meta, vec![id], false, ts, out),
                        Claim::Ask(ids) => self.claim(meta, ids, true, ts, out),
                        _ => {
                            self.give_up();
                            out.stats.undetected += 1;
                        }
                    },
                },
            }
        }
        match &mut self.parser {
            Parser::Active(_, p) => {
                p.on_datagram(dir, ts, payload, &mut self.scratch);
                self.emit(meta, out);
            }
            Parser::Plugin => plugin_data(meta.seq, dir, ts, index, payload, out),
            _ => {}
        }
    }

    /// Runs detection on the held bytes of each side, with `fresh` (bytes
    /// of a side that holds none yet) standing in for its side; `last`: no
    /// more bytes will come, so "need more" means "no". When a parser is
    /// chosen it gets everything seen so far, originator first; otherwise
    /// `fresh` is held for the next try.
    fn decide(
        &mut self,
        meta: &FlowMeta,
        last: bool,
        ts: u64,
        out: &mut Out,
        fresh: Option<(Direction, &[u8])>,
    ) {
        let (orig, resp) = match fresh {
            Some((Direction::Orig, b)) => (b, &self.held[1][..]),
            Some((Direction::Resp, b)) => (&self.held[0][..], b),
            None => (&self.held[0][..], &self.held[1][..]),
        };
        let plugins = &out.opts.plugins;
        let first = plugins.decide(Stage::First, meta, orig, resp, last);
        if let Claim::Plugin(id) = first {
            self.claim(meta, vec![id], false, ts, out);
            self.replay_to_plugin(meta, ts, out, fresh);
            return;
        }
        let found = if out.opts.protocols.any() {
            detect(Transport::Tcp, orig, resp, meta.orig_port, meta.resp_port)
        } else {
            Detection::Unknown
        };
        // A side that has not spoken is no evidence yet: a request in an
        // unknown dialect may still get an `HTTP/1.x` reply.
        let silent_side = orig.is_empty() || resp.is_empty();
        // A first-priority plugin still waiting for bytes outranks the
        // built-ins: they wait with it.
        let first_waits = first == Claim::NeedMore;
        let found = match found {
            Detection::Found(_) if first_waits && !last => Detection::NeedMore,
            f => f,
        };
        match found {
            Detection::Found(p) if out.opts.protocols.allows(p) => {
                self.start(p, false, out);
                let held = std::mem::take(&mut self.held);
                if let Parser::Active(_, parser) = &mut self.parser {
                    for d in [Direction::Orig, Direction::Resp] {
                        let bytes = match fresh {
                            Some((f, b)) if f == d => b,
                            _ => &held[d.index()][..],
                        };
                        if !bytes.is_empty() {
                            parser.on_data(d, ts, bytes, &mut self.scratch);
                        }
                    }
                }
                self.emit(meta, out);
                return;
            }
            Detection::NeedMore if !last => {}
            Detection::Unknown if !last && (silent_side || first_waits) => {}
            _ => match plugins.decide(Stage::Last, meta, orig, resp, last) {
                Claim::NeedMore => {}
                claim => {
                    match claim {
                        Claim::Plugin(id) => self.claim(meta, vec![id], false, ts, out),
                        Claim::Ask(ids) => self.claim(meta, ids, true, ts, out),
                        _ => {
                            self.give_up();
                            out.stats.undetected += 1;
                            return;
                        }
                    }
                    self.replay_to_plugin(meta, ts, out, fresh);
                    return;
                }
            },
        }
        if let Some((d, b)) = fresh {
            if b.len() <= DETECT_BYTES {
                self.held[d.index()].extend_from_slice(b);
            } else if out.opts.plugins.is_empty() {
                self.give_up();
            } else {
                // Plugins get their last say on this one chunk.
                self.held[d.index()].extend_from_slice(b);
                self.decide(meta, true, ts, out, None);
            }
        }
    }

    /// Plugins alone decide, on what is held, with no more bytes to come
    /// before a gap; the held bytes go to the plugin that claims.
    fn decide_plugins(&mut self, meta: &FlowMeta, ts: u64, out: &mut Out) {
        let plugins = &out.opts.plugins;
        let (orig, resp) = (&self.held[0][..], &self.held[1][..]);
        let claim = match plugins.decide(Stage::First, meta, orig, resp, true) {
            Claim::Plugin(id) => Claim::Plugin(id),
            _ => plugins.decide(Stage::Last, meta, orig, resp, true),
        };
        match claim {
            Claim::Plugin(id) => self.claim(meta, vec![id], false, ts, out),
            Claim::Ask(ids) => self.claim(meta, ids, true, ts, out),
            _ => return,
        }
        self.replay_to_plugin(meta, ts, out, None);
    }

    /// Hands a flow to plugins: the claim event; its pieces follow.
    fn claim(&mut self, meta: &FlowMeta, plugins: Vec<u16>, ask: bool, ts: u64, out: &mut Out) {
        out.stats.plugin_flows += 1;
        self.parser = Parser::Plugin;
        out.out.push(AnalyzeEvent::Plugin(PluginEvent::Claim {
            flow: *meta,
            plugins,
            ask,
            ts,
        }));
    }

    /// The bytes seen while undecided (and `fresh`, a side's first bytes
    /// not yet held), as the claimed flow's first pieces.
    fn replay_to_plugin(
        &mut self,
        meta: &FlowMeta,
        ts: u64,
        out: &mut Out,
        fresh: Option<(Direction, &[u8])>,
    ) {
        let held = std::mem::take(&mut self.held);
        for d in [Direction::Orig, Direction::Resp] {
            let bytes = match fresh {
                Some((f, b)) if f == d => b,
                _ => &held[d.index()][..],
            };
            if !bytes.is_empty() {
                plugin_data(meta.seq, d, ts, self.held_at[d.index()], bytes, out);
            }
        }
    }

    fn start(&mut self, p: Protocol, udp: bool, out: &mut Out) {
        let i = match p {
            Protocol::Http => 0,
            Protocol::Dns => 1,
            Protocol::Tls => 2,
        };
        out.stats.detected[i] += 1;
        self.parser = Parser::Active(p, new_parser(p, udp, &out.opts.sessions));
    }

    fn give_up(&mut self) {
        self.parser = Parser::Off;
        self.held = [Vec::new(), Vec::new()];
    }

    fn finish(&mut self, meta: &FlowMeta, ts: u64, reason: EndReason, out: &mut Out) {
        if let Parser::Undecided = self.parser {
            if !out.opts.plugins.is_empty() {
                self.decide_plugins(meta, ts, out);
            }
        }
        match &mut self.parser {
            Parser::Active(_, p) => {
                p.finish(ts, &mut self.scratch);
                self.emit(meta, out);
            }
            Parser::Plugin => out.out.push(AnalyzeEvent::Plugin(PluginEvent::Close {
                flow: meta.seq,
                ts,
                reason,
            })),
            _ => {}
        }
        self.held = [Vec::new(), Vec::new()];
    }

    /// Moves the parser's records out, with the flow's identity.
    fn emit(&mut self, meta: &FlowMeta, out: &mut Out) {
        for event in self.scratch.drain(..) {
            match &event {
                SessionEvent::Http(_) => out.stats.http_transactions += 1,
                SessionEvent::Dns(_) => out.stats.dns_transactions += 1,
                SessionEvent::TlsClientHello(_) | SessionEvent::TlsServerHello(_) => {
                    out.stats.tls_handshakes += 1
                }
                SessionEvent::Anomaly(_) => out.stats.anomalies += 1,
                _ => {}
            }
            out.out.push(AnalyzeEvent::Session(Box::new(SessionRecord {
                flow: *meta,
                event,
            })));
        }
    }
}

/// A piece of a plugin's flow (data already in the arena).
fn plugin_piece(r: StreamRecord, out: &mut Out) {
    if let StreamPiece::Data { len, .. } = r.piece {
        out.stats.plugin_bytes += len as u64;
    }
    out.out.push(AnalyzeEvent::Plugin(PluginEvent::Piece(r)));
}

/// One piece of data for a plugin, copied into the arena.
fn plugin_data(flow: u64, dir: Direction, ts: u64, offset: u64, bytes: &[u8], out: &mut Out) {
    let start = out.arena.len();
    out.arena.extend_from_slice(bytes);
    let piece = StreamPiece::Data {
        offset,
        start,
        len: bytes.len(),
    };
    plugin_piece(
        StreamRecord {
            flow,
            dir,
            ts,
            piece,
        },
        out,
    );
}
