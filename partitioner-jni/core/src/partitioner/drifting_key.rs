//! Partitioner that isolates the drifting key of the `zipf-drifting-key` workload on worker 0 and hashes
//! every other key over workers `1..P` (an oracle/control for that workload).

use super::{Partitioner, RouterConfig};
use crate::error::ConfigError;
use crate::hashing::IntHashPartition;

/// Partitioner that knows which key drifts: key `num_keys` goes to worker 0, any other key to
/// `floorMod(hash(key), P−1) + 1`, as the prototype's `DriftingKeyPartitioner`.
#[derive(Debug, Clone)]
pub struct DriftingKey {
    n: u32,
    drifting_key: u64,
    others: IntHashPartition,
}

impl DriftingKey {
    /// A drifting-key partitioner; needs at least two workers.
    pub fn new(config: &RouterConfig) -> Result<Self, ConfigError> {
        if config.workers < 2 {
            return Err(ConfigError::invalid(
                "workers",
                config.workers,
                "drifting-key needs at least 2",
            ));
        }
        Ok(Self {
            n: config.workers,
            drifting_key: config.num_keys,
            others: IntHashPartition::new(config.workers - 1),
        })
    }
}

impl Partitioner for DriftingKey {
    fn name(&self) -> &'static str {
        "drifting-key"
    }

    fn workers(&self) -> u32 {
        self.n
    }

    #[inline]
    fn route(&mut self, key: u64, _ts_ms: u64) -> u32 {
        if key == self.drifting_key {
            0
        } else {
            self.others.worker(key) + 1
        }
    }

    fn splits_keys(&self) -> bool {
        false
    }
}
