//! Partitioner that routes hot keys by a routing table the policy sets, and cold keys by hash
//! (SaSPartitioner's router).

use super::{HotRouting, Partitioner, RouterConfig};
use crate::deficit::{DeficitRule, SmoothSchedule, schedule_length};
use crate::error::{ConfigError, DecodeError, StateError};
use crate::hashing::IntHashPartition;
use crate::hot_keys::HotKeys;
use crate::limits::MAX_ACTION_DIM;
use crate::mask::Mask;
use crate::routing_table::RoutingTable;
use crate::state::{StateReader, StateWriter};

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
    /// The action `table` was decoded from (`None`: the initial table), kept for saved state.
    action: Option<Vec<f64>>,
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
        Ok(Self {
            n: config.workers,
            hot: config.hot_keys.detector(config.workers)?,
            cold: IntHashPartition::new(config.workers),
            hot_count,
            routing: config.saspartitioner.hot_routing,
            deficit: DeficitRule::new(
                hot_count,
                config.workers as usize,
                config.saspartitioner.stats_intervals,
            ),
            interval_counts: vec![0; config.workers as usize],
            schedules: schedules(&table),
            table,
            action: None,
            mask,
        })
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

    /// The table an action decodes to (`None`: the initial one).
    fn table_of(&self, action: Option<&[f64]>) -> Result<RoutingTable, DecodeError> {
        match action {
            Some(action) => RoutingTable::decode(&self.mask, action, self.hot_count),
            None => Ok(RoutingTable::initial(&self.mask, self.hot_count)),
        }
    }
}

/// One unrolled schedule per hot-key row of `table` (`None` for a row routed as cold).
fn schedules(table: &RoutingTable) -> Vec<Option<SmoothSchedule>> {
    (0..table.len())
        .map(|rank| {
            table.row(rank).map(|row| {
                let width = row.iter().filter(|&&p| p > 0.0).count();
                SmoothSchedule::new(row, schedule_length(width))
            })
        })
        .collect()
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
        self.table = self.table_of(Some(action))?;
        self.schedules = schedules(&self.table);
        self.action = Some(action.to_vec());
        Ok(())
    }

    fn hot_rank(&self, key: u64) -> Option<usize> {
        self.hot.rank(key)
    }

    /// The routing table in force is saved as the action it was decoded from, and decoded again on
    /// restore (with the same checks as a policy's action).
    fn write_state(&self, w: &mut StateWriter) {
        w.bool(self.action.is_some());
        if let Some(action) = &self.action {
            w.f64s(action);
        }
        w.usize(self.schedules.len());
        for schedule in &self.schedules {
            w.option_u64(schedule.as_ref().map(|s| s.cursor() as u64));
        }
        self.deficit.write_state(w);
        self.hot.write_state(w);
        w.u64s(&self.interval_counts);
    }

    fn read_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let action = if r.bool("routing-table action")? {
            let len = r.len("routing-table action", MAX_ACTION_DIM, 8)?;
            Some(
                (0..len)
                    .map(|_| r.f64("routing-table action"))
                    .collect::<Result<Vec<f64>, _>>()?,
            )
        } else {
            None
        };
        let table = self.table_of(action.as_deref()).map_err(|e| match e {
            DecodeError::WrongDimension { expected, got } => {
                StateError::mismatch("the action dimension (the mask of `hot_keys`)", got, expected)
            }
            DecodeError::BadValue { .. } => StateError::corrupt("routing-table action", e.to_string()),
        })?;
        let mut schedules = schedules(&table);
        r.len_exact("the routing table's rows (`hot_keys.count`)", schedules.len(), 1)?;
        for (rank, schedule) in schedules.iter_mut().enumerate() {
            match (r.option_u64("schedule cursor")?, schedule) {
                (Some(cursor), Some(schedule)) => schedule.set_cursor(cursor)?,
                (None, None) => {}
                _ => {
                    return Err(StateError::corrupt(
                        "schedule cursor",
                        format!(
                            "row {rank} is cold in the table but not in the state, or the other way round"
                        ),
                    ));
                }
            }
        }
        let deficit = self.deficit.read_state(r)?;
        let hot = self.hot.read_state(r)?;
        let interval_counts = r.u64s("records per worker this interval", self.interval_counts.len())?;
        r.end()?;
        self.action = action;
        self.table = table;
        self.schedules = schedules;
        self.deficit = deficit;
        self.hot = hot;
        self.interval_counts = interval_counts;
        Ok(())
    }
}
