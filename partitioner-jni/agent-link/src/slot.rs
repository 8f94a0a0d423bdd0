//! The table slot: the newest routing table, published by the link's task and taken by routers.
//!
//! Readers poll [`TableSlot::version`], one atomic load; the mutex is touched only when the version
//! changed, once per table, so the record path never waits on the network side.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One routing table from the agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// The step it answers (0 = a session's initial table).
    pub step: u64,
    /// Version of the policy weights that produced it.
    pub model_version: u64,
    /// The action in mask order, env space [0, 1].
    pub action: Vec<f64>,
}

/// The newest table and a version counter bumped on every publish.
#[derive(Debug, Default)]
pub struct TableSlot {
    version: AtomicU64,
    // A std Mutex, not a lock-free cell: it is taken once per table by each router and once per table by
    // the publisher, never on the record path.
    table: Mutex<Arc<Table>>,
}

impl TableSlot {
    /// Tables published so far (0 = none yet).
    #[inline]
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Replaces the table and bumps the version.
    pub fn publish(&self, table: Table) {
        let mut slot = self.lock();
        *slot = Arc::new(table);
        // Bumped under the lock, so `load` always pairs a version with its own table.
        self.version.fetch_add(1, Ordering::Release);
    }

    /// The newest table and its version.
    pub fn load(&self) -> (u64, Arc<Table>) {
        let slot = self.lock();
        (self.version(), slot.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Arc<Table>> {
        // Nothing panics while holding the lock (an assignment and a clone); recover rather than fail.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_pair_with_their_tables() {
        let slot = TableSlot::default();
        assert_eq!(slot.version(), 0);
        slot.publish(Table {
            step: 3,
            model_version: 1,
            action: vec![0.5],
        });
        let (v, t) = slot.load();
        assert_eq!((v, t.step), (1, 3));
        slot.publish(Table::default());
        assert_eq!(slot.load().0, 2);
    }
}
