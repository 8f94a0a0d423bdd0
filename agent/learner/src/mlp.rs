//! The forward and backward passes of the learners' tanh MLPs written out over [`kernels::gemm`], on plain
//! slices: what [`crate::SacN::update`] runs instead of candle's autograd.
//!
//! Why by hand: the networks are fixed (dense layers, `tanh` between them, an identity head) and so is the
//! update, so the backward is a handful of products per layer. Written out, an update allocates nothing
//! (every activation and gradient lives in a [`Workspace`] reused from one update to the next), computes
//! only the gradients the losses need, and runs each ensemble member's whole chain on its own thread with
//! no synchronisation between layers. candle still owns the variables (checkpoints, snapshots, CQL-N's
//! update); `sac_n.rs` tests one update of this path against the same losses in plain candle ops.

use candle_core::{Layout, Storage, Tensor};

use crate::kernels;

/// One dense layer `y = act(x W^T + b)`, `W` row-major `[n, k]`, borrowed from its candle variable.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layer<'a> {
    pub(crate) w: &'a [f32],
    pub(crate) b: &'a [f32],
    pub(crate) n: usize,
    pub(crate) k: usize,
    pub(crate) tanh: bool,
}

/// Read guards over the storages of a list of tensors, so their values can be borrowed as slices while the
/// update computes (the optimizer's in-place steps take the write locks afterwards).
pub(crate) struct Frozen<'t> {
    guards: Vec<(candle_core::StorageRef<'t>, &'t Layout)>,
}

impl std::fmt::Debug for Frozen<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frozen")
            .field("tensors", &self.guards.len())
            .finish()
    }
}

impl<'t> Frozen<'t> {
    pub(crate) fn new(tensors: impl IntoIterator<Item = &'t Tensor>) -> Self {
        Self {
            guards: tensors.into_iter().map(Tensor::storage_and_layout).collect(),
        }
    }

    /// The f32 values of the `i`-th tensor.
    pub(crate) fn slice(&self, i: usize) -> candle_core::Result<&[f32]> {
        let (storage, layout) = &self.guards[i];
        let Storage::Cpu(cpu) = &**storage else {
            candle_core::bail!("mlp: only the CPU device is supported")
        };
        let Some((a, b)) = layout.contiguous_offsets() else {
            candle_core::bail!("mlp: a variable is not contiguous")
        };
        Ok(&cpu.as_slice::<f32>()?[a..b])
    }
}

/// `dst = act(x W^T + b)` for `m` rows; `x` has row stride `x_rs`. With `par`, the rows are split in two
/// halves run by `rayon::join` (the policy, whose batch is one chain); without, it runs on this thread (an
/// ensemble member, whose sibling runs on the other thread).
#[allow(clippy::too_many_arguments)] // one gemm call's sizes, plus the layer and the split flag
fn dense(par: bool, m: usize, layer: &Layer<'_>, x: &[f32], x_rs: usize, dst: &mut [f32]) {
    let (n, k) = (layer.n, layer.k);
    let run = |rows: std::ops::Range<usize>, out: &mut [f32]| {
        kernels::gemm(
            rows.len(),
            n,
            k,
            out,
            n,
            false,
            &x[rows.start * x_rs..],
            x_rs,
            1,
            layer.w,
            1,
            k,
        );
        let started = kernels::profile::start();
        kernels::bias_act_rows(out, layer.b, layer.tanh);
        kernels::profile::record_activation(started);
    };
    kernels::split_rows(par, m, &mut dst[..m * n], n, run);
}

/// Forward of a chain of layers on `m` rows of `x` (row stride `x_rs`), keeping every layer's output in
/// `acts[l]` (`m × n_l`) for the backward.
pub(crate) fn forward(
    par: bool,
    layers: &[Layer<'_>],
    m: usize,
    x: &[f32],
    x_rs: usize,
    acts: &mut [Vec<f32>],
) {
    for (l, layer) in layers.iter().enumerate() {
        let (done, rest) = acts.split_at_mut(l);
        let (input, in_rs) = if l == 0 {
            (x, x_rs)
        } else {
            (done[l - 1].as_slice(), layers[l - 1].n)
        };
        dense(par, m, layer, input, in_rs, &mut rest[0]);
    }
}

/// Where the backward of [`backward`] writes the gradient of the chain's input, if wanted: `dx[:, c0..]`
/// (row stride `dx_rs`) receives `dL/dx` of the input columns from `c0` on, added to what is there when
/// `accumulate` (the members of an ensemble sharing one input); columns before `c0` are constants.
#[derive(Debug)]
pub(crate) struct InputGrad<'a> {
    pub(crate) dx: &'a mut [f32],
    pub(crate) dx_rs: usize,
    pub(crate) c0: usize,
    pub(crate) accumulate: bool,
}

/// The gradients of each layer's weights and of its biases, written by [`backward`].
pub(crate) type WeightGrads<'a, 'b> = (&'a mut [&'b mut [f32]], &'a mut [&'b mut [f32]]);

/// Backward of a chain whose forward stored `acts`, given `dz = dL/dy` of the last layer in `dz` (`m ×
/// n_last`, overwritten). Writes `dW_l` and `db_l` (overwriting) when `grads` is given, and the input
/// gradient when `input` is given; `scratch` is a buffer of at least `m × max(width)` floats.
#[allow(clippy::too_many_arguments)] // the chain, its forward state and the three optional outputs
pub(crate) fn backward(
    par: bool,
    layers: &[Layer<'_>],
    m: usize,
    x: &[f32],
    x_rs: usize,
    acts: &[Vec<f32>],
    dz: &mut Vec<f32>,
    scratch: &mut Vec<f32>,
    mut grads: Option<WeightGrads<'_, '_>>,
    mut input: Option<InputGrad<'_>>,
) {
    for l in (0..layers.len()).rev() {
        let layer = &layers[l];
        let (n, k) = (layer.n, layer.k);
        let dzl = &mut dz[..m * n];
        if layer.tanh {
            // y = tanh(z): dz = dy (1 - y^2).
            let started = kernels::profile::start();
            for (g, y) in dzl.iter_mut().zip(&acts[l][..m * n]) {
                *g *= 1.0 - y * y;
            }
            kernels::profile::record_activation(started);
        }
        let (input_l, in_rs) = if l == 0 {
            (x, x_rs)
        } else {
            (acts[l - 1].as_slice(), layers[l - 1].n)
        };
        if let Some((dw, db)) = grads.as_mut() {
            // dW [n, k] = dz^T [n, m] · x [m, k]; db = column sums of dz.
            kernels::split_rows(par, n, dw[l], k, |rows, out| {
                // Row r of dz^T is column r of dz, which starts at dz[r].
                let dz_t = &dzl[rows.start..];
                kernels::gemm(rows.len(), k, m, out, k, false, dz_t, 1, n, input_l, in_rs, 1);
            });
            let db = &mut *db[l];
            db.fill(0.0);
            for row in dzl.chunks_exact(n) {
                for (acc, g) in db.iter_mut().zip(row) {
                    *acc += g;
                }
            }
        }
        if l > 0 {
            // dx [m, k] = dz [m, n] · W [n, k], the next (earlier) layer's dy.
            kernels::split_rows(par, m, &mut scratch[..m * k], k, |rows, out| {
                let dz_rows = &dzl[rows.start * n..];
                kernels::gemm(rows.len(), k, n, out, k, false, dz_rows, n, 1, layer.w, k, 1);
            });
            std::mem::swap(dz, scratch);
        } else if let Some(g) = input.as_mut() {
            let c0 = g.c0.min(k);
            kernels::gemm(
                m,
                k - c0,
                n,
                &mut g.dx[c0..],
                g.dx_rs,
                g.accumulate,
                dzl,
                n,
                1,
                &layer.w[c0..],
                k,
                1,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn values(n: usize, seed: u64) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u64 * 7919 + seed * 104_729) % 1000) as f32 / 500.0) - 1.0)
            .collect()
    }

    /// A 3-layer chain (tanh, tanh, identity) against candle's matmul, tanh and autograd: outputs, every
    /// weight and bias gradient and the gradient of the input columns from 2 on, split and unsplit.
    #[test]
    fn chain_matches_candle_autograd() {
        let (m, sizes) = (40, [(6, 5), (4, 6), (3, 4)]);
        let dev = &Device::Cpu;
        let ws: Vec<Var> = sizes
            .iter()
            .enumerate()
            .map(|(i, &(n, k))| Var::from_vec(values(n * k, i as u64), (n, k), dev).unwrap())
            .collect();
        let bs: Vec<Var> = sizes
            .iter()
            .enumerate()
            .map(|(i, &(n, _))| Var::from_vec(values(n, 10 + i as u64), n, dev).unwrap())
            .collect();
        let x = Var::from_vec(values(m * 5, 20), (m, 5), dev).unwrap();
        let r = Tensor::from_vec(values(m * 3, 21), (m, 3), dev).unwrap();
        let mut h = x.as_tensor().clone();
        for (i, (w, b)) in ws.iter().zip(&bs).enumerate() {
            h = h
                .matmul(&w.as_tensor().t().unwrap())
                .unwrap()
                .broadcast_add(b.as_tensor())
                .unwrap();
            if i < 2 {
                h = h.tanh().unwrap();
            }
        }
        let grads = (&h * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();

        for par in [false, true] {
            let (wv, bv): (Vec<Vec<f32>>, Vec<Vec<f32>>) = ws
                .iter()
                .zip(&bs)
                .map(|(w, b)| (flat(w.as_tensor()), flat(b.as_tensor())))
                .unzip();
            let layers: Vec<Layer<'_>> = sizes
                .iter()
                .enumerate()
                .map(|(i, &(n, k))| Layer {
                    w: &wv[i],
                    b: &bv[i],
                    n,
                    k,
                    tanh: i < 2,
                })
                .collect();
            let xv = flat(x.as_tensor());
            let mut acts: Vec<Vec<f32>> = sizes.iter().map(|&(n, _)| vec![0.0; m * n]).collect();
            forward(par, &layers, m, &xv, 5, &mut acts);
            for (g, w) in acts[2].iter().zip(flat(&h)) {
                assert!((g - w).abs() < 1e-5, "forward {g} vs {w}");
            }
            let mut dz = flat(&r);
            dz.resize(m * 6, 0.0);
            let mut scratch = vec![0.0; m * 6];
            let mut dw: Vec<Vec<f32>> = wv.iter().map(|w| vec![0.0; w.len()]).collect();
            let mut db: Vec<Vec<f32>> = bv.iter().map(|b| vec![7.0; b.len()]).collect();
            let mut dx = vec![0.0; m * 5];
            {
                let mut dw_refs: Vec<&mut [f32]> = dw.iter_mut().map(|v| v.as_mut_slice()).collect();
                let mut db_refs: Vec<&mut [f32]> = db.iter_mut().map(|v| v.as_mut_slice()).collect();
                let input = InputGrad {
                    dx: &mut dx,
                    dx_rs: 5,
                    c0: 2,
                    accumulate: false,
                };
                backward(
                    par,
                    &layers,
                    m,
                    &xv,
                    5,
                    &acts,
                    &mut dz,
                    &mut scratch,
                    Some((&mut dw_refs, &mut db_refs)),
                    Some(input),
                );
            }
            for i in 0..3 {
                for (g, w) in dw[i].iter().zip(flat(grads.get(ws[i].as_tensor()).unwrap())) {
                    assert!((g - w).abs() < 1e-4, "dW{i} {g} vs {w}");
                }
                for (g, w) in db[i].iter().zip(flat(grads.get(bs[i].as_tensor()).unwrap())) {
                    assert!((g - w).abs() < 1e-4, "db{i} {g} vs {w}");
                }
            }
            let dx_ref = flat(grads.get(x.as_tensor()).unwrap());
            for row in 0..m {
                for c in 0..5 {
                    let (g, w) = (dx[row * 5 + c], if c < 2 { 0.0 } else { dx_ref[row * 5 + c] });
                    assert!((g - w).abs() < 1e-4, "dx[{row},{c}] {g} vs {w}");
                }
            }
        }
    }
}
