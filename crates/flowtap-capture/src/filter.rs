//! Capture filters in tcpdump syntax, compiled by libpcap's own compiler
//! (the vendored, statically linked libpcap; see vendor/README.md).
//!
//! Contract: [`compile`] returns a validated [`Program`] or
//! `CaptureError::Filter` carrying libpcap's message; it never panics. The
//! program returns the snaplen for a packet it keeps and 0 for one it
//! drops, so attached to a socket it also cuts packets to the snaplen.
//! Compilation is serialized: libpcap's compiler keeps global state in
//! places (e.g. its name-resolution helpers), and compiling is rare.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::sync::Mutex;

use crate::bpf::{Insn, Program};
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

/// Compiles `expr` for packets of pcap link type `link_type`; kept packets
/// are cut to `snaplen`. An empty expression keeps everything.
pub fn compile(expr: &str, link_type: u32, snaplen: u32) -> Result<Program, CaptureError> {
    if expr.trim().is_empty() {
        return Ok(snap_program(snaplen));
    }
    let text = CString::new(expr)
        .map_err(|_| CaptureError::Filter("the expression contains a NUL byte".into()))?;
    let linktype = c_int::try_from(link_type)
        .map_err(|_| CaptureError::Filter(format!("link type {link_type} out of range")))?;
    let snap = c_int::try_from(snaplen.max(1)).unwrap_or(c_int::MAX);
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
        Program::new(insns).map_err(|e| CaptureError::Filter(format!("libpcap produced {e}")))
    };
    // SAFETY: p is ours and no longer used.
    unsafe { pcap_close(p) };
    result
}

/// The program that keeps every packet, cut to `snaplen` (`ret #snaplen`).
pub fn snap_program(snaplen: u32) -> Program {
    Program::new(vec![Insn {
        code: 0x06,
        jt: 0,
        jf: 0,
        k: snaplen.max(1),
    }])
    .expect("a single return is a valid program")
}
