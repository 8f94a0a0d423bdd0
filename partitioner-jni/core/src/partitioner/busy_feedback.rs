//! Partitioner that spreads hot keys by a deterministic feedback rule on the agent's own observations
//! (per-worker busy time and the hot keys), and hashes the rest: what a user would build instead of
//! learning a policy.

use super::{Partitioner, RouterConfig, argmin};
use crate::error::{ConfigError, StateError};
use crate::hashing::IntHashPartition;
use crate::hot_keys::HotKeys;
use crate::state::{StateReader, StateWriter};

/// Smallest per-record cost a worker is credited with, relative to the mean: a worker that reported
/// almost no busy time (an idle interval, a sampling hiccup) would otherwise look free and take every hot
/// record of the next interval.
const MIN_COST: f64 = 0.05;

/// Partitioner implementing busy-time feedback. Each interval's report gives every worker a cost per
/// record, its busy ratio divided by the records this router sent it (normalised to mean 1), smoothed
/// over intervals by `busy_feedback.smoothing`. A cold key is hashed like `hash`; a record of a hot key
/// (the online detector of `saspartitioner`, so the same keys the agent sees) goes to the worker whose
/// predicted busy time in the current interval, cost × records sent, is the least. Before the first
/// report every cost is 1, and the rule is W-Choices' least-loaded choice for hot keys over a hashed tail.
#[derive(Debug, Clone)]
pub struct BusyFeedback {
    hot: HotKeys,
    cold: IntHashPartition,
    /// Weight of the newest interval in the smoothed cost.
    smoothing: f64,
    /// Smoothed cost of one record per worker (mean 1).
    cost: Vec<f64>,
    /// Records sent to each worker in the current interval.
    sent: Vec<u64>,
}

impl BusyFeedback {
    /// A busy-feedback partitioner with the hot-key detection of `config.hot_keys`.
    pub fn new(config: &RouterConfig) -> Result<Self, ConfigError> {
        let p = config.workers as usize;
        Ok(Self {
            hot: config.hot_keys.detector(config.workers)?,
            cold: IntHashPartition::new(config.workers),
            smoothing: config.busy_feedback.smoothing,
            cost: vec![1.0; p],
            sent: vec![0; p],
        })
    }

    /// The smoothed per-record cost of each worker (mean 1).
    pub fn cost(&self) -> &[f64] {
        &self.cost
    }
}

impl Partitioner for BusyFeedback {
    fn name(&self) -> &'static str {
        "busy-feedback"
    }

    fn workers(&self) -> u32 {
        self.sent.len() as u32
    }

    #[inline]
    fn route(&mut self, key: u64, _ts_ms: u64) -> u32 {
        self.hot.observe(key);
        let w = if self.hot.rank(key).is_some() {
            argmin(self.sent.iter().zip(&self.cost).map(|(&n, &c)| n as f64 * c)) as u32
        } else {
            self.cold.worker(key)
        };
        self.sent[w as usize] += 1;
        w
    }

    fn end_interval(&mut self, loads: &[f64]) {
        // A report of the wrong size, or with a non-finite or negative value, is ignored rather than
        // trusted; a worker that was sent nothing keeps its cost.
        let valid = loads.len() == self.sent.len() && loads.iter().all(|x| x.is_finite() && *x >= 0.0);
        if valid {
            let measured: Vec<Option<f64>> = loads
                .iter()
                .zip(&self.sent)
                .map(|(&load, &sent)| (sent > 0).then(|| load / sent as f64))
                .collect();
            let known: Vec<f64> = measured.iter().flatten().copied().collect();
            let mean = known.iter().sum::<f64>() / known.len().max(1) as f64;
            if mean > 0.0 {
                for (cost, m) in self.cost.iter_mut().zip(&measured) {
                    if let Some(m) = m {
                        let fresh = (m / mean).max(MIN_COST);
                        *cost = (1.0 - self.smoothing) * *cost + self.smoothing * fresh;
                    }
                }
                let mean_cost = self.cost.iter().sum::<f64>() / self.cost.len() as f64;
                self.cost.iter_mut().for_each(|c| *c /= mean_cost);
            }
        }
        self.sent.fill(0);
    }

    fn hot_rank(&self, key: u64) -> Option<usize> {
        self.hot.rank(key)
    }

    fn write_state(&self, w: &mut StateWriter) {
        self.hot.write_state(w);
        w.f64s(&self.cost);
        w.u64s(&self.sent);
    }

    fn read_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let n = self.sent.len();
        let hot = self.hot.read_state(r)?;
        let cost = r.finite_f64s("cost per record", n)?;
        if let Some(c) = cost.iter().find(|&&c| c <= 0.0) {
            return Err(StateError::corrupt("cost per record", format!("{c} is not positive")));
        }
        let sent = r.u64s("records sent per worker this interval", n)?;
        r.end()?;
        self.hot = hot;
        self.cost = cost;
        self.sent = sent;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(workers: u32) -> RouterConfig {
        RouterConfig {
            workers,
            hot_keys: crate::partitioner::HotKeyConfig {
                mode: crate::partitioner::HotKeyMode::Static,
                count: 1,
                ..Default::default()
            },
            ..RouterConfig::default()
        }
    }

    /// Records of hot key 0 per worker over one interval of `records` records of it.
    fn hot_records(p: &mut BusyFeedback, records: usize) -> Vec<usize> {
        let mut per_worker = vec![0; p.workers() as usize];
        for _ in 0..records {
            per_worker[p.route(0, 0) as usize] += 1;
        }
        per_worker
    }

    #[test]
    fn without_reports_a_hot_key_is_spread_evenly() {
        let mut p = BusyFeedback::new(&config(4)).unwrap();
        assert_eq!(hot_records(&mut p, 400), vec![100; 4]);
    }

    #[test]
    fn a_slow_worker_gets_fewer_hot_records() {
        // Worker 3 takes three times as long per record; each interval reports the busy time of what
        // the router sent.
        let true_cost = [1.0, 1.0, 1.0, 3.0];
        let mut p = BusyFeedback::new(&config(4)).unwrap();
        let mut spread = vec![0; 4];
        for _ in 0..20 {
            spread = hot_records(&mut p, 600);
            let loads: Vec<f64> = spread.iter().zip(true_cost).map(|(&n, c)| n as f64 * c / 1e3).collect();
            p.end_interval(&loads);
        }
        let cost = p.cost();
        assert!((cost[3] / cost[0] - 3.0).abs() < 0.05, "cost {cost:?}");
        // Equal predicted busy time: 3 × n₃ = n₀, so worker 3 gets a third of another worker's records.
        assert!((spread[0] as f64 / spread[3] as f64 - 3.0).abs() < 0.1, "spread {spread:?}");
    }

    #[test]
    fn a_bad_report_changes_nothing_but_the_interval() {
        let mut p = BusyFeedback::new(&config(2)).unwrap();
        hot_records(&mut p, 10);
        p.end_interval(&[f64::NAN, 1.0]);
        p.end_interval(&[1.0]);
        assert_eq!(p.cost(), &[1.0, 1.0]);
        assert_eq!(hot_records(&mut p, 4), vec![2, 2]);
    }

    #[test]
    fn an_idle_worker_is_not_taken_for_free() {
        let mut c = config(4);
        c.busy_feedback.smoothing = 1.0;
        let mut p = BusyFeedback::new(&c).unwrap();
        hot_records(&mut p, 400);
        p.end_interval(&[0.0, 0.5, 0.5, 0.5]);
        assert!(p.cost()[0] > 0.0);
        let spread = hot_records(&mut p, 400);
        assert!(spread[1] > 0 && spread[2] > 0 && spread[3] > 0, "spread {spread:?}");
    }
}
