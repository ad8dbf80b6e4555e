//! Capture file reading: pcap (µs/ns, both byte orders, the "modified"
//! variant) and pcapng (many sections, many interfaces each with its own link
//! type and timestamp resolution; EPB, SPB and the legacy Packet Block).
//!
//! Contract: [`CaptureReader`] streams from any `std::io::Read` with a
//! bounded buffer (it grows only up to the record-size limits in
//! [`ReaderOptions`]); it yields every good record before the first damaged
//! one and then a typed [`crate::Error`] carrying the byte offset; it never
//! panics. Frames borrow the reader's buffer and are valid until the next call.

mod interfaces;
mod reader;
pub mod writer;

pub use interfaces::TsResolution;
pub use reader::{CaptureFormat, CaptureReader, ReaderOptions};

use crate::LinkType;

/// One captured packet record, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Capture timestamp, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Length on the wire (may exceed `data.len()` when the snaplen cut it).
    pub origlen: u32,
    /// Global interface index: pcapng interfaces are numbered across
    /// sections in file order (the order capinfos lists them in; note that
    /// Wireshark 4.0's `frame.interface_id` is the index within the packet's
    /// own section instead); always 0 for pcap.
    pub interface: u32,
    pub link_type: LinkType,
    /// Byte offset of the record in the capture stream.
    pub offset: u64,
    /// The captured bytes.
    pub data: &'a [u8],
}

impl Frame<'_> {
    pub fn caplen(&self) -> u32 {
        self.data.len() as u32
    }
}
