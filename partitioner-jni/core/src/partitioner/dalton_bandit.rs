//! The contextual bandit behind Dalton (Zapridou, Mytilinis, Ailamaki, VLDB 2023), shared by
//! `dalton-original` (load = windowed record counts) and `dalton-metrics` (load = reported busy time).
//!
//! Context: the hot key; arms: the workers; ε-greedy with a constant step size:
//! `Q[k][w] ← (1−a)·Q[k][w] + a·r`, `r = −(0.5·(L_w − L̄)/max(L_w, L̄) + 0.5·|F(k)|/P)`.
//! Exploration of a key already split over `max_split` workers stays among those workers; `max_split`
//! grows by one (up to its cap) when at least 70 % of the hot keys have reached it.

use super::{RouterConfig, rng};
use crate::error::{ConfigError, StateError};
use crate::fast_map::KeyMap;
use crate::interval_hot::IntervalHotKeys;
use crate::state::{StateReader, StateWriter};
use crate::window::{WindowedLoads, WindowedPresence};
use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Bandit state of one Dalton router.
#[derive(Debug, Clone)]
pub(crate) struct DaltonBandit {
    n: u32,
    epsilon: f64,
    learning_rate: f64,
    initial_q: f64,
    pub(crate) max_split: usize,
    max_split_cap: usize,
    hot: IntervalHotKeys,
    q: KeyMap<u64, Vec<f64>>,
    /// Q rows of keys that went cold, reused for keys that turn hot so the record path does not allocate.
    spare_rows: Vec<Vec<f64>>,
    pub(crate) loads: WindowedLoads,
    presence: WindowedPresence,
    holders: Vec<u32>,
    rng: Xoshiro256PlusPlus,
}

impl DaltonBandit {
    pub(crate) fn new(config: &RouterConfig, salt: u64) -> Result<Self, ConfigError> {
        let n = config.workers as usize;
        let d = &config.dalton;
        Ok(Self {
            n: config.workers,
            epsilon: d.epsilon,
            learning_rate: d.learning_rate,
            initial_q: d.initial_q,
            max_split: d.max_split,
            max_split_cap: d.max_split_cap,
            hot: IntervalHotKeys::new(config.workers, config.slide_ms),
            q: KeyMap::default(),
            spare_rows: Vec::new(),
            loads: WindowedLoads::new(n, config.window()),
            presence: WindowedPresence::new(n, config.window()),
            holders: Vec::with_capacity(n),
            rng: rng(config.seed, salt),
        })
    }

    /// The Q row of `key`, if it is a hot key the bandit tracks.
    pub(crate) fn q_row(&self, key: u64) -> Option<&[f64]> {
        self.q.get(&key).map(Vec::as_slice)
    }

    /// Routes one record. The reward's load of worker `w` is its record count in the window, times
    /// `cost[w]` (the measured cost of one record on `w`, mean 1) when costs are given.
    pub(crate) fn route(&mut self, key: u64, ts_ms: u64, cost: Option<&[f64]>) -> u32 {
        let (hot, rolled) = self.hot.observe(key, ts_ms);
        self.loads.advance(ts_ms);
        self.presence.advance(ts_ms);
        if rolled {
            self.end_hot_interval(ts_ms);
        }
        let default = (key % u64::from(self.n)) as usize;
        if !hot {
            self.loads.add(default);
            return default as u32;
        }
        let n = self.n as usize;
        let initial_q = self.initial_q;
        let spare_rows = &mut self.spare_rows;
        let row = self.q.entry(key).or_insert_with(|| match spare_rows.pop() {
            Some(mut row) => {
                row.fill(initial_q);
                row
            }
            None => vec![initial_q; n],
        });
        let w = if self.rng.random::<f64>() >= self.epsilon {
            // Exploit: argmax Q, scanning from the default worker so it wins ties.
            (0..n)
                .map(|i| (default + i) % n)
                .fold(default, |best, w| if row[w] > row[best] { w } else { best })
        } else {
            self.holders.clear();
            let holders = &mut self.holders;
            self.presence.for_each_holder(key, |w| holders.push(w));
            if self.holders.len() >= self.max_split {
                self.holders[self.rng.random_range(0..self.holders.len())] as usize
            } else {
                self.rng.random_range(0..n)
            }
        };
        self.loads.add(w);
        self.presence.add(key, w as u32);
        let loads = self.loads.loads();
        let (l_w, mean_load) = match cost {
            Some(cost) => {
                let weighted: f64 = loads.iter().zip(cost).map(|(&l, &c)| l as f64 * c).sum();
                (loads[w] as f64 * cost[w], weighted / n as f64)
            }
            None => (loads[w] as f64, self.loads.sum() as f64 / n as f64),
        };
        let cost_map = if l_w.max(mean_load) > 0.0 {
            (l_w - mean_load) / l_w.max(mean_load)
        } else {
            0.0
        };
        let cost_reduce = self.presence.fragmentation(key) as f64 / n as f64;
        let reward = -(0.5 * cost_map + 0.5 * cost_reduce);
        let q = &mut row_mut(&mut self.q, key)[w];
        *q = (1.0 - self.learning_rate) * *q + self.learning_rate * reward;
        w as u32
    }

    /// Saves the split limit, the hot keys, the Q rows, the window's loads and holdings, and the random
    /// stream.
    pub(crate) fn write_state(&self, w: &mut StateWriter) {
        w.usize(self.max_split);
        self.hot.write_state(w);
        w.map(&self.q, |w, row| row.iter().for_each(|&q| w.f64(q)));
        self.loads.write_state(w);
        self.presence.write_state(w);
        w.rng(&self.rng);
    }

    /// Reads what [`write_state`](Self::write_state) wrote into a bandit with this one's settings.
    pub(crate) fn read_state(&self, r: &mut StateReader<'_>) -> Result<Self, StateError> {
        let n = self.n as usize;
        let max_split = r.u64("max split")?;
        if max_split == 0 || max_split > self.max_split_cap as u64 {
            return Err(StateError::corrupt(
                "max split",
                format!(
                    "{max_split}, outside 1..=`dalton.max_split_cap` = {}",
                    self.max_split_cap
                ),
            ));
        }
        let hot = self.hot.read_state(r)?;
        // A row is P values of 8 bytes; rows as long as the record path makes them.
        let q = r.map("Q rows", 1 + 8 * n, |r| {
            (0..n)
                .map(|_| r.finite_f64("a Q value"))
                .collect::<Result<Vec<f64>, _>>()
        })?;
        let loads = self.loads.read_state(r)?;
        let presence = self.presence.read_state(r)?;
        let rng = r.rng("random stream")?;
        Ok(Self {
            max_split: max_split as usize,
            hot,
            q,
            spare_rows: Vec::new(),
            loads,
            presence,
            holders: Vec::with_capacity(n),
            rng,
            ..*self
        })
    }

    /// Drops the Q rows of keys that are no longer hot and grows `max_split` when most hot keys hit it.
    fn end_hot_interval(&mut self, ts_ms: u64) {
        let hot = &self.hot;
        self.spare_rows.extend(
            self.q
                .extract_if(|&k, _| !hot.is_hot(k, ts_ms))
                .map(|(_, row)| row),
        );
        if self.q.is_empty() {
            return;
        }
        let at_cap = self
            .q
            .keys()
            .filter(|&&k| self.presence.fragmentation(k) >= self.max_split)
            .count();
        if at_cap * 10 >= self.q.len() * 7 && self.max_split < self.max_split_cap {
            self.max_split += 1;
        }
    }
}

fn row_mut(q: &mut KeyMap<u64, Vec<f64>>, key: u64) -> &mut Vec<f64> {
    // The row was inserted by `route` just before; it cannot be missing.
    q.get_mut(&key).expect("Q row exists for a routed hot key")
}
