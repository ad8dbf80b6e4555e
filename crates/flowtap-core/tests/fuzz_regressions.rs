//! Every input the fuzz targets (fuzz/) ever crashed on, replayed through
//! the same checks: the targets' bodies live in fuzz/src/lib.rs, which is
//! included here, and the inputs are the files under
//! tests/fuzz-regressions/<target>/ (named after the bug they found).
//! A new finding is added by copying its artifact there.

use std::path::Path;

#[allow(dead_code)]
#[path = "../../../fuzz/src/lib.rs"]
mod fuzz;

use flowtap_core::session::Protocol;

/// Runs `f` on every input saved for `target`; returns how many.
fn replay(target: &str, f: impl Fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut files: Vec<_> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    files.sort();
    for p in &files {
        let data = std::fs::read(p).unwrap();
        eprintln!("{target}: {}", p.display());
        f(&data);
    }
    files.len()
}

#[test]
fn capture() {
    replay("capture", fuzz::capture::run);
}

#[test]
fn decode() {
    replay("decode", fuzz::decode::run);
}

#[test]
fn defrag() {
    replay("defrag", fuzz::defrag::run);
}

#[test]
fn flow() {
    replay("flow", fuzz::flow::run);
}

#[test]
fn reassembly() {
    replay("reassembly", fuzz::reassembly::run);
}

#[test]
fn session_http() {
    replay("session_http", |d| fuzz::run_session(Protocol::Http, d));
}

#[test]
fn session_dns() {
    replay("session_dns", |d| fuzz::run_session(Protocol::Dns, d));
}

#[test]
fn session_tls() {
    replay("session_tls", |d| fuzz::run_session(Protocol::Tls, d));
}

#[test]
fn analyze() {
    replay("analyze", fuzz::analyze::run);
}

/// The harness itself works: every target accepts the bundled example
/// capture (as bytes of its own input format) without a finding.
#[test]
fn the_targets_accept_the_example() {
    let ex = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/loopback-http-dns.pcapng"
    ))
    .unwrap();
    let head = &ex[..ex.len().min(16 << 10)];
    fuzz::capture::run(&ex);
    fuzz::analyze::run(&ex);
    for f in [
        fuzz::decode::run,
        fuzz::defrag::run,
        fuzz::flow::run,
        fuzz::reassembly::run,
    ] {
        f(head);
    }
    for p in [Protocol::Http, Protocol::Dns, Protocol::Tls] {
        fuzz::run_session(p, head);
    }
}
