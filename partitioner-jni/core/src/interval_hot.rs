//! Hot-key detection by intervals, as DAGreedy and Dalton define it.
//!
//! Time is cut into intervals of one window slide, aligned to multiples of it. A key becomes hot in an
//! interval once its count in that interval exceeds the previous interval's total divided by the number of
//! workers (its "fair share"), and stays hot until the end of the following interval. Counting is exact
//! (the prototype switched to a count-min sketch above 10 000 distinct keys; exact counts cost about the
//! same here and remove the sketch's over-estimates).

use crate::error::StateError;
use crate::fast_map::KeyMap;
use crate::state::{StateReader, StateWriter};

/// Interval-based hot-key detector.
#[derive(Debug, Clone)]
pub struct IntervalHotKeys {
    workers: f64,
    interval_ms: u64,
    interval_end: Option<u64>,
    threshold: f64,
    total: u64,
    counts: KeyMap<u64, u64>,
    /// Hot keys and the event time at which they stop being hot.
    expiry: KeyMap<u64, u64>,
}

impl IntervalHotKeys {
    /// A detector for `workers` workers with intervals of `interval_ms`.
    pub fn new(workers: u32, interval_ms: u64) -> Self {
        Self {
            workers: f64::from(workers),
            interval_ms,
            interval_end: None,
            threshold: f64::INFINITY,
            total: 0,
            counts: KeyMap::default(),
            expiry: KeyMap::default(),
        }
    }

    /// Counts one record and says whether `key` is hot at `ts_ms`. Returns `(hot, rolled)`, where `rolled`
    /// is true when this record opened a new interval.
    #[inline]
    pub fn observe(&mut self, key: u64, ts_ms: u64) -> (bool, bool) {
        let end = *self
            .interval_end
            .get_or_insert((ts_ms / self.interval_ms + 1) * self.interval_ms);
        let rolled = ts_ms >= end;
        if rolled {
            self.threshold = self.total as f64 / self.workers;
            self.total = 0;
            self.counts.clear();
            self.interval_end = Some((ts_ms / self.interval_ms + 1) * self.interval_ms);
            self.expiry.retain(|_, &mut e| ts_ms < e);
        }
        self.total += 1;
        // Hot keys keep being counted, so a key that stays above its fair share stays hot without a gap.
        let count = self.counts.entry(key).or_insert(0);
        *count += 1;
        if *count as f64 > self.threshold {
            // Hot for the rest of this interval and the whole next one.
            let until = self.interval_end.unwrap_or(end) + self.interval_ms;
            let expiry = self.expiry.entry(key).or_insert(until);
            *expiry = (*expiry).max(until);
            return (true, rolled);
        }
        match self.expiry.get(&key) {
            Some(&e) if ts_ms < e => (true, rolled),
            Some(_) => {
                self.expiry.remove(&key);
                (false, rolled)
            }
            None => (false, rolled),
        }
    }

    /// Whether `key` is hot at `ts_ms` (without counting).
    pub fn is_hot(&self, key: u64, ts_ms: u64) -> bool {
        self.expiry.get(&key).is_some_and(|&e| ts_ms < e)
    }

    /// Number of keys currently hot.
    pub fn hot_count(&self) -> usize {
        self.expiry.len()
    }

    /// Saves the interval, its counts and the hot keys with their expiry.
    pub(crate) fn write_state(&self, w: &mut StateWriter) {
        w.u64(self.interval_ms);
        w.option_u64(self.interval_end);
        w.f64(self.threshold);
        w.u64(self.total);
        w.map(&self.counts, |w, &c| w.u64(c));
        w.map(&self.expiry, |w, &e| w.u64(e));
    }

    /// Reads what [`write_state`](Self::write_state) wrote into a detector with this one's settings.
    pub(crate) fn read_state(&self, r: &mut StateReader<'_>) -> Result<Self, StateError> {
        let interval_ms = r.u64("hot-key interval")?;
        if interval_ms != self.interval_ms {
            return Err(StateError::mismatch(
                "`slide_ms` (the hot-key interval)",
                interval_ms,
                self.interval_ms,
            ));
        }
        let interval_end = r.option_u64("hot-key interval end")?;
        let threshold = r.f64("hot-key threshold")?;
        // Infinite before the first interval ends; otherwise the previous interval's fair share.
        if threshold.is_nan() || threshold < 0.0 {
            return Err(StateError::corrupt("hot-key threshold", format!("{threshold}")));
        }
        let total = r.u64("hot-key interval total")?;
        let counts = r.map("hot-key interval counts", 2, |r| r.u64("a key's count"))?;
        let expiry = r.map("hot keys", 2, |r| r.u64("a hot key's expiry"))?;
        Ok(Self {
            workers: self.workers,
            interval_ms,
            interval_end,
            threshold,
            total,
            counts,
            expiry,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_hot_above_the_previous_fair_share_until_the_next_interval_ends() {
        let mut h = IntervalHotKeys::new(4, 100);
        // Interval [0,100): 40 records, nothing is hot (no previous interval).
        for i in 0..40 {
            assert!(!h.observe(i % 2, i).0);
        }
        // Interval [100,200): threshold 40/4 = 10; key 0's 11th record makes it hot.
        for i in 0..10 {
            assert!(!h.observe(0, 100 + i).0);
        }
        assert!(h.observe(0, 110).0);
        assert!(!h.observe(1, 111).0);
        // Still hot through [200,300) without any record, cold from 300 on.
        assert!(h.is_hot(0, 299));
        assert!(!h.is_hot(0, 300));
    }

    #[test]
    fn a_steadily_hot_key_never_goes_cold() {
        // Key 0 has half of every interval's records on 4 workers: twice its fair share.
        let mut h = IntervalHotKeys::new(4, 100);
        let mut cold_after_warmup = 0;
        for ts in 0..1000u64 {
            for key in [0, 1000 + ts] {
                let (hot, _) = h.observe(key, ts);
                if key == 0 && ts >= 200 && !hot {
                    cold_after_warmup += 1;
                }
            }
        }
        assert_eq!(cold_after_warmup, 0);
    }
}
