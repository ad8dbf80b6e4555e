//! IPv4 and IPv6 fragment reassembly, so that fragmented UDP (DNS, tunnels)
//! and the odd fragmented TCP segment land in the right flow.
//!
//! Contract: [`Defragmenter`] is a pure, deterministic state machine — no
//! I/O, no wall clock, no threads, no panics on any input. Time is the
//! packet time passed to [`Defragmenter::push`] / [`Defragmenter::expire`],
//! so a capture replays to the same results every time. Every resource is
//! bounded ([`DefragOptions`]): datagrams in progress, bytes buffered in
//! total, fragments per datagram, datagram size and time. Nothing is
//! buffered forever: a datagram lives at most `timeout_ns` of packet time
//! after its first fragment, however many fragments keep arriving (time
//! moves only with the timestamps passed in: a live source that goes quiet
//! calls `expire`, a capture's end calls `flush`). Every limit hit and
//! every fragment or datagram given up on is counted in [`DefragStats`].
//! Work per packet is amortized O(1) in the number of datagrams in progress
//! (and O(`max_fragments`) in the fragments of its own datagram).
//!
//! # Use
//!
//! Feed every decoded frame: `push` answers [`Outcome::NotAFragment`] (use
//! the frame as it is), [`Outcome::Buffered`] (the fragment is kept, nothing
//! to do yet), [`Outcome::Complete`] (the whole IP datagram, an owned buffer
//! that starts with the IP header: decode it with
//! `decode(LinkType::RAW, &bytes, bytes.len() as u32)`) or
//! [`Outcome::Dropped`] (the fragment is discarded, with the reason). At the
//! end of a capture, [`Defragmenter::flush`] counts what never completed.
//! A reassembled datagram may itself be a fragment (nested IPv6 fragment
//! headers, IP-in-IP): pushing it again reassembles that too; how deep to go
//! is the caller's choice.
//!
//! # Fragments
//!
//! A frame is a fragment when the decoder set [`ip_flags::FRAGMENT`]; its IP
//! header is then re-read from the frame at `l3_offset` (the decoder's
//! `payload_offset`/`ip_proto` are not used: for IPv4 with an authentication
//! header and for IPv6 the decoder parses headers after the fragment header,
//! which in a non-first fragment are payload bytes). Fragments of one
//! datagram share the key (family, source, destination, IPv4 protocol,
//! identification) — for IPv6 (source, destination, identification) per RFC
//! 8200; VLAN and interface are not part of the key (use one
//! `Defragmenter` per interface/VLAN if they must be kept apart).
//!
//! * IPv6 atomic fragments (RFC 6946: fragment header with offset 0, M=0)
//!   are whole packets, processed in isolation: [`Outcome::NotAFragment`],
//!   counted in [`DefragStats::atomic_fragments`]. The decoder already
//!   decodes their transport.
//! * The reassembled IPv4 datagram has the first fragment's header (options
//!   included) with total length set, MF and offset cleared (DF kept as the
//!   first fragment had it) and the checksum recomputed. The reassembled
//!   IPv6 datagram has the first fragment's IPv6 header and the extension
//!   headers before the fragment header (the unfragmentable part), the
//!   fragment header removed, the "next header" that named it replaced by
//!   the fragment header's, and the payload length set.
//! * A fragment that is not the last (MF/M set) must carry a non-zero
//!   multiple of 8 bytes, else it is [`DropReason::Malformed`] (RFC 8200;
//!   RFC 791 implies it). A fragment cut by the snaplen is
//!   [`DropReason::Truncated`]. Both drop only that fragment.
//! * A first fragment too short to hold the TCP (20 bytes) or UDP/ICMP
//!   (8 bytes) header — the "tiny fragment" of RFC 1858 — is reassembled
//!   normally and counted in [`DefragStats::tiny_first_fragments`].
//!
//! # Overlaps and other conflicts: policy
//!
//! Bytes that several fragments carry must be identical. A fragment whose
//! bytes are all already buffered with the same values is a duplicate:
//! dropped ([`DropReason::Duplicate`]), not stored, not an error. A fragment
//! that overlaps buffered ones with the same values and adds new bytes is
//! stored. A fragment that overlaps with *different* bytes drops the whole
//! datagram ([`DropReason::Overlap`]) — the reassembled bytes would depend
//! on the receiving OS's overlap policy, which is how IDS evasion works
//! (RFC 5722 requires this for IPv6; we apply it to IPv4 too). Likewise a
//! datagram is dropped as a whole when a second last fragment disagrees on
//! the length or a fragment lies beyond the last one
//! ([`DropReason::Inconsistent`]), when it would exceed `max_fragments`
//! ([`DropReason::TooManyFragments`]) or `max_datagram_size`
//! ([`DropReason::TooLarge`]). A dropped datagram leaves a tombstone (no
//! bytes) until its timeout, so its later fragments are dropped too
//! ([`DropReason::Abandoned`]) instead of starting a datagram that can only
//! time out or, worse, complete with the attacker's choice of bytes.
//! Once a datagram completes it is forgotten: a duplicate fragment arriving
//! after that starts a new datagram, which times out.
//!
//! # Limits and time
//!
//! A datagram expires `timeout_ns` after its first fragment (not refreshed
//! by later ones): at the first `push`/`expire` whose time is at or past
//! that, it is dropped and counted in [`DefragStats::timeouts`]. Time is
//! the largest timestamp seen so far, so a capture whose timestamps step
//! back does not resurrect or prolong anything. Expiry follows a FIFO in
//! order of creation, which is also deadline order. When a new datagram
//! would exceed `max_datagrams`, or a fragment would take the bytes
//! buffered past `max_bytes`, the oldest datagrams are evicted first
//! ([`DefragStats::evicted_datagram_limit`],
//! [`DefragStats::evicted_memory_limit`]) — possibly the fragment's own,
//! which then starts over. Bytes buffered count fragment payload plus the
//! copy of the first fragment's header; the bookkeeping around them (about
//! 64 bytes per fragment and 150 per datagram) is not counted but bounded
//! by `max_datagrams` × `max_fragments`.

mod parse;

use std::collections::{HashMap, VecDeque};

use crate::decode::{ip_flags, Net, PacketInfo, Status};
use parse::{Fragment, Key, Parsed};

/// Limits of a [`Defragmenter`]. `Default` gives the documented values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefragOptions {
    /// Datagrams in progress (including tombstones of dropped ones) at
    /// once; default 4096 (0 acts as 1).
    pub max_datagrams: usize,
    /// Bytes buffered in total (fragment payload and first headers);
    /// default 16 MiB.
    pub max_bytes: usize,
    /// Distinct fragments stored per datagram (duplicates do not count);
    /// default 64 — a 64 KiB datagram over a 1280-byte IPv6 MTU takes 53.
    pub max_fragments: usize,
    /// Largest reassembled datagram: the IPv4 total length, or the IPv6
    /// payload length (jumbograms are not reassembled); default 65535,
    /// larger values are capped at 65535.
    pub max_datagram_size: usize,
    /// Lifetime of a datagram from its first fragment, in nanoseconds of
    /// packet time; default 30 s (as Linux, RFC 8200's 60 s is the upper
    /// bound).
    pub timeout_ns: u64,
}

impl Default for DefragOptions {
    fn default() -> Self {
        DefragOptions {
            max_datagrams: 4096,
            max_bytes: 16 << 20,
            max_fragments: 64,
            max_datagram_size: 65535,
            timeout_ns: 30_000_000_000,
        }
    }
}

/// What became of one pushed frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Outcome {
    /// Not an IP fragment (or an IPv6 atomic fragment): use the frame as is.
    NotAFragment,
    /// The fragment is stored; its datagram is not complete yet.
    Buffered,
    /// This fragment completed a datagram: the reassembled IP datagram,
    /// IP header first, ready for `decode(LinkType::RAW, …)`.
    Complete(Vec<u8>),
    /// The fragment was discarded; see the reason.
    Dropped(DropReason),
}

/// Why a fragment was discarded. The reasons marked "datagram" also drop
/// every fragment buffered for its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The IP header is invalid, or a non-last fragment does not carry a
    /// non-zero multiple of 8 bytes.
    Malformed,
    /// The snaplen cut the fragment.
    Truncated,
    /// All its bytes are buffered already, with the same values.
    Duplicate,
    /// Datagram: it overlaps buffered bytes with different values.
    Overlap,
    /// Datagram: a second last fragment disagrees on the length, or a
    /// fragment lies beyond the last one.
    Inconsistent,
    /// Datagram: more than `max_fragments` fragments.
    TooManyFragments,
    /// Datagram: larger than `max_datagram_size`.
    TooLarge,
    /// The fragment alone is larger than `max_bytes`.
    MemoryLimit,
    /// Its datagram was dropped for one of the reasons above; it is
    /// remembered until its timeout so its fragments keep being dropped.
    Abandoned,
}

/// Counters; every limit hit and every discarded fragment or datagram is
/// counted in exactly one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DefragStats {
    /// Frames the decoder flagged as fragments (atomic ones excluded).
    pub fragments: u64,
    /// Fragments stored.
    pub fragments_buffered: u64,
    /// Datagrams completed ([`Outcome::Complete`]).
    pub datagrams_reassembled: u64,
    /// IPv6 atomic fragments passed through as whole packets.
    pub atomic_fragments: u64,
    /// First fragments shorter than the transport header (reassembled).
    pub tiny_first_fragments: u64,
    /// Fragments dropped as duplicates.
    pub duplicates: u64,
    /// Fragments dropped as malformed.
    pub malformed: u64,
    /// Fragments dropped as cut by the snaplen.
    pub truncated: u64,
    /// Datagrams dropped for a conflicting overlap.
    pub overlaps: u64,
    /// Datagrams dropped as inconsistent (length disagreements).
    pub inconsistent: u64,
    /// Datagrams dropped for having too many fragments.
    pub too_many_fragments: u64,
    /// Datagrams dropped as too large (or lone fragments, when nothing was
    /// buffered for their datagram yet).
    pub too_large: u64,
    /// Fragments dropped as larger than the whole memory budget.
    pub fragment_over_memory_limit: u64,
    /// Fragments of datagrams dropped before (tombstones).
    pub abandoned: u64,
    /// Datagrams that timed out incomplete.
    pub timeouts: u64,
    /// Datagrams evicted, oldest first, to stay within `max_bytes`.
    pub evicted_memory_limit: u64,
    /// Datagrams evicted, oldest first, to stay within `max_datagrams`.
    pub evicted_datagram_limit: u64,
    /// Datagrams discarded incomplete by [`Defragmenter::flush`].
    pub flushed: u64,
    /// Highest number of bytes buffered at once.
    pub peak_bytes: u64,
    /// Highest number of datagrams (with tombstones) tracked at once.
    pub peak_datagrams: u64,
}

/// The reassembly state; see the module documentation.
#[derive(Debug)]
pub struct Defragmenter {
    opts: DefragOptions,
    table: HashMap<Key, Datagram>,
    /// Datagrams in order of creation: (deadline, serial, key). Entries of
    /// datagrams that completed or were evicted stay until they reach the
    /// front or the queue is compacted (their serial no longer matches).
    fifo: VecDeque<(u64, u64, Key)>,
    next_serial: u64,
    /// The latest packet time seen.
    clock: u64,
    bytes: usize,
    stats: DefragStats,
}

#[derive(Debug)]
struct Datagram {
    serial: u64,
    state: State,
}

#[derive(Debug)]
enum State {
    Open(Assembly),
    /// Dropped; its later fragments are dropped too until the deadline.
    Tombstone,
}

#[derive(Debug, Default)]
struct Assembly {
    /// Sorted by offset; identical overlapping bytes may be stored twice.
    pieces: Vec<Piece>,
    /// End of the data, from the last fragment (MF clear).
    total: Option<u32>,
    /// Header of the first fragment (offset 0).
    first: Option<First>,
    /// Bytes accounted to this datagram.
    bytes: usize,
}

#[derive(Debug)]
struct Piece {
    offset: u32,
    data: Vec<u8>,
}

impl Piece {
    fn end(&self) -> u32 {
        self.offset + self.data.len() as u32
    }
}

#[derive(Debug)]
struct First {
    header: Vec<u8>,
    next_header_at: usize,
    next_header: u8,
}

impl Default for Defragmenter {
    fn default() -> Self {
        Self::new(DefragOptions::default())
    }
}

impl Defragmenter {
    pub fn new(opts: DefragOptions) -> Self {
        Defragmenter {
            opts,
            table: HashMap::new(),
            fifo: VecDeque::new(),
            next_serial: 0,
            clock: 0,
            bytes: 0,
            stats: DefragStats::default(),
        }
    }

    pub fn options(&self) -> &DefragOptions {
        &self.opts
    }

    pub fn stats(&self) -> &DefragStats {
        &self.stats
    }

    /// Datagrams tracked now (in progress, and tombstones of dropped ones).
    pub fn datagrams(&self) -> usize {
        self.table.len()
    }

    /// Bytes buffered now.
    pub fn buffered_bytes(&self) -> usize {
        self.bytes
    }

    /// Processes one decoded frame (`info` = `decode(…, frame_data, …)`)
    /// captured at `ts_ns`; expires what is due first.
    pub fn push(&mut self, ts_ns: u64, frame_data: &[u8], info: &PacketInfo) -> Outcome {
        self.advance(ts_ns);
        if !matches!(info.net, Net::Ipv4 | Net::Ipv6) {
            return Outcome::NotAFragment;
        }
        if info.ip_flags & ip_flags::FRAGMENT == 0 {
            if info.ip_flags & ip_flags::ATOMIC_FRAGMENT != 0 {
                self.stats.atomic_fragments += 1;
            }
            return Outcome::NotAFragment;
        }
        let missing = if info.status == Status::Truncated {
            DropReason::Truncated
        } else {
            DropReason::Malformed
        };
        let ip = frame_data.get(info.l3_offset as usize..).unwrap_or(&[]);
        let frag = match parse::parse(ip, missing) {
            Parsed::Fragment(f) => f,
            Parsed::Whole => return Outcome::NotAFragment,
            Parsed::Atomic => {
                // The decoder saw a fragmenting header further in (nested
                // fragment headers); the outer one makes this a whole packet.
                self.stats.atomic_fragments += 1;
                return Outcome::NotAFragment;
            }
            Parsed::Bad(reason) => {
                self.stats.fragments += 1;
                return self.drop_fragment(reason);
            }
        };
        self.stats.fragments += 1;
        self.add(frag)
    }

    /// Drops the datagrams whose time is up at `now_ns` (packet time; the
    /// clock never goes back). Returns how many timed out incomplete.
    pub fn expire(&mut self, now_ns: u64) -> usize {
        let before = self.stats.timeouts;
        self.advance(now_ns);
        (self.stats.timeouts - before) as usize
    }

    /// Discards every datagram in progress (end of capture), counting the
    /// incomplete ones in [`DefragStats::flushed`]; returns that number.
    /// Tombstones are forgotten too. The clock and the counters stay.
    pub fn flush(&mut self) -> usize {
        let n = self
            .table
            .values()
            .filter(|d| matches!(d.state, State::Open(_)))
            .count();
        self.stats.flushed += n as u64;
        self.table.clear();
        self.fifo.clear();
        self.bytes = 0;
        n
    }

    fn drop_fragment(&mut self, reason: DropReason) -> Outcome {
        let s = &mut self.stats;
        match reason {
            DropReason::Malformed => s.malformed += 1,
            DropReason::Truncated => s.truncated += 1,
            DropReason::Duplicate => s.duplicates += 1,
            DropReason::MemoryLimit => s.fragment_over_memory_limit += 1,
            DropReason::Abandoned => s.abandoned += 1,
            // datagram-level reasons are counted by `abandon`
            _ => {}
        }
        Outcome::Dropped(reason)
    }

    /// Moves the clock to `ts` (never back) and expires what is due.
    fn advance(&mut self, ts: u64) {
        self.clock = self.clock.max(ts);
        while let Some(&(deadline, serial, key)) = self.fifo.front() {
            let live = self.table.get(&key).is_some_and(|d| d.serial == serial);
            if live && deadline > self.clock {
                break;
            }
            self.fifo.pop_front();
            if live {
                if let Some(Datagram {
                    state: State::Open(a),
                    ..
                }) = self.table.remove(&key)
                {
                    self.bytes -= a.bytes;
                    self.stats.timeouts += 1;
                }
            }
        }
    }

    /// Removes the oldest datagram (skipping stale queue entries); returns
    /// whether it was one in progress (not a tombstone), or `None` when
    /// nothing is left.
    fn evict_oldest(&mut self) -> Option<bool> {
        while let Some((_, serial, key)) = self.fifo.pop_front() {
            if self.table.get(&key).is_none_or(|d| d.serial != serial) {
                continue;
            }
            return Some(match self.table.remove(&key) {
                Some(Datagram {
                    state: State::Open(a),
                    ..
                }) => {
                    self.bytes -= a.bytes;
                    true
                }
                _ => false,
            });
        }
        None
    }

    /// Drops queue entries of datagrams that are gone, once they outnumber
    /// the live ones: keeps the queue O(datagrams), amortized O(1).
    fn compact(&mut self) {
        if self.fifo.len() > 2 * self.table.len() + 64 {
            let table = &self.table;
            self.fifo
                .retain(|(_, serial, key)| table.get(key).is_some_and(|d| d.serial == *serial));
        }
    }

    fn add(&mut self, f: Fragment<'_>) -> Outcome {
        let len = f.data.len();
        if f.more && (len == 0 || !len.is_multiple_of(8)) {
            return self.drop_fragment(DropReason::Malformed);
        }
        if matches!(
            self.table.get(&f.key),
            Some(Datagram {
                state: State::Tombstone,
                ..
            })
        ) {
            return self.drop_fragment(DropReason::Abandoned);
        }
        let end = f.offset as usize + len;
        if end > data_limit(&self.opts, &f.key, f.header.len()) {
            if self.table.contains_key(&f.key) {
                return self.abandon(f.key, DropReason::TooLarge);
            }
            // Nothing buffered for it: no tombstone either (that would take
            // a slot, and the fragment is bogus on its own).
            self.stats.too_large += 1;
            return Outcome::Dropped(DropReason::TooLarge);
        }
        let cost = len + if f.offset == 0 { f.header.len() } else { 0 };
        if cost > self.opts.max_bytes {
            return self.drop_fragment(DropReason::MemoryLimit);
        }

        // Make room first (this may evict the fragment's own datagram,
        // which then starts over): deterministic and simple.
        while self.bytes + cost > self.opts.max_bytes {
            match self.evict_oldest() {
                Some(true) => self.stats.evicted_memory_limit += 1,
                Some(false) => {}
                None => break,
            }
        }
        if !self.table.contains_key(&f.key) {
            while self.table.len() >= self.opts.max_datagrams.max(1) {
                match self.evict_oldest() {
                    Some(true) => self.stats.evicted_datagram_limit += 1,
                    Some(false) => {}
                    None => break,
                }
            }
            let serial = self.next_serial;
            self.next_serial += 1;
            let deadline = self.clock.saturating_add(self.opts.timeout_ns);
            self.table.insert(
                f.key,
                Datagram {
                    serial,
                    state: State::Open(Assembly::default()),
                },
            );
            self.fifo.push_back((deadline, serial, f.key));
            self.stats.peak_datagrams = self.stats.peak_datagrams.max(self.table.len() as u64);
            self.compact();
        }

        let Some(Datagram {
            state: State::Open(a),
            ..
        }) = self.table.get_mut(&f.key)
        else {
            return self.drop_fragment(DropReason::Abandoned);
        };
        let added = match a.insert(&f, end as u32, self.opts.max_fragments) {
            Ok(added) => added,
            Err(
                r @ (DropReason::Duplicate
                | DropReason::Abandoned
                | DropReason::Malformed
                | DropReason::Truncated
                | DropReason::MemoryLimit),
            ) => return self.drop_fragment(r),
            Err(reason) => return self.abandon(f.key, reason),
        };
        self.bytes += added;
        let s = &mut self.stats;
        s.fragments_buffered += 1;
        s.peak_bytes = s.peak_bytes.max(self.bytes as u64);
        if f.offset == 0 && f.more && len < min_transport_header(f.next_header) {
            s.tiny_first_fragments += 1;
        }
        if !a.is_complete() {
            return Outcome::Buffered;
        }
        let header_len = a.first.as_ref().map_or(0, |h| h.header.len());
        if a.total.unwrap_or(0) as usize > data_limit(&self.opts, &f.key, header_len) {
            return self.abandon(f.key, DropReason::TooLarge);
        }
        let datagram = a.assemble(f.key.family);
        self.bytes -= a.bytes;
        self.table.remove(&f.key);
        self.stats.datagrams_reassembled += 1;
        Outcome::Complete(datagram)
    }

    /// Drops a datagram's buffers, leaving a tombstone; counts the reason.
    fn abandon(&mut self, key: Key, reason: DropReason) -> Outcome {
        if let Some(d) = self.table.get_mut(&key) {
            if let State::Open(a) = std::mem::replace(&mut d.state, State::Tombstone) {
                self.bytes -= a.bytes;
            }
        }
        let s = &mut self.stats;
        match reason {
            DropReason::Overlap => s.overlaps += 1,
            DropReason::Inconsistent => s.inconsistent += 1,
            DropReason::TooManyFragments => s.too_many_fragments += 1,
            DropReason::TooLarge => s.too_large += 1,
            _ => {}
        }
        Outcome::Dropped(reason)
    }
}

impl Assembly {
    /// Adds a fragment covering `[f.offset, end)`; returns the bytes
    /// accounted for it, or why it (Duplicate) or the datagram (the other
    /// reasons) is dropped.
    fn insert(
        &mut self,
        f: &Fragment<'_>,
        end: u32,
        max_fragments: usize,
    ) -> Result<usize, DropReason> {
        let start = f.offset;
        let max_end = self.pieces.iter().map(Piece::end).max().unwrap_or(0);
        if f.more {
            if self.total.is_some_and(|t| end > t) {
                return Err(DropReason::Inconsistent);
            }
        } else if self.total.is_some_and(|t| t != end) || max_end > end {
            return Err(DropReason::Inconsistent);
        }
        // Overlaps must agree byte for byte; track whether they cover it all.
        let mut covered = start;
        for p in &self.pieces {
            let (lo, hi) = (start.max(p.offset), end.min(p.end()));
            if lo >= hi {
                continue;
            }
            let new = &f.data[(lo - start) as usize..(hi - start) as usize];
            let old = &p.data[(lo - p.offset) as usize..(hi - p.offset) as usize];
            if new != old {
                return Err(DropReason::Overlap);
            }
            if p.offset <= covered {
                covered = covered.max(hi);
            }
        }
        // A zero-length last fragment adds no bytes but does say the length.
        let fresh_total = !f.more && self.total.is_none();
        if covered >= end && !fresh_total {
            return Err(DropReason::Duplicate);
        }
        if self.pieces.len() >= max_fragments {
            return Err(DropReason::TooManyFragments);
        }
        if !f.more {
            self.total = Some(end);
        }
        let mut added = f.data.len();
        if start == 0 && self.first.is_none() {
            added += f.header.len();
            self.first = Some(First {
                header: f.header.to_vec(),
                next_header_at: f.next_header_at,
                next_header: f.next_header,
            });
        }
        let at = self.pieces.partition_point(|p| p.offset <= start);
        self.pieces.insert(
            at,
            Piece {
                offset: start,
                data: f.data.to_vec(),
            },
        );
        self.bytes += added;
        Ok(added)
    }

    fn is_complete(&self) -> bool {
        let (Some(total), Some(_)) = (self.total, &self.first) else {
            return false;
        };
        let mut covered = 0;
        for p in &self.pieces {
            if p.offset > covered {
                return false;
            }
            covered = covered.max(p.end());
        }
        covered >= total
    }

    /// The reassembled datagram (call only when complete).
    fn assemble(&self, family: u8) -> Vec<u8> {
        let Some(first) = &self.first else {
            return Vec::new();
        };
        let total = self.total.unwrap_or(0) as usize;
        let hlen = first.header.len();
        let mut out = Vec::with_capacity(hlen + total);
        out.extend_from_slice(&first.header);
        out.resize(hlen + total, 0);
        for p in &self.pieces {
            let at = hlen + p.offset as usize;
            let n = p.data.len().min(out.len().saturating_sub(at));
            out[at..at + n].copy_from_slice(&p.data[..n]);
        }
        if let Some(b) = out.get_mut(first.next_header_at) {
            *b = first.next_header;
        }
        if family == 4 {
            let len = (out.len().min(65535) as u16).to_be_bytes();
            out[2..4].copy_from_slice(&len);
            // keep DF, clear the reserved bit, MF and the offset
            out[6] &= 0x40;
            out[7] = 0;
            out[10..12].copy_from_slice(&[0, 0]);
            let sum = ipv4_checksum(&out[..hlen]);
            out[10..12].copy_from_slice(&sum.to_be_bytes());
        } else {
            let len = (out.len().saturating_sub(40).min(65535) as u16).to_be_bytes();
            out[4..6].copy_from_slice(&len);
        }
        out
    }
}

/// Largest fragment end (bytes of fragmentable data) a datagram may reach,
/// given the header it will have.
fn data_limit(opts: &DefragOptions, key: &Key, header_len: usize) -> usize {
    let max = opts.max_datagram_size.min(65535);
    if key.family == 4 {
        max.saturating_sub(header_len)
    } else {
        // payload length = extension headers before the fragment header + data
        max.saturating_sub(header_len.saturating_sub(40))
    }
}

/// The shortest first fragment that holds the whole transport header.
fn min_transport_header(proto: u8) -> usize {
    match proto {
        6 => 20,
        17 | 1 | 58 => 8,
        _ => 0,
    }
}

/// The IPv4 header checksum (RFC 791) of `header` with its checksum field 0.
fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests;
