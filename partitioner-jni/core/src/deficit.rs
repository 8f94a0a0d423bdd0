//! The deficit rule: route a hot record to the worker whose achieved share lags its target the most.
//!
//! Two implementations with the same long-run shares:
//! * [`DeficitRule`]: the prototype's rule over sliding per-key statistics. For key `k` with targets `p`
//!   and window counts `c` (`s = Σc`), pick `argmax_{i: p_i > 0} p_i − c_i/s`, lowest index on ties.
//!   O(P) per record; after a table change it over-corrects so the *window* matches the new target.
//! * [`SmoothSchedule`]: the same rule from zero history unrolled once per table into a cyclic sequence,
//!   so a record costs one array read. Because `p_i − c_i/s ∝ p_i·s − c_i`, the rule from zero history is
//!   exactly smooth weighted round-robin (nginx's SWRR), and over any stretch of the cycle each worker's
//!   count is within one record of `p_i × length`.

use crate::error::StateError;
use crate::state::{StateReader, StateWriter};

/// Per-key, per-worker record counts over the last `slides` slides (the prototype's `KeyWorkerStatistics`).
#[derive(Debug, Clone)]
pub struct KeyWorkerStats {
    workers: usize,
    slides: usize,
    /// `ring[slide][key * workers + worker]`.
    ring: Vec<Vec<u32>>,
    totals: Vec<u32>,
    current: usize,
}

impl KeyWorkerStats {
    /// Zero counts for `keys` keys on `workers` workers over `slides` slides.
    pub fn new(keys: usize, workers: usize, slides: usize) -> Self {
        let slides = slides.max(1);
        Self {
            workers,
            slides,
            ring: vec![vec![0; keys * workers]; slides],
            totals: vec![0; keys * workers],
            current: 0,
        }
    }

    /// Counts one record of `key` on `worker` in the current slide.
    #[inline]
    pub fn add(&mut self, key: usize, worker: usize) {
        let i = key * self.workers + worker;
        self.ring[self.current][i] += 1;
        self.totals[i] += 1;
    }

    /// `key`'s counts per worker over the window.
    #[inline]
    pub fn counts(&self, key: usize) -> &[u32] {
        &self.totals[key * self.workers..(key + 1) * self.workers]
    }

    /// Starts a new slide, dropping the oldest one.
    pub fn new_slide(&mut self) {
        self.current = (self.current + 1) % self.slides;
        for (t, c) in self.totals.iter_mut().zip(self.ring[self.current].iter_mut()) {
            *t -= *c;
            *c = 0;
        }
    }

    /// Saves the current slide and the ring (the totals follow from it).
    pub(crate) fn write_state(&self, w: &mut StateWriter) {
        w.usize(self.slides);
        w.usize(self.current);
        for slide in &self.ring {
            w.u32s(slide);
        }
    }

    /// Reads what [`write_state`](Self::write_state) wrote into statistics of this one's shape.
    pub(crate) fn read_state(&self, r: &mut StateReader<'_>) -> Result<Self, StateError> {
        let slides = r.u64("statistics slides")?;
        if slides != self.slides as u64 {
            return Err(StateError::mismatch(
                "the statistics slides (`saspartitioner.stats_intervals`)",
                slides,
                self.slides,
            ));
        }
        let current = r.below("current statistics slide", slides)? as usize;
        let cells = self.totals.len();
        let mut totals = vec![0u32; cells];
        let mut ring = Vec::with_capacity(self.slides);
        for _ in 0..self.slides {
            let slide = r.u32s("statistics per (key, worker)", cells)?;
            for (t, &c) in totals.iter_mut().zip(&slide) {
                *t = t
                    .checked_add(c)
                    .ok_or_else(|| StateError::corrupt("statistics", "a (key, worker) total overflows"))?;
            }
            ring.push(slide);
        }
        Ok(Self {
            workers: self.workers,
            slides: self.slides,
            ring,
            totals,
            current,
        })
    }
}

/// The prototype's deficit rule on sliding statistics.
#[derive(Debug, Clone)]
pub struct DeficitRule {
    stats: KeyWorkerStats,
}

impl DeficitRule {
    /// A rule for `keys` hot keys over `workers` workers with a window of `slides` slides.
    pub fn new(keys: usize, workers: usize, slides: usize) -> Self {
        Self {
            stats: KeyWorkerStats::new(keys, workers, slides),
        }
    }

    /// Picks the worker for one record of hot key `key` with target shares `target`, and counts it.
    #[inline]
    pub fn route(&mut self, key: usize, target: &[f64]) -> usize {
        let w = pick(target, self.stats.counts(key));
        self.stats.add(key, w);
        w
    }

    /// Starts a new statistics slide.
    pub fn new_slide(&mut self) {
        self.stats.new_slide();
    }

    /// Saves the sliding statistics.
    pub(crate) fn write_state(&self, w: &mut StateWriter) {
        self.stats.write_state(w);
    }

    /// Reads what [`write_state`](Self::write_state) wrote into a rule of this one's shape.
    pub(crate) fn read_state(&self, r: &mut StateReader<'_>) -> Result<Self, StateError> {
        Ok(Self {
            stats: self.stats.read_state(r)?,
        })
    }
}

/// `argmax_{i: target_i ≠ 0} target_i − counts_i / Σcounts`, lowest index on ties; 0 if every target is 0.
pub fn pick(target: &[f64], counts: &[u32]) -> usize {
    let s: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    let mut best = 0;
    let mut best_priority = f64::NEG_INFINITY;
    for (i, (&p, &c)) in target.iter().zip(counts).enumerate() {
        if p == 0.0 {
            continue;
        }
        let priority = if s == 0 { p } else { p - f64::from(c) / s as f64 };
        if priority > best_priority {
            best = i;
            best_priority = priority;
        }
    }
    best
}

/// One hot key's unrolled smooth weighted round-robin cycle.
#[derive(Debug, Clone)]
pub struct SmoothSchedule {
    sequence: Vec<u32>,
    cursor: usize,
}

impl SmoothSchedule {
    /// Unrolls the deficit rule from zero history for `length` records (at least 1).
    pub fn new(target: &[f64], length: usize) -> Self {
        let length = length.max(1);
        // Only workers with a share are ever picked, and `pick` keeps their order on ties, so the rule
        // unrolls over them alone: a table row of P workers is mostly zeros (P = 32 768 made this cost
        // P × length before).
        let (workers, shares): (Vec<u32>, Vec<f64>) = target
            .iter()
            .enumerate()
            .filter(|&(_, &p)| p != 0.0)
            .map(|(w, &p)| (w as u32, p))
            .unzip();
        if workers.is_empty() {
            return Self {
                sequence: vec![0; length],
                cursor: 0,
            };
        }
        let mut counts = vec![0u32; shares.len()];
        let mut sequence = Vec::with_capacity(length);
        for _ in 0..length {
            let k = pick(&shares, &counts);
            counts[k] += 1;
            sequence.push(workers[k]);
        }
        Self { sequence, cursor: 0 }
    }

    /// The next worker of the cycle.
    #[inline(always)]
    pub fn next_worker(&mut self) -> u32 {
        // The cursor is always < len: it wraps before it can reach it.
        let w = self.sequence[self.cursor];
        self.cursor += 1;
        if self.cursor == self.sequence.len() {
            self.cursor = 0;
        }
        w
    }

    /// Where in the cycle the next record is (what a saved router keeps of its schedule).
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Moves to position `cursor` of the cycle.
    ///
    /// # Errors
    /// [`StateError::Corrupt`] when the cycle is not that long.
    pub fn set_cursor(&mut self, cursor: u64) -> Result<(), StateError> {
        if cursor >= self.sequence.len() as u64 {
            return Err(StateError::corrupt(
                "schedule cursor",
                format!("{cursor} is past the cycle of {}", self.sequence.len()),
            ));
        }
        // Cannot truncate: below the sequence's length, a usize.
        self.cursor = cursor as usize;
        Ok(())
    }
}

/// A schedule length giving each share a resolution well below one percent of a worker.
pub fn schedule_length(width: usize) -> usize {
    (64 * width).clamp(1024, 16_384)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The schedule is the deficit rule over the whole row, zeros included: what `new` skips cannot
    /// change a pick.
    #[test]
    fn schedule_skipping_zero_shares_is_the_rule_over_the_whole_row() {
        let mut row = vec![0.0; 300];
        for (w, share) in [(3, 0.5), (17, 0.25), (18, 0.125), (299, 0.125)] {
            row[w] = share;
        }
        let mut counts = vec![0u32; row.len()];
        let plain: Vec<u32> = (0..2000)
            .map(|_| {
                let w = pick(&row, &counts);
                counts[w] += 1;
                w as u32
            })
            .collect();
        assert_eq!(SmoothSchedule::new(&row, 2000).sequence, plain);
        assert_eq!(SmoothSchedule::new(&[0.0; 5], 3).sequence, vec![0, 0, 0]);
    }

    // The prototype's deficit-rule example (its Java router picks these workers).
    #[test]
    fn prototype_deficit_example() {
        assert_eq!(pick(&[0.5, 0.5, 0.0, 0.0], &[3, 1, 0, 0]), 1);
        assert_eq!(pick(&[0.5, 0.5, 0.0, 0.0], &[0, 0, 0, 0]), 0);
    }

    #[test]
    fn zero_target_workers_are_never_picked() {
        let mut rule = DeficitRule::new(1, 3, 2);
        for _ in 0..100 {
            assert_ne!(rule.route(0, &[0.5, 0.0, 0.5]), 1);
        }
    }

    fn shares(counts: &[u32]) -> Vec<f64> {
        let s: u32 = counts.iter().sum();
        counts.iter().map(|&c| f64::from(c) / f64::from(s)).collect()
    }

    fn normalised(raw: &[u8]) -> Vec<f64> {
        let s: f64 = raw.iter().map(|&x| f64::from(x)).sum();
        raw.iter().map(|&x| f64::from(x) / s).collect()
    }

    proptest! {
        // Achieved shares converge to the targets: after N records every worker is within 1/N·(workers) of
        // its target share, for the sliding rule and for the unrolled schedule alike.
        #[test]
        fn achieved_shares_converge(raw in prop::collection::vec(0u8..20, 2..12)
            .prop_filter("some weight", |v| v.iter().any(|&x| x > 0))) {
            let target = normalised(&raw);
            let n = 2000usize;
            let mut rule = DeficitRule::new(1, target.len(), 1);
            let mut counts = vec![0u32; target.len()];
            for _ in 0..n {
                counts[rule.route(0, &target)] += 1;
            }
            let mut schedule = SmoothSchedule::new(&target, schedule_length(target.len()));
            let mut sched_counts = vec![0u32; target.len()];
            for _ in 0..n {
                sched_counts[schedule.next_worker() as usize] += 1;
            }
            let tol = target.len() as f64 / n as f64;
            for ((t, a), b) in target.iter().zip(shares(&counts)).zip(shares(&sched_counts)) {
                prop_assert!((t - a).abs() <= tol, "rule: target {t} achieved {a}");
                prop_assert!((t - b).abs() <= tol, "schedule: target {t} achieved {b}");
            }
        }

        // The rule is deterministic: the same targets and history give the same sequence.
        #[test]
        fn deterministic(raw in prop::collection::vec(1u8..20, 2..8)) {
            let target = normalised(&raw);
            let a = SmoothSchedule::new(&target, 500).sequence;
            let b = SmoothSchedule::new(&target, 500).sequence;
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn sliding_window_overcorrects_after_a_table_change() {
        // Window of 2 slides; first slide all on worker 0, then targets move to 50/50: the rule sends the
        // next records to worker 1 until the window share catches up.
        let mut rule = DeficitRule::new(1, 2, 2);
        for _ in 0..10 {
            rule.route(0, &[1.0, 0.0]);
        }
        rule.new_slide();
        let next: Vec<usize> = (0..10).map(|_| rule.route(0, &[0.5, 0.5])).collect();
        assert_eq!(next, vec![1; 10]);
    }
}
