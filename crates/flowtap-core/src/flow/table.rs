//! A bounded flow table with O(1) expiry and eviction.
//!
//! Flows live in a slab indexed by [`FlowId`]. Each flow belongs to a timeout
//! class (e.g. TCP established, TCP not established, UDP, other); each class
//! keeps its flows in a queue, so the flows to expire are at the heads:
//! [`FlowTable::expire`] costs O(1) per expired flow plus O(1) per class,
//! never a scan, and is skipped outright until the earliest time a head can
//! expire. The flow to evict when the table is full is the least recently
//! seen of the heads.
//!
//! Touching a flow moves it to the tail of its class's list; the lists are
//! thus in touch order, and a list's head is its least recently seen flow.
//!
//! Memory is what a flow table is judged by, so each flow's key is stored
//! once, in its slot, in a packed form (an IPv4 key takes 24 bytes with its
//! timeout class; an IPv6 one keeps its addresses in a 32-byte heap block),
//! and the hash index holds only a `u32` per bucket: the slot number, with
//! spare high bits used for a few bits of the hash so most probes that miss
//! never touch the slab. The index uses linear probing with backward-shift
//! deletion (no tombstones), at most 3/4 full; the free slots form a list
//! threaded through the slab.
//!
//! Contract: the table never holds more than `max_flows` flows (clamped to
//! 1 ..= 2^31); inserting into a full table evicts first and hands the
//! evicted flow back. Times are nanoseconds from the caller (packet
//! timestamps for captures, a clock for live sources). A flow's last-seen
//! time is the latest time it was touched with; the lists keep touch order,
//! so when times go backwards a flow may expire later than its own timeout
//! says (by at most how far time went back), never earlier. IPv4 keys use
//! the first four bytes of their addresses only. No method panics. The
//! hasher is seeded per table, so crafted keys cannot be aimed at one probe
//! sequence across runs.

use std::hash::{BuildHasher, Hasher};

use foldhash::fast::RandomState;

use super::key::FlowKey;

/// Index of a flow in its table; valid until the flow is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowId(u32);

impl FlowId {
    /// The slot number (below the table's `max_flows`).
    pub fn index(self) -> u32 {
        self.0
    }
}

const NIL: u32 = u32::MAX;
/// An empty bucket of the hash index (never a valid entry: see `idx_bits`).
const EMPTY: u32 = u32::MAX;
const MAX_FLOWS: usize = 1 << 31;

/// Maximum number of timeout classes.
pub const MAX_CLASSES: usize = 8;

/// Why the table gave a flow back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Idle longer than its class's timeout.
    Idle,
    /// The least recently seen flow, pushed out by a new one in a full table.
    Evicted,
}

/// A flow the table gave back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed<V> {
    pub key: FlowKey,
    pub value: V,
    /// The latest time the flow was inserted or touched with.
    pub last_seen: u64,
}

/// A flow's addresses as stored: IPv6 pairs out of line, so the common
/// IPv4 key stays small.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Addrs {
    V4([u8; 4], [u8; 4]),
    V6(Box<[[u8; 16]; 2]>),
}

/// [`FlowKey`] as a slot stores it, with the slot's timeout class in what
/// would be padding.
#[derive(Debug, Clone)]
struct PackedKey {
    addrs: Addrs,
    proto: u8,
    class: u8,
    vlan: u16,
    lo_port: u16,
    hi_port: u16,
}

fn v4(a: &[u8; 16]) -> [u8; 4] {
    [a[0], a[1], a[2], a[3]]
}

impl PackedKey {
    fn pack(k: &FlowKey, class: u8) -> Self {
        PackedKey {
            addrs: if k.ipv6 {
                Addrs::V6(Box::new([k.lo_addr, k.hi_addr]))
            } else {
                Addrs::V4(v4(&k.lo_addr), v4(&k.hi_addr))
            },
            proto: k.proto,
            class,
            vlan: k.vlan,
            lo_port: k.lo_port,
            hi_port: k.hi_port,
        }
    }

    fn unpack(&self) -> FlowKey {
        let (ipv6, lo_addr, hi_addr) = match &self.addrs {
            Addrs::V4(lo, hi) => {
                let (mut l, mut h) = ([0u8; 16], [0u8; 16]);
                l[..4].copy_from_slice(lo);
                h[..4].copy_from_slice(hi);
                (false, l, h)
            }
            Addrs::V6(a) => (true, a[0], a[1]),
        };
        FlowKey {
            proto: self.proto,
            ipv6,
            vlan: self.vlan,
            lo_addr,
            lo_port: self.lo_port,
            hi_addr,
            hi_port: self.hi_port,
        }
    }

    fn matches(&self, k: &FlowKey) -> bool {
        self.proto == k.proto
            && self.vlan == k.vlan
            && self.lo_port == k.lo_port
            && self.hi_port == k.hi_port
            && match &self.addrs {
                Addrs::V4(lo, hi) => !k.ipv6 && *lo == v4(&k.lo_addr) && *hi == v4(&k.hi_addr),
                Addrs::V6(a) => k.ipv6 && a[0] == k.lo_addr && a[1] == k.hi_addr,
            }
    }

    /// What a free slot keeps: nothing on the heap.
    fn vacant() -> Self {
        PackedKey {
            addrs: Addrs::V4([0; 4], [0; 4]),
            proto: 0,
            class: 0,
            vlan: 0,
            lo_port: 0,
            hi_port: 0,
        }
    }
}

struct Slot<V> {
    key: PackedKey,
    /// Neighbours in the class list; `next` links the free list too.
    prev: u32,
    next: u32,
    last_seen: u64,
    value: Option<V>,
}

#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

/// See the module docs.
pub struct FlowTable<V> {
    hasher: RandomState,
    /// Buckets: `EMPTY`, or `tag << idx_bits | slot`.
    index: Vec<u32>,
    /// No head of a queue can expire before this time (a lower bound).
    next_expiry: u64,
    /// Bits of an entry holding the slot number; chosen so that an all-ones
    /// slot number is above any valid one, which keeps `EMPTY` unambiguous.
    idx_bits: u32,
    slots: Vec<Slot<V>>,
    free: u32,
    len: usize,
    lists: Vec<List>,
    timeouts: Vec<u64>,
    max_flows: usize,
    now: u64,
}

/// Hash of a key's parts; the same for a [`FlowKey`] and its packed form.
/// Fixed-size reads only: this runs for every packet.
fn hash_parts(
    s: &RandomState,
    proto: u8,
    vlan: u16,
    lo_port: u16,
    hi_port: u16,
    addrs: Hashed<'_>,
) -> u64 {
    let mut h = s.build_hasher();
    let v6 = matches!(addrs, Hashed::V6(..));
    let meta = proto as u64
        | (vlan as u64) << 8
        | (lo_port as u64) << 24
        | (hi_port as u64) << 40
        | (v6 as u64) << 56;
    h.write_u64(meta);
    match addrs {
        Hashed::V4(lo, hi) => {
            h.write_u64((u32::from_ne_bytes(lo) as u64) << 32 | u32::from_ne_bytes(hi) as u64)
        }
        Hashed::V6(lo, hi) => {
            let (lo, hi) = (u128::from_ne_bytes(*lo), u128::from_ne_bytes(*hi));
            h.write_u64(lo as u64);
            h.write_u64((lo >> 64) as u64);
            h.write_u64(hi as u64);
            h.write_u64((hi >> 64) as u64);
        }
    }
    h.finish()
}

/// The addresses as hashed.
enum Hashed<'a> {
    V4([u8; 4], [u8; 4]),
    V6(&'a [u8; 16], &'a [u8; 16]),
}

impl<V> FlowTable<V> {
    /// A table holding at most `max_flows` flows (at least 1), with one
    /// timeout class per entry of `timeouts_ns` (at most [`MAX_CLASSES`]).
    pub fn new(max_flows: usize, timeouts_ns: &[u64]) -> Self {
        let classes = timeouts_ns.len().clamp(1, MAX_CLASSES);
        let mut timeouts = timeouts_ns[..timeouts_ns.len().min(MAX_CLASSES)].to_vec();
        timeouts.resize(classes, u64::MAX);
        let max_flows = max_flows.clamp(1, MAX_FLOWS);
        FlowTable {
            hasher: RandomState::default(),
            index: Vec::new(),
            idx_bits: usize::BITS - max_flows.leading_zeros(),
            slots: Vec::new(),
            free: NIL,
            len: 0,
            lists: vec![
                List {
                    head: NIL,
                    tail: NIL
                };
                classes
            ],
            timeouts,
            max_flows,
            now: 0,
            next_expiry: u64::MAX,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn max_flows(&self) -> usize {
        self.max_flows
    }

    /// The latest time the table has seen.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Bytes the table has allocated (slab, index, lists), without the heap
    /// blocks of IPv6 keys or of the values.
    pub fn allocated_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot<V>>()
            + self.index.capacity() * 4
            + self.lists.capacity() * std::mem::size_of::<List>()
            + self.timeouts.capacity() * 8
    }

    /// Bytes of one slab slot.
    pub fn slot_size() -> usize {
        std::mem::size_of::<Slot<V>>()
    }

    fn hash_key(&self, k: &FlowKey) -> u64 {
        let addrs = if k.ipv6 {
            Hashed::V6(&k.lo_addr, &k.hi_addr)
        } else {
            Hashed::V4(v4(&k.lo_addr), v4(&k.hi_addr))
        };
        hash_parts(&self.hasher, k.proto, k.vlan, k.lo_port, k.hi_port, addrs)
    }

    fn hash_packed(&self, k: &PackedKey) -> u64 {
        let addrs = match &k.addrs {
            Addrs::V4(lo, hi) => Hashed::V4(*lo, *hi),
            Addrs::V6(a) => Hashed::V6(&a[0], &a[1]),
        };
        hash_parts(&self.hasher, k.proto, k.vlan, k.lo_port, k.hi_port, addrs)
    }

    fn idx_mask(&self) -> u32 {
        if self.idx_bits >= 32 {
            u32::MAX
        } else {
            (1u32 << self.idx_bits) - 1
        }
    }

    /// The tag bits of an entry for hash `h` (zero when no bits are spare).
    fn tag(&self, h: u64) -> u32 {
        if self.idx_bits >= 32 {
            0
        } else {
            ((h >> 32) as u32) << self.idx_bits
        }
    }

    fn home(&self, h: u64) -> usize {
        h as usize & (self.index.len() - 1)
    }

    pub fn find(&self, key: &FlowKey) -> Option<FlowId> {
        if self.index.is_empty() {
            return None;
        }
        let h = self.hash_key(key);
        let (tag, mask) = (self.tag(h), self.idx_mask());
        let cap_mask = self.index.len() - 1;
        let mut pos = self.home(h);
        loop {
            let e = self.index[pos];
            if e == EMPTY {
                return None;
            }
            if e & !mask == tag {
                let i = e & mask;
                if let Some(s) = self.slots.get(i as usize) {
                    if s.value.is_some() && s.key.matches(key) {
                        return Some(FlowId(i));
                    }
                }
            }
            pos = (pos + 1) & cap_mask;
        }
    }

    pub fn get(&self, id: FlowId) -> Option<&V> {
        self.slots.get(id.0 as usize)?.value.as_ref()
    }

    pub fn get_mut(&mut self, id: FlowId) -> Option<&mut V> {
        self.slots.get_mut(id.0 as usize)?.value.as_mut()
    }

    /// A flow's key.
    pub fn key(&self, id: FlowId) -> Option<FlowKey> {
        let s = self.slots.get(id.0 as usize)?;
        s.value.as_ref().map(|_| s.key.unpack())
    }

    /// The latest time a flow was inserted or touched with.
    pub fn last_seen(&self, id: FlowId) -> Option<u64> {
        let s = self.slots.get(id.0 as usize)?;
        s.value.as_ref().map(|_| s.last_seen)
    }

    fn clamp_class(&self, class: u8) -> u8 {
        (class as usize).min(self.lists.len() - 1) as u8
    }

    /// Adds a flow seen at `now` in timeout class `class`. A full table first
    /// evicts its least recently seen flow, returned with its key. A key
    /// already present is replaced (its old value returned as evicted).
    pub fn insert(
        &mut self,
        key: FlowKey,
        value: V,
        now: u64,
        class: u8,
    ) -> (FlowId, Option<Removed<V>>) {
        self.now = self.now.max(now);
        let class = self.clamp_class(class);
        let mut evicted = None;
        if let Some(old) = self.find(&key) {
            evicted = self.remove(old);
        } else if self.len >= self.max_flows {
            if let Some(victim) = self.least_recent() {
                evicted = self.remove(victim);
            }
        }
        if (self.len + 1) * 4 > self.index.len() * 3 {
            self.grow_index();
        }
        let slot = Slot {
            key: PackedKey::pack(&key, class),
            prev: NIL,
            next: NIL,
            last_seen: now,
            value: Some(value),
        };
        let idx = if self.free != NIL {
            let i = self.free;
            self.free = self.slots[i as usize].next;
            self.slots[i as usize] = slot;
            i
        } else {
            self.slots.push(slot);
            (self.slots.len() - 1) as u32
        };
        let h = self.hash_key(&key);
        self.index_put(h, idx);
        self.len += 1;
        self.link_tail(idx);
        self.lower_next_expiry(now, class);
        (FlowId(idx), evicted)
    }

    fn index_put(&mut self, h: u64, idx: u32) {
        let cap_mask = self.index.len() - 1;
        let mut pos = self.home(h);
        while self.index[pos] != EMPTY {
            pos = (pos + 1) & cap_mask;
        }
        self.index[pos] = self.tag(h) | idx;
    }

    fn grow_index(&mut self) {
        let cap = (self.index.len() * 2).max(16);
        self.index = vec![EMPTY; cap];
        for i in 0..self.slots.len() {
            if self.slots[i].value.is_some() {
                let h = self.hash_packed(&self.slots[i].key);
                self.index_put(h, i as u32);
            }
        }
    }

    /// Takes slot `idx` out of the index (linear probing's backward-shift
    /// deletion: later entries of the run move up unless that would put
    /// them before their home bucket).
    fn index_remove(&mut self, idx: u32) {
        if self.index.is_empty() {
            return;
        }
        let mask = self.idx_mask();
        let cap_mask = self.index.len() - 1;
        let h = self.hash_packed(&self.slots[idx as usize].key);
        let mut hole = self.home(h);
        let mut probes = 0;
        while self.index[hole] == EMPTY || self.index[hole] & mask != idx {
            if self.index[hole] == EMPTY || probes > cap_mask {
                return;
            }
            hole = (hole + 1) & cap_mask;
            probes += 1;
        }
        self.index[hole] = EMPTY;
        let mut pos = hole;
        loop {
            pos = (pos + 1) & cap_mask;
            let e = self.index[pos];
            if e == EMPTY {
                return;
            }
            let home = self.home(self.hash_packed(&self.slots[(e & mask) as usize].key));
            // Move the entry into the hole unless its home lies cyclically
            // in (hole, pos].
            let stays = if hole <= pos {
                hole < home && home <= pos
            } else {
                hole < home || home <= pos
            };
            if !stays {
                self.index[hole] = e;
                self.index[pos] = EMPTY;
                hole = pos;
            }
        }
    }

    /// Marks a flow seen at `now`, in timeout class `class` from now on.
    pub fn touch(&mut self, id: FlowId, now: u64, class: u8) {
        self.now = self.now.max(now);
        let class = self.clamp_class(class);
        let idx = id.0;
        let Some(s) = self.slots.get_mut(idx as usize) else {
            return;
        };
        if s.value.is_none() {
            return;
        }
        s.last_seen = s.last_seen.max(now);
        let last = s.last_seen;
        if s.next == NIL && s.key.class == class {
            // Already the tail of its list (the flow of the previous packet).
            return;
        }
        self.unlink(idx);
        self.slots[idx as usize].key.class = class;
        self.link_tail(idx);
        self.lower_next_expiry(last, class);
    }

    fn lower_next_expiry(&mut self, last_seen: u64, class: u8) {
        let t = self.timeouts[class as usize];
        self.next_expiry = self.next_expiry.min(last_seen.saturating_add(t));
    }

    /// Takes a flow out of the table.
    pub fn remove(&mut self, id: FlowId) -> Option<Removed<V>> {
        let idx = id.0;
        self.slots.get(idx as usize)?.value.as_ref()?;
        self.index_remove(idx);
        self.unlink(idx);
        let s = &mut self.slots[idx as usize];
        let value = s.value.take()?;
        let key = std::mem::replace(&mut s.key, PackedKey::vacant()).unpack();
        let last_seen = s.last_seen;
        s.next = self.free;
        self.free = idx;
        self.len -= 1;
        Some(Removed {
            key,
            value,
            last_seen,
        })
    }

    /// Hands every flow idle past its class's timeout at `now` to `f`,
    /// oldest first within a class.
    pub fn expire(&mut self, now: u64, mut f: impl FnMut(Removed<V>, Removal)) {
        self.now = self.now.max(now);
        let now = self.now;
        if now < self.next_expiry {
            return;
        }
        let mut next = u64::MAX;
        for class in 0..self.lists.len() {
            let timeout = self.timeouts[class];
            loop {
                let head = self.lists[class].head;
                if head == NIL {
                    break;
                }
                let last = self.slots[head as usize].last_seen;
                if now.saturating_sub(last) < timeout {
                    next = next.min(last.saturating_add(timeout));
                    break;
                }
                if let Some(r) = self.remove(FlowId(head)) {
                    f(r, Removal::Idle);
                }
            }
        }
        self.next_expiry = next;
    }

    /// No flow expires before this time (`None` when empty); a lower bound.
    pub fn next_expiry(&self) -> Option<u64> {
        (self.len > 0).then_some(self.next_expiry)
    }

    /// Removes every flow (end of input), least recently seen first.
    pub fn drain(&mut self, mut f: impl FnMut(Removed<V>)) {
        while let Some(id) = self.least_recent() {
            if let Some(r) = self.remove(id) {
                f(r);
            }
        }
    }

    /// The flow seen least recently, over all classes (the oldest head;
    /// ties go to the earlier class).
    pub fn least_recent(&self) -> Option<FlowId> {
        let mut best: Option<(u64, u32)> = None;
        for l in &self.lists {
            if l.head != NIL {
                let last = self.slots[l.head as usize].last_seen;
                if best.is_none_or(|(b, _)| last < b) {
                    best = Some((last, l.head));
                }
            }
        }
        best.map(|(_, h)| FlowId(h))
    }

    fn link_tail(&mut self, idx: u32) {
        let class = self.slots[idx as usize].key.class as usize;
        let tail = self.lists[class].tail;
        self.slots[idx as usize].prev = tail;
        self.slots[idx as usize].next = NIL;
        if tail == NIL {
            self.lists[class].head = idx;
        } else {
            self.slots[tail as usize].next = idx;
        }
        self.lists[class].tail = idx;
    }

    fn unlink(&mut self, idx: u32) {
        let (prev, next, class) = {
            let s = &self.slots[idx as usize];
            (s.prev, s.next, s.key.class as usize)
        };
        if prev == NIL {
            self.lists[class].head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            self.lists[class].tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
        let s = &mut self.slots[idx as usize];
        s.prev = NIL;
        s.next = NIL;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn key(n: u16) -> FlowKey {
        FlowKey::new(17, &[10, 0, 0, 1], &[10, 0, 0, 2], n, 53, 0).0
    }

    #[test]
    fn expiry_follows_each_class_timeout() {
        // class 0: 60 s (UDP), class 1: 5 s (TCP not established)
        let mut t = FlowTable::new(100, &[60 * S, 5 * S]);
        let (a, _) = t.insert(key(1), "a", 0, 0);
        t.insert(key(2), "b", S, 1);
        t.insert(key(3), "c", 2 * S, 0);
        let mut out = Vec::new();
        t.expire(6 * S, |g, r| out.push((g.value, r)));
        assert_eq!(out, vec![("b", Removal::Idle)]);
        t.touch(a, 50 * S, 0);
        out.clear();
        t.expire(62 * S, |g, _| out.push((g.value, Removal::Idle)));
        assert_eq!(out, vec![("c", Removal::Idle)]);
        assert_eq!(t.len(), 1);
        assert_eq!(t.get(a), Some(&"a"));
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_seen() {
        let mut t = FlowTable::new(3, &[u64::MAX, u64::MAX]);
        let (a, _) = t.insert(key(1), 1, 10, 0);
        t.insert(key(2), 2, 20, 1);
        t.insert(key(3), 3, 30, 0);
        t.touch(a, 40, 1);
        let (_, ev) = t.insert(key(4), 4, 50, 0);
        assert_eq!(
            ev.map(|g| (g.key, g.value, g.last_seen)),
            Some((key(2), 2, 20))
        );
        assert_eq!(t.len(), 3);
        let (_, ev) = t.insert(key(5), 5, 60, 0);
        assert_eq!(ev.map(|g| (g.key, g.value)), Some((key(3), 3)));
        assert!(t.find(&key(1)).is_some());
    }

    #[test]
    fn slots_are_reused_and_drain_empties() {
        let mut t = FlowTable::new(10, &[S]);
        for round in 0..5u64 {
            for n in 0..10 {
                t.insert(key(n), n, round * 10 * S + n as u64, 0);
            }
            let mut seen = 0;
            t.expire(round * 10 * S + 5 * S, |_, _| seen += 1);
            assert_eq!(seen, 10);
        }
        assert!(t.slots.len() <= 10);
        t.insert(key(1), 1, 100 * S, 0);
        let mut drained = Vec::new();
        t.drain(|g| drained.push((g.key, g.value)));
        assert_eq!(drained, vec![(key(1), 1)]);
        assert!(t.is_empty());
    }

    #[test]
    fn time_going_backwards_does_not_expire_early_or_panic() {
        let mut t = FlowTable::new(10, &[10 * S]);
        t.insert(key(1), (), 100 * S, 0);
        t.insert(key(2), (), 50 * S, 0);
        let mut n = 0;
        t.expire(105 * S, |_, _| n += 1);
        assert_eq!(n, 0);
        t.expire(111 * S, |_, _| n += 1);
        assert_eq!(n, 2);
        assert!(t.remove(FlowId(7)).is_none());
        t.touch(FlowId(99), 0, 5);
    }

    #[test]
    fn ipv6_keys_and_index_growth_round_trip() {
        let mut t = FlowTable::new(5000, &[u64::MAX]);
        let k6 = |n: u16| {
            let mut a = [0x20u8; 16];
            a[15] = n as u8;
            FlowKey::new(6, &a, &[0xfe; 16], n, 443, 3).0
        };
        for n in 0..3000u16 {
            t.insert(key(n), n, n as u64, 0);
            t.insert(k6(n), n + 10000, n as u64, 0);
        }
        assert_eq!(t.len(), 5000);
        // The 1000 oldest were evicted; every other key is found.
        let found = (0..3000u16).filter(|&n| t.find(&key(n)).is_some()).count()
            + (0..3000u16).filter(|&n| t.find(&k6(n)).is_some()).count();
        assert_eq!(found, 5000);
        let id = t.find(&k6(2999)).unwrap();
        assert_eq!(t.key(id), Some(k6(2999)));
        assert_eq!(t.get(id), Some(&12999));
        for n in 0..3000u16 {
            if let Some(id) = t.find(&key(n)) {
                t.remove(id);
            }
        }
        assert_eq!(t.len(), 2500);
        assert!((500..3000u16).all(|n| t.find(&k6(n)).is_some()));
    }

    mod model {
        //! The table against a naive model: a list of (key, last seen, class,
        //! touch order) scanned in full. Same flows, same expiries, same
        //! evictions while time does not go back; with time going back,
        //! expiry may come late but never early.
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Insert(u16, u64, u8),
            Touch(u16, u64, u8),
            Expire(u64),
            Remove(u16),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0u16..40, 0u64..100, 0u8..3).prop_map(|(k, t, c)| Op::Insert(k, t, c)),
                (0u16..40, 0u64..100, 0u8..3).prop_map(|(k, t, c)| Op::Touch(k, t, c)),
                (0u64..120).prop_map(Op::Expire),
                (0u16..40).prop_map(Op::Remove),
            ]
        }

        /// (key, last seen, class, touch order)
        type Entry = (u16, u64, u8, u64);

        /// The first entry of each class list, by touch order.
        fn heads(m: &[Entry]) -> Vec<usize> {
            (0..3u8)
                .filter_map(|c| {
                    (0..m.len())
                        .filter(|&i| m[i].2 == c)
                        .min_by_key(|&i| m[i].3)
                })
                .collect()
        }

        proptest! {
            #[test]
            fn matches_a_naive_model(ops in prop::collection::vec(op(), 0..300), max in 1usize..24) {
                let timeouts = [10u64, 30, 60];
                let mut t = FlowTable::new(max, &timeouts);
                let mut m: Vec<Entry> = Vec::new();
                let mut now = 0u64;
                let mut seq = 0u64;
                let mut clock = 0u64;
                for op in ops {
                    // Monotone times: each op moves the clock a little.
                    let op = match op {
                        Op::Insert(k, d, c) => { clock += d % 5; Op::Insert(k, clock, c) }
                        Op::Touch(k, d, c) => { clock += d % 5; Op::Touch(k, clock, c) }
                        Op::Expire(d) => { clock += d % 15; Op::Expire(clock) }
                        op => op,
                    };
                    match op {
                        Op::Insert(k, ts, c) => {
                            now = now.max(ts);
                            let mut want_ev = None;
                            if let Some(i) = m.iter().position(|e| e.0 == k) {
                                want_ev = Some(m.remove(i).0);
                            } else if m.len() >= max {
                                // The oldest head; ties go to the earlier
                                // class.
                                let i = heads(&m)
                                    .into_iter()
                                    .min_by_key(|&i| (m[i].1, m[i].2))
                                    .unwrap();
                                want_ev = Some(m.remove(i).0);
                            }
                            let (_, ev) = t.insert(key(k), k, ts, c);
                            prop_assert_eq!(ev.map(|e| e.value), want_ev);
                            seq += 1;
                            m.push((k, ts, c, seq));
                        }
                        Op::Touch(k, ts, c) => {
                            if let Some(id) = t.find(&key(k)) {
                                now = now.max(ts);
                                t.touch(id, ts, c);
                                let e = m.iter_mut().find(|e| e.0 == k).unwrap();
                                if !(e.2 == c && e.3 == seq) {
                                    seq += 1;
                                    e.3 = seq;
                                }
                                *e = (k, e.1.max(ts), c, e.3);
                                prop_assert_eq!(t.last_seen(id), Some(e.1));
                            }
                        }
                        Op::Expire(ts) => {
                            now = now.max(ts);
                            let mut got: Vec<u16> = Vec::new();
                            t.expire(ts, |g, r| {
                                assert_eq!(r, Removal::Idle);
                                got.push(g.value)
                            });
                            let mut want: Vec<u16> = Vec::new();
                            for c in 0..3u8 {
                                let mut list: Vec<Entry> =
                                    m.iter().copied().filter(|e| e.2 == c).collect();
                                list.sort_by_key(|e| e.3);
                                for e in list {
                                    if now - e.1.min(now) < timeouts[c as usize] {
                                        break;
                                    }
                                    want.push(e.0);
                                }
                            }
                            m.retain(|e| !want.contains(&e.0));
                            got.sort_unstable();
                            want.sort_unstable();
                            prop_assert_eq!(got, want);
                        }
                        Op::Remove(k) => {
                            let r = t.find(&key(k)).and_then(|id| t.remove(id)).map(|e| e.value);
                            let i = m.iter().position(|e| e.0 == k);
                            prop_assert_eq!(r, i.map(|i| m.remove(i).0));
                        }
                    }
                    prop_assert_eq!(t.len(), m.len());
                    prop_assert!(t.len() <= max);
                    for e in &m {
                        prop_assert!(t.find(&key(e.0)).is_some());
                    }
                }
            }

            #[test]
            fn backwards_time_never_expires_early(ops in prop::collection::vec(op(), 0..300), max in 1usize..24) {
                let timeouts = [10u64, 30, 60];
                let mut t = FlowTable::new(max, &timeouts);
                // key -> (own last seen, class); `now` is the table's clock,
                // the latest time it was given.
                let mut m: std::collections::HashMap<u16, (u64, u8)> = Default::default();
                let mut now = 0u64;
                for op in ops {
                    match op {
                        Op::Insert(k, ts, c) => {
                            now = now.max(ts);
                            let (_, ev) = t.insert(key(k), k, ts, c);
                            if let Some(g) = ev {
                                m.remove(&g.value);
                            }
                            m.insert(k, (ts, c));
                        }
                        Op::Touch(k, ts, c) => {
                            if let Some(id) = t.find(&key(k)) {
                                now = now.max(ts);
                                t.touch(id, ts, c);
                                let e = m.get_mut(&k).unwrap();
                                *e = (e.0.max(ts), c);
                            }
                        }
                        Op::Expire(ts) => {
                            now = now.max(ts);
                            let mut got = Vec::new();
                            t.expire(ts, |g, _| got.push(g.value));
                            for v in got {
                                let (last, c) = m.remove(&v).unwrap();
                                prop_assert!(now - last.min(now) >= timeouts[c as usize]);
                            }
                        }
                        Op::Remove(k) => {
                            if let Some(id) = t.find(&key(k)) {
                                t.remove(id);
                                m.remove(&k);
                            }
                        }
                    }
                    prop_assert_eq!(t.len(), m.len());
                }
            }
        }
    }
}
