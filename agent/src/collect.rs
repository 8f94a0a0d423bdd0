//! Offline data collection in the simulator under the `dalton-offline` behaviour policy.
//!
//! Each step routes the step's records through the behaviour bandit itself (not through
//! `saspartitioner`), which closes its interval and exposes what it did as an env-space action: records
//! per mask pair divided by their maximum ([`DaltonOffline::behaviour_action`]). The transition is
//! `(obs before the step, that action, reward, obs after, truncated at episode ends)`: the same pairing
//! as the prototype's log scraper (observation of interval i−1, routing and reward of interval i), but from
//! structured data and the shared feature code.
//!
//! The bandit finds its hot keys as the world's routers do (`hot_key_mode`, online by default), so on a
//! key file, a text or shuffled ids it explores the stream's real hot keys, rank by rank in the mask's
//! layout; a step in which no key is hot yet (the detector's first revision comes after
//! `tick_records` records) records an all-zero action: every hot row dropped, all records hashed.

use crate::env::sim::{SimConfig, SimError, Simulator, initial_imbalance};
use crate::env::{EnvError, Environment};
use crate::offline::{DatasetWriter, Meta, OfflineError};
use sas_learner::Transition;
use sas_router::ConfigError;
use sas_router::partitioner::{DaltonOffline, Partitioner};
use serde::Serialize;
use std::path::PathBuf;
use thiserror::Error;

/// Source name recorded in the dataset's `meta.json`.
pub const SOURCE: &str = "sim:dalton-offline";
/// Steps of the initial table measured for the summary's `initial_imbalance`.
const INITIAL_STEPS: u64 = 8;

/// What to collect and where.
#[derive(Debug, Clone)]
pub struct CollectConfig {
    /// The simulated world (workers, stream, capacities, episode length, seed).
    pub sim: SimConfig,
    /// Transitions to record (> 0).
    pub steps: u64,
    /// Dataset directory (created; an existing dataset there is replaced).
    pub out: PathBuf,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// What a collection produced. Field names are the `--json` contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollectSummary {
    /// Transitions written.
    pub transitions: u64,
    /// Logical episodes completed (truncations).
    pub episodes: u64,
    /// Mean λ of busy time over the recorded steps, under the behaviour policy.
    pub behaviour_imbalance: f64,
    /// Mean NMAD of busy time over the recorded steps.
    pub behaviour_nmad: f64,
    /// Mean reward over the recorded steps.
    pub mean_reward: f64,
    /// Mean λ of the initial routing table (uniform within each mask range) in the same world.
    pub initial_imbalance: f64,
    /// Observation length.
    pub obs_dim: usize,
    /// Action length.
    pub action_dim: usize,
    /// The dataset directory.
    pub out: PathBuf,
}

/// A collection failed.
#[derive(Debug, Error)]
pub enum CollectError {
    /// A collection setting is wrong.
    #[error("invalid `{key}` = {value}: {reason}")]
    Invalid {
        /// The flag.
        key: &'static str,
        /// Its value.
        value: String,
        /// What is allowed.
        reason: &'static str,
    },
    /// The simulator could not be built.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// The behaviour policy could not be built.
    #[error(transparent)]
    Behaviour(#[from] ConfigError),
    /// A step failed.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// The dataset could not be written.
    #[error(transparent)]
    Offline(#[from] OfflineError),
}

/// Runs the behaviour policy for `config.steps` steps and writes the dataset.
///
/// # Errors
/// [`CollectError`] naming the bad setting, or the step or file that failed; transitions written
/// before a failure stay in the dataset.
pub fn run(config: &CollectConfig) -> Result<CollectSummary, CollectError> {
    if config.steps == 0 {
        return Err(CollectError::Invalid {
            key: "steps",
            value: "0".into(),
            reason: "must be > 0",
        });
    }
    let mut sim = Simulator::new(config.sim.clone())?;
    let router_config = config.sim.router_config();
    let mut behaviour = DaltonOffline::new(&router_config)?;
    // Both are built from one RouterConfig, so their masks agree; the dataset's layout depends on it.
    debug_assert_eq!(behaviour.mask(), sim.mask());

    let mut meta = Meta::new(sim.mask(), SOURCE);
    meta.episode_length = Some(config.sim.episode_length);
    meta.initial_perf = Some(config.sim.initial_perf);
    meta.producer = Some(serde_json::json!({
        "sim": config.sim,
        "steps": config.steps,
        "behaviour": behaviour.name(),
        "dalton": router_config.dalton,
    }));
    let mut writer = DatasetWriter::create(&config.out, meta)?;

    let bar = crate::progress::bar(
        config.progress,
        config.steps,
        "collect-sim [{bar:40}] {pos}/{len} steps ({eta})",
    );
    let (mut lambda_sum, mut nmad_sum, mut reward_sum, mut episodes) = (0.0, 0.0, 0.0, 0);
    sim.reset_with_partitioner(&mut behaviour)?;
    for step in 0..config.steps {
        let s = sim.step_with_partitioner(&mut behaviour)?;
        // The dataset numbers its recorded steps from 0 (the simulator counts its warm-up interval too);
        // the action is what the bandit did in the step, which only it knows.
        let t = Transition {
            step,
            action: behaviour.behaviour_action().iter().map(|&a| a as f32).collect(),
            ..s.transition
        };
        writer.write(&t)?;
        lambda_sum += t.imbalance;
        nmad_sum += t.nmad;
        reward_sum += f64::from(t.reward);
        episodes += u64::from(t.truncated);
        bar.inc(1);
    }
    let transitions = writer.finish()?;
    bar.finish_and_clear();
    let n = config.steps as f64;
    Ok(CollectSummary {
        transitions,
        episodes,
        behaviour_imbalance: lambda_sum / n,
        behaviour_nmad: nmad_sum / n,
        mean_reward: reward_sum / n,
        initial_imbalance: initial_imbalance(&config.sim, INITIAL_STEPS)?,
        obs_dim: sim.observation_dim(),
        action_dim: sim.action_dim(),
        out: config.out.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offline::DatasetReader;
    use sas_router::hot_keys::OnlineHotKeyConfig;
    use sas_router::partitioner::HotKeyMode;
    use sas_router::workload::WorkloadConfig;

    #[test]
    fn collects_a_readable_dataset_with_truncated_episodes() {
        let dir = tempfile::tempdir().unwrap();
        let config = CollectConfig {
            sim: SimConfig {
                workers: 8,
                records_per_step: 4_000,
                episode_length: 4,
                capacity_spread: 0.3,
                seed: 3,
                // Online hot keys (the default) are found by the warm-up step: a revision every 1000 records.
                online_hot_keys: OnlineHotKeyConfig {
                    tick_records: 1000,
                    ..Default::default()
                },
                ..SimConfig::default()
            },
            steps: 10,
            out: dir.path().join("off"),
            progress: false,
        };
        let summary = run(&config).unwrap();
        assert_eq!((summary.transitions, summary.episodes), (10, 2));
        let reader = DatasetReader::open(&config.out).unwrap();
        assert_eq!(reader.meta().source, SOURCE);
        let data: Vec<Transition> = reader.collect::<Result<_, _>>().unwrap();
        assert_eq!(data.len(), 10);
        // Consecutive transitions chain: next_obs of one is obs of the next.
        for pair in data.windows(2) {
            assert_eq!(pair[0].next_obs, pair[1].obs);
        }
        let truncated: Vec<u64> = data.iter().filter(|t| t.truncated).map(|t| t.step).collect();
        assert_eq!(truncated, [3, 7]);
        assert!(data.iter().all(|t| !t.terminated));
        // The behaviour action is the step's routing: some pair of every step carries the maximum 1.
        assert!(data.iter().all(|t| t.action.contains(&1.0)));
        // Same seed, same data.
        let again = CollectConfig {
            out: dir.path().join("again"),
            ..config.clone()
        };
        run(&again).unwrap();
        let other: Vec<Transition> = DatasetReader::open(&again.out)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(other, data);
    }

    /// A key file of 10 000 lines: `a` is 30 % of them, `b` 15 %, the rest cycle through 2000 rare keys.
    fn key_file(dir: &std::path::Path) -> PathBuf {
        let path = dir.join("keys.txt");
        let lines: Vec<String> = (0..10_000)
            .map(|i| match i % 100 {
                0..30 => "a".to_string(),
                30..45 => "b".to_string(),
                _ => format!("rare-{}", i % 2000),
            })
            .collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        path
    }

    /// Issue #14 item 4: on real keys the behaviour policy is a real one. With online hot keys (the
    /// default) it finds the file's hot keys and explores their mask ranges; with the static shortcut it
    /// found none (keys are hashes, not ranks), recorded all-zero actions and balanced like `hash`.
    #[test]
    fn a_key_file_is_collected_with_its_hot_keys_found_online() {
        let dir = tempfile::tempdir().unwrap();
        let collect = |mode: HotKeyMode, out: &str| {
            let config = CollectConfig {
                sim: SimConfig {
                    workers: 8,
                    records_per_step: 20_000,
                    episode_length: 4,
                    seed: 3,
                    workload: Some(WorkloadConfig {
                        kind: "file".into(),
                        path: Some(key_file(dir.path())),
                        ..WorkloadConfig::default()
                    }),
                    hot_key_mode: mode,
                    // Records only: the merge of the 2000 rare keys' partials would lighten the λ of the
                    // hashed `a` (the simulator's merge costs are tested in `env::sim`).
                    capacity: sas_router::params::CapacityConfig {
                        partial_cost: Some(0.0),
                        ..Default::default()
                    },
                    ..SimConfig::default()
                },
                steps: 6,
                out: dir.path().join(out),
                progress: false,
            };
            let summary = run(&config).unwrap();
            let data: Vec<Transition> = DatasetReader::open(&config.out)
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            (summary, data)
        };
        let (online, data) = collect(HotKeyMode::Online, "online");
        assert!(
            data.iter().all(|t| t.action.contains(&1.0)),
            "an action without routing"
        );
        let (ranks, ranked_data) = collect(HotKeyMode::Static, "static");
        assert!(ranked_data.iter().all(|t| t.action.iter().all(|&a| a == 0.0)));
        // Hashed, `a` alone puts 30 % of the records on one worker of 8 (λ of busy time ≥ 1.4).
        assert!(
            ranks.behaviour_imbalance > 1.4,
            "static: {}",
            ranks.behaviour_imbalance
        );
        assert!(
            online.behaviour_imbalance < ranks.behaviour_imbalance / 3.0,
            "online λ {}, static λ {}",
            online.behaviour_imbalance,
            ranks.behaviour_imbalance
        );
    }

    #[test]
    fn zero_steps_is_an_error() {
        let config = CollectConfig {
            sim: SimConfig::default(),
            steps: 0,
            out: PathBuf::from("unused"),
            progress: false,
        };
        let e = run(&config).unwrap_err();
        assert!(e.to_string().contains("`steps`"), "{e}");
    }
}
