//! Partitioner that explores the mask with a bandit while offline data is collected: the behaviour policy
//! whose routing the offline RL dataset records (the prototype's `dalton-offline`).

use super::{Partitioner, RouterConfig, rng};
use crate::deficit::KeyWorkerStats;
use crate::error::{ConfigError, StateError};
use crate::hashing::IntHashPartition;
use crate::mask::Mask;
use crate::state::{StateReader, StateWriter};
use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Partitioner implementing the masked behaviour bandit. Static hot keys (`key < hot_keys.count`): a true
/// hot key picks among its mask range, ε-greedy on its Q row (greedy, or a softmax at `temperature > 0`);
/// other hot keys go to a uniformly random worker; cold keys are hashed like `hash` and `saspartitioner`.
/// After each hot record `Q[k][w] ← (1−a)·Q + a·(1 − s)/2`, with `s = (L_w − L̄)/(1e−4 + max(L_w, L̄))` over
/// the workers' record counts in the statistics window (`saspartitioner.stats_intervals` intervals).
#[derive(Debug, Clone)]
pub struct DaltonOffline {
    n: u32,
    mask: Mask,
    hot_keys: u64,
    cold: IntHashPartition,
    epsilon: f64,
    temperature: f64,
    learning_rate: f64,
    q: Vec<Vec<f64>>,
    worker_stats: KeyWorkerStats,
    /// Records per mask pair in the current interval: the behaviour action, once normalised.
    pair_counts: Vec<u64>,
    last_action: Vec<f64>,
    probs: Vec<f64>,
    rng: Xoshiro256PlusPlus,
}

impl DaltonOffline {
    /// A behaviour bandit over the mask of `config.hot_keys`.
    pub fn new(config: &RouterConfig) -> Result<Self, ConfigError> {
        let mask = config.hot_keys.mask(config.workers)?;
        let q = mask.ranges().iter().map(|r| vec![0.0; r.len()]).collect();
        let a = mask.action_dim();
        Ok(Self {
            n: config.workers,
            hot_keys: config.hot_keys.count as u64,
            cold: IntHashPartition::new(config.workers),
            epsilon: config.dalton.epsilon,
            temperature: config.dalton.temperature,
            learning_rate: config.dalton.learning_rate,
            q,
            worker_stats: KeyWorkerStats::new(
                1,
                config.workers as usize,
                config.saspartitioner.stats_intervals,
            ),
            pair_counts: vec![0; a],
            last_action: vec![0.0; a],
            probs: Vec::new(),
            rng: rng(config.seed, 4),
            mask,
        })
    }

    /// The mask this bandit explores.
    pub fn mask(&self) -> &Mask {
        &self.mask
    }

    /// The behaviour action of the last closed interval, in the policy's action space: records per mask
    /// pair divided by the largest such count (all zeros before the first interval closes).
    pub fn behaviour_action(&self) -> &[f64] {
        &self.last_action
    }

    fn pick_in_range(&mut self, rank: usize) -> usize {
        let row = &self.q[rank];
        if self.rng.random::<f64>() < self.epsilon {
            return self.rng.random_range(0..row.len());
        }
        if self.temperature == 0.0 {
            return (0..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best });
        }
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        self.probs.clear();
        self.probs
            .extend(row.iter().map(|q| ((q - max) / self.temperature).exp()));
        let mut u = self.rng.random::<f64>() * self.probs.iter().sum::<f64>();
        for (i, p) in self.probs.iter().enumerate() {
            if u < *p {
                return i;
            }
            u -= p;
        }
        row.len() - 1
    }
}

impl Partitioner for DaltonOffline {
    fn name(&self) -> &'static str {
        "dalton-offline"
    }

    fn workers(&self) -> u32 {
        self.n
    }

    fn route(&mut self, key: u64, _ts_ms: u64) -> u32 {
        let w = if key >= self.hot_keys {
            self.cold.worker(key) as usize
        } else if let Some(range) = self.mask.ranges().get(key as usize).cloned() {
            let rank = key as usize;
            let offset = self.pick_in_range(rank);
            let w = range.start + offset;
            let loads = self.worker_stats.counts(0);
            let l_w = f64::from(loads[w]) + 1.0;
            let mean = (loads.iter().map(|&c| f64::from(c)).sum::<f64>() + 1.0) / f64::from(self.n);
            let score = (l_w - mean) / (1e-4 + l_w.max(mean));
            let q = &mut self.q[rank][offset];
            *q = (1.0 - self.learning_rate) * *q + self.learning_rate * (1.0 - score) / 2.0;
            let pair = self.mask.ranges()[..rank].iter().map(|r| r.len()).sum::<usize>() + offset;
            self.pair_counts[pair] += 1;
            w
        } else {
            self.rng.random_range(0..self.n as usize)
        };
        self.worker_stats.add(0, w);
        w as u32
    }

    fn end_interval(&mut self, _loads: &[f64]) {
        let max = self.pair_counts.iter().copied().max().unwrap_or(0).max(1) as f64;
        for (a, c) in self.last_action.iter_mut().zip(self.pair_counts.iter_mut()) {
            *a = *c as f64 / max;
            *c = 0;
        }
        self.worker_stats.new_slide();
    }

    fn hot_rank(&self, key: u64) -> Option<usize> {
        (key < self.hot_keys).then_some(key as usize)
    }

    fn write_state(&self, w: &mut StateWriter) {
        w.usize(self.q.len());
        self.q.iter().for_each(|row| w.f64s(row));
        self.worker_stats.write_state(w);
        w.u64s(&self.pair_counts);
        w.f64s(&self.last_action);
        w.rng(&self.rng);
    }

    fn read_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let keys = r.len_exact("Q rows (the mask's true hot keys)", self.q.len(), 1)?;
        let q = (0..keys)
            .map(|k| r.finite_f64s("a Q row (its mask range)", self.q[k].len()))
            .collect::<Result<Vec<_>, _>>()?;
        let worker_stats = self.worker_stats.read_state(r)?;
        let pair_counts = r.u64s("records per mask pair", self.pair_counts.len())?;
        let last_action = r.finite_f64s("behaviour action", self.last_action.len())?;
        let rng = r.rng("random stream")?;
        r.end()?;
        self.q = q;
        self.worker_stats = worker_stats;
        self.pair_counts = pair_counts;
        self.last_action = last_action;
        self.rng = rng;
        Ok(())
    }
}
