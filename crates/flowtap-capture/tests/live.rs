//! Live ring tests on `lo` (root only; they print why and skip otherwise).
#![cfg(target_os = "linux")]

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use flowtap_capture::ring::{Ring, RingConfig};

// The fd-leak test counts this process's fds, so live tests run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc_geteuid() } == 0;
    if !root {
        eprintln!("skipped: live capture needs root (CAP_NET_RAW)");
    }
    root
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

#[test]
fn captures_udp_on_loopback_exactly_once() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !is_root() {
        return;
    }
    let cfg = RingConfig {
        block_size: 1 << 16,
        block_count: 8,
        ..Default::default()
    };
    let mut ring = Ring::open("lo", cfg, None).unwrap();
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0u32..50 {
        let mut p = b"flowtap-seq".to_vec();
        p.extend_from_slice(&i.to_be_bytes());
        tx.send_to(&p, ("127.0.0.1", port)).unwrap();
    }
    let mut seen = Vec::new();
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end && seen.len() < 50 {
        if let Some(b) = ring.next_block(Duration::from_millis(100)).unwrap() {
            for f in b.frames() {
                if let Some(pos) = f.data.windows(11).position(|w| w == b"flowtap-seq") {
                    let s = &f.data[pos + 11..pos + 15];
                    seen.push(u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
                }
            }
        }
    }
    assert_eq!(seen, (0..50).collect::<Vec<_>>());
    assert_eq!(ring.stats().unwrap().drops, 0);
}

#[test]
fn error_codes_at_open() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !is_root() {
        return;
    }
    let e = Ring::open("nosuch0xyz", RingConfig::default(), None)
        .err()
        .unwrap();
    assert_eq!(e.code(), "ERR_NO_SUCH_INTERFACE");
}

#[test]
fn open_close_no_fd_leak() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !is_root() {
        return;
    }
    let count = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    let cfg = RingConfig {
        block_size: 1 << 16,
        block_count: 2,
        ..Default::default()
    };
    let before = count();
    for _ in 0..200 {
        drop(Ring::open("lo", cfg.clone(), None).unwrap());
    }
    assert_eq!(count(), before);
}

#[test]
fn fanout_hash_splits_flows_and_keeps_each_on_one_ring() {
    use flowtap_capture::ring::{Fanout, FanoutMode};
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !is_root() {
        return;
    }
    let cfg = RingConfig {
        block_size: 1 << 16,
        block_count: 8,
        block_timeout_ms: 5,
        ..Default::default()
    };
    let fanout = Some(Fanout {
        group: 4242,
        mode: FanoutMode::Hash,
    });
    let mut rings = [
        Ring::open("lo", cfg.clone(), fanout).unwrap(),
        Ring::open("lo", cfg, fanout).unwrap(),
    ];
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = rx.local_addr().unwrap().port();
    let mut sources = Vec::new();
    for _ in 0..64 {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        sources.push(tx.local_addr().unwrap().port());
        for _ in 0..3 {
            tx.send_to(b"flowtap-fanout", ("127.0.0.1", port)).unwrap();
        }
    }
    // (source port, ring) of every datagram seen.
    let mut seen: Vec<(u16, usize)> = Vec::new();
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end && seen.len() < 64 * 3 {
        for (i, ring) in rings.iter_mut().enumerate() {
            if let Some(b) = ring.next_block(Duration::from_millis(10)).unwrap() {
                for f in b.frames() {
                    if f.data.windows(14).any(|w| w == b"flowtap-fanout") {
                        // Ethernet 14 + IPv4 20: the UDP source port.
                        seen.push((u16::from_be_bytes([f.data[34], f.data[35]]), i));
                    }
                }
            }
        }
    }
    assert_eq!(seen.len(), 64 * 3, "every datagram once");
    for p in &sources {
        let rings: std::collections::BTreeSet<usize> = seen
            .iter()
            .filter(|(s, _)| s == p)
            .map(|(_, r)| *r)
            .collect();
        assert_eq!(rings.len(), 1, "flow from port {p} on one ring");
    }
    let on_first = seen.iter().filter(|(_, r)| *r == 0).count();
    assert!(
        on_first > 0 && on_first < seen.len(),
        "hash fanout used both rings ({on_first} of {})",
        seen.len()
    );
}

#[test]
fn kernel_filter_and_snaplen_apply_before_the_ring() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !is_root() {
        return;
    }
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let keep = rx.local_addr().unwrap().port();
    let other = UdpSocket::bind("127.0.0.1:0").unwrap();
    let skip = other.local_addr().unwrap().port();
    let cfg = RingConfig {
        block_size: 1 << 16,
        block_count: 8,
        block_timeout_ms: 5,
        snaplen: 60,
        filter: Some(format!("udp dst port {keep}")),
        ..Default::default()
    };
    let mut ring = Ring::open("lo", cfg, None).unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..20 {
        tx.send_to(&[7u8; 200], ("127.0.0.1", keep)).unwrap();
        tx.send_to(&[9u8; 200], ("127.0.0.1", skip)).unwrap();
    }
    let mut seen = 0;
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end && seen < 20 {
        if let Some(b) = ring.next_block(Duration::from_millis(50)).unwrap() {
            for f in b.frames() {
                let dport = u16::from_be_bytes([f.data[36], f.data[37]]);
                assert_eq!(dport, keep, "only the filtered port");
                assert_eq!(f.data.len(), 60, "cut at the snaplen");
                assert_eq!(f.origlen, 14 + 20 + 8 + 200);
                seen += 1;
            }
        }
    }
    assert_eq!(seen, 20);
    // Nothing else arrives.
    std::thread::sleep(Duration::from_millis(50));
    while let Some(b) = ring.next_block(Duration::from_millis(20)).unwrap() {
        assert_eq!(b.frames().count(), 0);
    }
}

#[test]
fn an_invalid_filter_fails_the_open() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !is_root() {
        return;
    }
    let cfg = RingConfig {
        block_size: 1 << 16,
        block_count: 2,
        filter: Some("udp port ninety".into()),
        ..Default::default()
    };
    let e = Ring::open("lo", cfg, None).err().unwrap();
    assert_eq!(e.code(), "ERR_FILTER");
}

#[test]
fn an_interface_that_goes_away_ends_the_capture_with_an_error() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !is_root() {
        return;
    }
    let name = format!("ftgone{}", std::process::id() % 10_000);
    let ip = |args: &[&str]| {
        std::process::Command::new("ip")
            .args(args)
            .output()
            .unwrap()
    };
    let _ = ip(&["link", "del", &name]);
    assert!(ip(&[
        "link",
        "add",
        &name,
        "type",
        "veth",
        "peer",
        "name",
        &format!("{name}p")
    ])
    .status
    .success());
    assert!(ip(&["link", "set", &name, "up"]).status.success());
    let cfg = RingConfig {
        block_size: 1 << 16,
        block_count: 2,
        ..Default::default()
    };
    let mut ring = Ring::open(&name, cfg, None).unwrap();
    assert!(ring
        .next_block(Duration::from_millis(20))
        .unwrap()
        .is_none());
    assert!(ip(&["link", "del", &name]).status.success());
    let end = Instant::now() + Duration::from_secs(2);
    let err = loop {
        match ring.next_block(Duration::from_millis(50)) {
            Err(e) => break e,
            Ok(_) if Instant::now() < end => continue,
            Ok(_) => panic!("no error after the interface was deleted"),
        }
    };
    assert_eq!(err.code(), "ERR_IO");
}
