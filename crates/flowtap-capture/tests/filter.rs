//! libpcap's compiler, linked statically, gives exactly tcpdump's programs;
//! errors carry the compiler's message.
#![cfg(target_os = "linux")]

use std::process::Command;

use flowtap_capture::filter::compile;

fn example(name: &str) -> String {
    format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// tcpdump's program for `expr` on `file`'s link type (`-ddd`: decimal
/// code, jt, jf, k per line after a count), or None without tcpdump.
fn tcpdump_program(file: &str, expr: &str) -> Option<Vec<[u32; 4]>> {
    let out = match Command::new("tcpdump")
        .args(["-ddd", "-r", file, expr])
        .output()
    {
        Ok(o) => o,
        Err(_) if std::env::var_os("CI").is_none() => return None,
        Err(e) => panic!("tcpdump is required in CI: {e}"),
    };
    assert!(
        out.status.success(),
        "tcpdump {expr}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let n: usize = lines.next().unwrap().trim().parse().unwrap();
    let prog: Vec<[u32; 4]> = lines
        .map(|l| {
            let v: Vec<u32> = l.split_whitespace().map(|x| x.parse().unwrap()).collect();
            [v[0], v[1], v[2], v[3]]
        })
        .collect();
    assert_eq!(prog.len(), n);
    Some(prog)
}

const EXPRESSIONS: &[&str] = &[
    "tcp",
    "udp port 53",
    "tcp port 443 and host 10.0.0.1",
    "host 192.168.1.1 or host 192.168.1.2",
    "net 10.0.0.0/8",
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
];

#[test]
fn programs_equal_tcpdumps_on_ethernet() {
    let file = example("loopback-http-dns.pcapng");
    for expr in EXPRESSIONS {
        let Some(want) = tcpdump_program(&file, expr) else {
            eprintln!("skipped: tcpdump not installed");
            return;
        };
        // tcpdump -r uses the file's snaplen (262144 here).
        let got = compile(expr, 1, 262_144).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let got: Vec<[u32; 4]> = got
            .insns()
            .iter()
            .map(|i| [u32::from(i.code), u32::from(i.jt), u32::from(i.jf), i.k])
            .collect();
        assert_eq!(got, want, "{expr}");
    }
}

#[test]
fn programs_equal_tcpdumps_on_linux_sll2() {
    let file = example("any-sll2-nanosecond.pcap");
    for expr in [
        "tcp",
        "udp port 53",
        "host 127.0.0.1",
        "ip6 or arp",
        "inbound",
    ] {
        let Some(want) = tcpdump_program(&file, expr) else {
            return;
        };
        let got = compile(expr, 276, 262_144).unwrap();
        let got: Vec<[u32; 4]> = got
            .insns()
            .iter()
            .map(|i| [u32::from(i.code), u32::from(i.jt), u32::from(i.jf), i.k])
            .collect();
        assert_eq!(got, want, "{expr}");
    }
}

#[test]
fn errors_carry_the_compilers_message() {
    for (expr, msg) in [
        ("tcp port eighty", "eighty"),
        ("host", "syntax error"),
        ("tcp and and udp", "syntax error"),
        ("udp port 70000", "port"),
        ("ether host 00:11", "link layer address"),
    ] {
        let e = compile(expr, 1, 65535)
            .err()
            .unwrap_or_else(|| panic!("{expr} compiled"));
        assert_eq!(e.code(), "ERR_FILTER", "{expr}");
        assert!(e.to_string().contains(msg), "{expr}: {e}");
    }
    assert_eq!(
        compile("tcp\0", 1, 65535).err().unwrap().code(),
        "ERR_FILTER"
    );
    // Link-layer syntax that the link type lacks.
    assert_eq!(
        compile("ether host 00:11:22:33:44:55", 101, 65535)
            .err()
            .unwrap()
            .code(),
        "ERR_FILTER"
    );
}

#[test]
fn the_empty_expression_keeps_everything_and_snaplen_cuts() {
    let p = compile("  ", 1, 96).unwrap();
    assert_eq!(p.run(&[0u8; 500], 500), 96);
    let p = compile("len > 100", 1, 128).unwrap();
    assert_eq!(p.run(&[0u8; 50], 50), 0);
    assert_eq!(p.run(&[0u8; 500], 500), 128);
}

#[test]
fn compiling_from_many_threads_gives_identical_programs() {
    let want = compile("tcp port 443 and host 10.0.0.1", 1, 65535).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                (0..100)
                    .map(|_| compile("tcp port 443 and host 10.0.0.1", 1, 65535).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap().iter().all(|p| *p == want));
    }
}
