//! Linux live capture for flowtap: AF_PACKET TPACKET_V3 receive rings
//! ([`ring`]), a TPACKET_V2 transmit ring ([`tx`]), tcpdump-syntax filters
//! compiled by libpcap ([`filter`]) and a classic-BPF interpreter that runs
//! them on capture files too ([`bpf`]).
//!
//! Contract: everything here either returns a typed [`CaptureError`] with a
//! stable code or succeeds; nothing panics on any input. The pure parts
//! (the classic-BPF interpreter in [`bpf`]) have no libc and may move into
//! flowtap-core.

pub mod bpf;
mod error;

pub use error::CaptureError;

#[cfg(target_os = "linux")]
pub mod filter;
#[cfg(target_os = "linux")]
pub mod ring;
#[cfg(target_os = "linux")]
mod sys;
#[cfg(target_os = "linux")]
pub mod tx;
