//! A frozen copy of the policy for serving: plain `Vec<f32>` weights and a hand-written forward pass for
//! one observation, so answering a router never touches candle nor waits for the learner.
//!
//! The forward is a chain of matrix-vector products over row-major `[out, in]` weights (each output is one
//! contiguous dot product), with the same vectorised `tanh` as training. At O = 256, A = 137 it takes a few
//! microseconds (see [`crate::bench`]); torch needs about 60 µs for the same call.

use rand::Rng;
use rand_distr::StandardNormal;

use crate::action::env_from_policy;
use crate::error::{Result, check_finite, check_len};
use crate::kernels;
use crate::nets::Policy;

/// One dense layer's weights, row-major `[out, in]`.
#[derive(Debug, Clone, PartialEq)]
struct Layer {
    weight: Vec<f32>,
    bias: Vec<f32>,
    fan_in: usize,
}

/// The policy's weights at one moment, cheap to clone behind an `Arc` and share with serving threads.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySnapshot {
    obs_dim: usize,
    act_dim: usize,
    log_std_min: f32,
    log_std_max: f32,
    hidden: Vec<Layer>,
    head: Layer,
}

impl PolicySnapshot {
    /// Copies the weights out of a candle policy.
    ///
    /// # Errors
    ///
    /// A candle error if a tensor cannot be read (never for a policy built by this crate).
    pub fn from_policy(policy: &Policy, obs_dim: usize) -> Result<Self> {
        let mut layers = Vec::new();
        for layer in policy.layers() {
            let fan_in = *layer.weight().dims().last().unwrap_or(&0);
            layers.push(Layer {
                weight: layer.weight().flatten_all()?.to_vec1::<f32>()?,
                bias: layer.bias().flatten_all()?.to_vec1::<f32>()?,
                fan_in,
            });
        }
        // `Policy::layers` always ends with the head.
        let head = layers.pop().expect("a policy has a head layer");
        let (log_std_min, log_std_max) = policy.log_std_range();
        Ok(Self {
            obs_dim,
            act_dim: policy.act_dim(),
            log_std_min,
            log_std_max,
            hidden: layers,
            head,
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

    /// The raw head `[mean | unclamped log_std]` (`2A` values) for one observation.
    ///
    /// # Errors
    ///
    /// [`crate::LearnerError::DimMismatch`] or [`crate::LearnerError::NonFinite`] for a bad observation.
    pub fn head(&self, obs: &[f32]) -> Result<Vec<f32>> {
        self.forward(obs, 2 * self.act_dim)
    }

    /// The first `outputs` values of the head; the deterministic action needs only the `A` means, which
    /// halves the last layer.
    fn forward(&self, obs: &[f32], outputs: usize) -> Result<Vec<f32>> {
        check_len("obs", self.obs_dim, obs.len())?;
        check_finite("obs", obs)?;
        let mut x = obs.to_vec();
        for layer in &self.hidden {
            let mut y = vec![0.0; layer.bias.len()];
            kernels::matvec(&layer.weight, &x[..layer.fan_in], &layer.bias, &mut y, true);
            x = y;
        }
        let fan_in = self.head.fan_in;
        let mut out = vec![0.0; outputs];
        kernels::matvec(
            &self.head.weight[..outputs * fan_in],
            &x,
            &self.head.bias[..outputs],
            &mut out,
            false,
        );
        Ok(out)
    }

    /// The action for one observation, in **env space** `[0, 1]^A` (what the router consumes):
    /// `(tanh(mean) + 1) / 2` when `deterministic`, otherwise `(tanh(mean + sigma eps) + 1) / 2` with
    /// `eps ~ N(0, I)` drawn from `rng`.
    ///
    /// # Errors
    ///
    /// [`crate::LearnerError::DimMismatch`] or [`crate::LearnerError::NonFinite`] for a bad observation.
    pub fn act(&self, obs: &[f32], deterministic: bool, rng: &mut impl Rng) -> Result<Vec<f32>> {
        let head = self.forward(
            obs,
            if deterministic {
                self.act_dim
            } else {
                2 * self.act_dim
            },
        )?;
        let (mean, log_std) = head.split_at(self.act_dim);
        let mut u: Vec<f32> = if deterministic {
            mean.to_vec()
        } else {
            mean.iter()
                .zip(log_std)
                .map(|(&m, &l)| {
                    let eps: f32 = rng.sample(StandardNormal);
                    m + l.clamp(self.log_std_min, self.log_std_max).exp() * eps
                })
                .collect()
        };
        kernels::tanh_slice(&mut u);
        Ok(u.into_iter().map(env_from_policy).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SacConfig;
    use crate::sac_n::SacN;
    use candle_core::{Device, Tensor};
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn snapshot_equals_candle_forward() {
        let (o, a) = (256, 137);
        let sac = SacN::new(
            o,
            a,
            &SacConfig {
                seed: 5,
                ..SacConfig::default()
            },
        )
        .unwrap();
        let snap = sac.snapshot().unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
        for _ in 0..8 {
            let obs: Vec<f32> = (0..o).map(|_| rng.random_range(0.0..2.0)).collect();
            let t = Tensor::from_slice(&obs, (1, o), &Device::Cpu).unwrap();
            let want_head = candle_core::Module::forward(sac.policy(), &t)
                .unwrap()
                .flatten_all()
                .unwrap();
            let want_head = want_head.to_vec1::<f32>().unwrap();
            let got_head = snap.head(&obs).unwrap();
            for (g, w) in got_head.iter().zip(&want_head) {
                assert!((g - w).abs() < 1e-5, "head {g} vs {w}");
            }
            let want = sac
                .policy()
                .deterministic(&t)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let got = snap.act(&obs, true, &mut rng).unwrap();
            for (g, w) in got.iter().zip(&want) {
                assert!((g - (w + 1.0) / 2.0).abs() < 1e-5, "action {g} vs env({w})");
            }
        }
    }

    #[test]
    fn sampled_actions_are_in_env_box_and_bad_obs_is_an_error() {
        let sac = SacN::new(
            4,
            3,
            &SacConfig {
                hidden_sizes: vec![8],
                ..SacConfig::default()
            },
        )
        .unwrap();
        let snap = sac.snapshot().unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        for _ in 0..100 {
            let act = snap.act(&[0.5, 1.0, 1.5, 0.0], false, &mut rng).unwrap();
            assert!(act.iter().all(|x| (0.0..=1.0).contains(x)));
        }
        assert_eq!(
            snap.act(&[0.0; 3], true, &mut rng).unwrap_err().to_string(),
            "obs has length 3, expected 4"
        );
        assert!(snap.act(&[f32::NAN, 0.0, 0.0, 0.0], true, &mut rng).is_err());
    }
}
