//! Builds the vendored libpcap (vendor/README.md) as a static library for
//! its filter compiler, on Linux targets only. Every optional capture
//! backend is configured off so the library needs nothing but libc.
//!
//! The library is built once per OUT_DIR; a failed build leaves no
//! `libpcap.a` and is retried from a clean copy.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const VERSION: &str = "1.10.3";

fn main() {
    let tarball = format!("vendor/libpcap-{VERSION}.tar.gz");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={tarball}");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let src = out.join(format!("libpcap-{VERSION}"));
    let lib = src.join("libpcap.a");
    if !lib.exists() {
        build(&PathBuf::from(&tarball), &out, &src);
    }
    println!("cargo:rustc-link-search=native={}", src.display());
    println!("cargo:rustc-link-lib=static=pcap");
}

fn build(tarball: &Path, out: &Path, src: &Path) {
    for (tool, package) in [("flex", "flex"), ("bison", "bison"), ("make", "make")] {
        let found = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            panic!("building the vendored libpcap needs `{tool}` (Debian/Ubuntu: apt-get install {package})");
        }
    }
    if src.exists() {
        std::fs::remove_dir_all(src).expect("remove a failed libpcap build");
    }
    run(
        Command::new("tar")
            .arg("xzf")
            .arg(tarball)
            .arg("-C")
            .arg(out),
        "extract libpcap",
    );
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let cflags = format!("{} -fPIC -O2", env::var("CFLAGS").unwrap_or_default());
    run(
        Command::new("./configure")
            .current_dir(src)
            .env("CC", cc)
            .env("CFLAGS", cflags.trim())
            .args([
                "--disable-shared",
                "--disable-usb",
                "--disable-netmap",
                "--disable-bluetooth",
                "--disable-dbus",
                "--disable-rdma",
                "--disable-remote",
                "--without-libnl",
                "--without-dag",
                "--without-septel",
                "--without-snf",
                "--without-turbocap",
                "--without-dpdk",
            ]),
        "configure libpcap",
    );
    let jobs = env::var("NUM_JOBS").unwrap_or_else(|_| "2".into());
    run(
        Command::new("make")
            .current_dir(src)
            .arg(format!("-j{jobs}"))
            .arg("libpcap.a"),
        "build libpcap.a",
    );
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
