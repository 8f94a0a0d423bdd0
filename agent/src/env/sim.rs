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
//! * **Workers.** Capacity `c_i` drawn from `[1 − s, 1 + s]` (seeded), times any `slow_worker` factor.
//!   Worker i's demanded busy ratio is `d_i = u · (L_i / R) · (Σc / c_i)` for `L_i` of the step's `R`
//!   records: exactly the utilisation `u` for every worker when loads are proportional to capacities.
//! * **Back-pressure.** A worker cannot be busy more than 100 % of the time. When the bottleneck demands
//!   `d_max > 1` the router blocks on it (Flink's credit-based flow control), so the whole stream runs at
//!   throughput `θ = 1/d_max` and every worker is busy `θ · d_i`: the bottleneck reads exactly 1.0 and the
//!   others idle in proportion. Busy ratios therefore never exceed 1 and keep the imbalance visible
//!   (clamping each worker at 1 would hide how overloaded the bottleneck is).
//! * **Observation and reward** from the step's record counts and busy time, through [`features`]. The
//!   live job averages over a window of slides; the simulator's window is the step itself.

mod config;

pub use config::{Scenario, SimConfig, SimError};

use super::features::{self, InitialPerf};
use super::{EnvError, Environment, Step, check_action};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use sas_learner::Transition;
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
    /// Drawn capacities, before `slow_worker` factors.
    capacities: Vec<f64>,
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
        Ok(Self {
            world: World {
                mask: router.mask().clone(),
                initial_perf: InitialPerf::new(config.initial_perf)?,
                capacities,
                workloads,
                step: 0,
                next_record: 0,
                episode_step: 0,
                last_obs: None,
                last_throughput: 1.0,
                utilisation,
                utilisation_rng,
                config,
            },
            router,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.world.config
    }

    /// Capacity of each worker at the next step (drawn capacity times any `slow_worker` factor).
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

impl World {
    fn capacities_at(&self, step: u64) -> Vec<f64> {
        self.capacities
            .iter()
            .enumerate()
            .map(|(w, c)| c * self.config.slowdown_at(w, step))
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
        for i in self.next_record..self.next_record + records {
            let r = workload.record_at(i);
            counts[p.route(r.key, r.ts_ms) as usize] += 1.0;
        }
        let capacities = self.capacities_at(self.step);
        let total_capacity: f64 = capacities.iter().sum();
        let u = self.utilisation;
        let demand: Vec<f64> = counts
            .iter()
            .zip(&capacities)
            .map(|(l, c)| u * (l / records as f64) * (total_capacity / c))
            .collect();
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
    use sas_router::partitioner::HotKeyMode;

    fn uniform(workers: u32, records: u64) -> SimConfig {
        SimConfig {
            workers,
            alpha: 0.0,
            mask_alpha: Some(1.0),
            records_per_step: records,
            seed: 5,
            ..SimConfig::default()
        }
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
        // Demand on worker 3: 0.7 · (1/8) · (7.5/0.5) = 1.3125, so the stream runs at θ = 1/1.3125 ≈ 0.76
        // and worker 3 reads saturated.
        let step = sim.step(&vec![1.0; sim.action_dim()]).unwrap();
        assert!((step.busy[3] - 1000.0).abs() < 1e-9, "{:?}", step.busy);
        let theta = sim.last_throughput();
        assert!((theta - 1.0 / 1.3125).abs() < 0.02, "θ = {theta}");
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
        let config = SimConfig {
            workers: 16,
            capacity_spread: 0.3,
            records_per_step: 5_000,
            seed: 11,
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
}
