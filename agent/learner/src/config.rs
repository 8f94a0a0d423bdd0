//! Hyperparameters: every knob of SAC-N and CQL-N in one struct each, loaded with serde and validated once.
//!
//! Defaults are the prototype's values as they actually took effect in its runs (not always what its
//! config files declared), except where the prototype was wrong; each such field says so.

use serde::{Deserialize, Serialize};

use crate::error::{LearnerError, Result};

/// Most hidden layers a network may have.
pub const MAX_HIDDEN_LAYERS: usize = 16;
/// Widest hidden layer (16 384 units: a 16 384 × 16 384 layer is already 1 GiB of f32 per critic).
pub const MAX_HIDDEN_WIDTH: usize = 16_384;
/// Most critics in the ensemble.
pub const MAX_ENSEMBLE: usize = 64;
/// Largest batch of transitions per update.
pub const MAX_BATCH: usize = 65_536;

/// Hyperparameters of SAC-N (SAC with an ensemble of `ensemble_size` critics, min over the ensemble).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SacConfig {
    /// Widths of the hidden tanh layers, shared by the policy and every critic. Default `[256, 256]`.
    pub hidden_sizes: Vec<usize>,
    /// Number of critics `E` in the ensemble; targets use the minimum over all of them. Default `2`.
    pub ensemble_size: usize,
    /// Discount factor `gamma`, in `[0, 1)`. Default `0.99`.
    pub gamma: f32,
    /// Polyak coefficient `tau` of the target critics, `qf_target <- tau * qf + (1 - tau) * qf_target`,
    /// applied after every update. Default `5e-3`. The prototype used `1e-5`: a half-life of about 69k
    /// updates, longer than a whole online run, so its targets were in effect frozen.
    pub tau: f32,
    /// Adam learning rate of the policy. Default `1e-5`, the online rate on live data (`sas-agent
    /// serve`): small steps on noisy, correlated live steps from an already trained policy. Training
    /// from scratch uses [`SacConfig::simulator`]'s, offline training [`CqlConfig::default`]'s.
    pub actor_lr: f64,
    /// Adam learning rate of the critic ensemble. Default `1e-3` (the prototype's offline runs used `1e-5`).
    pub critic_lr: f64,
    /// Adam learning rate of `log_alpha`. Default `1e-3`.
    pub alpha_lr: f64,
    /// Initial entropy temperature `alpha`; `log_alpha` starts at its logarithm. Default `0.002` (the
    /// prototype's online value; its offline runs used `0.01`).
    pub initial_alpha: f32,
    /// Entropy target of the temperature loss; `None` means `-A`, minus the action dimension. Default `None`.
    pub target_entropy: Option<f32>,
    /// Transitions per gradient update. Default `128`.
    pub batch_size: usize,
    /// Adam `epsilon`. Default `1e-7` (the prototype's RLlib value, not torch's `1e-8`).
    pub adam_eps: f64,
    /// Adam `beta1`. Default `0.9`.
    pub adam_beta1: f64,
    /// Adam `beta2`. Default `0.999`.
    pub adam_beta2: f64,
    /// Threshold `delta` of the Huber critic loss: quadratic below it, linear above. Default `1.0`.
    pub huber_delta: f32,
    /// Lower clamp of the policy's `log sigma`. Default `-5.0`.
    pub log_std_min: f32,
    /// Upper clamp of the policy's `log sigma`. Default `2.0`.
    pub log_std_max: f32,
    /// Prioritized replay exponent `alpha`: sampling probability is proportional to `priority^alpha`.
    /// Default `0.6`.
    pub per_alpha: f32,
    /// Prioritized replay importance-sampling exponent `beta`. Default `0.4`.
    pub per_beta: f32,
    /// Added to `|TD error|` before it becomes a priority, so no transition is never sampled again.
    /// Default `1e-6`.
    pub per_eps: f32,
    /// Transitions kept in the replay buffer; the oldest is overwritten first. Default `100_000`.
    pub replay_capacity: usize,
    /// Seed of every random draw: weight initialisation, exploration noise, replay sampling. Default `0`.
    pub seed: u64,
}

impl Default for SacConfig {
    fn default() -> Self {
        Self {
            hidden_sizes: vec![256, 256],
            ensemble_size: 2,
            gamma: 0.99,
            tau: 5e-3,
            actor_lr: 1e-5,
            critic_lr: 1e-3,
            alpha_lr: 1e-3,
            initial_alpha: 0.002,
            target_entropy: None,
            batch_size: 128,
            adam_eps: 1e-7,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            huber_delta: 1.0,
            log_std_min: -5.0,
            log_std_max: 2.0,
            per_alpha: 0.6,
            per_beta: 0.4,
            per_eps: 1e-6,
            replay_capacity: 100_000,
            seed: 0,
        }
    }
}

impl SacConfig {
    /// The settings of SAC-N trained from scratch in the simulator (`sas-agent simulate`): the default
    /// with `actor_lr = 3e-4`, because the prototype's `1e-5` barely moves the policy in a few thousand
    /// updates.
    pub fn simulator() -> Self {
        Self {
            actor_lr: 3e-4,
            ..Self::default()
        }
    }

    /// Checks every field, naming the first bad one as `sac.<field>`.
    ///
    /// # Errors
    ///
    /// [`LearnerError::InvalidConfig`] with the field, its value and the rule it breaks.
    pub fn validate(&self) -> Result<()> {
        self.validate_at("sac")
    }

    /// The entropy target for an action space of `act_dim` dimensions.
    pub fn target_entropy_for(&self, act_dim: usize) -> f32 {
        self.target_entropy.unwrap_or(-(act_dim as f32))
    }

    pub(crate) fn validate_at(&self, prefix: &str) -> Result<()> {
        let bad = |field: &str, value: String, reason: &str| {
            Err(LearnerError::InvalidConfig {
                field: format!("{prefix}.{field}"),
                value,
                reason: reason.to_owned(),
            })
        };
        // Bounded so a config (a checkpoint's config.json too) cannot ask for networks that do not fit
        // in memory: the sizes are allocated as soon as the networks are built.
        if self.hidden_sizes.len() > MAX_HIDDEN_LAYERS
            || self.hidden_sizes.iter().any(|&h| h > MAX_HIDDEN_WIDTH)
        {
            return bad(
                "hidden_sizes",
                format!("{:?}", self.hidden_sizes),
                "at most 16 layers of at most 16384 units",
            );
        }
        if self.ensemble_size > MAX_ENSEMBLE {
            return bad("ensemble_size", self.ensemble_size.to_string(), "must be <= 64");
        }
        if self.batch_size > MAX_BATCH {
            return bad("batch_size", self.batch_size.to_string(), "must be <= 65536");
        }
        if self.hidden_sizes.is_empty() || self.hidden_sizes.contains(&0) {
            return bad(
                "hidden_sizes",
                format!("{:?}", self.hidden_sizes),
                "must be non-empty and all > 0",
            );
        }
        if self.ensemble_size == 0 {
            return bad("ensemble_size", "0".into(), "must be >= 1");
        }
        if !(0.0..1.0).contains(&self.gamma) {
            return bad("gamma", self.gamma.to_string(), "must be in [0, 1)");
        }
        if !(self.tau > 0.0 && self.tau <= 1.0) {
            return bad("tau", self.tau.to_string(), "must be in (0, 1]");
        }
        for (field, lr) in [
            ("actor_lr", self.actor_lr),
            ("critic_lr", self.critic_lr),
            ("alpha_lr", self.alpha_lr),
        ] {
            if !(lr.is_finite() && lr >= 0.0) {
                return bad(field, lr.to_string(), "must be finite and >= 0");
            }
        }
        if !(self.initial_alpha.is_finite() && self.initial_alpha > 0.0) {
            return bad(
                "initial_alpha",
                self.initial_alpha.to_string(),
                "must be finite and > 0",
            );
        }
        if let Some(h) = self.target_entropy
            && !h.is_finite()
        {
            return bad("target_entropy", h.to_string(), "must be finite");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "0".into(), "must be >= 1");
        }
        if !(self.adam_eps.is_finite() && self.adam_eps > 0.0) {
            return bad("adam_eps", self.adam_eps.to_string(), "must be finite and > 0");
        }
        for (field, beta) in [("adam_beta1", self.adam_beta1), ("adam_beta2", self.adam_beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return bad(field, beta.to_string(), "must be in [0, 1)");
            }
        }
        if !(self.huber_delta.is_finite() && self.huber_delta > 0.0) {
            return bad(
                "huber_delta",
                self.huber_delta.to_string(),
                "must be finite and > 0",
            );
        }
        if !(self.log_std_min.is_finite()
            && self.log_std_max.is_finite()
            && self.log_std_min < self.log_std_max)
        {
            return bad(
                "log_std_min",
                format!("{} (log_std_max = {})", self.log_std_min, self.log_std_max),
                "must be finite and below log_std_max",
            );
        }
        if !(0.0..=1.0).contains(&self.per_alpha) {
            return bad("per_alpha", self.per_alpha.to_string(), "must be in [0, 1]");
        }
        if !(0.0..=1.0).contains(&self.per_beta) {
            return bad("per_beta", self.per_beta.to_string(), "must be in [0, 1]");
        }
        if !(self.per_eps.is_finite() && self.per_eps > 0.0) {
            return bad("per_eps", self.per_eps.to_string(), "must be finite and > 0");
        }
        if self.replay_capacity == 0 {
            return bad("replay_capacity", "0".into(), "must be >= 1");
        }
        Ok(())
    }
}

/// Hyperparameters of CQL-N, the offline pre-training of the same networks (Kumar et al. 2020, "Conservative
/// Q-Learning for Offline Reinforcement Learning", with the ensemble of SAC-N).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CqlConfig {
    /// Temperature `T` of the logsumexp in the conservative penalty. Default `1.0`.
    pub temperature: f32,
    /// Weight `beta` of the conservative penalty in the critic loss. Default `2.0`: the prototype's
    /// `0.05` let the critics overrate unseen actions and the policy followed them (λ 1.37 against the
    /// behaviour's 1.26 on the same data, `docs/agent.md`).
    pub min_q_weight: f32,
    /// Actions drawn uniformly from `[-1, 1]^A` per observation for the logsumexp. Default `10`.
    pub num_random_actions: usize,
    /// Actions sampled from the current policy per observation for the logsumexp. Default `10`.
    pub num_policy_actions: usize,
    /// Gradient steps of behaviour cloning before the actor switches to the SAC loss. Default `200`, for
    /// runs of a few thousand updates (RLlib's default is `20_000`; the prototype's key for it was
    /// missing, so it ran with that).
    pub bc_steps: u64,
    /// Target without the entropy term, `y = r + gamma (1 - terminated) min_k Q_k_target(s', a')`, as in the
    /// prototype. Default `true`.
    pub deterministic_backup: bool,
    /// The SAC-N part: networks, learning rates, Polyak, temperature. Its defaults are the online ones
    /// except `actor_lr = 1e-4` (the prototype's `1e-5` barely moves in a few thousand updates); the
    /// prototype's offline runs used `critic_lr = 1e-5` and `initial_alpha = 0.01`.
    pub sac: SacConfig,
}

impl Default for CqlConfig {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            min_q_weight: 2.0,
            num_random_actions: 10,
            num_policy_actions: 10,
            bc_steps: 200,
            deterministic_backup: true,
            sac: SacConfig {
                actor_lr: 1e-4,
                ..SacConfig::default()
            },
        }
    }
}

impl CqlConfig {
    /// Checks every field, naming the first bad one as `cql.<field>` or `cql.sac.<field>`.
    ///
    /// # Errors
    ///
    /// [`LearnerError::InvalidConfig`] with the field, its value and the rule it breaks.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, value: String, reason: &str| {
            Err(LearnerError::InvalidConfig {
                field: format!("cql.{field}"),
                value,
                reason: reason.to_owned(),
            })
        };
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return bad(
                "temperature",
                self.temperature.to_string(),
                "must be finite and > 0",
            );
        }
        if !(self.min_q_weight.is_finite() && self.min_q_weight >= 0.0) {
            return bad(
                "min_q_weight",
                self.min_q_weight.to_string(),
                "must be finite and >= 0",
            );
        }
        if self.num_random_actions + self.num_policy_actions == 0 {
            return bad(
                "num_random_actions",
                "0 (num_policy_actions = 0)".into(),
                "at least one action sample is needed for the logsumexp",
            );
        }
        self.sac.validate_at("cql.sac")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        SacConfig::default().validate().unwrap();
        CqlConfig::default().validate().unwrap();
    }

    #[test]
    fn network_sizes_are_bounded_before_anything_is_built() {
        let field = |c: SacConfig| match c.validate() {
            Err(LearnerError::InvalidConfig { field, .. }) => field,
            other => panic!("expected an invalid config, got {other:?}"),
        };
        let with = |f: fn(&mut SacConfig)| {
            let mut c = SacConfig::default();
            f(&mut c);
            c
        };
        assert_eq!(
            field(with(|c| c.hidden_sizes = vec![1_000_000_000])),
            "sac.hidden_sizes"
        );
        assert_eq!(field(with(|c| c.hidden_sizes = vec![8; 17])), "sac.hidden_sizes");
        assert_eq!(field(with(|c| c.ensemble_size = 1_000_000)), "sac.ensemble_size");
        assert_eq!(field(with(|c| c.batch_size = usize::MAX)), "sac.batch_size");
        with(|c| c.hidden_sizes = vec![MAX_HIDDEN_WIDTH; MAX_HIDDEN_LAYERS])
            .validate()
            .unwrap();
    }

    #[test]
    fn validate_names_the_bad_field() {
        let cfg = SacConfig {
            gamma: 1.5,
            ..SacConfig::default()
        };
        assert_eq!(
            cfg.validate().unwrap_err().to_string(),
            "sac.gamma = 1.5: must be in [0, 1)"
        );
        let cql = CqlConfig {
            sac: SacConfig {
                tau: 0.0,
                ..SacConfig::default()
            },
            ..CqlConfig::default()
        };
        assert!(
            cql.validate()
                .unwrap_err()
                .to_string()
                .starts_with("cql.sac.tau = 0")
        );
    }

    #[test]
    fn unknown_fields_are_rejected_and_missing_ones_default() {
        let cfg: SacConfig = serde_json::from_str(r#"{"gamma": 0.9}"#).unwrap();
        assert_eq!(
            cfg,
            SacConfig {
                gamma: 0.9,
                ..SacConfig::default()
            }
        );
        assert!(serde_json::from_str::<SacConfig>(r#"{"gama": 0.9}"#).is_err());
    }
}
