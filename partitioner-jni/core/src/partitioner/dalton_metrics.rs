//! Partitioner that runs Dalton's bandit with measured worker load (busy time) in the reward instead of
//! record counts (the prototype's `dalton-metrics` variant).

use super::dalton_bandit::DaltonBandit;
use super::{Partitioner, RouterConfig};
use crate::error::{ConfigError, StateError};
use crate::state::{StateReader, StateWriter};

/// Partitioner implementing Dalton with load feedback. Each reported interval gives every worker a cost
/// per record (its load over the interval divided by the records this router sent it, normalised to mean
/// 1); the reward's load term then compares cost-weighted windowed record counts, so a slow worker looks
/// as loaded as it is. With equal costs it follows the same rule as `dalton-original` (its random
/// stream differs). The prototype's copy
/// crashed its reporting thread on the first report and so never used load at all; using the stale busy
/// time alone would freeze the argmax for a whole interval.
#[derive(Debug, Clone)]
pub struct DaltonMetrics {
    bandit: DaltonBandit,
    /// Records sent to each worker in the current interval.
    sent: Vec<u64>,
    /// Cost of one record per worker (mean 1), from the last report; `None` before the first.
    cost: Option<Vec<f64>>,
}

impl DaltonMetrics {
    /// A Dalton-with-metrics partitioner.
    pub fn new(config: &RouterConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            bandit: DaltonBandit::new(config, 3)?,
            sent: vec![0; config.workers as usize],
            cost: None,
        })
    }

    /// The per-record cost of each worker from the last report (mean 1).
    pub fn cost(&self) -> Option<&[f64]> {
        self.cost.as_deref()
    }
}

impl Partitioner for DaltonMetrics {
    fn name(&self) -> &'static str {
        "dalton-metrics"
    }

    fn workers(&self) -> u32 {
        self.sent.len() as u32
    }

    fn route(&mut self, key: u64, ts_ms: u64) -> u32 {
        let w = self.bandit.route(key, ts_ms, self.cost.as_deref());
        self.sent[w as usize] += 1;
        w
    }

    fn end_interval(&mut self, loads: &[f64]) {
        // A report of the wrong size or with non-finite or negative values is ignored rather than trusted;
        // a worker that received nothing keeps its previous cost.
        let valid = loads.len() == self.sent.len() && loads.iter().all(|x| x.is_finite() && *x >= 0.0);
        if valid {
            let previous = self.cost.take().unwrap_or_else(|| vec![1.0; loads.len()]);
            let raw: Vec<f64> = loads
                .iter()
                .zip(&self.sent)
                .zip(&previous)
                .map(|((&load, &sent), &old)| if sent == 0 { old } else { load / sent as f64 })
                .collect();
            let mean = raw.iter().sum::<f64>() / raw.len() as f64;
            self.cost = Some(if mean > 0.0 {
                raw.iter().map(|c| c / mean).collect()
            } else {
                previous
            });
        }
        self.sent.fill(0);
    }

    fn write_state(&self, w: &mut StateWriter) {
        self.bandit.write_state(w);
        w.u64s(&self.sent);
        w.bool(self.cost.is_some());
        if let Some(cost) = &self.cost {
            w.f64s(cost);
        }
    }

    fn read_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let n = self.sent.len();
        let bandit = self.bandit.read_state(r)?;
        let sent = r.u64s("records sent per worker this interval", n)?;
        let cost = if r.bool("cost per record")? {
            let cost = r.finite_f64s("cost per record", n)?;
            if let Some(c) = cost.iter().find(|&&c| c < 0.0) {
                return Err(StateError::corrupt("cost per record", format!("{c} is negative")));
            }
            Some(cost)
        } else {
            None
        };
        r.end()?;
        self.bandit = bandit;
        self.sent = sent;
        self.cost = cost;
        Ok(())
    }
}
