//! libpcap's compiler, linked statically, gives exactly tcpdump's programs
//! and exactly tcpdump's error messages; the programs, run by the cBPF
//! interpreter over capture files, keep exactly the packets tcpdump keeps.
//!
//! tcpdump is the reference. Missing, the comparisons fail under CI (env
//! `CI` set) and are skipped with a message otherwise; so is the shared
//! corpus (`$FLOWTAP_CORPUS`, else `<crate>/../../../shared/corpus`). The
//! comparison is exact only while tcpdump's libpcap is 1.10.3, the vendored
//! version; a mismatch names both.
#![cfg(target_os = "linux")]

use std::collections::hash_map::{Entry, HashMap};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flowtap_capture::bpf::Program;
use flowtap_capture::filter::{compile, snap_program};
use flowtap_capture::CaptureError;
use flowtap_core::capture::{CaptureReader, ReaderOptions};

/// Runs tcpdump, or returns None (after saying so) when it is not installed
/// outside CI.
fn tcpdump(args: &[&str]) -> Option<Output> {
    match Command::new("tcpdump").args(args).output() {
        Ok(o) => Some(o),
        Err(e) if std::env::var_os("CI").is_some() => panic!("tcpdump is required in CI: {e}"),
        Err(e) => {
            eprintln!("skipped: tcpdump not runnable ({e}); apt-get install tcpdump");
            None
        }
    }
}

fn corpus_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("FLOWTAP_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    };
    if dir.join("MANIFEST.md").is_file() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("corpus not found at {} (set FLOWTAP_CORPUS)", dir.display());
    }
    eprintln!("skipped: corpus not found at {}", dir.display());
    None
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

/// An empty pcap file (header only) of `link_type` and `snaplen`: enough for
/// `tcpdump -ddd -r`, which compiles for the file's link type and snaplen.
fn empty_pcap(link_type: u32, snaplen: u32) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "flowtap-filter-test-{}-{link_type}-{snaplen}.pcap",
        std::process::id()
    ));
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]); // thiszone, sigfigs
    h.extend_from_slice(&snaplen.to_le_bytes());
    h.extend_from_slice(&link_type.to_le_bytes());
    std::fs::write(&path, h).unwrap();
    path
}

type Insns = Vec<[u32; 4]>;

/// tcpdump's verdict on `expr` for `file`'s link type and snaplen: the
/// program (`-ddd`: a count, then decimal `code jt jf k` lines) or the
/// compiler's message (tcpdump prints it as `tcpdump: MESSAGE`).
fn tcpdump_program(file: &Path, expr: &str) -> Option<Result<Insns, String>> {
    let out = tcpdump(&["-ddd", "-r", file.to_str().unwrap(), expr])?;
    if !out.status.success() {
        return Some(Err(tcpdump_error(&out)));
    }
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let n: usize = lines.next().unwrap().trim().parse().unwrap();
    let prog: Insns = lines
        .map(|l| {
            let v: Vec<u32> = l.split_whitespace().map(|x| x.parse().unwrap()).collect();
            [v[0], v[1], v[2], v[3]]
        })
        .collect();
    assert_eq!(prog.len(), n, "{expr}: {text}");
    Some(Ok(prog))
}

fn tcpdump_error(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    err.lines()
        .find_map(|l| l.strip_prefix("tcpdump: "))
        .unwrap_or_else(|| panic!("tcpdump failed without a message: {err}"))
        .to_string()
}

fn insns(p: &Program) -> Insns {
    p.insns()
        .iter()
        .map(|i| [u32::from(i.code), u32::from(i.jt), u32::from(i.jf), i.k])
        .collect()
}

/// Our verdict, shaped like [`tcpdump_program`]'s.
fn ours(expr: &str, link_type: u32, snaplen: u32) -> Result<Insns, String> {
    match compile(expr, link_type, snaplen) {
        Ok(p) => Ok(insns(&p)),
        Err(CaptureError::Filter(m)) => Err(m),
        Err(e) => panic!("{expr}: not a filter error: {e:?}"),
    }
}

fn tcpdump_libpcap() -> String {
    tcpdump(&["--version"])
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .and_then(|v| {
            v.lines()
                .find(|l| l.starts_with("libpcap"))
                .map(String::from)
        })
        .unwrap_or_default()
}

/// Every expression's program (or error) for `file` equals tcpdump's.
/// Returns how many compiled, or None when tcpdump is missing.
fn assert_same_as_tcpdump(
    file: &Path,
    link_type: u32,
    snaplen: u32,
    exprs: &[&str],
) -> Option<usize> {
    let mut compiled = 0;
    for expr in exprs {
        let want = tcpdump_program(file, expr)?;
        let got = ours(expr, link_type, snaplen);
        assert_eq!(
            got,
            want,
            "`{expr}` on link type {link_type}: ours (vendored libpcap 1.10.3) vs tcpdump ({})",
            tcpdump_libpcap()
        );
        compiled += usize::from(got.is_ok());
    }
    Some(compiled)
}

/// The filter syntax users know, across its productions: qualifiers (host,
/// net, port, portrange, src/dst, protocols), byte-offset expressions,
/// named TCP flags, arithmetic, VLAN/MPLS shifts, lengths, negation.
const EXPRESSIONS: &[&str] = &[
    "tcp",
    "udp port 53",
    "tcp port 443 and host 10.0.0.1",
    "host 192.168.1.1 or host 192.168.1.2",
    "net 10.0.0.0/8",
    "net 192.168.0.0 mask 255.255.0.0",
    "src net 172.16.0.0/12 and dst port 80",
    "portrange 1-1024",
    "tcp[tcpflags] & tcp-syn != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0 and not src and dst net 127.0.0.0/8",
    "ip6",
    "ip6 and tcp dst port 22",
    "vlan and udp",
    "vlan 100 and tcp",
    "icmp or arp",
    "icmp6",
    "not port 22",
    "ether host 00:11:22:33:44:55",
    "ether broadcast",
    "len > 100",
    "greater 1000",
    "less 64",
    "udp dst port 53 and src net 10.0.0.0/8",
    "ip[6:2] & 0x1fff != 0",
    "ip[0] & 0xf != 5",
    "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
    "mpls and ip",
    "ip proto 47",
    "ip6 proto 17",
    "host fd00::1",
    "dst portrange 8000-8080 and tcp",
    "ip multicast",
    "udp[8:2] * 2 + 1 > 7 and udp[10] % 3 = 1",
    "ip host 10.1.1.1 and (port 80 or port 8080)",
    "ip and not net 10.0.0.0/8",
];

#[test]
fn programs_equal_tcpdumps_on_ethernet() {
    let file = example("loopback-http-dns.pcapng"); // Ethernet, snaplen 262144
    let Some(n) = assert_same_as_tcpdump(&file, 1, 262_144, EXPRESSIONS) else {
        return;
    };
    assert_eq!(
        n,
        EXPRESSIONS.len(),
        "every expression compiles on Ethernet"
    );
    // The snaplen reaches the accepting return.
    let file = empty_pcap(1, 96);
    assert_same_as_tcpdump(&file, 1, 96, EXPRESSIONS);
    std::fs::remove_file(file).unwrap();
}

#[test]
fn programs_equal_tcpdumps_on_linux_sll() {
    // A real Linux cooked v1 capture (LINKTYPE_LINUX_SLL = 113).
    let Some(corpus) = corpus_dir() else { return };
    let file = corpus.join("suricata_output-multi-eve_sll.pcap");
    let mut exprs = EXPRESSIONS.to_vec();
    exprs.extend(["inbound", "outbound", "ether proto 0x0806"]);
    if let Some(n) = assert_same_as_tcpdump(&file, 113, 262_144, &exprs) {
        // Link-layer-only syntax (`ether host`, `vlan`) is refused, the rest compiles.
        assert!(n > exprs.len() - 8, "only {n} compiled on SLL");
    }
}

#[test]
fn programs_equal_tcpdumps_on_raw_ip() {
    // No corpus capture is raw IP (LINKTYPE_RAW = 101): a header-only file.
    let file = empty_pcap(101, 65_535);
    if let Some(n) = assert_same_as_tcpdump(&file, 101, 65_535, EXPRESSIONS) {
        assert!(n > EXPRESSIONS.len() / 2, "only {n} compiled on raw IP");
    }
    std::fs::remove_file(file).unwrap();
}

#[test]
fn programs_equal_tcpdumps_on_linux_sll2() {
    let file = example("any-sll2-nanosecond.pcap");
    let mut exprs = EXPRESSIONS.to_vec();
    exprs.extend(["inbound", "ifindex 1"]);
    assert_same_as_tcpdump(&file, 276, 262_144, &exprs);
}

#[test]
fn errors_carry_the_compilers_message() {
    let file = example("loopback-http-dns.pcapng");
    for (expr, msg) in [
        ("host", "syntax error"),
        ("tcp and and udp", "syntax error"),
        ("(tcp", "syntax error"),
        ("tcp port eighty", "unknown port 'eighty'"),
        (
            "host nosuchhost.invalid",
            "unknown host 'nosuchhost.invalid'",
        ),
        ("proto foo", "unknown ip proto 'foo'"),
        ("udp port 70000", "illegal port number 70000 > 65535"),
        ("ether host 00:11", "illegal link layer address"),
        ("net 10.0.0.1/8", "non-network bits set in \"10.0.0.1/8\""),
        ("ip6 net fe80::/200", "mask length must be <= 128"),
        ("vlan 5000", "VLAN tag 5000 greater than maximum 4095"),
    ] {
        let e = compile(expr, 1, 65535)
            .err()
            .unwrap_or_else(|| panic!("{expr} compiled"));
        assert_eq!(e.code(), "ERR_FILTER", "{expr}");
        assert!(e.to_string().contains(msg), "{expr}: {e}");
        if let Some(want) = tcpdump_program(&file, expr) {
            assert_eq!(ours(expr, 1, 65535), want, "{expr}");
        }
    }
    // Link-layer syntax that the link type lacks: tcpdump's message.
    let e = compile("ether host 00:11:22:33:44:55", 101, 65535).unwrap_err();
    assert_eq!(e.code(), "ERR_FILTER");
    // Unlike tcpdump -r (netmask 0), the netmask is unknown: refused, not guessed.
    let e = compile("ip broadcast", 1, 65535).unwrap_err();
    assert!(e.to_string().contains("netmask not known"), "{e}");
    // C strings end at a NUL: an interior one would silently cut the expression.
    for expr in ["tcp\0", "tcp\0 and udp"] {
        assert_eq!(compile(expr, 1, 65535).unwrap_err().code(), "ERR_FILTER");
    }
    // Longer than the kernel's BPF_MAXINSNS (~4950 instructions). Terms the
    // optimizer handles quickly: its cost grows fast with `or`-ed ports.
    let long = (1..=2600)
        .map(|n| format!("len != {n}"))
        .collect::<Vec<_>>()
        .join(" and ");
    let e = compile(&long, 1, 65535).unwrap_err();
    assert!(e.to_string().contains("more than the 4096"), "{e}");
}

#[test]
fn the_empty_expression_keeps_everything_and_snaplen_cuts() {
    for blank in ["", "  ", "\t\n"] {
        let p = compile(blank, 1, 96).unwrap();
        assert_eq!(p, snap_program(96));
        assert_eq!(p.run(&[0u8; 500], 500), 96);
    }
    let p = compile("len > 100", 1, 128).unwrap();
    assert_eq!(p.run(&[0u8; 50], 50), 0);
    assert_eq!(p.run(&[0u8; 500], 500), 128);
    // 0 means whole packets, as tcpdump's -s 0.
    assert_eq!(snap_program(0).run(&[0u8; 10], 10), 262_144);
    let p = compile("len > 100", 1, 0).unwrap();
    assert_eq!(p.run(&[0u8; 500], 500), 262_144);
}

/// Captures with one link type each (tcpdump refuses pcapng files whose
/// interfaces differ) and no damage, covering Ethernet with VLAN, QinQ,
/// MPLS, GRE, IPv6, fragments, snaplen-cut packets and fuzzed ARP; Linux
/// cooked v1 and v2; pcap and pcapng.
const CAPTURES: &[&str] = &[
    "zeek_wikipedia.pcap",
    "suricata_output-eve-ftp-data.pcap",
    "suricata_datasets-06-state-long.pcap",
    "zeek_mixed-vlan-mpls.pcap",
    "zeek_vlan-qinqinq.pcap",
    "zeek_tunnels_gre-aruba.pcap",
    "zeek_dns-edns-ecs.pcap",
    "zeek_tcp_timestamp_snaplen.pcap",
    "tcpdump_arp-oobr.pcap",
    "suricata_http-body-hook-01_ipv6.pcap",
    "pcapparser_wireshark_samples-test.pcapng",
    "suricata_output-multi-eve_sll.pcap",
    "tcpdump_tcp-handshake-nano.pcap",
    "suricata_decode-sll2-02.pcap",
];

/// Link-type-neutral expressions, several reading deep into packets (the
/// payload test runs past the end of snaplen-cut packets).
const FILE_FILTERS: &[&str] = &[
    "tcp",
    "udp port 53",
    "tcp[tcpflags] & tcp-syn != 0",
    "ip6",
    "len > 100",
    "not port 80 and not port 443",
    "icmp or arp or icmp6",
    "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
    "ip[6:2] & 0x3fff != 0 or ip6[6] = 44",
    "vlan and udp",
    "src net 10.0.0.0/8 or dst net 192.168.0.0/16",
    "greater 1000 and ip",
];

/// Packets of `file` kept by `expr`, compiled per link type met.
fn our_count(file: &Path, expr: &str) -> Result<usize, String> {
    let input = BufReader::new(File::open(file).unwrap());
    let mut reader = CaptureReader::new(input, ReaderOptions::default()).unwrap();
    let mut programs: HashMap<u16, Program> = HashMap::new();
    let mut kept = 0;
    while let Some(f) = reader
        .next_frame()
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
    {
        let lt = f.link_type.0;
        let program = match programs.entry(lt) {
            Entry::Occupied(p) => p.into_mut(),
            Entry::Vacant(v) => match compile(expr, u32::from(lt), 262_144) {
                Ok(p) => v.insert(p),
                Err(CaptureError::Filter(m)) => return Err(m),
                Err(e) => panic!("{expr}: {e:?}"),
            },
        };
        kept += usize::from(program.matches(f.data, f.origlen));
    }
    Ok(kept)
}

/// tcpdump's count (`--count` prints `N packets`) or its compiler message.
fn tcpdump_count(file: &Path, expr: &str) -> Option<Result<usize, String>> {
    let out = tcpdump(&["-r", file.to_str().unwrap(), "--count", expr])?;
    if !out.status.success() {
        return Some(Err(tcpdump_error(&out)));
    }
    let text = String::from_utf8(out.stdout).unwrap();
    let n = text
        .trim()
        .strip_suffix(" packets")
        .or_else(|| text.trim().strip_suffix(" packet"))
        .unwrap_or_else(|| panic!("tcpdump --count said {text:?}"));
    Some(Ok(n.parse().unwrap()))
}

#[test]
fn capture_files_keep_exactly_tcpdumps_packets() {
    let Some(corpus) = corpus_dir() else { return };
    let mut nonzero = 0;
    for name in CAPTURES {
        let file = corpus.join(name);
        let mut row = Vec::new();
        for expr in FILE_FILTERS {
            let Some(want) = tcpdump_count(&file, expr) else {
                return;
            };
            let got = our_count(&file, expr);
            assert_eq!(got, want, "{name}: `{expr}`");
            nonzero += usize::from(matches!(got, Ok(n) if n > 0));
            row.push(match got {
                Ok(n) => n.to_string(),
                Err(_) => "err".into(),
            });
        }
        eprintln!("{name}: {}", row.join(" "));
    }
    // The comparison means something only if filters keep packets.
    assert!(
        nonzero > CAPTURES.len() * 4,
        "only {nonzero} non-empty results"
    );
}

#[test]
fn compiling_from_many_threads_gives_identical_programs() {
    // A mix of expressions, including failing ones, so that any state the
    // compiler shares between calls (lexer, optimizer, error buffer) would
    // show as a wrong program or message in some thread.
    const MIX: &[(&str, u32)] = &[
        ("tcp port 443 and host 10.0.0.1", 1),
        ("udp dst port 53 and src net 10.0.0.0/8", 113),
        ("tcp[tcpflags] & tcp-syn != 0 or ip6", 101),
        ("tcp and and", 1),
        ("vlan 7 and not port 22", 1),
        ("udp port 70000", 101),
    ];
    let reference: Vec<_> = MIX.iter().map(|(e, lt)| ours(e, *lt, 65535)).collect();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                (0..100)
                    .map(|i| {
                        let k = (i + t) % MIX.len();
                        (k, ours(MIX[k].0, MIX[k].1, 65535))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for t in threads {
        for (k, got) in t.join().unwrap() {
            assert_eq!(got, reference[k], "{}", MIX[k].0);
        }
    }
}
