//! Partitioner that learns where to send hot keys with Dalton's contextual bandit, rewarding balance of
//! windowed record counts and penalising fragmentation (Zapridou et al., VLDB 2023).

use super::dalton_bandit::DaltonBandit;
use super::{Partitioner, RouterConfig};
use crate::error::{ConfigError, StateError};
use crate::state::{StateReader, StateWriter};

/// Partitioner implementing Dalton as published: hot keys by interval, ε-greedy Q-learning per hot key,
/// load = the worker's record count in the aggregation window; cold keys to `key mod P`.
#[derive(Debug, Clone)]
pub struct DaltonOriginal {
    bandit: DaltonBandit,
}

impl DaltonOriginal {
    /// A Dalton partitioner with ε, step size and `maxSplit` from `config.dalton`.
    pub fn new(config: &RouterConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            bandit: DaltonBandit::new(config, 2)?,
        })
    }

    /// The Q row of a hot key (for tests and inspection).
    pub fn q_row(&self, key: u64) -> Option<&[f64]> {
        self.bandit.q_row(key)
    }

    /// The current split limit for exploration.
    pub fn max_split(&self) -> usize {
        self.bandit.max_split
    }
}

impl Partitioner for DaltonOriginal {
    fn name(&self) -> &'static str {
        "dalton-original"
    }

    fn workers(&self) -> u32 {
        self.bandit.loads.loads().len() as u32
    }

    fn route(&mut self, key: u64, ts_ms: u64) -> u32 {
        self.bandit.route(key, ts_ms, None)
    }

    fn write_state(&self, w: &mut StateWriter) {
        self.bandit.write_state(w);
    }

    fn read_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let bandit = self.bandit.read_state(r)?;
        r.end()?;
        self.bandit = bandit;
        Ok(())
    }
}
