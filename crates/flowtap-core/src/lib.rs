//! flowtap's core: everything that touches every byte, with no I/O beyond
//! `std::io::Read`, no libc, no threads and no Node — so the same code runs in
//! the native addon, in WebAssembly and in plain unit tests.
//!
//! Data path: [`capture::CaptureReader`] yields borrowed [`capture::Frame`]s
//! from a pcap/pcapng byte stream; [`decode::decode`] turns a frame into a
//! [`decode::PacketInfo`] without copying; [`source::PacketSource`] ties the
//! two together and fills struct-of-arrays [`batch::PacketBatch`]es, the unit
//! that crosses to JavaScript.
//!
//! Contract: no function in this crate panics on any input bytes (checked by
//! proptest here and by the fuzz targets); damaged input is an [`Error`] with
//! a stable [`Error::code`] or a packet flagged malformed/truncated.

pub mod analyze;
pub mod batch;
pub mod capture;
pub mod decode;
pub mod defrag;
mod error;
pub mod flow;
pub mod linktype;
pub mod reassembly;
pub mod session;
pub mod source;
#[cfg(test)]
mod test_support;

pub use error::{Error, ErrorCode};
pub use linktype::LinkType;
