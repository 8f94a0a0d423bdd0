//! Adam (Kingma & Ba 2015) over one group of candle variables, with its moments and step count in the
//! open so checkpoints can save and restore them (candle-nn's `AdamW` keeps them private).
//!
//! The step is one fused in-place pass per tensor, split across threads; it follows torch's `Adam`
//! (no weight decay, no amsgrad):
//!
//! ```text
//! m <- beta1 m + (1 - beta1) g
//! v <- beta2 v + (1 - beta2) g^2
//! p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//! ```

use std::cell::RefCell;
use std::sync::Arc;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, InplaceOp1, Layout, Tensor, Var, bail};
use rayon::prelude::*;

use crate::error::{LearnerError, Result};
use crate::ops::{GradSink, SinkPart};

/// Adam state of one variable group (e.g. every `qf.*` variable).
#[derive(Debug)]
pub struct Adam {
    params: Vec<(String, Var)>,
    /// Per parameter, the layer sink its gradient arrives in, if any (see `ops::GradSink`).
    sinks: Vec<Option<(Arc<GradSink>, SinkPart)>>,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    step: u64,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
}

/// Matching chunks of parameter, gradient, first and second moment, as zipped by rayon.
type Chunk<'a> = (((&'a mut [f32], &'a [f32]), &'a mut [f32]), &'a mut [f32]);

/// Elements per parallel chunk: small tensors stay on one thread.
const CHUNK: usize = 32 * 1024;

struct AdamKernel<'a> {
    grad: &'a [f32],
    m: RefCell<&'a mut [f32]>,
    v: RefCell<&'a mut [f32]>,
    lr_t: f32,
    inv_sqrt_bc2: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
}

impl InplaceOp1 for AdamKernel<'_> {
    fn name(&self) -> &'static str {
        "adam-step"
    }

    fn cpu_fwd(&self, ps: &mut CpuStorage, pl: &Layout) -> candle_core::Result<()> {
        let g = self.grad;
        let Some((a, b)) = pl.contiguous_offsets() else {
            bail!("adam: non-contiguous parameter")
        };
        let CpuStorage::F32(p) = ps else {
            bail!("adam: parameter is not f32")
        };
        let p = &mut p[a..b];
        let (mut m, mut v) = (self.m.borrow_mut(), self.v.borrow_mut());
        if p.len() != g.len() || p.len() != m.len() {
            bail!(
                "adam: parameter has {} values, gradient {}, state {}",
                p.len(),
                g.len(),
                m.len()
            );
        }
        let (b1, b2, lr_t, inv, eps) = (self.beta1, self.beta2, self.lr_t, self.inv_sqrt_bc2, self.eps);
        let kernel = |(((p, g), m), v): Chunk<'_>| {
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                *p -= lr_t * *m / (v.sqrt() * inv + eps);
            }
        };
        if p.len() > CHUNK && rayon::current_num_threads() > 1 {
            p.par_chunks_mut(CHUNK)
                .zip(g.par_chunks(CHUNK))
                .zip(m.par_chunks_mut(CHUNK))
                .zip(v.par_chunks_mut(CHUNK))
                .for_each(kernel);
        } else {
            kernel((((p, g), &mut **m), &mut **v));
        }
        Ok(())
    }
}

impl Adam {
    /// Adam over `params` (name, variable), with zeroed moments.
    pub fn new(params: Vec<(String, Var)>, lr: f64, beta1: f64, beta2: f64, eps: f64) -> Self {
        let m = params
            .iter()
            .map(|(_, p)| vec![0.0; p.elem_count()])
            .collect::<Vec<_>>();
        let v = m.clone();
        let sinks = vec![None; params.len()];
        Self {
            params,
            sinks,
            m,
            v,
            step: 0,
            lr,
            beta1,
            beta2,
            eps,
        }
    }

    /// Reads the gradients of these variables from layer sinks instead of the `GradStore`; `sinks` pairs
    /// each variable's tensor with its sink.
    pub(crate) fn attach_sinks(&mut self, sinks: &[(Tensor, Arc<GradSink>, SinkPart)]) {
        for ((_, var), slot) in self.params.iter().zip(self.sinks.iter_mut()) {
            if let Some((_, sink, part)) = sinks.iter().find(|(t, _, _)| t.id() == var.as_tensor().id()) {
                *slot = Some((sink.clone(), *part));
            }
        }
    }

    /// Forgets gradients left in the sinks (a backward without a step); the next backward overwrites.
    pub fn zero_grad(&self) {
        for (sink, _) in self.sinks.iter().flatten() {
            sink.clear();
        }
    }

    /// Number of steps taken (`t` of the bias corrections).
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The learning rate.
    pub fn learning_rate(&self) -> f64 {
        self.lr
    }

    /// Sets the learning rate (schedules, or a checkpoint loaded under another config).
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// One Adam step on every variable of the group that has a gradient in `grads`; variables without
    /// one are left alone, moments included (as torch does for parameters whose `.grad` is `None`).
    ///
    /// # Errors
    ///
    /// A candle error if a gradient's shape differs from its variable's.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step_from(Some(grads), None)
    }

    /// One Adam step with the gradients already in the layer sinks (the hand-written backward of
    /// `mlp.rs` fills them); a variable without a sink takes `alone` as its gradient (the group of one
    /// scalar, `log_alpha`).
    ///
    /// # Errors
    ///
    /// A candle error if a gradient's length differs from its variable's.
    pub(crate) fn step_sinks(&mut self, alone: Option<&[f32]>) -> Result<()> {
        self.step_from(None, alone)
    }

    fn step_from(&mut self, grads: Option<&GradStore>, alone: Option<&[f32]>) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        let (lr_t, inv_sqrt_bc2) = ((self.lr / bc1) as f32, (1.0 / bc2.sqrt()) as f32);
        let (beta1, beta2, eps) = (self.beta1 as f32, self.beta2 as f32, self.eps as f32);
        for (i, (_, var)) in self.params.iter().enumerate() {
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            let mut apply = |grad: &[f32]| -> Result<()> {
                let kernel = AdamKernel {
                    grad,
                    m: RefCell::new(m.as_mut_slice()),
                    v: RefCell::new(v.as_mut_slice()),
                    lr_t,
                    inv_sqrt_bc2,
                    beta1,
                    beta2,
                    eps,
                };
                var.as_tensor().inplace_op1(&kernel)?;
                Ok(())
            };
            if let Some((sink, part)) = &self.sinks[i] {
                sink.with_grad(*part, |g| g.map_or(Ok(()), apply))?;
            } else if let Some(grad) = alone {
                apply(grad)?;
            } else if let Some(grad) = grads.and_then(|g| g.get(var.as_tensor())) {
                let grad = grad.contiguous()?;
                let (storage, layout) = grad.storage_and_layout();
                let (candle_core::Storage::Cpu(cpu), Some((a, b))) = (&*storage, layout.contiguous_offsets())
                else {
                    return Err(candle_core::Error::Msg(
                        "adam: gradient is not a contiguous CPU tensor".into(),
                    )
                    .into());
                };
                apply(&cpu.as_slice::<f32>()?[a..b])?;
            }
        }
        self.zero_grad();
        Ok(())
    }

    /// The state as named tensors: `{name}.m`, `{name}.v` per variable and `{group}.step` (an `i64`).
    ///
    /// # Errors
    ///
    /// A candle error if a tensor cannot be built (never with consistent state).
    pub fn state_tensors(&self, group: &str) -> Result<Vec<(String, Tensor)>> {
        let dev = candle_core::Device::Cpu;
        let mut out = Vec::with_capacity(2 * self.params.len() + 1);
        for (i, (name, var)) in self.params.iter().enumerate() {
            out.push((
                format!("{name}.m"),
                Tensor::from_slice(&self.m[i], var.shape(), &dev)?,
            ));
            out.push((
                format!("{name}.v"),
                Tensor::from_slice(&self.v[i], var.shape(), &dev)?,
            ));
        }
        out.push((format!("{group}.step"), Tensor::new(self.step as i64, &dev)?));
        Ok(out)
    }

    /// Restores the state written by [`Adam::state_tensors`]; `get` returns the tensor of a name.
    ///
    /// # Errors
    ///
    /// [`LearnerError::CorruptFile`] (with an empty path, filled in by the caller) naming a missing or
    /// misshapen tensor.
    pub fn load_state(
        &mut self,
        group: &str,
        mut get: impl FnMut(&str) -> Option<Tensor>,
        path: &std::path::Path,
    ) -> Result<()> {
        let corrupt = |reason: String| LearnerError::CorruptFile {
            path: path.to_owned(),
            reason,
        };
        let mut m = Vec::with_capacity(self.params.len());
        let mut v = Vec::with_capacity(self.params.len());
        for (name, var) in &self.params {
            for (suffix, dst) in [("m", &mut m), ("v", &mut v)] {
                let key = format!("{name}.{suffix}");
                let t = get(&key).ok_or_else(|| corrupt(format!("missing tensor {key}")))?;
                if t.dims() != var.dims() {
                    return Err(corrupt(format!(
                        "{key} has shape {:?}, expected {:?}",
                        t.dims(),
                        var.dims()
                    )));
                }
                let values = t.flatten_all().and_then(|t| t.to_vec1::<f32>());
                dst.push(values.map_err(|e| corrupt(format!("{key}: {e}")))?);
            }
        }
        let key = format!("{group}.step");
        let step = get(&key)
            .ok_or_else(|| corrupt(format!("missing tensor {key}")))?
            .to_scalar::<i64>()
            .map_err(|e| corrupt(format!("{key}: {e}")))?;
        self.step = u64::try_from(step).map_err(|_| corrupt(format!("{key} = {step} is negative")))?;
        self.m = m;
        self.v = v;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Two steps on `f(p) = sum(p^2)`, `p = [1, -2]`, `lr = 0.1`, against values computed by hand (in f64)
    /// with the formula of the module doc: step 1 moves each coordinate by `-lr * sign(g)`, since
    /// `m / sqrt(v)` is `g / |g|` after bias correction.
    #[test]
    fn first_step_moves_by_lr_times_sign() {
        let p = Var::new(&[1.0f32, -2.0], &Device::Cpu).unwrap();
        let mut adam = Adam::new(vec![("p".into(), p.clone())], 0.1, 0.9, 0.999, 1e-7);
        let loss = p.as_tensor().sqr().unwrap().sum_all().unwrap();
        adam.step(&loss.backward().unwrap()).unwrap();
        let got = p.as_tensor().to_vec1::<f32>().unwrap();
        assert!(
            (got[0] - 0.9).abs() < 1e-6 && (got[1] + 1.9).abs() < 1e-6,
            "{got:?}"
        );
        // Step 2 by hand: g = 2p; m = 0.9 m1 + 0.1 g; v = 0.999 v1 + 0.001 g^2.
        let (g1, g2) = (2.0f64, 1.8f64);
        let m = 0.9 * (0.1 * g1) + 0.1 * g2;
        let v = 0.999 * (0.001 * g1 * g1) + 0.001 * g2 * g2;
        let want = 0.9 - 0.1 / (1.0 - 0.81) * m / (v.sqrt() / (1.0f64 - 0.998001).sqrt() + 1e-7);
        let loss = p.as_tensor().sqr().unwrap().sum_all().unwrap();
        adam.step(&loss.backward().unwrap()).unwrap();
        let got = p.as_tensor().to_vec1::<f32>().unwrap();
        assert!((f64::from(got[0]) - want).abs() < 1e-5, "{} vs {want}", got[0]);
        assert_eq!(adam.step_count(), 2);
    }

    #[test]
    fn state_round_trips() {
        let p = Var::new(&[1.0f32, -2.0, 3.0], &Device::Cpu).unwrap();
        let mut adam = Adam::new(vec![("p".into(), p.clone())], 0.1, 0.9, 0.999, 1e-7);
        let loss = p.as_tensor().sqr().unwrap().sum_all().unwrap();
        adam.step(&loss.backward().unwrap()).unwrap();
        let saved: std::collections::HashMap<_, _> = adam.state_tensors("g").unwrap().into_iter().collect();
        let mut other = Adam::new(vec![("p".into(), p.clone())], 0.1, 0.9, 0.999, 1e-7);
        other
            .load_state("g", |k| saved.get(k).cloned(), std::path::Path::new("x"))
            .unwrap();
        assert_eq!((other.step, &other.m, &other.v), (adam.step, &adam.m, &adam.v));
    }
}
