//! Partitioner that sends every record of a key to one worker: `floorMod(murmur3(key), P)` (key grouping).

use super::{Partitioner, RouterConfig};
use crate::hashing::IntHashPartition;

/// Partitioner that hashes the key to one worker, as the prototype's `hash` baseline (same hash, seed
/// 38324, so worker ids match it for integer keys).
#[derive(Debug, Clone)]
pub struct Hash {
    n: u32,
    partition: IntHashPartition,
}

impl Hash {
    /// A hash partitioner over `config.workers` workers.
    pub fn new(config: &RouterConfig) -> Self {
        Self {
            n: config.workers,
            partition: IntHashPartition::new(config.workers),
        }
    }
}

impl Partitioner for Hash {
    fn name(&self) -> &'static str {
        "hash"
    }

    fn workers(&self) -> u32 {
        self.n
    }

    #[inline]
    fn route(&mut self, key: u64, _ts_ms: u64) -> u32 {
        self.partition.worker(key)
    }

    fn splits_keys(&self) -> bool {
        false
    }
}
