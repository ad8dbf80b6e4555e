//! [`Memcap`]: the memory budget shared by all connections' reassembly
//! buffers, and the place where their statistics add up.
//!
//! The caller owns one `Memcap` and passes it `&mut` into every reassembler
//! call, so the bound holds across flows without globals or locks. A
//! reassembler returns everything it charged when it is finished; one that
//! is dropped without [`super::TcpReassembler::finish`] leaves its charge
//! behind (the budget cannot see drops it does not own).

use super::stream::StreamStats;

/// Default [`Memcap`] limit: 256 MiB.
pub const DEFAULT_MEMCAP: u64 = 256 << 20;

/// The global reassembly memory budget.
#[derive(Debug, Clone)]
pub struct Memcap {
    limit: u64,
    used: u64,
    peak: u64,
    hits: u64,
    finished: u64,
    totals: StreamStats,
}

/// A snapshot of a [`Memcap`]'s counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemcapStats {
    /// The limit in bytes.
    pub limit: u64,
    /// Bytes charged now (buffered payload plus per-piece overhead).
    pub used: u64,
    /// Highest `used` so far.
    pub peak: u64,
    /// Times a reservation was refused (each forced a
    /// [`super::GapReason::Memcap`] skip in some stream).
    pub hits: u64,
    /// Connections finished (their stats are in `totals`).
    pub finished_connections: u64,
    /// Sum of the per-direction stats of every finished connection (the
    /// `*_max` fields are maxima; the "now" fields are zero).
    pub totals: StreamStats,
}

impl Default for Memcap {
    fn default() -> Self {
        Memcap::new(DEFAULT_MEMCAP)
    }
}

impl Memcap {
    /// A budget of `limit` bytes (0 allows no buffering at all: every
    /// out-of-order segment then forces a skip).
    pub fn new(limit: u64) -> Self {
        Memcap {
            limit,
            used: 0,
            peak: 0,
            hits: 0,
            finished: 0,
            totals: StreamStats::default(),
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes charged now.
    pub fn used(&self) -> u64 {
        self.used
    }

    pub fn stats(&self) -> MemcapStats {
        MemcapStats {
            limit: self.limit,
            used: self.used,
            peak: self.peak,
            hits: self.hits,
            finished_connections: self.finished,
            totals: self.totals,
        }
    }

    /// Charges `n` bytes if they fit; a refusal is counted as a hit.
    pub(super) fn try_reserve(&mut self, n: u64) -> bool {
        match self.used.checked_add(n) {
            Some(u) if u <= self.limit => {
                self.used = u;
                self.peak = self.peak.max(u);
                true
            }
            _ => {
                self.hits += 1;
                false
            }
        }
    }

    pub(super) fn release(&mut self, n: u64) {
        // Saturating: a reassembler charged against another budget must not
        // underflow this one.
        self.used = self.used.saturating_sub(n);
    }

    pub(super) fn add_finished(&mut self, orig: &StreamStats, resp: &StreamStats) {
        self.finished += 1;
        self.totals.add(orig);
        self.totals.add(resp);
    }
}
