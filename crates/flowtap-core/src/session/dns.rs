//! DNS over UDP (one message per datagram) and over TCP (RFC 1035 §4.2.2:
//! each message prefixed by a 2-byte length; several per segment or one
//! split over many), with query/response pairing.
//!
//! Decoding is lenient and partial, the way an analyzer wants it: the header
//! and every record up to the first damaged one are kept and the message is
//! flagged with [`DnsMessage::error`]. Names are bounded: at most 255 wire
//! bytes and [`MAX_JUMPS`] compression pointers, so a pointer loop is an
//! error after a fixed amount of work, never a hang. Written here rather than
//! with simple-dns (evaluated): its `Packet::parse` fails the whole message
//! on one bad record (a damaged additional section loses the question too)
//! and sizes its lists from the header counts, so a 12-byte message can ask
//! for 65535 records' worth of memory; here lists are capped.
//!
//! Pairing: a response matches the oldest pending query with the same
//! (id, lower-cased first question name, qtype), regardless of direction
//! (the QR bit decides). Queries wait at most
//! [`SessionOptions::dns_timeout_ns`] and the table holds at most
//! [`SessionOptions::dns_max_pending`]; evicted queries are emitted alone.

use std::collections::VecDeque;

use super::wire::{bounded_string, push_bounded, Reader};
use super::{
    Anomaly, AnomalyKind, Direction, Protocol, SessionEvent, SessionOptions, SessionParser,
};

/// Compression pointers followed in one name before it is an error.
pub const MAX_JUMPS: usize = 64;
/// Longest name in wire bytes (RFC 1035 §2.3.4).
pub const MAX_NAME: usize = 255;
/// Largest DNS-over-TCP message (the 2-byte length allows no more).
const MAX_TCP_MESSAGE: usize = 65535;

/// One question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsQuestion {
    /// Dotted name, no trailing dot; the root is `""`.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

/// Record data, typed for the common types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A([u8; 4]),
    Aaaa([u8; 16]),
    Cname(String),
    Ns(String),
    Ptr(String),
    Mx {
        preference: u16,
        exchange: String,
    },
    /// The character-strings, each bounded.
    Txt(Vec<String>),
    Soa {
        mname: String,
        rname: String,
        serial: u32,
        refresh: u32,
        retry: u32,
        expire: u32,
        minimum: u32,
    },
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    /// Any other type (or a typed one that did not decode), the first
    /// [`SessionOptions::max_value`] bytes.
    Other(Vec<u8>),
}

/// One resource record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    pub name: String,
    pub rtype: u16,
    /// For OPT (41) the requestor's UDP payload size.
    pub class: u16,
    /// For OPT (41) the extended rcode, version and flags.
    pub ttl: u32,
    pub data: RData,
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DnsMessage {
    pub id: u16,
    /// The raw flags word; see the accessors.
    pub flags: u16,
    /// Counts from the header (what the message claims).
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
    pub questions: Vec<DnsQuestion>,
    pub answers: Vec<DnsRecord>,
    pub authority: Vec<DnsRecord>,
    pub additional: Vec<DnsRecord>,
    /// Some records were decoded but not kept ([`SessionOptions::max_list`]).
    pub truncated: bool,
    /// Decoding stopped early: [`AnomalyKind::Malformed`] or
    /// [`AnomalyKind::BadName`].
    pub error: Option<AnomalyKind>,
    /// Message length in bytes (without the TCP length prefix).
    pub len: usize,
    /// Bytes the header, questions and records covered: `len` for a
    /// message with nothing after its last record.
    pub parsed: usize,
}

impl DnsMessage {
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }
    pub fn aa(&self) -> bool {
        self.flags & 0x0400 != 0
    }
    pub fn tc(&self) -> bool {
        self.flags & 0x0200 != 0
    }
    pub fn rd(&self) -> bool {
        self.flags & 0x0100 != 0
    }
    pub fn ra(&self) -> bool {
        self.flags & 0x0080 != 0
    }
    /// The 4-bit header rcode (without the EDNS extension).
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }

    /// The EDNS(0) OPT pseudo-record of the additional section (RFC 6891),
    /// if any.
    pub fn edns(&self) -> Option<Edns> {
        let opt = self.additional.iter().find(|r| r.rtype == 41)?;
        Some(Edns {
            udp_payload_size: opt.class,
            version: (opt.ttl >> 16) as u8,
            dnssec_ok: opt.ttl & 0x8000 != 0,
        })
    }

    /// The full 12-bit rcode: the header's 4 bits extended by the OPT
    /// record's upper 8 bits when there is one.
    pub fn extended_rcode(&self) -> u16 {
        let hi = self
            .additional
            .iter()
            .find(|r| r.rtype == 41)
            .map_or(0, |r| (r.ttl >> 24) as u16);
        (hi << 4) | u16::from(self.rcode())
    }

    /// Approximate heap bytes held, for memory accounting.
    pub fn heap_size(&self) -> usize {
        let rdata = |d: &RData| match d {
            RData::Cname(n) | RData::Ns(n) | RData::Ptr(n) => n.len(),
            RData::Mx { exchange: n, .. } | RData::Srv { target: n, .. } => n.len(),
            RData::Soa { mname, rname, .. } => mname.len() + rname.len(),
            RData::Txt(v) => v.iter().map(|s| s.len() + 24).sum(),
            RData::Other(v) => v.len(),
            RData::A(_) | RData::Aaaa(_) => 0,
        };
        let rec = |r: &DnsRecord| std::mem::size_of::<DnsRecord>() + r.name.len() + rdata(&r.data);
        self.questions
            .iter()
            .map(|q| std::mem::size_of::<DnsQuestion>() + q.name.len())
            .sum::<usize>()
            + self
                .answers
                .iter()
                .chain(&self.authority)
                .chain(&self.additional)
                .map(rec)
                .sum::<usize>()
    }
}

/// Fields of the EDNS(0) OPT pseudo-record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    pub udp_payload_size: u16,
    pub version: u8,
    pub dnssec_ok: bool,
}

/// A query with its response; one of them may be missing (timeout, eviction,
/// response without query, end of flow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsTransaction {
    pub query: Option<DnsMessage>,
    pub query_ts: u64,
    pub query_dir: Option<Direction>,
    pub response: Option<DnsMessage>,
    pub response_ts: u64,
}

#[derive(Debug)]
enum NameError {
    Short,
    Bad,
}

/// Reads the (possibly compressed) name at `pos` of `msg`; returns it and the
/// position after it in the original (uncompressed) place.
fn read_name(msg: &[u8], pos: usize, max: usize) -> Result<(String, usize), NameError> {
    let mut out: Vec<u8> = Vec::new();
    let mut p = pos;
    let mut after: Option<usize> = None;
    let mut jumps = 0usize;
    let mut wire = 1usize; // the terminating zero
    loop {
        let len = *msg.get(p).ok_or(NameError::Short)? as usize;
        match len & 0xc0 {
            0x00 if len == 0 => {
                p += 1;
                break;
            }
            0x00 => {
                let label = msg.get(p + 1..p + 1 + len).ok_or(NameError::Short)?;
                wire += len + 1;
                if wire > MAX_NAME {
                    return Err(NameError::Bad);
                }
                if !out.is_empty() {
                    out.push(b'.');
                }
                out.extend_from_slice(label);
                p += 1 + len;
            }
            0xc0 => {
                let lo = *msg.get(p + 1).ok_or(NameError::Short)? as usize;
                let target = ((len & 0x3f) << 8) | lo;
                after.get_or_insert(p + 2);
                jumps += 1;
                if jumps > MAX_JUMPS || target >= msg.len() {
                    return Err(NameError::Bad);
                }
                p = target;
            }
            // 0x40/0x80: extended label types (RFC 6891 §5), obsolete.
            _ => return Err(NameError::Bad),
        }
    }
    let (s, _) = bounded_string(&out, max);
    Ok((s, after.unwrap_or(p)))
}

struct Decoder<'a> {
    msg: &'a [u8],
    pos: usize,
    max_value: usize,
}

impl Decoder<'_> {
    fn name(&mut self) -> Result<String, AnomalyKind> {
        match read_name(self.msg, self.pos, self.max_value) {
            Ok((s, next)) => {
                self.pos = next;
                Ok(s)
            }
            Err(NameError::Short) => Err(AnomalyKind::Malformed),
            Err(NameError::Bad) => Err(AnomalyKind::BadName),
        }
    }

    fn fixed(&mut self, n: usize) -> Result<&[u8], AnomalyKind> {
        let s = self
            .msg
            .get(self.pos..self.pos + n)
            .ok_or(AnomalyKind::Malformed)?;
        self.pos += n;
        Ok(s)
    }

    fn u16(&mut self) -> Result<u16, AnomalyKind> {
        self.fixed(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, AnomalyKind> {
        self.fixed(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn record(&mut self) -> Result<(DnsRecord, bool), AnomalyKind> {
        let name = self.name()?;
        let rtype = self.u16()?;
        let class = self.u16()?;
        let ttl = self.u32()?;
        let rdlen = self.u16()? as usize;
        let start = self.pos;
        let end = start + rdlen;
        if end > self.msg.len() {
            return Err(AnomalyKind::Malformed);
        }
        let typed = matches!(rtype, 1 | 2 | 5 | 6 | 12 | 15 | 16 | 28 | 33);
        let (data, ok) = match self.rdata(rtype, start, end) {
            Some(d) => (d, true),
            None => (
                RData::Other(self.msg[start..end.min(start + self.max_value)].to_vec()),
                !typed,
            ),
        };
        self.pos = end;
        Ok((
            DnsRecord {
                name,
                rtype,
                class,
                ttl,
                data,
            },
            ok,
        ))
    }

    /// Typed data of `msg[start..end]`, `None` when it does not decode as
    /// its type. Names inside may point anywhere earlier in the message but
    /// must end inside the record.
    fn rdata(&self, rtype: u16, start: usize, end: usize) -> Option<RData> {
        let raw = &self.msg[start..end];
        let name_at = |pos: usize| -> Option<(String, usize)> {
            let (s, next) = read_name(self.msg, pos, self.max_value).ok()?;
            (next <= end).then_some((s, next))
        };
        let mut r = Reader::new(raw);
        Some(match rtype {
            1 => RData::A(raw.try_into().ok()?),
            28 => RData::Aaaa(raw.try_into().ok()?),
            5 | 2 | 12 => {
                let (n, next) = name_at(start)?;
                if next != end {
                    return None;
                }
                match rtype {
                    5 => RData::Cname(n),
                    2 => RData::Ns(n),
                    _ => RData::Ptr(n),
                }
            }
            15 => {
                let preference = r.u16()?;
                let (exchange, _) = name_at(start + 2)?;
                RData::Mx {
                    preference,
                    exchange,
                }
            }
            33 => {
                let (priority, weight, port) = (r.u16()?, r.u16()?, r.u16()?);
                let (target, _) = name_at(start + 6)?;
                RData::Srv {
                    priority,
                    weight,
                    port,
                    target,
                }
            }
            6 => {
                let (mname, p) = name_at(start)?;
                let (rname, p) = name_at(p)?;
                let mut r = Reader::new(self.msg.get(p..end)?);
                RData::Soa {
                    mname,
                    rname,
                    serial: r.u32()?,
                    refresh: r.u32()?,
                    retry: r.u32()?,
                    expire: r.u32()?,
                    minimum: r.u32()?,
                }
            }
            16 => {
                let mut v = Vec::new();
                while !r.is_empty() {
                    let s = r.vec8()?.rest();
                    if v.len() < 64 {
                        v.push(bounded_string(s, self.max_value).0);
                    }
                }
                RData::Txt(v)
            }
            _ => return None,
        })
    }
}

/// Decodes one DNS message, keeping at most `max_list` entries per section
/// and `max_value` bytes per string. Never fails: damage is in `error`.
pub fn parse_message(msg: &[u8], max_list: usize, max_value: usize) -> DnsMessage {
    let mut m = DnsMessage {
        len: msg.len(),
        ..DnsMessage::default()
    };
    let mut d = Decoder {
        msg,
        pos: 0,
        max_value,
    };
    let header = (|| -> Result<(), AnomalyKind> {
        m.id = d.u16()?;
        m.flags = d.u16()?;
        m.qdcount = d.u16()?;
        m.ancount = d.u16()?;
        m.nscount = d.u16()?;
        m.arcount = d.u16()?;
        Ok(())
    })();
    if let Err(e) = header {
        m.error = Some(e);
        return m;
    }
    for _ in 0..m.qdcount {
        let q = (|| -> Result<DnsQuestion, AnomalyKind> {
            let name = d.name()?;
            Ok(DnsQuestion {
                name,
                qtype: d.u16()?,
                qclass: d.u16()?,
            })
        })();
        match q {
            Ok(q) => m.truncated |= !push_bounded(&mut m.questions, max_list, q),
            Err(e) => {
                m.error = Some(e);
                return m;
            }
        }
    }
    for section in 0..3 {
        let count = [m.ancount, m.nscount, m.arcount][section];
        for _ in 0..count {
            match d.record() {
                Ok((r, ok)) => {
                    if !ok {
                        m.error.get_or_insert(AnomalyKind::Malformed);
                    }
                    let list = match section {
                        0 => &mut m.answers,
                        1 => &mut m.authority,
                        _ => &mut m.additional,
                    };
                    m.truncated |= !push_bounded(list, max_list, r);
                }
                Err(e) => {
                    m.error = Some(e);
                    return m;
                }
            }
        }
    }
    m.parsed = d.pos;
    m
}

/// Pairing key: id, lower-cased first question name, qtype.
type Key = (u16, String, u16);

fn key_of(m: &DnsMessage) -> Key {
    match m.questions.first() {
        Some(q) => (m.id, q.name.to_ascii_lowercase(), q.qtype),
        None => (m.id, String::new(), 0),
    }
}

struct Pending {
    key: Key,
    msg: DnsMessage,
    ts: u64,
    dir: Direction,
}

#[derive(Default)]
struct TcpSide {
    buf: Vec<u8>,
    /// Bytes still to drop of a message a gap cut into.
    skip: usize,
    stopped: bool,
    ended: bool,
}

/// DNS session parser for one UDP or TCP flow.
pub struct DnsParser {
    opts: SessionOptions,
    tcp: bool,
    sides: [TcpSide; 2],
    pending: VecDeque<Pending>,
}

impl DnsParser {
    pub fn new_udp(opts: SessionOptions) -> Self {
        Self::new(opts, false)
    }

    pub fn new_tcp(opts: SessionOptions) -> Self {
        Self::new(opts, true)
    }

    fn new(opts: SessionOptions, tcp: bool) -> Self {
        DnsParser {
            opts,
            tcp,
            sides: Default::default(),
            pending: VecDeque::new(),
        }
    }

    fn anomaly(dir: Direction, ts: u64, kind: AnomalyKind, out: &mut Vec<SessionEvent>) {
        out.push(SessionEvent::Anomaly(Anomaly {
            protocol: Protocol::Dns,
            dir,
            ts,
            kind,
        }));
    }

    fn expire(&mut self, now: u64, out: &mut Vec<SessionEvent>) {
        while let Some(p) = self.pending.front() {
            if now.saturating_sub(p.ts) <= self.opts.dns_timeout_ns {
                break;
            }
            if let Some(p) = self.pending.pop_front() {
                out.push(Self::alone(p));
            }
        }
    }

    fn alone(p: Pending) -> SessionEvent {
        SessionEvent::Dns(Box::new(DnsTransaction {
            query: Some(p.msg),
            query_ts: p.ts,
            query_dir: Some(p.dir),
            response: None,
            response_ts: 0,
        }))
    }

    fn on_message(&mut self, dir: Direction, ts: u64, bytes: &[u8], out: &mut Vec<SessionEvent>) {
        self.expire(ts, out);
        let msg = parse_message(bytes, self.opts.max_list, self.opts.max_value);
        if let Some(e) = msg.error {
            Self::anomaly(dir, ts, e, out);
        }
        let key = key_of(&msg);
        if !msg.is_response() {
            if self.pending.len() >= self.opts.dns_max_pending.max(1) {
                if let Some(p) = self.pending.pop_front() {
                    Self::anomaly(dir, ts, AnomalyKind::PendingOverflow, out);
                    out.push(Self::alone(p));
                }
            }
            self.pending.push_back(Pending { key, msg, ts, dir });
            return;
        }
        let found = self.pending.iter().position(|p| p.key == key);
        let (query, query_ts, query_dir) = match found.and_then(|i| self.pending.remove(i)) {
            Some(p) => (Some(p.msg), p.ts, Some(p.dir)),
            None => (None, 0, None),
        };
        out.push(SessionEvent::Dns(Box::new(DnsTransaction {
            query,
            query_ts,
            query_dir,
            response: Some(msg),
            response_ts: ts,
        })));
    }

    fn flush(&mut self, out: &mut Vec<SessionEvent>) {
        while let Some(p) = self.pending.pop_front() {
            out.push(Self::alone(p));
        }
    }
}

impl SessionParser for DnsParser {
    fn protocol(&self) -> Protocol {
        Protocol::Dns
    }

    fn on_data(&mut self, dir: Direction, ts: u64, data: &[u8], out: &mut Vec<SessionEvent>) {
        if !self.tcp {
            self.on_message(dir, ts, data, out);
            return;
        }
        let side = &mut self.sides[dir.index()];
        if side.stopped || side.ended {
            return;
        }
        let skip = side.skip.min(data.len());
        side.skip -= skip;
        let mut data = &data[skip..];
        // Messages wholly inside `data` are read in place; only a message
        // split across chunks is copied, so the buffer never holds more
        // than one message (≤ 2 + 65535 bytes) whatever the chunk size.
        while !data.is_empty() {
            let mut buf = std::mem::take(&mut self.sides[dir.index()].buf);
            if buf.is_empty() {
                while let Some(l) = data.get(..2) {
                    let len = u16::from_be_bytes([l[0], l[1]]) as usize;
                    let Some(msg) = data.get(2..2 + len) else {
                        break;
                    };
                    self.on_message(dir, ts, msg, out);
                    data = &data[2 + len..];
                }
                buf.extend_from_slice(data);
                data = &[];
            } else {
                let want = match buf.get(..2) {
                    Some(l) => 2 + u16::from_be_bytes([l[0], l[1]]) as usize,
                    None => 2,
                };
                let take = want.saturating_sub(buf.len()).min(data.len());
                buf.extend_from_slice(&data[..take]);
                data = &data[take..];
                if buf.len() >= 2 {
                    let len = u16::from_be_bytes([buf[0], buf[1]]) as usize;
                    if buf.len() == 2 + len {
                        self.on_message(dir, ts, &buf[2..], out);
                        buf.clear();
                    }
                }
            }
            self.sides[dir.index()].buf = buf;
        }
        debug_assert!(self.sides[dir.index()].buf.len() < 2 + MAX_TCP_MESSAGE);
    }

    fn on_gap(&mut self, dir: Direction, ts: u64, len: u64, out: &mut Vec<SessionEvent>) {
        if !self.tcp {
            return;
        }
        let side = &mut self.sides[dir.index()];
        if side.stopped || side.ended {
            return;
        }
        // A gap inside a message whose length we know costs that message
        // only; anywhere else the framing is lost.
        let need = match side.buf.get(..2) {
            Some(l) => {
                (2 + u16::from_be_bytes([l[0], l[1]]) as usize).saturating_sub(side.buf.len())
            }
            None if side.skip > 0 => side.skip,
            None => 0,
        };
        if len > 0 && len <= need as u64 {
            side.skip = need - len as usize;
            side.buf.clear();
            Self::anomaly(dir, ts, AnomalyKind::GapSkipped, out);
        } else if len > 0 {
            side.stopped = true;
            side.buf = Vec::new();
            Self::anomaly(dir, ts, AnomalyKind::GapUnrecoverable, out);
        }
    }

    fn on_end(&mut self, dir: Direction, ts: u64, out: &mut Vec<SessionEvent>) {
        let side = &mut self.sides[dir.index()];
        if !side.ended {
            side.ended = true;
            if self.tcp && !side.stopped && !side.buf.is_empty() {
                Self::anomaly(dir, ts, AnomalyKind::Incomplete, out);
            }
            side.buf = Vec::new();
        }
        if self.sides.iter().all(|s| s.ended) {
            self.flush(out);
        }
    }

    fn on_datagram(&mut self, dir: Direction, ts: u64, data: &[u8], out: &mut Vec<SessionEvent>) {
        if self.tcp {
            self.on_data(dir, ts, data, out);
        } else {
            self.on_message(dir, ts, data, out);
        }
    }

    fn wants_data(&self, dir: Direction) -> bool {
        let s = &self.sides[dir.index()];
        !(s.stopped || s.ended)
    }

    fn memory_usage(&self) -> usize {
        // Pending queries are bounded in count, each by its lists' limits.
        self.sides.iter().map(|s| s.buf.capacity()).sum::<usize>()
            + self
                .pending
                .iter()
                .map(|p| std::mem::size_of::<Pending>() + p.key.1.len() + p.msg.heap_size())
                .sum::<usize>()
    }
}
