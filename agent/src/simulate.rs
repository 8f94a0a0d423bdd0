//! `sas-agent simulate`: online SAC-N in the simulator, then the learned deterministic policy measured
//! against the initial table in the same world.
//!
//! The loop is the actor/learner split in one thread: actions come from a [`PolicySnapshot`] (published
//! every `publish_every` updates), experience goes to prioritized replay, and `updates_per_step` gradient
//! steps follow each environment step once the buffer holds a batch.

use crate::env::Environment;
use crate::env::sim::{SimConfig, Simulator, initial_imbalance};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use sas_learner::config::SacConfig;
use sas_learner::replay::PrioritizedReplay;
use sas_learner::sac_n::SacN;
use sas_learner::snapshot::PolicySnapshot;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// What to run.
#[derive(Debug, Clone)]
pub struct SimulateConfig {
    /// The simulated world.
    pub sim: SimConfig,
    /// Environment steps of training.
    pub steps: u64,
    /// Steps of uniformly random actions before the policy acts.
    pub warmup_steps: u64,
    /// Gradient updates after each step (training intensity).
    pub updates_per_step: usize,
    /// Updates between two snapshot publications.
    pub publish_every: u64,
    /// Steps over which the final deterministic policy and the initial table are measured.
    pub eval_steps: u64,
    /// SAC-N hyperparameters.
    pub sac: SacConfig,
    /// Checkpoint directory, written every `save_every` steps and at the end (servable by
    /// `sas-agent serve` to a job whose params describe the same world). None: nothing is written.
    pub out: Option<PathBuf>,
    /// Steps between two checkpoint saves.
    pub save_every: u64,
    /// Show a progress bar.
    pub progress: bool,
}

/// The `--json` summary. Field names are the contract.
#[derive(Debug, Clone, Serialize)]
pub struct SimulateSummary {
    /// The simulated world in one line ([`SimConfig::describe`]).
    pub world: String,
    /// Mean λ (busy time) of the initial table (uniform inside each mask range).
    pub initial_imbalance: f64,
    /// Mean λ of the final deterministic policy, same world and seed.
    pub final_imbalance: f64,
    /// Mean λ over the last 10 % of training steps (sampled actions).
    pub training_imbalance_tail: f64,
    /// λ of the first training step (a random warm-up action, or the policy's without warm-up).
    pub first_step_imbalance: f64,
    /// λ of the last training step (a sampled action).
    pub last_step_imbalance: f64,
    /// Environment steps.
    pub steps: u64,
    /// Gradient updates.
    pub updates: u64,
    /// Wall-clock seconds of training.
    pub seconds: f64,
    /// Environment steps per second during training (simulated intervals, acting and updates included).
    pub steps_per_s: f64,
    /// Gradient updates per second during training.
    pub updates_per_s: f64,
    /// The checkpoint written, if any.
    pub checkpoint: Option<PathBuf>,
}

/// Trains and evaluates. The world it simulates is printed to stderr first, in one line.
///
/// # Errors
/// A bad configuration (naming the key), a learner or environment failure.
pub fn run(config: &SimulateConfig) -> anyhow::Result<SimulateSummary> {
    anyhow::ensure!(config.steps > 0, "invalid `steps` = 0: must be > 0");
    config.sac.validate()?;
    let mut sim = Simulator::new(config.sim.clone())?;
    // Stderr, so a `--json` summary on stdout stays parseable.
    let world = config.sim.describe();
    eprintln!("{world}");
    let (obs_dim, act_dim) = (sim.observation_dim(), sim.action_dim());
    let mut sac = SacN::new(obs_dim, act_dim, &config.sac)?;
    let s = &config.sac;
    let mut replay = PrioritizedReplay::new(
        obs_dim,
        act_dim,
        s.replay_capacity,
        s.per_alpha,
        s.per_beta,
        s.per_eps,
        s.seed,
    )?;
    let mask: Vec<[usize; 2]> = sim.mask().ranges().iter().map(|r| [r.start, r.end]).collect();
    let save = |sac: &SacN| -> anyhow::Result<()> {
        match &config.out {
            Some(dir) => Ok(sas_learner::checkpoint::save(dir, sac, &mask)?),
            None => Ok(()),
        }
    };
    let mut snapshot = sac.snapshot()?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(s.seed ^ 0xac7);
    let bar = crate::progress::bar(
        config.progress,
        config.steps,
        "simulate [{bar:40}] {pos}/{len} steps ({eta}) {msg}",
    );
    let started = Instant::now();
    let mut obs = sim.reset();
    let mut updates = 0u64;
    let tail_from = config.steps - (config.steps / 10).max(1);
    let (mut tail_sum, mut tail_n) = (0.0, 0u64);
    let (mut first_lambda, mut last_lambda) = (f64::NAN, f64::NAN);
    for step in 0..config.steps {
        let env_action: Vec<f32> = if step < config.warmup_steps {
            (0..act_dim).map(|_| rng.random::<f32>()).collect()
        } else {
            snapshot.act(&obs, false, &mut rng)?
        };
        let action64: Vec<f64> = env_action.iter().map(|&a| f64::from(a)).collect();
        let t = sim.step(&action64)?.transition;
        if step == 0 {
            first_lambda = t.imbalance;
        }
        last_lambda = t.imbalance;
        if step >= tail_from {
            tail_sum += t.imbalance;
            tail_n += 1;
        }
        replay.push(&t)?;
        obs = t.next_obs;
        if replay.len() >= s.batch_size {
            for _ in 0..config.updates_per_step {
                let batch = replay.sample(s.batch_size)?;
                let stats = sac.update(&batch)?;
                replay.update_priorities(&batch.indices, &stats.td_errors)?;
                updates += 1;
                if updates.is_multiple_of(config.publish_every.max(1)) {
                    snapshot = sac.snapshot()?;
                }
            }
        }
        if (step + 1) % config.save_every.max(1) == 0 {
            save(&sac)?;
        }
        if step % 100 == 0 {
            bar.set_message(format!("λ {:.3}", t.imbalance));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    save(&sac)?;
    let snapshot = sac.snapshot()?;
    Ok(SimulateSummary {
        world,
        initial_imbalance: initial_imbalance(&config.sim, config.eval_steps)?,
        final_imbalance: evaluate(&config.sim, &snapshot, config.eval_steps)?,
        training_imbalance_tail: tail_sum / tail_n.max(1) as f64,
        first_step_imbalance: first_lambda,
        last_step_imbalance: last_lambda,
        steps: config.steps,
        updates,
        seconds,
        steps_per_s: config.steps as f64 / seconds.max(1e-9),
        updates_per_s: updates as f64 / seconds.max(1e-9),
        checkpoint: config.out.clone(),
    })
}

/// Mean λ of the deterministic policy over `steps` steps of a fresh simulator of `config`.
pub fn evaluate(config: &SimConfig, snapshot: &PolicySnapshot, steps: u64) -> anyhow::Result<f64> {
    let mut sim = Simulator::new(config.clone())?;
    let mut obs = sim.reset();
    // Deterministic actions draw nothing from the generator.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
    let mut sum = 0.0;
    for _ in 0..steps.max(1) {
        let a: Vec<f64> = snapshot
            .act(&obs, true, &mut rng)?
            .iter()
            .map(|&x| f64::from(x))
            .collect();
        let t = sim.step(&a)?.transition;
        sum += t.imbalance;
        obs = t.next_obs;
    }
    Ok(sum / steps.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Environment;
    use sas_learner::checkpoint::{self, Expected};

    #[test]
    fn the_checkpoint_serves_the_simulated_world() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("policy");
        let sim = SimConfig {
            workers: 4,
            records_per_step: 2000,
            seed: 3,
            ..SimConfig::default()
        };
        let config = SimulateConfig {
            sim: sim.clone(),
            steps: 30,
            warmup_steps: 5,
            updates_per_step: 1,
            publish_every: 5,
            eval_steps: 3,
            sac: SacConfig {
                hidden_sizes: vec![16, 16],
                batch_size: 8,
                ..SacConfig::default()
            },
            out: Some(out.clone()),
            save_every: 10,
            progress: false,
        };
        let summary = run(&config).unwrap();
        assert_eq!(summary.checkpoint.as_deref(), Some(out.as_path()));
        assert_eq!(summary.updates, 30 - 8 + 1);

        let world = Simulator::new(sim).unwrap();
        let mask: Vec<[usize; 2]> = world.mask().ranges().iter().map(|r| [r.start, r.end]).collect();
        let (sac, meta) = checkpoint::load(
            &out,
            &Expected {
                obs_dim: world.observation_dim(),
                act_dim: world.action_dim(),
                mask: Some(&mask),
            },
        )
        .unwrap();
        assert_eq!(meta.updates, summary.updates);
        assert_eq!(sac.updates(), summary.updates);
    }
}
