//! TCP stream reassembly: per flow and direction, in-order payload with
//! explicit gaps, every buffer bounded.
//!
//! A [`TcpReassembler`] holds one TCP connection (two [`Direction`]s). Feed
//! it every segment of the connection with [`TcpReassembler::on_segment`]
//! and end it with [`TcpReassembler::finish`]; it calls the sink with
//! [`StreamChunk`]s. Memory shared by all connections is accounted in a
//! [`Memcap`] the caller owns and passes `&mut` into every call (the core has
//! no globals and no threads).
//!
//! # Guarantees
//!
//! Per direction, the chunks handed to the sink form one contiguous stream:
//! the first `Data`/`Gap` starts at offset 0, each next one starts where the
//! previous ended, none overlap, and at most one `End` comes last (nothing
//! follows it). Every byte position up to the end is covered exactly once,
//! by data or by a [`GapReason`]-labelled gap — a bound that is hit never
//! loses bytes silently. A connection without losses delivers exactly the
//! bytes that were sent, whatever the order and duplication of segments.
//! No method panics on any input.
//!
//! Stream offsets are `u64`, relative to the ISN + 1 when the SYN was seen,
//! else to the first segment seen with payload or FIN (mid-stream pickup;
//! bytes before it are never reported). Sequence numbers are compared in
//! 32-bit serial arithmetic against the next expected byte, so streams wrap
//! freely; a sequence number 2 GiB or more ahead of it reads as behind it
//! (old).
//!
//! # Overlap policy: first data wins
//!
//! A byte position is filled by the first segment that brings it: later
//! segments covering delivered, gapped or buffered positions contribute
//! only their new bytes (Suricata's "first" policy; tshark's "follow",
//! which this is tested against, keeps bytes already placed too).
//! Overlapped bytes are counted as
//! retransmitted; when they differ from bytes still buffered the segment is
//! counted in [`StreamStats::inconsistent_overlaps`]. Bytes already
//! delivered are not kept (in-order data is passed through without a copy),
//! so a conflicting retransmission of them goes undetected.
//!
//! # Bounds (defaults in [`ReassemblyOptions`] and [`Memcap`])
//!
//! - out-of-order data per direction: `max_ooo_bytes` (1 MiB) and
//!   `max_ooo_segments` (1024 buffered pieces);
//! - all connections together: the [`Memcap`] limit (256 MiB), charged
//!   with the payload bytes plus [`PIECE_OVERHEAD`] per buffered piece;
//! - `depth` (unlimited): bytes of a direction past this offset are counted
//!   in [`StreamStats::beyond_depth_bytes`] but not delivered nor buffered;
//!   the stream ends with one [`GapReason::Depth`] gap covering them.
//!
//! When buffering a segment would exceed a limit, the stream skips ahead:
//! the hole before the earliest buffered (or the new) segment becomes a gap
//! ([`GapReason::OooLimit`] / [`GapReason::Memcap`]) and the buffered data
//! that is now in order is delivered, freeing its memory; a late copy of
//! skipped bytes then counts as retransmitted. In-order segments never need
//! memory, so the memcap can always be honoured.
//!
//! # Connection events
//!
//! - SYN sets the stream start to ISN + 1; data on a SYN is delivered. A
//!   later SYN does not restart the stream: a reused port pair is a new
//!   connection, i.e. a new `TcpReassembler` (the flow tracker ends the old
//!   flow on reuse).
//! - FIN fixes the stream's end: once every byte before it is delivered or
//!   gapped, the direction ends with [`StreamEnd::Fin`]. Payload beyond the
//!   FIN's sequence number is an anomaly, counted in
//!   [`StreamStats::after_end_bytes`] and not delivered.
//! - RST ends its sender's direction at once: holes up to the highest byte
//!   seen become gaps, buffered data is delivered, then
//!   [`StreamEnd::Rst`]. Later payload counts as after the end.
//! - An ACK from the peer beyond the next expected byte (Zeek's "content
//!   gap") means the acknowledged bytes were received but not captured, so
//!   no copy of them is still to come. A hole the peer acknowledged is
//!   gapped ([`GapReason::Missing`]) as soon as captured data (or the FIN)
//!   past it is known, instead of stalling the stream until a limit hits —
//!   tshark's rule; an acknowledged hole with nothing seen after it waits,
//!   because captures do list a segment after the ACK for it (timestamp
//!   reordering), and is gapped at flush, RST or finish, up to the highest
//!   byte acknowledged (`ack_gaps`, on by default). ACKs on RST segments
//!   are ignored.
//! - A segment cut by the snaplen delivers its captured bytes and a
//!   [`GapReason::Truncated`] gap for the rest of its wire length.
//! - [`TcpReassembler::finish`] gaps the remaining holes up to the highest
//!   byte seen, delivers all buffered data, ends each open direction with
//!   [`StreamEnd::Finish`] and returns all memory to the [`Memcap`].
//!
//! # Cost
//!
//! All work happens in the calling thread, inside the call. In-order
//! payload is handed to the sink as a slice of the caller's packet; only
//! out-of-order bytes are copied (once, into the direction's buffer, a
//! `BTreeMap` keyed by offset). A `TcpReassembler` is about 540 bytes on
//! 64-bit targets, most of it statistics, plus its buffered pieces. It
//! returns its memcap charge in `finish`; one dropped unfinished leaves
//! its charge in the [`Memcap`].

mod budget;
mod conn;
mod segments;
mod stream;
#[cfg(test)]
mod tests;

pub use budget::{Memcap, MemcapStats, DEFAULT_MEMCAP};
pub use conn::{TcpReassembler, TcpSegment};
pub use segments::PIECE_OVERHEAD;
pub use stream::StreamStats;

/// Which side sent the bytes of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Bytes sent by the connection's originator.
    Orig,
    /// Bytes sent by the responder.
    Resp,
}

impl Direction {
    /// 0 for the originator, 1 for the responder: an index into per-direction pairs.
    pub fn index(self) -> usize {
        match self {
            Direction::Orig => 0,
            Direction::Resp => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Orig => "orig",
            Direction::Resp => "resp",
        }
    }
}

/// One piece of a reassembled stream; see the module guarantees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamChunk<'a> {
    /// Payload at stream offset `offset`. Borrowed from the packet passed
    /// to the call (in-order data) or from the reassembler's buffer; valid
    /// only during the sink call.
    Data { offset: u64, bytes: &'a [u8] },
    /// `len` bytes at `offset` that will never be delivered.
    Gap {
        offset: u64,
        len: u64,
        reason: GapReason,
    },
    /// The direction is over; no chunk follows.
    End { reason: StreamEnd },
}

/// Why bytes of a stream were not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GapReason {
    /// Never captured: acknowledged by the peer, or still missing at RST,
    /// flush or finish.
    Missing,
    /// Skipped because the direction's out-of-order limits were reached.
    OooLimit,
    /// Skipped because the global [`Memcap`] was exhausted.
    Memcap,
    /// On the wire but cut from the capture by the snaplen.
    Truncated,
    /// Past the configured `depth`.
    Depth,
}

impl GapReason {
    pub fn as_str(self) -> &'static str {
        match self {
            GapReason::Missing => "missing",
            GapReason::OooLimit => "ooo-limit",
            GapReason::Memcap => "memcap",
            GapReason::Truncated => "truncated",
            GapReason::Depth => "depth",
        }
    }
}

/// Why a direction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamEnd {
    /// Every byte up to the FIN was delivered or gapped.
    Fin,
    /// Its sender reset the connection.
    Rst,
    /// [`TcpReassembler::finish`] was called (flow end, idle, eviction).
    Finish,
}

impl StreamEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamEnd::Fin => "fin",
            StreamEnd::Rst => "rst",
            StreamEnd::Finish => "finish",
        }
    }
}

/// Per-connection limits; `Default` gives the documented values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyOptions {
    /// Out-of-order payload bytes buffered per direction; default 1 MiB.
    pub max_ooo_bytes: u64,
    /// Out-of-order pieces buffered per direction; default 1024. (A
    /// segment that fills several holes between buffered data is stored as
    /// several pieces.)
    pub max_ooo_segments: usize,
    /// Bytes delivered per direction; beyond it bytes are only counted.
    /// Default `u64::MAX` (unlimited).
    pub depth: u64,
    /// Gap a hole the peer acknowledged as soon as data past it is known
    /// (see the module documentation); default true. When false holes are
    /// gapped only when a limit, RST, `flush` or `finish` forces it, and
    /// ACKs do not extend the stream at `finish`.
    pub ack_gaps: bool,
}

impl Default for ReassemblyOptions {
    fn default() -> Self {
        ReassemblyOptions {
            max_ooo_bytes: 1 << 20,
            max_ooo_segments: 1024,
            depth: u64::MAX,
            ack_gaps: true,
        }
    }
}
