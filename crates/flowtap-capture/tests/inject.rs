//! The transmit ring on a veth pair this test creates (root only; CI runs
//! as root, so there it must run).
#![cfg(target_os = "linux")]

use std::process::Command;
use std::time::{Duration, Instant};

use flowtap_capture::ring::{Ring, RingConfig};
use flowtap_capture::tx::{Injector, TxConfig};

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { geteuid() } == 0;
    if !root {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the injection tests as root"
        );
        eprintln!("skipped: injection needs root (CAP_NET_RAW)");
    }
    root
}

extern "C" {
    fn geteuid() -> u32;
}

// The fd-leak test counts this process's fds, so these tests run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A veth pair in the root namespace, removed on drop.
struct Veth(String, String);

impl Veth {
    fn new(tag: &str) -> Veth {
        let a = format!("fti{tag}{}a", std::process::id() % 10_000);
        let b = format!("fti{tag}{}b", std::process::id() % 10_000);
        let _ = Command::new("ip").args(["link", "del", &a]).output();
        let ip = |args: &[&str]| {
            let o = Command::new("ip")
                .args(args)
                .output()
                .expect("ip (iproute2)");
            assert!(
                o.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        // No addresses, no IPv6 autoconfiguration: only our frames cross.
        for n in [&a, &b] {
            let _ = Command::new("sysctl")
                .args(["-qw", &format!("net.ipv6.conf.{n}.disable_ipv6=1")])
                .output();
            ip(&["link", "set", n, "up"]);
        }
        Veth(a, b)
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).output();
    }
}

/// An Ethernet frame with a marker and a sequence number.
fn frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]); // local experimental ethertype
    f[14..22].copy_from_slice(b"flowtapX");
    f[22..26].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in f[26..].iter_mut().enumerate() {
        *b = (seq as usize + i) as u8;
    }
    f
}

#[test]
fn injected_frames_arrive_byte_identical_and_oversized_ones_are_refused() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !root() {
        return;
    }
    let veth = Veth::new("x");
    let mut rx = Ring::open(
        &veth.1,
        RingConfig {
            block_size: 1 << 20,
            block_count: 8,
            block_timeout_ms: 5,
            filter: Some("ether proto 0x88b5".into()),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let mut tx = Injector::open(
        &veth.0,
        TxConfig {
            frame_count: 64,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(tx.max_frame(), 1500 + 14 + 4);
    // An oversized frame is refused and counted, and does not wedge the ring.
    let e = tx.queue(&frame(9999, 1600)).unwrap_err();
    assert_eq!(e.code(), "ERR_FRAME_TOO_LARGE");
    assert_eq!(tx.queue(&[0u8; 10]).unwrap_err().code(), "ERR_IO");

    const N: u32 = 1000;
    let sent: Vec<Vec<u8>> = (0..N)
        .map(|i| frame(i, 60 + (i as usize * 7) % 1400))
        .collect();
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut next = 0;
    let end = Instant::now() + Duration::from_secs(10);
    while (got.len() < N as usize) && Instant::now() < end {
        // Queue what fits (the ring holds 64), kick once per batch.
        while next < sent.len() && tx.queue(&sent[next]).unwrap() {
            next += 1;
        }
        tx.flush().unwrap();
        if let Some(b) = rx.next_block(Duration::from_millis(5)).unwrap() {
            got.extend(b.frames().map(|f| f.data.to_vec()));
        }
        if next < sent.len() {
            tx.wait_writable(Duration::from_millis(50)).unwrap();
        }
    }
    assert!(tx.drain(Duration::from_secs(2)).unwrap());
    assert_eq!(got.len(), N as usize, "every frame once");
    assert!(got == sent, "byte-identical and in order");
    let s = tx.stats();
    assert_eq!(
        (s.queued, s.sent, s.rejected),
        (u64::from(N), u64::from(N), 2)
    );
    assert!(
        s.kicks < u64::from(N),
        "one kick carries many frames ({} kicks)",
        s.kicks
    );
    assert_eq!(rx.stats().unwrap().drops, 0);
}

#[test]
fn open_errors_and_no_fd_leak() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !root() {
        return;
    }
    assert_eq!(
        Injector::open("nosuchif0", TxConfig::default())
            .err()
            .unwrap()
            .code(),
        "ERR_NO_SUCH_INTERFACE"
    );
    let count = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    let before = count();
    for _ in 0..200 {
        drop(
            Injector::open(
                "lo",
                TxConfig {
                    frame_count: 8,
                    ..Default::default()
                },
            )
            .unwrap(),
        );
    }
    assert_eq!(count(), before);
}
