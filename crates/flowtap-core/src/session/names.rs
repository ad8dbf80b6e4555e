//! Names of protocol numbers, as logs print them: DNS types, classes and
//! rcodes (Zeek's `qtype_name`, `qclass_name`, `rcode_name`), TLS versions
//! and cipher suites (Zeek's ssl.log `version` and `cipher`, IANA names).
//! A number without a name is printed as the registry's generic form
//! (`TYPE65280`, `CLASS3`, `unknown-0x1234`).

use std::borrow::Cow;

use super::Protocol;

pub fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Http => "http",
        Protocol::Dns => "dns",
        Protocol::Tls => "tls",
    }
}

/// DNS RR type mnemonic (RFC 1035 and successors, IANA registry).
pub fn dns_type_name(t: u16) -> Cow<'static, str> {
    Cow::Borrowed(match t {
        1 => "A",
        2 => "NS",
        3 => "MD",
        4 => "MF",
        5 => "CNAME",
        6 => "SOA",
        7 => "MB",
        8 => "MG",
        9 => "MR",
        10 => "NULL",
        11 => "WKS",
        12 => "PTR",
        13 => "HINFO",
        14 => "MINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        24 => "SIG",
        25 => "KEY",
        28 => "AAAA",
        29 => "LOC",
        33 => "SRV",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        39 => "DNAME",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        49 => "DHCID",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        53 => "SMIMEA",
        55 => "HIP",
        59 => "CDS",
        60 => "CDNSKEY",
        61 => "OPENPGPKEY",
        62 => "CSYNC",
        63 => "ZONEMD",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        108 => "EUI48",
        109 => "EUI64",
        249 => "TKEY",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        255 => "*",
        256 => "URI",
        257 => "CAA",
        32768 => "TA",
        32769 => "DLV",
        _ => return Cow::Owned(format!("TYPE{t}")),
    })
}

pub fn dns_class_name(c: u16) -> Cow<'static, str> {
    Cow::Borrowed(match c {
        1 => "C_INTERNET",
        3 => "C_CHAOS",
        4 => "C_HESIOD",
        254 => "C_NONE",
        255 => "C_ANY",
        _ => return Cow::Owned(format!("CLASS{c}")),
    })
}

pub fn dns_rcode_name(r: u16) -> Cow<'static, str> {
    Cow::Borrowed(match r {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        16 => "BADVERS",
        _ => return Cow::Owned(format!("RCODE{r}")),
    })
}

/// `SSLv3`, `TLSv10` … `TLSv13` as Zeek prints them; drafts of TLS 1.3
/// (0x7fNN) as `TLSv13-draftNN`.
pub fn tls_version_name(v: u16) -> String {
    match v {
        0x0002 => "SSLv2".into(),
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv10".into(),
        0x0302 => "TLSv11".into(),
        0x0303 => "TLSv12".into(),
        0x0304 => "TLSv13".into(),
        0x7f00..=0x7fff => format!("TLSv13-draft{}", v & 0xff),
        0xfeff => "DTLSv10".into(),
        0xfefd => "DTLSv12".into(),
        0xfefc => "DTLSv13".into(),
        _ => format!("unknown-0x{v:04x}"),
    }
}

/// The IANA name of a cipher suite (`TLS_AES_128_GCM_SHA256`, …).
pub fn tls_cipher_name(id: u16) -> String {
    match tls_parser::TlsCipherSuite::from_id(id) {
        Some(c) => c.name.to_string(),
        None => format!("unknown-0x{id:04x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(dns_type_name(28), "AAAA");
        assert_eq!(dns_type_name(65280), "TYPE65280");
        assert_eq!(dns_class_name(1), "C_INTERNET");
        assert_eq!(dns_rcode_name(3), "NXDOMAIN");
        assert_eq!(tls_version_name(0x0303), "TLSv12");
        assert_eq!(tls_version_name(0x7f1c), "TLSv13-draft28");
        assert_eq!(tls_cipher_name(0x1301), "TLS_AES_128_GCM_SHA256");
        assert_eq!(
            tls_cipher_name(0xc02f),
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        );
        assert_eq!(tls_cipher_name(0xfefe), "unknown-0xfefe");
    }
}
