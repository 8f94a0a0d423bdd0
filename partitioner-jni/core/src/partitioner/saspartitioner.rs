//! Partitioner that routes hot keys by a routing table the policy sets, and cold keys by hash
//! (SaSPartitioner's router).

use super::{HotRouting, Partitioner, RouterConfig};
use crate::deficit::{DeficitRule, SmoothSchedule, schedule_length};
use crate::error::{ConfigError, DecodeError};
use crate::hashing::IntHashPartition;
use crate::hot_keys::HotKeys;
use crate::mask::Mask;
use crate::routing_table::RoutingTable;

/// Partitioner implementing the SaS router. A hot key of rank `r` follows row `r` of the routing table
/// (target shares over its mask range, see [`RoutingTable`]); a cold key, or a hot key whose row is all
/// zeros, is hashed like `hash`. Without an action the table is the initial one: uniform inside each
/// mask range. Hot keys are static ranks or found online ([`HotKeys`]); the per-record rule is an unrolled
/// smooth weighted round-robin (default) or the prototype's deficit rule over sliding statistics.
#[derive(Debug)]
pub struct SasPartitioner {
    n: u32,
    mask: Mask,
    hot: HotKeys,
    cold: IntHashPartition,
    hot_count: usize,
    table: RoutingTable,
    routing: HotRouting,
    schedules: Vec<Option<SmoothSchedule>>,
    deficit: DeficitRule,
    /// Records per worker in the current interval (what the router reports to the agent).
    interval_counts: Vec<u64>,
}

impl SasPartitioner {
    /// A SaS router with the mask and hot-key detection of `config.hot_keys`.
    pub fn new(config: &RouterConfig) -> Result<Self, ConfigError> {
        let mask = config.hot_keys.mask(config.workers)?;
        let hot_count = config.hot_keys.count.max(mask.true_hot_keys());
        let table = RoutingTable::initial(&mask, hot_count);
        let mut router = Self {
            n: config.workers,
            hot: config.hot_keys.detector(config.workers)?,
            cold: IntHashPartition::new(config.workers),
            hot_count,
            routing: config.saspartitioner.hot_routing,
            schedules: Vec::new(),
            deficit: DeficitRule::new(
                hot_count,
                config.workers as usize,
                config.saspartitioner.stats_intervals,
            ),
            interval_counts: vec![0; config.workers as usize],
            table,
            mask,
        };
        router.rebuild_schedules();
        Ok(router)
    }

    /// The mask, which fixes the action layout.
    pub fn mask(&self) -> &Mask {
        &self.mask
    }

    /// The routing table in force.
    pub fn table(&self) -> &RoutingTable {
        &self.table
    }

    /// Records per worker since the last [`Partitioner::end_interval`].
    pub fn interval_counts(&self) -> &[u64] {
        &self.interval_counts
    }

    fn rebuild_schedules(&mut self) {
        self.schedules = (0..self.table.len())
            .map(|rank| {
                self.table.row(rank).map(|row| {
                    let width = row.iter().filter(|&&p| p > 0.0).count();
                    SmoothSchedule::new(row, schedule_length(width))
                })
            })
            .collect();
    }
}

impl Partitioner for SasPartitioner {
    fn name(&self) -> &'static str {
        "saspartitioner"
    }

    fn workers(&self) -> u32 {
        self.n
    }

    #[inline]
    fn route(&mut self, key: u64, _ts_ms: u64) -> u32 {
        self.hot.observe(key);
        let hot_worker = self.hot.rank(key).and_then(|rank| match self.routing {
            HotRouting::Schedule => self
                .schedules
                .get_mut(rank)?
                .as_mut()
                .map(SmoothSchedule::next_worker),
            HotRouting::Deficit => {
                let row = self.table.row(rank)?;
                Some(self.deficit.route(rank, row) as u32)
            }
        });
        let w = hot_worker.unwrap_or_else(|| self.cold.worker(key));
        self.interval_counts[w as usize] += 1;
        w
    }

    fn end_interval(&mut self, _loads: &[f64]) {
        self.interval_counts.fill(0);
        self.deficit.new_slide();
    }

    fn apply_action(&mut self, action: &[f64]) -> Result<(), DecodeError> {
        self.table = RoutingTable::decode(&self.mask, action, self.hot_count)?;
        self.rebuild_schedules();
        Ok(())
    }

    fn hot_rank(&self, key: u64) -> Option<usize> {
        self.hot.rank(key)
    }
}
