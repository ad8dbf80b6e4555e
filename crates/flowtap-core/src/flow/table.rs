//! A bounded flow table with O(1) expiry and eviction.
//!
//! Flows live in a slab indexed by [`FlowId`] and a hash map from
//! [`FlowKey`]. Each flow belongs to a timeout class (e.g. TCP established,
//! TCP not established, UDP, other); each class keeps its flows in a list
//! ordered by last-seen time, so the flows to expire are always at the heads
//! of the lists: [`FlowTable::expire`] costs O(1) per expired flow plus O(1)
//! per class, never a scan. The least recently seen flow of all — the one to
//! evict when the table is full — is the oldest of the heads.
//!
//! Contract: the table never holds more than `max_flows` flows; inserting
//! into a full table evicts first and hands the evicted flow back. Times are
//! nanoseconds from the caller (packet timestamps for captures, a clock for
//! live sources); a time that goes backwards is treated as "now" unchanged.
//! No method panics. The hasher is seeded per table, so crafted keys cannot
//! be aimed at one bucket chain across runs.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use super::key::FlowKey;

/// Index of a flow in its table; valid until the flow is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowId(u32);

const NIL: u32 = u32::MAX;

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

struct Slot<V> {
    key: FlowKey,
    value: Option<V>,
    last_seen: u64,
    class: u8,
    prev: u32,
    next: u32,
}

#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

/// See the module docs.
pub struct FlowTable<V> {
    map: HashMap<FlowKey, u32, RandomState>,
    slots: Vec<Slot<V>>,
    free: Vec<u32>,
    lists: Vec<List>,
    timeouts: Vec<u64>,
    max_flows: usize,
    now: u64,
}

impl<V> FlowTable<V> {
    /// A table holding at most `max_flows` flows (at least 1), with one
    /// timeout class per entry of `timeouts_ns` (at most [`MAX_CLASSES`]).
    pub fn new(max_flows: usize, timeouts_ns: &[u64]) -> Self {
        let classes = timeouts_ns.len().clamp(1, MAX_CLASSES);
        let mut timeouts = timeouts_ns[..timeouts_ns.len().min(MAX_CLASSES)].to_vec();
        timeouts.resize(classes, u64::MAX);
        FlowTable {
            map: HashMap::with_hasher(RandomState::default()),
            slots: Vec::new(),
            free: Vec::new(),
            lists: vec![
                List {
                    head: NIL,
                    tail: NIL
                };
                classes
            ],
            timeouts,
            max_flows: max_flows.max(1),
            now: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn max_flows(&self) -> usize {
        self.max_flows
    }

    /// The latest time the table has seen.
    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn find(&self, key: &FlowKey) -> Option<FlowId> {
        self.map.get(key).map(|&i| FlowId(i))
    }

    pub fn get(&self, id: FlowId) -> Option<&V> {
        self.slots.get(id.0 as usize)?.value.as_ref()
    }

    pub fn get_mut(&mut self, id: FlowId) -> Option<&mut V> {
        self.slots.get_mut(id.0 as usize)?.value.as_mut()
    }

    pub fn key(&self, id: FlowId) -> Option<&FlowKey> {
        let s = self.slots.get(id.0 as usize)?;
        s.value.as_ref().map(|_| &s.key)
    }

    fn advance(&mut self, now: u64) -> u64 {
        self.now = self.now.max(now);
        self.now
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
    ) -> (FlowId, Option<(FlowKey, V)>) {
        let now = self.advance(now);
        let class = self.clamp_class(class);
        let mut evicted = None;
        if let Some(old) = self.find(&key) {
            evicted = self.remove(old);
        } else if self.map.len() >= self.max_flows {
            if let Some(victim) = self.least_recent() {
                evicted = self.remove(victim);
            }
        }
        let slot = Slot {
            key,
            value: Some(value),
            last_seen: now,
            class,
            prev: NIL,
            next: NIL,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        self.map.insert(key, idx);
        self.link_tail(idx);
        (FlowId(idx), evicted)
    }

    /// Marks a flow seen at `now`, in timeout class `class` from now on.
    pub fn touch(&mut self, id: FlowId, now: u64, class: u8) {
        let now = self.advance(now);
        let class = self.clamp_class(class);
        let idx = id.0;
        match self.slots.get(idx as usize) {
            Some(s) if s.value.is_some() => {}
            _ => return,
        }
        self.unlink(idx);
        let s = &mut self.slots[idx as usize];
        s.last_seen = now;
        s.class = class;
        self.link_tail(idx);
    }

    /// Takes a flow out of the table.
    pub fn remove(&mut self, id: FlowId) -> Option<(FlowKey, V)> {
        let idx = id.0;
        let value = self.slots.get_mut(idx as usize)?.value.take()?;
        self.unlink(idx);
        let key = self.slots[idx as usize].key;
        self.map.remove(&key);
        self.free.push(idx);
        Some((key, value))
    }

    /// Hands every flow idle past its class's timeout at `now` to `f`,
    /// oldest first within a class.
    pub fn expire(&mut self, now: u64, mut f: impl FnMut(FlowKey, V, Removal)) {
        let now = self.advance(now);
        for class in 0..self.lists.len() {
            let timeout = self.timeouts[class];
            loop {
                let head = self.lists[class].head;
                if head == NIL {
                    break;
                }
                let last = self.slots[head as usize].last_seen;
                if now.saturating_sub(last) < timeout {
                    break;
                }
                if let Some((k, v)) = self.remove(FlowId(head)) {
                    f(k, v, Removal::Idle);
                }
            }
        }
    }

    /// Removes every flow (end of input), least recently seen first.
    pub fn drain(&mut self, mut f: impl FnMut(FlowKey, V)) {
        while let Some(id) = self.least_recent() {
            if let Some((k, v)) = self.remove(id) {
                f(k, v);
            }
        }
    }

    /// The flow seen least recently, over all classes.
    pub fn least_recent(&self) -> Option<FlowId> {
        self.lists
            .iter()
            .filter(|l| l.head != NIL)
            .min_by_key(|l| self.slots[l.head as usize].last_seen)
            .map(|l| FlowId(l.head))
    }

    fn link_tail(&mut self, idx: u32) {
        let class = self.slots[idx as usize].class as usize;
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
            (s.prev, s.next, s.class as usize)
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
        t.expire(6 * S, |_, v, r| out.push((v, r)));
        assert_eq!(out, vec![("b", Removal::Idle)]);
        t.touch(a, 50 * S, 0);
        out.clear();
        t.expire(62 * S, |_, v, _| out.push((v, Removal::Idle)));
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
        assert_eq!(ev, Some((key(2), 2)));
        assert_eq!(t.len(), 3);
        let (_, ev) = t.insert(key(5), 5, 60, 0);
        assert_eq!(ev, Some((key(3), 3)));
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
            t.expire(round * 10 * S + 5 * S, |_, _, _| seen += 1);
            assert_eq!(seen, 10);
        }
        assert!(t.slots.len() <= 10);
        t.insert(key(1), 1, 100 * S, 0);
        let mut drained = Vec::new();
        t.drain(|k, v| drained.push((k, v)));
        assert_eq!(drained, vec![(key(1), 1)]);
        assert!(t.is_empty());
    }

    #[test]
    fn time_going_backwards_does_not_expire_early_or_panic() {
        let mut t = FlowTable::new(10, &[10 * S]);
        t.insert(key(1), (), 100 * S, 0);
        t.insert(key(2), (), 50 * S, 0);
        let mut n = 0;
        t.expire(105 * S, |_, _, _| n += 1);
        assert_eq!(n, 0);
        t.expire(111 * S, |_, _, _| n += 1);
        assert_eq!(n, 2);
        assert!(t.remove(FlowId(7)).is_none());
        t.touch(FlowId(99), 0, 5);
    }

    mod model {
        //! The table against a naive model: a list of (key, last seen, class)
        //! scanned in full. Same flows, same expiries, same evictions.
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
                (0u16..20, 0u64..100, 0u8..3).prop_map(|(k, t, c)| Op::Insert(k, t, c)),
                (0u16..20, 0u64..100, 0u8..3).prop_map(|(k, t, c)| Op::Touch(k, t, c)),
                (0u64..120).prop_map(Op::Expire),
                (0u16..20).prop_map(Op::Remove),
            ]
        }

        proptest! {
            #[test]
            fn matches_a_naive_model(ops in prop::collection::vec(op(), 0..200), max in 1usize..8) {
                let timeouts = [10u64, 30, 60];
                let mut t = FlowTable::new(max, &timeouts);
                // (key, last_seen, class, insertion order for ties)
                let mut m: Vec<(u16, u64, u8, u64)> = Vec::new();
                let mut now = 0u64;
                let mut seq = 0u64;
                for op in ops {
                    match op {
                        Op::Insert(k, ts, c) => {
                            now = now.max(ts);
                            if let Some(i) = m.iter().position(|e| e.0 == k) {
                                m.remove(i);
                            } else if m.len() >= max {
                                // Least recently seen; ties go to the
                                // earlier class list, then list order.
                                let i = (0..m.len())
                                    .min_by_key(|&i| (m[i].1, m[i].2, m[i].3))
                                    .unwrap();
                                let (_, ev) = t.insert(key(k), k, ts, c);
                                prop_assert_eq!(ev.map(|e| e.1), Some(m[i].0));
                                m.remove(i);
                                seq += 1;
                                m.push((k, now, c, seq));
                                continue;
                            }
                            t.insert(key(k), k, ts, c);
                            seq += 1;
                            m.push((k, now, c, seq));
                        }
                        Op::Touch(k, ts, c) => {
                            if let Some(id) = t.find(&key(k)) {
                                now = now.max(ts);
                                t.touch(id, ts, c);
                                let e = m.iter_mut().find(|e| e.0 == k).unwrap();
                                seq += 1;
                                *e = (k, now, c, seq);
                            }
                        }
                        Op::Expire(ts) => {
                            now = now.max(ts);
                            let mut got: Vec<u16> = Vec::new();
                            t.expire(ts, |_, v, r| {
                                assert_eq!(r, Removal::Idle);
                                got.push(v)
                            });
                            let mut want: Vec<u16> = m
                                .iter()
                                .filter(|e| now - e.1 >= timeouts[e.2 as usize])
                                .map(|e| e.0)
                                .collect();
                            m.retain(|e| now - e.1 < timeouts[e.2 as usize]);
                            got.sort_unstable();
                            want.sort_unstable();
                            prop_assert_eq!(got, want);
                        }
                        Op::Remove(k) => {
                            let r = t.find(&key(k)).and_then(|id| t.remove(id)).map(|e| e.1);
                            let i = m.iter().position(|e| e.0 == k);
                            prop_assert_eq!(r, i.map(|i| m.remove(i).0));
                        }
                    }
                    prop_assert_eq!(t.len(), m.len());
                    prop_assert!(t.len() <= max);
                }
            }
        }
    }
}
