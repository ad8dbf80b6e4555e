//! Injection contender "flowtap TX ring (Rust)": the same frames as
//! benches/inject.mjs sends, queued 1024 at a time into flowtap's TX ring
//! and sent with one kick per batch. Prints JSON: frames, seconds, cpu.
//!
//!   tx_ring IFACE FRAMES SIZE

#[cfg(target_os = "linux")]
fn main() {
    use flowtap_capture::tx::{Injector, TxConfig};
    use std::time::{Duration, Instant};

    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: tx_ring IFACE FRAMES SIZE");
        std::process::exit(2);
    }
    let n: u64 = args[2].parse().expect("FRAMES");
    let size: usize = args[3].parse().expect("SIZE");
    let mut frame = vec![0u8; size.max(14)];
    frame[..14].copy_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5]);
    let mut tx = Injector::open(
        &args[1],
        TxConfig {
            frame_count: 4096,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let t0 = Instant::now();
    let mut queued = 0u64;
    while queued < n {
        let mut k = 0;
        while k < 1024 && queued < n {
            frame[14..22].copy_from_slice(&queued.to_be_bytes());
            if !tx.queue(&frame).expect("queue") {
                break;
            }
            queued += 1;
            k += 1;
        }
        tx.flush().expect("flush");
        if k == 0 {
            tx.wait_writable(Duration::from_millis(100)).expect("wait");
        }
    }
    tx.drain(Duration::from_secs(30)).expect("drain");
    let seconds = t0.elapsed().as_secs_f64();
    // SAFETY: zeroed rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru is a valid out-parameter.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = secs(ru.ru_utime) + secs(ru.ru_stime);
    println!(
        "{{\"frames\":{},\"seconds\":{seconds:.6},\"cpu\":{cpu:.6}}}",
        tx.stats().sent
    );
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("tx_ring needs Linux");
}
