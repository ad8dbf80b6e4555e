//! [`TcpReassembler`]: one connection, two directions; routes each segment's
//! payload to its sender's stream and its ACK to the peer's.

use super::budget::Memcap;
use super::stream::{Cx, DirStream, SegIn, StreamStats};
use super::{Direction, ReassemblyOptions, StreamChunk};
use crate::decode::{tcp_flags, PacketInfo, Transport};
use crate::flow::tcp_state::tcp_payload_len;

/// The fields of one TCP segment the reassembler needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// Sent by the connection's originator (else by the responder).
    pub from_orig: bool,
    /// TCP flags, [`crate::decode::tcp_flags`] bits.
    pub flags: u16,
    pub seq: u32,
    pub ack: u32,
    /// The captured payload (extra bytes past `wire_len`, such as link-layer
    /// padding, are ignored).
    pub payload: &'a [u8],
    /// Payload length on the wire, from the IP length fields; larger than
    /// `payload.len()` when the snaplen cut the segment.
    pub wire_len: u32,
}

impl<'a> TcpSegment<'a> {
    /// The segment of a decoded TCP packet, `None` for anything else (or a
    /// header the decoder could not finish). `data` is the frame's bytes.
    pub fn from_packet(data: &'a [u8], info: &PacketInfo, from_orig: bool) -> Option<Self> {
        if info.transport != Transport::Tcp || info.l4_offset == 0 {
            return None;
        }
        let off = info.payload_offset as usize;
        let payload = data.get(off..off.checked_add(info.payload_len as usize)?)?;
        let wire_len = tcp_payload_len(data, info)?.max(payload.len() as u32);
        Some(TcpSegment {
            from_orig,
            flags: info.tcp_flags,
            seq: info.seq,
            ack: info.ack,
            payload,
            wire_len,
        })
    }
}

/// Reassembly state of one TCP connection; see the module documentation
/// for the guarantees, bounds and policies.
#[derive(Debug, Default)]
pub struct TcpReassembler {
    opts: ReassemblyOptions,
    orig: DirStream,
    resp: DirStream,
    finished: bool,
}

impl TcpReassembler {
    pub fn new(opts: ReassemblyOptions) -> Self {
        TcpReassembler {
            opts,
            ..TcpReassembler::default()
        }
    }

    pub fn options(&self) -> &ReassemblyOptions {
        &self.opts
    }

    /// Processes one segment: the peer's stream sees the ACK (which may
    /// gap acknowledged bytes the capture lacks), then the sender's stream
    /// places the payload and delivers whatever became in-order to `sink`.
    /// In-order payload is passed as a slice of `seg.payload`; only
    /// out-of-order bytes are copied, charged to `budget`.
    pub fn on_segment<F>(&mut self, seg: &TcpSegment<'_>, budget: &mut Memcap, sink: &mut F)
    where
        F: FnMut(Direction, StreamChunk<'_>),
    {
        if self.finished {
            return;
        }
        let (own, peer, dir, peer_dir) = if seg.from_orig {
            (
                &mut self.orig,
                &mut self.resp,
                Direction::Orig,
                Direction::Resp,
            )
        } else {
            (
                &mut self.resp,
                &mut self.orig,
                Direction::Resp,
                Direction::Orig,
            )
        };
        let flag = |f: u16| seg.flags & f != 0;
        // A RST's ACK field is unreliable (RFC 9293 lets it be anything).
        if flag(tcp_flags::ACK) && !flag(tcp_flags::RST) {
            let mut cx = Cx {
                opts: &self.opts,
                budget: &mut *budget,
                dir: peer_dir,
                sink: &mut *sink,
            };
            peer.on_ack(seg.ack, &mut cx);
        }
        let mut cx = Cx {
            opts: &self.opts,
            budget,
            dir,
            sink,
        };
        own.on_segment(
            SegIn {
                syn: flag(tcp_flags::SYN),
                fin: flag(tcp_flags::FIN),
                rst: flag(tcp_flags::RST),
                seq: seg.seq,
                payload: seg.payload,
                wire_len: seg
                    .wire_len
                    .max(seg.payload.len().min(u32::MAX as usize) as u32),
            },
            &mut cx,
        );
    }

    /// Delivers everything buffered in both directions, gapping the holes
    /// up to the highest byte seen ([`super::GapReason::Missing`]), and
    /// frees the memory; the connection stays open. Use it to reclaim
    /// budget from idle connections.
    pub fn flush<F>(&mut self, budget: &mut Memcap, sink: &mut F)
    where
        F: FnMut(Direction, StreamChunk<'_>),
    {
        for (s, dir) in [
            (&mut self.orig, Direction::Orig),
            (&mut self.resp, Direction::Resp),
        ] {
            let mut cx = Cx {
                opts: &self.opts,
                budget: &mut *budget,
                dir,
                sink: &mut *sink,
            };
            s.flush(&mut cx);
        }
    }

    /// Ends the connection: flushes, ends each open direction with
    /// [`super::StreamEnd::Finish`], returns all memory to `budget` and
    /// adds this connection's stats to its totals. Later calls do nothing.
    pub fn finish<F>(&mut self, budget: &mut Memcap, sink: &mut F)
    where
        F: FnMut(Direction, StreamChunk<'_>),
    {
        if self.finished {
            return;
        }
        for (s, dir) in [
            (&mut self.orig, Direction::Orig),
            (&mut self.resp, Direction::Resp),
        ] {
            let mut cx = Cx {
                opts: &self.opts,
                budget: &mut *budget,
                dir,
                sink: &mut *sink,
            };
            s.finish(&mut cx);
        }
        self.finished = true;
        budget.add_finished(&self.orig.stats, &self.resp.stats);
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether `dir` has delivered its `End`.
    pub fn is_ended(&self, dir: Direction) -> bool {
        self.stream(dir).is_ended()
    }

    /// The offset of the next byte `dir` will deliver (= bytes delivered
    /// or gapped so far).
    pub fn next_offset(&self, dir: Direction) -> u64 {
        self.stream(dir).next_offset()
    }

    /// Memcap charge this connection holds now.
    pub fn charged(&self) -> u64 {
        self.orig.charged() + self.resp.charged()
    }

    pub fn stats(&self, dir: Direction) -> &StreamStats {
        &self.stream(dir).stats
    }

    fn stream(&self, dir: Direction) -> &DirStream {
        match dir {
            Direction::Orig => &self.orig,
            Direction::Resp => &self.resp,
        }
    }
}
