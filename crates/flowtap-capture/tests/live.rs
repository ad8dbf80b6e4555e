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
