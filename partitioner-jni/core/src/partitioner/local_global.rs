//! Partitioner for Flink SQL's two-phase ("local-global") aggregation, as this harness runs it: records
//! reach the local aggregates in arrival order, whatever their key, and the combined partials are merged
//! by key.

use super::{Partitioner, RouterConfig};
use crate::error::StateError;
use crate::state::{StateReader, StateWriter};

/// Partitioner implementing the local phase of `table.optimizer.agg-phase-strategy: TWO_PHASE`. Flink
/// SQL combines records per key in the task that reads them (a mini-batch buffer chained to the source)
/// and hash-partitions the combined partials to the global aggregate. Here the combining runs on the
/// emulated workers, so that it pays for every record it folds from the same capacity as every other
/// partitioner's aggregate: each router deals its records out round-robin, as source splits that say
/// nothing about keys would, and the job's partial aggregate per (worker, key, window) is the local
/// combiner, flushed at the window's end; the merge, keyed by the real key, is the global aggregate.
/// Perfect balance of records; every key may reach every worker, so the merge takes up to P partials per
/// key and window.
#[derive(Debug, Clone)]
pub struct LocalGlobal {
    n: u32,
    next: u32,
}

impl LocalGlobal {
    /// A local-global partitioner over `config.workers` workers; router `config.seed` starts at worker
    /// `seed mod P`, so that several routers do not move in step.
    pub fn new(config: &RouterConfig) -> Self {
        Self {
            n: config.workers,
            next: (config.seed % u64::from(config.workers)) as u32,
        }
    }
}

impl Partitioner for LocalGlobal {
    fn name(&self) -> &'static str {
        "local-global"
    }

    fn workers(&self) -> u32 {
        self.n
    }

    #[inline]
    fn route(&mut self, _key: u64, _ts_ms: u64) -> u32 {
        let w = self.next;
        self.next = if w + 1 == self.n { 0 } else { w + 1 };
        w
    }

    fn write_state(&self, w: &mut StateWriter) {
        w.u64(u64::from(self.next));
    }

    fn read_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let next = r.u64("next worker")?;
        r.end()?;
        if next >= u64::from(self.n) {
            return Err(StateError::corrupt("next worker", format!("{next} is not below P = {}", self.n)));
        }
        self.next = next as u32;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_dealt_out_in_turn_whatever_their_key() {
        let config = RouterConfig {
            workers: 3,
            seed: 4,
            ..RouterConfig::default()
        };
        let mut p = LocalGlobal::new(&config);
        let workers: Vec<u32> = [7, 7, 7, 1, 2, 7].iter().map(|&k| p.route(k, 0)).collect();
        assert_eq!(workers, [1, 2, 0, 1, 2, 0]);
    }
}
