//! Partitioner that sends each record to a uniformly random worker, ignoring the key (Flink's `shuffle`).

use super::{Partitioner, RouterConfig, rng};
use crate::error::StateError;
use crate::state::{StateReader, StateWriter};
use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Partitioner that picks a uniformly random worker per record, seeded from the config. Perfect balance,
/// maximal fragmentation: the lower bound on imbalance and the upper bound on merge cost.
#[derive(Debug, Clone)]
pub struct Shuffle {
    n: u32,
    rng: Xoshiro256PlusPlus,
}

impl Shuffle {
    /// A shuffle partitioner over `config.workers` workers.
    pub fn new(config: &RouterConfig) -> Self {
        Self {
            n: config.workers,
            rng: rng(config.seed, 1),
        }
    }
}

impl Partitioner for Shuffle {
    fn name(&self) -> &'static str {
        "shuffle"
    }

    fn workers(&self) -> u32 {
        self.n
    }

    #[inline]
    fn route(&mut self, _key: u64, _ts_ms: u64) -> u32 {
        self.rng.random_range(0..self.n)
    }

    fn write_state(&self, w: &mut StateWriter) {
        w.rng(&self.rng);
    }

    fn read_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let rng = r.rng("random stream")?;
        r.end()?;
        self.rng = rng;
        Ok(())
    }
}
