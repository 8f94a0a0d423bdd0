//! The simulator: P workers of unequal capacity behind the router core, stepped one interval at a time.
//!
//! # Model
//!
//! * **Stream.** The router core's seeded generators: Zipf(α) over K keys (`zipf`), or with the
//!   `drifting_hot_key` scenario the `zipf-drifting-key` workload; or, with [`SimConfig::workload`], any
//!   workload of the router core (a recorded key file, a text, shuffled key ids, ...), replayed in its
//!   own order. One step routes `records_per_step` records, one second of event time, each record
//!   through the router (no per-step sampling of counts), so a key file's bursts reach the workers as
//!   they happened; the stream never restarts (a key file cycles at its end).
//! * **Routing.** [`Environment::step`] decodes the action into `saspartitioner`'s routing table (hot keys
//!   follow the table, cold keys are hashed). Hot keys are the heavy hitters the router core's online
//!   detector finds in the routed records, as in the live router (the default), or with
//!   `hot_key_mode: static` the ranks `0..hot_keys` of the unshuffled generated stream.
//!   [`Simulator::step_with_partitioner`] routes the step through any other [`Partitioner`]
//!   instead (a behaviour policy collecting offline data).
//! * **Workers.** Capacity `c_i(t)` at step `t`: a draw from `[1 − s, 1 + s]` (seeded, `capacity_spread`)
//!   times the `capacity.factors` of the job params, or those of the last `capacity.changes` entry whose
//!   `after_ms` the step's start `t ×` [`STEP_MS`] has reached, times any `slow_worker` factor.
//! * **Work.** Worker i's work in step `t`, in units (one unit = one plain record), is what the Flink job
//!   charges its `WorkerBudget`: `W_i = K_i + p · M_i`.
//!   - `K_i`: the units of the records routed to it, `capacity.key_cost.factor` for a key whose
//!     `key_cost_draw` is below `share`, else 1 (the job's `KeyCost`).
//!   - `M_i`: the partials merged on it. At the end of every window (`window_ms` long, one every
//!     `slide_ms` of event time) each (key, worker) pair with a record in the window sends one partial to
//!     the merge, which is keyed by the key: the job's `keyBy(key)` at parallelism P and Flink's default
//!     max parallelism sends key `k` to subtask `operator_index(key_group(Long.hashCode(k)))`, and with
//!     slot sharing the merge subtask i spends worker i's budget. A window's partials are charged to the
//!     step its end falls in, `(t·1000, (t+1)·1000]` ms, so one step of a second charges
//!     `1000/slide_ms` windows (two for the scenario files' 500 ms slide): a step is not one window.
//!     Cold keys pay too: every key of a window is one partial, split or not.
//!   - `p`: `capacity.partial_cost` (default: the task's calibrated cost); 0 when the partitioner never
//!     splits a key, as the job then has no merge stage (`splits_keys`).
//! * **Busy time.** With `R` the step's record units `Σ K_i` (what the stream demands, whatever the
//!   routing) and `C₀ = Σ c_j(0)`, worker i's demanded busy ratio is `d_i = u · (W_i / R) · (C₀ / c_i(t))`:
//!   exactly the utilisation `u` for every worker when the records' work is spread in proportion to the
//!   capacities of step 0 and nothing is merged. The stream's rate is fixed by `u` and the capacities of
//!   step 0, so a worker that slows later is busier, and merges are extra work on top of `u`. In the job
//!   a merge delays the worker's next records, so its time is the worker's busy time.
//! * **Back-pressure.** A worker cannot be busy more than 100 % of the time. When the bottleneck demands
//!   `d_max > 1` the router blocks on it (Flink's credit-based flow control), so the whole stream runs at
//!   throughput `θ = 1/d_max` and every worker is busy `θ · d_i`: the bottleneck reads exactly 1.0 and the
//!   others idle in proportion. Busy ratios therefore never exceed 1 and keep the imbalance visible
//!   (clamping each worker at 1 would hide how overloaded the bottleneck is).
//! * **Observation and reward** from the step's record counts and busy time, through [`features`]. The
//!   live job averages over a window of slides; the simulator's window is the step itself.

mod config;

pub use config::{DEFAULT_TASK, STEP_MS, Scenario, SimConfig, SimError};

use super::features::{self, InitialPerf};
use super::{EnvError, Environment, Step, check_action};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use sas_learner::Transition;
use sas_router::fast_map::KeyMap;
use sas_router::hashing::java_hash_code;
use sas_router::key_groups::{key_group, operator_index};
use sas_router::mask::Mask;
use sas_router::partitioner::{Partitioner, SasPartitioner};
use sas_router::workload::Workload;

/// Salt of the capacity draw, so it does not share a stream with anything else seeded by `seed`.
const CAPACITY_SALT: u64 = 0x0c49_ac17_e5e5;
/// Salt of the per-episode utilisation draw.
const UTILISATION_SALT: u64 = 0x07a1_15a7_1011;

/// The simulator (see the module docs for the model).
#[derive(Debug)]
pub struct Simulator {
    world: World,
    /// The SaS router that [`Environment::step`] steers.
    router: SasPartitioner,
}

/// Everything but the SaS router, so a step can route through the router or through another partitioner.
#[derive(Debug)]
struct World {
    config: SimConfig,
    mask: Mask,
    initial_perf: InitialPerf,
    /// Drawn capacities, before `capacity` and `slow_worker` factors.
    capacities: Vec<f64>,
    /// `C₀`: the total capacity of step 0, which the stream's rate is set against.
    initial_total_capacity: f64,
    /// The windows' partials, when a partial costs anything.
    merges: Option<Merges>,
    /// The stream of each `alpha_shift` phase, by first step; the first starts at step 0.
    workloads: Vec<(u64, Workload)>,
    /// Intervals simulated so far (the index of the next one).
    step: u64,
    /// Index of the next record of the stream.
    next_record: u64,
    /// Steps in the current logical episode.
    episode_step: u64,
    last_obs: Option<Vec<f32>>,
    last_throughput: f64,
    /// Utilisation of the current logical episode.
    utilisation: f64,
    utilisation_rng: Xoshiro256PlusPlus,
}

impl Simulator {
    /// A simulator for `config`.
    ///
    /// # Errors
    /// [`SimError`] naming the first bad setting.
    pub fn new(config: SimConfig) -> Result<Self, SimError> {
        config.validate()?;
        let router = SasPartitioner::new(&config.router_config())?;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed ^ CAPACITY_SALT);
        let s = config.capacity_spread;
        let capacities = (0..config.workers)
            .map(|_| {
                if s > 0.0 {
                    rng.random_range(1.0 - s..=1.0 + s)
                } else {
                    1.0
                }
            })
            .collect();
        // Every phase's stream is built (and so checked) up front; a shift only switches between them.
        let workloads = config
            .alpha_phases()
            .into_iter()
            .map(|(at, alpha)| Ok((at, Workload::new(&config.workload_config(alpha))?)))
            .collect::<Result<_, SimError>>()?;
        let mut utilisation_rng = Xoshiro256PlusPlus::seed_from_u64(config.seed ^ UTILISATION_SALT);
        let utilisation = draw_utilisation(&config, &mut utilisation_rng);
        let merges = (config.partial_cost() > 0.0).then(|| Merges::new(&config));
        let mut world = World {
            mask: router.mask().clone(),
            initial_perf: InitialPerf::new(config.initial_perf)?,
            capacities,
            initial_total_capacity: 0.0,
            merges,
            workloads,
            step: 0,
            next_record: 0,
            episode_step: 0,
            last_obs: None,
            last_throughput: 1.0,
            utilisation,
            utilisation_rng,
            config,
        };
        world.initial_total_capacity = world.capacities_at(0).iter().sum();
        Ok(Self { world, router })
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.world.config
    }

    /// Capacity of each worker at the next step: the drawn capacity times its factor then
    /// ([`SimConfig::capacity_factor_at`]: `capacity.factors`, `capacity.changes`, `slow_worker`).
    pub fn capacities(&self) -> Vec<f64> {
        self.world.capacities_at(self.world.step)
    }

    /// Share of the demanded stream processed in the last step: `θ = min(1, 1/d_max)`.
    pub fn last_throughput(&self) -> f64 {
        self.world.last_throughput
    }

    /// Number of steps simulated so far.
    pub fn steps(&self) -> u64 {
        self.world.step
    }

    /// The SaS router [`Environment::step`] steers.
    pub fn router(&self) -> &SasPartitioner {
        &self.router
    }

    /// Routes one step through `partitioner` instead of the SaS router (whose table is left as it is).
    /// The step's `transition.action` is empty: only the caller knows what the partitioner did (e.g.
    /// [`DaltonOffline::behaviour_action`](sas_router::partitioner::DaltonOffline::behaviour_action)).
    ///
    /// # Errors
    /// [`EnvError::Workers`] when the partitioner has a different number of workers.
    pub fn step_with_partitioner(&mut self, partitioner: &mut dyn Partitioner) -> Result<Step, EnvError> {
        let expected = self.world.config.workers as usize;
        if partitioner.workers() as usize != expected {
            return Err(EnvError::Workers {
                name: partitioner.name(),
                expected,
                got: partitioner.workers() as usize,
            });
        }
        self.world.interval(partitioner, Vec::new())
    }

    /// [`Environment::reset`] whose warm-up interval, when one is needed, routes through `partitioner`.
    ///
    /// # Errors
    /// As [`Simulator::step_with_partitioner`].
    pub fn reset_with_partitioner(
        &mut self,
        partitioner: &mut dyn Partitioner,
    ) -> Result<Vec<f32>, EnvError> {
        if self.world.last_obs.is_none() {
            self.step_with_partitioner(partitioner)?;
        }
        Ok(self.world.reset_episode())
    }
}

impl Environment for Simulator {
    fn observation_dim(&self) -> usize {
        2 * self.world.config.workers as usize
    }

    fn action_dim(&self) -> usize {
        self.world.mask.action_dim()
    }

    fn mask(&self) -> &Mask {
        &self.world.mask
    }

    fn reset(&mut self) -> Vec<f32> {
        if self.world.last_obs.is_none() {
            // Cannot fail: the router has the simulator's worker count and its measurements are finite
            // (capacities > 0, counts bounded by records_per_step).
            self.world
                .interval(&mut self.router, Vec::new())
                .expect("a simulated warm-up interval yields finite features");
        }
        self.world.reset_episode()
    }

    fn step(&mut self, action: &[f64]) -> Result<Step, EnvError> {
        check_action(&self.world.mask, action)?;
        self.router.apply_action(action)?;
        let applied = action.iter().map(|&a| a as f32).collect();
        self.world.interval(&mut self.router, applied)
    }
}

/// The utilisation of a new logical episode: fixed, or drawn from `[utilisation, utilisation_max]`.
fn draw_utilisation(config: &SimConfig, rng: &mut Xoshiro256PlusPlus) -> f64 {
    match config.utilisation_max {
        Some(max) if max > config.utilisation => rng.random_range(config.utilisation..=max),
        _ => config.utilisation,
    }
}

/// The partials of the job's windows and the workers that merge them (see the module docs).
///
/// A (key, worker) pair is in the window `[end − window_ms, end)` when its last record so far is, as long
/// as no record at or after `end` has been seen: records come in event-time order, and each window is
/// closed before the first record of its end.
#[derive(Debug)]
struct Merges {
    window_ms: u64,
    slide_ms: u64,
    workers: u32,
    /// Flink's max parallelism of the merge operator, whose key groups pick its subtask.
    max_parallelism: u32,
    /// Event time of the last record of each (key, worker) pair that a window still to close may hold.
    last_seen: KeyMap<(u64, u32), u64>,
    /// End of the next window to close, ms. Flink's sliding windows start at the multiples of
    /// `slide_ms`, so they end at `window_ms` plus those.
    next_end: u64,
    /// Partials each worker merged since the last [`Merges::take`].
    merged: Vec<u64>,
}

impl Merges {
    fn new(config: &SimConfig) -> Self {
        Self {
            window_ms: config.window_ms,
            slide_ms: config.slide_ms,
            workers: config.workers,
            max_parallelism: flink_default_max_parallelism(config.workers),
            last_seen: KeyMap::default(),
            // The first window that ends after 0 (it may start before 0, as Flink's first windows do).
            next_end: match config.window_ms % config.slide_ms {
                0 => config.slide_ms,
                r => r,
            },
            merged: vec![0; config.workers as usize],
        }
    }

    /// A record of `key` on `worker` at `ts_ms`.
    #[inline]
    fn record(&mut self, key: u64, worker: u32, ts_ms: u64) {
        if ts_ms >= self.next_end {
            self.close_windows_until(ts_ms);
        }
        self.last_seen.insert((key, worker), ts_ms);
    }

    /// Closes every window that ends at or before `end_ms`: each of its pairs is one partial for the
    /// key's merging worker. Pairs no later window holds are forgotten.
    fn close_windows_until(&mut self, end_ms: u64) {
        while self.next_end <= end_ms {
            let end = self.next_end;
            let from = end.saturating_sub(self.window_ms);
            let keep_from = (end + self.slide_ms).saturating_sub(self.window_ms);
            let (merged, workers, max_parallelism) = (&mut self.merged, self.workers, self.max_parallelism);
            self.last_seen.retain(|&(key, _), &mut ts| {
                if ts >= from {
                    merged[merging_worker(key, max_parallelism, workers) as usize] += 1;
                }
                ts >= keep_from
            });
            self.next_end += self.slide_ms;
        }
    }

    /// The partials each worker merged since the last call.
    fn take(&mut self) -> Vec<u64> {
        std::mem::replace(&mut self.merged, vec![0; self.workers as usize])
    }
}

/// Flink's `KeyGroupRangeAssignment.computeDefaultMaxParallelism` for an operator of parallelism `p`
/// whose max parallelism nobody set, as the job's merge (`Pipeline` sets only its parallelism, P):
/// `min(max(roundUpToPowerOfTwo(p + p/2), 128), 32768)`.
fn flink_default_max_parallelism(p: u32) -> u32 {
    (p + p / 2).next_power_of_two().clamp(128, 32_768)
}

/// The merge subtask of `key`: the job keys its partials by the key itself (a `Long`, whose `hashCode`
/// is `java_hash_code`), and Flink sends a key to the subtask that owns its key group.
fn merging_worker(key: u64, max_parallelism: u32, workers: u32) -> u32 {
    let group = key_group(java_hash_code(key) as i32, max_parallelism);
    operator_index(group, max_parallelism, workers)
}

impl World {
    fn capacities_at(&self, step: u64) -> Vec<f64> {
        self.capacities
            .iter()
            .enumerate()
            .map(|(w, c)| c * self.config.capacity_factor_at(w, step))
            .collect()
    }

    fn reset_episode(&mut self) -> Vec<f32> {
        self.episode_step = 0;
        // Cannot fail: callers simulate an interval first when there is no observation yet.
        self.last_obs
            .clone()
            .expect("an observation exists after warm-up")
    }

    /// Routes one step of records through `p`, measures it and closes `p`'s interval; `action` is what `p`
    /// applied, for the step's transition (empty when only the caller knows it).
    fn interval(&mut self, p: &mut dyn Partitioner, action: Vec<f32>) -> Result<Step, EnvError> {
        // Record i is a pure function of (seed, i) in every phase, so switching keeps runs reproducible.
        let workload = self
            .workloads
            .iter()
            .rev()
            .find(|(at, _)| *at <= self.step)
            .map(|(_, w)| w)
            // Unreached: the first phase starts at step 0, so `find` always succeeds.
            .unwrap_or(&self.workloads[0].1);
        let n = self.config.workers as usize;
        let records = self.config.records_per_step;
        let mut counts = vec![0f64; n];
        // Each worker's work: K_i, the units of its records, then W_i with its merges.
        let mut work = vec![0f64; n];
        for i in self.next_record..self.next_record + records {
            let r = workload.record_at(i);
            let w = p.route(r.key, r.ts_ms);
            counts[w as usize] += 1.0;
            work[w as usize] += self.config.record_units(r.key);
            if let Some(merges) = &mut self.merges {
                merges.record(r.key, w, r.ts_ms);
            }
        }
        // R: what the stream demands, whatever the routing.
        let demanded: f64 = work.iter().sum();
        // W_i = K_i + p · M_i, M_i of the windows that end in this step.
        if let Some(merges) = &mut self.merges {
            merges.close_windows_until((self.step + 1).saturating_mul(STEP_MS));
            let cost = if p.splits_keys() {
                self.config.partial_cost()
            } else {
                0.0
            };
            for (w, merged) in work.iter_mut().zip(merges.take()) {
                *w += cost * merged as f64;
            }
        }
        let capacities = self.capacities_at(self.step);
        let scale = self.utilisation * self.initial_total_capacity / demanded;
        let demand: Vec<f64> = work.iter().zip(&capacities).map(|(w, c)| scale * w / c).collect();
        let max_demand = demand.iter().copied().fold(0.0, f64::max);
        let throughput = if max_demand > 1.0 { 1.0 / max_demand } else { 1.0 };
        let busy_ratio: Vec<f64> = demand.iter().map(|d| d * throughput).collect();
        p.end_interval(&busy_ratio);
        let busy_ms: Vec<f64> = busy_ratio.iter().map(|b| b * features::SATURATED_MS).collect();
        let f = features::features(&counts, &busy_ms, self.initial_perf)?;

        let step = self.step;
        self.step += 1;
        self.next_record += records;
        self.last_throughput = throughput;
        self.episode_step += 1;
        let truncated = self.episode_step >= self.config.episode_length;
        if truncated {
            self.episode_step = 0;
            self.utilisation = draw_utilisation(&self.config, &mut self.utilisation_rng);
        }
        let obs = self.last_obs.replace(f.obs.clone()).unwrap_or_default();
        Ok(Step {
            transition: Transition {
                step,
                obs,
                action,
                reward: f.reward as f32,
                next_obs: f.obs,
                terminated: false,
                truncated,
                imbalance: f.balance.imbalance,
                nmad: f.balance.nmad,
            },
            busy: f.busy_ms,
        })
    }
}

/// Mean λ of the initial routing table (uniform within each mask range) over `steps` steps of a fresh
/// simulator for `config`: what a policy starts from, e.g. to choose `initial_perf`.
///
/// # Errors
/// [`SimError`] for a bad configuration.
pub fn initial_imbalance(config: &SimConfig, steps: u64) -> Result<f64, SimError> {
    let mut sim = Simulator::new(config.clone())?;
    let ones = vec![1.0; sim.action_dim()];
    let mut sum = 0.0;
    for _ in 0..steps.max(1) {
        // Cannot fail: the all-ones action has the mask's length and valid values.
        sum += sim
            .step(&ones)
            .expect("the initial table is a valid action")
            .transition
            .imbalance;
    }
    Ok(sum / steps.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sas_router::params::CapacityConfig;
    use sas_router::partitioner::HotKeyMode;

    /// Uniform keys whose records cost one unit each and whose partials cost nothing: routing alone.
    fn uniform(workers: u32, records: u64) -> SimConfig {
        SimConfig {
            workers,
            alpha: 0.0,
            mask_alpha: Some(1.0),
            records_per_step: records,
            seed: 5,
            capacity: capacity("partial_cost: 0"),
            ..SimConfig::default()
        }
    }

    fn capacity(yaml: &str) -> CapacityConfig {
        serde_norway::from_str(yaml).unwrap()
    }

    fn mean_imbalance(sim: &mut Simulator, steps: usize) -> f64 {
        let ones = vec![1.0; sim.action_dim()];
        (0..steps)
            .map(|_| sim.step(&ones).unwrap().transition.imbalance)
            .sum::<f64>()
            / steps as f64
    }

    #[test]
    fn each_episode_draws_its_utilisation_within_the_range() {
        let config = SimConfig {
            episode_length: 1,
            utilisation: 0.5,
            utilisation_max: Some(1.2),
            ..uniform(4, 2000)
        };
        let mut sim = Simulator::new(config).unwrap();
        let ones = vec![1.0; sim.action_dim()];
        let mean_busy: Vec<f64> = (0..40)
            .map(|_| {
                let busy = sim.step(&ones).unwrap().busy;
                busy.iter().sum::<f64>() / busy.len() as f64 / 1000.0
            })
            .collect();
        assert!(
            mean_busy.iter().all(|&b| (0.4..=1.0).contains(&b)),
            "{mean_busy:?}"
        );
        let (lo, hi) = mean_busy
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &b| (lo.min(b), hi.max(b)));
        assert!(hi - lo > 0.2, "utilisation did not vary: {mean_busy:?}");
        // Above 1 the stream is back-pressured: the bottleneck reads exactly 1.
        assert!(mean_busy.iter().any(|&b| b > 0.9), "{mean_busy:?}");
    }

    #[test]
    fn balanced_routing_of_uniform_keys_is_balanced() {
        let mut sim = Simulator::new(uniform(8, 200_000)).unwrap();
        let lambda = mean_imbalance(&mut sim, 3);
        assert!(lambda < 0.05, "λ = {lambda}");
        assert_eq!(sim.last_throughput(), 1.0);
    }

    #[test]
    fn the_initial_table_is_imbalanced_at_alpha_1_5() {
        let config = SimConfig {
            workers: 32,
            alpha: 1.5,
            seed: 1,
            ..SimConfig::default()
        };
        let lambda = initial_imbalance(&config, 4).unwrap();
        assert!(lambda > 0.3, "λ = {lambda}");
    }

    #[test]
    fn a_slow_worker_raises_imbalance_and_saturates_first() {
        let base = uniform(8, 100_000);
        let slow = SimConfig {
            scenarios: vec![Scenario::SlowWorker {
                worker: 3,
                factor: 0.5,
                at_step: 2,
            }],
            ..base.clone()
        };
        let mut sim = Simulator::new(slow).unwrap();
        let before = mean_imbalance(&mut sim, 2);
        let after = mean_imbalance(&mut sim, 2);
        assert!(after > before + 0.5, "λ before {before}, after {after}");
        // Demand on worker 3: 0.7 · (1/8) · (8/0.5) = 1.4 (the stream's rate is set against the capacity of
        // step 0), so the stream runs at θ = 1/1.4 ≈ 0.71 and worker 3 reads saturated.
        let step = sim.step(&vec![1.0; sim.action_dim()]).unwrap();
        assert!((step.busy[3] - 1000.0).abs() < 1e-9, "{:?}", step.busy);
        let theta = sim.last_throughput();
        assert!((theta - 1.0 / 1.4).abs() < 0.02, "θ = {theta}");
        assert_eq!(step.transition.next_obs[8 + 3], 1.0);
    }

    #[test]
    fn an_alpha_shift_changes_the_stream_but_not_the_mask() {
        let config = SimConfig {
            workers: 16,
            seed: 2,
            scenarios: vec![Scenario::AlphaShift {
                at_step: 3,
                new_alpha: 0.5,
            }],
            ..SimConfig::default()
        };
        let mut sim = Simulator::new(config).unwrap();
        let mask = sim.mask().clone();
        let skewed = mean_imbalance(&mut sim, 3);
        let mild = mean_imbalance(&mut sim, 3);
        assert!(mild < skewed / 2.0, "λ at α 1.5: {skewed}, at α 0.5: {mild}");
        assert_eq!(sim.mask(), &mask);
    }

    #[test]
    fn a_drifting_key_moves_load_between_steps() {
        let config = SimConfig {
            scenarios: vec![Scenario::DriftingHotKey {
                min_share: 0.0,
                max_share: 0.4,
                every_steps: 1,
            }],
            ..uniform(8, 50_000)
        };
        let mut sim = Simulator::new(config).unwrap();
        let ones = vec![1.0; sim.action_dim()];
        let even = sim.step(&ones).unwrap().transition.imbalance;
        let odd = sim.step(&ones).unwrap().transition.imbalance;
        // Even steps draw the key's share from [0.2, 0.4), odd ones from [0, 0.2).
        assert!(even > odd, "λ even {even}, odd {odd}");
    }

    #[test]
    fn runs_are_deterministic_for_a_seed() {
        // Every charge on: key costs, merges, a capacity change.
        let config = SimConfig {
            workers: 16,
            capacity_spread: 0.3,
            records_per_step: 5_000,
            seed: 11,
            capacity: capacity(
                "key_cost: {share: 0.1, factor: 4}\npartial_cost: 2\n\
                 changes: [{after_ms: 2000, factors: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5]}]",
            ),
            ..SimConfig::default()
        };
        let run = |config: SimConfig| {
            let mut sim = Simulator::new(config).unwrap();
            let mut out = vec![sim.reset()];
            let a = sim.action_dim();
            for t in 0..4 {
                let action: Vec<f64> = (0..a).map(|j| ((j * 7 + t) % 5) as f64 / 4.0).collect();
                out.push(sim.step(&action).unwrap().transition.next_obs);
            }
            (out, sim.capacities())
        };
        let first = run(config.clone());
        assert_eq!(first, run(config.clone()));
        let other = run(SimConfig { seed: 12, ..config });
        assert_ne!(first.0, other.0);
        assert_ne!(first.1, other.1);
    }

    #[test]
    fn capacities_are_drawn_within_the_spread() {
        let sim = Simulator::new(SimConfig {
            capacity_spread: 0.3,
            ..SimConfig::default()
        })
        .unwrap();
        let c = sim.capacities();
        assert!(c.iter().all(|c| (0.7..=1.3).contains(c)), "{c:?}");
        assert!(c.iter().any(|&x| x != c[0]));
    }

    #[test]
    fn episodes_are_truncated_never_terminated() {
        let mut sim = Simulator::new(SimConfig {
            episode_length: 3,
            ..uniform(4, 1_000)
        })
        .unwrap();
        sim.reset();
        let ones = vec![1.0; sim.action_dim()];
        let flags: Vec<(bool, bool)> = (0..7)
            .map(|_| {
                let s = sim.step(&ones).unwrap().transition;
                (s.terminated, s.truncated)
            })
            .collect();
        let truncated: Vec<bool> = flags.iter().map(|f| f.1).collect();
        assert_eq!(truncated, [false, false, true, false, false, true, false]);
        assert!(flags.iter().all(|f| !f.0));
    }

    #[test]
    fn a_step_carries_its_whole_transition() {
        let mut sim = Simulator::new(uniform(4, 1_000)).unwrap();
        let obs = sim.reset();
        let action: Vec<f64> = (0..sim.action_dim()).map(|j| (j % 3) as f64 / 2.0).collect();
        let first = sim.step(&action).unwrap().transition;
        assert_eq!(first.obs, obs);
        assert_eq!(first.action, action.iter().map(|&a| a as f32).collect::<Vec<_>>());
        // The warm-up interval of `reset` was step 0.
        assert_eq!(first.step, 1);
        let second = sim.step(&action).unwrap().transition;
        assert_eq!(second.obs, first.next_obs);
        assert_eq!(second.step, 2);
    }

    #[test]
    fn bad_actions_are_errors_and_change_nothing() {
        let mut sim = Simulator::new(uniform(8, 1_000)).unwrap();
        let a = sim.action_dim();
        let e = sim.step(&vec![1.0; a + 1]).unwrap_err();
        assert!(e.to_string().contains(&format!("the mask needs {a}")), "{e}");
        let mut nan = vec![0.5; a];
        nan[2] = f64::NAN;
        let e = sim.step(&nan).unwrap_err();
        assert!(e.to_string().contains("action[2] = NaN"), "{e}");
        let mut big = vec![0.5; a];
        big[0] = 1.5;
        assert!(matches!(
            sim.step(&big),
            Err(EnvError::ActionRange { index: 0, .. })
        ));
        let mut negative = vec![0.5; a];
        negative[1] = -0.5;
        assert!(sim.step(&negative).is_err());
        assert_eq!(sim.steps(), 0);
    }

    /// A key file of `burst` records of one key, then `burst` records over 1000 others.
    fn burst_file(dir: &std::path::Path, burst: usize) -> std::path::PathBuf {
        let path = dir.join("keys.txt");
        let mut lines = vec!["a".to_string(); burst];
        lines.extend((0..burst).map(|i| format!("user-{}", i % 1000)));
        std::fs::write(&path, lines.join("\n")).unwrap();
        path
    }

    #[test]
    fn a_key_file_is_replayed_in_order_and_its_hot_key_found_online() {
        let dir = tempfile::tempdir().unwrap();
        let records = 20_000;
        let config = |mode| SimConfig {
            workers: 8,
            records_per_step: records,
            workload: Some(sas_router::workload::WorkloadConfig {
                kind: "file".into(),
                path: Some(burst_file(dir.path(), records as usize)),
                ..Default::default()
            }),
            hot_key_mode: mode,
            // Records only: the merge of step 1's 1000 keys would lighten the burst's λ in step 2.
            capacity: capacity("partial_cost: 0"),
            ..SimConfig::default()
        };
        let lambdas = |mode| {
            let mut sim = Simulator::new(config(mode)).unwrap();
            let ones = vec![1.0; sim.action_dim()];
            (0..3)
                .map(|_| sim.step(&ones).unwrap().transition.imbalance)
                .collect::<Vec<f64>>()
        };
        // Static ranks take keys 0..10 as hot, which a hashed key never is: every record of `a` is
        // hashed. Step 0 is the burst, all on one worker of 8 (λ = 7: no step of Zipf draws is this);
        // step 1 spreads 1000 keys; step 2 is the burst again, the file having cycled.
        let fixed = lambdas(HotKeyMode::Static);
        assert!((fixed[0] - 7.0).abs() < 1e-6, "{fixed:?}");
        assert!(fixed[1] < 1.0, "{fixed:?}");
        assert!((fixed[2] - 7.0).abs() < 1e-6, "{fixed:?}");
        // Online, `a` is found hot at the detector's first revision (record 16 384, most of the first
        // burst already routed) and then follows the table's row over several workers.
        let online = lambdas(HotKeyMode::Online);
        assert!(online[0] > 5.0, "{online:?}");
        assert!(online[1] < 1.0, "{online:?}");
        assert!(online[2] < 3.5, "{online:?}");
    }

    #[test]
    fn shuffled_keys_are_balanced_once_online_detection_finds_them() {
        let config = |mode| SimConfig {
            workers: 16,
            workload: Some(sas_router::workload::WorkloadConfig {
                keys: 10_000,
                shuffle_keys: true,
                seed: 4,
                ..Default::default()
            }),
            hot_key_mode: mode,
            // Records only: the cold keys' partials, merged everywhere, would dilute λ.
            capacity: capacity("partial_cost: 0"),
            ..SimConfig::default()
        };
        let after_warm_up = |mode| {
            let mut sim = Simulator::new(config(mode)).unwrap();
            mean_imbalance(&mut sim, 2);
            mean_imbalance(&mut sim, 4)
        };
        let online = after_warm_up(HotKeyMode::Online);
        let fixed = after_warm_up(HotKeyMode::Static);
        // Zipf(1.5): the hottest key is ~38 % of the stream; hashed, its worker alone has 6 times the mean.
        assert!(fixed > 4.0, "static ranks on shuffled keys: λ = {fixed}");
        assert!(online < fixed / 4.0, "online λ = {online}, static λ = {fixed}");
    }

    #[test]
    fn a_foreign_partitioner_must_have_the_same_workers() {
        let mut sim = Simulator::new(uniform(8, 1_000)).unwrap();
        let config = sas_router::RouterConfig {
            workers: 4,
            ..Default::default()
        };
        let mut hash = sas_router::build("hash", &config).unwrap();
        let e = sim.step_with_partitioner(hash.as_mut()).unwrap_err();
        assert!(e.to_string().contains("routes to 4 workers"), "{e}");
    }

    /// One key, spread over the workers by the table or kept on one: what the merge costs.
    fn one_hot_key(workers: u32, partial_cost: f64) -> SimConfig {
        SimConfig {
            workers,
            keys: 1,
            alpha: 1.0,
            hot_keys: 1,
            hot_key_mode: HotKeyMode::Static,
            true_hot_keys: 1,
            spread_keys: 1,
            records_per_step: 1_000,
            window_ms: 1_000,
            slide_ms: 500,
            capacity: CapacityConfig {
                partial_cost: Some(partial_cost),
                ..CapacityConfig::default()
            },
            ..SimConfig::default()
        }
    }

    #[test]
    fn spreading_a_hot_key_over_p_workers_costs_its_merging_worker_p_partials_per_window() {
        let p = 4;
        let m = merging_worker(0, flink_default_max_parallelism(p), p) as usize;
        let step = |partial_cost: f64, action: &[f64]| {
            let mut sim = Simulator::new(one_hot_key(p, partial_cost)).unwrap();
            let ranges = sim.mask().ranges();
            assert_eq!(ranges.len(), 1);
            assert_eq!(ranges[0], 0..p as usize, "the key may go to every worker");
            sim.step(action).unwrap()
        };
        // Spread evenly: each worker holds 250 records of the key, one partial per window, and worker m
        // merges all P of them in each of the step's two windows (ending at 500 and 1000 ms):
        // W_m = 250 + 2 · 4 · 10 = 330 units, every other W_i = 250. The stream's 1000 units at u = 0.7 over
        // C₀ = 4 give d_i = 0.7 · W_i / 1000 · 4: 0.7 for the others, 0.924 for m.
        let spread = step(10.0, &[1.0; 4]);
        for (w, &busy) in spread.busy.iter().enumerate() {
            let expected = if w == m { 924.0 } else { 700.0 };
            assert!((busy - expected).abs() < 1e-6, "worker {w}: {:?}", spread.busy);
        }
        let mean = (3.0 * 700.0 + 924.0) / 4.0;
        assert!((spread.transition.imbalance - (924.0 - mean) / mean).abs() < 1e-6);
        // Without the merge's cost the spread key is perfectly balanced.
        let free = step(0.0, &[1.0; 4]);
        assert!(
            free.busy.iter().all(|&b| (b - 700.0).abs() < 1e-6),
            "{:?}",
            free.busy
        );
        assert!(free.transition.imbalance < 1e-6);
        // Kept on one worker other than m, the key is one partial per window: m merges 2 · 10 = 20 units.
        let other = (m + 1) % p as usize;
        let mut pinned = [0.0; 4];
        pinned[other] = 1.0;
        let kept = step(10.0, &pinned);
        // The stream is back-pressured by `other` (d = 2.8), so busy ratios are θ · d with θ = 1/2.8.
        assert!((kept.busy[other] - 1000.0).abs() < 1e-6, "{:?}", kept.busy);
        assert!(
            (kept.busy[m] - 1000.0 * 20.0 / 1000.0).abs() < 1e-6,
            "{:?}",
            kept.busy
        );
    }

    #[test]
    fn a_partitioner_that_never_splits_keys_has_no_merge_to_pay_for() {
        let config = SimConfig {
            capacity: capacity("partial_cost: 50"),
            ..uniform(4, 2_000)
        };
        let router = config.router_config();
        let mut hash = sas_router::build("hash", &router).unwrap();
        assert!(!hash.splits_keys());
        let mut sas = sas_router::build("saspartitioner", &router).unwrap();
        let mut sim = Simulator::new(config.clone()).unwrap();
        let hashed = sim.step_with_partitioner(hash.as_mut()).unwrap();
        let free = SimConfig {
            capacity: capacity("partial_cost: 0"),
            ..config.clone()
        };
        let mut hash = sas_router::build("hash", &router).unwrap();
        let unpriced = Simulator::new(free)
            .unwrap()
            .step_with_partitioner(hash.as_mut())
            .unwrap();
        assert_eq!(hashed.busy, unpriced.busy);
        // A splitting partitioner pays for every key of every window, cold ones too: at 50 units a partial,
        // the merges outweigh the records and the stream is back-pressured.
        let mut sim = Simulator::new(config).unwrap();
        sim.step_with_partitioner(sas.as_mut()).unwrap();
        assert!(sim.last_throughput() < 0.5, "θ = {}", sim.last_throughput());
    }

    #[test]
    fn the_worker_of_the_costly_key_is_busier_for_the_same_records() {
        // Two equally frequent keys, each pinned to its own worker. Key 1's draw (0.5126) is below the
        // share and key 0's (0.5493) is not, so key 1's records cost 4 units and key 0's one.
        let config = |share: f64| SimConfig {
            workers: 2,
            keys: 2,
            alpha: 0.0,
            mask_alpha: Some(1.0),
            hot_keys: 2,
            hot_key_mode: HotKeyMode::Static,
            true_hot_keys: 2,
            spread_keys: 2,
            records_per_step: 4_000,
            utilisation: 0.4,
            capacity: CapacityConfig {
                partial_cost: Some(0.0),
                key_cost: serde_norway::from_str(&format!("{{share: {share}, factor: 4}}")).unwrap(),
                ..CapacityConfig::default()
            },
            seed: 3,
            ..SimConfig::default()
        };
        let run = |share: f64| {
            let mut sim = Simulator::new(config(share)).unwrap();
            assert_eq!(sim.action_dim(), 4);
            // Mask order: key 0 on workers 0, 1, then key 1 on workers 0, 1.
            sim.step(&[1.0, 0.0, 0.0, 1.0]).unwrap()
        };
        // The records are about as many on both workers (uniform keys); only the busy time tells the
        // costly key apart. Record units 1 : 4 of a stream of 2.5 units a record: d = 0.4 · (0.5/2.5 or
        // 2/2.5) · 2.
        let busy = run(0.53).busy;
        assert!(busy[1] > 3.5 * busy[0], "{busy:?}");
        assert!(
            (busy[0] - 160.0).abs() < 10.0 && (busy[1] - 640.0).abs() < 40.0,
            "{busy:?}"
        );
        let plain = run(0.0);
        assert!(
            (plain.busy[0] - plain.busy[1]).abs() < 0.05 * plain.busy[0],
            "{:?}",
            plain.busy
        );
    }

    #[test]
    fn a_capacity_change_slows_the_named_worker_from_its_step_on() {
        let config = SimConfig {
            capacity: capacity("changes: [{after_ms: 3000, factors: [1, 1, 0.5, 1]}]\npartial_cost: 0"),
            ..uniform(4, 20_000)
        };
        let mut sim = Simulator::new(config).unwrap();
        let ones = vec![1.0; sim.action_dim()];
        let ratios: Vec<f64> = (0..6)
            .map(|_| {
                let busy = sim.step(&ones).unwrap().busy;
                busy[2] / ((busy[0] + busy[1] + busy[3]) / 3.0)
            })
            .collect();
        // Steps 0-2 start before 3000 ms; from step 3 worker 2 has half its capacity for the same stream.
        for (step, r) in ratios.iter().enumerate() {
            let expected = if step < 3 { 1.0 } else { 2.0 };
            assert!((r - expected).abs() < 0.1, "step {step}: {ratios:?}");
        }
        assert_eq!(sim.capacities(), [1.0, 1.0, 0.5, 1.0]);
    }

    #[test]
    fn windows_close_in_the_step_they_end_in() {
        // A step of one second charges 1000/slide windows, each of the pairs of its last window_ms.
        let mut merges = Merges::new(&one_hot_key(4, 1.0));
        for ts in 0..1000 {
            merges.record(7, (ts % 4) as u32, ts);
        }
        // Records up to 999 ms close the window ending at 500 (4 pairs); the step closes the one at 1000.
        assert_eq!(merges.take().iter().sum::<u64>(), 4);
        merges.close_windows_until(1000);
        let m = merging_worker(7, 128, 4) as usize;
        let merged = merges.take();
        assert_eq!(merged[m], 4);
        assert_eq!(merged.iter().sum::<u64>(), 4);
        // Next second: only worker 0. The window ending at 1500 still holds the others' records of
        // [500, 1000); the one ending at 2000 holds worker 0 alone.
        for ts in 1000..2000 {
            merges.record(7, 0, ts);
        }
        merges.close_windows_until(2000);
        assert_eq!(merges.take()[m], 4 + 1);
        // Pairs no later window can hold are forgotten.
        assert_eq!(merges.last_seen.len(), 1);
        // A window that is no multiple of its slide ends off the slide's multiples: 1000/300 ms windows
        // end at 100, 400, 700, 1000, ... ms.
        let mut merges = Merges::new(&SimConfig {
            slide_ms: 300,
            ..one_hot_key(4, 1.0)
        });
        merges.record(7, 0, 50);
        merges.record(7, 1, 150);
        merges.close_windows_until(399);
        // [-900, 100) holds worker 0's record; nothing else ended.
        assert_eq!(merges.take().iter().sum::<u64>(), 1);
        merges.close_windows_until(400);
        // [-600, 400) holds both.
        assert_eq!(merges.take().iter().sum::<u64>(), 2);
    }

    #[test]
    fn the_merge_is_keyed_as_flink_keys_it() {
        // `computeDefaultMaxParallelism`: at least 128, the power of two above 1.5 P, at most 32768.
        let max_p: Vec<u32> = [1, 16, 85, 86, 1000, 30_000]
            .iter()
            .map(|&p| flink_default_max_parallelism(p))
            .collect();
        assert_eq!(max_p, [128, 128, 128, 256, 2048, 32_768]);
        // With max parallelism = parallelism, a key's subtask is its key group: the router core's
        // per-worker keys (checked against Flink's own `UniformKeyExtractor` vectors) land on their worker.
        let table = sas_router::key_groups::WorkerKeyTable::new(8);
        for (w, &k) in table.keys().iter().enumerate() {
            assert_eq!(merging_worker(k as u64, 8, 8) as usize, w);
        }
        // Every merging worker takes a share of the keys.
        let mut per_worker = [0u32; 16];
        for key in 0..16_000u64 {
            per_worker[merging_worker(key, 128, 16) as usize] += 1;
        }
        assert!(
            per_worker.iter().all(|&n| (800..1200).contains(&n)),
            "{per_worker:?}"
        );
    }
}
