//! SAC-N: soft actor-critic (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications") with
//! an ensemble of `N = E` critics and the minimum over all of them in every target (An et al. 2021,
//! "Uncertainty-Based Offline Reinforcement Learning with Diversified Q-Ensemble"). It is the online
//! learner; `cql_n.rs` pre-trains the same networks offline.
//!
//! One [`SacN::update`] reads a batch and applies, in this order (losses all from the same parameters, as
//! in the prototype's RLlib learner; then the three optimizer steps and the targets):
//!
//! ```text
//! a' ~ pi(.|s'),  next_q_value = r + gamma (1 - terminated) (min_k qf_k_target(s', a') - alpha log pi(a'|s'))
//! qf_loss    = sum_k mean_b  w_b Huber_delta(qf_k(s, a) - next_q_value)        (w: PER weights)
//! a~ ~ pi(.|s) (reparameterised)
//! actor_loss = mean_b  alpha log pi(a~|s) - min_k qf_k(s, a~)                    (critic weights detached)
//! alpha_loss = -mean_b log_alpha (log pi(a~|s) + target_entropy)                 (log pi detached)
//! qf_target <- tau qf + (1 - tau) qf_target
//! ```
//!
//! The bootstrap mask uses `terminated` only: a truncated step (a logical episode end of a continuing
//! task) still bootstraps.
//!
//! # Metrics
//!
//! [`UpdateStats::metrics`] names each value; the names are stable:
//!
//! | name | value |
//! |---|---|
//! | `losses/qf_loss` | `qf_loss` above, summed over the ensemble |
//! | `losses/actor_loss` | `actor_loss` above |
//! | `losses/alpha_loss` | `alpha_loss` above |
//! | `losses/alpha` | `alpha = exp(log_alpha)` used in this update |
//! | `losses/qf_values` | `mean_{k,b} qf_k(s, a)` on the batch |
//! | `losses/td_error` | `mean_b mean_k |qf_k(s, a) - next_q_value|`, the PER priority signal |

use candle_core::{Device, Tensor, Var};
use candle_nn::{Init, VarMap};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::adam::Adam;
use crate::config::SacConfig;
use crate::error::{LearnerError, Result};
use crate::nets::{EnsembleCritic, Policy, init_uniform_fan_in, named_vars, polyak_update, var_builder};
use crate::replay::Batch;
use crate::snapshot::PolicySnapshot;

/// What one update measured; see the module's metric table.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateStats {
    /// `losses/qf_loss`.
    pub qf_loss: f32,
    /// `losses/actor_loss`.
    pub actor_loss: f32,
    /// `losses/alpha_loss`.
    pub alpha_loss: f32,
    /// `losses/alpha`.
    pub alpha: f32,
    /// `losses/qf_values`.
    pub mean_q: f32,
    /// Per row of the batch, `mean_k |qf_k(s, a) - next_q_value|`: new priorities for the replay buffer.
    pub td_errors: Vec<f32>,
}

impl UpdateStats {
    /// The scalars under their stable metric names.
    pub fn metrics(&self) -> [(&'static str, f32); 6] {
        let td = self.td_errors.iter().sum::<f32>() / self.td_errors.len().max(1) as f32;
        [
            ("losses/qf_loss", self.qf_loss),
            ("losses/actor_loss", self.actor_loss),
            ("losses/alpha_loss", self.alpha_loss),
            ("losses/alpha", self.alpha),
            ("losses/qf_values", self.mean_q),
            ("losses/td_error", td),
        ]
    }
}

/// `next_q_value = r + gamma (1 - terminated) soft_next`, all `[B]`. The mask is `terminated` only: a
/// truncated step (time limit, logical episode end of a continuing task) still bootstraps; truncation never
/// reaches this function (STYLE rule 10).
pub(crate) fn next_q_value(
    rewards: &Tensor,
    terminated: &Tensor,
    soft_next: &Tensor,
    gamma: f32,
) -> candle_core::Result<Tensor> {
    let not_done = terminated.affine(-1.0, 1.0)?;
    rewards + (not_done * soft_next)?.affine(f64::from(gamma), 0.0)?
}

/// Huber loss, elementwise: `x^2 / 2` for `|x| <= delta`, `delta (|x| - delta / 2)` beyond, written as
/// `c^2 / 2 + delta (|x| - c)` with `c = min(|x|, delta)` so it needs no mask.
pub(crate) fn huber(x: &Tensor, delta: f32) -> candle_core::Result<Tensor> {
    let abs = x.abs()?;
    let c = abs.minimum(f64::from(delta))?;
    (c.sqr()?.affine(0.5, 0.0)? + ((abs - &c)? * f64::from(delta))?)?.contiguous()
}

/// SAC-N: the networks, their optimizers and the update.
pub struct SacN {
    pub(crate) obs_dim: usize,
    pub(crate) act_dim: usize,
    pub(crate) config: SacConfig,
    /// Every variable (`policy.*`, `qf.*`, `qf_target.*`, `log_alpha`): what a checkpoint saves.
    pub(crate) varmap: VarMap,
    pub(crate) policy: Policy,
    pub(crate) qf: EnsembleCritic,
    pub(crate) qf_target: EnsembleCritic,
    pub(crate) log_alpha: Var,
    pub(crate) target_entropy: f32,
    pub(crate) qf_optimizer: Adam,
    pub(crate) policy_optimizer: Adam,
    pub(crate) alpha_optimizer: Adam,
    pub(crate) rng: Xoshiro256PlusPlus,
    pub(crate) updates: u64,
}

impl std::fmt::Debug for SacN {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SacN")
            .field("obs_dim", &self.obs_dim)
            .field("act_dim", &self.act_dim)
            .field("updates", &self.updates)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SacN {
    /// Builds the networks for `obs_dim` observations and `act_dim` actions, initialised from
    /// `config.seed`; the target critics start as copies of the critics.
    ///
    /// # Errors
    ///
    /// [`LearnerError::InvalidConfig`] for a bad hyperparameter or a zero dimension.
    pub fn new(obs_dim: usize, act_dim: usize, config: &SacConfig) -> Result<Self> {
        config.validate()?;
        for (field, dim) in [("obs_dim", obs_dim), ("act_dim", act_dim)] {
            if dim == 0 {
                return Err(LearnerError::InvalidConfig {
                    field: field.into(),
                    value: "0".into(),
                    reason: "must be >= 1".into(),
                });
            }
        }
        let c = config;
        let varmap = VarMap::new();
        let vb = var_builder(&varmap);
        let hidden = &c.hidden_sizes;
        let policy = Policy::new(
            obs_dim,
            act_dim,
            hidden,
            (c.log_std_min, c.log_std_max),
            vb.pp("policy"),
        )?;
        let qf = EnsembleCritic::new(obs_dim, act_dim, hidden, c.ensemble_size, vb.pp("qf"))?;
        let qf_target = EnsembleCritic::new(obs_dim, act_dim, hidden, c.ensemble_size, vb.pp("qf_target"))?;
        vb.get_with_hints((), "log_alpha", Init::Const(f64::from(c.initial_alpha).ln()))?;
        let log_alpha = named_vars(&varmap, "log_alpha").remove(0).1;

        let mut rng = Xoshiro256PlusPlus::seed_from_u64(c.seed);
        init_uniform_fan_in(&varmap, "policy", &mut rng)?;
        init_uniform_fan_in(&varmap, "qf", &mut rng)?;
        polyak_update(&qf_target, &qf, 1.0)?;

        let adam = |prefix: &str, lr: f64| {
            Adam::new(
                named_vars(&varmap, prefix),
                lr,
                c.adam_beta1,
                c.adam_beta2,
                c.adam_eps,
            )
        };
        let mut qf_optimizer = adam("qf", c.critic_lr);
        qf_optimizer.attach_sinks(&qf.sinks());
        let mut policy_optimizer = adam("policy", c.actor_lr);
        policy_optimizer.attach_sinks(&policy.sinks());
        let alpha_optimizer = adam("log_alpha", c.alpha_lr);
        Ok(Self {
            obs_dim,
            act_dim,
            target_entropy: c.target_entropy_for(act_dim),
            config: c.clone(),
            varmap,
            policy,
            qf,
            qf_target,
            log_alpha,
            qf_optimizer,
            policy_optimizer,
            alpha_optimizer,
            rng,
            updates: 0,
        })
    }

    /// Observation dimension.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Action dimension `A`.
    pub fn act_dim(&self) -> usize {
        self.act_dim
    }

    /// The hyperparameters.
    pub fn config(&self) -> &SacConfig {
        &self.config
    }

    /// Gradient updates done so far.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// The policy network.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The critic ensemble.
    pub fn qf(&self) -> &EnsembleCritic {
        &self.qf
    }

    /// The target critic ensemble.
    pub fn qf_target(&self) -> &EnsembleCritic {
        &self.qf_target
    }

    /// The current temperature `alpha = exp(log_alpha)`.
    ///
    /// # Errors
    ///
    /// Never with a well-formed model; a candle error otherwise.
    pub fn alpha(&self) -> Result<f32> {
        Ok(self.log_alpha.as_tensor().to_scalar::<f32>()?.exp())
    }

    /// Resets `log_alpha` to `log(alpha)`, e.g. at the offline-to-online hand-off.
    ///
    /// # Errors
    ///
    /// [`LearnerError::InvalidConfig`] unless `alpha` is finite and positive.
    pub fn set_alpha(&mut self, alpha: f32) -> Result<()> {
        if !(alpha.is_finite() && alpha > 0.0) {
            return Err(LearnerError::InvalidConfig {
                field: "alpha".into(),
                value: alpha.to_string(),
                reason: "must be finite and > 0".into(),
            });
        }
        self.log_alpha.set(&Tensor::new(alpha.ln(), &Device::Cpu)?)?;
        Ok(())
    }

    /// A copy of the policy's weights for serving (see [`PolicySnapshot`]).
    ///
    /// # Errors
    ///
    /// Never with a well-formed model; a candle error otherwise.
    pub fn snapshot(&self) -> Result<PolicySnapshot> {
        PolicySnapshot::from_policy(&self.policy, self.obs_dim)
    }

    /// Drops gradients left over from an interrupted update.
    pub(crate) fn zero_grad(&self) {
        self.qf_optimizer.zero_grad();
        self.policy_optimizer.zero_grad();
        self.alpha_optimizer.zero_grad();
    }

    /// Standard-normal noise `[rows, A]` from the learner's seeded generator.
    pub(crate) fn noise(&mut self, rows: usize) -> Result<Tensor> {
        let values: Vec<f32> = (0..rows * self.act_dim)
            .map(|_| self.rng.sample(StandardNormal))
            .collect();
        Ok(Tensor::from_vec(values, (rows, self.act_dim), &Device::Cpu)?)
    }

    /// One gradient update on `batch`: critic, actor, temperature, then the Polyak targets.
    ///
    /// Runs inside candle's CPU thread pool, so the fused ops split their work over its threads.
    ///
    /// # Errors
    ///
    /// [`LearnerError::DimMismatch`] or [`LearnerError::NonFinite`] for a bad batch (nothing is changed
    /// then); [`LearnerError::NonFinite`] naming `qf_loss` if the update diverged.
    pub fn update(&mut self, batch: &Batch) -> Result<UpdateStats> {
        batch.validate(self.obs_dim, self.act_dim)?;
        Device::Cpu.with_context(|| self.update_inner(batch))
    }

    fn update_inner(&mut self, batch: &Batch) -> Result<UpdateStats> {
        let (b, dev) = (batch.len(), &Device::Cpu);
        let obs = Tensor::from_slice(&batch.obs, (b, self.obs_dim), dev)?;
        let actions = Tensor::from_slice(&batch.actions, (b, self.act_dim), dev)?;
        let rewards = Tensor::from_slice(&batch.rewards, b, dev)?;
        let next_obs = Tensor::from_slice(&batch.next_obs, (b, self.obs_dim), dev)?;
        let terminated = Tensor::from_slice(&batch.terminated, b, dev)?;
        let weights = Tensor::from_slice(&batch.weights, b, dev)?;
        let alpha = self.alpha()?;
        let c = self.config.clone();
        self.zero_grad();

        // ---- critic: qf_loss = sum_k mean_b w Huber(qf_k(s, a) - next_q_value) ----
        let next_noise = self.noise(b)?;
        let (next_actions, next_log_pi) = self.policy.sample(&next_obs, &next_noise, false)?;
        let min_qf_next_target = self
            .qf_target
            .q_values_no_grad(&next_obs, &next_actions)?
            .min(0)?;
        let soft_next = (min_qf_next_target - (next_log_pi * f64::from(alpha))?)?;
        let next_q_value = next_q_value(&rewards, &terminated, &soft_next, c.gamma)?;
        let qf_values = self.qf.q_values(&obs, &actions)?;
        let td = qf_values.broadcast_sub(&next_q_value)?;
        let qf_loss = huber(&td, c.huber_delta)?
            .broadcast_mul(&weights)?
            .mean(1)?
            .sum_all()?;

        // ---- actor: actor_loss = mean_b alpha log pi(a~|s) - min_k qf_k(s, a~) ----
        let noise = self.noise(b)?;
        let (pi_actions, log_pi) = self.policy.sample(&obs, &noise, true)?;
        let min_qf_pi = self.qf.q_values_action_grad(&obs, &pi_actions)?.min(0)?;
        let actor_loss = ((&log_pi * f64::from(alpha))? - min_qf_pi)?.mean_all()?;

        // ---- temperature: alpha_loss = -mean_b log_alpha (log pi(a~|s) + target_entropy) ----
        let entropy_gap = (log_pi.detach() + f64::from(self.target_entropy))?;
        let alpha_loss = self
            .log_alpha
            .as_tensor()
            .broadcast_mul(&entropy_gap)?
            .mean_all()?
            .neg()?;

        // ---- optimizer steps, one per variable group, then the targets ----
        let stats = self.stats(&qf_loss, &actor_loss, &alpha_loss, alpha, &qf_values, &td)?;
        self.qf_optimizer.step(&qf_loss.backward()?)?;
        self.policy_optimizer.step(&actor_loss.backward()?)?;
        self.alpha_optimizer.step(&alpha_loss.backward()?)?;
        polyak_update(&self.qf_target, &self.qf, self.config.tau)?;
        self.updates += 1;
        Ok(stats)
    }

    /// Reads the scalars out and refuses a diverged update before any step is applied.
    pub(crate) fn stats(
        &self,
        qf_loss: &Tensor,
        actor_loss: &Tensor,
        alpha_loss: &Tensor,
        alpha: f32,
        qf_values: &Tensor,
        td: &Tensor,
    ) -> Result<UpdateStats> {
        let stats = UpdateStats {
            qf_loss: qf_loss.to_scalar::<f32>()?,
            actor_loss: actor_loss.to_scalar::<f32>()?,
            alpha_loss: alpha_loss.to_scalar::<f32>()?,
            alpha,
            mean_q: qf_values.mean_all()?.to_scalar::<f32>()?,
            td_errors: td.abs()?.mean(0)?.to_vec1::<f32>()?,
        };
        for (name, value) in stats.metrics() {
            if !value.is_finite() {
                return Err(LearnerError::NonFinite {
                    what: name.into(),
                    index: 0,
                });
            }
        }
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::random_batch;
    use crate::replay::PrioritizedReplay;
    use crate::transition::Transition;

    fn small_config() -> SacConfig {
        SacConfig {
            hidden_sizes: vec![32, 32],
            batch_size: 16,
            seed: 3,
            ..SacConfig::default()
        }
    }

    /// With fixed seeds, repeating one fixed batch must fit it: the critic loss falls.
    #[test]
    fn updates_on_a_fixed_batch_reduce_the_critic_loss() {
        let mut sac = SacN::new(6, 3, &small_config()).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        let batch = random_batch(&mut rng, 16, 6, 3);
        let first = sac.update(&batch).unwrap();
        let mut last = first.clone();
        for _ in 0..30 {
            last = sac.update(&batch).unwrap();
        }
        assert!(
            last.qf_loss < 0.75 * first.qf_loss,
            "qf_loss {} -> {}",
            first.qf_loss,
            last.qf_loss
        );
        assert_eq!(last.td_errors.len(), 16);
        assert_eq!(sac.updates(), 31);
    }

    #[test]
    fn same_seed_same_updates() {
        let run = || {
            let mut sac = SacN::new(6, 3, &small_config()).unwrap();
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
            let batch = random_batch(&mut rng, 16, 6, 3);
            (0..3).map(|_| sac.update(&batch).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    /// STYLE rule 10 on a two-step batch: a truncated step bootstraps, a terminated one does not.
    /// Reference: y = r + gamma (1 - terminated) v, so with r = 1, gamma = 0.5, v = 4: y = 3 and y = 1.
    #[test]
    fn truncation_bootstraps_and_termination_does_not() {
        let step = |terminated, truncated| Transition {
            obs: vec![0.0],
            action: vec![0.5],
            reward: 1.0,
            next_obs: vec![0.0],
            terminated,
            truncated,
            ..Transition::default()
        };
        let batch = Batch::from_transitions(&[step(false, true), step(true, false)]);
        assert_eq!(batch.terminated, vec![0.0, 1.0]);
        let dev = &Device::Cpu;
        let r = Tensor::from_slice(&batch.rewards, 2, dev).unwrap();
        let d = Tensor::from_slice(&batch.terminated, 2, dev).unwrap();
        let v = Tensor::new(&[4.0f32, 4.0], dev).unwrap();
        let y = next_q_value(&r, &d, &v, 0.5).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(y, vec![3.0, 1.0]);
    }

    #[test]
    fn bad_batches_are_errors_and_change_nothing() {
        let mut sac = SacN::new(6, 3, &small_config()).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let mut batch = random_batch(&mut rng, 4, 6, 3);
        batch.actions.pop();
        assert_eq!(
            sac.update(&batch).unwrap_err().to_string(),
            "batch.actions has length 11, expected 12"
        );
        let mut batch = random_batch(&mut rng, 4, 6, 3);
        batch.rewards[2] = f32::NAN;
        assert_eq!(
            sac.update(&batch).unwrap_err().to_string(),
            "batch.rewards holds a non-finite value at index 2"
        );
        assert_eq!(sac.updates(), 0);
        assert!(SacN::new(0, 3, &small_config()).is_err());
    }

    /// A smoke run on a one-step toy task whose reward `-(a - 0.5)^2` prefers policy-space actions near
    /// +0.5: 100 uniformly random warm-up steps (SAC's `learning_starts`), then 1000 steps of act, store,
    /// update with PER. The deterministic action must end near 0.5. Transitions hold the env-space action
    /// `x = (a + 1)/2`, as every producer stores them.
    #[test]
    fn smoke_run_learns_a_toy_bandit() {
        let config = SacConfig {
            actor_lr: 1e-3,
            initial_alpha: 0.01,
            ..small_config()
        };
        let mut sac = SacN::new(2, 1, &config).unwrap();
        let mut replay = PrioritizedReplay::new(2, 1, 1000, 0.6, 0.4, 1e-6, 0).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
        let obs = vec![1.0, 0.0];
        for step in 0..1100 {
            let x = if step < 100 {
                rng.random_range(0.0f32..1.0)
            } else {
                sac.snapshot().unwrap().act(&obs, false, &mut rng).unwrap()[0]
            };
            let a = 2.0 * x - 1.0;
            let reward = -(a - 0.5) * (a - 0.5);
            let t = Transition {
                obs: obs.clone(),
                action: vec![x],
                reward,
                next_obs: obs.clone(),
                terminated: true,
                ..Transition::default()
            };
            replay.push(&t).unwrap();
            if step >= 100 {
                let batch = replay.sample(16).unwrap();
                let stats = sac.update(&batch).unwrap();
                replay
                    .update_priorities(&batch.indices, &stats.td_errors)
                    .unwrap();
            }
        }
        let greedy = sac.snapshot().unwrap().act(&obs, true, &mut rng).unwrap()[0] * 2.0 - 1.0;
        assert!((greedy - 0.5).abs() < 0.15, "greedy action {greedy}");
    }
}
