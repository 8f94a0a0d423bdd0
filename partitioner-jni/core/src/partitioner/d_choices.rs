//! Partitioner that sends head keys to the least loaded of `d` hashed candidates and tail keys by PKG
//! (D-Choices, Nasir et al., "When Two Choices Are not Enough", ICDE 2016).

use super::{Partitioner, RouterConfig, w_choices::Head};
use crate::error::{ConfigError, StateError};
use crate::hashing::{reduce, seeded_hash64};
use crate::state::{StateReader, StateWriter};

/// Partitioner implementing D-Choices. `d` is re-derived every `recompute_every` records from the head's
/// guaranteed shares with [`choose_d`]; when `d ≥ P` head keys may use every worker (W-Choices). Tail keys
/// use PKG over the first two head candidates.
#[derive(Debug, Clone)]
pub struct DChoices {
    n: u32,
    head: Head,
    sent: Vec<u64>,
    epsilon: f64,
    recompute_every: u64,
    since_recompute: u64,
    d: u32,
    /// Scratch for the head's shares in `recompute_d`, kept so the record path does not allocate.
    head_shares: Vec<f64>,
}

impl DChoices {
    /// A D-Choices partitioner; θ defaults to 1/(5P), ε to 0.001.
    pub fn new(config: &RouterConfig) -> Result<Self, ConfigError> {
        let head = Head::new(config)?;
        Ok(Self {
            n: config.workers,
            head_shares: Vec::with_capacity(head.summary.capacity()),
            head,
            sent: vec![0; config.workers as usize],
            epsilon: config.choices.epsilon,
            recompute_every: config.choices.recompute_every,
            since_recompute: 0,
            d: 2.min(config.workers),
        })
    }

    /// The current number of choices for head keys.
    pub fn d(&self) -> u32 {
        self.d
    }

    fn recompute_d(&mut self) {
        let m = self.head.summary.total() as f64;
        // The head as `observe` sees it: guaranteed shares above θ, largest first.
        let theta = self.head.theta;
        let head = &mut self.head_shares;
        head.clear();
        head.extend(
            self.head
                .summary
                .estimates()
                .map(|e| Head::guaranteed(&e) / m)
                .filter(|&p| p > theta),
        );
        head.sort_unstable_by(|a, b| b.total_cmp(a));
        if let Some(&p1) = head.first() {
            let p_head = head.iter().sum::<f64>().min(1.0);
            self.d = choose_d(p1, p_head, head.len(), self.n, self.epsilon);
        }
    }
}

/// The smallest `d ≥ round(p1·n)` (at least 2) for which the expected fraction of workers reached by head
/// and tail choices can carry their load (the paper's two conditions, with `b = 1 − ((n−1)/n)^d`); `n`
/// when no `d < n` qualifies.
pub fn choose_d(p1: f64, p_head: f64, head_keys: usize, n: u32, epsilon: f64) -> u32 {
    let nf = f64::from(n);
    let p_tail = 1.0 - p_head;
    let q = (nf - 1.0) / nf;
    let mut d = ((p1 * nf).round() as u32).max(2);
    while d < n {
        let b_h = 1.0 - q.powf(head_keys as f64 * f64::from(d));
        let b = 1.0 - q.powi(d as i32);
        let head_fits = p_head + p_tail * b_h * b_h <= b_h + epsilon;
        let hottest_fits = p1 + (p_head - p1) * b.powi(d as i32) + p_tail * b * b <= b + epsilon;
        if head_fits && hottest_fits {
            return d;
        }
        d += 1;
    }
    n
}

impl Partitioner for DChoices {
    fn name(&self) -> &'static str {
        "d-choices"
    }

    fn workers(&self) -> u32 {
        self.n
    }

    #[inline]
    fn route(&mut self, key: u64, _ts_ms: u64) -> u32 {
        self.since_recompute += 1;
        if self.since_recompute >= self.recompute_every {
            self.since_recompute = 0;
            self.recompute_d();
        }
        // Tail keys use PKG over the first two of the head candidates (as `LBDChoice.java`, whose tail
        // choices are hash[0] and hash[1]), so a key that crosses the head boundary, as every key does
        // while the summary has seen fewer than 1/θ records, keeps its workers instead of gaining two more.
        let d = if self.head.observe(key) {
            self.d
        } else {
            2.min(self.n)
        };
        let w = if d >= self.n {
            super::argmin(self.sent.iter().copied()) as u32
        } else {
            let mut best = reduce(seeded_hash64(key, 0), self.n);
            for i in 1..u64::from(d) {
                let c = reduce(seeded_hash64(key, i), self.n);
                if self.sent[c as usize] < self.sent[best as usize] {
                    best = c;
                }
            }
            best
        };
        self.sent[w as usize] += 1;
        w
    }

    fn write_state(&self, w: &mut StateWriter) {
        self.head.summary.write_state(w);
        w.u64s(&self.sent);
        w.u64(self.since_recompute);
        w.u32(self.d);
    }

    fn read_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let summary = self.head.summary.read_state(r)?;
        let sent = r.u64s("records sent per worker", self.sent.len())?;
        let since_recompute = r.below("records since d was recomputed", self.recompute_every)?;
        let d = r.u32("d")?;
        if d == 0 || d > self.n {
            return Err(StateError::corrupt(
                "d",
                format!("{d} choices of {} workers", self.n),
            ));
        }
        r.end()?;
        self.head.summary = summary;
        self.sent = sent;
        self.since_recompute = since_recompute;
        self.d = d;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d_grows_with_the_hottest_share() {
        let mut last = 0;
        for i in 1..=40 {
            let p1 = f64::from(i) * 0.01;
            let d = choose_d(p1, (p1 + 0.1).min(1.0), 5, 50, 0.001);
            assert!(d >= last, "d fell from {last} to {d} at p1 = {p1}");
            last = d;
        }
        assert!(last > 2);
        assert_eq!(choose_d(0.9, 0.95, 3, 50, 0.001), 50);
    }
}
