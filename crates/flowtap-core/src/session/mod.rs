//! Application session parsers (HTTP/1.x, DNS, TLS) over reassembled
//! streams and datagrams.
//!
//! # Input contract
//!
//! One parser instance serves one flow. For TCP it receives, per
//! [`Direction`], the in-order stream as [`SessionParser::on_data`] chunks of
//! any size (one byte is fine), [`SessionParser::on_gap`] for bytes the
//! reassembly layer never saw, and [`SessionParser::on_end`] once the
//! direction is closed; every call carries a timestamp in nanoseconds. For
//! UDP it receives whole datagrams through [`SessionParser::on_datagram`].
//! [`SessionParser::finish`] flushes whatever is still pending (a flow that
//! timed out without FIN).
//!
//! # Guarantees
//!
//! * No method panics or loops on any input bytes, chunking or call order
//!   (proptest in `tests.rs` and `tests/session_*.rs`).
//! * Memory is bounded per parser: every buffer, list and string has a limit
//!   in [`SessionOptions`]; exceeding one is reported (an
//!   [`Anomaly`] event or a `truncated` flag on the record), never grown.
//! * Damaged input marks the record / session and the parser either
//!   resynchronizes (a gap inside a body of known length; for HTTP also at
//!   the next request/status line after any other gap) or stops parsing that
//!   direction; [`SessionParser::wants_data`] then says the flow can stop
//!   feeding it.
//! * Without gaps, results do not depend on how the stream was chunked.
//!
//! Records are plain owned Rust values; strings are bounded and decoded
//! lossily from bytes (invalid UTF-8 becomes U+FFFD), because they are meant
//! for display and export, not for re-serialisation.

mod detect;
pub mod dns;
pub mod http;
pub mod names;
pub mod tls;
mod wire;
pub mod x509;

#[cfg(test)]
mod tests;

pub use detect::{detect, Detection, Transport};
pub use dns::DnsParser;
pub use http::HttpParser;
pub use tls::TlsParser;

/// Which side of the flow sent the bytes; the same type the reassembly
/// layer delivers its streams with.
pub use crate::reassembly::Direction;

/// Application protocols with a parser here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Http,
    Tls,
    Dns,
}

/// Limits and switches for every parser. The defaults bound one parser to a
/// few hundred KiB in the worst case.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Largest HTTP header block (request/status line + headers + blank
    /// line); more is a [`AnomalyKind::HeaderTooLarge`] and that direction
    /// stops. @default 65536
    pub max_header_block: usize,
    /// Headers kept per message; the rest still count for framing and set
    /// `headers_truncated`. @default 64
    pub max_headers: usize,
    /// Bytes kept of a header name. @default 256
    pub max_header_name: usize,
    /// Bytes kept of a header value, URI, host, user agent, reason phrase.
    /// @default 4096
    pub max_value: usize,
    /// First body bytes kept per HTTP message (decoded, for chunked).
    /// @default 0
    pub body_capture: usize,
    /// Requests waiting for a response before the oldest is emitted unpaired.
    /// @default 64
    pub max_pending_requests: usize,
    /// Largest TLS handshake message buffered (ClientHello, ServerHello);
    /// larger ones are skipped and reported. @default 65536
    pub max_handshake: usize,
    /// List entries kept per record (cipher suites, extensions, DNS records,
    /// ALPN values). @default 256
    pub max_list: usize,
    /// DNS queries waiting for a response. @default 256
    pub dns_max_pending: usize,
    /// Time after which an unanswered DNS query is emitted alone.
    /// @default 10 s
    pub dns_timeout_ns: u64,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            max_header_block: 64 * 1024,
            max_headers: 64,
            max_header_name: 256,
            max_value: 4096,
            body_capture: 0,
            max_pending_requests: 64,
            max_handshake: 64 * 1024,
            max_list: 256,
            dns_max_pending: 256,
            dns_timeout_ns: 10_000_000_000,
        }
    }
}

/// Something wrong with the input, reported once where it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AnomalyKind {
    /// A header block exceeded [`SessionOptions::max_header_block`].
    HeaderTooLarge,
    /// Bytes that do not follow the protocol grammar.
    Malformed,
    /// A gap the parser could not account for: the message it cut into
    /// ends incomplete and the parser resynchronizes at the next message
    /// start it recognizes (HTTP) or stops that direction (DNS/TCP, TLS).
    GapUnrecoverable,
    /// A gap inside a body of known length: skipped, parsing goes on.
    GapSkipped,
    /// Too many requests/queries waiting; the oldest was emitted unpaired.
    PendingOverflow,
    /// A response with no request waiting for it.
    UnmatchedResponse,
    /// A TLS handshake message larger than
    /// [`SessionOptions::max_handshake`] was skipped.
    HandshakeTooLarge,
    /// A DNS name with a compression loop, bad pointer or over 255 bytes.
    BadName,
    /// The stream ended inside a message.
    Incomplete,
}

impl AnomalyKind {
    /// A stable code for the boundary.
    pub fn code(self) -> &'static str {
        match self {
            AnomalyKind::HeaderTooLarge => "ERR_SESSION_HEADER_TOO_LARGE",
            AnomalyKind::Malformed => "ERR_SESSION_MALFORMED",
            AnomalyKind::GapUnrecoverable => "ERR_SESSION_GAP",
            AnomalyKind::GapSkipped => "ERR_SESSION_GAP_SKIPPED",
            AnomalyKind::PendingOverflow => "ERR_SESSION_PENDING_OVERFLOW",
            AnomalyKind::UnmatchedResponse => "ERR_SESSION_UNMATCHED_RESPONSE",
            AnomalyKind::HandshakeTooLarge => "ERR_SESSION_HANDSHAKE_TOO_LARGE",
            AnomalyKind::BadName => "ERR_SESSION_BAD_NAME",
            AnomalyKind::Incomplete => "ERR_SESSION_INCOMPLETE",
        }
    }
}

/// An [`AnomalyKind`] with where and when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    pub protocol: Protocol,
    pub dir: Direction,
    pub ts: u64,
    pub kind: AnomalyKind,
}

/// What the parsers produce.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// One request and its response (either may be missing).
    Http(Box<http::HttpTransaction>),
    /// One query and its response (either may be missing).
    Dns(Box<dns::DnsTransaction>),
    TlsClientHello(Box<tls::ClientHello>),
    TlsServerHello(Box<tls::ServerHello>),
    /// Certificates sent in clear (TLS ≤ 1.2).
    TlsCertificates(Box<tls::TlsCertificates>),
    /// Counters of a TLS session, once both directions ended.
    TlsEnd(Box<tls::TlsSummary>),
    Anomaly(Anomaly),
}

/// A protocol parser for one flow. See the module doc for the contract.
pub trait SessionParser: Send {
    fn protocol(&self) -> Protocol;
    /// In-order stream bytes of one direction.
    fn on_data(&mut self, dir: Direction, ts: u64, data: &[u8], out: &mut Vec<SessionEvent>);
    /// `len` stream bytes of `dir` are missing before the next data.
    fn on_gap(&mut self, dir: Direction, ts: u64, len: u64, out: &mut Vec<SessionEvent>);
    /// `dir` is closed (FIN/RST or the flow ended).
    fn on_end(&mut self, dir: Direction, ts: u64, out: &mut Vec<SessionEvent>);
    /// One whole datagram. Stream parsers treat it as data.
    fn on_datagram(&mut self, dir: Direction, ts: u64, data: &[u8], out: &mut Vec<SessionEvent>) {
        self.on_data(dir, ts, data, out);
    }
    /// Ends both directions and flushes pending records.
    fn finish(&mut self, ts: u64, out: &mut Vec<SessionEvent>) {
        self.on_end(Direction::Orig, ts, out);
        self.on_end(Direction::Resp, ts, out);
    }
    /// False once further bytes of `dir` would be ignored (parse stopped,
    /// tunnel, encrypted), so the caller may stop buffering them.
    fn wants_data(&self, dir: Direction) -> bool;
    /// Bytes held in buffers and pending records, approximately: the
    /// bounded-memory guarantee is tested against it.
    fn memory_usage(&self) -> usize;
}

/// A parser for `protocol`. `udp` selects DNS over datagrams rather than the
/// 2-byte framing of DNS over TCP; it is ignored for the others.
pub fn new_parser(protocol: Protocol, udp: bool, opts: &SessionOptions) -> Box<dyn SessionParser> {
    match protocol {
        Protocol::Http => Box::new(HttpParser::new(opts.clone())),
        Protocol::Tls => Box::new(TlsParser::new(opts.clone())),
        Protocol::Dns if udp => Box::new(DnsParser::new_udp(opts.clone())),
        Protocol::Dns => Box::new(DnsParser::new_tcp(opts.clone())),
    }
}
