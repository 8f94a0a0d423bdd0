//! Fused candle custom ops: the dense layer (single or ensemble, with its activation) and the squashed
//! Gaussian sample with its log-probability. They plug into candle's autograd like any op, but compute with
//! [`crate::kernels`] directly and return gradients only for the arguments that track them.
//!
//! Why fused: stock candle spends most of a SAC-N update outside the matrix products (allocations, scalar
//! `tanh`, and gradients computed for detached weights); fusing bias and activation into the product and
//! skipping untracked gradients is what brought candle to torch's speed (`candle-performance.md`, variant F).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Device, Layout, Shape, Tensor, bail};

use crate::kernels::{self, run_tasks};

/// Borrows the f32 data of a contiguous CPU tensor.
fn cpu_f32<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    let Some((start, end)) = l.contiguous_offsets() else {
        bail!(
            "{what}: expected a contiguous tensor, got strides {:?}",
            l.stride()
        )
    };
    Ok(&s.as_slice::<f32>()?[start..end])
}

/// Borrows the f32 data of a CPU storage guard (the tensor must be contiguous).
fn storage_f32<'a>(s: &'a candle_core::Storage, l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    let candle_core::Storage::Cpu(cpu) = s else {
        bail!("{what}: only the CPU device is supported")
    };
    cpu_f32(cpu, l, what)
}

/// Activation fused after a dense layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Act {
    /// `y = x W^T + b`.
    Identity,
    /// `y = tanh(x W^T + b)`.
    Tanh,
}

/// Sizes of one dense call: `members` weight matrices `[n, k]`, inputs of `m` rows, shared or per member.
#[derive(Debug, Clone, Copy)]
struct DenseDims {
    members: usize,
    shared_x: bool,
    m: usize,
    n: usize,
    k: usize,
}

impl DenseDims {
    fn of(x: &Layout, w: &Layout, b: &Layout) -> candle_core::Result<(Self, Shape)> {
        let (xd, wd) = (x.dims(), w.dims());
        let (members, n, k, ensemble) = match *wd {
            [n, k] => (1, n, k, false),
            [e, n, k] => (e, n, k, true),
            _ => bail!("dense: weight must be [out, in] or [E, out, in], got {wd:?}"),
        };
        if b.shape().elem_count() != members * n {
            bail!(
                "dense: bias has shape {:?}, expected {} values",
                b.dims(),
                members * n
            );
        }
        let (shared_x, m) = match *xd {
            [m, kx] if kx == k => (true, m),
            [e, m, kx] if kx == k && e == members && ensemble => (false, m),
            _ => bail!("dense: input {xd:?} does not match weight {wd:?}"),
        };
        let shape = if ensemble {
            Shape::from((members, m, n))
        } else {
            Shape::from((m, n))
        };
        Ok((
            Self {
                members,
                shared_x,
                m,
                n,
                k,
            },
            shape,
        ))
    }

    fn x_of<'a>(&self, x: &'a [f32], member: usize) -> &'a [f32] {
        if self.shared_x {
            x
        } else {
            &x[member * self.m * self.k..(member + 1) * self.m * self.k]
        }
    }

    /// Row blocks per member so that the tasks cover every thread.
    fn row_splits(&self) -> usize {
        let threads = rayon::current_num_threads();
        if self.members >= threads || self.m < 32 {
            1
        } else {
            threads.div_ceil(self.members)
        }
    }
}

/// Splits `0..len` into `parts` contiguous ranges.
fn ranges(len: usize, parts: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let step = len.div_ceil(parts.max(1)).max(1);
    (0..len).step_by(step).map(move |s| s..(s + step).min(len))
}

/// Which half of a [`GradSink`] a variable reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SinkPart {
    /// The weight gradient.
    Weight,
    /// The bias gradient.
    Bias,
}

/// Gradient buffers of one layer, filled by [`Dense`]'s backward and drained by the optimizer.
///
/// Why not candle's `GradStore`: candle accumulates every variable's gradient as `zeros_like + add`, two
/// extra passes and two fresh allocations over each weight tensor per backward, and those adds run on
/// candle's spinning elementwise pool, which competes with the gemm threads on a 2-core machine. A sink
/// receives the gradient straight from the gemm (accumulating when the layer was used more than once in
/// the loss), so the weights never enter the `GradStore` at all.
#[derive(Debug, Default)]
pub(crate) struct GradSink {
    state: std::sync::Mutex<SinkState>,
}

#[derive(Debug, Default)]
pub(crate) struct SinkState {
    weight: Vec<f32>,
    bias: Vec<f32>,
    /// The buffers hold a gradient of the current step (else they are stale and get overwritten).
    filled: bool,
}

impl GradSink {
    fn lock(&self) -> std::sync::MutexGuard<'_, SinkState> {
        // A poisoned lock means a panic mid-backward; the buffers are plain floats, still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the gradient of `part` if the sink holds one for this step.
    pub(crate) fn with_grad<R>(&self, part: SinkPart, f: impl FnOnce(Option<&[f32]>) -> R) -> R {
        let state = self.lock();
        if !state.filled {
            return f(None);
        }
        f(Some(match part {
            SinkPart::Weight => &state.weight,
            SinkPart::Bias => &state.bias,
        }))
    }

    /// Marks the buffers stale: the next backward overwrites instead of accumulating.
    pub(crate) fn clear(&self) {
        self.lock().filled = false;
    }

    /// Locks the sink for a writer that overwrites the whole gradient (the hand-written backward of
    /// `mlp.rs`): sizes the buffers to `w_len` and `b_len` values (allocating only the first time) and
    /// marks them filled.
    pub(crate) fn overwrite(&self, w_len: usize, b_len: usize) -> std::sync::MutexGuard<'_, SinkState> {
        let mut state = self.lock();
        state.weight.resize(w_len, 0.0);
        state.bias.resize(b_len, 0.0);
        state.filled = true;
        state
    }
}

impl SinkState {
    /// The weight and bias gradient buffers.
    pub(crate) fn parts(&mut self) -> (&mut [f32], &mut [f32]) {
        (&mut self.weight, &mut self.bias)
    }
}

/// The dense layer `y = act(x W^T + b)` for one weight matrix `W [N, K]` (input `[M, K]`, output `[M, N]`)
/// or an ensemble `W [E, N, K]`, `b [E, N]` (input `[M, K]` shared by every member or `[E, M, K]`, output
/// `[E, M, N]`).
///
/// Gradients are computed only for tracked arguments. With a `sink`, the weight and bias gradients go
/// there and not to candle. Columns of `x` before `x_grad_from` are treated as constants: their gradient is
/// zero and never computed (the observation half of a critic input whose action half carries the actor's
/// gradient).
#[derive(Debug, Clone)]
pub(crate) struct Dense {
    pub(crate) act: Act,
    pub(crate) x_grad_from: usize,
    pub(crate) sink: Option<std::sync::Arc<GradSink>>,
}

impl Dense {
    pub(crate) fn new(act: Act) -> Self {
        Self {
            act,
            x_grad_from: 0,
            sink: None,
        }
    }
}

impl CustomOp3 for Dense {
    fn name(&self) -> &'static str {
        "fused-dense"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (d, shape) = DenseDims::of(xl, wl, bl)?;
        let (x, w, b) = (
            cpu_f32(xs, xl, "dense x")?,
            cpu_f32(ws, wl, "dense w")?,
            cpu_f32(bs, bl, "dense b")?,
        );
        let (m, n, k) = (d.m, d.n, d.k);
        let mut y = vec![0.0f32; d.members * m * n];
        let mut tasks = Vec::new();
        let mut rest = y.as_mut_slice();
        for member in 0..d.members {
            for rows in ranges(m, d.row_splits()) {
                let (block, tail) = rest.split_at_mut(rows.len() * n);
                rest = tail;
                tasks.push((member, rows, block));
            }
        }
        let tanh = self.act == Act::Tanh;
        run_tasks(tasks, |(member, rows, out)| {
            let xe = &d.x_of(x, member)[rows.start * k..rows.end * k];
            let we = &w[member * n * k..(member + 1) * n * k];
            kernels::gemm(rows.len(), n, k, out, n, false, xe, k, 1, we, 1, k);
            kernels::bias_act_rows(out, &b[member * n..(member + 1) * n], tanh);
        });
        Ok((CpuStorage::F32(y), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        y: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (d, _) = DenseDims::of(x.layout(), w.layout(), b.layout())?;
        let (m, n, k) = (d.m, d.n, d.k);
        let (need_x, need_w, need_b) = (x.track_op(), w.track_op() || b.track_op(), b.track_op());
        // dz = grad * act'(z); for tanh, act' = 1 - y^2.
        let dz: Vec<f32> = {
            let (g, yv) = (grad.contiguous()?, y.contiguous()?);
            let (gs, gl) = g.storage_and_layout();
            let g = storage_f32(&gs, gl, "dense grad")?;
            match self.act {
                Act::Identity => g.to_vec(),
                Act::Tanh => {
                    let (ys, yl) = yv.storage_and_layout();
                    let y = storage_f32(&ys, yl, "dense y")?;
                    g.iter().zip(y).map(|(g, y)| g * (1.0 - y * y)).collect()
                }
            }
        };
        let c0 = self.x_grad_from.min(k);
        let (w_len, b_len) = (d.members * n * k, d.members * n);
        let mut sink = if need_w {
            self.sink.as_ref().map(|s| s.lock())
        } else {
            None
        };
        let accumulate = sink.as_ref().is_some_and(|s| s.filled);
        let (mut own_w, mut own_b) = (Vec::new(), Vec::new());
        let (dw, db): (&mut [f32], &mut [f32]) = match sink.as_deref_mut() {
            Some(state) => {
                if state.weight.len() != w_len || state.bias.len() != b_len {
                    state.weight = vec![0.0; w_len];
                    state.bias = vec![0.0; b_len];
                }
                if !accumulate {
                    state.bias.fill(0.0);
                }
                state.filled = true;
                (&mut state.weight, &mut state.bias)
            }
            None => {
                if need_w {
                    own_w = vec![0.0f32; w_len];
                    own_b = vec![0.0f32; b_len];
                }
                (&mut own_w, &mut own_b)
            }
        };
        let x_len = if d.shared_x { m * k } else { d.members * m * k };
        let mut dx = if need_x { vec![0.0f32; x_len] } else { Vec::new() };

        enum Job<'a> {
            Weight {
                member: usize,
                dw: &'a mut [f32],
                db: &'a mut [f32],
            },
            Input {
                member: Option<usize>,
                rows: std::ops::Range<usize>,
                dx: &'a mut [f32],
            },
        }
        let mut jobs = Vec::new();
        if need_w {
            for (member, (dw, db)) in dw.chunks_mut(n * k).zip(db.chunks_mut(n)).enumerate() {
                jobs.push(Job::Weight { member, dw, db });
            }
        }
        if need_x {
            let splits = if d.shared_x {
                rayon::current_num_threads().max(1)
            } else {
                d.row_splits()
            };
            let mut rest = dx.as_mut_slice();
            let members: Vec<Option<usize>> = if d.shared_x {
                vec![None]
            } else {
                (0..d.members).map(Some).collect()
            };
            for member in members {
                for rows in ranges(m, if m < 32 { 1 } else { splits }) {
                    let (block, tail) = rest.split_at_mut(rows.len() * k);
                    rest = tail;
                    jobs.push(Job::Input {
                        member,
                        rows,
                        dx: block,
                    });
                }
            }
        }
        let (xv, wv) = (x.contiguous()?, w.contiguous()?);
        let (xs, xl) = xv.storage_and_layout();
        let (ws, wl) = wv.storage_and_layout();
        let (xf, wf) = (storage_f32(&xs, xl, "dense x")?, storage_f32(&ws, wl, "dense w")?);
        let dz = dz.as_slice();
        run_tasks(jobs, |job| match job {
            Job::Weight { member, dw, db } => {
                let dze = &dz[member * m * n..(member + 1) * m * n];
                // dW_e [n, k] = dz_e^T [n, m] · x_e [m, k]
                kernels::gemm(n, k, m, dw, k, accumulate, dze, 1, n, d.x_of(xf, member), k, 1);
                for row in dze.chunks_exact(n) {
                    for (acc, g) in db.iter_mut().zip(row) {
                        *acc += g;
                    }
                }
            }
            Job::Input { member, rows, dx } => {
                // dx[rows, c0..] = sum over members of dz_e[rows] [r, n] · W_e[:, c0..] [n, k - c0]
                let members = match member {
                    Some(e) => e..e + 1,
                    None => 0..d.members,
                };
                for (i, e) in members.enumerate() {
                    let dze = &dz[(e * m + rows.start) * n..(e * m + rows.end) * n];
                    let we = &wf[e * n * k + c0..(e + 1) * n * k];
                    kernels::gemm(
                        rows.len(),
                        k - c0,
                        n,
                        &mut dx[c0..],
                        k,
                        i > 0,
                        dze,
                        n,
                        1,
                        we,
                        k,
                        1,
                    );
                }
            }
        });
        let dev = Device::Cpu;
        let dx = if need_x {
            Some(Tensor::from_vec(dx, x.shape(), &dev)?)
        } else {
            None
        };
        if sink.is_some() {
            return Ok((dx, None, None));
        }
        let dw = if w.track_op() {
            Some(Tensor::from_vec(own_w, w.shape(), &dev)?)
        } else {
            None
        };
        let db = if need_b {
            Some(Tensor::from_vec(own_b, b.shape(), &dev)?)
        } else {
            None
        };
        Ok((dx, dw, db))
    }
}

/// Elementwise `tanh` with the crate's vectorised kernel, so that candle forwards and the plain-slice
/// snapshot agree to rounding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tanh;

impl CustomOp1 for Tanh {
    fn name(&self) -> &'static str {
        "fast-tanh"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let mut y = cpu_f32(s, l, "tanh x")?.to_vec();
        kernels::tanh_slice(&mut y);
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let one_minus_y2 = (1.0 - y.sqr()?)?;
        Ok(Some(grad.mul(&one_minus_y2)?))
    }
}

/// `log(2 pi) / 2`.
pub(crate) const HALF_LOG_2PI: f32 = 0.918_938_5;

/// The reparameterised squashed-Gaussian sample and its log-probability, in one pass.
///
/// Input: the policy head `[B, 2A]` = `[mean | log_std]` and standard-normal noise `eps [B, A]`. Output
/// `[B, A + 1]`: the action `a = tanh(u)`, `u = mean + exp(clamp(log_std)) eps`, then `log pi(a|s)`:
///
/// ```text
/// log pi(a|s) = sum_j [ -eps_j^2 / 2 - log_std_j - log(2 pi) / 2 ]  -  sum_j log(1 - tanh(u_j)^2)
/// log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)) = 2 (log 2 - |u| - log1p(exp(-2|u|)))
/// ```
///
/// (Haarnoja et al. 2018, appendix C; the stable form is the one in TensorFlow Probability's `Tanh`
/// bijector.) The log-density uses `u` directly rather than re-deriving it as `atanh(a)`, which RLlib does
/// and which loses precision once `|a|` rounds to 1.
///
/// Backward, with `g_a`, `g_lp` the incoming gradients: `g_u = g_a (1 - a^2) + 2 g_lp a`,
/// `d/d mean = g_u`, `d/d log_std = (g_u sigma eps - g_lp)` inside the clamp range and 0 outside.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SquashedGaussian {
    pub(crate) log_std_min: f32,
    pub(crate) log_std_max: f32,
}

#[inline(always)]
fn squash_row_body<const FMA: bool>(head: &[f32], eps: &[f32], out: &mut [f32], lo: f32, hi: f32) {
    let a_dim = eps.len();
    let (mean, log_std) = head.split_at(a_dim);
    let (actions, logp) = out.split_at_mut(a_dim);
    // Per-dimension log-density terms go to a scratch block on the stack first so that this loop has no
    // serial sum and vectorises; each block is added up with lane accumulators.
    const BLOCK: usize = 64;
    let mut terms = [0.0f32; BLOCK];
    let mut sum = 0.0;
    for j0 in (0..a_dim).step_by(BLOCK) {
        let len = BLOCK.min(a_dim - j0);
        for (i, term) in terms[..len].iter_mut().enumerate() {
            let j = j0 + i;
            let ls = log_std[j].clamp(lo, hi);
            let u = kernels::simd::madd::<FMA>(kernels::exp::<FMA>(ls), eps[j], mean[j]);
            let au = u.abs();
            let t = kernels::exp::<FMA>(-2.0 * au);
            // tanh via t loses relative precision near 0, where the shared kernel switches to a polynomial.
            let far = ((1.0 - t) / (1.0 + t)).copysign(u);
            actions[j] = if au < 0.125 { kernels::tanh::<FMA>(u) } else { far };
            let log_1m_tanh2 = 2.0 * (std::f32::consts::LN_2 - au - kernels::log1p_unit::<FMA>(t));
            *term = -0.5 * eps[j] * eps[j] - ls - HALF_LOG_2PI - log_1m_tanh2;
        }
        sum += kernels::lane_sum(&terms[..len]);
    }
    logp[0] = sum;
}

#[inline(always)]
fn squash_row_bwd_body<const FMA: bool>(
    head: &[f32],
    eps: &[f32],
    out: &[f32],
    grad: &[f32],
    dh: &mut [f32],
    lo: f32,
    hi: f32,
) {
    let a_dim = eps.len();
    let g_lp = grad[a_dim];
    let (d_mean, d_log_std) = dh.split_at_mut(a_dim);
    for j in 0..a_dim {
        let a = out[j];
        let g_u = grad[j] * (1.0 - a * a) + 2.0 * g_lp * a;
        d_mean[j] = g_u;
        let l = head[a_dim + j];
        let inside = l >= lo && l <= hi;
        let d = g_u * kernels::exp::<FMA>(l) * eps[j] - g_lp;
        d_log_std[j] = if inside { d } else { 0.0 };
    }
}

kernels::simd::dispatch! {
    /// One row of [`SquashedGaussian`]'s backward: `out` is the forward's row `[a | log pi]`, `grad` the
    /// incoming gradient of that row, `dh` receives the gradient of the head row `[mean | log_std]`.
    fn squash_row_bwd(head: &[f32], eps: &[f32], out: &[f32], grad: &[f32], dh: &mut [f32], lo: f32, hi: f32)
        => squash_row_bwd_body
}

kernels::simd::dispatch! {
    /// One row of [`SquashedGaussian`]'s forward.
    fn squash_row(head: &[f32], eps: &[f32], out: &mut [f32], lo: f32, hi: f32) => squash_row_body
}

impl CustomOp2 for SquashedGaussian {
    fn name(&self) -> &'static str {
        "squashed-gaussian"
    }

    fn cpu_fwd(
        &self,
        hs: &CpuStorage,
        hl: &Layout,
        es: &CpuStorage,
        el: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (head, eps) = (cpu_f32(hs, hl, "policy head")?, cpu_f32(es, el, "noise")?);
        let (rows, a_dim) = el.shape().dims2()?;
        if hl.dims() != [rows, 2 * a_dim] {
            bail!(
                "squashed-gaussian: head {:?} does not match noise {:?}",
                hl.dims(),
                el.dims()
            );
        }
        let mut out = vec![0.0f32; rows * (a_dim + 1)];
        for ((h, e), o) in head
            .chunks_exact(2 * a_dim)
            .zip(eps.chunks_exact(a_dim))
            .zip(out.chunks_exact_mut(a_dim + 1))
        {
            squash_row(h, e, o, self.log_std_min, self.log_std_max);
        }
        Ok((CpuStorage::F32(out), Shape::from((rows, a_dim + 1))))
    }

    fn bwd(
        &self,
        head: &Tensor,
        eps: &Tensor,
        out: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        if !head.track_op() {
            return Ok((None, None));
        }
        let (rows, a_dim) = eps.dims2()?;
        let (hc, ec, oc, gc) = (
            head.contiguous()?,
            eps.contiguous()?,
            out.contiguous()?,
            grad.contiguous()?,
        );
        let ((hs, hl), (es, el)) = (hc.storage_and_layout(), ec.storage_and_layout());
        let ((os, ol), (gs, gl)) = (oc.storage_and_layout(), gc.storage_and_layout());
        let (h, e) = (storage_f32(&hs, hl, "head")?, storage_f32(&es, el, "noise")?);
        let (o, g) = (storage_f32(&os, ol, "sample")?, storage_f32(&gs, gl, "grad")?);
        let mut dh = vec![0.0f32; rows * 2 * a_dim];
        for r in 0..rows {
            squash_row_bwd(
                &h[r * 2 * a_dim..(r + 1) * 2 * a_dim],
                &e[r * a_dim..(r + 1) * a_dim],
                &o[r * (a_dim + 1)..(r + 1) * (a_dim + 1)],
                &g[r * (a_dim + 1)..(r + 1) * (a_dim + 1)],
                &mut dh[r * 2 * a_dim..(r + 1) * 2 * a_dim],
                self.log_std_min,
                self.log_std_max,
            );
        }
        Ok((Some(Tensor::from_vec(dh, head.shape(), &Device::Cpu)?), None))
    }
}

#[cfg(test)]
mod tests {
    //! The fused ops against the same computation written with stock candle ops, whose autograd is the
    //! reference for values and gradients.
    use super::*;
    use candle_core::{D, Var};

    fn rand_var(shape: &[usize], seed: u64) -> Var {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|i| (((i as u64 * 7919 + seed * 104_729) % 1000) as f32 / 500.0) - 1.0)
            .collect();
        Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap()).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// Reference: `tanh(x @ W^T + b)` with candle's matmul, per member for an ensemble.
    fn reference_dense(x: &Tensor, w: &Tensor, b: &Tensor, act: Act) -> Tensor {
        let z = if w.rank() == 2 {
            x.matmul(&w.t().unwrap()).unwrap().broadcast_add(b).unwrap()
        } else {
            let e = w.dim(0).unwrap();
            let xe = if x.rank() == 2 {
                x.unsqueeze(0).unwrap().repeat((e, 1, 1)).unwrap()
            } else {
                x.clone()
            };
            xe.matmul(&w.transpose(1, 2).unwrap())
                .unwrap()
                .broadcast_add(&b.unsqueeze(1).unwrap())
                .unwrap()
        };
        if act == Act::Tanh { z.tanh().unwrap() } else { z }
    }

    #[test]
    fn dense_matches_candle_values_and_gradients() {
        // (x shape, w shape, act): single layer, ensemble with shared input, ensemble with per-member input.
        let cases: [(&[usize], &[usize], Act); 3] = [
            (&[40, 7], &[5, 7], Act::Tanh),
            (&[40, 7], &[2, 5, 7], Act::Tanh),
            (&[2, 40, 7], &[2, 5, 7], Act::Identity),
        ];
        for (xs, ws, act) in cases {
            let x = rand_var(xs, 1);
            let w = rand_var(ws, 2);
            let b = rand_var(&ws[..ws.len() - 1], 3);
            let y = x
                .as_tensor()
                .apply_op3(w.as_tensor(), b.as_tensor(), Dense::new(act))
                .unwrap();
            let y_ref = reference_dense(x.as_tensor(), w.as_tensor(), b.as_tensor(), act);
            assert!(max_diff(&y, &y_ref) < 1e-5, "values differ for {xs:?} {ws:?}");
            let r = rand_var(y.dims(), 4);
            let g = (&y * r.as_tensor())
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let g_ref = (&y_ref * r.as_tensor())
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for (name, v) in [("x", &x), ("w", &w), ("b", &b)] {
                let (got, want) = (g.get(v.as_tensor()).unwrap(), g_ref.get(v.as_tensor()).unwrap());
                assert!(max_diff(got, want) < 1e-4, "d{name} differs for {xs:?} {ws:?}");
            }
        }
    }

    #[test]
    fn dense_skips_untracked_gradients_and_constant_columns() {
        let x = rand_var(&[40, 7], 5);
        let w = rand_var(&[2, 5, 7], 6);
        let b = rand_var(&[2, 5], 7);
        let op = Dense {
            act: Act::Tanh,
            x_grad_from: 3,
            sink: None,
        };
        let y = x
            .as_tensor()
            .apply_op3(&w.as_tensor().detach(), &b.as_tensor().detach(), op)
            .unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        assert!(g.get(w.as_tensor()).is_none() && g.get(b.as_tensor()).is_none());
        let dx = g.get(x.as_tensor()).unwrap();
        let y_ref = reference_dense(x.as_tensor(), w.as_tensor(), b.as_tensor(), Act::Tanh);
        let g_ref = y_ref.sum_all().unwrap().backward().unwrap();
        let dx_ref = g_ref.get(x.as_tensor()).unwrap();
        assert_eq!(
            dx.narrow(1, 0, 3)
                .unwrap()
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap(),
            0.0
        );
        assert!(max_diff(&dx.narrow(1, 3, 4).unwrap(), &dx_ref.narrow(1, 3, 4).unwrap()) < 1e-4);
    }

    /// The squashed-Gaussian op against stock candle ops computing
    /// `a = tanh(mu + exp(clamp(l)) eps)`, `log pi = sum(-eps^2/2 - clamp(l) - log(2 pi)/2 - log(1 - a^2))`,
    /// values and gradients (including zero gradient outside the clamp range).
    #[test]
    fn squashed_gaussian_matches_candle_values_and_gradients() {
        let (rows, a_dim) = (6, 9);
        let head = rand_var(&[rows, 2 * a_dim], 8);
        // Spread log_std beyond [-5, 2] on some entries to exercise the clamp.
        let head = Var::from_tensor(&(head.as_tensor() * 3.0).unwrap()).unwrap();
        let eps = rand_var(&[rows, a_dim], 9).as_tensor().detach();
        let op = SquashedGaussian {
            log_std_min: -2.0,
            log_std_max: 1.0,
        };
        let out = head.as_tensor().apply_op2(&eps, op).unwrap();

        let mean = head.as_tensor().narrow(1, 0, a_dim).unwrap();
        let ls = head
            .as_tensor()
            .narrow(1, a_dim, a_dim)
            .unwrap()
            .clamp(-2.0f32, 1.0f32)
            .unwrap();
        let u = (&mean + (ls.exp().unwrap() * &eps).unwrap()).unwrap();
        let a = u.tanh().unwrap();
        let log_1m = (1.0 - a.sqr().unwrap()).unwrap().log().unwrap();
        let normal = ((eps.sqr().unwrap() * -0.5).unwrap() - &ls)
            .unwrap()
            .affine(1.0, -f64::from(HALF_LOG_2PI))
            .unwrap();
        let logp = (normal - log_1m).unwrap().sum(D::Minus1).unwrap();
        let out_ref = Tensor::cat(&[a, logp.unsqueeze(1).unwrap()], 1).unwrap();
        assert!(
            max_diff(&out, &out_ref) < 2e-4,
            "values differ by {}",
            max_diff(&out, &out_ref)
        );

        let r = rand_var(&[rows, a_dim + 1], 10);
        let g = (&out * r.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g_ref = (&out_ref * r.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let (got, want) = (
            g.get(head.as_tensor()).unwrap(),
            g_ref.get(head.as_tensor()).unwrap(),
        );
        assert!(
            max_diff(got, want) < 1e-3,
            "gradients differ by {}",
            max_diff(got, want)
        );
    }
}
