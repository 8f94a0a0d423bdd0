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
use crate::kernels::run_tasks;
use crate::mlp::{self, Frozen, Layer};
use crate::nets::{
    DenseLayer, EnsembleCritic, Policy, init_uniform_fan_in, named_vars, polyak_update, var_builder,
};
use crate::ops::SinkState;
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

/// Huber loss of one value, as [`huber`].
fn huber_scalar(x: f32, delta: f32) -> f32 {
    let abs = x.abs();
    let c = abs.min(delta);
    0.5 * c * c + delta * (abs - c)
}

/// The smallest of `value(member)` over the ensemble.
fn min_over(members: &[Member], value: impl Fn(&Member) -> f32) -> f32 {
    members.iter().map(value).fold(f32::INFINITY, f32::min)
}

/// Rows `[left | right[..width]]` into `dst`: `left` has rows of `lw` values, `right` rows of `rs`.
fn concat_rows(left: &[f32], lw: usize, right: &[f32], rs: usize, width: usize, dst: &mut [f32]) {
    for ((d, l), r) in dst
        .chunks_exact_mut(lw + width)
        .zip(left.chunks_exact(lw))
        .zip(right.chunks_exact(rs))
    {
        d[..lw].copy_from_slice(l);
        d[lw..].copy_from_slice(&r[..width]);
    }
}

/// The squashed-Gaussian sample `[a | log pi]` of every head row `[mean | log_std]` (see `ops::SquashedGaussian`).
fn squash_rows(head: &[f32], eps: &[f32], out: &mut [f32], a: usize, lo: f32, hi: f32) {
    let rows = head
        .chunks_exact(2 * a)
        .zip(eps.chunks_exact(a))
        .zip(out.chunks_exact_mut(a + 1));
    for ((h, e), o) in rows {
        crate::ops::squash_row(h, e, o, lo, hi);
    }
}

/// Runs `f(k, member k)` for every ensemble member, one task each on the learner's threads.
fn run_members(members: &mut [Member], f: impl Fn(usize, &mut Member) + Sync + Send) {
    let tasks: Vec<_> = members.iter_mut().enumerate().collect();
    run_tasks(tasks, |(k, m)| f(k, m));
}

/// Locks a layer's gradient sink for overwriting, sized to its variables.
fn overwrite_sink(layer: &DenseLayer) -> std::sync::MutexGuard<'_, SinkState> {
    layer
        .sink()
        .overwrite(layer.weight().elem_count(), layer.bias().elem_count())
}

/// The layers of a network as slices of `frozen`, whose tensors from `first` on are its weights and
/// biases in order; `member` picks one member of an ensemble.
fn layer_views<'a, 'l>(
    frozen: &'a Frozen<'_>,
    first: usize,
    layers: impl Iterator<Item = &'l DenseLayer>,
    member: Option<usize>,
) -> candle_core::Result<Vec<Layer<'a>>> {
    layers
        .enumerate()
        .map(|(i, layer)| {
            let dims = layer.weight().dims();
            let (n, k) = (dims[dims.len() - 2], dims[dims.len() - 1]);
            let (w, bias) = (frozen.slice(first + 2 * i)?, frozen.slice(first + 2 * i + 1)?);
            let k_member = member.unwrap_or(0);
            Ok(Layer {
                w: &w[k_member * n * k..(k_member + 1) * n * k],
                b: &bias[k_member * n..(k_member + 1) * n],
                n,
                k,
                tanh: layer.is_tanh(),
            })
        })
        .collect()
}

/// The phases of an update, in order, as [`PhaseClock`] times them (`bench::profile` prints them).
pub(crate) const PHASES: [&str; 8] = [
    "noise (2 x B x A normals)",
    "policy forward + sample: on s' (target) and on s (actor), one per thread",
    "critics forward: targets on (s', a'), critics on (s, a~), one member per thread",
    "critics forward + backward on (s, a), backward to a~, one member per thread",
    "sample backward + policy backward (each product split over the threads)",
    "targets, losses, statistics",
    "Adam (3 groups)",
    "Polyak (target critics)",
];

/// Accumulates the wall time of each phase of [`PHASES`]: `lap(i)` charges the time since the last lap
/// to phase `i`. An `Instant` read per phase costs nothing beside an update.
#[derive(Debug, Clone)]
pub(crate) struct PhaseClock {
    last: std::time::Instant,
    pub(crate) ns: [u64; PHASES.len()],
}

impl PhaseClock {
    fn new() -> Self {
        Self {
            last: std::time::Instant::now(),
            ns: [0; PHASES.len()],
        }
    }

    fn lap(&mut self, phase: usize) {
        let now = std::time::Instant::now();
        self.ns[phase] += (now - self.last).as_nanos() as u64;
        self.last = now;
    }
}

/// One ensemble member's buffers in a [`Workspace`].
#[derive(Debug)]
struct Member {
    /// Output of every layer, `B × width`.
    acts: Vec<Vec<f32>>,
    /// `Q_k` of the batch rows (the head's output, kept while `acts` is reused).
    q: Vec<f32>,
    /// Backward ping-pong buffers, `B × max width` each.
    dz: Vec<f32>,
    scratch: Vec<f32>,
    /// Gradient of the critic input `[s | a~]`, `B × (O + A)` (only the action columns are written).
    dx: Vec<f32>,
    /// The member on `(s, a~)` (actor loss): layer outputs, `Q_k`, and `d actor_loss / d Q_k`.
    acts_pi: Vec<Vec<f32>>,
    q_pi: Vec<f32>,
    dz_pi: Vec<f32>,
    /// The target member's `Q_k(s', a')`.
    q_target: Vec<f32>,
}

/// Weight and bias gradient slices of one member, per layer.
type MemberGrads<'a> = (Vec<&'a mut [f32]>, Vec<&'a mut [f32]>);

/// Every buffer an update needs, sized for one batch size and kept between updates, so that an update
/// allocates nothing but its returned statistics.
#[derive(Debug)]
pub(crate) struct Workspace {
    rows: usize,
    next_noise: Vec<f32>,
    noise: Vec<f32>,
    /// Policy layer outputs on s (the actor's pass, kept for its backward) and on s' (the target's).
    policy_acts: Vec<Vec<f32>>,
    next_policy_acts: Vec<Vec<f32>>,
    /// `[a' | log pi(a'|s')]` and `[a~ | log pi(a~|s)]` rows, and the gradient of the latter.
    next_sample: Vec<f32>,
    sample: Vec<f32>,
    sample_grad: Vec<f32>,
    policy_dz: Vec<f32>,
    policy_scratch: Vec<f32>,
    /// The critic inputs `[s | a]`, `[s' | a']` and `[s | a~]`.
    x: Vec<f32>,
    x_next: Vec<f32>,
    x_pi: Vec<f32>,
    next_q_value: Vec<f32>,
    td_errors: Vec<f32>,
    members: Vec<Member>,
}

impl Workspace {
    fn new(b: usize, o: usize, a: usize, c: &SacConfig) -> Self {
        let widest = c
            .hidden_sizes
            .iter()
            .copied()
            .chain([2 * a, o + a])
            .max()
            .unwrap_or(1);
        let policy_widths = c.hidden_sizes.iter().copied().chain([2 * a]);
        let critic_widths = c.hidden_sizes.iter().copied().chain([1]);
        let member = || Member {
            acts: critic_widths.clone().map(|w| vec![0.0; b * w]).collect(),
            q: vec![0.0; b],
            dz: vec![0.0; b * widest],
            scratch: vec![0.0; b * widest],
            dx: vec![0.0; b * (o + a)],
            acts_pi: critic_widths.clone().map(|w| vec![0.0; b * w]).collect(),
            q_pi: vec![0.0; b],
            dz_pi: vec![0.0; b * widest],
            q_target: vec![0.0; b],
        };
        Self {
            rows: b,
            next_noise: vec![0.0; b * a],
            noise: vec![0.0; b * a],
            policy_acts: policy_widths.clone().map(|w| vec![0.0; b * w]).collect(),
            next_policy_acts: policy_widths.map(|w| vec![0.0; b * w]).collect(),
            next_sample: vec![0.0; b * (a + 1)],
            sample: vec![0.0; b * (a + 1)],
            sample_grad: vec![0.0; b * (a + 1)],
            policy_dz: vec![0.0; b * widest],
            policy_scratch: vec![0.0; b * widest],
            x: vec![0.0; b * (o + a)],
            x_next: vec![0.0; b * (o + a)],
            x_pi: vec![0.0; b * (o + a)],
            next_q_value: vec![0.0; b],
            td_errors: vec![0.0; b],
            members: (0..c.ensemble_size).map(|_| member()).collect(),
        }
    }
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
    /// Buffers of the hand-written update, kept between updates (none before the first).
    pub(crate) workspace: Option<Workspace>,
    /// Time per phase of [`PHASES`], summed over the updates since it was last reset.
    pub(crate) phases: PhaseClock,
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
            workspace: None,
            phases: PhaseClock::new(),
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
        let b = batch.len();
        let alpha = self.alpha()?;
        self.zero_grad();
        let mut ws = match self.workspace.take() {
            Some(ws) if ws.rows == b => ws,
            _ => Workspace::new(b, self.obs_dim, self.act_dim, &self.config),
        };
        let mut clock = PhaseClock::new();
        // The target's noise, then the actor's, from the learner's seeded generator.
        for x in ws.next_noise.iter_mut().chain(ws.noise.iter_mut()) {
            *x = self.rng.sample(StandardNormal);
        }
        clock.lap(0);
        let result = self.losses_and_gradients(batch, alpha, &mut ws, &mut clock);
        self.workspace = Some(ws);
        let (stats, alpha_grad) = result?;
        for (name, value) in stats.metrics() {
            if !value.is_finite() {
                return Err(LearnerError::NonFinite {
                    what: name.into(),
                    index: 0,
                });
            }
        }

        // ---- optimizer steps, one per variable group, then the targets ----
        self.qf_optimizer.step_sinks(None)?;
        self.policy_optimizer.step_sinks(None)?;
        self.alpha_optimizer.step_sinks(Some(&[alpha_grad]))?;
        clock.lap(6);
        polyak_update(&self.qf_target, &self.qf, self.config.tau)?;
        clock.lap(7);
        for (total, ns) in self.phases.ns.iter_mut().zip(clock.ns) {
            *total += ns;
        }
        self.updates += 1;
        Ok(stats)
    }

    /// The three losses of the update and their gradients, written out over `mlp.rs` in the order of the
    /// module doc; the weight and bias gradients go to the layers' sinks. Returns the statistics and
    /// `d alpha_loss / d log_alpha`.
    fn losses_and_gradients(
        &self,
        batch: &Batch,
        alpha: f32,
        ws: &mut Workspace,
        clock: &mut PhaseClock,
    ) -> Result<(UpdateStats, f32)> {
        let b = batch.len();
        let (o, a, e) = (self.obs_dim, self.act_dim, self.config.ensemble_size);
        let (oa, bf, c) = (o + a, b as f32, &self.config);
        let (lo, hi) = self.policy.log_std_range();
        let tensors = self
            .policy
            .layers()
            .chain(self.qf.layers())
            .chain(self.qf_target.layers())
            .flat_map(|l| [l.weight(), l.bias()]);
        let frozen = Frozen::new(tensors);
        let (pl, ql) = (self.policy.layers().count(), self.qf.layers().count());
        let policy = layer_views(&frozen, 0, self.policy.layers(), None)?;
        let qf = (0..e)
            .map(|k| layer_views(&frozen, 2 * pl, self.qf.layers(), Some(k)))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let qf_target = (0..e)
            .map(|k| layer_views(&frozen, 2 * (pl + ql), self.qf_target.layers(), Some(k)))
            .collect::<candle_core::Result<Vec<_>>>()?;

        // The policy on s' (the target's a', no gradient) and on s (the actor's a~, kept for the backward),
        // one chain per thread; then the critics on (s', a') and (s, a~), one member per thread.
        let (noise, next_noise) = (&ws.noise, &ws.next_noise);
        let (next_sample, sample) = (&mut ws.next_sample, &mut ws.sample);
        let (next_acts, acts) = (&mut ws.next_policy_acts, &mut ws.policy_acts);
        let (x_next, x_pi) = (&mut ws.x_next, &mut ws.x_pi);
        rayon::join(
            || {
                mlp::forward(false, &policy, b, &batch.next_obs, o, next_acts);
                squash_rows(&next_acts[pl - 1], next_noise, next_sample, a, lo, hi);
                concat_rows(&batch.next_obs, o, next_sample, a + 1, a, x_next);
            },
            || {
                mlp::forward(false, &policy, b, &batch.obs, o, acts);
                squash_rows(&acts[pl - 1], noise, sample, a, lo, hi);
                concat_rows(&batch.obs, o, sample, a + 1, a, x_pi);
            },
        );
        concat_rows(&batch.obs, o, &batch.actions, a, a, &mut ws.x);
        clock.lap(1);
        let (x_next, x_pi) = (&ws.x_next, &ws.x_pi);
        run_members(&mut ws.members, |k, m| {
            mlp::forward(false, &qf_target[k], b, x_next, oa, &mut m.acts);
            m.q_target.copy_from_slice(&m.acts[ql - 1][..b]);
            mlp::forward(false, &qf[k], b, x_pi, oa, &mut m.acts_pi);
            m.q_pi.copy_from_slice(&m.acts_pi[ql - 1][..b]);
        });
        clock.lap(2);

        // ---- critic: qf_loss = sum_k mean_b w Huber(qf_k(s, a) - next_q_value) ----
        // next_q_value = r + gamma (1 - terminated) (min_k qf_k_target(s', a') - alpha log pi(a'|s'))
        for (i, y) in ws.next_q_value.iter_mut().enumerate() {
            let min_qf_next_target = min_over(&ws.members, |m| m.q_target[i]);
            let next_log_pi = ws.next_sample[i * (a + 1) + a];
            let soft_next = min_qf_next_target - alpha * next_log_pi;
            *y = batch.rewards[i] + c.gamma * (1.0 - batch.terminated[i]) * soft_next;
        }
        // ---- actor: actor_loss = mean_b alpha log pi(a~|s) - min_k qf_k(s, a~) ----
        let (mut actor_loss, mut sum_log_pi) = (0.0f32, 0.0f32);
        for i in 0..b {
            let min_qf_pi = min_over(&ws.members, |m| m.q_pi[i]);
            let log_pi = ws.sample[i * (a + 1) + a];
            actor_loss += (alpha * log_pi - min_qf_pi) / bf;
            sum_log_pi += log_pi;
            // d actor_loss / d qf_k = -1/B for the minimum (every member equal to it, as candle's `min`).
            for m in ws.members.iter_mut() {
                m.dz_pi[i] = if m.q_pi[i] == min_qf_pi { -1.0 / bf } else { 0.0 };
            }
        }
        // Per member: the critic loss's weight gradients, then (the critic weights being constants there)
        // the actor loss's gradient with respect to a~, the input columns from o on.
        {
            let mut sinks: Vec<_> = self.qf.layers().map(overwrite_sink).collect();
            let mut grads: Vec<MemberGrads<'_>> = (0..e).map(|_| (Vec::new(), Vec::new())).collect();
            for (layer, state) in qf[0].iter().zip(sinks.iter_mut()) {
                let (dw, db) = state.parts();
                let per_member = dw.chunks_mut(layer.n * layer.k).zip(db.chunks_mut(layer.n));
                for (slot, (w, bias)) in grads.iter_mut().zip(per_member) {
                    slot.0.push(w);
                    slot.1.push(bias);
                }
            }
            let (x, x_pi, y, delta) = (&ws.x, &ws.x_pi, &ws.next_q_value, c.huber_delta);
            let tasks: Vec<_> = ws.members.iter_mut().zip(grads).enumerate().collect();
            run_tasks(tasks, |(k, (m, (mut dw, mut db)))| {
                mlp::forward(false, &qf[k], b, x, oa, &mut m.acts);
                m.q.copy_from_slice(&m.acts[ql - 1][..b]);
                // d qf_loss / d qf_k(s_i, a_i) = w_i clamp(td, -delta, delta) / B (Huber's derivative).
                for (i, dz) in m.dz[..b].iter_mut().enumerate() {
                    *dz = batch.weights[i] * (m.q[i] - y[i]).clamp(-delta, delta) / bf;
                }
                let grads = Some((dw.as_mut_slice(), db.as_mut_slice()));
                mlp::backward(
                    false,
                    &qf[k],
                    b,
                    x,
                    oa,
                    &m.acts,
                    &mut m.dz,
                    &mut m.scratch,
                    grads,
                    None,
                );
                let input = mlp::InputGrad {
                    dx: &mut m.dx,
                    dx_rs: oa,
                    c0: o,
                    accumulate: false,
                };
                mlp::backward(
                    false,
                    &qf[k],
                    b,
                    x_pi,
                    oa,
                    &m.acts_pi,
                    &mut m.dz_pi,
                    &mut m.scratch,
                    None,
                    Some(input),
                );
            });
        }
        clock.lap(3);
        let (mut qf_loss, mut sum_q) = (0.0f32, 0.0f32);
        ws.td_errors.fill(0.0);
        for m in &ws.members {
            let mut member_loss = 0.0;
            for i in 0..b {
                let td = m.q[i] - ws.next_q_value[i];
                member_loss += batch.weights[i] * huber_scalar(td, c.huber_delta);
                ws.td_errors[i] += td.abs() / e as f32;
                sum_q += m.q[i];
            }
            qf_loss += member_loss / bf;
        }
        clock.lap(5);

        // Gradient of each sampled row [a~ | log pi]: the critics' through a~, alpha / B through log pi.
        for (i, row) in ws.sample_grad.chunks_exact_mut(a + 1).enumerate() {
            for (j, g) in row[..a].iter_mut().enumerate() {
                *g = ws.members.iter().map(|m| m.dx[i * oa + o + j]).sum();
            }
            row[a] = alpha / bf;
        }
        let head = &ws.policy_acts[pl - 1];
        let rows = head
            .chunks_exact(2 * a)
            .zip(ws.noise.chunks_exact(a))
            .zip(
                ws.sample
                    .chunks_exact(a + 1)
                    .zip(ws.sample_grad.chunks_exact(a + 1)),
            )
            .zip(ws.policy_dz.chunks_exact_mut(2 * a));
        for (((h, eps), (out, grad)), dh) in rows {
            crate::ops::squash_row_bwd(h, eps, out, grad, dh, lo, hi);
        }
        {
            let mut sinks: Vec<_> = self.policy.layers().map(overwrite_sink).collect();
            let (mut dw, mut db): (Vec<&mut [f32]>, Vec<&mut [f32]>) =
                sinks.iter_mut().map(|s| s.parts()).unzip();
            let grads = Some((dw.as_mut_slice(), db.as_mut_slice()));
            let (acts, dz, scratch) = (&ws.policy_acts, &mut ws.policy_dz, &mut ws.policy_scratch);
            mlp::backward(true, &policy, b, &batch.obs, o, acts, dz, scratch, grads, None);
        }
        clock.lap(4);

        // ---- temperature: alpha_loss = -mean_b log_alpha (log pi(a~|s) + target_entropy) ----
        let alpha_grad = -(sum_log_pi / bf + self.target_entropy);
        let stats = UpdateStats {
            qf_loss,
            actor_loss,
            alpha_loss: alpha.ln() * alpha_grad,
            alpha,
            mean_q: sum_q / (e * b) as f32,
            td_errors: ws.td_errors.clone(),
        };
        clock.lap(5);
        Ok((stats, alpha_grad))
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
    use crate::ops::SinkPart;
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

    /// The candle variables of `net` as fresh `Var`s (same values), so the reference's autograd owns them.
    fn copies(net: impl Iterator<Item = (Tensor, Tensor)>) -> Vec<(Var, Var)> {
        net.map(|(w, b)| (Var::from_tensor(&w).unwrap(), Var::from_tensor(&b).unwrap()))
            .collect()
    }

    /// `act(x W^T + b)` for one layer with candle's own ops (per member for `[E, n, k]` weights).
    fn plain_dense(x: &Tensor, w: &Tensor, b: &Tensor, tanh: bool) -> Tensor {
        let z = if w.rank() == 2 {
            x.matmul(&w.t().unwrap()).unwrap().broadcast_add(b).unwrap()
        } else {
            let e = w.dim(0).unwrap();
            let xe = x.unsqueeze(0).unwrap().repeat((e, 1, 1)).unwrap();
            let xe = if x.rank() == 3 { x.clone() } else { xe };
            xe.matmul(&w.transpose(1, 2).unwrap())
                .unwrap()
                .broadcast_add(&b.unsqueeze(1).unwrap())
                .unwrap()
        };
        if tanh { z.tanh().unwrap() } else { z }
    }

    fn plain_mlp(x: &Tensor, layers: &[(Tensor, Tensor)]) -> Tensor {
        let mut h = x.clone();
        for (i, (w, b)) in layers.iter().enumerate() {
            h = plain_dense(&h, w, b, i + 1 < layers.len());
        }
        h
    }

    /// `[a | log pi]` of the squashed Gaussian in plain candle ops:
    /// `u = mean + exp(clamp(log_std)) eps`, `a = tanh(u)`,
    /// `log pi = sum(-eps^2/2 - log_std - log(2 pi)/2 - 2 (log 2 - u - softplus(-2u)))`.
    fn plain_sample(head: &Tensor, eps: &Tensor, a: usize, (lo, hi): (f32, f32)) -> (Tensor, Tensor) {
        let mean = head.narrow(1, 0, a).unwrap();
        let log_std = head.narrow(1, a, a).unwrap().clamp(lo, hi).unwrap();
        let u = (&mean + (log_std.exp().unwrap() * eps).unwrap()).unwrap();
        let m2u = (&u * -2.0).unwrap();
        let softplus = (m2u.relu().unwrap()
            + (m2u.abs().unwrap().neg().unwrap().exp().unwrap() + 1.0)
                .unwrap()
                .log()
                .unwrap())
        .unwrap();
        let log_1m_tanh2 = ((u.neg().unwrap() - softplus).unwrap() + std::f64::consts::LN_2)
            .unwrap()
            .affine(2.0, 0.0)
            .unwrap();
        let normal = ((eps.sqr().unwrap() * -0.5).unwrap() - &log_std)
            .unwrap()
            .affine(1.0, -f64::from(crate::ops::HALF_LOG_2PI))
            .unwrap();
        (
            u.tanh().unwrap(),
            (normal - log_1m_tanh2).unwrap().sum(1).unwrap(),
        )
    }

    /// One update's losses and gradients through the hand-written path (`mlp.rs` over gemm and the
    /// crate's kernels) against the same losses written with candle's stock ops and autograd (module doc):
    /// every loss, every weight and bias gradient of the critics and the policy, and `d alpha_loss / d
    /// log_alpha`. Run once on each kernel path: the AVX2+FMA loops where the CPU has them, and the
    /// baseline loops in a child process with `SAS_LEARNER_KERNELS=baseline`.
    #[test]
    fn fast_update_matches_plain_candle() {
        let (o, a) = (6, 3);
        let config = SacConfig {
            hidden_sizes: vec![32, 24],
            batch_size: 40,
            initial_alpha: 0.3,
            seed: 7,
            ..SacConfig::default()
        };
        let mut sac = SacN::new(o, a, &config).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        // Two updates first, so the targets differ from the critics and Adam has moved the weights.
        for _ in 0..2 {
            sac.update(&random_batch(&mut rng, 40, o, a)).unwrap();
        }
        let mut batch = random_batch(&mut rng, 40, o, a);
        batch.weights = (0..40).map(|i| 0.5 + (i % 3) as f32 * 0.25).collect();
        batch.terminated[3] = 1.0;
        let b = batch.len();

        // The fast path, with the noise the update would draw.
        let alpha = sac.alpha().unwrap();
        let mut ws = Workspace::new(b, o, a, &config);
        let mut noise_rng = sac.rng.clone();
        for x in ws.next_noise.iter_mut().chain(ws.noise.iter_mut()) {
            *x = noise_rng.sample(StandardNormal);
        }
        let (stats, alpha_grad) = Device::Cpu
            .with_context(|| sac.losses_and_gradients(&batch, alpha, &mut ws, &mut PhaseClock::new()))
            .unwrap();

        // The reference, in plain candle.
        let dev = &Device::Cpu;
        let pairs = |net: Vec<&DenseLayer>| -> Vec<(Tensor, Tensor)> {
            net.into_iter()
                .map(|l| (l.weight().copy().unwrap(), l.bias().copy().unwrap()))
                .collect()
        };
        let policy = copies(pairs(sac.policy.layers().collect()).into_iter());
        let qf = copies(pairs(sac.qf.layers().collect()).into_iter());
        let qf_target = pairs(sac.qf_target.layers().collect());
        let log_alpha = Var::new(alpha.ln(), dev).unwrap();
        let t = |v: &[f32], shape: &[usize]| Tensor::from_slice(v, shape, dev).unwrap();
        let (obs, actions) = (t(&batch.obs, &[b, o]), t(&batch.actions, &[b, a]));
        let next_obs = t(&batch.next_obs, &[b, o]);
        let (rewards, terminated, weights) = (
            t(&batch.rewards, &[b]),
            t(&batch.terminated, &[b]),
            t(&batch.weights, &[b]),
        );
        let (next_eps, eps) = (t(&ws.next_noise, &[b, a]), t(&ws.noise, &[b, a]));
        let tensors = |vs: &[(Var, Var)]| -> Vec<(Tensor, Tensor)> {
            vs.iter()
                .map(|(w, b)| (w.as_tensor().clone(), b.as_tensor().clone()))
                .collect()
        };
        let detached = |vs: &[(Var, Var)]| -> Vec<(Tensor, Tensor)> {
            vs.iter()
                .map(|(w, b)| (w.as_tensor().detach(), b.as_tensor().detach()))
                .collect()
        };
        let range = sac.policy.log_std_range();
        let q_of = |s: &Tensor, act: &Tensor, net: &[(Tensor, Tensor)]| {
            plain_mlp(&Tensor::cat(&[s, act], 1).unwrap(), net)
                .squeeze(2)
                .unwrap()
        };

        let (next_a, next_log_pi) =
            plain_sample(&plain_mlp(&next_obs, &detached(&policy)), &next_eps, a, range);
        let min_qf_next_target = q_of(&next_obs, &next_a, &qf_target).min(0).unwrap();
        let soft_next = (min_qf_next_target - (next_log_pi * f64::from(alpha)).unwrap()).unwrap();
        let y = next_q_value(&rewards, &terminated, &soft_next, config.gamma).unwrap();
        let qf_values = q_of(&obs, &actions, &tensors(&qf));
        let td = qf_values.broadcast_sub(&y).unwrap();
        let qf_loss = huber(&td, config.huber_delta)
            .unwrap()
            .broadcast_mul(&weights)
            .unwrap()
            .mean(1)
            .unwrap()
            .sum_all()
            .unwrap();
        let (pi_a, log_pi) = plain_sample(&plain_mlp(&obs, &tensors(&policy)), &eps, a, range);
        let min_qf_pi = q_of(&obs, &pi_a, &detached(&qf)).min(0).unwrap();
        let actor_loss = ((&log_pi * f64::from(alpha)).unwrap() - min_qf_pi)
            .unwrap()
            .mean_all()
            .unwrap();
        let gap = (log_pi.detach() + f64::from(sac.target_entropy)).unwrap();
        let alpha_loss = log_alpha
            .as_tensor()
            .broadcast_mul(&gap)
            .unwrap()
            .mean_all()
            .unwrap()
            .neg()
            .unwrap();
        let total = ((&qf_loss + &actor_loss).unwrap() + &alpha_loss).unwrap();
        let grads = total.backward().unwrap();

        let scalar = |t: &Tensor| t.to_scalar::<f32>().unwrap();
        let close = |what: &str, got: f32, want: f32, tol: f32| {
            assert!(
                (got - want).abs() <= tol * (1.0 + want.abs()),
                "{what}: fast {got} vs candle {want}"
            );
        };
        close("qf_loss", stats.qf_loss, scalar(&qf_loss), 1e-5);
        close("actor_loss", stats.actor_loss, scalar(&actor_loss), 1e-5);
        close("alpha_loss", stats.alpha_loss, scalar(&alpha_loss), 1e-5);
        close(
            "mean_q",
            stats.mean_q,
            scalar(&qf_values.mean_all().unwrap()),
            1e-5,
        );
        close(
            "d alpha_loss",
            alpha_grad,
            scalar(grads.get(log_alpha.as_tensor()).unwrap()),
            1e-5,
        );
        let td_ref = td.abs().unwrap().mean(0).unwrap().to_vec1::<f32>().unwrap();
        for (i, (g, w)) in stats.td_errors.iter().zip(&td_ref).enumerate() {
            close(&format!("td_errors[{i}]"), *g, *w, 1e-5);
        }
        for (name, net, vars) in [
            ("policy", sac.policy.layers().collect::<Vec<_>>(), &policy),
            ("qf", sac.qf.layers().collect(), &qf),
        ] {
            for (l, (layer, (w, bias))) in net.iter().zip(vars).enumerate() {
                for (part, var) in [(SinkPart::Weight, w), (SinkPart::Bias, bias)] {
                    let want = grads
                        .get(var.as_tensor())
                        .unwrap()
                        .flatten_all()
                        .unwrap()
                        .to_vec1::<f32>()
                        .unwrap();
                    let scale = want.iter().fold(0.0f32, |m, x| m.max(x.abs()));
                    layer.sink().with_grad(part, |got| {
                        let got = got.expect("the fast path filled the sink");
                        assert_eq!(got.len(), want.len());
                        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                            assert!(
                                (g - w).abs() <= 1e-4 * scale + 1e-7,
                                "{name} layer {l} {part:?} [{i}]: fast {g} vs candle {w}"
                            );
                        }
                    });
                }
            }
        }

        if std::env::var_os("SAS_LEARNER_KERNELS").is_none() && crate::kernels::simd::has_avx2_fma() {
            let status = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "sac_n::tests::fast_update_matches_plain_candle",
                    "--test-threads=1",
                ])
                .env("SAS_LEARNER_KERNELS", "baseline")
                .output()
                .unwrap();
            let out = String::from_utf8_lossy(&status.stdout);
            assert!(
                status.status.success() && out.contains("1 passed"),
                "baseline kernel path:\n{out}\n{}",
                String::from_utf8_lossy(&status.stderr)
            );
        }
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
