//! Protocol detection from the first bytes of a flow. Content decides: HTTP
//! and TLS are recognised on any port. A 12-byte DNS header is easy to match
//! by chance, so DNS is taken on ports 53 and 5353 from a plausible header,
//! and on any other port only from a message that parses exactly: one
//! question, the records its header counts and nothing after them (for TCP,
//! with a length prefix equal to the message's length).

use super::Protocol;

/// The transport the bytes came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

/// The outcome of [`detect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detection {
    Found(Protocol),
    /// Could still match once more bytes arrive.
    NeedMore,
    /// Matches none of the parsers here.
    Unknown,
}

/// Longest method token accepted when guessing HTTP from an unknown method.
const MAX_METHOD: usize = 24;
const KNOWN_METHODS: &[&[u8]] = &[
    b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"TRACE", b"CONNECT", b"PATCH",
];

fn is_dns_port(p: u16) -> bool {
    p == 53 || p == 5353
}

/// Protocols that borrow DNS's wire format but are not DNS (NetBIOS name
/// service, LLMNR): their messages parse as DNS and must not be taken for
/// it.
fn is_dns_lookalike_port(p: u16) -> bool {
    p == 137 || p == 5355
}

/// Which parser fits a flow whose originator sent `orig` and responder
/// `resp` first (for UDP the first datagram of each). Either may be empty:
/// a silent side is no evidence, so call again when it speaks.
/// [`Detection::NeedMore`] means a non-empty side is a prefix of something
/// a parser accepts.
pub fn detect(
    transport: Transport,
    orig: &[u8],
    resp: &[u8],
    orig_port: u16,
    resp_port: u16,
) -> Detection {
    let dns_port = is_dns_port(orig_port) || is_dns_port(resp_port);
    let lookalike = is_dns_lookalike_port(orig_port) || is_dns_lookalike_port(resp_port);
    let mut need_more = false;
    match transport {
        Transport::Udp => {
            let found = if dns_port {
                plausible_dns(orig) || plausible_dns(resp)
            } else {
                !lookalike && (exact_dns(orig) || exact_dns(resp))
            };
            return if found {
                Detection::Found(Protocol::Dns)
            } else {
                Detection::Unknown
            };
        }
        Transport::Tcp => {
            for (bytes, is_orig) in [(orig, true), (resp, false)] {
                // A side that has not spoken yet is no evidence either way.
                if bytes.is_empty() {
                    continue;
                }
                for d in [http(bytes, is_orig), tls(bytes, is_orig)] {
                    match d {
                        Detection::Found(p) => return Detection::Found(p),
                        Detection::NeedMore => need_more = true,
                        Detection::Unknown => {}
                    }
                }
                if lookalike {
                } else if !dns_port {
                    match bytes.get(..2) {
                        Some(l) => {
                            let len = u16::from_be_bytes([l[0], l[1]]) as usize;
                            let msg = &bytes[2..];
                            if msg.len() >= len && len >= 12 && exact_dns(&msg[..len]) {
                                return Detection::Found(Protocol::Dns);
                            }
                            if (12..=512).contains(&len) && msg.len() < len {
                                need_more = true;
                            }
                        }
                        None => need_more = true,
                    }
                } else {
                    match bytes.get(..2) {
                        Some(l) => {
                            let len = u16::from_be_bytes([l[0], l[1]]) as usize;
                            let msg = &bytes[2..];
                            if len >= 12 && msg.len() >= 12 && plausible_dns(msg) {
                                return Detection::Found(Protocol::Dns);
                            }
                            if len >= 12 && msg.len() < 12 {
                                need_more = true;
                            }
                        }
                        None => need_more = true,
                    }
                }
            }
        }
    }
    if need_more {
        Detection::NeedMore
    } else {
        Detection::Unknown
    }
}

fn http(b: &[u8], is_orig: bool) -> Detection {
    if !is_orig {
        let p = b"HTTP/1.";
        let n = b.len().min(p.len());
        return if b[..n] != p[..n] {
            Detection::Unknown
        } else if n == p.len() {
            Detection::Found(Protocol::Http)
        } else {
            Detection::NeedMore
        };
    }
    // A known method followed by a space is enough; an unknown token needs
    // the whole request line to end in " HTTP/1.x".
    for m in KNOWN_METHODS {
        let n = b.len().min(m.len() + 1);
        let mut want = m.to_vec();
        want.push(b' ');
        if b[..n] == want[..n] {
            return if n == want.len() {
                Detection::Found(Protocol::Http)
            } else {
                Detection::NeedMore
            };
        }
    }
    let tok = b
        .iter()
        .take_while(|c| c.is_ascii_uppercase() || **c == b'-' || **c == b'_')
        .count();
    if tok == 0 || tok > MAX_METHOD {
        return Detection::Unknown;
    }
    if tok == b.len() {
        return Detection::NeedMore;
    }
    if b[tok] != b' ' {
        return Detection::Unknown;
    }
    let line_end = b.iter().position(|&c| c == b'\n');
    let line = &b[..line_end.unwrap_or(b.len())];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match line_end {
        Some(_) if line.len() >= 8 && line[line.len() - 8..line.len() - 1] == *b"HTTP/1." => {
            Detection::Found(Protocol::Http)
        }
        Some(_) => Detection::Unknown,
        None if b.len() < 8192 => Detection::NeedMore,
        None => Detection::Unknown,
    }
}

fn tls(b: &[u8], is_orig: bool) -> Detection {
    // Record: type 22 (handshake), version 3.x, length; then the handshake
    // type: ClientHello from the originator, ServerHello from the responder.
    let want_type = if is_orig { 1 } else { 2 };
    // An SSL 2.0-format ClientHello: length with the top bit set, type 1,
    // version 2.0 or 3.x.
    if is_orig && b.first().is_some_and(|c| c & 0x80 != 0) {
        return match b.get(2..4) {
            None => Detection::NeedMore,
            Some([1, 0 | 3]) => Detection::Found(Protocol::Tls),
            Some(_) => Detection::Unknown,
        };
    }
    let checks: [&dyn Fn(u8) -> bool; 6] = [
        &|c| c == 0x16,
        &|c| c == 0x03,
        &|c| c <= 0x04,
        &|c| c <= 0x48, // record length ≤ 2^14 + 2048
        &|_| true,
        &|c| c == want_type,
    ];
    for (i, check) in checks.iter().enumerate() {
        match b.get(i) {
            None => return Detection::NeedMore,
            Some(&c) if !check(c) => return Detection::Unknown,
            Some(_) => {}
        }
    }
    Detection::Found(Protocol::Tls)
}

/// A whole DNS message with one question whose records parse without error
/// and end exactly where the message does.
fn exact_dns(b: &[u8]) -> bool {
    if !plausible_dns(b) || u16::from_be_bytes([b[4], b[5]]) != 1 {
        return false;
    }
    let m = super::dns::parse_message(b, 64, 256);
    m.error.is_none() && m.questions.len() == 1 && m.parsed == b.len()
}

/// A DNS header whose fields are all in range and whose first question (if
/// any) parses.
pub(crate) fn plausible_dns(b: &[u8]) -> bool {
    if b.len() < 12 {
        return false;
    }
    let flags = u16::from_be_bytes([b[2], b[3]]);
    let opcode = (flags >> 11) & 0xf;
    let z = flags & 0x0040;
    let count = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    if !matches!(opcode, 0 | 1 | 2 | 4 | 5) || z != 0 || qd > 16 {
        return false;
    }
    if u32::from(an) + u32::from(ns) + u32::from(ar) > 1024 || (qd == 0 && an == 0 && ar == 0) {
        return false;
    }
    if qd == 0 {
        return true;
    }
    !super::dns::parse_message(b, 8, 16).questions.is_empty()
}
