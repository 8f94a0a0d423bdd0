//! CQL-N: offline pre-training of the SAC-N networks (Kumar et al. 2020, "Conservative Q-Learning for
//! Offline Reinforcement Learning", CQL(H) variant, with the critic ensemble and min-backup of SAC-N).
//!
//! One [`CqlN::update`] applies the SAC-N losses (see `sac_n.rs`) with two changes:
//!
//! ```text
//! next_q_value = r + gamma (1 - terminated) min_k qf_k_target(s', a')     (deterministic backup; with the
//!                                                                         entropy term if configured)
//! cql_penalty_k = min_q_weight ( T mean_b logsumexp_j (q_kj / T)  -  mean_b qf_k(s, a_data) )
//!     q_kj over N_r random actions  a ~ U[-1, 1]^A:   qf_k(s, a) - log(2^-A)      (their log-density)
//!          and N_p policy actions   a ~ pi(.|s):     qf_k(s, a) - log pi(a|s)    (policy frozen, detached)
//! qf_loss    = sum_k [ mean_b w Huber(qf_k(s, a) - next_q_value) + cql_penalty_k ]
//! actor_loss = mean_b alpha log pi(a~|s) - log pi(a_data|s)   for the first `bc_steps` gradient steps
//!            = mean_b alpha log pi(a~|s) - min_k qf_k(s, a~)   afterwards
//! ```
//!
//! The logsumexp is an importance-sampled estimate of `log integral exp Q(s, a) da`, so each sample is
//! divided by its proposal density; the prototype drew its random actions from `[0, 1]^A` (the env box, not
//! the policy's) with density 1, and fed dataset actions in env space. Here every action is in policy space
//! `[-1, 1]^A`: a dataset's env-space [`Transition`](crate::Transition)s are converted once, when they enter
//! the replay buffer or a [`Batch`] (the one place that converts).
//!
//! # Metrics
//!
//! Those of SAC-N (`losses/qf_loss` here includes the penalty), plus `losses/cql_loss`
//! (`sum_k cql_penalty_k`) and `charts/behaviour_cloning` (1 during the BC phase, else 0).

use candle_core::{Device, Tensor};
use rand::Rng;

use crate::config::CqlConfig;
use crate::error::Result;
use crate::nets::polyak_update;
use crate::replay::Batch;
use crate::sac_n::{SacN, UpdateStats, huber, next_q_value};

/// What one CQL-N update measured.
#[derive(Debug, Clone, PartialEq)]
pub struct CqlStats {
    /// The SAC-N statistics (`qf_loss` includes the conservative penalty).
    pub sac: UpdateStats,
    /// `losses/cql_loss`: the conservative penalty summed over the ensemble.
    pub cql_loss: f32,
    /// `charts/behaviour_cloning`: the actor loss was the behaviour-cloning one.
    pub behaviour_cloning: bool,
}

impl CqlStats {
    /// The scalars under their stable metric names.
    pub fn metrics(&self) -> Vec<(&'static str, f32)> {
        let mut m = self.sac.metrics().to_vec();
        m.push(("losses/cql_loss", self.cql_loss));
        m.push((
            "charts/behaviour_cloning",
            if self.behaviour_cloning { 1.0 } else { 0.0 },
        ));
        m
    }
}

/// The conservative penalty per critic, `[E]`: `min_q_weight (T mean_b logsumexp_j(q_samples/T) - mean_b
/// q_data)`, from `q_samples [E, B, N]` (already divided by their proposal densities) and `q_data [E, B]`.
pub(crate) fn cql_penalty(
    q_samples: &Tensor,
    q_data: &Tensor,
    temperature: f32,
    min_q_weight: f32,
) -> candle_core::Result<Tensor> {
    let t = f64::from(temperature);
    let lse = (q_samples / t)?.log_sum_exp(2)?.affine(t, 0.0)?;
    ((lse.mean(1)? - q_data.mean(1)?)? * f64::from(min_q_weight))?.contiguous()
}

/// CQL-N: the SAC-N networks and optimizers, trained with the conservative critic loss.
#[derive(Debug)]
pub struct CqlN {
    sac: SacN,
    config: CqlConfig,
}

impl CqlN {
    /// Builds the networks for `obs_dim` observations and `act_dim` actions from `config.sac`.
    ///
    /// # Errors
    ///
    /// [`crate::LearnerError::InvalidConfig`] for a bad hyperparameter or a zero dimension.
    pub fn new(obs_dim: usize, act_dim: usize, config: &CqlConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            sac: SacN::new(obs_dim, act_dim, &config.sac)?,
            config: config.clone(),
        })
    }

    /// Continues CQL-N training from an existing learner (e.g. one loaded from a checkpoint).
    ///
    /// # Errors
    ///
    /// [`crate::LearnerError::InvalidConfig`] for a bad hyperparameter.
    pub fn from_sac(sac: SacN, config: &CqlConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            sac,
            config: config.clone(),
        })
    }

    /// The underlying networks and optimizers (for snapshots and checkpoints).
    pub fn sac(&self) -> &SacN {
        &self.sac
    }

    /// Hands the pre-trained learner over to online SAC-N training.
    pub fn into_sac(self) -> SacN {
        self.sac
    }

    /// The hyperparameters.
    pub fn config(&self) -> &CqlConfig {
        &self.config
    }

    /// One gradient update on an offline batch (policy-space actions).
    ///
    /// # Errors
    ///
    /// As [`SacN::update`].
    pub fn update(&mut self, batch: &Batch) -> Result<CqlStats> {
        batch.validate(self.sac.obs_dim, self.sac.act_dim)?;
        Device::Cpu.with_context(|| self.update_inner(batch))
    }

    /// `rows` repeated `times` each, row `b * times + j` being row `b` (so a reshape to `[B, times]` works).
    fn repeat_rows(values: &[f32], width: usize, times: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(values.len() * times);
        for row in values.chunks_exact(width) {
            for _ in 0..times {
                out.extend_from_slice(row);
            }
        }
        out
    }

    fn update_inner(&mut self, batch: &Batch) -> Result<CqlStats> {
        let (b, dev) = (batch.len(), &Device::Cpu);
        let (o, a) = (self.sac.obs_dim, self.sac.act_dim);
        let c = self.config.clone();
        let e = c.sac.ensemble_size;
        let obs = Tensor::from_slice(&batch.obs, (b, o), dev)?;
        let actions = Tensor::from_slice(&batch.actions, (b, a), dev)?;
        let rewards = Tensor::from_slice(&batch.rewards, b, dev)?;
        let next_obs = Tensor::from_slice(&batch.next_obs, (b, o), dev)?;
        let terminated = Tensor::from_slice(&batch.terminated, b, dev)?;
        let weights = Tensor::from_slice(&batch.weights, b, dev)?;
        let alpha = self.sac.alpha()?;
        self.sac.zero_grad();

        // ---- critic, SAC part: Huber(qf_k(s, a) - next_q_value), bootstrapping unless terminated ----
        let next_noise = self.sac.noise(b)?;
        let (next_actions, next_log_pi) = self.sac.policy.sample(&next_obs, &next_noise, false)?;
        let min_qf_next_target = self
            .sac
            .qf_target
            .q_values_no_grad(&next_obs, &next_actions)?
            .min(0)?;
        let soft_next = if c.deterministic_backup {
            min_qf_next_target
        } else {
            (min_qf_next_target - (next_log_pi * f64::from(alpha))?)?
        };
        let next_q_value = next_q_value(&rewards, &terminated, &soft_next, c.sac.gamma)?;
        let qf_values = self.sac.qf.q_values(&obs, &actions)?;
        let td = qf_values.broadcast_sub(&next_q_value)?;
        let qf_sac_loss = huber(&td, c.sac.huber_delta)?
            .broadcast_mul(&weights)?
            .mean(1)?
            .sum_all()?;

        // ---- critic, conservative penalty over random and policy actions at s ----
        let mut groups = Vec::new();
        if c.num_random_actions > 0 {
            let n = c.num_random_actions;
            let rng = &mut self.sac.rng;
            let random: Vec<f32> = (0..b * n * a).map(|_| rng.random_range(-1.0f32..=1.0)).collect();
            let obs_rep = Tensor::from_vec(Self::repeat_rows(&batch.obs, o, n), (b * n, o), dev)?;
            let random = Tensor::from_vec(random, (b * n, a), dev)?;
            // Uniform on [-1, 1]^A has log-density -A ln 2; dividing by the density adds A ln 2.
            let q_rand = (self.sac.qf.q_values(&obs_rep, &random)? + a as f64 * std::f64::consts::LN_2)?;
            groups.push(q_rand.reshape((e, b, n))?);
        }
        if c.num_policy_actions > 0 {
            let n = c.num_policy_actions;
            let obs_rep = Tensor::from_vec(Self::repeat_rows(&batch.obs, o, n), (b * n, o), dev)?;
            let noise = self.sac.noise(b * n)?;
            let (pi_rep, log_pi_rep) = self.sac.policy.sample(&obs_rep, &noise, false)?;
            let q_pi = self
                .sac
                .qf
                .q_values(&obs_rep, &pi_rep)?
                .broadcast_sub(&log_pi_rep.unsqueeze(0)?)?;
            groups.push(q_pi.reshape((e, b, n))?);
        }
        let q_samples = Tensor::cat(&groups, 2)?;
        let cql_loss = cql_penalty(&q_samples, &qf_values, c.temperature, c.min_q_weight)?.sum_all()?;
        let qf_loss = (&qf_sac_loss + &cql_loss)?;

        // ---- actor: behaviour cloning first, then SAC ----
        let noise = self.sac.noise(b)?;
        let (pi_actions, log_pi) = self.sac.policy.sample(&obs, &noise, true)?;
        let behaviour_cloning = self.sac.updates < c.bc_steps;
        let actor_target = if behaviour_cloning {
            self.sac.policy.log_prob(&obs, &actions)?
        } else {
            self.sac.qf.q_values_action_grad(&obs, &pi_actions)?.min(0)?
        };
        let actor_loss = ((&log_pi * f64::from(alpha))? - actor_target)?.mean_all()?;

        // ---- temperature ----
        let entropy_gap = (log_pi.detach() + f64::from(self.sac.target_entropy))?;
        let alpha_loss = self
            .sac
            .log_alpha
            .as_tensor()
            .broadcast_mul(&entropy_gap)?
            .mean_all()?
            .neg()?;

        let stats = CqlStats {
            sac: self
                .sac
                .stats(&qf_loss, &actor_loss, &alpha_loss, alpha, &qf_values, &td)?,
            cql_loss: cql_loss.to_scalar::<f32>()?,
            behaviour_cloning,
        };
        self.sac.qf_optimizer.step(&qf_loss.backward()?)?;
        self.sac.policy_optimizer.step(&actor_loss.backward()?)?;
        self.sac.alpha_optimizer.step(&alpha_loss.backward()?)?;
        polyak_update(&self.sac.qf_target, &self.sac.qf, c.sac.tau)?;
        self.sac.updates += 1;
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SacConfig;
    use crate::bench::random_batch;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// Shape and sign of the penalty on tiny tensors. Reference (E = 2, B = 1, N = 2, T = 1, beta = 0.5):
    /// member 0: samples [0, 0], data 3  -> 0.5 (log(e^0 + e^0) - 3) = 0.5 (0.6931 - 3) = -1.1534
    /// member 1: samples [2, 4], data -1 -> 0.5 (log(e^2 + e^4) + 1) = 0.5 (4.1269 + 1) = 2.5635
    /// and its gradient pushes sampled Q down and dataset Q up.
    #[test]
    fn penalty_value_shape_and_sign() {
        let dev = &Device::Cpu;
        let samples = candle_core::Var::new(&[[[0.0f32, 0.0]], [[2.0, 4.0]]], dev).unwrap();
        let data = candle_core::Var::new(&[[3.0f32], [-1.0]], dev).unwrap();
        let p = cql_penalty(samples.as_tensor(), data.as_tensor(), 1.0, 0.5).unwrap();
        assert_eq!(p.dims(), &[2]);
        let p = p.to_vec1::<f32>().unwrap();
        assert!(
            (p[0] + 1.153_426).abs() < 1e-4 && (p[1] - 2.563_464).abs() < 1e-4,
            "{p:?}"
        );
        let total = cql_penalty(samples.as_tensor(), data.as_tensor(), 1.0, 0.5)
            .unwrap()
            .sum_all()
            .unwrap();
        let g = total.backward().unwrap();
        let gs = g
            .get(samples.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let gd = g
            .get(data.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(gs.iter().all(|&x| x > 0.0), "descent lowers sampled Q: {gs:?}");
        assert!(gd.iter().all(|&x| x < 0.0), "descent raises dataset Q: {gd:?}");
    }

    #[test]
    fn offline_actions_are_converted_once_to_policy_space() {
        let t = crate::Transition {
            obs: vec![0.0],
            action: vec![0.0, 0.5, 1.0],
            next_obs: vec![0.0],
            truncated: true,
            ..crate::Transition::default()
        };
        let actions = Batch::from_transitions(&[t]).actions;
        assert!(actions[0] > -1.0 && actions[0] < -0.999);
        assert_eq!(actions[1], 0.0);
        assert!(actions[2] < 1.0 && actions[2] > 0.999);
    }

    /// A smoke run of a few hundred updates on fixed random data: finite losses, behaviour cloning for
    /// exactly `bc_steps` updates, and the conservative penalty pushing the random-action Q below the data Q.
    #[test]
    fn smoke_run_switches_from_behaviour_cloning() {
        let config = CqlConfig {
            bc_steps: 5,
            num_random_actions: 4,
            num_policy_actions: 4,
            min_q_weight: 1.0,
            sac: SacConfig {
                hidden_sizes: vec![32, 32],
                seed: 2,
                ..SacConfig::default()
            },
            ..CqlConfig::default()
        };
        let mut cql = CqlN::new(6, 3, &config).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
        let batches: Vec<Batch> = (0..4).map(|_| random_batch(&mut rng, 16, 6, 3)).collect();
        let mut first_cql = None;
        for i in 0..200 {
            let stats = cql.update(&batches[i % 4]).unwrap();
            assert_eq!(stats.behaviour_cloning, i < 5, "step {i}");
            assert!(stats.metrics().iter().all(|(_, v)| v.is_finite()));
            first_cql.get_or_insert(stats.cql_loss);
            if i == 199 {
                assert!(
                    stats.cql_loss < first_cql.unwrap_or(f32::MAX),
                    "{} !< {first_cql:?}",
                    stats.cql_loss
                );
            }
        }
        let sac = cql.into_sac();
        assert_eq!(sac.updates(), 200);
    }
}
