//! SpaceSaving heavy-hitter summary (Metwally, Agrawal, El Abbadi, ICDT 2005).
//!
//! Keeps at most `capacity` counters. A monitored key increments its counter; an unmonitored key takes
//! over the smallest counter, inheriting its count as the error bound. Every key with true frequency above
//! `total / capacity` is monitored, and `count - error <= true count <= count`.
//!
//! The smallest counter is found through an indexed min-heap, so an update costs O(1) for the hot keys
//! (which sit at the leaves) and O(log capacity) otherwise. [`SpaceSaving::decay`] halves every counter,
//! which turns the summary into an exponentially weighted sliding window.

use crate::error::StateError;
use crate::fast_map::KeyMap;
use crate::state::{StateReader, StateWriter};
use std::cmp::Reverse;

#[derive(Debug, Clone, Copy)]
struct Counter {
    key: u64,
    count: u64,
    error: u64,
    heap_pos: u32,
}

/// A monitored key with its estimated count and the error bound of that estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// The key.
    pub key: u64,
    /// Upper bound of the key's count.
    pub count: u64,
    /// `count - error` is a lower bound of the key's count.
    pub error: u64,
}

/// The SpaceSaving summary.
#[derive(Debug, Clone)]
pub struct SpaceSaving {
    capacity: usize,
    counters: Vec<Counter>,
    /// Min-heap of indexes into `counters`, ordered by count.
    heap: Vec<u32>,
    index: KeyMap<u64, u32>,
    total: u64,
}

impl SpaceSaving {
    /// A summary with `capacity` counters (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            counters: Vec::with_capacity(capacity),
            heap: Vec::with_capacity(capacity),
            index: KeyMap::with_capacity_and_hasher(capacity * 2, Default::default()),
            total: 0,
        }
    }

    /// Counts one occurrence of `key`.
    #[inline]
    pub fn observe(&mut self, key: u64) {
        self.total += 1;
        if let Some(&i) = self.index.get(&key) {
            let c = &mut self.counters[i as usize];
            c.count += 1;
            let pos = c.heap_pos as usize;
            self.sift_down(pos);
        } else if self.counters.len() < self.capacity {
            let i = self.counters.len() as u32;
            let pos = self.heap.len() as u32;
            self.counters.push(Counter {
                key,
                count: 1,
                error: 0,
                heap_pos: pos,
            });
            self.heap.push(i);
            self.index.insert(key, i);
            self.sift_up(pos as usize);
        } else {
            let i = self.heap[0];
            let c = &mut self.counters[i as usize];
            self.index.remove(&c.key);
            c.key = key;
            c.error = c.count;
            c.count += 1;
            self.index.insert(key, i);
            self.sift_down(0);
        }
    }

    /// Number of occurrences counted (after decay).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The estimate for `key`, if it is monitored.
    pub fn get(&self, key: u64) -> Option<Estimate> {
        self.index.get(&key).map(|&i| {
            let c = self.counters[i as usize];
            Estimate {
                key: c.key,
                count: c.count,
                error: c.error,
            }
        })
    }

    /// Monitored keys, largest count first (ties: smaller key first, so the order is deterministic).
    pub fn top(&self, k: usize) -> Vec<Estimate> {
        let mut all: Vec<Estimate> = self.estimates().collect();
        all.sort_unstable_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
        all.truncate(k);
        all
    }

    /// The first `k` keys of [`top`](Self::top), in its order, found without allocating: each is one scan
    /// of the counters, so this is for a small `k` on the record path.
    pub fn top_iter(&self, k: usize) -> impl Iterator<Item = Estimate> + '_ {
        // `a` comes before `b`: a larger count, or the same count and a smaller key (keys are unique).
        let before = |a: &Estimate, b: &Estimate| (a.count, Reverse(a.key)) > (b.count, Reverse(b.key));
        let mut last: Option<Estimate> = None;
        std::iter::from_fn(move || {
            let next = self
                .estimates()
                .filter(|e| last.is_none_or(|l| before(&l, e)))
                .reduce(|best, e| if before(&e, &best) { e } else { best })?;
            last = Some(next);
            Some(next)
        })
        .take(k)
    }

    /// Every monitored key, in no particular order.
    pub fn estimates(&self) -> impl Iterator<Item = Estimate> + '_ {
        self.counters.iter().map(|c| Estimate {
            key: c.key,
            count: c.count,
            error: c.error,
        })
    }

    /// The number of counters kept at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Halves every counter, error and the total: old occurrences weigh half as much as new ones.
    /// Uniform scaling keeps the heap order, so no re-heapify is needed.
    pub fn decay(&mut self) {
        for c in &mut self.counters {
            c.count >>= 1;
            c.error >>= 1;
        }
        self.total >>= 1;
    }

    /// Saves the capacity, the total, the counters and the heap's layout (which of two equal counters is
    /// evicted first depends on it).
    pub(crate) fn write_state(&self, w: &mut StateWriter) {
        w.usize(self.capacity);
        w.u64(self.total);
        w.usize(self.counters.len());
        for c in &self.counters {
            w.u64(c.key);
            w.u64(c.count);
            w.u64(c.error);
        }
        self.heap.iter().for_each(|&i| w.u32(i));
    }

    /// Reads what [`write_state`](Self::write_state) wrote into a summary of this one's capacity,
    /// checking that the counters are a valid summary (distinct keys, errors within counts, the heap a
    /// permutation in min-heap order).
    pub(crate) fn read_state(&self, r: &mut StateReader<'_>) -> Result<Self, StateError> {
        let capacity = r.u64("summary capacity")?;
        if capacity != self.capacity as u64 {
            return Err(StateError::mismatch(
                "the summary capacity (`choices.capacity` or `hot_keys.online.capacity`)",
                capacity,
                self.capacity,
            ));
        }
        let total = r.u64("summary total")?;
        // A counter is three integers, a heap slot one more.
        let n = r.len("summary counters", self.capacity, 4)?;
        let mut out = Self::new(self.capacity);
        out.total = total;
        for i in 0..n {
            let c = Counter {
                key: r.u64("counter key")?,
                count: r.u64("counter count")?,
                error: r.u64("counter error")?,
                heap_pos: u32::MAX,
            };
            if c.error > c.count {
                return Err(StateError::corrupt(
                    "counter error",
                    format!("{} above its count {}", c.error, c.count),
                ));
            }
            if out.index.insert(c.key, i as u32).is_some() {
                return Err(StateError::corrupt(
                    "counter key",
                    format!("key {} counted twice", c.key),
                ));
            }
            out.counters.push(c);
        }
        for pos in 0..n {
            let i = r.below("heap slot", n as u64)? as usize;
            if out.counters[i].heap_pos != u32::MAX {
                return Err(StateError::corrupt(
                    "heap slot",
                    format!("counter {i} placed twice"),
                ));
            }
            out.counters[i].heap_pos = pos as u32;
            out.heap.push(i as u32);
        }
        if let Some(pos) = (1..n).find(|&pos| out.count_at((pos - 1) / 2) > out.count_at(pos)) {
            return Err(StateError::corrupt(
                "heap slot",
                format!("position {pos} is below its parent"),
            ));
        }
        Ok(out)
    }

    fn count_at(&self, pos: usize) -> u64 {
        self.counters[self.heap[pos] as usize].count
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.counters[self.heap[a] as usize].heap_pos = a as u32;
        self.counters[self.heap[b] as usize].heap_pos = b as u32;
    }

    fn sift_up(&mut self, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if self.count_at(parent) <= self.count_at(pos) {
                break;
            }
            self.swap(parent, pos);
            pos = parent;
        }
    }

    #[inline]
    fn sift_down(&mut self, mut pos: usize) {
        let len = self.heap.len();
        loop {
            let left = 2 * pos + 1;
            if left >= len {
                return;
            }
            let right = left + 1;
            let mut smallest = left;
            if right < len && self.count_at(right) < self.count_at(left) {
                smallest = right;
            }
            if self.count_at(pos) <= self.count_at(smallest) {
                return;
            }
            self.swap(pos, smallest);
            pos = smallest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exact_while_under_capacity() {
        let mut s = SpaceSaving::new(4);
        for k in [1, 2, 1, 3, 1, 2] {
            s.observe(k);
        }
        assert_eq!(s.get(1).unwrap().count, 3);
        assert_eq!(s.get(2).unwrap().count, 2);
        assert_eq!(s.top(1)[0].key, 1);
        assert_eq!(s.total(), 6);
    }

    #[test]
    fn decay_halves_counts() {
        let mut s = SpaceSaving::new(4);
        for _ in 0..10 {
            s.observe(7);
        }
        s.decay();
        assert_eq!(s.get(7).unwrap().count, 5);
        assert_eq!(s.total(), 5);
    }

    proptest! {
        // The SpaceSaving guarantees: count - error <= true count <= count for monitored keys, and any key
        // more frequent than total/capacity is monitored.
        #[test]
        fn bounds_hold(stream in prop::collection::vec(0u64..40, 1..2000), cap in 2usize..16) {
            let mut s = SpaceSaving::new(cap);
            let mut truth = std::collections::HashMap::new();
            for &k in &stream {
                s.observe(k);
                *truth.entry(k).or_insert(0u64) += 1;
            }
            for (&k, &n) in &truth {
                match s.get(k) {
                    Some(e) => prop_assert!(e.count - e.error <= n && n <= e.count),
                    None => prop_assert!(n <= stream.len() as u64 / cap as u64),
                }
            }
        }

        // `top_iter` (no allocation, one scan per key) gives exactly `top`'s keys in `top`'s order,
        // ties included (small key ranges make equal counts common).
        #[test]
        fn top_iter_is_top(stream in prop::collection::vec(0u64..12, 0..300), cap in 1usize..10, k in 0usize..12) {
            let mut s = SpaceSaving::new(cap);
            for &key in &stream {
                s.observe(key);
            }
            prop_assert_eq!(s.top_iter(k).collect::<Vec<_>>(), s.top(k));
        }
    }
}
