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

use super::{
    AnalyzeEvent, AnalyzeOptions, AnalyzeStats, Direction, FlowMeta, SessionRecord, StreamPiece,
    StreamRecord,
};
use crate::flow::tracker::Tracked;
use crate::reassembly::{Memcap, StreamChunk, TcpReassembler, TcpSegment};
use crate::session::{
    detect, new_parser, Detection, Direction as SessionDir, Protocol, SessionEvent, SessionParser,
    Transport,
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

/// The layers' shared state, borrowed for one call.
pub(super) struct Cx<'a> {
    pub opts: &'a AnalyzeOptions,
    pub memcap: &'a mut Memcap,
    pub out: &'a mut Vec<AnalyzeEvent>,
    pub arena: &'a mut Vec<u8>,
    pub stats: &'a mut AnalyzeStats,
}

/// Where a flow's pieces and records go (everything of [`Cx`] but the
/// memcap, which the reassembler holds during its calls).
struct Out<'a, 'b> {
    opts: &'a AnalyzeOptions,
    out: &'b mut Vec<AnalyzeEvent>,
    arena: &'b mut Vec<u8>,
    stats: &'b mut AnalyzeStats,
}

enum Parser {
    Undecided,
    Active(Protocol, Box<dyn SessionParser>),
    Off,
}

/// The parsing side of a flow.
struct Session {
    parser: Parser,
    /// Bytes of each direction seen while `parser` is undecided.
    held: [Vec<u8>; 2],
    datagrams: u8,
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

fn sdir(d: Direction) -> SessionDir {
    match d {
        Direction::Orig => SessionDir::Orig,
        Direction::Resp => SessionDir::Resp,
    }
}

/// A reassembler direction in the flow's current orientation.
fn orient(d: Direction, swapped: bool) -> Direction {
    match (d, swapped) {
        (d, false) => d,
        (Direction::Orig, true) => Direction::Resp,
        (Direction::Resp, true) => Direction::Orig,
    }
}

fn idx(d: Direction) -> usize {
    match d {
        Direction::Orig => 0,
        Direction::Resp => 1,
    }
}

impl FlowState {
    pub fn new(meta: FlowMeta, opts: &AnalyzeOptions) -> Self {
        let parses = opts.protocols.any() && (meta.proto == TCP || meta.proto == UDP);
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
                datagrams: 0,
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
                if self.tcp.is_none() && !self.wants_stream(cx.opts) {
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
                    .get_or_insert_with(|| TcpReassembler::new(cx.opts.reassembly));
                let mut out = Out {
                    opts: cx.opts,
                    out: cx.out,
                    arena: cx.arena,
                    stats: cx.stats,
                };
                tcp.on_segment(&seg, cx.memcap, &mut |dir, chunk| {
                    session.on_chunk(&meta, orient(dir, swapped), chunk, ts, &mut out);
                });
            }
            (UDP, _) if !payload.is_empty() => {
                let dir = if t.from_orig {
                    Direction::Orig
                } else {
                    Direction::Resp
                };
                let mut out = Out {
                    opts: cx.opts,
                    out: cx.out,
                    arena: cx.arena,
                    stats: cx.stats,
                };
                self.session
                    .on_datagram(&self.meta, dir, payload, ts, &mut out);
            }
            _ => {}
        }
    }

    /// The flow ended at `ts`: the reassembly delivers or gaps what it
    /// holds, the parser flushes pending records; the memcap gets its bytes
    /// back.
    pub fn finish(&mut self, ts: u64, cx: &mut Cx<'_>) {
        let meta = self.meta;
        let session = &mut self.session;
        let mut out = Out {
            opts: cx.opts,
            out: cx.out,
            arena: cx.arena,
            stats: cx.stats,
        };
        let swapped = self.swapped;
        if let Some(tcp) = self.tcp.as_mut() {
            tcp.finish(cx.memcap, &mut |dir, chunk| {
                session.on_chunk(&meta, orient(dir, swapped), chunk, ts, &mut out);
            });
        }
        session.finish(&meta, ts, &mut out);
    }
}

impl Session {
    fn on_chunk(
        &mut self,
        meta: &FlowMeta,
        dir: Direction,
        chunk: StreamChunk<'_>,
        ts: u64,
        out: &mut Out<'_, '_>,
    ) {
        let piece = match chunk {
            StreamChunk::Data { offset, bytes } => {
                out.stats.stream_bytes += bytes.len() as u64;
                if out.opts.streams {
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
        if let (true, Some(piece)) = (out.opts.streams, piece) {
            out.out.push(AnalyzeEvent::Stream(StreamRecord {
                flow: meta.seq,
                dir,
                ts,
                piece,
            }));
        }
        match chunk {
            StreamChunk::Data { bytes, .. } => self.data(meta, dir, bytes, ts, out),
            StreamChunk::Gap { len, .. } => match &mut self.parser {
                Parser::Active(_, p) => {
                    p.on_gap(sdir(dir), ts, len, &mut self.scratch);
                    self.emit(meta, out);
                }
                // The start of a stream is what tells protocols apart; past
                // a hole it cannot be trusted.
                Parser::Undecided => self.give_up(),
                Parser::Off => {}
            },
            StreamChunk::End { .. } => {
                if let Parser::Undecided = self.parser {
                    self.decide(meta, Transport::Tcp, true, ts, out);
                }
                if let Parser::Active(_, p) = &mut self.parser {
                    p.on_end(sdir(dir), ts, &mut self.scratch);
                    self.emit(meta, out);
                }
            }
        }
    }

    fn data(&mut self, meta: &FlowMeta, dir: Direction, bytes: &[u8], ts: u64, out: &mut Out) {
        match &mut self.parser {
            Parser::Active(_, p) => {
                if p.wants_data(sdir(dir)) {
                    p.on_data(sdir(dir), ts, bytes, &mut self.scratch);
                    self.emit(meta, out);
                }
            }
            Parser::Undecided if self.held[idx(dir)].is_empty() => {
                // The usual case: the first chunk decides, and nothing needs
                // holding.
                let (o, r): (&[u8], &[u8]) = match dir {
                    Direction::Orig => (bytes, &self.held[1]),
                    Direction::Resp => (&self.held[0], bytes),
                };
                let found = detect(Transport::Tcp, o, r, meta.orig_port, meta.resp_port);
                if let Detection::Found(p) = found {
                    if out.opts.protocols.allows(p) {
                        self.start(p, false, out);
                        let other = std::mem::take(&mut self.held[1 - idx(dir)]);
                        if let Parser::Active(_, parser) = &mut self.parser {
                            // What the other side said before comes first.
                            let od = sdir(match dir {
                                Direction::Orig => Direction::Resp,
                                Direction::Resp => Direction::Orig,
                            });
                            if !other.is_empty() {
                                parser.on_data(od, ts, &other, &mut self.scratch);
                            }
                            parser.on_data(sdir(dir), ts, bytes, &mut self.scratch);
                        }
                        self.emit(meta, out);
                        return;
                    }
                }
                if bytes.len() > DETECT_BYTES {
                    self.give_up();
                    return;
                }
                self.held[idx(dir)].extend_from_slice(bytes);
                self.decide(meta, Transport::Tcp, false, ts, out);
            }
            Parser::Undecided => {
                let held = &mut self.held[idx(dir)];
                let room = DETECT_BYTES - held.len().min(DETECT_BYTES);
                if bytes.len() > room {
                    // Too much without a match: nothing here parses it.
                    self.give_up();
                    return;
                }
                held.extend_from_slice(bytes);
                self.decide(meta, Transport::Tcp, false, ts, out);
            }
            Parser::Off => {}
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
        if let Parser::Undecided = self.parser {
            self.datagrams = self.datagrams.saturating_add(1);
            let (o, r): (&[u8], &[u8]) = match dir {
                Direction::Orig => (payload, &[]),
                Direction::Resp => (&[], payload),
            };
            match detect(Transport::Udp, o, r, meta.orig_port, meta.resp_port) {
                Detection::Found(p) if out.opts.protocols.allows(p) => self.start(p, true, out),
                Detection::NeedMore if self.datagrams < DETECT_DATAGRAMS => return,
                _ => {
                    self.give_up();
                    out.stats.undetected += 1;
                }
            }
        }
        if let Parser::Active(_, p) = &mut self.parser {
            p.on_datagram(sdir(dir), ts, payload, &mut self.scratch);
            self.emit(meta, out);
        }
    }

    /// Runs detection on the held bytes; `last`: no more bytes will come,
    /// so "need more" means "no".
    fn decide(
        &mut self,
        meta: &FlowMeta,
        transport: Transport,
        last: bool,
        ts: u64,
        out: &mut Out,
    ) {
        let found = detect(
            transport,
            &self.held[0],
            &self.held[1],
            meta.orig_port,
            meta.resp_port,
        );
        match found {
            Detection::Found(p) if out.opts.protocols.allows(p) => {
                self.start(p, false, out);
                let held = std::mem::take(&mut self.held);
                if let Parser::Active(_, parser) = &mut self.parser {
                    for (d, bytes) in [(SessionDir::Orig, &held[0]), (SessionDir::Resp, &held[1])] {
                        if !bytes.is_empty() {
                            parser.on_data(d, ts, bytes, &mut self.scratch);
                        }
                    }
                }
                self.emit(meta, out);
            }
            Detection::NeedMore if !last => {}
            // A side that has not spoken is no evidence yet: a request in
            // an unknown dialect may still get an `HTTP/1.x` reply.
            Detection::Unknown if !last && (self.held[0].is_empty() || self.held[1].is_empty()) => {
            }
            _ => {
                self.give_up();
                out.stats.undetected += 1;
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

    fn finish(&mut self, meta: &FlowMeta, ts: u64, out: &mut Out) {
        if let Parser::Active(_, p) = &mut self.parser {
            p.finish(ts, &mut self.scratch);
            self.emit(meta, out);
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
