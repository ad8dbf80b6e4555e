//! TLS (SSL 3.0 – TLS 1.3) handshake metadata: ClientHello and ServerHello
//! with SNI, ALPN, versions, cipher suites, extensions, JA3 and JA3S, and
//! the certificates a TLS ≤ 1.2 server sends in clear.
//!
//! Two layers per direction, both incremental and bounded: records (5-byte
//! header, at most 2^14 + 2048 bytes of payload) and, inside handshake
//! records, handshake messages (4-byte header), which may be split over
//! several records or share one. Only ClientHello, ServerHello and
//! Certificate bodies are buffered (at most
//! [`SessionOptions::max_handshake`] bytes); every other byte is counted
//! and dropped. An SSL 2.0-format ClientHello (the compatibility form old
//! clients open with) is read too. Once a direction has sent
//! ChangeCipherSpec under TLS ≤ 1.2 (or application-data records at all),
//! its records are only counted: their content is encrypted. Under TLS 1.3
//! a ChangeCipherSpec is the middlebox-compatibility dummy and a second
//! ClientHello may follow it in clear, so it does not end parsing there.
//!
//! The ClientHello fields are a handful of length-prefixed vectors, so they
//! are read here with the bounds-checked `Reader` of `wire.rs` rather than
//! through a general TLS crate (tls-parser was evaluated): what must be
//! robust is the stream layering around them, which no crate does for us,
//! and a typed extension decoder rejects a whole hello over one extension it
//! did not expect (post-quantum key shares, ECH, GREASE), while JA3 needs
//! every extension type in wire order.
//!
//! JA3/JA3S follow Salesforce's definition: decimal values, `-` within a
//! field, `,` between fields, GREASE values (RFC 8701) left out.

use md5::{Digest, Md5};

use super::wire::{bounded_string, push_bounded, Reader};
use super::x509::{parse_certificate, Certificate};
use super::{
    Anomaly, AnomalyKind, Direction, Protocol, SessionEvent, SessionOptions, SessionParser,
};

/// Largest record payload (RFC 5246 §6.2.3: 2^14 + 2048 for ciphertext).
const MAX_RECORD: usize = (1 << 14) + 2048;

const CT_CCS: u8 = 20;
const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
const CT_APPDATA: u8 = 23;
const CT_HEARTBEAT: u8 = 24;

/// Pseudo content type of an SSL 2.0-format record (a ClientHello sent
/// that way for compatibility, RFC 5246 Appendix E.2).
const CT_SSLV2: u8 = 0x80;

const HS_CLIENT_HELLO: u8 = 1;
const HS_SERVER_HELLO: u8 = 2;
const HS_CERTIFICATE: u8 = 11;

/// SHA-256("HelloRetryRequest"), the ServerHello random that marks a
/// HelloRetryRequest (RFC 8446 §4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// A GREASE value (RFC 8701): 0x?a?a with both bytes equal.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// A ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHello {
    pub ts: u64,
    /// Version in the record header carrying the hello.
    pub record_version: u16,
    /// `legacy_version` of the hello.
    pub version: u16,
    pub session_id: Vec<u8>,
    pub cipher_suites: Vec<u16>,
    pub compression_methods: Vec<u8>,
    /// Extension types in wire order.
    pub extensions: Vec<u16>,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    /// The supported_versions extension (43); offers 0x0304 for TLS 1.3.
    pub supported_versions: Vec<u16>,
    pub supported_groups: Vec<u16>,
    pub ec_point_formats: Vec<u8>,
    pub signature_algorithms: Vec<u16>,
    /// The JA3 string and its MD5 in lower-case hex.
    pub ja3: String,
    pub ja3_md5: String,
    /// A list hit [`SessionOptions::max_list`] (JA3 still uses all values).
    pub truncated: bool,
    /// The hello ended early or a field overran; what was read is kept.
    pub malformed: bool,
    /// Sent in the SSL 2.0 record format: `cipher_suites` holds the 3-byte
    /// cipher specs whose first byte is 0 (the TLS suites), `ja3` is empty
    /// (JA3 is not defined for it).
    pub sslv2: bool,
}

/// A ServerHello (or HelloRetryRequest).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerHello {
    pub ts: u64,
    pub record_version: u16,
    pub version: u16,
    pub session_id: Vec<u8>,
    pub cipher_suite: u16,
    pub compression_method: u8,
    pub extensions: Vec<u16>,
    /// The selected version from supported_versions (0x0304 = TLS 1.3).
    pub supported_version: Option<u16>,
    pub alpn: Option<String>,
    pub hello_retry_request: bool,
    pub ja3s: String,
    pub ja3s_md5: String,
    pub truncated: bool,
    pub malformed: bool,
}

impl ServerHello {
    /// The negotiated protocol version.
    pub fn negotiated_version(&self) -> u16 {
        self.supported_version.unwrap_or(self.version)
    }
}

/// A Certificate message seen in clear (TLS ≤ 1.2; under TLS 1.3 it is
/// encrypted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsCertificates {
    pub ts: u64,
    /// The sender: the responder for server certificates, the originator
    /// for client certificates.
    pub dir: Direction,
    /// The chain in the order sent, at most [`SessionOptions::max_list`].
    pub certs: Vec<Certificate>,
    pub truncated: bool,
    /// The message framing was damaged (each certificate has its own flag).
    pub malformed: bool,
}

/// Per-direction record counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TlsDirStats {
    pub records: u64,
    pub handshake_messages: u64,
    pub change_cipher_spec: bool,
    /// Records whose content is encrypted (application data, and anything
    /// after ChangeCipherSpec under TLS ≤ 1.2).
    pub encrypted_records: u64,
    pub encrypted_bytes: u64,
    pub alerts: u64,
    pub gaps: u64,
    /// Parsing stopped (framing error or unrecoverable gap).
    pub stopped: bool,
}

/// Emitted once both directions ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsSummary {
    pub client_hellos: u32,
    pub server_hellos: u32,
    /// From the last ServerHello; 0 when none was seen.
    pub negotiated_version: u16,
    pub cipher_suite: Option<u16>,
    pub orig: TlsDirStats,
    pub resp: TlsDirStats,
}

#[derive(Default)]
struct Side {
    hdr: [u8; 5],
    hdr_len: usize,
    /// Content type and payload bytes left of the current record, when
    /// inside one.
    rec_type: u8,
    rec_version: u16,
    rec_left: usize,
    /// Handshake message layer.
    hs_hdr: [u8; 4],
    hs_hdr_len: usize,
    hs_type: u8,
    hs_left: usize,
    hs_keep: bool,
    hs_buf: Vec<u8>,
    /// The handshake layer lost sync (gap); records are still counted.
    hs_broken: bool,
    encrypted: bool,
    ended: bool,
    stats: TlsDirStats,
}

/// TLS session parser for one TCP flow.
pub struct TlsParser {
    opts: SessionOptions,
    sides: [Side; 2],
    client_offered_13: bool,
    server_version: Option<u16>,
    summary: TlsSummary,
    summary_sent: bool,
}

impl TlsParser {
    pub fn new(opts: SessionOptions) -> Self {
        TlsParser {
            opts,
            sides: Default::default(),
            client_offered_13: false,
            server_version: None,
            summary: TlsSummary::default(),
            summary_sent: false,
        }
    }

    /// Whether the session runs (or, before the ServerHello, may run) TLS
    /// 1.3, where no handshake record is encrypted.
    fn tls13(&self) -> bool {
        match self.server_version {
            Some(v) => v == 0x0304 || v >> 8 == 0x7f,
            None => self.client_offered_13,
        }
    }

    fn anomaly(dir: Direction, ts: u64, kind: AnomalyKind, out: &mut Vec<SessionEvent>) {
        out.push(SessionEvent::Anomaly(Anomaly {
            protocol: Protocol::Tls,
            dir,
            ts,
            kind,
        }));
    }

    fn stop(&mut self, dir: Direction, ts: u64, kind: AnomalyKind, out: &mut Vec<SessionEvent>) {
        let s = &mut self.sides[dir.index()];
        s.stats.stopped = true;
        s.hs_buf = Vec::new();
        Self::anomaly(dir, ts, kind, out);
    }

    /// Handshake-record payload bytes, in order.
    fn handshake_bytes(
        &mut self,
        dir: Direction,
        ts: u64,
        mut data: &[u8],
        out: &mut Vec<SessionEvent>,
    ) {
        let max = self.opts.max_handshake;
        loop {
            let s = &mut self.sides[dir.index()];
            if s.hs_broken {
                return;
            }
            if s.hs_hdr_len < 4 {
                let n = (4 - s.hs_hdr_len).min(data.len());
                s.hs_hdr[s.hs_hdr_len..s.hs_hdr_len + n].copy_from_slice(&data[..n]);
                s.hs_hdr_len += n;
                data = &data[n..];
                if s.hs_hdr_len < 4 {
                    return;
                }
                s.hs_type = s.hs_hdr[0];
                s.hs_left = u32::from_be_bytes([0, s.hs_hdr[1], s.hs_hdr[2], s.hs_hdr[3]]) as usize;
                let wanted = matches!(
                    s.hs_type,
                    HS_CLIENT_HELLO | HS_SERVER_HELLO | HS_CERTIFICATE
                );
                s.hs_keep = wanted && s.hs_left <= max;
                s.hs_buf.clear();
                if wanted && !s.hs_keep {
                    Self::anomaly(dir, ts, AnomalyKind::HandshakeTooLarge, out);
                }
            }
            let s = &mut self.sides[dir.index()];
            let n = s.hs_left.min(data.len());
            if s.hs_keep {
                s.hs_buf.extend_from_slice(&data[..n]);
            }
            s.hs_left -= n;
            data = &data[n..];
            if s.hs_left == 0 {
                s.hs_hdr_len = 0;
                s.stats.handshake_messages += 1;
                if s.hs_keep {
                    let body = std::mem::take(&mut s.hs_buf);
                    let (typ, rv) = (s.hs_type, s.rec_version);
                    self.message(dir, ts, typ, rv, &body, out);
                    // Keep the allocation for the next message.
                    let s = &mut self.sides[dir.index()];
                    s.hs_buf = body;
                    s.hs_buf.clear();
                }
            }
            if data.is_empty() {
                return;
            }
        }
    }

    fn sslv2_hello(&mut self, dir: Direction, ts: u64, out: &mut Vec<SessionEvent>) {
        let s = &mut self.sides[dir.index()];
        let body = std::mem::take(&mut s.hs_buf);
        let mut ch = parse_sslv2_client_hello(&body, self.opts.max_list);
        ch.ts = ts;
        self.summary.client_hellos += 1;
        if ch.malformed {
            Self::anomaly(dir, ts, AnomalyKind::Malformed, out);
        }
        out.push(SessionEvent::TlsClientHello(Box::new(ch)));
    }

    fn message(
        &mut self,
        dir: Direction,
        ts: u64,
        typ: u8,
        record_version: u16,
        body: &[u8],
        out: &mut Vec<SessionEvent>,
    ) {
        let max_list = self.opts.max_list;
        let max_value = self.opts.max_value;
        match typ {
            HS_CLIENT_HELLO => {
                let mut ch = parse_client_hello(body, max_list, max_value);
                ch.ts = ts;
                ch.record_version = record_version;
                self.client_offered_13 |= ch.supported_versions.contains(&0x0304)
                    || ch.supported_versions.iter().any(|v| v >> 8 == 0x7f);
                self.summary.client_hellos += 1;
                if ch.malformed {
                    Self::anomaly(dir, ts, AnomalyKind::Malformed, out);
                }
                out.push(SessionEvent::TlsClientHello(Box::new(ch)));
            }
            HS_SERVER_HELLO => {
                let mut sh = parse_server_hello(body, max_list, max_value);
                sh.ts = ts;
                sh.record_version = record_version;
                self.summary.server_hellos += 1;
                if !sh.hello_retry_request {
                    self.server_version = Some(sh.negotiated_version());
                    self.summary.negotiated_version = sh.negotiated_version();
                    self.summary.cipher_suite = Some(sh.cipher_suite);
                }
                if sh.malformed {
                    Self::anomaly(dir, ts, AnomalyKind::Malformed, out);
                }
                out.push(SessionEvent::TlsServerHello(Box::new(sh)));
            }
            HS_CERTIFICATE => {
                let c = parse_certificates(body, dir, ts, max_list, max_value);
                if c.malformed {
                    Self::anomaly(dir, ts, AnomalyKind::Malformed, out);
                }
                out.push(SessionEvent::TlsCertificates(Box::new(c)));
            }
            _ => {}
        }
    }
}

impl SessionParser for TlsParser {
    fn protocol(&self) -> Protocol {
        Protocol::Tls
    }

    fn on_data(&mut self, dir: Direction, ts: u64, mut data: &[u8], out: &mut Vec<SessionEvent>) {
        while !data.is_empty() {
            let tls13 = self.tls13();
            let s = &mut self.sides[dir.index()];
            if s.stats.stopped || s.ended {
                return;
            }
            if s.rec_left == 0 && s.hdr_len < 5 {
                let n = (5 - s.hdr_len).min(data.len());
                s.hdr[s.hdr_len..s.hdr_len + n].copy_from_slice(&data[..n]);
                s.hdr_len += n;
                data = &data[n..];
                if s.hdr_len < 5 {
                    return;
                }
                let h = s.hdr;
                if h[0] & 0x80 != 0 && h[2] == HS_CLIENT_HELLO && s.stats.records == 0 {
                    // 2-byte length with the top bit set, then the message
                    // type and version (already in `hdr`).
                    let len = (usize::from(h[0] & 0x7f) << 8) | usize::from(h[1]);
                    s.stats.records += 1;
                    s.rec_version = u16::from_be_bytes([h[3], h[4]]);
                    s.rec_left = len.saturating_sub(3);
                    s.hs_buf.clear();
                    if s.rec_left > self.opts.max_handshake {
                        // Counted and skipped like any record we do not read.
                        s.rec_type = 0;
                        Self::anomaly(dir, ts, AnomalyKind::HandshakeTooLarge, out);
                        continue;
                    }
                    s.rec_type = CT_SSLV2;
                    s.hs_buf.extend_from_slice(&h[2..]);
                    if s.rec_left == 0 {
                        s.hdr_len = 0;
                        self.sslv2_hello(dir, ts, out);
                    }
                    continue;
                }
                let len = u16::from_be_bytes([h[3], h[4]]) as usize;
                if !(CT_CCS..=CT_HEARTBEAT).contains(&h[0]) || h[1] != 3 || len > MAX_RECORD {
                    self.stop(dir, ts, AnomalyKind::Malformed, out);
                    return;
                }
                s.rec_type = h[0];
                s.rec_version = u16::from_be_bytes([h[1], h[2]]);
                s.rec_left = len;
                s.stats.records += 1;
                let encrypted = h[0] == CT_APPDATA || (s.encrypted && h[0] != CT_CCS);
                if encrypted {
                    s.stats.encrypted_records += 1;
                    s.stats.encrypted_bytes += len as u64;
                }
                match h[0] {
                    CT_CCS => {
                        s.stats.change_cipher_spec = true;
                        s.encrypted = !tls13;
                    }
                    CT_ALERT => s.stats.alerts += 1,
                    _ => {}
                }
                if len == 0 {
                    s.hdr_len = 0;
                }
                continue;
            }
            let n = s.rec_left.min(data.len());
            let (chunk, rest) = data.split_at(n);
            data = rest;
            s.rec_left -= n;
            if s.rec_left == 0 {
                s.hdr_len = 0;
            }
            if s.rec_type == CT_HANDSHAKE && !s.encrypted {
                self.handshake_bytes(dir, ts, chunk, out);
            } else if s.rec_type == CT_SSLV2 {
                s.hs_buf.extend_from_slice(chunk);
                if s.rec_left == 0 {
                    self.sslv2_hello(dir, ts, out);
                }
            }
        }
    }

    fn on_gap(&mut self, dir: Direction, ts: u64, len: u64, out: &mut Vec<SessionEvent>) {
        let s = &mut self.sides[dir.index()];
        if s.stats.stopped || s.ended || len == 0 {
            return;
        }
        s.stats.gaps += 1;
        // Inside a record the framing survives; a handshake message the gap
        // cut into is lost, and with it the message boundaries.
        if s.hdr_len == 5 && len <= s.rec_left as u64 {
            s.rec_left -= len as usize;
            if s.rec_left == 0 {
                s.hdr_len = 0;
            }
            if s.rec_type == CT_HANDSHAKE && !s.encrypted {
                s.hs_broken = true;
                s.hs_buf = Vec::new();
            }
            Self::anomaly(dir, ts, AnomalyKind::GapSkipped, out);
        } else {
            self.stop(dir, ts, AnomalyKind::GapUnrecoverable, out);
        }
    }

    fn on_end(&mut self, dir: Direction, ts: u64, out: &mut Vec<SessionEvent>) {
        let s = &mut self.sides[dir.index()];
        if !s.ended {
            s.ended = true;
            if !s.stats.stopped && (s.hdr_len > 0 || s.hs_hdr_len > 0) {
                Self::anomaly(dir, ts, AnomalyKind::Incomplete, out);
            }
            s.hs_buf = Vec::new();
        }
        if !self.summary_sent && self.sides.iter().all(|s| s.ended) {
            self.summary_sent = true;
            let mut sum = self.summary.clone();
            sum.orig = self.sides[0].stats;
            sum.resp = self.sides[1].stats;
            out.push(SessionEvent::TlsEnd(Box::new(sum)));
        }
    }

    fn wants_data(&self, dir: Direction) -> bool {
        let s = &self.sides[dir.index()];
        !(s.stats.stopped || s.ended)
    }

    fn memory_usage(&self) -> usize {
        self.sides.iter().map(|s| s.hs_buf.capacity()).sum()
    }
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn join<T: ToString>(v: impl Iterator<Item = T>) -> String {
    v.map(|x| x.to_string()).collect::<Vec<_>>().join("-")
}

/// Extensions as (type, data) pairs; false when the block was malformed.
fn extensions<'a>(r: &mut Reader<'a>, out: &mut Vec<(u16, &'a [u8])>) -> bool {
    if r.is_empty() {
        return true; // SSL 3.0 / TLS 1.0 hellos may have no extension block
    }
    let Some(mut block) = r.vec16() else {
        return false;
    };
    while !block.is_empty() {
        let (Some(t), Some(d)) = (block.u16(), block.vec16()) else {
            return false;
        };
        out.push((t, d.rest()));
    }
    true
}

/// Decodes a ClientHello body (after the 4-byte handshake header).
pub fn parse_client_hello(body: &[u8], max_list: usize, max_value: usize) -> ClientHello {
    let mut ch = ClientHello::default();
    let mut r = Reader::new(body);
    let mut all_ciphers = Vec::new();
    let mut exts = Vec::new();
    let ok = (|| -> Option<bool> {
        ch.version = r.u16()?;
        r.bytes(32)?;
        ch.session_id = r.vec8()?.rest().to_vec();
        let mut cs = r.vec16()?;
        while cs.remaining() >= 2 {
            all_ciphers.push(cs.u16()?);
        }
        ch.compression_methods = r.vec8()?.rest().iter().copied().take(max_list).collect();
        Some(extensions(&mut r, &mut exts))
    })();
    ch.malformed = ok != Some(true);
    let mut truncated = all_ciphers.len() > max_list;
    ch.cipher_suites = all_ciphers.iter().copied().take(max_list).collect();
    for &(t, d) in &exts {
        truncated |= !push_bounded(&mut ch.extensions, max_list, t);
        let mut d = Reader::new(d);
        let parsed = match t {
            0 => (|| {
                let mut list = d.vec16()?;
                while !list.is_empty() {
                    let (kind, name) = (list.u8()?, list.vec16()?);
                    if kind == 0 && ch.sni.is_none() {
                        ch.sni = Some(bounded_string(name.rest(), max_value).0);
                    }
                }
                Some(())
            })(),
            16 => (|| {
                let mut list = d.vec16()?;
                while !list.is_empty() {
                    let p = bounded_string(list.vec8()?.rest(), max_value).0;
                    truncated |= !push_bounded(&mut ch.alpn, max_list, p);
                }
                Some(())
            })(),
            43 => (|| {
                let mut list = d.vec8()?;
                while !list.is_empty() {
                    let v = list.u16()?;
                    truncated |= !push_bounded(&mut ch.supported_versions, max_list, v);
                }
                Some(())
            })(),
            10 => (|| {
                let mut list = d.vec16()?;
                while !list.is_empty() {
                    let v = list.u16()?;
                    truncated |= !push_bounded(&mut ch.supported_groups, max_list, v);
                }
                Some(())
            })(),
            11 => (|| {
                let list = d.vec8()?.rest();
                truncated |= list.len() > max_list;
                ch.ec_point_formats = list.iter().copied().take(max_list).collect();
                Some(())
            })(),
            13 => (|| {
                let mut list = d.vec16()?;
                while !list.is_empty() {
                    let v = list.u16()?;
                    truncated |= !push_bounded(&mut ch.signature_algorithms, max_list, v);
                }
                Some(())
            })(),
            _ => Some(()),
        };
        ch.malformed |= parsed.is_none();
    }
    ch.truncated = truncated;
    // JA3 over every value, not only the kept ones, so that the string does
    // not depend on the list limits. Curves and formats come from the raw
    // extensions for the same reason.
    let groups: Vec<u16> = exts
        .iter()
        .filter(|(t, _)| *t == 10)
        .flat_map(|(_, d)| {
            let mut r = Reader::new(d);
            let mut v = Vec::new();
            if let Some(mut l) = r.vec16() {
                while let Some(x) = l.u16() {
                    v.push(x);
                }
            }
            v
        })
        .collect();
    let formats: Vec<u8> = exts
        .iter()
        .filter(|(t, _)| *t == 11)
        .flat_map(|(_, d)| {
            let mut r = Reader::new(d);
            r.vec8().map(|l| l.rest().to_vec()).unwrap_or_default()
        })
        .collect();
    ch.ja3 = format!(
        "{},{},{},{},{}",
        ch.version,
        join(all_ciphers.iter().filter(|v| !is_grease(**v))),
        join(exts.iter().map(|e| e.0).filter(|v| !is_grease(*v))),
        join(groups.iter().filter(|v| !is_grease(**v))),
        join(formats.iter()),
    );
    ch.ja3_md5 = md5_hex(&ch.ja3);
    ch
}

/// Decodes an SSL 2.0-format ClientHello: message type (1), version,
/// cipher-spec length, session-id length, challenge length, then the specs.
fn parse_sslv2_client_hello(msg: &[u8], max_list: usize) -> ClientHello {
    let mut ch = ClientHello {
        sslv2: true,
        record_version: 0x0002,
        ..ClientHello::default()
    };
    let mut r = Reader::new(msg);
    let ok = (|| -> Option<()> {
        r.u8()?;
        ch.version = r.u16()?;
        let (specs, sid, _challenge) = (r.u16()?, r.u16()?, r.u16()?);
        let mut specs = r.sub(specs as usize)?;
        while specs.remaining() >= 3 {
            let b = specs.bytes(3)?;
            if b[0] == 0 {
                let v = u16::from_be_bytes([b[1], b[2]]);
                ch.truncated |= !push_bounded(&mut ch.cipher_suites, max_list, v);
            }
        }
        ch.session_id = r.bytes(sid as usize)?.to_vec();
        Some(())
    })();
    ch.malformed = ok.is_none();
    ch
}

/// Decodes a TLS ≤ 1.2 Certificate message body: a 3-byte-length list of
/// 3-byte-length DER certificates.
fn parse_certificates(
    body: &[u8],
    dir: Direction,
    ts: u64,
    max_list: usize,
    max_value: usize,
) -> TlsCertificates {
    let mut c = TlsCertificates {
        ts,
        dir,
        certs: Vec::new(),
        truncated: false,
        malformed: false,
    };
    let mut r = Reader::new(body);
    let ok = (|| -> Option<()> {
        let n = r.u24()? as usize;
        let mut list = r.sub(n)?;
        while !list.is_empty() {
            let n = list.u24()? as usize;
            let der = list.bytes(n)?;
            if c.certs.len() < max_list {
                c.certs.push(parse_certificate(der, max_list, max_value));
            } else {
                c.truncated = true;
            }
        }
        Some(())
    })();
    c.malformed = ok.is_none();
    c
}

/// Decodes a ServerHello body (after the 4-byte handshake header).
pub fn parse_server_hello(body: &[u8], max_list: usize, max_value: usize) -> ServerHello {
    let mut sh = ServerHello::default();
    let mut r = Reader::new(body);
    let mut exts = Vec::new();
    let ok = (|| -> Option<bool> {
        sh.version = r.u16()?;
        sh.hello_retry_request = r.bytes(32)? == HRR_RANDOM;
        sh.session_id = r.vec8()?.rest().to_vec();
        sh.cipher_suite = r.u16()?;
        sh.compression_method = r.u8()?;
        Some(extensions(&mut r, &mut exts))
    })();
    sh.malformed = ok != Some(true);
    for &(t, d) in &exts {
        sh.truncated |= !push_bounded(&mut sh.extensions, max_list, t);
        let mut d = Reader::new(d);
        match t {
            43 => {
                sh.supported_version = d.u16();
                sh.malformed |= sh.supported_version.is_none();
            }
            16 => {
                let p = d
                    .vec16()
                    .and_then(|mut l| l.vec8())
                    .map(|p| bounded_string(p.rest(), max_value).0);
                sh.malformed |= p.is_none();
                sh.alpn = p;
            }
            _ => {}
        }
    }
    sh.ja3s = format!(
        "{},{},{}",
        sh.version,
        sh.cipher_suite,
        join(exts.iter().map(|e| e.0).filter(|v| !is_grease(*v))),
    );
    sh.ja3s_md5 = md5_hex(&sh.ja3s);
    sh
}
