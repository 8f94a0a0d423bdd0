//! Partitioner that explores the mask with a bandit while offline data is collected: the behaviour policy
//! whose routing the offline RL dataset records (the prototype's `dalton-offline`).

use super::{Partitioner, RouterConfig, rng};
use crate::deficit::KeyWorkerStats;
use crate::error::{ConfigError, StateError};
use crate::hashing::IntHashPartition;
use crate::hot_keys::HotKeys;
use crate::mask::Mask;
use crate::state::{StateReader, StateWriter};
use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Partitioner implementing the masked behaviour bandit. Hot keys are found as `saspartitioner` finds them
/// (online heavy hitters, or static ranks; [`HotKeys`]): the true hot key of rank r picks among mask range
/// r, ε-greedy on its Q row (greedy, or a softmax at `temperature > 0`); other hot keys go to a uniformly
/// random worker; cold keys are hashed like `hash` and `saspartitioner`. After each true-hot record
/// `Q[r][w] ← (1−a)·Q + a·(1 − s)/2`, with `s = (L_w − L̄)/(1e−4 + max(L_w, L̄))` over the workers' record
/// counts in the statistics window (`saspartitioner.stats_intervals` intervals).
#[derive(Debug, Clone)]
pub struct DaltonOffline {
    n: u32,
    mask: Mask,
    /// Hot-key ranks, so the bandit explores the keys that are hot in this stream, whatever their ids.
    hot: HotKeys,
    /// First action index of each mask range (the pair of rank r and offset o is `first_pair[r] + o`).
    first_pair: Vec<usize>,
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
        let first_pair = mask
            .ranges()
            .iter()
            .scan(0, |next, r| {
                let first = *next;
                *next += r.len();
                Some(first)
            })
            .collect();
        Ok(Self {
            n: config.workers,
            hot: config.hot_keys.detector(config.workers)?,
            first_pair,
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

    /// The bandit's step for a record of the true hot key of `rank`: picks a worker of its mask range,
    /// updates that arm's Q with the load score and counts the pair.
    fn explore(&mut self, rank: usize) -> usize {
        let offset = self.pick_in_range(rank);
        let w = self.mask.ranges()[rank].start + offset;
        let loads = self.worker_stats.counts(0);
        let l_w = f64::from(loads[w]) + 1.0;
        let mean = (loads.iter().map(|&c| f64::from(c)).sum::<f64>() + 1.0) / f64::from(self.n);
        let score = (l_w - mean) / (1e-4 + l_w.max(mean));
        let q = &mut self.q[rank][offset];
        *q = (1.0 - self.learning_rate) * *q + self.learning_rate * (1.0 - score) / 2.0;
        self.pair_counts[self.first_pair[rank] + offset] += 1;
        w
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
        self.hot.observe(key);
        let w = match self.hot.rank(key) {
            Some(rank) if rank < self.mask.true_hot_keys() => self.explore(rank),
            Some(_) => self.rng.random_range(0..self.n as usize),
            None => self.cold.worker(key) as usize,
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
        self.hot.rank(key)
    }

    fn write_state(&self, w: &mut StateWriter) {
        self.hot.write_state(w);
        w.usize(self.q.len());
        self.q.iter().for_each(|row| w.f64s(row));
        self.worker_stats.write_state(w);
        w.u64s(&self.pair_counts);
        w.f64s(&self.last_action);
        w.rng(&self.rng);
    }

    fn read_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let hot = self.hot.read_state(r)?;
        let keys = r.len_exact("Q rows (the mask's true hot keys)", self.q.len(), 1)?;
        let q = (0..keys)
            .map(|k| r.finite_f64s("a Q row (its mask range)", self.q[k].len()))
            .collect::<Result<Vec<_>, _>>()?;
        let worker_stats = self.worker_stats.read_state(r)?;
        let pair_counts = r.u64s("records per mask pair", self.pair_counts.len())?;
        let last_action = r.finite_f64s("behaviour action", self.last_action.len())?;
        let rng = r.rng("random stream")?;
        r.end()?;
        self.hot = hot;
        self.q = q;
        self.worker_stats = worker_stats;
        self.pair_counts = pair_counts;
        self.last_action = last_action;
        self.rng = rng;
        Ok(())
    }
}
