//! The few X.509 fields an analyzer logs from a certificate seen in clear
//! (TLS ≤ 1.2): serial, issuer and subject distinguished names, validity
//! and DNS subject-alternative names.
//!
//! A minimal DER walk with the bounds-checked `Reader` of `wire.rs`:
//! definite lengths of at most 4 bytes, low tag numbers only; anything else
//! ends the walk and sets `malformed`, keeping the fields read so far.
//! Signatures are not checked and nothing is trusted: this is metadata for
//! display. A full X.509 crate (x509-parser) would bring a large dependency
//! tree for these six fields.

use super::wire::{bounded_string, push_bounded, Reader};

/// What is kept of one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Certificate {
    /// Upper-case hex bytes joined by `:` (as Suricata and OpenSSL print it).
    pub serial: String,
    /// RFC 4514-like, in certificate order: `C=FR, O=Example, CN=host`.
    pub issuer: String,
    pub subject: String,
    /// UTCTime / GeneralizedTime as encoded, e.g. `230101000000Z`.
    pub not_before: String,
    pub not_after: String,
    /// dNSName entries of the subjectAltName extension.
    pub san_dns: Vec<String>,
    /// DER length of the certificate.
    pub len: usize,
    pub truncated: bool,
    pub malformed: bool,
}

const TAG_SEQUENCE: u8 = 0x30;

/// One DER element: tag and content.
fn element<'a>(r: &mut Reader<'a>) -> Option<(u8, Reader<'a>)> {
    let tag = r.u8()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag number form: not used by certificates
    }
    let first = r.u8()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None; // indefinite length is not DER
        }
        let mut len = 0usize;
        for _ in 0..n {
            len = (len << 8) | usize::from(r.u8()?);
        }
        len
    };
    Some((tag, r.sub(len)?))
}

fn expect<'a>(r: &mut Reader<'a>, tag: u8) -> Option<Reader<'a>> {
    match element(r)? {
        (t, c) if t == tag => Some(c),
        _ => None,
    }
}

fn oid_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "street",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        _ => return None,
    })
}

/// Dotted form of an OID without a short name.
fn oid_dotted(oid: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut v: u64 = 0;
    for &b in oid {
        v = (v << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = (v / 40).min(2);
                parts.push(first);
                parts.push(v - first * 40);
            } else {
                parts.push(v);
            }
            v = 0;
        }
        if parts.len() > 32 {
            break;
        }
    }
    parts
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

/// A directory string as text: BMPString is UTF-16BE, the others are
/// taken as (lossy) UTF-8.
fn text(tag: u8, bytes: &[u8], max: usize) -> String {
    if tag == 0x1e {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        let s: String = char::decode_utf16(units)
            .map(|c| c.unwrap_or('\u{fffd}'))
            .collect();
        return bounded_string(s.as_bytes(), max).0;
    }
    bounded_string(bytes, max).0
}

/// A Name (SEQUENCE OF SET OF AttributeTypeAndValue) as `K=V, K=V`.
fn name(mut r: Reader<'_>, max: usize) -> Option<String> {
    let mut parts = Vec::new();
    while !r.is_empty() {
        let mut set = expect(&mut r, 0x31)?;
        while !set.is_empty() {
            let mut atv = expect(&mut set, TAG_SEQUENCE)?;
            let oid = expect(&mut atv, 0x06)?.rest();
            let (tag, value) = element(&mut atv)?;
            let key = oid_name(oid).map_or_else(|| oid_dotted(oid), str::to_string);
            parts.push(format!("{key}={}", text(tag, value.rest(), max)));
        }
    }
    Some(bounded_string(parts.join(", ").as_bytes(), max).0)
}

fn time(r: &mut Reader<'_>) -> Option<String> {
    match element(r)? {
        (0x17 | 0x18, c) => Some(bounded_string(c.rest(), 32).0),
        _ => None,
    }
}

/// subjectAltName dNSName values from the extensions block (`[3]`).
fn san(mut exts: Reader<'_>, c: &mut Certificate, max_list: usize, max: usize) -> Option<()> {
    let mut list = expect(&mut exts, TAG_SEQUENCE)?;
    while !list.is_empty() {
        let mut ext = expect(&mut list, TAG_SEQUENCE)?;
        let oid = expect(&mut ext, 0x06)?.rest();
        let (mut tag, mut v) = element(&mut ext)?;
        if tag == 0x01 {
            (tag, v) = element(&mut ext)?; // the critical flag
        }
        if oid != [0x55, 0x1d, 0x11] || tag != 0x04 {
            continue;
        }
        let mut names = expect(&mut v, TAG_SEQUENCE)?;
        while !names.is_empty() {
            let (t, n) = element(&mut names)?;
            if t == 0x82 {
                let s = bounded_string(n.rest(), max).0;
                c.truncated |= !push_bounded(&mut c.san_dns, max_list, s);
            }
        }
    }
    Some(())
}

/// Decodes the fields above from one DER certificate.
pub fn parse_certificate(der: &[u8], max_list: usize, max_value: usize) -> Certificate {
    let mut c = Certificate {
        len: der.len(),
        ..Certificate::default()
    };
    let ok = (|| -> Option<()> {
        let mut r = Reader::new(der);
        let mut cert = expect(&mut r, TAG_SEQUENCE)?;
        let mut tbs = expect(&mut cert, TAG_SEQUENCE)?;
        let (mut tag, mut serial) = element(&mut tbs)?;
        if tag == 0xa0 {
            (tag, serial) = element(&mut tbs)?; // explicit version
        }
        if tag != 0x02 {
            return None;
        }
        c.serial = serial
            .rest()
            .iter()
            .take(64)
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        expect(&mut tbs, TAG_SEQUENCE)?; // signature algorithm
        c.issuer = name(expect(&mut tbs, TAG_SEQUENCE)?, max_value)?;
        let mut validity = expect(&mut tbs, TAG_SEQUENCE)?;
        c.not_before = time(&mut validity)?;
        c.not_after = time(&mut validity)?;
        c.subject = name(expect(&mut tbs, TAG_SEQUENCE)?, max_value)?;
        expect(&mut tbs, TAG_SEQUENCE)?; // subjectPublicKeyInfo
        while !tbs.is_empty() {
            let (t, v) = element(&mut tbs)?;
            if t == 0xa3 {
                san(v, &mut c, max_list, max_value)?;
            }
        }
        Some(())
    })();
    c.malformed = ok.is_none();
    c
}
