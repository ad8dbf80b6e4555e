//! Every capture of the shared corpus, read with `PacketSource` (and
//! `CaptureReader`) and checked against the expected outputs that Wireshark
//! 4.0.17's capinfos/tshark produced for it (see the corpus README.md):
//!
//! (a) packet count and, for damaged or unsupported files, the typed error
//!     that ends the read ([`DAMAGED`]);
//! (b) packets per (interface, link type) = `expected/NAME.linktypes.tsv`;
//! (c) first/last timestamps (min/max) = capinfos, to the nanosecond;
//! (d) decode sanity: TCP/UDP frames = the frames of tshark's TCP/UDP
//!     conversations, VLAN-tagged, IPv4-fragment and snaplen-cut packets =
//!     the MANIFEST coverage table, and the exact status/stop of every
//!     packet that does not decode cleanly ([`NOT_OK`]);
//! plus capinfos' file type, interface count and data size.
//!
//! Every place where we differ from Wireshark is listed in a table below
//! with the reason. The corpus is found through `FLOWTAP_CORPUS`, else at
//! `<crate>/../../../shared/corpus`; when it is missing the test fails under
//! CI (env `CI` set) and is skipped otherwise.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use flowtap_core::batch::{
    U16_DST_PORT, U16_LINK_TYPE, U16_SRC_PORT, U32_CAPLEN, U32_INTERFACE, U32_ORIGLEN,
    U32_PAYLOAD_LEN, U32_PAYLOAD_OFFSET, U8_IP_FLAGS, U8_NET, U8_STATUS, U8_STOP, U8_TRANSPORT,
    U8_VLAN_COUNT,
};
use flowtap_core::capture::{CaptureFormat, CaptureReader, ReaderOptions};
use flowtap_core::decode::{decode, ip_flags, Layer, Net, Status, Transport};
use flowtap_core::source::{PacketSource, SourceOptions, SourceStats};
use flowtap_core::{Error, ErrorCode};

mod common;
use common::corpus_dir;

// ------------------------------------------------------------------ tables

/// A capture that does not end cleanly.
struct Damaged {
    file: &'static str,
    /// Packets delivered before the error.
    packets: u64,
    code: ErrorCode,
    /// Byte offset the error names.
    offset: u64,
    /// What capinfos counted, when it differs from `packets` (see `why`).
    capinfos_packets: Option<u64>,
    why: &'static str,
}

const DAMAGED: &[Damaged] = &[
    Damaged {
        file: "gopacket_pcapng_le_test901.pcapng",
        packets: 1,
        code: ErrorCode::CaptureUnsupported,
        offset: 0x1e0,
        capinfos_packets: None,
        why: "the second section header has version 2.0; capinfos: 'unknown SHB version 2.0' \
              after 1 packet",
    },
    Damaged {
        file: "libpcap_linktype-reserved-field-not-zero.pcap",
        packets: 0,
        code: ErrorCode::CaptureFormat,
        offset: 20,
        capinfos_packets: None,
        why: "reserved bits 0x00300000 set in the header's link-type field. Wireshark files \
              this under 'unsupported'; we reject it as an invalid header (the bits must be \
              zero), as the reader's unit test pcap_version_and_reserved_bits specifies",
    },
    Damaged {
        file: "libpcap_pcap-invalid-version-1.pcap",
        packets: 0,
        code: ErrorCode::CaptureUnsupported,
        offset: 0,
        capinfos_packets: None,
        why: "pcap major version 1 (capinfos: 'major version 1 unsupported')",
    },
    Damaged {
        file: "libpcap_pcapng-invalid-vers-1.pcapng",
        packets: 0,
        code: ErrorCode::CaptureUnsupported,
        offset: 0,
        capinfos_packets: None,
        why: "pcapng section header version 0.1 (capinfos: 'unknown SHB version 0.1')",
    },
    Damaged {
        file: "libpcap_shb-option-too-long.pcapng",
        packets: 0,
        code: ErrorCode::CaptureFormat,
        offset: 0,
        capinfos_packets: None,
        why: "the section header's option runs past the block and its trailing length \
              (0x30303030) differs from the leading one (52); capinfos: 'Not enough data to \
              handle option of length 12336'",
    },
    Damaged {
        file: "suricata_bug-6875-01_fuzz.pcap",
        packets: 1,
        code: ErrorCode::LimitExceeded,
        offset: 228,
        capinfos_packets: Some(2),
        why: "record 2 (byte 228) claims 1409179648 captured bytes, so libpcap, tcpdump and \
              Suricata stop after 1 packet, and so do we. Wireshark instead guesses the \
              'ss990417' pcap variant (24-byte record headers) for this fuzzed file because \
              standard pcap looks bad in its first records (libpcap_try_variants), reads 2 \
              packets that way and then fails on a '16711424-byte packet'",
    },
    Damaged {
        file: "suricata_http-mime-truncated.pcap",
        packets: 2696,
        code: ErrorCode::CaptureTruncated,
        offset: 2_715_459,
        capinfos_packets: None,
        why: "the file ends inside record 2697 (capinfos: 'cut short in the middle of a \
              packet' after 2696 packets)",
    },
    Damaged {
        file: "suricata_smtp-to-comma_corrupt.pcap",
        packets: 18,
        code: ErrorCode::LimitExceeded,
        offset: 3695,
        capinfos_packets: None,
        why: "record 19 claims 3925868813 captured bytes, above the 262144-byte limit \
              (capinfos: 'bigger than maximum of 262144' after 18 packets)",
    },
];

/// Expected TCP/UDP frame counts where ours differ from the frames of
/// tshark's TCP/UDP conversations (`conv.txt`), with the reason. Everywhere
/// else the counts must be equal.
const CONV_EXCEPTIONS: &[(&str, u64, u64, &str)] = &[
    (
        "suricata_defrag-vlan-ipv4-tcp-syn.pcap",
        0,
        0,
        "3 IPv4 fragments that tshark reassembles into 1 TCP SYN; we do not reassemble \
         (fragments carry no transport), so tshark's 1 TCP frame is 0 here",
    ),
    (
        "suricata_security-8510_defrag-spray.pcap",
        0,
        0,
        "all 16384 packets are IPv4/IPv6 fragments; tshark reassembles 4096 UDP datagrams",
    ),
    (
        "zeek_dns-edns-ecs.pcap",
        9,
        72,
        "8 IPv4 fragments that tshark reassembles into 4 UDP datagrams (76 = 72 + 4)",
    ),
    (
        "zeek_gtp1_fragmentation.pcap",
        0,
        32,
        "GTP-U tunnel: tshark counts the inner TCP (68) and the outer UDP after reassembling \
         76 IPv4 fragments (68 = 32 unfragmented + 36 reassembled); we decode the outer \
         layers only and do not reassemble",
    ),
    (
        "zeek_tunnels_gre-aruba.pcap",
        0,
        0,
        "every packet is GRE (Aruba) encapsulated; tshark's 2407 TCP frames are inside the \
         tunnel, we stop at the outer IPv4 (transport Other)",
    ),
    (
        "tcpdump_ipv4_invalid_total_length.pcap",
        0,
        0,
        "IPv4 total length 85 but only 84 IP bytes on the wire (frame not cut): Malformed at \
         Ipv4 for us; tshark flags it and dissects the UDP anyway",
    ),
    (
        "zeek_tcp_reassembly.pcap",
        112,
        0,
        "5 frames of 1506/1494 bytes (captured = original length) whose IPv4 total length \
         1500 needs 1514: Malformed at Ipv4 for us, tshark dissects their TCP anyway \
         (117 = 112 + 5)",
    ),
];

/// Every packet whose decode is not `Status::Ok`, per file: (status, stop,
/// count). Files not listed must decode cleanly throughout.
#[allow(clippy::type_complexity)]
const NOT_OK: &[(&str, &[(Status, Layer, u64)], &str)] = &[
    (
        "gopacket_pcapng_le_test202.pcapng",
        &[(Status::Truncated, Layer::Payload, 6)],
        "interfaces with snaplen 96/128 cut 6 DHCP packets of 314/342 bytes in the UDP payload",
    ),
    (
        "suricata_bug-6875-01_fuzz.pcap",
        &[(Status::Malformed, Layer::Tcp, 1)],
        "fuzzed TCP header with data offset 0",
    ),
    (
        "tcpdump_arp-oobr.pcap",
        &[(Status::Malformed, Layer::Arp, 82)],
        "fuzzed ARP: 82 packets whose hardware/protocol address lengths overrun the 60-byte \
         frame (tshark's 114 'malformed' also counts unknown hardware types etc.)",
    ),
    (
        "tcpdump_heapoverflow-tcp_print.pcap",
        &[(Status::Truncated, Layer::Tcp, 1)],
        "a 104-byte capture of a 262144-byte packet, cut inside the TCP header",
    ),
    (
        "tcpdump_ipv4_invalid_total_length.pcap",
        &[(Status::Malformed, Layer::Ipv4, 1)],
        "IPv4 total length larger than the (uncut) frame",
    ),
    (
        "zeek_tcp_reassembly.pcap",
        &[(Status::Malformed, Layer::Ipv4, 5)],
        "IPv4 total length larger than the frame whose original length equals its captured one",
    ),
    (
        "zeek_tcp_timestamp_snaplen.pcap",
        &[(Status::Truncated, Layer::Payload, 691)],
        "snaplen cut 691 of 878 packets inside the TCP payload (MANIFEST: 691 cut)",
    ),
    (
        "zeek_tcp_truncated-header.pcap",
        &[
            (Status::Truncated, Layer::Tcp, 1),
            (Status::Truncated, Layer::Payload, 11),
        ],
        "all 24 packets have caplen < origlen; 12 lost only Ethernet padding (IP packet \
         whole: Ok), 11 lost TCP payload, 1 lost part of the TCP header",
    ),
];

/// capinfos prints no first/last time when a packet has no timestamp:
/// these files hold Simple Packet Blocks, which we time at 0.
const NO_CAPINFOS_TIMES: &[(&str, &str)] = &[
    (
        "gopacket_pcapng_be_test100.pcapng",
        "2 Simple Packet Blocks (no timestamp; we report 0)",
    ),
    (
        "gopacket_pcapng_le_test202.pcapng",
        "2 Simple Packet Blocks (no timestamp; we report 0)",
    ),
];

/// Packets per (interface, LINKTYPE) where tshark's linktypes.tsv cannot be
/// compared row by row, and the number of non-packet records tshark lists.
#[allow(clippy::type_complexity)]
const LINKTYPE_EXCEPTIONS: &[(&str, &[((u32, u16), u64)], u64, &str)] = &[(
    "gopacket_pcapng_le_test202.pcapng",
    &[((0, 1), 2), ((1, 0), 1), ((2, 1), 4), ((4, 0), 1)],
    3,
    "3 sections with 2+1+2 interfaces. We number interfaces across sections in file order \
     (0..4, as capinfos lists them); Wireshark 4.0's frame.interface_id is the id within the \
     packet's section, so tshark reports (0, Ethernet) 6 and (1, NULL) 2 — the same link \
     types and totals, checked below. tshark also counts the 3 pcapng custom blocks as \
     records without an encapsulation (the '0, <empty>, 3' row); they are not packets",
)];

/// Wiretap encapsulation (WTAP_ENCAP_*) → LINKTYPE_*. The corpus uses 1,
/// 15, 25 and 210 (`cut -f2 expected/*.linktypes.tsv | sort | uniq -c`);
/// the others are here for captures added later.
fn wtap_to_linktype(wtap: u32) -> Option<u16> {
    Some(match wtap {
        1 => 1,     // Ethernet
        7 => 101,   // raw IP
        15 => 0,    // NULL/loopback
        25 => 113,  // Linux cooked SLL
        129 => 228, // raw IPv4
        130 => 229, // raw IPv6
        210 => 276, // Linux cooked SLL2
        _ => return None,
    })
}

/// Our LINKTYPE as the one `wtap_to_linktype` gives back for its wiretap
/// encapsulation, where Wireshark folds several into one.
fn canonical_linktype(lt: u16) -> u16 {
    match lt {
        108 => 0,       // LOOP is WTAP_ENCAP_NULL too
        12 | 14 => 101, // BSD DLT_RAW values are WTAP_ENCAP_RAW_IP
        other => other,
    }
}

// ------------------------------------------------------------------ expectations

#[derive(Debug, Default)]
struct Capinfos {
    file_type: Option<String>,
    packets: Option<u64>,
    /// "An error occurred after reading N packets".
    packets_before_error: Option<u64>,
    data_size: Option<u64>,
    first: Option<u64>,
    last: Option<u64>,
    interfaces: Option<u32>,
    stderr: Vec<String>,
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.strip_prefix(key).map(str::trim)
}

/// "1506883716.995391962" → ns. capinfos prints each time with the
/// precision of the packet it belongs to (6 or 9 digits).
fn parse_time(s: &str) -> u64 {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    assert!(frac.len() <= 9, "time {s}");
    let scale = 10u64.pow(9 - frac.len() as u32);
    let frac: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().unwrap()
    };
    secs.parse::<u64>().unwrap() * 1_000_000_000 + frac * scale
}

fn parse_capinfos(text: &str) -> Capinfos {
    let mut c = Capinfos::default();
    for line in text.lines() {
        if let Some(v) = field(line, "File type:") {
            c.file_type = Some(v.to_string());
        } else if let Some(v) = field(line, "Number of packets:") {
            c.packets = Some(v.parse().unwrap());
        } else if let Some(v) = field(line, "Data size:") {
            c.data_size = Some(v.trim_end_matches(" bytes").parse().unwrap());
        } else if let Some(v) = field(line, "First packet time:") {
            c.first = Some(parse_time(v));
        } else if let Some(v) = field(line, "Last packet time:") {
            c.last = Some(parse_time(v));
        } else if let Some(v) = field(line, "Number of interfaces in file:") {
            c.interfaces.get_or_insert(v.parse().unwrap());
        } else if let Some(v) = field(line, "# stderr:") {
            if let Some(rest) = v.split("after reading ").nth(1) {
                let n = rest.split_whitespace().next().unwrap();
                c.packets_before_error = Some(n.parse().unwrap());
            }
            c.stderr.push(v.to_string());
        }
    }
    c
}

/// linktypes.tsv: (interface, LINKTYPE) → packets; rows with no
/// encapsulation (non-packet records) are returned apart.
fn parse_linktypes(text: &str) -> (BTreeMap<(u32, u16), u64>, u64) {
    let mut map = BTreeMap::new();
    let mut records = 0;
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 3, "linktypes row {line:?}");
        let n: u64 = cols[2].parse().unwrap();
        if cols[1].is_empty() {
            records += n;
            continue;
        }
        let iface: u32 = cols[0].parse().unwrap();
        let wtap: u32 = cols[1].parse().unwrap();
        let lt = wtap_to_linktype(wtap)
            .unwrap_or_else(|| panic!("wtap encapsulation {wtap} has no LINKTYPE mapping here"));
        *map.entry((iface, lt)).or_insert(0) += n;
    }
    (map, records)
}

/// Sum of the "Total Frames" column of tshark's TCP and UDP conversations.
fn parse_conv(text: &str) -> (u64, u64) {
    let (mut tcp, mut udp) = (0, 0);
    let mut section = "";
    for line in text.lines() {
        if line.starts_with("TCP Conversations") {
            section = "tcp";
        } else if line.starts_with("UDP Conversations") {
            section = "udp";
        }
        let t: Vec<&str> = line.split_whitespace().collect();
        let Some(i) = t.iter().position(|&w| w == "<->") else {
            continue;
        };
        // A <-> B  frames bytes unit  frames bytes unit  FRAMES bytes unit  start  duration
        assert_eq!(t.len(), i + 13, "conversation row {line:?}");
        let frames: u64 = t[i + 8].parse().unwrap();
        match section {
            "tcp" => tcp += frames,
            "udp" => udp += frames,
            _ => panic!("conversation outside a section: {line:?}"),
        }
    }
    (tcp, udp)
}

/// Per-file numbers of the MANIFEST's coverage table, by column name.
fn parse_coverage(manifest: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut header: Option<Vec<String>> = None;
    let mut out = BTreeMap::new();
    for line in manifest.lines() {
        let cells: Vec<String> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect();
        if line.starts_with("| set | file |") {
            header = Some(cells);
        } else if let Some(h) = &header {
            if cells.len() == h.len() && cells[1].starts_with('`') {
                let name = cells[1].trim_matches('`').to_string();
                out.insert(name, h.iter().cloned().zip(cells).collect());
            } else if !line.starts_with('|') {
                header = None;
            }
        }
    }
    out
}

fn count_of(cov: &BTreeMap<String, String>, col: &str) -> u64 {
    match cov.get(col).map(String::as_str) {
        None => panic!("coverage column {col} missing"),
        Some("") => 0,
        Some(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("coverage {col} = {v:?}")),
    }
}

// ------------------------------------------------------------------ reading

#[derive(Default)]
struct Observed {
    packets: u64,
    per_link: BTreeMap<(u32, u16), u64>,
    not_ok: BTreeMap<(u8, u8), u64>,
    tcp: u64,
    udp: u64,
    vlan: u64,
    ipv6: u64,
    ipv4_fragments: u64,
    ipv6_fragments: u64,
    cut: u64,
    teredo: u64,
    error: Option<Error>,
    stats: SourceStats,
    format: Option<CaptureFormat>,
}

fn read_with_source(path: &Path) -> Observed {
    let mut o = Observed::default();
    let file = std::fs::File::open(path).unwrap();
    let opts = SourceOptions {
        batch_packets: 1000,
        ..Default::default()
    };
    let mut src = match PacketSource::new(std::io::BufReader::new(file), opts) {
        Ok(s) => s,
        Err(e) => {
            o.error = Some(e);
            return o;
        }
    };
    o.format = Some(src.format());
    loop {
        let b = match src.next_batch() {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(e) => {
                o.error = Some(e);
                break;
            }
        };
        for i in 0..b.len() {
            o.packets += 1;
            let iface = b.u32_col(U32_INTERFACE)[i];
            let link = canonical_linktype(b.u16_col(U16_LINK_TYPE)[i]);
            *o.per_link.entry((iface, link)).or_insert(0) += 1;
            let status = b.u8_col(U8_STATUS)[i];
            if status != Status::Ok as u8 {
                *o.not_ok.entry((status, b.u8_col(U8_STOP)[i])).or_insert(0) += 1;
            }
            let transport = b.u8_col(U8_TRANSPORT)[i];
            o.tcp += (transport == Transport::Tcp as u8) as u64;
            o.udp += (transport == Transport::Udp as u8) as u64;
            let ports = [b.u16_col(U16_SRC_PORT)[i], b.u16_col(U16_DST_PORT)[i]];
            o.teredo += (transport == Transport::Udp as u8 && ports.contains(&3544)) as u64;
            o.vlan += (b.u8_col(U8_VLAN_COUNT)[i] > 0) as u64;
            let net = b.u8_col(U8_NET)[i];
            o.ipv6 += (net == Net::Ipv6 as u8) as u64;
            if b.u8_col(U8_IP_FLAGS)[i] & ip_flags::FRAGMENT != 0 {
                o.ipv4_fragments += (net == Net::Ipv4 as u8) as u64;
                o.ipv6_fragments += (net == Net::Ipv6 as u8) as u64;
            }
            let caplen = b.u32_col(U32_CAPLEN)[i];
            o.cut += (caplen < b.u32_col(U32_ORIGLEN)[i]) as u64;
            let end =
                b.u32_col(U32_PAYLOAD_OFFSET)[i] as u64 + b.u32_col(U32_PAYLOAD_LEN)[i] as u64;
            assert!(
                end <= caplen as u64,
                "{}: packet {} payload beyond caplen",
                path.display(),
                o.packets
            );
            assert_eq!(b.packet_data(i).len(), caplen as usize);
        }
    }
    // finished for good
    assert!(matches!(src.next_batch(), Ok(None)));
    o.stats = src.stats().clone();
    o
}

/// The same capture through the bare reader: frame count, error, interface
/// count, and the decoder's invariants on every frame.
fn read_with_reader(path: &Path) -> (u64, Option<Error>, u32) {
    let file = std::fs::File::open(path).unwrap();
    let mut r = match CaptureReader::new(file, ReaderOptions::default()) {
        Ok(r) => r,
        Err(e) => return (0, Some(e), 0),
    };
    let mut n = 0;
    let err = loop {
        match r.next_frame() {
            Ok(Some(f)) => {
                n += 1;
                let p = decode(f.link_type, f.data, f.origlen);
                assert!(p.payload_offset as usize + p.payload_len as usize <= f.data.len());
            }
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    (n, err, r.interface_count())
}

// ------------------------------------------------------------------ the test

fn read_expected(dir: &Path, name: &str, kind: &str) -> String {
    let p = dir.join("expected").join(format!("{name}.{kind}"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn format_name(f: CaptureFormat) -> &'static str {
    match f {
        CaptureFormat::PcapNg => "pcapng",
        CaptureFormat::Pcap { modified: true, .. } => "modpcap",
        CaptureFormat::Pcap {
            nanosecond: true, ..
        } => "nsecpcap",
        CaptureFormat::Pcap { .. } => "pcap",
    }
}

fn check_capture(dir: &Path, name: &str, coverage: &BTreeMap<String, String>) -> String {
    let mut fails = String::new();
    macro_rules! expect {
        ($cond:expr, $($msg:tt)*) => {
            if !$cond {
                let _ = writeln!(fails, "  {}", format!($($msg)*));
            }
        };
    }
    let path = dir.join(name);
    let cap = parse_capinfos(&read_expected(dir, name, "capinfos.txt"));
    let o = read_with_source(&path);
    let damaged = DAMAGED.iter().find(|d| d.file == name);

    // (a) packet count and the way the read ends
    let capinfos_count = cap.packets_before_error.or(cap.packets).unwrap_or(0);
    let expected_count = match damaged {
        Some(d) => {
            expect!(
                d.capinfos_packets.unwrap_or(d.packets) == capinfos_count,
                "table says capinfos read {:?} packets, capinfos says {capinfos_count}",
                d.capinfos_packets.unwrap_or(d.packets)
            );
            expect!(
                !cap.stderr.is_empty(),
                "listed as damaged but capinfos did not complain"
            );
            d.packets
        }
        None => {
            expect!(
                cap.stderr.is_empty(),
                "capinfos complained but no DAMAGED entry: {:?}",
                cap.stderr
            );
            capinfos_count
        }
    };
    expect!(
        o.packets == expected_count,
        "packets: {} read, {expected_count} expected",
        o.packets
    );
    expect!(
        o.stats.packets == o.packets,
        "stats count {} vs batches {}",
        o.stats.packets,
        o.packets
    );
    match (damaged, &o.error) {
        (None, None) => {}
        (Some(d), Some(e)) => {
            expect!(
                e.code() == d.code,
                "error {e} has code {:?}, expected {:?} ({})",
                e.code(),
                d.code,
                d.why
            );
            expect!(
                e.offset() == Some(d.offset),
                "error {e} at {:?}, expected {} ({})",
                e.offset(),
                d.offset,
                d.why
            );
        }
        (None, Some(e)) => expect!(false, "unexpected error {e}"),
        (Some(d), None) => expect!(false, "expected {:?} error, read ended cleanly", d.code),
    }
    let (n, err, interfaces) = read_with_reader(&path);
    expect!(
        n == o.packets,
        "CaptureReader read {n} frames, PacketSource {}",
        o.packets
    );
    expect!(
        err == o.error,
        "CaptureReader error {err:?}, PacketSource {:?}",
        o.error
    );

    // file type, interface count, data size (= sum of original lengths)
    if let Some(t) = &cap.file_type {
        let ours = o.format.map(format_name);
        expect!(ours == Some(t.as_str()), "file type {ours:?}, capinfos {t}");
    }
    if let Some(i) = cap.interfaces {
        expect!(interfaces == i, "{interfaces} interfaces, capinfos {i}");
    }
    if let Some(d) = cap.data_size {
        expect!(
            o.stats.wire_bytes == d,
            "wire bytes {}, capinfos data size {d}",
            o.stats.wire_bytes
        );
    }

    // (b) packets per (interface, link type)
    let (tsv, records) = parse_linktypes(&read_expected(dir, name, "linktypes.tsv"));
    match LINKTYPE_EXCEPTIONS.iter().find(|(f, ..)| *f == name) {
        Some(&(_, ours, tshark_records, _)) => {
            expect!(
                records == tshark_records,
                "tshark lists {records} non-packet records, table {tshark_records}"
            );
            let want: BTreeMap<(u32, u16), u64> = ours.iter().copied().collect();
            expect!(
                o.per_link == want,
                "per (interface, link): {:?}, table {want:?}",
                o.per_link
            );
            let by_link = |m: &BTreeMap<(u32, u16), u64>| {
                let mut out = BTreeMap::new();
                for ((_, l), n) in m {
                    *out.entry(*l).or_insert(0u64) += n;
                }
                out
            };
            expect!(
                by_link(&o.per_link) == by_link(&tsv),
                "per link type {:?}, tshark {:?}",
                by_link(&o.per_link),
                by_link(&tsv)
            );
        }
        None => {
            expect!(
                records == 0,
                "tshark lists {records} non-packet records; explain them"
            );
            let tsv_total: u64 = tsv.values().sum();
            let want = match damaged.and_then(|d| d.capinfos_packets.map(|c| (d, c))) {
                // tshark read packets we do not (see DAMAGED): same single
                // (interface, link type), our count
                Some((d, c)) => {
                    expect!(tsv_total == c && tsv.len() == 1, "tshark rows {tsv:?}");
                    tsv.keys().map(|&k| (k, d.packets)).collect()
                }
                None => tsv,
            };
            expect!(
                o.per_link == want,
                "per (interface, link): {:?}, tshark {want:?}",
                o.per_link
            );
        }
    }

    // (c) first/last timestamps, min and max like capinfos
    let no_times = NO_CAPINFOS_TIMES.iter().any(|(f, _)| *f == name);
    if no_times {
        expect!(
            cap.first.is_none(),
            "capinfos now prints times; drop the exception"
        );
        expect!(
            o.stats.first_ts_ns == Some(0),
            "first ts {:?}, SPB should give 0",
            o.stats.first_ts_ns
        );
    } else if cap.first.is_some() || cap.last.is_some() {
        expect!(
            o.stats.first_ts_ns == cap.first,
            "first ts {:?}, capinfos {:?}",
            o.stats.first_ts_ns,
            cap.first
        );
        expect!(
            o.stats.last_ts_ns == cap.last,
            "last ts {:?}, capinfos {:?}",
            o.stats.last_ts_ns,
            cap.last
        );
    } else {
        // capinfos prints no summary for a file it could not finish
        expect!(
            damaged.is_some() || o.packets == 0,
            "capinfos printed no times"
        );
    }

    // (d) decode sanity against tshark's conversations
    let (conv_tcp, conv_udp) = parse_conv(&read_expected(dir, name, "conv.txt"));
    let (want_tcp, want_udp) = match CONV_EXCEPTIONS.iter().find(|(f, ..)| *f == name) {
        Some(&(_, t, u, _)) => {
            expect!(
                t <= conv_tcp && u <= conv_udp,
                "exception above tshark ({conv_tcp}, {conv_udp})"
            );
            expect!((t, u) != (conv_tcp, conv_udp), "exception no longer needed");
            (t, u)
        }
        None => (conv_tcp, conv_udp),
    };
    expect!(
        o.tcp == want_tcp,
        "TCP packets {}, expected {want_tcp} (tshark conv {conv_tcp})",
        o.tcp
    );
    expect!(
        o.udp == want_udp,
        "UDP packets {}, expected {want_udp} (tshark conv {conv_udp})",
        o.udp
    );
    expect!(
        o.stats.tcp == o.tcp && o.stats.udp == o.udp,
        "stats disagree with batches"
    );

    // ... and against the MANIFEST coverage table (packets per feature)
    expect!(
        o.vlan == count_of(coverage, "VLAN"),
        "VLAN packets {}, coverage {}",
        o.vlan,
        count_of(coverage, "VLAN")
    );
    expect!(
        o.ipv4_fragments == count_of(coverage, "IPv4 frag"),
        "IPv4 fragments {}, coverage {}",
        o.ipv4_fragments,
        count_of(coverage, "IPv4 frag")
    );
    // tshark marks only some frames of a fragmented IPv6 datagram (e.g. not
    // the first of the pair in defrag-spray); we flag every frame with a
    // fragment header that really fragments.
    expect!(
        o.ipv6_fragments >= count_of(coverage, "IPv6 frag"),
        "IPv6 fragments {}, coverage {}",
        o.ipv6_fragments,
        count_of(coverage, "IPv6 frag")
    );
    // tshark also counts IPv6 inside Teredo (UDP port 3544); we decode only
    // the outer IPv4/UDP of those.
    let cov_v6 = count_of(coverage, "IPv6");
    expect!(
        o.ipv6 <= cov_v6 && cov_v6 <= o.ipv6 + o.teredo,
        "IPv6 packets {} (+{} Teredo), coverage {cov_v6}",
        o.ipv6,
        o.teredo
    );
    if damaged.is_none_or(|d| d.capinfos_packets.is_none()) {
        expect!(
            o.cut == count_of(coverage, "snaplen-trunc"),
            "cut packets {}, coverage {}",
            o.cut,
            count_of(coverage, "snaplen-trunc")
        );
    }
    let want_not_ok: BTreeMap<(u8, u8), u64> = NOT_OK
        .iter()
        .find(|(f, ..)| *f == name)
        .map(|(_, v, _)| v.iter().map(|&(s, l, n)| ((s as u8, l as u8), n)).collect())
        .unwrap_or_default();
    expect!(
        o.not_ok == want_not_ok,
        "not-Ok packets (status, stop): {:?}, expected {want_not_ok:?}",
        o.not_ok
    );
    let malformed: u64 = want_not_ok
        .iter()
        .filter(|((s, _), _)| *s == Status::Malformed as u8)
        .map(|(_, n)| n)
        .sum();
    let truncated: u64 = want_not_ok
        .iter()
        .filter(|((s, _), _)| *s == Status::Truncated as u8)
        .map(|(_, n)| n)
        .sum();
    expect!(
        (o.stats.malformed, o.stats.truncated) == (malformed, truncated),
        "stats malformed/truncated {}/{}",
        o.stats.malformed,
        o.stats.truncated
    );
    fails
}

#[test]
fn every_corpus_capture_matches_wireshark() {
    let Some(dir) = corpus_dir() else { return };
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.md")).unwrap();
    let coverage = parse_coverage(&manifest);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no captures in {}", dir.display());

    // the tables must not name files that are gone
    let listed = DAMAGED
        .iter()
        .map(|d| d.file)
        .chain(CONV_EXCEPTIONS.iter().map(|e| e.0))
        .chain(NOT_OK.iter().map(|e| e.0))
        .chain(NO_CAPINFOS_TIMES.iter().map(|e| e.0))
        .chain(LINKTYPE_EXCEPTIONS.iter().map(|e| e.0));
    for f in listed {
        assert!(
            names.iter().any(|n| n == f),
            "table entry {f} is not in the corpus"
        );
    }

    let mut report = String::new();
    for name in &names {
        let cov = coverage
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from the MANIFEST coverage table"));
        let fails = check_capture(&dir, name, cov);
        if !fails.is_empty() {
            let _ = write!(report, "{name}:\n{fails}");
        }
    }
    assert!(report.is_empty(), "corpus mismatches:\n{report}");
    eprintln!("checked {} captures in {}", names.len(), dir.display());
}
