//! The networks of SAC-N and CQL-N, built the candle way: each is a struct made from a [`VarBuilder`], its
//! layers named `fc1`, `fc2`, ... and `head`, so the safetensors names are stable:
//!
//! | variable | shape |
//! |---|---|
//! | `policy.fc{i}.weight`, `policy.fc{i}.bias` | `[h_i, h_{i-1}]`, `[h_i]` (`h_0` = obs dim) |
//! | `policy.head.weight`, `policy.head.bias` | `[2A, h_last]`, `[2A]`: `[mean \| log_std]` |
//! | `qf.fc{i}.weight`, `qf.fc{i}.bias` | `[E, h_i, h_{i-1}]`, `[E, h_i]` (`h_0` = obs dim + A) |
//! | `qf.head.weight`, `qf.head.bias` | `[E, 1, h_last]`, `[E, 1]` |
//! | `qf_target.*` | as `qf.*` |
//! | `log_alpha` | `[]` |
//!
//! Every layer is one fused op (`ops::Dense`): the matrix product, bias and `tanh` in one pass,
//! with gradients only for what is tracked. The critic ensemble keeps all `E` members in one weight tensor
//! `[E, out, in]`, so one call evaluates every member.

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{Init, VarBuilder, VarMap};
use rand::Rng;

use std::sync::Arc;

use crate::ops::{Act, Dense, GradSink, SinkPart, SquashedGaussian, Tanh};

/// A dense layer `y = act(x W^T + b)`, `W [out, in]`, or for an ensemble `W [E, out, in]`, `b [E, out]`.
#[derive(Debug, Clone)]
pub struct DenseLayer {
    weight: Tensor,
    bias: Tensor,
    act: Act,
    /// Receives the weight and bias gradients of the training forward passes.
    sink: Arc<GradSink>,
}

impl DenseLayer {
    fn new(shape_w: &[usize], act: Act, vb: VarBuilder) -> candle_core::Result<Self> {
        let shape_b = &shape_w[..shape_w.len() - 1];
        // Values are overwritten by `init_uniform_fan_in`, which is seeded; candle's own init is not.
        let weight = vb.get_with_hints(shape_w, "weight", Init::Const(0.0))?;
        let bias = vb.get_with_hints(shape_b, "bias", Init::Const(0.0))?;
        Ok(Self {
            weight,
            bias,
            act,
            sink: Arc::default(),
        })
    }

    /// The layer's weight tensor.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The layer's bias tensor.
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// Whether `tanh` follows the product (hidden layers) or not (heads).
    pub(crate) fn is_tanh(&self) -> bool {
        self.act == Act::Tanh
    }

    /// The sink of this layer's weight and bias gradients.
    pub(crate) fn sink(&self) -> &Arc<GradSink> {
        &self.sink
    }

    /// Training forward pass: the weight and bias gradients go to the layer's sink (drained by
    /// [`crate::Adam`]) instead of candle's `GradStore`.
    fn forward_train(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let op = Dense {
            act: self.act,
            x_grad_from: 0,
            sink: Some(self.sink.clone()),
        };
        x.contiguous()?.apply_op3(&self.weight, &self.bias, op)
    }

    /// The sinks of this layer's weight and bias, keyed by their tensors.
    pub(crate) fn sinks(&self) -> [(Tensor, Arc<GradSink>, SinkPart); 2] {
        [
            (self.weight.clone(), self.sink.clone(), SinkPart::Weight),
            (self.bias.clone(), self.sink.clone(), SinkPart::Bias),
        ]
    }

    /// Forward pass whose gradient reaches only `x`, and only its columns from `x_grad_from` on; the
    /// weights are used detached (the actor loss differentiates the critic with respect to its action).
    fn forward_input_grad(&self, x: &Tensor, x_grad_from: usize) -> candle_core::Result<Tensor> {
        let op = Dense {
            act: self.act,
            x_grad_from,
            sink: None,
        };
        if x.track_op() {
            x.contiguous()?
                .apply_op3(&self.weight.detach(), &self.bias.detach(), op)
        } else {
            x.contiguous()?.apply_op3_no_bwd(&self.weight, &self.bias, &op)
        }
    }

    /// Forward pass recording nothing for backprop (targets, inference).
    fn forward_no_grad(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.contiguous()?
            .apply_op3_no_bwd(&self.weight, &self.bias, &Dense::new(self.act))
    }
}

impl Module for DenseLayer {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.contiguous()?
            .apply_op3(&self.weight, &self.bias, Dense::new(self.act))
    }
}

/// The policy MLP: `obs -> tanh hidden layers -> [mean | log_std]`, a squashed Gaussian over `[-1, 1]^A`.
#[derive(Debug, Clone)]
pub struct Policy {
    hidden: Vec<DenseLayer>,
    head: DenseLayer,
    act_dim: usize,
    squash: SquashedGaussian,
}

impl Policy {
    /// Builds the policy under `vb` (normally `vb.pp("policy")`).
    ///
    /// # Errors
    ///
    /// A candle error if a variable of that name already exists with another shape.
    pub fn new(
        obs_dim: usize,
        act_dim: usize,
        hidden_sizes: &[usize],
        log_std_range: (f32, f32),
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let mut hidden = Vec::with_capacity(hidden_sizes.len());
        let mut fan_in = obs_dim;
        for (i, &h) in hidden_sizes.iter().enumerate() {
            hidden.push(DenseLayer::new(
                &[h, fan_in],
                Act::Tanh,
                vb.pp(format!("fc{}", i + 1)),
            )?);
            fan_in = h;
        }
        let head = DenseLayer::new(&[2 * act_dim, fan_in], Act::Identity, vb.pp("head"))?;
        let squash = SquashedGaussian {
            log_std_min: log_std_range.0,
            log_std_max: log_std_range.1,
        };
        Ok(Self {
            hidden,
            head,
            act_dim,
            squash,
        })
    }

    /// Action dimension `A`.
    pub fn act_dim(&self) -> usize {
        self.act_dim
    }

    /// Hidden layers then the head, in forward order.
    pub fn layers(&self) -> impl Iterator<Item = &DenseLayer> {
        self.hidden.iter().chain(std::iter::once(&self.head))
    }

    /// `log sigma` clamp range.
    pub fn log_std_range(&self) -> (f32, f32) {
        (self.squash.log_std_min, self.squash.log_std_max)
    }

    fn head_train(&self, obs: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = obs.clone();
        for layer in &self.hidden {
            x = layer.forward_train(&x)?;
        }
        self.head.forward_train(&x)
    }

    /// Gradient sinks of every layer (for [`crate::Adam::attach_sinks`]).
    pub(crate) fn sinks(&self) -> Vec<(Tensor, Arc<GradSink>, SinkPart)> {
        self.layers().flat_map(DenseLayer::sinks).collect()
    }

    fn head_no_grad(&self, obs: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = obs.clone();
        for layer in &self.hidden {
            x = layer.forward_no_grad(&x)?;
        }
        self.head.forward_no_grad(&x)
    }

    /// `(mean, clamped log_std)`, each `[B, A]`, recording the graph (weight gradients to the sinks).
    ///
    /// # Errors
    ///
    /// A candle error on a shape mismatch.
    pub fn mean_log_std(&self, obs: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let head = self.head_train(obs)?;
        let (lo, hi) = self.log_std_range();
        Ok((
            head.narrow(1, 0, self.act_dim)?,
            head.narrow(1, self.act_dim, self.act_dim)?.clamp(lo, hi)?,
        ))
    }

    /// Reparameterised sample `a = tanh(mean + sigma eps)` `[B, A]` and `log pi(a|s)` `[B]`, given
    /// standard-normal `eps [B, A]`. With `grad` the result is differentiable with respect to the policy
    /// (weight gradients to the layers' sinks); without it nothing is recorded (targets).
    ///
    /// # Errors
    ///
    /// A candle error on a shape mismatch.
    pub fn sample(&self, obs: &Tensor, eps: &Tensor, grad: bool) -> candle_core::Result<(Tensor, Tensor)> {
        let out = if grad {
            self.head_train(obs)?.apply_op2(eps, self.squash)?
        } else {
            self.head_no_grad(obs)?.apply_op2_no_bwd(eps, &self.squash)?
        };
        Ok((
            out.narrow(1, 0, self.act_dim)?,
            out.narrow(1, self.act_dim, 1)?.squeeze(1)?,
        ))
    }

    /// `log pi(a|s)` `[B]` of given actions `a` in `(-1, 1)`, differentiable with respect to the policy
    /// (behaviour cloning). Same formula as [`Policy::sample`], with `u = atanh(a)`.
    ///
    /// # Errors
    ///
    /// A candle error on a shape mismatch.
    pub fn log_prob(&self, obs: &Tensor, actions: &Tensor) -> candle_core::Result<Tensor> {
        let (mean, log_std) = self.mean_log_std(obs)?;
        // atanh(a) = (log(1 + a) - log(1 - a)) / 2; actions are constants here.
        let u = ((actions + 1.0)?.log()? - (1.0 - actions)?.log()?)?.affine(0.5, 0.0)?;
        let z = ((&u - &mean)? * log_std.neg()?.exp()?)?;
        let normal = ((z.sqr()? * -0.5)? - &log_std)?.affine(1.0, -f64::from(crate::ops::HALF_LOG_2PI))?;
        // log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), softplus(x) = max(x, 0) + log1p(exp(-|x|)).
        let m2u = (&u * -2.0)?;
        let softplus = (m2u.relu()? + (m2u.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
        let log_1m_tanh2 = ((u.neg()? - softplus)? + std::f64::consts::LN_2)?.affine(2.0, 0.0)?;
        (normal - log_1m_tanh2)?.sum(1)
    }

    /// The deterministic action `tanh(mean)` `[B, A]`, recording nothing.
    ///
    /// # Errors
    ///
    /// A candle error on a shape mismatch.
    pub fn deterministic(&self, obs: &Tensor) -> candle_core::Result<Tensor> {
        self.head_no_grad(obs)?
            .narrow(1, 0, self.act_dim)?
            .contiguous()?
            .apply_op1_no_bwd(&Tanh)
    }
}

impl Module for Policy {
    /// The raw head `[B, 2A]` = `[mean | unclamped log_std]`.
    fn forward(&self, obs: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = obs.clone();
        for layer in &self.hidden {
            x = layer.forward(&x)?;
        }
        self.head.forward(&x)
    }
}

/// `E` critics `Q_k(s, a)` evaluated together: every layer holds `[E, out, in]` weights.
#[derive(Debug, Clone)]
pub struct EnsembleCritic {
    hidden: Vec<DenseLayer>,
    head: DenseLayer,
    obs_dim: usize,
}

impl EnsembleCritic {
    /// Builds `ensemble_size` critics under `vb` (normally `vb.pp("qf")` or `vb.pp("qf_target")`).
    ///
    /// # Errors
    ///
    /// A candle error if a variable of that name already exists with another shape.
    pub fn new(
        obs_dim: usize,
        act_dim: usize,
        hidden_sizes: &[usize],
        ensemble_size: usize,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let e = ensemble_size;
        let mut hidden = Vec::with_capacity(hidden_sizes.len());
        let mut fan_in = obs_dim + act_dim;
        for (i, &h) in hidden_sizes.iter().enumerate() {
            hidden.push(DenseLayer::new(
                &[e, h, fan_in],
                Act::Tanh,
                vb.pp(format!("fc{}", i + 1)),
            )?);
            fan_in = h;
        }
        let head = DenseLayer::new(&[e, 1, fan_in], Act::Identity, vb.pp("head"))?;
        Ok(Self {
            hidden,
            head,
            obs_dim,
        })
    }

    /// Hidden layers then the head, in forward order.
    pub fn layers(&self) -> impl Iterator<Item = &DenseLayer> {
        self.hidden.iter().chain(std::iter::once(&self.head))
    }

    /// `Q_k(s, a)` for every member, `[E, B]`, recording the graph of the critic weights (their
    /// gradients go to the layers' sinks).
    ///
    /// # Errors
    ///
    /// A candle error on a shape mismatch.
    pub fn q_values(&self, obs: &Tensor, actions: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = Tensor::cat(&[obs, actions], 1)?;
        for layer in self.layers() {
            x = layer.forward_train(&x)?;
        }
        x.squeeze(2)
    }

    /// Gradient sinks of every layer (for [`crate::Adam::attach_sinks`]).
    pub(crate) fn sinks(&self) -> Vec<(Tensor, Arc<GradSink>, SinkPart)> {
        self.layers().flat_map(DenseLayer::sinks).collect()
    }

    /// `Q_k(s, a)` `[E, B]` with the critic weights detached: the gradient reaches only `actions`
    /// (`q_curr` of the actor loss, where only the policy learns).
    ///
    /// # Errors
    ///
    /// A candle error on a shape mismatch.
    pub fn q_values_action_grad(&self, obs: &Tensor, actions: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = Tensor::cat(&[obs, actions], 1)?;
        for (i, layer) in self.layers().enumerate() {
            x = layer.forward_input_grad(&x, if i == 0 { self.obs_dim } else { 0 })?;
        }
        x.squeeze(2)
    }

    /// `Q_k(s, a)` `[E, B]` recording nothing (the target critics).
    ///
    /// # Errors
    ///
    /// A candle error on a shape mismatch.
    pub fn q_values_no_grad(&self, obs: &Tensor, actions: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = Tensor::cat(&[obs, actions], 1)?;
        for layer in self.layers() {
            x = layer.forward_no_grad(&x)?;
        }
        x.squeeze(2)
    }
}

impl Module for EnsembleCritic {
    /// `[B, obs + A]` (observation and action concatenated) to `Q` `[E, B]`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = x.clone();
        for layer in self.layers() {
            x = layer.forward(&x)?;
        }
        x.squeeze(2)
    }
}

/// Initialises every variable under `prefix` like torch's `nn.Linear`, separately per ensemble member:
/// weights and biases `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, `fan_in` the weight's last dimension. Variables
/// are visited in name order, so the result depends only on the seed.
///
/// # Errors
///
/// A candle error if a bias has no sibling weight.
pub fn init_uniform_fan_in(varmap: &VarMap, prefix: &str, rng: &mut impl Rng) -> candle_core::Result<()> {
    let vars = named_vars(varmap, prefix);
    let fan_in_of = |bias_name: &str| -> candle_core::Result<usize> {
        let weight_name = bias_name.replace(".bias", ".weight");
        match vars.iter().find(|(n, _)| *n == weight_name) {
            Some((_, w)) => Ok(*w.dims().last().unwrap_or(&1)),
            None => candle_core::bail!("{bias_name} has no sibling weight {weight_name}"),
        }
    };
    for (name, var) in &vars {
        let fan_in = if name.ends_with(".bias") {
            fan_in_of(name)?
        } else {
            *var.dims().last().unwrap_or(&1)
        };
        let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
        let values: Vec<f32> = (0..var.elem_count())
            .map(|_| rng.random_range(-bound..=bound))
            .collect();
        var.set(&Tensor::from_vec(values, var.shape(), &Device::Cpu)?)?;
    }
    Ok(())
}

/// The variables whose names start with `prefix.`, sorted by name.
pub fn named_vars(varmap: &VarMap, prefix: &str) -> Vec<(String, Var)> {
    let dotted = format!("{prefix}.");
    // A poisoned lock means another thread panicked while holding it; the map itself is still whole.
    let data = varmap.data().lock().unwrap_or_else(|e| e.into_inner());
    let mut vars: Vec<(String, Var)> = data
        .iter()
        .filter(|(name, _)| name.starts_with(&dotted) || name.as_str() == prefix)
        .map(|(name, var)| (name.clone(), var.clone()))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// A [`VarBuilder`] over `varmap` for f32 tensors on the CPU.
pub fn var_builder(varmap: &VarMap) -> VarBuilder<'static> {
    VarBuilder::from_varmap(varmap, DType::F32, &Device::Cpu)
}

struct PolyakKernel {
    tau: f32,
}

impl candle_core::InplaceOp2 for PolyakKernel {
    fn name(&self) -> &'static str {
        "polyak"
    }

    fn cpu_fwd(
        &self,
        ts: &mut candle_core::CpuStorage,
        tl: &candle_core::Layout,
        ss: &candle_core::CpuStorage,
        sl: &candle_core::Layout,
    ) -> candle_core::Result<()> {
        let (Some((ta, tb)), Some((sa, sb))) = (tl.contiguous_offsets(), sl.contiguous_offsets()) else {
            candle_core::bail!("polyak: non-contiguous tensors")
        };
        let candle_core::CpuStorage::F32(target) = ts else {
            candle_core::bail!("polyak: target is not f32")
        };
        let source = &ss.as_slice::<f32>()?[sa..sb];
        let tau = self.tau;
        for (t, &s) in target[ta..tb].iter_mut().zip(source) {
            *t += tau * (s - *t);
        }
        Ok(())
    }
}

/// Polyak averaging of the target critics, in place: `qf_target <- tau * qf + (1 - tau) * qf_target`
/// (`tau = 1` copies). One pass per tensor with no allocation, where `VarMap::set_one` would build a new
/// tensor for every variable on every update.
///
/// # Errors
///
/// A candle error if the two ensembles have different shapes.
pub fn polyak_update(qf_target: &EnsembleCritic, qf: &EnsembleCritic, tau: f32) -> candle_core::Result<()> {
    for (t, s) in qf_target.layers().zip(qf.layers()) {
        for (tt, st) in [(t.weight(), s.weight()), (t.bias(), s.bias())] {
            if tt.dims() != st.dims() {
                candle_core::bail!("polyak: target {:?} vs online {:?}", tt.dims(), st.dims());
            }
            tt.inplace_op2(st, &PolyakKernel { tau })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn tiny_policy() -> (VarMap, Policy) {
        let varmap = VarMap::new();
        let policy = Policy::new(5, 3, &[8, 8], (-5.0, 2.0), var_builder(&varmap).pp("policy")).unwrap();
        init_uniform_fan_in(&varmap, "policy", &mut Xoshiro256PlusPlus::seed_from_u64(1)).unwrap();
        (varmap, policy)
    }

    fn obs(rows: usize) -> Tensor {
        let v: Vec<f32> = (0..rows * 5)
            .map(|i| ((i * 37 % 11) as f32) / 5.0 - 1.0)
            .collect();
        Tensor::from_vec(v, (rows, 5), &Device::Cpu).unwrap()
    }

    /// The squashed-Gaussian log-probability against a direct float64 computation of
    ///
    /// ```text
    /// u = mean + exp(log_std) eps,  a = tanh(u)
    /// log pi(a|s) = sum_j [ log N(u_j; mean_j, exp(log_std_j)) - log(1 - tanh(u_j)^2) ]
    /// log N(u; m, s) = -((u - m)/s)^2 / 2 - log s - log(2 pi) / 2
    /// ```
    ///
    /// the textbook change of variables (Haarnoja et al. 2018, eq. 21), with no epsilon and no re-derived
    /// atanh, so both the op and `Policy::log_prob` are checked against the exact value.
    #[test]
    fn log_prob_matches_direct_computation() {
        let (_vm, policy) = tiny_policy();
        let obs = obs(4);
        let eps_v: Vec<f32> = (0..12).map(|i| ((i * 5 % 7) as f32 - 3.0) * 0.6).collect();
        let eps = Tensor::from_vec(eps_v.clone(), (4, 3), &Device::Cpu).unwrap();
        let (a, logp) = policy.sample(&obs, &eps, false).unwrap();
        let (mean, log_std) = policy.mean_log_std(&obs).unwrap();
        let (mean, log_std) = (mean.to_vec2::<f32>().unwrap(), log_std.to_vec2::<f32>().unwrap());
        let (a, logp) = (a.to_vec2::<f32>().unwrap(), logp.to_vec1::<f32>().unwrap());
        for r in 0..4 {
            let mut want = 0.0f64;
            for j in 0..3 {
                let (m, ls, e) = (
                    f64::from(mean[r][j]),
                    f64::from(log_std[r][j]),
                    f64::from(eps_v[r * 3 + j]),
                );
                let s = ls.exp();
                let u = m + s * e;
                let normal = -0.5 * ((u - m) / s).powi(2) - ls - 0.5 * (2.0 * std::f64::consts::PI).ln();
                want += normal - (1.0 - u.tanh().powi(2)).ln();
                assert!((f64::from(a[r][j]) - u.tanh()).abs() < 1e-6);
            }
            assert!(
                (f64::from(logp[r]) - want).abs() < 1e-4,
                "row {r}: {} vs {want}",
                logp[r]
            );
        }
        // `log_prob` of the sampled actions recovers the same value through atanh.
        let a_t = Tensor::new(a, &Device::Cpu).unwrap();
        let again = policy.log_prob(&obs, &a_t).unwrap().to_vec1::<f32>().unwrap();
        for r in 0..4 {
            assert!(
                (again[r] - logp[r]).abs() < 2e-3,
                "row {r}: {} vs {}",
                again[r],
                logp[r]
            );
        }
    }

    /// The training path routes weight gradients to the layer sinks; they must equal what candle's own
    /// autograd puts in the `GradStore` through `Module::forward`, including accumulation when a layer
    /// is used twice in one loss.
    #[test]
    fn sink_gradients_equal_grad_store_gradients() {
        let (_vm, policy) = tiny_policy();
        let (o1, o2) = (obs(4), (obs(4) * 0.5).unwrap());
        let reference = (policy.forward(&o1).unwrap().sqr().unwrap().sum_all().unwrap()
            + policy.forward(&o2).unwrap().sum_all().unwrap())
        .unwrap();
        let grads = reference.backward().unwrap();
        let train = (policy.head_train(&o1).unwrap().sqr().unwrap().sum_all().unwrap()
            + policy.head_train(&o2).unwrap().sum_all().unwrap())
        .unwrap();
        let none = train.backward().unwrap();
        for (tensor, sink, part) in policy.sinks() {
            assert!(
                none.get(&tensor).is_none(),
                "training path must bypass the GradStore"
            );
            let want = grads
                .get(&tensor)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            sink.with_grad(part, |got| {
                let got = got.expect("sink filled");
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() < 1e-4 * (1.0 + w.abs()), "{g} vs {w}");
                }
            });
        }
    }

    #[test]
    fn init_is_seeded_and_bounded() {
        let (vm1, _) = tiny_policy();
        let (vm2, _) = tiny_policy();
        for ((n1, v1), (_, v2)) in named_vars(&vm1, "policy").iter().zip(named_vars(&vm2, "policy")) {
            assert_eq!(
                v1.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                v2.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                "{n1}"
            );
        }
        let w = named_vars(&vm1, "policy.fc1").remove(1).1; // policy.fc1.weight, fan_in 5
        let max = w
            .as_tensor()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(max <= 1.0 / 5f32.sqrt() && max > 0.2);
    }

    /// `qf_target <- tau qf + (1 - tau) qf_target`: from target 0 and online 1, two steps of tau = 0.1 give
    /// 0.1, then 0.1 + 0.1 (1 - 0.1) = 0.19.
    #[test]
    fn polyak_update_blends_towards_online() {
        let varmap = VarMap::new();
        let vb = var_builder(&varmap);
        let qf = EnsembleCritic::new(2, 1, &[3], 2, vb.pp("qf")).unwrap();
        let qf_target = EnsembleCritic::new(2, 1, &[3], 2, vb.pp("qf_target")).unwrap();
        for (_, v) in named_vars(&varmap, "qf") {
            v.set(&v.as_tensor().ones_like().unwrap()).unwrap();
        }
        polyak_update(&qf_target, &qf, 0.1).unwrap();
        polyak_update(&qf_target, &qf, 0.1).unwrap();
        for (name, v) in named_vars(&varmap, "qf_target") {
            for x in v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap() {
                assert!((x - 0.19).abs() < 1e-6, "{name}: {x}");
            }
        }
        // Online weights are untouched.
        for (_, v) in named_vars(&varmap, "qf") {
            assert_eq!(
                v.as_tensor()
                    .flatten_all()
                    .unwrap()
                    .min(0)
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap(),
                1.0
            );
        }
    }

    #[test]
    fn variable_names_are_stable() {
        let varmap = VarMap::new();
        let vb = var_builder(&varmap);
        Policy::new(4, 2, &[8, 8], (-5.0, 2.0), vb.pp("policy")).unwrap();
        EnsembleCritic::new(4, 2, &[8, 8], 2, vb.pp("qf")).unwrap();
        let names: Vec<(String, Vec<usize>)> = named_vars(&varmap, "qf")
            .into_iter()
            .chain(named_vars(&varmap, "policy"))
            .map(|(n, v)| (n, v.dims().to_vec()))
            .collect();
        let want: Vec<(&str, Vec<usize>)> = vec![
            ("qf.fc1.bias", vec![2, 8]),
            ("qf.fc1.weight", vec![2, 8, 6]),
            ("qf.fc2.bias", vec![2, 8]),
            ("qf.fc2.weight", vec![2, 8, 8]),
            ("qf.head.bias", vec![2, 1]),
            ("qf.head.weight", vec![2, 1, 8]),
            ("policy.fc1.bias", vec![8]),
            ("policy.fc1.weight", vec![8, 4]),
            ("policy.fc2.bias", vec![8]),
            ("policy.fc2.weight", vec![8, 8]),
            ("policy.head.bias", vec![4]),
            ("policy.head.weight", vec![4, 8]),
        ];
        assert_eq!(
            names,
            want.into_iter()
                .map(|(n, d)| (n.to_string(), d))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn min_over_ensemble_picks_the_smaller_critic() {
        let varmap = VarMap::new();
        let qf = EnsembleCritic::new(2, 1, &[3], 2, var_builder(&varmap).pp("qf")).unwrap();
        // Member 0 outputs its head bias 1.0, member 1 outputs -2.0 (all weights zero).
        for (name, v) in named_vars(&varmap, "qf") {
            if name == "qf.head.bias" {
                v.set(&Tensor::new(&[[1.0f32], [-2.0]], &Device::Cpu).unwrap())
                    .unwrap();
            }
        }
        let o = Tensor::zeros((4, 2), DType::F32, &Device::Cpu).unwrap();
        let a = Tensor::zeros((4, 1), DType::F32, &Device::Cpu).unwrap();
        let q = qf.q_values(&o, &a).unwrap();
        assert_eq!(q.dims(), &[2, 4]);
        assert_eq!(q.min(0).unwrap().to_vec1::<f32>().unwrap(), vec![-2.0; 4]);
    }
}
