//! Partitioner that runs Dalton's bandit with measured worker load (busy time) in the reward instead of
//! record counts (the prototype's `dalton-metrics` variant).

use super::dalton_bandit::DaltonBandit;
use super::{Partitioner, RouterConfig};
use crate::error::ConfigError;

/// Partitioner implementing Dalton with load feedback: the load term of the reward compares the chosen
/// worker's last reported load (from [`Partitioner::end_interval`]) with the mean. Until the first report
/// it uses windowed record counts. The prototype's copy crashed its reporting thread on the first report
/// and so rewarded nothing but fragmentation; this one receives every report.
#[derive(Debug, Clone)]
pub struct DaltonMetrics {
    bandit: DaltonBandit,
    reported: Option<Vec<f64>>,
    reported_mean: f64,
}

impl DaltonMetrics {
    /// A Dalton-with-metrics partitioner.
    pub fn new(config: &RouterConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            bandit: DaltonBandit::new(config, 3)?,
            reported: None,
            reported_mean: 0.0,
        })
    }
}

impl Partitioner for DaltonMetrics {
    fn name(&self) -> &'static str {
        "dalton-metrics"
    }

    fn workers(&self) -> u32 {
        self.bandit.loads.loads().len() as u32
    }

    fn route(&mut self, key: u64, ts_ms: u64) -> u32 {
        match &self.reported {
            Some(loads) => self.bandit.route(key, ts_ms, |w, _| loads[w], self.reported_mean),
            None => {
                let mean = (self.bandit.loads.sum() + 1) as f64 / self.bandit.loads.loads().len() as f64;
                self.bandit.route(key, ts_ms, |w, loads| loads[w] as f64, mean)
            }
        }
    }

    fn end_interval(&mut self, loads: &[f64]) {
        // A report of the wrong size or with non-finite values is ignored rather than trusted.
        if loads.len() == self.bandit.loads.loads().len() && loads.iter().all(|x| x.is_finite()) {
            self.reported_mean = loads.iter().sum::<f64>() / loads.len() as f64;
            self.reported = Some(loads.to_vec());
        }
    }
}
