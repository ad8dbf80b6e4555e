//! Capture filters in tcpdump syntax, compiled by libpcap's own compiler
//! (the vendored, statically linked libpcap; see vendor/README.md).
//!
//! Contract: [`compile`] returns a validated [`Program`] or
//! `CaptureError::Filter` (code `ERR_FILTER`) carrying libpcap's message
//! verbatim (`can't parse filter expression: syntax error`, `unknown host
//! 'x'`, ...); it never panics. The program returns the snaplen for a packet
//! it keeps and 0 for one it drops, so attached to a socket it also cuts
//! packets to the snaplen; a snaplen of 0 means whole packets (262144, as
//! tcpdump's `-s 0`). The netmask is unknown, so `ip broadcast` is refused
//! rather than compiled against a guessed network. Host and port names are
//! resolved at compile time (getaddrinfo, /etc/services), as in tcpdump.
//!
//! Compilation is serialized by a process-wide lock. libpcap 1.10's parser
//! and optimizer are reentrant, but not all of it: `ether host NAME` reads
//! /etc/ethers through a static `FILE *` (nametoaddr.c), and versions before
//! 1.8 kept the whole parser in globals. Compiling is rare, so the lock
//! costs nothing, except that a pathological expression (the optimizer is
//! super-linear: 400 `or`-ed ports take ~10 s) delays other compilations.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::sync::Mutex;

use crate::bpf::{Insn, Program};
use crate::ring::MAX_SNAPLEN;
use crate::CaptureError;

#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *mut Insn,
}

/// libpcap's PCAP_NETMASK_UNKNOWN: `ip broadcast` is then refused.
const NETMASK_UNKNOWN: u32 = 0xffff_ffff;

extern "C" {
    fn pcap_open_dead(linktype: c_int, snaplen: c_int) -> *mut c_void;
    fn pcap_compile(
        p: *mut c_void,
        fp: *mut BpfProgram,
        text: *const c_char,
        optimize: c_int,
        netmask: u32,
    ) -> c_int;
    fn pcap_geterr(p: *mut c_void) -> *const c_char;
    fn pcap_freecode(fp: *mut BpfProgram);
    fn pcap_close(p: *mut c_void);
}

static COMPILER: Mutex<()> = Mutex::new(());

/// Compiles `expr` for packets of link type `link_type`, a LINKTYPE_* value
/// as in capture files (1 Ethernet, 101 raw IP, 113 Linux cooked, ...);
/// kept packets are cut to `snaplen`.
/// An empty or all-blank expression keeps everything.
pub fn compile(expr: &str, link_type: u32, snaplen: u32) -> Result<Program, CaptureError> {
    let snaplen = whole_if_zero(snaplen);
    if expr.trim().is_empty() {
        return Ok(snap_program(snaplen));
    }
    let text = CString::new(expr)
        .map_err(|_| CaptureError::Filter("the expression contains a NUL byte".into()))?;
    let linktype = c_int::try_from(dlt_of(link_type))
        .map_err(|_| CaptureError::Filter(format!("link type {link_type} out of range")))?;
    let snap = c_int::try_from(snaplen).unwrap_or(c_int::MAX);
    let _serial = COMPILER.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: pcap_open_dead allocates a handle we own and close below.
    let p = unsafe { pcap_open_dead(linktype, snap) };
    if p.is_null() {
        return Err(CaptureError::Filter(
            "libpcap could not allocate a handle".into(),
        ));
    }
    let mut prog = BpfProgram {
        bf_len: 0,
        bf_insns: std::ptr::null_mut(),
    };
    // SAFETY: p is a live handle, prog a valid out-parameter, text a C string.
    let rc = unsafe { pcap_compile(p, &mut prog, text.as_ptr(), 1, NETMASK_UNKNOWN) };
    let result = if rc != 0 {
        // SAFETY: pcap_geterr returns the handle's NUL-terminated message buffer.
        let msg = unsafe { CStr::from_ptr(pcap_geterr(p)) };
        Err(CaptureError::Filter(msg.to_string_lossy().into_owned()))
    } else {
        let insns = if prog.bf_insns.is_null() {
            Vec::new()
        } else {
            // SAFETY: on success bf_insns points to bf_len instructions,
            // layout-compatible with Insn (struct bpf_insn), until freed.
            unsafe { std::slice::from_raw_parts(prog.bf_insns, prog.bf_len as usize) }.to_vec()
        };
        // SAFETY: prog came from a successful pcap_compile.
        unsafe { pcap_freecode(&mut prog) };
        let len = insns.len();
        Program::new(insns).map_err(|e| {
            CaptureError::Filter(if len > MAX_INSNS {
                // The one limit a valid expression can hit: the kernel (and
                // our interpreter) take at most BPF_MAXINSNS instructions.
                format!("the expression compiles to {len} BPF instructions, more than the {MAX_INSNS} a socket filter may have")
            } else {
                format!("libpcap produced an {e}")
            })
        })
    };
    // SAFETY: p is ours and no longer used.
    unsafe { pcap_close(p) };
    result
}

/// The program that keeps every packet, cut to `snaplen` (`ret #snaplen`;
/// 0 means whole packets): a snaplen without a filter.
pub fn snap_program(snaplen: u32) -> Program {
    Program::new(vec![Insn {
        code: 0x06, // BPF_RET | BPF_K
        jt: 0,
        jf: 0,
        k: whole_if_zero(snaplen),
    }])
    .expect("a single return is a valid program")
}

/// The DLT_* value libpcap's compiler takes for a LINKTYPE_* value (what
/// capture files and [`crate::ring::Ring::link_type`] carry). They differ
/// only for a few old link types whose DLT numbers vary by OS; these are
/// the Linux values of libpcap 1.10.3's `linktype_to_dlt` (pcap-common.c),
/// the mapping its file reader applies, kept here because that function is
/// not public API. Without it raw IP (101) is refused as unknown.
fn dlt_of(link_type: u32) -> u32 {
    match link_type {
        100 => 11, // ATM_RFC1483
        101 => 12, // RAW
        102 => 15, // SLIP_BSDOS
        103 => 16, // PPP_BSDOS
        106 => 19, // ATM_CLIP
        same => same,
    }
}

/// BPF_MAXINSNS of linux/bpf_common.h.
const MAX_INSNS: usize = 4096;

/// A program returning 0 drops every packet (and libpcap refuses snaplen 0),
/// so 0 takes tcpdump's meaning: no limit.
fn whole_if_zero(snaplen: u32) -> u32 {
    if snaplen == 0 {
        MAX_SNAPLEN
    } else {
        snaplen
    }
}
