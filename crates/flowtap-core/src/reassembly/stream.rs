//! One direction of a connection: sequence tracking, in-order delivery,
//! the out-of-order buffer and its bounds, FIN/RST/ACK handling.
//!
//! Invariant: every offset below `next` has been handed to the sink (as
//! data or gap) and nothing at or past it has; buffered pieces all start at
//! or after `next`; `next <= depth`.

use super::budget::Memcap;
use super::segments::{Piece, SegmentBuffer};
use super::{Direction, GapReason, ReassemblyOptions, StreamChunk, StreamEnd};

/// Counters of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamStats {
    /// Segments carrying payload (by wire length).
    pub segments: u64,
    /// Payload bytes handed to the sink as data.
    pub delivered_bytes: u64,
    /// Gaps handed to the sink, and their bytes (all reasons).
    pub gaps: u64,
    pub gap_bytes: u64,
    /// Of `gap_bytes`: cut by the snaplen.
    pub truncated_bytes: u64,
    /// Payload bytes at positions already delivered, gapped or buffered.
    pub retransmitted_bytes: u64,
    /// Segments that brought no new byte at all (pure retransmissions).
    pub retransmitted_segments: u64,
    /// Segments that brought new bytes and old ones.
    pub overlaps: u64,
    /// Segments whose old bytes differ from the buffered ones.
    pub inconsistent_overlaps: u64,
    /// Out-of-order payload bytes and pieces buffered now, and the highest
    /// values reached.
    pub ooo_bytes: u64,
    pub ooo_segments: u64,
    pub ooo_bytes_max: u64,
    pub ooo_segments_max: u64,
    /// Skips forced by `max_ooo_bytes` / `max_ooo_segments`.
    pub ooo_limit_hits: u64,
    /// Skips forced by the memcap.
    pub memcap_hits: u64,
    /// Bytes past `depth` (by the highest sequence number seen).
    pub beyond_depth_bytes: u64,
    /// Payload past the FIN's sequence number or after a RST (an anomaly:
    /// not delivered), in bytes and segments.
    pub after_end_bytes: u64,
    pub after_end_segments: u64,
}

impl StreamStats {
    /// Adds `o`'s counters (maxima for the `*_max` fields; the "now" fields
    /// are left alone).
    pub fn add(&mut self, o: &StreamStats) {
        self.segments = self.segments.saturating_add(o.segments);
        self.delivered_bytes = self.delivered_bytes.saturating_add(o.delivered_bytes);
        self.gaps = self.gaps.saturating_add(o.gaps);
        self.gap_bytes = self.gap_bytes.saturating_add(o.gap_bytes);
        self.truncated_bytes = self.truncated_bytes.saturating_add(o.truncated_bytes);
        self.retransmitted_bytes = self
            .retransmitted_bytes
            .saturating_add(o.retransmitted_bytes);
        self.retransmitted_segments = self
            .retransmitted_segments
            .saturating_add(o.retransmitted_segments);
        self.overlaps = self.overlaps.saturating_add(o.overlaps);
        self.inconsistent_overlaps = self
            .inconsistent_overlaps
            .saturating_add(o.inconsistent_overlaps);
        self.ooo_bytes_max = self.ooo_bytes_max.max(o.ooo_bytes_max);
        self.ooo_segments_max = self.ooo_segments_max.max(o.ooo_segments_max);
        self.ooo_limit_hits = self.ooo_limit_hits.saturating_add(o.ooo_limit_hits);
        self.memcap_hits = self.memcap_hits.saturating_add(o.memcap_hits);
        self.beyond_depth_bytes = self.beyond_depth_bytes.saturating_add(o.beyond_depth_bytes);
        self.after_end_bytes = self.after_end_bytes.saturating_add(o.after_end_bytes);
        self.after_end_segments = self.after_end_segments.saturating_add(o.after_end_segments);
    }
}

/// What a call needs besides the stream itself.
pub(super) struct Cx<'a, F> {
    pub opts: &'a ReassemblyOptions,
    pub budget: &'a mut Memcap,
    pub dir: Direction,
    pub sink: &'a mut F,
}

/// The TCP header fields a direction looks at.
#[derive(Debug, Clone, Copy)]
pub(super) struct SegIn<'p> {
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub seq: u32,
    /// Captured payload, at most `wire_len` bytes.
    pub payload: &'p [u8],
    pub wire_len: u32,
}

#[derive(Debug, Default)]
pub(super) struct DirStream {
    /// Sequence number of offset 0, once known.
    base: Option<u32>,
    next: u64,
    /// Highest offset seen (segment end or ACK), at most `depth` and the FIN.
    high: u64,
    /// Highest offset seen past `depth` (0 while none).
    depth_high: u64,
    /// Highest offset the peer acknowledged (at most `high`).
    acked: u64,
    fin_at: Option<u64>,
    ended: bool,
    buf: SegmentBuffer,
    /// Memcap charge held now.
    charged: u64,
    pub(super) stats: StreamStats,
}

impl DirStream {
    pub(super) fn is_ended(&self) -> bool {
        self.ended
    }

    pub(super) fn next_offset(&self) -> u64 {
        self.next
    }

    pub(super) fn charged(&self) -> u64 {
        self.charged
    }

    /// Offset of `seq`: the next expected byte plus the signed 32-bit
    /// distance to it.
    fn rel(&self, base: u32, seq: u32) -> i64 {
        let next_seq = base.wrapping_add(self.next as u32);
        self.next as i64 + seq.wrapping_sub(next_seq) as i32 as i64
    }

    pub(super) fn on_segment<F>(&mut self, s: SegIn<'_>, cx: &mut Cx<'_, F>)
    where
        F: FnMut(Direction, StreamChunk<'_>),
    {
        let payload = &s.payload[..s.payload.len().min(s.wire_len as usize)];
        if s.wire_len > 0 {
            self.stats.segments += 1;
        }
        let data_seq = s.seq.wrapping_add(s.syn as u32);
        let base = match self.base {
            Some(b) => b,
            None if s.syn || s.fin || s.wire_len > 0 => {
                self.base = Some(data_seq);
                data_seq
            }
            None => {
                // A pure ACK or RST before any data: nothing to place yet.
                if s.rst && !self.ended {
                    self.end(StreamEnd::Rst, cx);
                }
                return;
            }
        };
        let start = self.rel(base, data_seq);
        let mut end = start + s.wire_len as i64;
        if self.ended {
            self.count_late(start, end);
            return;
        }
        if s.fin && self.fin_at.is_none() {
            self.set_fin(end.max(self.next as i64) as u64, cx);
        }
        if let Some(f) = self.fin_at {
            let f = f as i64;
            if end > f {
                self.stats.after_end_bytes += (end - start.max(f)) as u64;
                self.stats.after_end_segments += 1;
                end = f;
            }
        }
        let depth = cx.opts.depth.min(i64::MAX as u64) as i64;
        if end > depth {
            self.raise_depth_high((end as u64).max(self.depth_high), cx.opts.depth);
            end = depth;
        }
        if end > start {
            self.place(start, payload, end, cx);
        }
        if self.acked > self.next {
            self.fill_acked(cx);
        }
        if s.rst {
            let high = self.high;
            self.fill_to(high, GapReason::Missing, cx);
            self.end(StreamEnd::Rst, cx);
        } else {
            self.check_fin(cx);
        }
    }

    /// The peer acknowledged everything before `ack`.
    pub(super) fn on_ack<F>(&mut self, ack: u32, cx: &mut Cx<'_, F>)
    where
        F: FnMut(Direction, StreamChunk<'_>),
    {
        let Some(base) = self.base else { return };
        if self.ended || !cx.opts.ack_gaps {
            return;
        }
        let a = self.rel(base, ack);
        if a <= self.next as i64 {
            return;
        }
        // The ACK of a FIN is one past the last byte.
        let mut a = a as u64;
        if let Some(f) = self.fin_at {
            a = a.min(f);
        }
        if a > cx.opts.depth {
            self.raise_depth_high(a, cx.opts.depth);
            a = cx.opts.depth;
        }
        if a > self.next {
            self.high = self.high.max(a);
            self.acked = self.acked.max(a);
            self.fill_acked(cx);
            self.check_fin(cx);
        }
    }

    /// Gaps each acknowledged hole that has captured data (or the FIN)
    /// after it: the receiver has those bytes, so no copy of them is still
    /// to come. A hole with nothing seen after it stays open, because a
    /// capture may list a segment after the ACK that covers it (timestamp
    /// reordering); flush, RST and finish gap it. This is tshark's rule.
    fn fill_acked<F>(&mut self, cx: &mut Cx<'_, F>)
    where
        F: FnMut(Direction, StreamChunk<'_>),
    {
        while let Some(k) = self.buf.first_start().or(self.fin_at) {
            if k <= self.next || k > self.acked {
                break;
            }
            self.emit_gap(k - self.next, GapReason::Missing, cx);
            self.drain(cx);
        }
    }

    /// Delivers everything buffered, gapping the holes up to the highest
    /// offset seen; the stream stays open.
    pub(super) fn flush<F>(&mut self, cx: &mut Cx<'_, F>)
    where
        F: FnMut(Direction, StreamChunk<'_>),
    {
        if !self.ended {
            let high = self.high;
            self.fill_to(high, GapReason::Missing, cx);
            self.check_fin(cx);
        }
    }

    /// Flushes and ends the direction (if still open).
    pub(super) fn finish<F>(&mut self, cx: &mut Cx<'_, F>)
    where
        F: FnMut(Direction, StreamChunk<'_>),
    {
        self.flush(cx);
        if !self.ended {
            self.end(StreamEnd::Finish, cx);
        }
    }

    /// Payload after the end: past the FIN (or the RST point) it is an
    /// anomaly, before it a retransmission.
    fn count_late(&mut self, start: i64, end: i64) {
        if end <= start {
            return;
        }
        let f = self.fin_at.unwrap_or(self.next) as i64;
        if end > f {
            self.stats.after_end_bytes += (end - start.max(f)) as u64;
            self.stats.after_end_segments += 1;
        }
        if start < f {
            self.stats.retransmitted_bytes += (end.min(f) - start) as u64;
            self.stats.retransmitted_segments += 1;
        }
    }

    fn raise_depth_high(&mut self, to: u64, depth: u64) {
        let old = self.depth_high.max(depth);
        if to > old {
            self.stats.beyond_depth_bytes += to - old;
            self.depth_high = to;
        }
        // The stream reached past depth, so every byte before it exists:
        // a flush must cover up to depth for the depth gap to follow on.
        self.high = self.high.max(depth);
    }

    fn set_fin<F>(&mut self, at: u64, cx: &mut Cx<'_, F>) {
        self.fin_at = Some(at);
        // Data buffered past the FIN was sent after it.
        let (bytes, cost) = self.buf.truncate_from(at);
        if bytes > 0 {
            self.stats.after_end_bytes += bytes;
            self.stats.after_end_segments += 1;
        }
        self.uncharge(cost, cx);
        self.sync_ooo();
        self.high = self.high.min(at).max(self.next);
        if self.depth_high > at {
            // Bytes "past depth" beyond the FIN were never part of the stream.
            self.stats.beyond_depth_bytes -= self.depth_high - at.max(cx.opts.depth);
            self.depth_high = at.max(cx.opts.depth);
        }
    }

    fn check_fin<F>(&mut self, cx: &mut Cx<'_, F>)
    where
        F: FnMut(Direction, StreamChunk<'_>),
    {
        if let Some(f) = self.fin_at {
            if !self.ended && self.next >= f.min(cx.opts.depth) {
                self.end(StreamEnd::Fin, cx);
            }
        }
    }

    fn end<F>(&mut self, reason: StreamEnd, cx: &mut Cx<'_, F>)
    where
        F: FnMut(Direction, StreamChunk<'_>),
    {
        let depth = cx.opts.depth;
        let stop = match self.fin_at {
            Some(f) if reason == StreamEnd::Fin && f > depth => f,
            _ => self.depth_high,
        };
        if stop > depth && self.next == depth {
            self.emit_gap(stop - depth, GapReason::Depth, cx);
        }
        // Normally empty by now; whatever is left is released, not leaked.
        while let Some((_, p)) = self.buf.pop_first() {
            self.uncharge(p.cost(), cx);
        }
        self.sync_ooo();
        (cx.sink)(cx.dir, StreamChunk::End { reason });
        self.ended = true;
        if self.fin_at.is_none() {
            self.fin_at = Some(self.next);
        }
    }

    /// Places the segment `[start, end)` (captured bytes from `start`),
    /// cropped to the FIN and depth already; `end > start`.
    fn place<F>(&mut self, start: i64, payload: &[u8], end: i64, cx: &mut Cx<'_, F>)
    where
        F: FnMut(Direction, StreamChunk<'_>),
    {
        let next = self.next;
        if end <= next as i64 {
            self.stats.retransmitted_bytes += (end - start) as u64;
            self.stats.retransmitted_segments += 1;
            return;
        }
        let end = end as u64;
        self.high = self.high.max(end);
        if start <= next as i64 {
            // Drop the old head so the rest starts at `next`.
            let skip = (next as i64 - start) as u64;
            self.stats.retransmitted_bytes += skip;
            let rest = payload.get(skip as usize..).unwrap_or(&[]);
            self.deliver_packet(next, rest, end, skip > 0, cx);
        } else {
            self.buffer(start as u64, payload, end, cx);
        }
    }

    /// Delivers the in-order segment `[start, end)`, `start == next`,
    /// captured bytes `data` from `start`, together with any buffered
    /// pieces it meets (those win where they overlap), then drains.
    fn deliver_packet<F>(
        &mut self,
        start: u64,
        data: &[u8],
        end: u64,
        mut overlapped: bool,
        cx: &mut Cx<'_, F>,
    ) where
        F: FnMut(Direction, StreamChunk<'_>),
    {
        let cap_end = start + (data.len() as u64).min(end - start);
        let mut inconsistent = false;
        while self.next < end {
            let pos = self.next;
            match self.buf.first_start() {
                Some(k) if k <= pos => {
                    let Some((k, piece)) = self.buf.pop_first() else {
                        break;
                    };
                    let pe = k + piece.len();
                    let (os, oe) = (pos, pe.min(end));
                    if oe > os {
                        overlapped = true;
                        self.stats.retransmitted_bytes += oe - os;
                        if let Piece::Data(d) = &piece {
                            let ours = sub(data, os - start, oe.min(cap_end).max(os) - start);
                            let theirs = sub(d, os - k, os - k + ours.len() as u64);
                            inconsistent |= ours != theirs;
                        }
                    }
                    self.uncharge(piece.cost(), cx);
                    self.emit_piece(k, &piece, cx);
                }
                other => {
                    let lim = other.unwrap_or(u64::MAX).min(end);
                    if pos < cap_end {
                        let to = lim.min(cap_end);
                        let bytes = sub(data, pos - start, to - start);
                        self.emit_data(bytes, cx);
                    }
                    if self.next < lim {
                        self.emit_gap(lim - self.next, GapReason::Truncated, cx);
                    }
                }
            }
        }
        if overlapped {
            self.stats.overlaps += 1;
        }
        if inconsistent {
            self.stats.inconsistent_overlaps += 1;
        }
        self.drain(cx);
    }

    /// Buffers the out-of-order segment `[start, end)`, `start > next`, or
    /// skips ahead when a bound does not allow it.
    fn buffer<F>(&mut self, start: u64, data: &[u8], end: u64, cx: &mut Cx<'_, F>)
    where
        F: FnMut(Direction, StreamChunk<'_>),
    {
        let cap_end = start + (data.len() as u64).min(end - start);
        let mut ranges = Vec::new();
        loop {
            ranges.clear();
            let ov = self.buf.uncovered(start, end, data, &mut ranges);
            // Split the new ranges into captured and cut-off pieces.
            let mut pieces: Vec<(u64, u64, bool)> = Vec::with_capacity(ranges.len() + 1);
            for &(s, e) in &ranges {
                if s < cap_end {
                    pieces.push((s, e.min(cap_end), true));
                }
                if e > cap_end {
                    pieces.push((s.max(cap_end), e, false));
                }
            }
            let held: u64 = pieces.iter().filter(|p| p.2).map(|&(s, e, _)| e - s).sum();
            let cost = held + pieces.len() as u64 * super::PIECE_OVERHEAD;
            let fits = self.buf.pieces() + pieces.len() <= cx.opts.max_ooo_segments
                && self.buf.held() + held <= cx.opts.max_ooo_bytes;
            let reason = if !fits {
                self.stats.ooo_limit_hits += 1;
                GapReason::OooLimit
            } else if pieces.is_empty() || cx.budget.try_reserve(cost) {
                self.stats.retransmitted_bytes += ov.covered;
                if pieces.is_empty() {
                    self.stats.retransmitted_segments += 1;
                } else if ov.covered > 0 {
                    self.stats.overlaps += 1;
                }
                if ov.inconsistent {
                    self.stats.inconsistent_overlaps += 1;
                }
                for (s, e, captured) in pieces {
                    let piece = if captured {
                        Piece::Data(sub(data, s - start, e - start).to_vec())
                    } else {
                        Piece::Missing(e - s)
                    };
                    self.buf.insert(s, piece);
                }
                self.charged += cost;
                self.sync_ooo();
                return;
            } else {
                self.stats.memcap_hits += 1;
                GapReason::Memcap
            };
            // Skip ahead to the earliest known byte, freeing what becomes
            // deliverable; then try again (or deliver the segment itself).
            match self.buf.first_start() {
                Some(k) if k < start => {
                    self.emit_gap(k - self.next, reason, cx);
                    self.drain(cx);
                    if self.next >= start {
                        let skip = self.next - start;
                        let rest = data.get(skip as usize..).unwrap_or(&[]);
                        if self.next < end {
                            self.stats.retransmitted_bytes += skip;
                            self.deliver_packet(self.next, rest, end, skip > 0, cx);
                        } else {
                            self.stats.retransmitted_bytes += end - start;
                            self.stats.retransmitted_segments += 1;
                        }
                        return;
                    }
                }
                _ => {
                    self.emit_gap(start - self.next, reason, cx);
                    self.deliver_packet(start, data, end, false, cx);
                    return;
                }
            }
        }
    }

    /// Up to `to`: delivers buffered pieces, gapping the holes between
    /// them with `reason`; then drains what became contiguous.
    fn fill_to<F>(&mut self, to: u64, reason: GapReason, cx: &mut Cx<'_, F>)
    where
        F: FnMut(Direction, StreamChunk<'_>),
    {
        while self.next < to {
            match self.buf.first_start() {
                Some(k) if k <= self.next => self.drain_one(cx),
                Some(k) if k < to => self.emit_gap(k - self.next, reason, cx),
                _ => self.emit_gap(to - self.next, reason, cx),
            }
        }
        self.drain(cx);
    }

    /// Delivers the buffered pieces that start at or before `next`.
    fn drain<F>(&mut self, cx: &mut Cx<'_, F>)
    where
        F: FnMut(Direction, StreamChunk<'_>),
    {
        while self.buf.first_start().is_some_and(|k| k <= self.next) {
            self.drain_one(cx);
        }
    }

    fn drain_one<F>(&mut self, cx: &mut Cx<'_, F>)
    where
        F: FnMut(Direction, StreamChunk<'_>),
    {
        if let Some((k, piece)) = self.buf.pop_first() {
            self.uncharge(piece.cost(), cx);
            self.emit_piece(k, &piece, cx);
        }
    }

    /// Emits the part of a popped piece at or past `next`.
    fn emit_piece<F>(&mut self, k: u64, piece: &Piece, cx: &mut Cx<'_, F>)
    where
        F: FnMut(Direction, StreamChunk<'_>),
    {
        let end = k + piece.len();
        if end <= self.next {
            return;
        }
        let skip = self.next - k.min(self.next);
        match piece {
            Piece::Data(d) => self.emit_data(sub(d, skip, d.len() as u64), cx),
            Piece::Missing(_) => self.emit_gap(end - self.next, GapReason::Truncated, cx),
        }
        self.sync_ooo();
    }

    fn emit_data<F>(&mut self, bytes: &[u8], cx: &mut Cx<'_, F>)
    where
        F: FnMut(Direction, StreamChunk<'_>),
    {
        if bytes.is_empty() {
            return;
        }
        let offset = self.next;
        self.next += bytes.len() as u64;
        self.stats.delivered_bytes += bytes.len() as u64;
        (cx.sink)(cx.dir, StreamChunk::Data { offset, bytes });
    }

    fn emit_gap<F>(&mut self, len: u64, reason: GapReason, cx: &mut Cx<'_, F>)
    where
        F: FnMut(Direction, StreamChunk<'_>),
    {
        if len == 0 {
            return;
        }
        let offset = self.next;
        self.next = self.next.saturating_add(len);
        self.stats.gaps += 1;
        self.stats.gap_bytes += len;
        if reason == GapReason::Truncated {
            self.stats.truncated_bytes += len;
        }
        (cx.sink)(
            cx.dir,
            StreamChunk::Gap {
                offset,
                len,
                reason,
            },
        );
    }

    fn uncharge<F>(&mut self, cost: u64, cx: &mut Cx<'_, F>) {
        let c = cost.min(self.charged);
        self.charged -= c;
        cx.budget.release(c);
    }

    fn sync_ooo(&mut self) {
        self.stats.ooo_bytes = self.buf.held();
        self.stats.ooo_segments = self.buf.pieces() as u64;
        self.stats.ooo_bytes_max = self.stats.ooo_bytes_max.max(self.stats.ooo_bytes);
        self.stats.ooo_segments_max = self.stats.ooo_segments_max.max(self.stats.ooo_segments);
    }
}

/// `s[from..to]` clamped to `s`.
fn sub(s: &[u8], from: u64, to: u64) -> &[u8] {
    let len = s.len() as u64;
    let (from, to) = (from.min(len), to.min(len));
    &s[from as usize..to.max(from) as usize]
}
