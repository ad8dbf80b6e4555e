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
    pub fn finish(&mut self, ts: u64, cx: &mut Cx<'_>) {
        let meta = self.meta;
        let session = &mut self.session;
        let swapped = self.swapped;
        if let Some(tcp) = self.tcp.as_mut() {
            tcp.finish(cx.memcap, &mut |dir, chunk| {
                session.on_chunk(&meta, orient(dir, swapped), chunk, ts, &mut cx.out);
            });
        }
        session.finish(&meta, ts, &mut cx.out);
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
                    p.on_gap(dir, ts, len, &mut self.scratch);
                    self.emit(meta, out);
                }
                // The start of a stream is what tells protocols apart; past
                // a hole it cannot be trusted.
                Parser::Undecided => self.give_up(),
                Parser::Off => {}
            },
            StreamChunk::End { .. } => {
                if let Parser::Undecided = self.parser {
                    self.decide(meta, true, ts, out, None);
                }
                if let Parser::Active(_, p) = &mut self.parser {
                    p.on_end(dir, ts, &mut self.scratch);
                    self.emit(meta, out);
                }
            }
        }
    }

    fn data(&mut self, meta: &FlowMeta, dir: Direction, bytes: &[u8], ts: u64, out: &mut Out) {
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
                self.decide(meta, false, ts, out, Some((dir, bytes)));
            }
            Parser::Undecided => {
                let held = &mut self.held[dir.index()];
                if held.len() + bytes.len() > DETECT_BYTES {
                    // Too much without a match: nothing here parses it.
                    self.give_up();
                    return;
                }
                held.extend_from_slice(bytes);
                self.decide(meta, false, ts, out, None);
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
            p.on_datagram(dir, ts, payload, &mut self.scratch);
            self.emit(meta, out);
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
        let found = detect(Transport::Tcp, orig, resp, meta.orig_port, meta.resp_port);
        // A side that has not spoken is no evidence yet: a request in an
        // unknown dialect may still get an `HTTP/1.x` reply.
        let silent_side = orig.is_empty() || resp.is_empty();
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
            Detection::Unknown if !last && silent_side => {}
            _ => {
                self.give_up();
                out.stats.undetected += 1;
                return;
            }
        }
        if let Some((d, b)) = fresh {
            if b.len() > DETECT_BYTES {
                self.give_up();
            } else {
                self.held[d.index()].extend_from_slice(b);
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
