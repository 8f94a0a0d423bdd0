//! The simulator's settings and their validation.

use crate::env::features::{FeatureError, InitialPerf};
use sas_router::ConfigError;
use sas_router::hot_keys::OnlineHotKeyConfig;
use sas_router::limits::MAX_CAPACITY_CHANGES;
use sas_router::params::{CapacityConfig, Params, Task, key_cost_draw};
use sas_router::partitioner::{HotKeyMode, RouterConfig, SasPartitioner};
use sas_router::workload::WorkloadConfig;
#[cfg(test)]
use sas_router::workload::ZipfPhase;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Simulated time of one step, ms: a step routes one second of event time, and the simulator takes it
/// for one second of the job's wall-clock time too (the stream keeps up with its event-time rate).
pub const STEP_MS: u64 = 1000;

/// The task whose merge cost a world charges when `capacity.partial_cost` is not given: the default
/// benchmark's (a world read from params has its job's cost, [`SimConfig::from_params`]).
pub const DEFAULT_TASK: Task = Task::Wordcount;

/// Everything the simulator needs; one seed drives the capacities, the stream and the router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Number of workers P. Default 32.
    pub workers: u32,
    /// Number of distinct keys K. Default: the workload's, 100 000.
    pub keys: u64,
    /// Zipf exponent α of the stream (0 = uniform keys). Default: the workload's, 1.5.
    pub alpha: f64,
    /// The stream, when it is not the generated Zipf(`alpha`) over `keys`: any workload of the router
    /// core (`file`, `text`, `zipf` with `shuffle_keys`, `zipf-sequence`, `zipf-drifting-key`), replayed
    /// record by record in its own order (a key file's bursts included). Its `rate` is replaced by
    /// `records_per_step`, so a step stays one second of event time; its `seed` is kept. `alpha_shift`
    /// and `drifting_hot_key` scenarios change the generated stream and cannot be combined with it.
    /// Default none.
    pub workload: Option<WorkloadConfig>,
    /// Hot keys (rows of the routing table). Default: the router's, 10.
    pub hot_keys: usize,
    /// How the simulated routers find their hot keys: `online` (the router core's heavy-hitter detector,
    /// as the live router runs it, for any keys) or `static` (keys `0..hot_keys` by rank, a shortcut true
    /// of the unshuffled generated stream only). Default: the router's, online.
    pub hot_key_mode: HotKeyMode,
    /// Settings of online detection (`router.hot_keys.online` of params). Default: the router's.
    pub online_hot_keys: OnlineHotKeyConfig,
    /// True hot keys of the mask; 0 = the mask heuristic decides. Default 0.
    pub true_hot_keys: usize,
    /// Leading true hot keys the mask allows on every worker. Default 0.
    pub spread_keys: usize,
    /// Zipf exponent the mask is drawn for when `mask_shares` is empty; `None` = `alpha`. Needed when
    /// `alpha` is 0. It stays fixed through an `alpha_shift`: the mask is the action layout and cannot
    /// change under a policy.
    pub mask_alpha: Option<f64>,
    /// Measured share of each hot rank (`router.hot_keys.shares` of params, `hot_keys` values), which the
    /// mask is drawn from instead of `mask_alpha` when given. Default empty.
    pub mask_shares: Vec<f64>,
    /// Worker capacities are drawn uniformly from `[1 − s, 1 + s]`, `s` in `[0, 1)`. Default 0.
    pub capacity_spread: f64,
    /// What the workers' capacity is charged, in the job params' own type (`capacity:` of a params
    /// file), so a params file means the same world here and in the Flink job:
    /// * `factors`: fixed multipliers, one per worker, on top of the draw (empty = all 1);
    /// * `changes`: from `after_ms` of simulated time on, each change's factors replace them (step `s`
    ///   starts at `s ×` [`STEP_MS`] ms; the job counts wall-clock time after a worker's first record);
    /// * `key_cost`: a record of a key whose [`key_cost_draw`] is below `share` costs `factor` units;
    /// * `partial_cost`: units one (key, worker) partial costs the worker that merges the key, at
    ///   each window's end; none = [`DEFAULT_TASK`]'s calibrated cost ([`SimConfig::partial_cost`]).
    ///
    /// `units_per_second` plays no part: the load's level is [`SimConfig::utilisation`]. Default: all
    /// workers equal, every key one unit, the default task's partial cost.
    pub capacity: CapacityConfig,
    /// Length of the job's aggregation windows, ms of event time (`window_ms` of params): each window's
    /// partials are merged once. Default: the router's, 1000.
    pub window_ms: u64,
    /// Slide of the windows, ms (`slide_ms` of params): a window ends every `slide_ms`. Default: the
    /// router's, 250.
    pub slide_ms: u64,
    /// Records routed per step; one step is one second of event time (the job's `workload.rate`).
    /// Default 20 000.
    pub records_per_step: u64,
    /// The load's level: every worker's busy ratio when the records' own work (their key costs) is
    /// spread in proportion to the workers' capacities at step 0, in `(0, 1]`. The stream's rate stays
    /// at that level when capacities change later, and merges come on top of it. Default 0.7.
    pub utilisation: f64,
    /// When set, every logical episode draws its utilisation uniformly from `[utilisation,
    /// utilisation_max]` (at most 1.5; above 1 the stream is back-pressured), so a policy sees the loads
    /// of a rate ramp, not one operating point. Default none.
    pub utilisation_max: Option<f64>,
    /// Baseline perf of the reward (`f = (initial_perf − perf)/initial_perf`), > 0. Default 0.6.
    pub initial_perf: f64,
    /// Steps per logical episode; the last one is truncated. Default 128.
    pub episode_length: u64,
    /// Seed of the capacities, the stream and the router. Default 0.
    pub seed: u64,
    /// Changes during the run, applied together. Default none.
    pub scenarios: Vec<Scenario>,
}

impl Default for SimConfig {
    fn default() -> Self {
        // The world's defaults are the router core's (stream and hot keys), so a simulated world and a
        // job's params that leave the same keys out describe the same thing.
        let router = RouterConfig::default();
        let stream = WorkloadConfig::default();
        Self {
            workers: 32,
            keys: stream.keys,
            alpha: stream.alpha,
            workload: None,
            hot_keys: router.hot_keys.count,
            hot_key_mode: router.hot_keys.mode,
            online_hot_keys: router.hot_keys.online,
            true_hot_keys: router.hot_keys.true_hot_keys,
            spread_keys: router.hot_keys.spread_keys,
            mask_alpha: None,
            mask_shares: router.hot_keys.shares,
            capacity_spread: 0.0,
            capacity: CapacityConfig::default(),
            window_ms: router.window_ms,
            slide_ms: router.slide_ms,
            records_per_step: 20_000,
            utilisation: 0.7,
            utilisation_max: None,
            initial_perf: 0.6,
            episode_length: 128,
            seed: 0,
            scenarios: Vec::new(),
        }
    }
}

/// A change of the simulated world during a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Scenario {
    /// From step `at_step` on, the stream's Zipf exponent is `new_alpha` (the mask does not change).
    AlphaShift {
        /// First step with the new exponent.
        at_step: u64,
        /// The new exponent (≥ 0).
        new_alpha: f64,
    },
    /// An extra key (id `keys`, hashed like any cold key) whose share of the stream jumps every
    /// `every_steps` steps between a high band `[mid, max_share)` and a low band `[min_share, mid)`
    /// (the router core's `zipf-drifting-key` workload).
    DriftingHotKey {
        /// Lowest share of the drifting key, in `[0, 1)`.
        min_share: f64,
        /// Highest share, in `(min_share, 1]`.
        max_share: f64,
        /// Steps between two jumps (> 0).
        every_steps: u64,
    },
    /// From step `at_step` on, worker `worker` runs at `factor` times its capacity (`factor` > 0; below 1
    /// is slower).
    SlowWorker {
        /// The worker (< `workers`).
        worker: u32,
        /// Capacity multiplier.
        factor: f64,
        /// First slow step.
        at_step: u64,
    },
}

impl Scenario {
    /// Shifts that cycle the stream through `base` and then `cycle`, `every` steps each, over `steps`
    /// steps (none when `cycle` is empty or `every` is 0): a world whose skew keeps changing.
    pub fn alpha_cycle(base: f64, cycle: &[f64], every: u64, steps: u64) -> Vec<Self> {
        if cycle.is_empty() || every == 0 {
            return Vec::new();
        }
        let exponents: Vec<f64> = std::iter::once(base).chain(cycle.iter().copied()).collect();
        (1..=steps / every)
            .map(|k| Self::AlphaShift {
                at_step: k * every,
                new_alpha: exponents[k as usize % exponents.len()],
            })
            .collect()
    }
}

/// The simulator could not be built.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum SimError {
    /// A setting is out of range.
    #[error("invalid `{key}` = {value}: {reason}")]
    Invalid {
        /// The setting, as in the config file (`scenarios[i].field` for a scenario).
        key: String,
        /// Its value, printed.
        value: String,
        /// What is allowed.
        reason: &'static str,
    },
    /// The router core rejected the derived router or workload settings.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The reward's baseline is unusable.
    #[error(transparent)]
    Features(#[from] FeatureError),
}

fn invalid(key: impl Into<String>, value: impl ToString, reason: &'static str) -> SimError {
    SimError::Invalid {
        key: key.into(),
        value: value.to_string(),
        reason,
    }
}

impl SimConfig {
    /// Checks every setting; the error names the first bad one.
    ///
    /// # Errors
    /// [`SimError::Invalid`] naming the key, or [`SimError::Config`] from the router core.
    pub fn validate(&self) -> Result<(), SimError> {
        if self.workers == 0 || self.workers > 32_768 {
            return Err(invalid("workers", self.workers, "must be in 1..=32768"));
        }
        if self.keys == 0 {
            return Err(invalid("keys", self.keys, "must be > 0"));
        }
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return Err(invalid("alpha", self.alpha, "must be finite and >= 0"));
        }
        if self.hot_keys == 0 {
            return Err(invalid("hot_keys", self.hot_keys, "must be > 0"));
        }
        let mask_alpha = self.mask_alpha();
        if self.mask_shares.is_empty() && !(mask_alpha.is_finite() && mask_alpha > 0.0) {
            return Err(invalid(
                "mask_alpha",
                mask_alpha,
                "must be finite and > 0 (set it when alpha is 0)",
            ));
        }
        if !(0.0..1.0).contains(&self.capacity_spread) {
            return Err(invalid(
                "capacity_spread",
                self.capacity_spread,
                "must be in [0, 1)",
            ));
        }
        self.validate_capacity()?;
        if self.records_per_step == 0 {
            return Err(invalid("records_per_step", 0, "must be > 0"));
        }
        if !(self.utilisation > 0.0 && self.utilisation <= 1.0) {
            return Err(invalid("utilisation", self.utilisation, "must be in (0, 1]"));
        }
        if let Some(max) = self.utilisation_max
            && !(max >= self.utilisation && max <= 1.5)
        {
            return Err(invalid("utilisation_max", max, "must be in [utilisation, 1.5]"));
        }
        InitialPerf::new(self.initial_perf)?;
        if self.episode_length == 0 {
            return Err(invalid("episode_length", 0, "must be > 0"));
        }
        self.validate_scenarios()?;
        self.router_config().validate()?;
        if self.workload.is_some() {
            // Cheap: no permutation drawn, no key file read past its first line.
            self.workload_config(self.alpha).validate()?;
        }
        Ok(())
    }

    /// The rules `Params::validate` applies to `capacity:`, under the same keys; `units_per_second` is
    /// not used here and not checked.
    fn validate_capacity(&self) -> Result<(), SimError> {
        let c = &self.capacity;
        let workers = self.workers as usize;
        let check_factors = |key: String, factors: &[f64]| {
            if factors.len() != workers {
                return Err(invalid(
                    key,
                    format!("{} values", factors.len()),
                    "needs one factor per worker",
                ));
            }
            match factors.iter().position(|f| !(f.is_finite() && *f > 0.0)) {
                Some(w) => Err(invalid(
                    format!("{key}[{w}]"),
                    factors[w],
                    "must be finite and > 0",
                )),
                None => Ok(()),
            }
        };
        if !c.factors.is_empty() {
            check_factors("capacity.factors".into(), &c.factors)?;
        }
        if c.changes.len() > MAX_CAPACITY_CHANGES {
            return Err(invalid(
                "capacity.changes",
                format!("{} changes", c.changes.len()),
                "must be at most `limits::MAX_CAPACITY_CHANGES`",
            ));
        }
        for (i, change) in c.changes.iter().enumerate() {
            check_factors(format!("capacity.changes[{i}].factors"), &change.factors)?;
            if i > 0 && change.after_ms <= c.changes[i - 1].after_ms {
                return Err(invalid(
                    format!("capacity.changes[{i}].after_ms"),
                    change.after_ms,
                    "changes must be in increasing order of after_ms",
                ));
            }
        }
        let k = &c.key_cost;
        if !(0.0..=1.0).contains(&k.share) {
            return Err(invalid("capacity.key_cost.share", k.share, "must be in [0, 1]"));
        }
        if !(k.factor.is_finite() && k.factor >= 1.0) {
            return Err(invalid(
                "capacity.key_cost.factor",
                k.factor,
                "must be finite and >= 1",
            ));
        }
        if let Some(cost) = c.partial_cost
            && !(cost.is_finite() && cost >= 0.0)
        {
            return Err(invalid("capacity.partial_cost", cost, "must be finite and >= 0"));
        }
        Ok(())
    }

    fn validate_scenarios(&self) -> Result<(), SimError> {
        let mut drifting = 0;
        for (i, s) in self.scenarios.iter().enumerate() {
            let key = |field: &str| format!("scenarios[{i}].{field}");
            if self.workload.is_some() && !matches!(s, Scenario::SlowWorker { .. }) {
                return Err(invalid(
                    key("kind"),
                    "alpha_shift or drifting_hot_key",
                    "changes the generated Zipf stream, and the stream is `workload`",
                ));
            }
            match *s {
                Scenario::AlphaShift { new_alpha, .. } => {
                    if !(new_alpha.is_finite() && new_alpha >= 0.0) {
                        return Err(invalid(key("new_alpha"), new_alpha, "must be finite and >= 0"));
                    }
                }
                Scenario::DriftingHotKey {
                    min_share,
                    max_share,
                    every_steps,
                } => {
                    drifting += 1;
                    if drifting > 1 {
                        return Err(invalid(key("kind"), "drifting_hot_key", "may appear only once"));
                    }
                    if !(0.0..1.0).contains(&min_share) {
                        return Err(invalid(key("min_share"), min_share, "must be in [0, 1)"));
                    }
                    if !(max_share > min_share && max_share <= 1.0) {
                        return Err(invalid(key("max_share"), max_share, "must be in (min_share, 1]"));
                    }
                    if every_steps == 0 {
                        return Err(invalid(key("every_steps"), 0, "must be > 0"));
                    }
                }
                Scenario::SlowWorker { worker, factor, .. } => {
                    if worker >= self.workers {
                        return Err(invalid(key("worker"), worker, "must be < workers"));
                    }
                    if !(factor.is_finite() && factor > 0.0) {
                        return Err(invalid(key("factor"), factor, "must be finite and > 0"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The simulated world of a job's params over `steps` steps: its workers, stream and event-time rate
    /// (one step is one second of it, `workload.rate` records), hot keys (so the same mask, the same
    /// action layout, and the same detection), windows, and what its workers are charged (the
    /// `capacity:` section: factors, changes, key costs, and the partial cost the job view resolves);
    /// the rest keeps its defaults. A policy trained here can be served to that job.
    ///
    /// An unshuffled `zipf` stream is generated as the simulator's own, and an unshuffled
    /// `zipf-sequence` whose phases share a key count becomes `alpha_shift`s cycling through its phases,
    /// one step per second of event time. Every other stream (a key file, a text, shuffled keys, a
    /// drifting key, phases of different key counts) is the job's workload itself, replayed record by
    /// record ([`SimConfig::workload`]).
    ///
    /// # Errors
    /// Settings the simulator rejects, naming the key.
    pub fn from_params(params: &Params, steps: u64) -> Result<Self, SimError> {
        let w = &params.workload;
        let same_keys = w.phases.windows(2).all(|p| p[0].keys == p[1].keys);
        let (alpha, keys, scenarios, workload) = match w.kind.as_str() {
            "zipf" if !w.shuffle_keys => (w.alpha, w.keys, Vec::new(), None),
            "zipf-sequence" if !w.shuffle_keys && !w.phases.is_empty() && same_keys => {
                let first = &w.phases[0];
                let rest: Vec<f64> = w.phases[1..].iter().map(|p| p.alpha).collect();
                let every = (w.shift_interval_ms / 1000).max(1);
                (
                    first.alpha,
                    first.keys,
                    Scenario::alpha_cycle(first.alpha, &rest, every, steps),
                    None,
                )
            }
            _ => (w.alpha, w.keys, Vec::new(), Some(params.workload_config())),
        };
        let hot = &params.router.hot_keys;
        // The values the Flink job reads, where the job view resolves a default.
        let job = params.job_view();
        let config = Self {
            workers: params.workers,
            keys,
            alpha,
            workload,
            scenarios,
            hot_keys: hot.count,
            hot_key_mode: hot.mode,
            online_hot_keys: hot.online.clone(),
            true_hot_keys: hot.true_hot_keys,
            spread_keys: hot.spread_keys,
            mask_alpha: Some(hot.alpha),
            mask_shares: hot.shares.clone(),
            capacity: CapacityConfig {
                partial_cost: Some(job.partial_cost),
                ..params.capacity.clone()
            },
            window_ms: job.window_ms,
            slide_ms: job.slide_ms,
            records_per_step: job.workload_rate,
            seed: params.seed,
            ..Self::default()
        };
        config.validate()?;
        // A guard for settings added to the job's hot keys later: the policy's layout must be the job's.
        let theirs = SasPartitioner::new(&params.router_config())?;
        let ours = SasPartitioner::new(&config.router_config())?;
        if theirs.mask() != ours.mask() {
            return Err(invalid(
                "router.hot_keys",
                "(settings)",
                "give a mask the simulator does not build",
            ));
        }
        Ok(config)
    }

    /// The Zipf exponent the mask assumes.
    pub fn mask_alpha(&self) -> f64 {
        self.mask_alpha.unwrap_or(self.alpha)
    }

    /// The router settings every partitioner of the simulation is built from (the SaS router and a
    /// behaviour policy alike), so they share the mask.
    pub fn router_config(&self) -> RouterConfig {
        let mut router = RouterConfig {
            workers: self.workers,
            seed: self.seed,
            num_keys: self.keys,
            window_ms: self.window_ms,
            slide_ms: self.slide_ms,
            ..RouterConfig::default()
        };
        router.hot_keys.count = self.hot_keys;
        router.hot_keys.mode = self.hot_key_mode;
        router.hot_keys.online = self.online_hot_keys.clone();
        router.hot_keys.true_hot_keys = self.true_hot_keys;
        router.hot_keys.spread_keys = self.spread_keys;
        router.hot_keys.alpha = self.mask_alpha();
        router.hot_keys.shares = self.mask_shares.clone();
        router
    }

    /// The stream's Zipf exponent from each step on where it changes: `(0, alpha)` first, then every
    /// `alpha_shift` by step (a later-listed shift wins a tie).
    pub fn alpha_phases(&self) -> Vec<(u64, f64)> {
        let mut phases = vec![(0, self.alpha)];
        for s in &self.scenarios {
            if let Scenario::AlphaShift { at_step, new_alpha } = *s {
                phases.push((at_step, new_alpha));
            }
        }
        // Stable: among equal steps the later-listed shift ends up last, and `alpha_at` takes the last.
        phases.sort_by_key(|&(at, _)| at);
        phases
    }

    /// The stream's Zipf exponent at `step`.
    pub fn alpha_at(&self, step: u64) -> f64 {
        self.alpha_phases()
            .into_iter()
            .rfind(|&(at, _)| at <= step)
            .map_or(self.alpha, |(_, a)| a)
    }

    /// Worker `w`'s capacity multiplier at `step`: its `capacity.factors` entry, or that of the last
    /// `capacity.changes` entry whose `after_ms` the step's start (`step ×` [`STEP_MS`]) has reached, times
    /// any `slow_worker` scenario in force (1 when none applies).
    pub fn capacity_factor_at(&self, w: usize, step: u64) -> f64 {
        let now_ms = step.saturating_mul(STEP_MS);
        let c = &self.capacity;
        let factors = c
            .changes
            .iter()
            .rfind(|change| change.after_ms <= now_ms)
            .map_or(&c.factors, |change| &change.factors);
        let fixed = factors.get(w).copied().unwrap_or(1.0);
        fixed
            * self
                .scenarios
                .iter()
                .filter_map(|s| match *s {
                    Scenario::SlowWorker {
                        worker,
                        factor,
                        at_step,
                    } if worker as usize == w && at_step <= step => Some(factor),
                    _ => None,
                })
                .product::<f64>()
    }

    /// Units one (key, worker) partial costs the worker that merges the key: `capacity.partial_cost`, or
    /// [`DEFAULT_TASK`]'s calibrated cost.
    pub fn partial_cost(&self) -> f64 {
        self.capacity.partial_cost.unwrap_or(DEFAULT_TASK.partial_cost())
    }

    /// Units one record of `key` costs its worker (`capacity.key_cost`): the Flink job's `KeyCost.units`,
    /// through the router core's [`key_cost_draw`].
    #[inline]
    pub fn record_units(&self, key: u64) -> f64 {
        let k = &self.capacity.key_cost;
        if k.share > 0.0 && key_cost_draw(key) < k.share {
            k.factor
        } else {
            1.0
        }
    }

    /// One line saying what world this is: workers and their capacities over time, what records and
    /// partials cost, the windows, the stream and the load.
    pub fn describe(&self) -> String {
        let c = &self.capacity;
        let factors = |f: &[f64]| {
            if f.is_empty() {
                return format!("1×{}", self.workers);
            }
            // Runs of equal factors: `1×12 0.5×4`.
            let mut runs: Vec<(f64, usize)> = Vec::new();
            for &x in f {
                match runs.last_mut() {
                    Some((v, n)) if *v == x => *n += 1,
                    _ => runs.push((x, 1)),
                }
            }
            runs.iter()
                .map(|(v, n)| format!("{v}×{n}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut capacity = factors(&c.factors);
        if self.capacity_spread > 0.0 {
            capacity.push_str(&format!(" (each × U[1 ± {}])", self.capacity_spread));
        }
        for change in &c.changes {
            capacity.push_str(&format!(
                ", from {} ms (step {}) {}",
                change.after_ms,
                change.after_ms.div_ceil(STEP_MS),
                factors(&change.factors)
            ));
        }
        let slow = self
            .scenarios
            .iter()
            .filter(|s| matches!(s, Scenario::SlowWorker { .. }))
            .count();
        if slow > 0 {
            capacity.push_str(&format!(", {slow} slow_worker scenario(s)"));
        }
        let key_cost = if c.key_cost.share > 0.0 && c.key_cost.factor != 1.0 {
            format!(
                "{} of keys {} units, the rest 1",
                c.key_cost.share, c.key_cost.factor
            )
        } else {
            "1 unit every key".to_string()
        };
        let stream = match &self.workload {
            Some(w) => format!("`{}` stream", w.kind),
            None => format!("Zipf({}) over {} keys", self.alpha, self.keys),
        };
        format!(
            "world: {} workers, capacity {capacity}; record cost {key_cost}; partial cost {} units \
             (merged by the key's Flink subtask, windows {}/{} ms); {stream}, {} records/step; \
             utilisation {}{}",
            self.workers,
            self.partial_cost(),
            self.window_ms,
            self.slide_ms,
            self.records_per_step,
            self.utilisation,
            self.utilisation_max.map_or(String::new(), |m| format!("..{m}")),
        )
    }

    /// The stream: [`SimConfig::workload`] when set, else the generated one at Zipf exponent `alpha`.
    /// One step is one second of event time.
    pub fn workload_config(&self, alpha: f64) -> WorkloadConfig {
        if let Some(workload) = &self.workload {
            return WorkloadConfig {
                rate: self.records_per_step,
                ..workload.clone()
            };
        }
        let mut workload = WorkloadConfig {
            kind: "zipf".into(),
            alpha,
            keys: self.keys,
            rate: self.records_per_step,
            seed: self.seed,
            ..WorkloadConfig::default()
        };
        for s in &self.scenarios {
            if let Scenario::DriftingHotKey {
                min_share,
                max_share,
                every_steps,
            } = *s
            {
                workload.kind = "zipf-drifting-key".into();
                workload.drift_min = min_share;
                workload.drift_max = max_share;
                workload.shift_interval_ms = every_steps.saturating_mul(1000);
            }
        }
        workload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_yaml_like_json_parses() {
        SimConfig::default().validate().unwrap();
        let c: SimConfig = serde_json::from_str(
            r#"{ "workers": 8, "scenarios": [
                { "kind": "alpha_shift", "at_step": 10, "new_alpha": 1.0 },
                { "kind": "slow_worker", "worker": 2, "factor": 0.5, "at_step": 3 },
                { "kind": "drifting_hot_key", "min_share": 0.01, "max_share": 0.2, "every_steps": 5 } ] }"#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.alpha_at(9), 1.5);
        assert_eq!(c.alpha_at(10), 1.0);
        assert_eq!(c.capacity_factor_at(2, 2), 1.0);
        assert_eq!(c.capacity_factor_at(2, 3), 0.5);
        assert_eq!(c.workload_config(1.0).kind, "zipf-drifting-key");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = serde_json::from_str::<SimConfig>(r#"{ "worker": 8 }"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `worker`"), "{e}");
        let e = serde_json::from_str::<SimConfig>(
            r#"{ "scenarios": [{ "kind": "slow_worker", "worker": 1, "factor": 0.5, "at": 3 }] }"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `at`"), "{e}");
    }

    #[test]
    fn validation_names_the_bad_key() {
        let bad = |c: SimConfig| c.validate().unwrap_err().to_string();
        let e = bad(SimConfig {
            capacity_spread: 1.0,
            ..SimConfig::default()
        });
        assert!(e.contains("`capacity_spread`"), "{e}");
        let e = bad(SimConfig {
            alpha: 0.0,
            ..SimConfig::default()
        });
        assert!(e.contains("`mask_alpha`"), "{e}");
        let e = bad(SimConfig {
            initial_perf: 0.0,
            ..SimConfig::default()
        });
        assert!(e.contains("`initial_perf`"), "{e}");
        let e = bad(SimConfig {
            scenarios: vec![Scenario::SlowWorker {
                worker: 32,
                factor: 0.5,
                at_step: 0,
            }],
            ..SimConfig::default()
        });
        assert!(e.contains("`scenarios[0].worker`"), "{e}");
        let e = bad(SimConfig {
            scenarios: vec![Scenario::DriftingHotKey {
                min_share: 0.2,
                max_share: 0.1,
                every_steps: 5,
            }],
            ..SimConfig::default()
        });
        assert!(e.contains("`scenarios[0].max_share`"), "{e}");
    }

    #[test]
    fn an_alpha_cycle_visits_every_exponent_in_turn() {
        let c = SimConfig {
            scenarios: Scenario::alpha_cycle(1.5, &[1.2, 1.8], 10, 45),
            ..SimConfig::default()
        };
        c.validate().unwrap();
        let seen: Vec<f64> = [0, 9, 10, 19, 20, 30, 44]
            .iter()
            .map(|&s| c.alpha_at(s))
            .collect();
        assert_eq!(seen, [1.5, 1.5, 1.2, 1.2, 1.8, 1.5, 1.2]);
        assert!(Scenario::alpha_cycle(1.5, &[], 10, 45).is_empty());
    }

    fn capacity(yaml: &str) -> CapacityConfig {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn capacity_and_utilisation_max_are_checked_under_the_params_keys() {
        let bad = |workers: u32, yaml: &str| {
            SimConfig {
                workers,
                capacity: capacity(yaml),
                ..SimConfig::default()
            }
            .validate()
            .unwrap_err()
            .to_string()
        };
        for (workers, yaml, key) in [
            (4, "factors: [1, 0.5]", "`capacity.factors`"),
            (2, "factors: [1, .nan]", "`capacity.factors[1]`"),
            (
                2,
                "changes: [{after_ms: 5, factors: [1]}]",
                "`capacity.changes[0].factors`",
            ),
            (
                2,
                "changes: [{after_ms: 5, factors: [1, 1]}, {after_ms: 5, factors: [1, 0.5]}]",
                "`capacity.changes[1].after_ms`",
            ),
            (
                2,
                "changes: [{after_ms: 5, factors: [0, 1]}]",
                "`capacity.changes[0].factors[0]`",
            ),
            (2, "key_cost: {share: 1.5}", "`capacity.key_cost.share`"),
            (
                2,
                "key_cost: {share: 0.5, factor: 0.5}",
                "`capacity.key_cost.factor`",
            ),
            (2, "partial_cost: -1", "`capacity.partial_cost`"),
        ] {
            let e = bad(workers, yaml);
            assert!(e.contains(key), "{yaml}: {e}");
            // The job refuses the same section.
            let params = format!(
                "task: wordcount\npartitioner: hash\nworkers: {workers}\nrecords: 1\ncapacity: {{{yaml}}}\n"
            );
            assert!(Params::parse(&params, "t").is_err(), "the job takes {yaml}");
        }
        let e = SimConfig {
            utilisation_max: Some(0.5),
            ..SimConfig::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("`utilisation_max`"), "{e}");
    }

    #[test]
    fn capacity_factors_follow_changes_and_slow_workers_by_step() {
        let c = SimConfig {
            workers: 2,
            capacity: capacity(
                "factors: [1, 0.5]\nchanges: [{after_ms: 2500, factors: [0.25, 1]}, {after_ms: 4000, factors: [1, 2]}]",
            ),
            scenarios: vec![Scenario::SlowWorker {
                worker: 1,
                factor: 0.5,
                at_step: 3,
            }],
            ..SimConfig::default()
        };
        c.validate().unwrap();
        let at = |w| (0..6).map(|s| c.capacity_factor_at(w, s)).collect::<Vec<f64>>();
        // Step s starts at s · 1000 ms: the change after 2500 ms holds from step 3.
        assert_eq!(at(0), [1.0, 1.0, 1.0, 0.25, 1.0, 1.0]);
        assert_eq!(at(1), [0.5, 0.5, 0.5, 0.5, 1.0, 1.0]);
    }

    #[test]
    fn record_units_are_the_jobs_key_costs() {
        let c = SimConfig {
            capacity: capacity("key_cost: {share: 0.25, factor: 4}"),
            ..SimConfig::default()
        };
        let costly: Vec<u64> = (0..10_000u64).filter(|&k| c.record_units(k) == 4.0).collect();
        assert!(
            (2_300..2_700).contains(&costly.len()),
            "{} costly keys",
            costly.len()
        );
        assert!((0..10_000u64).all(|k| [1.0, 4.0].contains(&c.record_units(k))));
        // The draw is the router core's (and the Flink job's `KeyCost.draw`): 0.2849 < 0.25 is false.
        assert_eq!(c.record_units(42), 1.0);
        assert_eq!(c.record_units(0), 1.0);
        let every = SimConfig {
            capacity: capacity("key_cost: {share: 1, factor: 3}"),
            ..SimConfig::default()
        };
        assert_eq!(every.record_units(42), 3.0);
        assert_eq!(SimConfig::default().record_units(42), 1.0);
    }

    fn job_params(extra: &str) -> Params {
        let yaml = format!(
            "task: wordcount\npartitioner: saspartitioner\nworkers: 16\nrecords: 1\nseed: 7\n\
             workload: {{kind: zipf, alpha: 1.2, keys: 5000}}\n{extra}"
        );
        Params::parse(&yaml, "test.yaml").unwrap()
    }

    #[test]
    fn the_world_of_a_job_has_its_mask_and_capacities() {
        let params = job_params(
            "capacity: {units_per_second: 750, factors: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5]}\n\
             router: {hot_keys: {count: 8, spread_keys: 1, alpha: 1.5}}\n",
        );
        let c = SimConfig::from_params(&params, 100).unwrap();
        assert_eq!(
            (c.workers, c.keys, c.alpha, c.hot_keys, c.seed),
            (16, 5000, 1.2, 8, 7)
        );
        assert_eq!(c.capacity.factors[12], 0.5);
        let job = SasPartitioner::new(&params.router_config()).unwrap();
        let sim = SasPartitioner::new(&c.router_config()).unwrap();
        assert_eq!(sim.mask(), job.mask());
        // The spread key may go to every worker.
        assert_eq!(sim.mask().ranges()[0], 0..16);
    }

    /// A scenario file means the same world here and in the Flink job: the job view's capacities over
    /// time, key costs, partial cost, windows and event-time rate.
    #[test]
    fn the_world_of_a_job_charges_what_the_job_charges() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../params/scenarios");
        for name in ["heterogeneous", "slowing-worker", "key-cost"] {
            let params = Params::load(&dir.join(format!("{name}.yaml"))).unwrap();
            let job = params.job_view();
            let c = SimConfig::from_params(&params, 100).unwrap();
            let base = params.capacity.units_per_second;
            // The job's capacity of each worker, at the start and after each change, in units per second.
            for w in 0..c.workers as usize {
                assert_eq!(
                    base * c.capacity_factor_at(w, 0),
                    job.capacity[w],
                    "{name}: worker {w}"
                );
                for (at, after) in job.capacity_changes_after_ms.iter().zip(&job.capacity_changes) {
                    let step = at.div_ceil(STEP_MS);
                    assert_eq!(
                        base * c.capacity_factor_at(w, step),
                        after[w],
                        "{name}: worker {w}"
                    );
                    assert_eq!(
                        base * c.capacity_factor_at(w, step - 1),
                        job.capacity[w],
                        "{name}: worker {w} before the change"
                    );
                }
            }
            assert_eq!(
                (c.capacity.key_cost.share, c.capacity.key_cost.factor),
                (job.key_cost_share, job.key_cost_factor),
                "{name}: key cost"
            );
            assert_eq!(c.partial_cost(), job.partial_cost, "{name}: partial cost");
            assert_eq!(
                (c.window_ms, c.slide_ms, c.records_per_step),
                (job.window_ms, job.slide_ms, job.workload_rate),
                "{name}: windows and event-time rate"
            );
            assert_eq!(
                (c.router_config().window_ms, c.router_config().slide_ms),
                (job.window_ms, job.slide_ms)
            );
        }
        // The partial cost the job view resolves: the task's calibrated one, or the params' own.
        let tdigest = Params::parse(
            "task: tdigest\npartitioner: saspartitioner\nworkers: 4\nrecords: 1\n",
            "t",
        )
        .unwrap();
        let c = SimConfig::from_params(&tdigest, 10).unwrap();
        assert_eq!(c.partial_cost(), Task::Tdigest.partial_cost());
        let own = job_params("capacity: {partial_cost: 0.5}\n");
        assert_eq!(SimConfig::from_params(&own, 10).unwrap().partial_cost(), 0.5);
        assert_eq!(SimConfig::default().partial_cost(), DEFAULT_TASK.partial_cost());
    }

    /// Issue #14 item 4: a job's mask may come from measured shares; the simulator draws the same one.
    #[test]
    fn the_world_of_a_job_with_measured_shares_has_its_mask() {
        let params =
            job_params("router: {hot_keys: {count: 4, shares: [0.2, 0.2, 0.15, 0.1], spread_keys: 0}}\n");
        let c = SimConfig::from_params(&params, 100).unwrap();
        assert_eq!(c.mask_shares, [0.2, 0.2, 0.15, 0.1]);
        assert_eq!(
            c.hot_key_mode,
            HotKeyMode::Online,
            "online hot keys are the default"
        );
        let job = SasPartitioner::new(&params.router_config()).unwrap();
        let sim = SasPartitioner::new(&c.router_config()).unwrap();
        assert_eq!(sim.mask(), job.mask());
        // Four keys of similar share: four ranges of about P/4, unlike Zipf(1.5)'s first range of 10.
        let widths: Vec<usize> = sim.mask().ranges().iter().map(|r| r.len()).collect();
        assert_eq!(widths, [5, 6, 5, 3]);
        // Shares that are not one per hot key are the job's error too, naming the key.
        let mut bad = c.clone();
        bad.mask_shares.pop();
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("`hot_keys.shares`"), "{e}");
        // With shares, the Zipf exponent plays no part in the mask: a uniform stream needs no mask_alpha.
        let uniform = SimConfig {
            alpha: 0.0,
            mask_alpha: None,
            ..c
        };
        uniform.validate().unwrap();
    }

    #[test]
    fn a_zipf_sequence_cycles_its_phases_one_step_per_second() {
        let params = job_params("").clone();
        let mut p = params;
        p.workload.kind = "zipf-sequence".into();
        p.workload.shift_interval_ms = 40_000;
        p.workload.phases = vec![
            ZipfPhase {
                alpha: 1.5,
                keys: 100,
            },
            ZipfPhase {
                alpha: 1.2,
                keys: 100,
            },
        ];
        let c = SimConfig::from_params(&p, 200).unwrap();
        assert_eq!((c.alpha, c.keys, c.workload.as_ref()), (1.5, 100, None));
        let seen: Vec<f64> = [0, 39, 40, 79, 80, 120].iter().map(|&s| c.alpha_at(s)).collect();
        assert_eq!(seen, [1.5, 1.5, 1.2, 1.2, 1.5, 1.2]);
        // Phases of different key counts are no Zipf exponent cycle: the job's stream itself is replayed.
        p.workload.phases[1].keys = 50;
        let c = SimConfig::from_params(&p, 200).unwrap();
        assert_eq!(c.workload, Some(p.workload_config()));
        assert!(c.scenarios.is_empty());
    }

    #[test]
    fn every_workload_of_a_job_is_simulated_as_the_job_runs_it() {
        let base = job_params("router: {hot_keys: {mode: online}}\n");
        let book = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/pg1342.txt");
        let mut text = base.clone();
        text.workload.kind = "text".into();
        text.workload.text_path = Some(book);
        let mut shuffled = base.clone();
        shuffled.workload.shuffle_keys = true;
        let mut drifting = base.clone();
        drifting.workload.kind = "zipf-drifting-key".into();
        for p in [text, shuffled, drifting] {
            let c = SimConfig::from_params(&p, 100).unwrap();
            assert_eq!(c.workload, Some(p.workload_config()), "{}", p.workload.kind);
            assert_eq!(c.hot_key_mode, HotKeyMode::Online);
            assert_eq!(c.router_config().hot_keys, p.router_config().hot_keys);
            // One step is one second of event time, whatever the job's rate.
            assert_eq!(c.workload_config(c.alpha).rate, c.records_per_step);
        }
        // The simulator checks the job's stream as the job would.
        let mut missing = base.clone();
        missing.workload.kind = "file".into();
        let e = SimConfig::from_params(&missing, 100).unwrap_err().to_string();
        assert!(e.contains("`workload.path`") && e.contains("needs a file"), "{e}");
    }

    #[test]
    fn a_replayed_workload_takes_no_stream_scenarios() {
        let c = SimConfig {
            workload: Some(WorkloadConfig {
                shuffle_keys: true,
                ..WorkloadConfig::default()
            }),
            hot_key_mode: HotKeyMode::Online,
            ..SimConfig::default()
        };
        c.validate().unwrap();
        let e = SimConfig {
            scenarios: vec![Scenario::AlphaShift {
                at_step: 3,
                new_alpha: 1.0,
            }],
            ..c.clone()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("`scenarios[0].kind`"), "{e}");
        SimConfig {
            scenarios: vec![Scenario::SlowWorker {
                worker: 1,
                factor: 0.5,
                at_step: 3,
            }],
            ..c
        }
        .validate()
        .unwrap();
    }
}
