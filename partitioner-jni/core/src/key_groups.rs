//! Flink's key-group arithmetic and the per-worker inverse key table.
//!
//! A router emits `(worker, record)`; the job then `keyBy`s on an integer key chosen so that Flink's
//! key-group assignment lands the record on subtask `worker`. With `maxParallelism == parallelism == P`,
//! key `k` goes to subtask `flink_murmur(k) % P`; [`WorkerKeyTable`] holds, for every worker, the smallest
//! non-negative `k` that lands there.

use crate::hashing::flink_murmur;

/// Flink's `KeyGroupRangeAssignment.assignToKeyGroup` for an object whose `hashCode` is `hash_code`.
pub fn key_group(hash_code: i32, max_parallelism: u32) -> u32 {
    (flink_murmur(hash_code) % max_parallelism as i32) as u32
}

/// Flink's `computeOperatorIndexForKeyGroup`: the subtask that owns `key_group`.
pub fn operator_index(key_group: u32, max_parallelism: u32, parallelism: u32) -> u32 {
    (u64::from(key_group) * u64::from(parallelism) / u64::from(max_parallelism)) as u32
}

/// For every worker `w < P`, the integer key whose `keyBy` lands on subtask `w` when
/// `maxParallelism == parallelism == P`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerKeyTable {
    keys: Vec<i32>,
}

impl WorkerKeyTable {
    /// Scans `k = 0, 1, 2, …` and records the first `k` seen for each residue. Every residue is reached
    /// quickly in practice (a few times `P log P` keys), so the scan is bounded generously and never fails
    /// for the worker counts Flink supports (up to 32768).
    pub fn new(workers: u32) -> Self {
        assert!(workers > 0, "worker count must be > 0");
        let mut keys = vec![-1; workers as usize];
        let mut missing = workers;
        let mut k: i32 = 0;
        while missing > 0 {
            let w = key_group(k, workers) as usize;
            if keys[w] < 0 {
                keys[w] = k;
                missing -= 1;
            }
            // Cannot overflow: 2^31 keys cover every residue of any P ≤ 32768 many times over.
            k += 1;
        }
        Self { keys }
    }

    /// The key for `worker`, or `None` when `worker >= P`.
    pub fn key_of(&self, worker: u32) -> Option<i32> {
        self.keys.get(worker as usize).copied()
    }

    /// All keys, indexed by worker.
    pub fn keys(&self) -> &[i32] {
        &self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors of the prototype's Java `UniformKeyExtractor`.
    #[test]
    fn uniform_key_extractor_vectors() {
        assert_eq!(WorkerKeyTable::new(4).keys(), &[16, 3, 0, 2]);
        assert_eq!(WorkerKeyTable::new(8).keys(), &[45, 3, 6, 9, 16, 27, 0, 2]);
    }

    #[test]
    fn every_key_lands_on_its_worker() {
        for p in [1u32, 3, 16, 128, 1000] {
            let table = WorkerKeyTable::new(p);
            for w in 0..p {
                let kg = key_group(table.key_of(w).unwrap(), p);
                assert_eq!(operator_index(kg, p, p), w);
            }
            assert_eq!(table.key_of(p), None);
        }
    }
}
