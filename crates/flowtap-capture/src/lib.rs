//! Linux live capture for flowtap (work in progress).
//!
//! Contract: everything here either returns a typed [`CaptureError`] with a
//! stable code or succeeds; nothing panics on any input. The pure parts
//! (the classic-BPF interpreter in [`bpf`]) have no libc and may move into
//! flowtap-core.

pub mod bpf;
mod error;

pub use error::CaptureError;

#[cfg(target_os = "linux")]
pub mod ring;
