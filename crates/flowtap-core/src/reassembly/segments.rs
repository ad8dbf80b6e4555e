//! The out-of-order buffer of one direction: non-overlapping pieces keyed
//! by stream offset.
//!
//! Pieces never overlap: a new segment is cut into the sub-ranges no piece
//! covers yet (first data wins), and only those are stored. A piece is
//! either captured bytes or a run the snaplen cut off ([`Piece::Missing`]),
//! which is kept so it can be reported as a truncation gap in order.

use std::collections::BTreeMap;

/// Bytes charged to the [`super::Memcap`] per buffered piece on top of its
/// payload: roughly a B-tree slot plus a `Vec` header and allocator slack,
/// so a flood of tiny segments is charged for what it really costs.
pub const PIECE_OVERHEAD: u64 = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Piece {
    Data(Vec<u8>),
    /// This many bytes were on the wire but not captured.
    Missing(u64),
}

impl Piece {
    pub(super) fn len(&self) -> u64 {
        match self {
            Piece::Data(d) => d.len() as u64,
            Piece::Missing(n) => *n,
        }
    }

    /// Payload bytes held (what counts against `max_ooo_bytes`).
    pub(super) fn held(&self) -> u64 {
        match self {
            Piece::Data(d) => d.len() as u64,
            Piece::Missing(_) => 0,
        }
    }

    /// What the piece is charged to the memcap.
    pub(super) fn cost(&self) -> u64 {
        self.held() + PIECE_OVERHEAD
    }
}

/// A new range `[start, end)` compared with the buffer.
#[derive(Debug, Default)]
pub(super) struct Overlap {
    /// Bytes of the range some piece already covers.
    pub covered: u64,
    /// Some covered byte differs from the buffered one.
    pub inconsistent: bool,
}

#[derive(Debug, Default)]
pub(super) struct SegmentBuffer {
    map: BTreeMap<u64, Piece>,
    held: u64,
}

impl SegmentBuffer {
    pub(super) fn pieces(&self) -> usize {
        self.map.len()
    }

    /// Payload bytes held.
    pub(super) fn held(&self) -> u64 {
        self.held
    }

    pub(super) fn first_start(&self) -> Option<u64> {
        self.map.first_key_value().map(|(&k, _)| k)
    }

    pub(super) fn pop_first(&mut self) -> Option<(u64, Piece)> {
        let (k, p) = self.map.pop_first()?;
        self.held -= p.held();
        Some((k, p))
    }

    /// The sub-ranges of `[start, end)` no piece covers, appended to `out`
    /// in order. `captured` holds the bytes of `[start, start + len)`; the
    /// covered bytes are compared with it where both sides have data.
    pub(super) fn uncovered(
        &self,
        start: u64,
        end: u64,
        captured: &[u8],
        out: &mut Vec<(u64, u64)>,
    ) -> Overlap {
        let mut ov = Overlap::default();
        let before = self
            .map
            .range(..start)
            .next_back()
            .filter(|(&k, p)| k.saturating_add(p.len()) > start);
        let mut pos = start;
        for (&k, p) in before.into_iter().chain(self.map.range(start..end)) {
            let pe = k.saturating_add(p.len());
            if k > pos {
                out.push((pos, k));
            }
            let (os, oe) = (k.max(start), pe.min(end));
            if oe > os {
                ov.covered += oe - os;
                if let Piece::Data(d) = p {
                    let ours = slice(captured, os - start, oe - start);
                    let theirs = slice(d, os - k, os - k + ours.len() as u64);
                    if ours != theirs {
                        ov.inconsistent = true;
                    }
                }
            }
            pos = pos.max(pe);
            if pos >= end {
                break;
            }
        }
        if pos < end {
            out.push((pos, end));
        }
        ov
    }

    /// Stores a piece at `start`; the caller has made sure nothing buffered
    /// overlaps it (see [`Self::uncovered`]).
    pub(super) fn insert(&mut self, start: u64, piece: Piece) {
        self.held += piece.held();
        if let Some(old) = self.map.insert(start, piece) {
            // Unreachable by the caller's contract; keep the accounting right.
            self.held -= old.held();
        }
    }

    /// Removes everything at or past `at` (a FIN fixed the end there);
    /// returns (bytes removed, memcap charge released).
    pub(super) fn truncate_from(&mut self, at: u64) -> (u64, u64) {
        let mut removed = (0, 0);
        // A piece straddling `at` keeps its head.
        if let Some((&k, p)) = self.map.range_mut(..at).next_back() {
            let end = k.saturating_add(p.len());
            if end > at {
                let keep = at - k;
                removed.0 += end - at;
                match p {
                    Piece::Data(d) => {
                        removed.1 += d.len() as u64 - keep;
                        self.held -= d.len() as u64 - keep;
                        d.truncate(keep as usize);
                        d.shrink_to_fit();
                    }
                    Piece::Missing(n) => *n = keep,
                }
            }
        }
        let tail = self.map.split_off(&at);
        for p in tail.into_values() {
            removed.0 += p.len();
            removed.1 += p.cost();
            self.held -= p.held();
        }
        removed
    }
}

/// `s[from..to]` clamped to `s`.
fn slice(s: &[u8], from: u64, to: u64) -> &[u8] {
    let len = s.len() as u64;
    let (from, to) = (from.min(len), to.min(len));
    &s[from as usize..to.max(from) as usize]
}
