//! Deterministic generator of a large, realistic mixed-traffic capture.
//!
//! Source material is a set of real Ethernet captures from the shared corpus
//! (HTTP, DNS over UDP and TCP, TLS, FTP, IPv6, SSDP/mDNS/NetBIOS noise). The
//! generator replays *replicas* of them: each replica is one source capture
//! whose IPv4/IPv6 addresses and TCP/UDP ports are rewritten by a per-replica
//! bijection, so both directions of every connection stay consistent and each
//! replica contributes its own set of distinct flows. Many replicas run
//! concurrently and are merged by timestamp, giving interleaved traffic with
//! strictly increasing timestamps. IPv4 header checksums are recomputed and
//! TCP/UDP/ICMPv6 checksums are adjusted incrementally (RFC 1624), so the
//! packets stay as valid as their originals.
//!
//! With `--sources DIR` the source material is every `*.pcap` in DIR
//! instead, weighted by DIR/weights.json (`{"dns.pcap": 6, …}`, default 1):
//! `benches/workload/seeds/`, recorded from real programs by
//! `benches/workload/record.sh`.
//!
//! Everything follows from `--seed` and `--packets` (and the corpus files):
//! the same arguments always produce the same bytes.
//!
//! With `--concurrent-flows N` it writes a synthetic capture instead, for
//! the flow-table benchmarks: N flows (three in four TCP, one in four UDP
//! 48-byte datagrams to the discard port, all IPv4) that all start in the
//! first round and stay open to the end, `--packets` spread round-robin
//! over them, each round in a new random order (so consecutive packets hit
//! flows far apart in any table, whatever its layout), one microsecond
//! apart: the capture holds N flows tracked at once for as long as it
//! lasts, well inside every default idle timeout.
//!
//! ```text
//! gen_capture [--packets N] [--seed S] [--out FILE] [--corpus DIR] [--format pcap|pcapng]
//! gen_capture --sources DIR [--packets N] [--seed S] [--out FILE] [--format pcap|pcapng]
//! gen_capture --concurrent-flows N [--packets N] [--out FILE] [--format pcap|pcapng]
//! gen_capture --version
//! ```
//!
//! Prints a JSON summary (packets, bytes, distinct flows, protocol mix, the
//! source files used) on stdout.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use flowtap_bench::{die, Args};
use flowtap_core::capture::{CaptureReader, ReaderOptions};
use flowtap_core::LinkType;

/// Bumped whenever the output for given arguments changes.
const GEN_VERSION: u32 = 2;
/// Bumped whenever the `--concurrent-flows` output for given arguments changes.
const SYNTH_VERSION: u32 = 2;

/// Source captures and their relative weight when a new replica is started.
/// All are Ethernet captures of ordinary traffic (no fuzzed or broken files).
const SOURCES: &[(&str, u32)] = &[
    ("zeek_http_bro.org.pcap", 3), // browser session, 13 keep-alive HTTP conns
    ("zeek_wikipedia.pcap", 6),    // HTTP + DNS + NetBIOS/LLMNR/mDNS noise
    ("suricata_base64-decode-5885.pcap", 2), // TLS 1.3, DNS, IPv6, SMB broadcasts
    ("suricata_output-eve-ftp-data.pcap", 2), // HTTP, FTP, DNS, DHCP, IPv6, 155 streams
    ("zeek_dns-edns-ecs.pcap", 9), // DNS over UDP/TCP, IPv6, IPv4 fragments
    ("zeek_tls_ssl.v3.pcap", 2),   // SSLv3 sessions
    ("suricata_http-body-hook-01_ipv6.pcap", 1), // HTTP over IPv6, large body
    ("suricata_tls-subjectaltname.pcap", 1), // 40 TLS ClientHellos + HTTP + DNS
    ("zeek_http_methods.pcap", 2), // 49 short HTTP connections
    ("suricata_tls-cert-issuer.pcap", 2), // 5 TLS sessions + mDNS
    ("zeek_tls_tls13-ech.pcap", 2), // TLS 1.3 with ECH
    ("pcapparser_wireshark_samples-test.pcapng", 1), // SSDP, mDNS, DNS, Teredo, SMB
];

/// Replicas played at the same time (interleaving depth).
const CONCURRENT: usize = 48;
/// Idle gaps inside a replica are capped at this (µs) to keep the capture dense.
const MAX_GAP_US: u64 = 1_000_000;
/// A new replica starts up to this long (µs) after the previous one ended.
const MAX_START_DELAY_US: u64 = 20_000;
/// 2024-01-01T00:00:00Z, the capture's first timestamp.
const BASE_TS_US: u64 = 1_704_067_200 * 1_000_000;
const SNAPLEN: u32 = 262_144;

/// SplitMix64: small, fast, and fully deterministic across platforms.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

struct SrcPacket {
    /// Gap to the previous packet of the same source (µs, capped).
    gap_us: u64,
    origlen: u32,
    data: Vec<u8>,
}

struct Trace {
    name: String,
    weight: u32,
    packets: Vec<SrcPacket>,
}

fn load_trace(path: &Path, weight: u32) -> Result<Trace, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = CaptureReader::new(file, ReaderOptions::default())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut packets = Vec::new();
    let mut prev: Option<u64> = None;
    loop {
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            // Keep what was read before a damaged record.
            Err(e) => {
                eprintln!(
                    "warning: {}: {e} (using the packets before it)",
                    path.display()
                );
                break;
            }
        };
        if frame.link_type != LinkType::ETHERNET || frame.data.len() < 14 {
            continue;
        }
        let ts_us = frame.ts_ns / 1000;
        let gap_us = prev.map_or(0, |p| ts_us.saturating_sub(p).min(MAX_GAP_US));
        prev = Some(ts_us);
        packets.push(SrcPacket {
            gap_us,
            origlen: frame.origlen.max(frame.data.len() as u32),
            data: frame.data.to_vec(),
        });
    }
    if packets.is_empty() {
        return Err(format!("{}: no Ethernet packets", path.display()));
    }
    Ok(Trace {
        name: path.file_name().unwrap().to_string_lossy().into_owned(),
        weight,
        packets,
    })
}

/// Per-replica rewrite: a bijection on addresses and on ephemeral ports.
#[derive(Clone, Copy)]
struct Rewrite {
    /// XORed into the low 24 bits of unicast IPv4 addresses.
    v4_key: u32,
    /// XORed into the last 4 bytes of unicast IPv6 addresses.
    v6_key: u32,
    /// Rotation of ports 1024..=65535 (service ports are kept).
    port_shift: u32,
}

impl Rewrite {
    fn for_replica(replica: u64, seed_key: u64, rng: &mut Rng) -> Rewrite {
        // Odd multipliers make both keys injective in the replica number
        // (mod 2^24 and 2^32), so replicas never share an address mapping.
        let r = replica.wrapping_add(1);
        Rewrite {
            v4_key: ((r.wrapping_mul(0x9E_3779) ^ seed_key) & 0x00FF_FFFF) as u32,
            v6_key: (r.wrapping_mul(0x85EB_CA6B) ^ (seed_key >> 24)) as u32,
            port_shift: rng.below(64_512) as u32,
        }
    }

    fn v4(&self, a: [u8; 4]) -> [u8; 4] {
        // Keep 0.0.0.0, multicast, broadcast and reserved space as they are.
        if a[0] == 0 || a[0] >= 224 {
            return a;
        }
        (u32::from_be_bytes(a) ^ self.v4_key).to_be_bytes()
    }

    fn v6(&self, a: [u8; 16]) -> [u8; 16] {
        // Keep multicast (ff00::/8) and the unspecified address.
        if a[0] == 0xff || a == [0; 16] {
            return a;
        }
        let mut out = a;
        let tail = u32::from_be_bytes(a[12..16].try_into().unwrap()) ^ self.v6_key;
        out[12..16].copy_from_slice(&tail.to_be_bytes());
        out
    }

    fn port(&self, p: u16) -> u16 {
        if p < 1024 || SERVICE_PORTS.contains(&p) {
            return p;
        }
        // Rotate, cycle-walking past service ports: a bijection on the
        // non-service ports 1024..=65535.
        let mut q = p;
        loop {
            q = (1024 + (u32::from(q) - 1024 + self.port_shift) % 64_512) as u16;
            if !SERVICE_PORTS.contains(&q) {
                return q;
            }
        }
    }
}

/// Registered ports above 1023 that the sources use as server ports.
const SERVICE_PORTS: &[u16] = &[1900, 3128, 3544, 5353, 5355, 8080, 8443];

/// A canonical (direction-independent) 5-tuple, for counting flows.
type FlowKey = [u8; 37];

fn flow_key(proto: u8, a: &[u8], pa: u16, b: &[u8], pb: u16) -> FlowKey {
    let mut ea = [0u8; 18];
    let mut eb = [0u8; 18];
    ea[..a.len()].copy_from_slice(a);
    ea[16..].copy_from_slice(&pa.to_be_bytes());
    eb[..b.len()].copy_from_slice(b);
    eb[16..].copy_from_slice(&pb.to_be_bytes());
    let (lo, hi) = if ea <= eb { (ea, eb) } else { (eb, ea) };
    let mut k = [0u8; 37];
    k[0] = proto;
    k[1..19].copy_from_slice(&lo);
    k[19..].copy_from_slice(&hi);
    k
}

#[derive(Default)]
struct Mix {
    ipv4: u64,
    ipv6: u64,
    tcp: u64,
    udp: u64,
    other: u64,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// One's-complement 16-bit sum of `b` (odd length padded with zero).
fn ones_sum(b: &[u8]) -> u32 {
    let mut s: u32 = 0;
    let mut chunks = b.chunks_exact(2);
    for c in &mut chunks {
        s += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        s += u32::from(*last) << 8;
    }
    s
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), with `delta` = Σ(~m + m').
fn adjust_checksum(csum: u16, delta: u32) -> u16 {
    !fold(u32::from(!csum) + delta)
}

/// Σ(~old + new) over the 16-bit words of two equal-length byte strings.
fn words_delta(old: &[u8], new: &[u8]) -> u32 {
    let mut d = 0u32;
    for (o, n) in old.chunks_exact(2).zip(new.chunks_exact(2)) {
        d += u32::from(!u16::from_be_bytes([o[0], o[1]]));
        d += u32::from(u16::from_be_bytes([n[0], n[1]]));
    }
    fold(d) as u32
}

/// Rewrites the transport ports at `l4` and fixes the checksum, given the
/// checksum delta of the pseudo-header addresses. Returns the new ports.
fn rewrite_l4(
    buf: &mut [u8],
    l4: usize,
    proto: u8,
    addr_delta: u32,
    rw: &Rewrite,
) -> Option<(u16, u16)> {
    match proto {
        6 | 17 => {
            let (sp, dp) = (be16(buf, l4)?, be16(buf, l4 + 2)?);
            let (nsp, ndp) = (rw.port(sp), rw.port(dp));
            let old: [u8; 4] = buf[l4..l4 + 4].try_into().unwrap();
            buf[l4..l4 + 2].copy_from_slice(&nsp.to_be_bytes());
            buf[l4 + 2..l4 + 4].copy_from_slice(&ndp.to_be_bytes());
            let delta = fold(addr_delta + words_delta(&old, &buf[l4..l4 + 4])) as u32;
            let at = if proto == 6 { l4 + 16 } else { l4 + 6 };
            if let Some(c) = be16(buf, at) {
                // UDP checksum 0 means "none"; a computed 0 is sent as 0xffff.
                if !(proto == 17 && c == 0) {
                    let mut n = adjust_checksum(c, delta);
                    if proto == 17 && n == 0 {
                        n = 0xffff;
                    }
                    buf[at..at + 2].copy_from_slice(&n.to_be_bytes());
                }
            }
            Some((nsp, ndp))
        }
        58 => {
            // ICMPv6 covers the pseudo-header too.
            if let Some(c) = be16(buf, l4 + 2) {
                let n = adjust_checksum(c, addr_delta);
                buf[l4 + 2..l4 + 4].copy_from_slice(&n.to_be_bytes());
            }
            None
        }
        _ => None,
    }
}

/// Rewrites one Ethernet frame in place; returns its flow key, if it is IP.
fn rewrite_frame(buf: &mut [u8], rw: &Rewrite, mix: &mut Mix) -> Option<FlowKey> {
    let mut off = 12;
    let mut et = be16(buf, off)?;
    let mut tags = 0;
    while (et == 0x8100 || et == 0x88a8) && tags < 4 {
        off += 4;
        et = be16(buf, off)?;
        tags += 1;
    }
    let l3 = off + 2;
    match et {
        0x0800 => {
            if buf.len() < l3 + 20 || buf[l3] >> 4 != 4 {
                mix.other += 1;
                return None;
            }
            let ihl = usize::from(buf[l3] & 0x0f) * 4;
            if ihl < 20 || buf.len() < l3 + ihl {
                mix.other += 1;
                return None;
            }
            mix.ipv4 += 1;
            let old: [u8; 8] = buf[l3 + 12..l3 + 20].try_into().unwrap();
            let src = rw.v4(old[..4].try_into().unwrap());
            let dst = rw.v4(old[4..].try_into().unwrap());
            buf[l3 + 12..l3 + 16].copy_from_slice(&src);
            buf[l3 + 16..l3 + 20].copy_from_slice(&dst);
            buf[l3 + 10..l3 + 12].copy_from_slice(&[0, 0]);
            let c = !fold(ones_sum(&buf[l3..l3 + ihl]));
            buf[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
            let proto = buf[l3 + 9];
            let frag_off = be16(buf, l3 + 6)? & 0x1fff;
            let mut ports = (0, 0);
            if frag_off == 0 {
                let delta = words_delta(&old, &buf[l3 + 12..l3 + 20]);
                if let Some(p) = rewrite_l4(buf, l3 + ihl, proto, delta, rw) {
                    ports = p;
                }
            }
            count_l4(mix, proto);
            Some(flow_key(proto, &src, ports.0, &dst, ports.1))
        }
        0x86dd => {
            if buf.len() < l3 + 40 || buf[l3] >> 4 != 6 {
                mix.other += 1;
                return None;
            }
            mix.ipv6 += 1;
            let old: [u8; 32] = buf[l3 + 8..l3 + 40].try_into().unwrap();
            let src = rw.v6(old[..16].try_into().unwrap());
            let dst = rw.v6(old[16..].try_into().unwrap());
            buf[l3 + 8..l3 + 24].copy_from_slice(&src);
            buf[l3 + 24..l3 + 40].copy_from_slice(&dst);
            let delta = words_delta(&old, &buf[l3 + 8..l3 + 40]);
            // Walk extension headers to the transport.
            let mut nh = buf[l3 + 6];
            let mut at = l3 + 40;
            let mut ports = (0, 0);
            for _ in 0..8 {
                match nh {
                    0 | 43 | 60 => {
                        let (n, len) = (*buf.get(at)?, *buf.get(at + 1)?);
                        nh = n;
                        at += (usize::from(len) + 1) * 8;
                    }
                    51 => {
                        let (n, len) = (*buf.get(at)?, *buf.get(at + 1)?);
                        nh = n;
                        at += (usize::from(len) + 2) * 4;
                    }
                    44 => {
                        let n = *buf.get(at)?;
                        let frag = be16(buf, at + 2)? >> 3;
                        nh = n;
                        at += 8;
                        if frag != 0 {
                            break;
                        }
                    }
                    _ => {
                        if let Some(p) = rewrite_l4(buf, at, nh, delta, rw) {
                            ports = p;
                        }
                        break;
                    }
                }
            }
            count_l4(mix, nh);
            Some(flow_key(nh, &src, ports.0, &dst, ports.1))
        }
        _ => {
            mix.other += 1;
            None
        }
    }
}

fn count_l4(mix: &mut Mix, proto: u8) {
    match proto {
        6 => mix.tcp += 1,
        17 => mix.udp += 1,
        _ => {}
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Pcap,
    PcapNg,
}

struct Writer {
    out: BufWriter<File>,
    format: Format,
    bytes: u64,
}

impl Writer {
    fn new(path: &Path, format: Format) -> std::io::Result<Writer> {
        let mut w = Writer {
            out: BufWriter::with_capacity(4 << 20, File::create(path)?),
            format,
            bytes: 0,
        };
        match format {
            Format::Pcap => {
                let mut h = Vec::with_capacity(24);
                h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes()); // µs, little endian
                h.extend_from_slice(&2u16.to_le_bytes());
                h.extend_from_slice(&4u16.to_le_bytes());
                h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
                h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
                h.extend_from_slice(&SNAPLEN.to_le_bytes());
                h.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
                w.write(&h)?;
            }
            Format::PcapNg => {
                let mut h = Vec::with_capacity(48);
                // Section Header Block, no options.
                h.extend_from_slice(&0x0A0D_0D0Au32.to_le_bytes());
                h.extend_from_slice(&28u32.to_le_bytes());
                h.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
                h.extend_from_slice(&1u16.to_le_bytes());
                h.extend_from_slice(&0u16.to_le_bytes());
                h.extend_from_slice(&(-1i64).to_le_bytes());
                h.extend_from_slice(&28u32.to_le_bytes());
                // Interface Description Block: Ethernet, default µs resolution.
                h.extend_from_slice(&1u32.to_le_bytes());
                h.extend_from_slice(&20u32.to_le_bytes());
                h.extend_from_slice(&1u16.to_le_bytes());
                h.extend_from_slice(&0u16.to_le_bytes());
                h.extend_from_slice(&SNAPLEN.to_le_bytes());
                h.extend_from_slice(&20u32.to_le_bytes());
                w.write(&h)?;
            }
        }
        Ok(w)
    }

    fn write(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.bytes += b.len() as u64;
        self.out.write_all(b)
    }

    fn packet(&mut self, ts_us: u64, origlen: u32, data: &[u8]) -> std::io::Result<()> {
        let caplen = data.len() as u32;
        match self.format {
            Format::Pcap => {
                let mut h = [0u8; 16];
                h[0..4].copy_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
                h[4..8].copy_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
                h[8..12].copy_from_slice(&caplen.to_le_bytes());
                h[12..16].copy_from_slice(&origlen.to_le_bytes());
                self.write(&h)?;
                self.write(data)
            }
            Format::PcapNg => {
                let pad = (4 - data.len() % 4) % 4;
                let total = (32 + data.len() + pad) as u32;
                let mut h = [0u8; 28];
                h[0..4].copy_from_slice(&6u32.to_le_bytes()); // Enhanced Packet Block
                h[4..8].copy_from_slice(&total.to_le_bytes());
                h[8..12].copy_from_slice(&0u32.to_le_bytes()); // interface 0
                h[12..16].copy_from_slice(&((ts_us >> 32) as u32).to_le_bytes());
                h[16..20].copy_from_slice(&(ts_us as u32).to_le_bytes());
                h[20..24].copy_from_slice(&caplen.to_le_bytes());
                h[24..28].copy_from_slice(&origlen.to_le_bytes());
                self.write(&h)?;
                self.write(data)?;
                self.write(&[0u8; 3][..pad])?;
                self.write(&total.to_le_bytes())
            }
        }
    }
}

/// The corpus directory: `--corpus`, `$FLOWTAP_CORPUS`, or `shared/corpus`
/// beside the repository (found from this crate's location or the cwd).
fn corpus_dir(arg: Option<&str>) -> PathBuf {
    if let Some(d) = arg {
        return PathBuf::from(d);
    }
    if let Ok(d) = std::env::var("FLOWTAP_CORPUS") {
        return PathBuf::from(d);
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let candidates = [
        repo.join("../shared/corpus"),
        PathBuf::from("../shared/corpus"),
        PathBuf::from("/work/shared/corpus"),
    ];
    for c in &candidates {
        if c.is_dir() {
            return c.clone();
        }
    }
    die("corpus not found: pass --corpus DIR or set FLOWTAP_CORPUS (expected ../shared/corpus beside the repo)")
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

struct Session {
    trace: usize,
    idx: usize,
    rw: Rewrite,
}

fn main() {
    let args = Args::parse(&["version", "help"]);
    args.check_known(&[
        "packets",
        "seed",
        "out",
        "corpus",
        "sources",
        "format",
        "version",
        "help",
        "concurrent-flows",
    ]);
    if args.has("help") {
        println!(
            "gen_capture [--packets N (default 2000000)] [--seed S (default 1)] [--out FILE] [--corpus DIR] [--format pcap|pcapng]\n\
             gen_capture --concurrent-flows N [--packets N (default 2000000)] [--out FILE] [--format pcap|pcapng]"
        );
        return;
    }
    if args.has("version") {
        println!("{GEN_VERSION}");
        return;
    }
    let packets: u64 = args.num("packets", 2_000_000);
    let seed: u64 = args.num("seed", 1);
    let format = match args.get("format").unwrap_or("pcap") {
        "pcap" => Format::Pcap,
        "pcapng" => Format::PcapNg,
        f => die(&format!("--format must be pcap or pcapng, not {f}")),
    };
    let ext = if format == Format::Pcap {
        "pcap"
    } else {
        "pcapng"
    };
    if let Some(n) = args.get("concurrent-flows") {
        let flows: u64 = args.num("concurrent-flows", 0);
        if flows == 0 || flows > 1 << 28 {
            die(&format!(
                "--concurrent-flows must be in 1..{}, not {n}",
                1u64 << 28
            ));
        }
        let out = args
            .get("out")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(format!("flows-{flows}-{packets}.{ext}")));
        synthetic(flows, packets, &out, format, ext);
        return;
    }
    let out = args
        .get("out")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("mixed-{packets}-s{seed}.{ext}")));
    // (file, weight): the corpus list, or every pcap of --sources.
    let (corpus, list): (PathBuf, Vec<(String, u32)>) = match args.get("sources") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| die(&format!("{}: {e}", dir.display())))
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".pcap"))
                .collect();
            names.sort();
            // Optional weights.json beside them: {"file.pcap": weight, …}.
            let weights = std::fs::read_to_string(dir.join("weights.json")).unwrap_or_default();
            let weight_of = |n: &str| -> u32 {
                let key = format!("\"{n}\"");
                weights
                    .find(&key)
                    .and_then(|at| {
                        let rest = weights[at + key.len()..].trim_start().strip_prefix(':')?;
                        let digits: String = rest
                            .trim_start()
                            .chars()
                            .take_while(|c| c.is_ascii_digit())
                            .collect();
                        digits.parse().ok()
                    })
                    .unwrap_or(1)
            };
            let list = names
                .into_iter()
                .map(|n| {
                    let w = weight_of(&n);
                    (n, w)
                })
                .collect();
            (dir, list)
        }
        None => (
            corpus_dir(args.get("corpus")),
            SOURCES.iter().map(|(n, w)| (n.to_string(), *w)).collect(),
        ),
    };

    let started = Instant::now();
    let mut traces = Vec::new();
    let mut missing = Vec::new();
    for (name, weight) in &list {
        let (name, weight) = (name.as_str(), *weight);
        let path = corpus.join(name);
        if !path.exists() {
            eprintln!("warning: {} missing, skipped", path.display());
            missing.push(name);
            continue;
        }
        match load_trace(&path, weight) {
            Ok(t) => traces.push(t),
            Err(e) => die(&e),
        }
    }
    if traces.is_empty() {
        die(&format!("no source captures found in {}", corpus.display()));
    }
    let weights: Vec<u64> = traces.iter().map(|t| u64::from(t.weight)).collect();
    let total_weight: u64 = weights.iter().sum();
    let mut replicas = vec![0u64; traces.len()];

    let mut rng = Rng(seed ^ 0x6A09_E667_F3BC_C908);
    let seed_key = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D)).next();
    let mut replica: u64 = 0;
    let pick = |rng: &mut Rng| -> usize {
        let mut r = rng.below(total_weight);
        for (i, &w) in weights.iter().enumerate() {
            if r < w {
                return i;
            }
            r -= w;
        }
        weights.len() - 1
    };

    if let Some(dir) = out.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| die(&format!("{}: {e}", dir.display())));
        }
    }
    let tmp = out.with_extension(format!("{ext}.part"));
    let mut w =
        Writer::new(&tmp, format).unwrap_or_else(|e| die(&format!("{}: {e}", tmp.display())));

    // Heap of (next timestamp, slot); the slot's session holds the cursor.
    let mut sessions: Vec<Session> = Vec::with_capacity(CONCURRENT);
    let mut heap = BinaryHeap::with_capacity(CONCURRENT);
    for slot in 0..CONCURRENT {
        let trace = pick(&mut rng);
        let rw = Rewrite::for_replica(replica, seed_key, &mut rng);
        replica += 1;
        replicas[trace] += 1;
        sessions.push(Session { trace, idx: 0, rw });
        let start = BASE_TS_US + rng.below(200_000);
        heap.push(Reverse((start, slot)));
    }

    let mut mix = Mix::default();
    let mut flows: HashSet<FlowKey> = HashSet::with_capacity((packets / 8) as usize);
    let mut buf = Vec::with_capacity(SNAPLEN as usize);
    let mut last_ts = 0u64;
    let mut first_ts = 0u64;
    let mut packet_bytes = 0u64;
    for n in 0..packets {
        let Reverse((ts, slot)) = heap
            .pop()
            .expect("the heap always holds CONCURRENT sessions");
        let s = &mut sessions[slot];
        let pkt = &traces[s.trace].packets[s.idx];
        let out_ts = ts.max(last_ts + 1);
        if n == 0 {
            first_ts = out_ts;
        }
        last_ts = out_ts;
        buf.clear();
        buf.extend_from_slice(&pkt.data);
        if let Some(k) = rewrite_frame(&mut buf, &s.rw, &mut mix) {
            flows.insert(k);
        }
        packet_bytes += buf.len() as u64;
        w.packet(out_ts, pkt.origlen, &buf)
            .unwrap_or_else(|e| die(&format!("{}: {e}", tmp.display())));
        s.idx += 1;
        let next = if s.idx < traces[s.trace].packets.len() {
            ts + traces[s.trace].packets[s.idx].gap_us
        } else {
            let trace = pick(&mut rng);
            s.trace = trace;
            s.idx = 0;
            s.rw = Rewrite::for_replica(replica, seed_key, &mut rng);
            replica += 1;
            replicas[trace] += 1;
            out_ts + 1 + rng.below(MAX_START_DELAY_US)
        };
        heap.push(Reverse((next, slot)));
    }
    w.out
        .flush()
        .unwrap_or_else(|e| die(&format!("{}: {e}", tmp.display())));
    drop(w.out);
    std::fs::rename(&tmp, &out).unwrap_or_else(|e| die(&format!("{}: {e}", out.display())));

    let sources: Vec<String> = traces
        .iter()
        .zip(&replicas)
        .map(|(t, r)| {
            format!(
                "{{\"file\":{},\"packets\":{},\"weight\":{},\"replicas\":{}}}",
                json_str(&t.name),
                t.packets.len(),
                t.weight,
                r
            )
        })
        .collect();
    let missing: Vec<String> = missing.iter().map(|m| json_str(m)).collect();
    println!(
        "{{\"version\":{GEN_VERSION},\"file\":{},\"format\":\"{ext}\",\"seed\":{seed},\"packets\":{packets},\"fileBytes\":{},\"packetBytes\":{packet_bytes},\"flows\":{},\"replicas\":{replica},\"ipv4\":{},\"ipv6\":{},\"tcp\":{},\"udp\":{},\"nonIp\":{},\"durationSeconds\":{:.3},\"sources\":[{}],\"missingSources\":[{}],\"generateSeconds\":{:.2}}}",
        json_str(&out.to_string_lossy()),
        w.bytes,
        flows.len(),
        mix.ipv4,
        mix.ipv6,
        mix.tcp,
        mix.udp,
        mix.other,
        (last_ts - first_ts) as f64 / 1e6,
        sources.join(","),
        missing.join(","),
        started.elapsed().as_secs_f64()
    );
}

/// One synthetic packet of flow `f` in round `round` (see the module docs).
/// Flow f: client 10.0.0.0/8 + f/16, port 20000 + f%16; server
/// 192.0.2.1–250; TCP to 443 (SYN, SYN-ACK, ACK, then 64-byte requests and
/// bare ACKs in turn) or, for every fourth flow, UDP to 9 (discard; 48-byte
/// datagrams, both ways in turn).
fn synthetic_frame(buf: &mut Vec<u8>, f: u64, round: u64, mix: &mut Mix) {
    let client = (0x0A00_0000u32 | ((f >> 4) as u32 & 0x00ff_ffff)).to_be_bytes();
    let server = [192, 0, 2, 1 + (f % 250) as u8];
    let cport = 20_000 + (f & 15) as u16;
    let udp = f % 4 == 3;
    // TCP: SYN, SYN-ACK, ACK, then a request (odd rounds) and its ACK.
    let to_server = if udp {
        round.is_multiple_of(2)
    } else {
        round == 0 || round == 2 || (round >= 3 && !round.is_multiple_of(2))
    };
    let (src, dst, sport, dport) = if to_server {
        (client, server, cport, if udp { 9 } else { 443 })
    } else {
        (server, client, if udp { 9 } else { 443 }, cport)
    };
    let mut l4 = Vec::with_capacity(84);
    let proto;
    if udp {
        proto = 17u8;
        let payload = 48usize;
        l4.extend_from_slice(&sport.to_be_bytes());
        l4.extend_from_slice(&dport.to_be_bytes());
        l4.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
        l4.extend((0..payload).map(|i| (i as u8) ^ (round as u8)));
    } else {
        proto = 6u8;
        let isn_c = (f as u32).wrapping_mul(2_654_435_761);
        let isn_s = (f as u32).wrapping_mul(40_503) ^ 0x5bd1_e995;
        // Requests are sent in odd rounds from 3 on, 64 bytes each.
        let sent_before = |r: u64| {
            if r <= 3 {
                0
            } else {
                ((r - 3) / 2 + (r - 3) % 2) as u32
            }
        };
        let (flags, seq, ack, payload) = match round {
            0 => (0x02u8, isn_c, 0u32, 0usize),
            1 => (0x12, isn_s, isn_c.wrapping_add(1), 0),
            2 => (0x10, isn_c.wrapping_add(1), isn_s.wrapping_add(1), 0),
            r if r % 2 == 1 => (
                0x18,
                isn_c.wrapping_add(1 + 64 * sent_before(r)),
                isn_s.wrapping_add(1),
                64,
            ),
            r => (
                0x10,
                isn_s.wrapping_add(1),
                isn_c.wrapping_add(1 + 64 * sent_before(r)),
                0,
            ),
        };
        l4.extend_from_slice(&sport.to_be_bytes());
        l4.extend_from_slice(&dport.to_be_bytes());
        l4.extend_from_slice(&seq.to_be_bytes());
        l4.extend_from_slice(&ack.to_be_bytes());
        l4.extend_from_slice(&[5 << 4, flags, 0xfa, 0xf0, 0, 0, 0, 0]);
        l4.extend((0..payload).map(|i| b'a' + ((i as u64 + round) % 26) as u8));
    }
    // Transport checksum over the pseudo-header.
    let mut ph = [0u8; 12];
    ph[0..4].copy_from_slice(&src);
    ph[4..8].copy_from_slice(&dst);
    ph[9] = proto;
    ph[10..12].copy_from_slice(&(l4.len() as u16).to_be_bytes());
    let mut c = !fold(ones_sum(&ph) + ones_sum(&l4));
    if udp && c == 0 {
        c = 0xffff;
    }
    let at = if udp { 6 } else { 16 };
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());

    buf.clear();
    buf.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
    if !to_server {
        buf[5] = 1;
        buf[11] = 2;
    }
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&(round as u16).to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&src);
    ip[16..20].copy_from_slice(&dst);
    let c = !fold(ones_sum(&ip));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    buf.extend_from_slice(&ip);
    buf.extend_from_slice(&l4);
    mix.ipv4 += 1;
    count_l4(mix, proto);
}

/// Writes the synthetic capture of `--concurrent-flows` and prints its summary.
fn synthetic(flows: u64, packets: u64, out: &Path, format: Format, ext: &str) {
    let started = Instant::now();
    // Every round visits the flows in a fresh random order (Fisher–Yates,
    // seeded): the order of one round says nothing of the next, so no table
    // layout (insertion-ordered slabs included) gets a cache-friendly replay.
    let mut rng = Rng(0x5EED_F10E_0000_0001 ^ flows);
    let mut order: Vec<u32> = (0..flows.min(packets) as u32).collect();
    if let Some(dir) = out.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| die(&format!("{}: {e}", dir.display())));
        }
    }
    let tmp = out.with_extension(format!("{ext}.part"));
    let mut w =
        Writer::new(&tmp, format).unwrap_or_else(|e| die(&format!("{}: {e}", tmp.display())));
    let mut mix = Mix::default();
    let mut buf = Vec::with_capacity(128);
    let mut packet_bytes = 0u64;
    for n in 0..packets {
        let round = n / flows;
        let j = (n % flows) as usize;
        if j == 0 {
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            }
        }
        synthetic_frame(&mut buf, u64::from(order[j]), round, &mut mix);
        packet_bytes += buf.len() as u64;
        w.packet(BASE_TS_US + n, buf.len() as u32, &buf)
            .unwrap_or_else(|e| die(&format!("{}: {e}", tmp.display())));
    }
    w.out
        .flush()
        .unwrap_or_else(|e| die(&format!("{}: {e}", tmp.display())));
    let file_bytes = w.bytes;
    drop(w);
    std::fs::rename(&tmp, out).unwrap_or_else(|e| die(&format!("{}: {e}", out.display())));
    println!(
        "{{\"version\":{GEN_VERSION},\"file\":{},\"format\":\"{ext}\",\"seed\":0,\"packets\":{packets},\"fileBytes\":{file_bytes},\"packetBytes\":{packet_bytes},\"flows\":{},\"concurrentFlows\":{flows},\"synthVersion\":{SYNTH_VERSION},\"packetsPerFlow\":{:.1},\"ipv4\":{},\"ipv6\":0,\"tcp\":{},\"udp\":{},\"nonIp\":0,\"durationSeconds\":{:.6},\"sources\":[],\"missingSources\":[],\"generateSeconds\":{:.2}}}",
        json_str(&out.to_string_lossy()),
        flows.min(packets),
        packets as f64 / flows as f64,
        mix.ipv4,
        mix.tcp,
        mix.udp,
        packets.saturating_sub(1) as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Full TCP/UDP checksum over the pseudo-header and segment.
    fn l4_checksum(src: &[u8], dst: &[u8], proto: u8, seg: &[u8]) -> u16 {
        let mut ph = Vec::new();
        ph.extend_from_slice(src);
        ph.extend_from_slice(dst);
        ph.extend_from_slice(&[0, proto]);
        ph.extend_from_slice(&(seg.len() as u16).to_be_bytes());
        !fold(ones_sum(&ph) + ones_sum(seg))
    }

    fn ipv4_tcp_frame() -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let payload = b"GET / HTTP/1.1\r\n\r\n";
        let mut ip = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0];
        ip.extend_from_slice(&[192, 168, 1, 10, 93, 184, 216, 34]);
        let total = (20 + 20 + payload.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        let c = !fold(ones_sum(&ip));
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let mut tcp = vec![0u8; 20];
        tcp[0..2].copy_from_slice(&51_234u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = 0x18;
        tcp.extend_from_slice(payload);
        let c = l4_checksum(&ip[12..16], &ip[16..20], 6, &tcp);
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(&tcp);
        f
    }

    #[test]
    fn rewrite_keeps_checksums_valid_and_directions_consistent() {
        let rw = Rewrite {
            v4_key: 0x00ab_cdef,
            v6_key: 0x1234_5678,
            port_shift: 12_345,
        };
        let mut mix = Mix::default();
        let orig = ipv4_tcp_frame();
        let mut f = orig.clone();
        let key = rewrite_frame(&mut f, &rw, &mut mix).unwrap();
        assert_ne!(f[26..34], orig[26..34]);
        assert_eq!(fold(ones_sum(&f[14..34])), 0xffff, "IPv4 header checksum");
        assert_eq!(be16(&f, 36), Some(80), "service port kept");
        assert_ne!(be16(&f, 34), Some(51_234), "ephemeral port rewritten");
        let seg = &f[34..];
        assert_eq!(
            l4_checksum(&f[26..30], &f[30..34], 6, seg),
            0,
            "TCP checksum"
        );

        // The reverse direction maps to the same flow.
        let mut rev = orig.clone();
        let (s, d) = (orig[26..30].to_vec(), orig[30..34].to_vec());
        rev[26..30].copy_from_slice(&d);
        rev[30..34].copy_from_slice(&s);
        rev[34..36].copy_from_slice(&orig[36..38]);
        rev[36..38].copy_from_slice(&orig[34..36]);
        assert_eq!(rewrite_frame(&mut rev, &rw, &mut mix), Some(key));
    }

    #[test]
    fn synthetic_frames_are_valid_and_each_flow_is_one_5_tuple() {
        let mut mix = Mix::default();
        let mut buf = Vec::new();
        let mut flows = HashSet::new();
        for round in 0..8 {
            for f in 0..50u64 {
                synthetic_frame(&mut buf, f, round, &mut mix);
                assert_eq!(fold(ones_sum(&buf[14..34])), 0xffff, "IPv4 header checksum");
                let proto = buf[23];
                assert_eq!(
                    l4_checksum(&buf[26..30], &buf[30..34], proto, &buf[34..]),
                    0,
                    "transport checksum of flow {f}, round {round}"
                );
                let (sp, dp) = (be16(&buf, 34).unwrap(), be16(&buf, 36).unwrap());
                flows.insert(flow_key(proto, &buf[26..30], sp, &buf[30..34], dp));
            }
        }
        assert_eq!(flows.len(), 50);
        assert_eq!((mix.tcp, mix.udp), (8 * 38, 8 * 12));
    }

    #[test]
    fn rewrites_are_bijective_and_replicas_differ() {
        let mut rng = Rng(7);
        let a = Rewrite::for_replica(0, 99, &mut rng);
        let b = Rewrite::for_replica(1, 99, &mut rng);
        assert_ne!(a.v4([10, 0, 0, 1]), b.v4([10, 0, 0, 1]));
        assert_eq!(a.v4([224, 0, 0, 251]), [224, 0, 0, 251]);
        let mut seen = HashSet::new();
        for p in 0..=u16::MAX {
            assert!(seen.insert(a.port(p)), "port {p} collides");
        }
    }
}
