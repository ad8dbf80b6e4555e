//! HTTP/1.0 and 1.1 over one TCP connection: requests paired with responses
//! in order (pipelining and keep-alive through a FIFO of pending requests).
//!
//! Message framing follows RFC 9112 §6.3: no body for responses to HEAD,
//! for 1xx, 204 and 304; `Transfer-Encoding: chunked` (trailers included)
//! before `Content-Length`; a response with neither runs to the close of the
//! connection; a request with neither has no body. A 1xx other than 101 is
//! interim (100-continue) and leaves the request waiting for its final
//! response. A 2xx to CONNECT or a 101 turns the connection into a tunnel:
//! both directions stop being parsed.
//!
//! Request/status lines and headers are parsed by `httparse` in lenient
//! mode, once per message, after this module has found the end of the
//! header block in its bounded buffer (so byte-by-byte input costs linear
//! time). A header block over [`SessionOptions::max_header_block`] or one
//! httparse rejects stops that direction. A gap inside a body of known
//! length (or inside a chunk, or in a body that runs to close) is skipped
//! and counted. After any other gap the message it cut into ends incomplete
//! and bytes are dropped up to the next line that starts with a method
//! (requests) or `HTTP/1.` (responses); the transaction formed there is
//! flagged `gap`, since messages lost in the gap make its pairing a guess.
//! Requests still pending at the end are emitted without response.

use std::collections::VecDeque;

use super::wire::bounded_string;
use super::{
    Anomaly, AnomalyKind, Direction, Protocol, SessionEvent, SessionOptions, SessionParser,
};

/// Longest chunk-size or trailer line kept; longer lines are malformed.
const MAX_LINE: usize = 4096;

/// One header, bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

/// Body accounting of one message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpBody {
    /// Decoded length (chunk payloads only, for chunked), gap bytes included.
    pub len: u64,
    /// Bytes on the wire after the header block (chunk framing included).
    pub wire_len: u64,
    /// Body bytes that were never seen (gaps).
    pub gap_bytes: u64,
    /// Chunked transfer coding was used.
    pub chunked: bool,
    /// Trailer fields after the last chunk.
    pub trailers: u32,
    /// The first [`SessionOptions::body_capture`] decoded bytes.
    pub captured: Vec<u8>,
}

/// Header fields common to requests and responses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpHeaders {
    pub list: Vec<HttpHeader>,
    /// More headers (or longer names/values) than kept.
    pub truncated: bool,
    /// The Content-Length header, when present and valid.
    pub content_length: Option<u64>,
    /// A Content-Length header that is not a number, or copies that
    /// disagree: the message framing is unknown.
    pub content_length_invalid: bool,
    pub transfer_encoding: Option<String>,
    pub content_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpRequest {
    pub method: String,
    pub uri: String,
    /// As sent: "HTTP/1.1", "HTTP/1.0", "" for an HTTP/0.9 request line
    /// (then the response is the raw bytes up to the close).
    pub version: String,
    pub host: Option<String>,
    pub user_agent: Option<String>,
    pub headers: HttpHeaders,
    pub body: HttpBody,
    /// Timestamp of the first byte of the request line, and of the end of
    /// the body.
    pub start_ts: u64,
    pub end_ts: u64,
    /// The whole message was seen (false when the stream ended or stopped
    /// inside it).
    pub complete: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    /// "HTTP/1.1" or "HTTP/1.0"; "" for the status-less response to an
    /// HTTP/0.9 request (status 0).
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: HttpHeaders,
    pub body: HttpBody,
    pub start_ts: u64,
    pub end_ts: u64,
    pub complete: bool,
}

/// An interim (1xx, not 101) response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpInterim {
    pub status: u16,
    pub reason: String,
    pub ts: u64,
}

/// A request and its response; either may be missing (request without
/// response at the end of the connection, response without request after a
/// gap on the request side).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpTransaction {
    pub request: Option<HttpRequest>,
    pub response: Option<HttpResponse>,
    /// Interim responses before the final one, at most 8.
    pub interim: Vec<HttpInterim>,
    /// A gap touched this transaction.
    pub gap: bool,
    /// A parse error or framing violation touched this transaction.
    pub parse_error: bool,
    /// The connection became a tunnel (CONNECT 2xx, 101 Switching
    /// Protocols) after this transaction.
    pub tunnel: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Head,
    Length(u64),
    Chunked(Chunk),
    UntilClose,
    /// After a gap that lost the framing: bytes are dropped up to the next
    /// line that starts a message. The flag says whether the next byte
    /// starts a line.
    Resync(bool),
    /// Nothing more is parsed (error, tunnel, end).
    Stopped,
}

/// Line starts that open a message, for resynchronizing after a gap: the
/// status line of a response, the common methods of a request.
const RESPONSE_STARTS: &[&[u8]] = &[b"HTTP/1."];
const REQUEST_STARTS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
];

struct Side {
    phase: Phase,
    head: Vec<u8>,
    head_ts: u64,
    /// Where to resume looking for the end of the header block.
    scan_from: usize,
    /// The first line of the header block is complete (checked for an
    /// HTTP/0.9 request line).
    line1_seen: bool,
    line: Vec<u8>,
    line_long: bool,
    /// Sequence number of the transaction this side's current message
    /// belongs to.
    seq: u64,
    /// The next message follows a resynchronization: its pairing is a
    /// guess, so its transaction is flagged `gap`.
    resynced: bool,
    ended: bool,
}

impl Side {
    fn new() -> Self {
        Side {
            phase: Phase::Head,
            head: Vec::new(),
            head_ts: 0,
            scan_from: 0,
            line1_seen: false,
            line: Vec::new(),
            line_long: false,
            seq: 0,
            resynced: false,
            ended: false,
        }
    }
}

struct Pending {
    seq: u64,
    txn: HttpTransaction,
    req_done: bool,
    resp_done: bool,
}

/// HTTP/1.x session parser for one TCP connection.
pub struct HttpParser {
    opts: SessionOptions,
    config: httparse::ParserConfig,
    sides: [Side; 2],
    fifo: VecDeque<Pending>,
    next_seq: u64,
    /// Sequence number of the next transaction to receive a response.
    resp_seq: u64,
}

fn anomaly(dir: Direction, ts: u64, kind: AnomalyKind, out: &mut Vec<SessionEvent>) {
    out.push(SessionEvent::Anomaly(Anomaly {
        protocol: Protocol::Http,
        dir,
        ts,
        kind,
    }));
}

/// End of the header block in `buf`, searching from `from`: the index after
/// the blank line (CRLF CRLF, or bare LF LF as many servers accept).
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(p) = buf
        .get(i..)
        .and_then(|b| b.iter().position(|&c| c == b'\n'))
    {
        let nl = i + p;
        match buf.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            _ => {}
        }
        i = nl + 1;
    }
    None
}

/// The request line and headers of a complete header block: httparse
/// first; if it rejects the request line, a lenient split
/// `METHOD SP URI [SP VERSION]` (HTTP/0.9 lines, odd versions such as
/// "HTTP/1." that servers and tshark accept) with httparse for the header
/// lines. Returns method, URI, version and the number of headers in `slots`.
fn parse_request_head<'b>(
    config: &httparse::ParserConfig,
    head: &'b [u8],
    slots: &mut [httparse::Header<'b>],
) -> Option<(&'b [u8], &'b [u8], String, usize)> {
    {
        let mut req = httparse::Request::new(slots);
        if let Ok(httparse::Status::Complete(_)) = config.parse_request(&mut req, head) {
            let (m, u, v) = (req.method?, req.path?, req.version?);
            return Some((
                m.as_bytes(),
                u.as_bytes(),
                format!("HTTP/1.{v}"),
                req.headers.len(),
            ));
        }
    }
    let nl = head.iter().position(|&c| c == b'\n')?;
    let line = head[..nl].strip_suffix(b"\r").unwrap_or(&head[..nl]);
    let mut parts = line.split(|&c| c == b' ').filter(|p| !p.is_empty());
    let method = parts.next()?;
    let uri = parts.next()?;
    let version = parts.next().unwrap_or(b"");
    let tchar = |c: &u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(c);
    if parts.next().is_some()
        || !method.iter().all(tchar)
        || !(version.is_empty() || version.starts_with(b"HTTP/"))
    {
        return None;
    }
    let rest = &head[nl + 1..];
    let n = if matches!(rest, b"" | b"\n" | b"\r\n") {
        0
    } else {
        match httparse::parse_headers(rest, slots) {
            Ok(httparse::Status::Complete((_, h))) => h.len(),
            _ => return None,
        }
    };
    Some((
        method,
        uri,
        String::from_utf8_lossy(version).into_owned(),
        n,
    ))
}

/// Whether a request line ends in an HTTP version token.
fn has_version(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.rsplit(|&c| c == b' ')
        .next()
        .is_some_and(|v| v.starts_with(b"HTTP/"))
        && line.contains(&b' ')
}

fn parse_content_length(v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(v).ok()?.trim();
    // A repeated value ("10, 10") is accepted when all copies agree.
    let mut it = s.split(',').map(|x| x.trim().parse::<u64>());
    let first = it.next()?.ok()?;
    it.all(|x| x == Ok(first)).then_some(first)
}

impl HttpParser {
    pub fn new(opts: SessionOptions) -> Self {
        let mut config = httparse::ParserConfig::default();
        // Real traffic is sloppier than RFC 9112; an analyzer should read
        // what the peers accepted.
        config
            .allow_spaces_after_header_name_in_responses(true)
            .allow_obsolete_multiline_headers_in_responses(true)
            .allow_multiple_spaces_in_request_line_delimiters(true)
            .allow_multiple_spaces_in_response_status_delimiters(true)
            .ignore_invalid_headers_in_requests(true)
            .ignore_invalid_headers_in_responses(true);
        HttpParser {
            opts,
            config,
            sides: [Side::new(), Side::new()],
            fifo: VecDeque::new(),
            next_seq: 0,
            resp_seq: 0,
        }
    }

    fn base(&self) -> u64 {
        self.fifo.front().map_or(self.next_seq, |p| p.seq)
    }

    fn pending(&mut self, seq: u64) -> Option<&mut Pending> {
        let i = seq.checked_sub(self.base())?;
        self.fifo.get_mut(usize::try_from(i).ok()?)
    }

    /// Emits transactions from the front while they are complete.
    fn drain(&mut self, out: &mut Vec<SessionEvent>) {
        while self.fifo.front().is_some_and(|p| p.req_done && p.resp_done) {
            if let Some(p) = self.fifo.pop_front() {
                out.push(SessionEvent::Http(Box::new(p.txn)));
            }
        }
    }

    fn push(
        &mut self,
        txn: HttpTransaction,
        req_done: bool,
        dir: Direction,
        ts: u64,
        out: &mut Vec<SessionEvent>,
    ) -> u64 {
        if self.fifo.len() >= self.opts.max_pending_requests.max(1) {
            if let Some(p) = self.fifo.pop_front() {
                anomaly(dir, ts, AnomalyKind::PendingOverflow, out);
                out.push(SessionEvent::Http(Box::new(p.txn)));
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.fifo.push_back(Pending {
            seq,
            txn,
            req_done,
            resp_done: false,
        });
        seq
    }

    fn headers(&self, raw: &[httparse::Header]) -> HttpHeaders {
        let o = &self.opts;
        let mut h = HttpHeaders::default();
        for hd in raw {
            let name = hd.name.as_bytes();
            if name.eq_ignore_ascii_case(b"content-length") {
                let v = parse_content_length(hd.value);
                h.content_length_invalid |=
                    v.is_none() || h.content_length.is_some_and(|old| Some(old) != v);
                h.content_length = v;
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                h.transfer_encoding = Some(bounded_string(hd.value, o.max_value).0);
            } else if name.eq_ignore_ascii_case(b"content-type") && h.content_type.is_none() {
                h.content_type = Some(bounded_string(hd.value, o.max_value).0);
            }
            if h.list.len() < o.max_headers {
                let (name, c1) = bounded_string(name, o.max_header_name);
                let (value, c2) = bounded_string(hd.value, o.max_value);
                h.truncated |= c1 || c2;
                h.list.push(HttpHeader { name, value });
            } else {
                h.truncated = true;
            }
        }
        h
    }

    fn header<'a>(raw: &'a [httparse::Header], name: &str) -> Option<&'a [u8]> {
        raw.iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    fn is_chunked(h: &HttpHeaders) -> bool {
        h.transfer_encoding.as_deref().is_some_and(|te| {
            te.rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
        })
    }

    fn stop(&mut self, dir: Direction, ts: u64, kind: AnomalyKind, out: &mut Vec<SessionEvent>) {
        let seq = self.sides[dir.index()].seq;
        let in_message = self.sides[dir.index()].phase != Phase::Head;
        let s = &mut self.sides[dir.index()];
        s.phase = Phase::Stopped;
        s.head = Vec::new();
        s.line = Vec::new();
        anomaly(dir, ts, kind, out);
        if in_message {
            if let Some(p) = self.pending(seq) {
                match kind {
                    AnomalyKind::GapUnrecoverable => p.txn.gap = true,
                    // Cut short is not malformed: `complete` says it.
                    AnomalyKind::Incomplete => {}
                    _ => p.txn.parse_error = true,
                }
            }
            self.finish_message(dir, ts, false, out);
        }
    }

    /// The current message of `dir` ended (completely or not).
    fn finish_message(
        &mut self,
        dir: Direction,
        ts: u64,
        complete: bool,
        out: &mut Vec<SessionEvent>,
    ) {
        let seq = self.sides[dir.index()].seq;
        if let Some(p) = self.pending(seq) {
            match dir {
                Direction::Orig => {
                    p.req_done = true;
                    if let Some(r) = p.txn.request.as_mut() {
                        r.end_ts = ts;
                        r.complete = complete;
                    }
                }
                Direction::Resp => {
                    p.resp_done = true;
                    if let Some(r) = p.txn.response.as_mut() {
                        r.end_ts = ts;
                        r.complete = complete;
                    }
                }
            }
        }
        if dir == Direction::Resp {
            self.resp_seq = self.resp_seq.max(seq + 1);
        }
        let s = &mut self.sides[dir.index()];
        if s.phase != Phase::Stopped {
            s.phase = Phase::Head;
        }
        self.drain(out);
    }

    fn body_mut(&mut self, dir: Direction) -> Option<&mut HttpBody> {
        let seq = self.sides[dir.index()].seq;
        let p = self.pending(seq)?;
        match dir {
            Direction::Orig => p.txn.request.as_mut().map(|r| &mut r.body),
            Direction::Resp => p.txn.response.as_mut().map(|r| &mut r.body),
        }
    }

    /// Decoded body bytes (`data`) or a gap (`gap` bytes).
    fn body_bytes(&mut self, dir: Direction, data: &[u8], gap: u64) {
        let cap = self.opts.body_capture;
        if let Some(b) = self.body_mut(dir) {
            // Gap lengths come from the wire: counting saturates.
            b.len = b.len.saturating_add(data.len() as u64).saturating_add(gap);
            b.gap_bytes = b.gap_bytes.saturating_add(gap);
            let room = cap.saturating_sub(b.captured.len()).min(data.len());
            b.captured.extend_from_slice(&data[..room]);
        }
    }

    fn wire_bytes(&mut self, dir: Direction, n: u64) {
        if let Some(b) = self.body_mut(dir) {
            b.wire_len = b.wire_len.saturating_add(n);
        }
    }

    /// A complete header block of `dir` is in `sides[dir].head`.
    fn on_head(&mut self, dir: Direction, ts: u64, out: &mut Vec<SessionEvent>) {
        let head = std::mem::take(&mut self.sides[dir.index()].head);
        let start_ts = self.sides[dir.index()].head_ts;
        // One header slot per line: httparse needs room for all of them to
        // find the framing headers, even past the ones we keep.
        let lines = head.iter().filter(|&&c| c == b'\n').count();
        let mut slots = vec![httparse::EMPTY_HEADER; lines.max(1)];
        match dir {
            Direction::Orig => {
                let Some((method, uri, version, n)) =
                    parse_request_head(&self.config, &head, &mut slots)
                else {
                    self.stop(dir, ts, AnomalyKind::Malformed, out);
                    return;
                };
                let raw = &slots[..n];
                let mv = self.opts.max_value;
                let headers = self.headers(raw);
                let request = HttpRequest {
                    method: bounded_string(method, mv).0,
                    uri: bounded_string(uri, mv).0,
                    version,
                    host: Self::header(raw, "host").map(|v| bounded_string(v, mv).0),
                    user_agent: Self::header(raw, "user-agent").map(|v| bounded_string(v, mv).0),
                    body: HttpBody {
                        chunked: Self::is_chunked(&headers),
                        ..HttpBody::default()
                    },
                    headers,
                    start_ts,
                    end_ts: ts,
                    complete: false,
                };
                let phase = if request.body.chunked {
                    Phase::Chunked(Chunk::Size)
                } else {
                    match request.headers.content_length {
                        Some(n) if n > 0 => Phase::Length(n),
                        _ => Phase::Head,
                    }
                };
                let txn = HttpTransaction {
                    request: Some(request),
                    gap: std::mem::take(&mut self.sides[0].resynced),
                    ..HttpTransaction::default()
                };
                let invalid = txn
                    .request
                    .as_ref()
                    .is_some_and(|r| r.headers.content_length_invalid && !r.body.chunked);
                let seq = self.push(txn, false, dir, ts, out);
                self.sides[0].seq = seq;
                self.sides[0].phase = phase;
                if invalid {
                    // Where this request ends is unknown (RFC 9112 §6.3):
                    // stop inside it, so that it is flagged and finished.
                    self.sides[0].phase = Phase::Length(0);
                    self.stop(dir, ts, AnomalyKind::Malformed, out);
                    return;
                }
                if phase == Phase::Head {
                    self.finish_message(dir, ts, true, out);
                }
            }
            Direction::Resp => {
                let mut resp = httparse::Response::new(&mut slots);
                match self.config.parse_response(&mut resp, &head) {
                    Ok(httparse::Status::Complete(_)) => {}
                    _ => {
                        self.stop(dir, ts, AnomalyKind::Malformed, out);
                        return;
                    }
                }
                let mv = self.opts.max_value;
                let status = resp.code.unwrap_or(0);
                let reason = bounded_string(resp.reason.unwrap_or("").as_bytes(), mv).0;
                // Pair with the oldest request still waiting for a response.
                let next = self.resp_seq.max(self.base());
                let seq = if next < self.next_seq {
                    next
                } else {
                    anomaly(dir, ts, AnomalyKind::UnmatchedResponse, out);
                    self.push(HttpTransaction::default(), true, dir, ts, out)
                };
                self.resp_seq = seq;
                self.sides[1].seq = seq;
                if (100..200).contains(&status) && status != 101 {
                    if let Some(p) = self.pending(seq) {
                        if p.txn.interim.len() < 8 {
                            p.txn.interim.push(HttpInterim { status, reason, ts });
                        }
                    }
                    return;
                }
                let headers = self.headers(resp.headers);
                let chunked = Self::is_chunked(&headers);
                let method = self
                    .pending(seq)
                    .and_then(|p| p.txn.request.as_ref())
                    .map(|r| r.method.clone())
                    .unwrap_or_default();
                let tunnel = status == 101 || (method == "CONNECT" && (200..300).contains(&status));
                let no_body =
                    method == "HEAD" || status < 200 || status == 204 || status == 304 || tunnel;
                let phase = if no_body {
                    Phase::Head
                } else if chunked {
                    Phase::Chunked(Chunk::Size)
                } else {
                    match headers.content_length {
                        // An invalid length is read to the close, as
                        // browsers do (RFC 9112 §6.3 item 5).
                        _ if headers.content_length_invalid => Phase::UntilClose,
                        Some(0) => Phase::Head,
                        Some(n) => Phase::Length(n),
                        None => Phase::UntilClose,
                    }
                };
                let invalid_length = headers.content_length_invalid && phase == Phase::UntilClose;
                let response = HttpResponse {
                    version: format!("HTTP/1.{}", resp.version.unwrap_or(1)),
                    status,
                    reason,
                    body: HttpBody {
                        chunked: chunked && !no_body,
                        ..HttpBody::default()
                    },
                    headers,
                    start_ts,
                    end_ts: ts,
                    complete: false,
                };
                let resynced = std::mem::take(&mut self.sides[1].resynced);
                if let Some(p) = self.pending(seq) {
                    p.txn.response = Some(response);
                    p.txn.tunnel = tunnel;
                    p.txn.parse_error |= invalid_length;
                    p.txn.gap |= resynced;
                }
                if invalid_length {
                    anomaly(dir, ts, AnomalyKind::Malformed, out);
                }
                self.sides[1].phase = phase;
                if phase == Phase::Head {
                    self.finish_message(dir, ts, true, out);
                }
                if tunnel {
                    for s in &mut self.sides {
                        s.phase = Phase::Stopped;
                        s.head = Vec::new();
                    }
                }
            }
        }
    }

    /// Reads a line into `sides[dir].line`; returns bytes consumed and
    /// whether the line is complete. Over-long lines are cut and flagged.
    fn take_line(&mut self, dir: Direction, data: &[u8]) -> (usize, bool) {
        let s = &mut self.sides[dir.index()];
        let (n, done) = match data.iter().position(|&c| c == b'\n') {
            Some(p) => (p + 1, true),
            None => (data.len(), false),
        };
        let room = MAX_LINE.saturating_sub(s.line.len()).min(n);
        s.line.extend_from_slice(&data[..room]);
        s.line_long |= room < n;
        (n, done)
    }

    fn chunked(
        &mut self,
        dir: Direction,
        ts: u64,
        c: Chunk,
        data: &[u8],
        out: &mut Vec<SessionEvent>,
    ) -> usize {
        match c {
            Chunk::Data(left) => {
                let n = (left.min(data.len() as u64)) as usize;
                self.body_bytes(dir, &data[..n], 0);
                self.wire_bytes(dir, n as u64);
                let left = left - n as u64;
                self.sides[dir.index()].phase = Phase::Chunked(if left == 0 {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left)
                });
                n
            }
            Chunk::Size | Chunk::DataEnd | Chunk::Trailer => {
                let (n, done) = self.take_line(dir, data);
                self.wire_bytes(dir, n as u64);
                if !done {
                    return n;
                }
                let s = &mut self.sides[dir.index()];
                let mut line = std::mem::take(&mut s.line);
                let long = std::mem::replace(&mut s.line_long, false);
                while line.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
                    line.pop();
                }
                match c {
                    Chunk::Size => {
                        line.extend_from_slice(b"\r\n");
                        match httparse::parse_chunk_size(&line) {
                            Ok(httparse::Status::Complete((_, 0))) if !long => {
                                self.sides[dir.index()].phase = Phase::Chunked(Chunk::Trailer);
                            }
                            Ok(httparse::Status::Complete((_, size))) if !long => {
                                self.sides[dir.index()].phase = Phase::Chunked(Chunk::Data(size));
                            }
                            _ => self.stop(dir, ts, AnomalyKind::Malformed, out),
                        }
                    }
                    Chunk::DataEnd => {
                        if !line.is_empty() {
                            self.stop(dir, ts, AnomalyKind::Malformed, out);
                        } else {
                            self.sides[dir.index()].phase = Phase::Chunked(Chunk::Size);
                        }
                    }
                    _ => {
                        if line.is_empty() && !long {
                            self.finish_message(dir, ts, true, out);
                        } else if let Some(b) = self.body_mut(dir) {
                            b.trailers = b.trailers.saturating_add(1);
                        }
                    }
                }
                // Reuse the allocation.
                line.clear();
                self.sides[dir.index()].line = line;
                n
            }
        }
    }
}

impl SessionParser for HttpParser {
    fn protocol(&self) -> Protocol {
        Protocol::Http
    }

    fn on_data(&mut self, dir: Direction, ts: u64, mut data: &[u8], out: &mut Vec<SessionEvent>) {
        if self.sides[dir.index()].ended {
            return;
        }
        while !data.is_empty() {
            let phase = self.sides[dir.index()].phase;
            let used = match phase {
                Phase::Stopped => return,
                Phase::Head => {
                    let max = self.opts.max_header_block;
                    if self.sides[1].head.is_empty()
                        && dir == Direction::Resp
                        && self.http09_pending()
                    {
                        self.start_http09_response(ts);
                        continue;
                    }
                    let s = &mut self.sides[dir.index()];
                    if s.head.is_empty() {
                        // Blank lines between messages are allowed (RFC 9112
                        // §2.2) and sent by some clients after a POST body.
                        let blank = data
                            .iter()
                            .take_while(|c| matches!(c, b'\r' | b'\n'))
                            .count();
                        if blank > 0 {
                            data = &data[blank..];
                            continue;
                        }
                        s.head_ts = ts;
                        s.scan_from = 0;
                        s.line1_seen = false;
                    }
                    let old = s.head.len();
                    let take = data.len().min(max.saturating_sub(old));
                    s.head.extend_from_slice(&data[..take]);
                    let mut end = None;
                    if dir == Direction::Orig && !s.line1_seen {
                        // An HTTP/0.9 request is its request line alone
                        // (no version, no headers, no blank line).
                        if let Some(p) = s.head[old..].iter().position(|&c| c == b'\n') {
                            s.line1_seen = true;
                            if !has_version(&s.head[..old + p]) {
                                end = Some(old + p + 1);
                            }
                        }
                    }
                    match end.or_else(|| head_end(&s.head, s.scan_from)) {
                        Some(end) => {
                            s.head.truncate(end);
                            let used = end - old;
                            self.on_head(dir, ts, out);
                            used
                        }
                        None if s.head.len() >= max => {
                            self.stop(dir, ts, AnomalyKind::HeaderTooLarge, out);
                            return;
                        }
                        None => {
                            // The terminator may straddle chunks: rescan
                            // the last two bytes next time.
                            s.scan_from = s.head.len().saturating_sub(2);
                            take
                        }
                    }
                }
                Phase::Length(left) => {
                    let n = (left.min(data.len() as u64)) as usize;
                    self.body_bytes(dir, &data[..n], 0);
                    self.wire_bytes(dir, n as u64);
                    if left == n as u64 {
                        self.finish_message(dir, ts, true, out);
                    } else {
                        self.sides[dir.index()].phase = Phase::Length(left - n as u64);
                    }
                    n
                }
                Phase::UntilClose => {
                    self.body_bytes(dir, data, 0);
                    self.wire_bytes(dir, data.len() as u64);
                    data.len()
                }
                Phase::Chunked(c) => self.chunked(dir, ts, c, data, out),
                Phase::Resync(at_start) => self.resync(dir, ts, at_start, data),
            };
            data = data.get(used..).unwrap_or(&[]);
        }
    }

    fn on_gap(&mut self, dir: Direction, ts: u64, len: u64, out: &mut Vec<SessionEvent>) {
        if self.sides[dir.index()].ended || len == 0 {
            return;
        }
        let phase = self.sides[dir.index()].phase;
        let skipped = match phase {
            Phase::Stopped => return,
            Phase::Length(left) if len <= left => {
                if len == left {
                    self.body_bytes(dir, &[], len);
                    self.wire_bytes(dir, len);
                    self.mark_gap(dir);
                    self.finish_message(dir, ts, true, out);
                } else {
                    self.sides[dir.index()].phase = Phase::Length(left - len);
                    self.body_bytes(dir, &[], len);
                    self.wire_bytes(dir, len);
                }
                true
            }
            Phase::Chunked(Chunk::Data(left)) if len <= left => {
                self.sides[dir.index()].phase = Phase::Chunked(if len == left {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left - len)
                });
                self.body_bytes(dir, &[], len);
                self.wire_bytes(dir, len);
                true
            }
            Phase::UntilClose => {
                self.body_bytes(dir, &[], len);
                self.wire_bytes(dir, len);
                true
            }
            _ => false,
        };
        if skipped {
            self.mark_gap(dir);
            anomaly(dir, ts, AnomalyKind::GapSkipped, out);
        } else {
            self.resync_after_gap(dir, ts, out);
        }
    }

    fn on_end(&mut self, dir: Direction, ts: u64, out: &mut Vec<SessionEvent>) {
        if self.sides[dir.index()].ended {
            return;
        }
        match self.sides[dir.index()].phase {
            Phase::UntilClose => self.finish_message(dir, ts, true, out),
            Phase::Head if self.sides[dir.index()].head.is_empty() => {}
            Phase::Stopped | Phase::Resync(_) => {}
            _ => self.stop(dir, ts, AnomalyKind::Incomplete, out),
        }
        let s = &mut self.sides[dir.index()];
        s.ended = true;
        s.phase = Phase::Stopped;
        s.head = Vec::new();
        s.line = Vec::new();
        if self.sides.iter().all(|s| s.ended) {
            // Requests that never got a response, in order.
            while let Some(p) = self.fifo.pop_front() {
                out.push(SessionEvent::Http(Box::new(p.txn)));
            }
        } else if dir == Direction::Resp {
            // No response will come: emit what is complete on the request
            // side as soon as it is.
            for p in self.fifo.iter_mut() {
                p.resp_done = true;
            }
            self.resp_seq = self.next_seq;
            self.drain(out);
        }
    }

    fn wants_data(&self, dir: Direction) -> bool {
        let s = &self.sides[dir.index()];
        !s.ended && s.phase != Phase::Stopped
    }

    fn memory_usage(&self) -> usize {
        let headers = |h: &HttpHeaders| {
            h.list
                .iter()
                .map(|x| x.name.len() + x.value.len() + 48)
                .sum::<usize>()
        };
        let buffers: usize = self
            .sides
            .iter()
            .map(|s| s.head.capacity() + s.line.capacity())
            .sum();
        let pending: usize = self
            .fifo
            .iter()
            .map(|p| {
                256 + p.txn.request.as_ref().map_or(0, |r| {
                    headers(&r.headers) + r.uri.len() + r.method.len() + r.body.captured.len()
                }) + p
                    .txn
                    .response
                    .as_ref()
                    .map_or(0, |r| headers(&r.headers) + r.body.captured.len())
            })
            .sum();
        buffers + pending
    }
}

impl HttpParser {
    /// The next request to answer is an HTTP/0.9 one.
    fn http09_pending(&mut self) -> bool {
        let seq = self.resp_seq.max(self.base());
        seq < self.next_seq
            && self
                .pending(seq)
                .and_then(|p| p.txn.request.as_ref())
                .is_some_and(|r| r.version.is_empty())
    }

    /// An HTTP/0.9 response has no status line or headers: it is the bytes
    /// up to the close.
    fn start_http09_response(&mut self, ts: u64) {
        let seq = self.resp_seq.max(self.base());
        self.resp_seq = seq;
        self.sides[1].seq = seq;
        self.sides[1].phase = Phase::UntilClose;
        if let Some(p) = self.pending(seq) {
            p.txn.response = Some(HttpResponse {
                start_ts: ts,
                end_ts: ts,
                ..HttpResponse::default()
            });
        }
    }

    /// A gap the framing cannot absorb: the current message (if any) ends
    /// incomplete and the direction looks for the next message start.
    fn resync_after_gap(&mut self, dir: Direction, ts: u64, out: &mut Vec<SessionEvent>) {
        anomaly(dir, ts, AnomalyKind::GapUnrecoverable, out);
        let in_message = !matches!(
            self.sides[dir.index()].phase,
            Phase::Head | Phase::Resync(_)
        );
        if in_message {
            self.mark_gap(dir);
            self.finish_message(dir, ts, false, out);
        }
        let s = &mut self.sides[dir.index()];
        s.phase = Phase::Resync(true);
        s.head.clear();
        s.line.clear();
        s.line_long = false;
        s.resynced = true;
    }

    /// Drops bytes up to a line that starts a message; returns the bytes
    /// consumed. The candidate prefix lives in `head` (at most 8 bytes), so
    /// a start split across chunks is found as well.
    fn resync(&mut self, dir: Direction, ts: u64, mut at_start: bool, data: &[u8]) -> usize {
        let starts = match dir {
            Direction::Orig => REQUEST_STARTS,
            Direction::Resp => RESPONSE_STARTS,
        };
        let s = &mut self.sides[dir.index()];
        let mut i = 0;
        while i < data.len() {
            if !at_start {
                match data[i..].iter().position(|&c| c == b'\n') {
                    Some(p) => {
                        i += p + 1;
                        at_start = true;
                        s.head.clear();
                        continue;
                    }
                    None => {
                        i = data.len();
                        break;
                    }
                }
            }
            let c = data[i];
            i += 1;
            s.head.push(c);
            if starts.iter().any(|p| **p == s.head[..]) {
                s.phase = Phase::Head;
                s.head_ts = ts;
                s.scan_from = 0;
                s.line1_seen = false;
                return i;
            }
            if !starts.iter().any(|p| p.starts_with(&s.head)) {
                s.head.clear();
                at_start = c == b'\n';
            }
        }
        s.phase = Phase::Resync(at_start);
        i
    }

    fn mark_gap(&mut self, dir: Direction) {
        let seq = self.sides[dir.index()].seq;
        if let Some(p) = self.pending(seq) {
            p.txn.gap = true;
        }
    }
}
