//! Plain-slice numeric kernels shared by the fused candle ops (`ops.rs`) and the policy snapshot
//! (`snapshot.rs`): a checked wrapper around the `gemm` crate, vectorisable `exp`/`tanh`/`log1p`, and a dot
//! product.
//!
//! Why not candle's own ops: without MKL, candle's CPU `tanh`, `exp` and `log` are scalar libm calls, which
//! were about a fifth of a stock-candle SAC-N update (`candle-performance.md`). The loops here are written so
//! LLVM vectorises them; [`simd`] compiles each one twice, for AVX2+FMA and for the baseline target, and picks
//! at run time, so the crate needs no `-C target-cpu` flag.

/// `dst = lhs · rhs` (or `dst += lhs · rhs` when `accumulate`), all row-major with explicit strides.
///
/// `dst` is `m × n` with row stride `dst_rs` (column stride 1); `lhs` is `m × k` with strides
/// (`lhs_rs`, `lhs_cs`); `rhs` is `k × n` with strides (`rhs_rs`, `rhs_cs`). Transposes are expressed by
/// swapping strides. Runs on the calling thread: callers split work across threads themselves, by ensemble
/// member or by rows, which the measurements showed to scale better than gemm's own split at these sizes.
///
/// # Panics
///
/// If a slice is too short for the given sizes and strides (a bug in the caller, never input-dependent).
#[allow(clippy::too_many_arguments)] // the BLAS signature: sizes and strides of three matrices
pub(crate) fn gemm(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    lhs: &[f32],
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: &[f32],
    rhs_rs: usize,
    rhs_cs: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst[r * dst_rs..r * dst_rs + n].fill(0.0);
            }
        }
        return;
    }
    assert!((m - 1) * dst_rs + n <= dst.len(), "gemm: dst too short");
    assert!(
        (m - 1) * lhs_rs + (k - 1) * lhs_cs < lhs.len(),
        "gemm: lhs too short"
    );
    assert!(
        (k - 1) * rhs_rs + (n - 1) * rhs_cs < rhs.len(),
        "gemm: rhs too short"
    );
    let started = profile::start();
    // SAFETY: the asserts above keep every index gemm touches inside the three slices; `dst` is borrowed
    // mutably, so it cannot alias `lhs` or `rhs`; f32 is a type gemm supports, so it does not panic.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    profile::record_gemm(started, (m, n, k));
}

/// Optional accounting of where an update's time goes, for `bench::profile`: per `gemm` shape the calls and
/// the time spent in them (summed over threads), and the time in the fused bias + activation. Off unless
/// [`profile::enable`] was called, and then one relaxed atomic read per call when off.
pub(crate) mod profile {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::Instant;

    static ON: AtomicBool = AtomicBool::new(false);
    static ACTIVATION_NS: AtomicU64 = AtomicU64::new(0);
    /// One product's `((m, n, k), calls, total nanoseconds)`.
    pub(crate) type GemmTime = ((usize, usize, usize), u64, u64);

    /// Each product seen.
    static GEMMS: Mutex<Vec<GemmTime>> = Mutex::new(Vec::new());

    /// Starts (or stops) recording, clearing what was recorded.
    pub(crate) fn enable(on: bool) {
        ON.store(on, Ordering::Relaxed);
        ACTIVATION_NS.store(0, Ordering::Relaxed);
        GEMMS.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    #[inline]
    pub(crate) fn start() -> Option<Instant> {
        ON.load(Ordering::Relaxed).then(Instant::now)
    }

    pub(crate) fn record_gemm(started: Option<Instant>, shape: (usize, usize, usize)) {
        let Some(t) = started else { return };
        let ns = t.elapsed().as_nanos() as u64;
        let mut gemms = GEMMS.lock().unwrap_or_else(|e| e.into_inner());
        match gemms.iter_mut().find(|(s, _, _)| *s == shape) {
            Some(entry) => {
                entry.1 += 1;
                entry.2 += ns;
            }
            None => gemms.push((shape, 1, ns)),
        }
    }

    pub(crate) fn record_activation(started: Option<Instant>) {
        if let Some(t) = started {
            ACTIVATION_NS.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
    }

    /// What was recorded: the products `((m, n, k), calls, ns)` and the activation nanoseconds.
    pub(crate) fn take() -> (Vec<GemmTime>, u64) {
        let gemms = std::mem::take(&mut *GEMMS.lock().unwrap_or_else(|e| e.into_inner()));
        (gemms, ACTIVATION_NS.swap(0, Ordering::Relaxed))
    }
}

/// Single-thread f32 matrix-product throughput in GFLOP/s at the critic's first-layer shape
/// (`[128, 393] x [393, 256]`), the ceiling every update is measured against.
pub(crate) fn gemm_gflops() -> f64 {
    let (m, n, k, reps) = (128, 256, 393, 100);
    let a = vec![0.5f32; m * k];
    let b = vec![0.25f32; n * k];
    let mut c = vec![0.0f32; m * n];
    gemm(m, n, k, &mut c, n, false, &a, k, 1, &b, 1, k);
    let start = std::time::Instant::now();
    for _ in 0..reps {
        gemm(m, n, k, &mut c, n, false, &a, k, 1, &b, 1, k);
    }
    std::hint::black_box(&c);
    2.0 * (m * n * k * reps) as f64 / start.elapsed().as_secs_f64().max(f64::MIN_POSITIVE) / 1e9
}

/// Runs `f(rows, dst_rows)` over the `m` rows of `dst` (row stride `dst_rs`): with `par`, at least 32 rows
/// and more than one thread in the current rayon pool, as two halves under `rayon::join` (`0..m/2` gets
/// `dst`'s first `m/2` rows, `m/2..m` the rest); otherwise once, `0..m` with all of `dst`, on this thread.
pub(crate) fn split_rows(
    par: bool,
    m: usize,
    dst: &mut [f32],
    dst_rs: usize,
    f: impl Fn(std::ops::Range<usize>, &mut [f32]) + Sync,
) {
    if par && m >= 32 && rayon::current_num_threads() > 1 {
        let h = m / 2;
        let (lo, hi) = dst.split_at_mut(h * dst_rs);
        rayon::join(|| f(0..h, lo), || f(h..m, hi));
    } else {
        f(0..m, dst);
    }
}

/// Runs `f` on every task, in parallel on the current rayon pool when it has more than one thread.
pub(crate) fn run_tasks<T: Send>(tasks: Vec<T>, f: impl Fn(T) + Sync + Send) {
    use rayon::prelude::*;
    if tasks.len() > 1 && rayon::current_num_threads() > 1 {
        tasks.into_par_iter().with_max_len(1).for_each(f);
    } else {
        tasks.into_iter().for_each(f);
    }
}

/// Compiles a slice loop twice (AVX2+FMA and baseline) and dispatches at run time.
pub(crate) mod simd {
    use std::sync::OnceLock;

    /// True when the CPU has AVX2 and FMA; detected once. `SAS_LEARNER_KERNELS=baseline` in the environment
    /// forces the baseline loops (the tests run the update on both paths that way; the `gemm` crate keeps
    /// its own dispatch).
    pub(crate) fn has_avx2_fma() -> bool {
        static DETECTED: OnceLock<bool> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            if std::env::var_os("SAS_LEARNER_KERNELS").is_some_and(|v| v == "baseline") {
                return false;
            }
            #[cfg(target_arch = "x86_64")]
            {
                std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                false
            }
        })
    }

    /// `a * b + c`, fused when the instantiation is compiled with FMA (plain otherwise, because
    /// `f32::mul_add` without hardware FMA is a slow libm call).
    #[inline(always)]
    pub(crate) fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
        if FMA { a.mul_add(b, c) } else { a * b + c }
    }

    /// Defines `pub(crate) fn $name($args) -> $ret` that runs `$body::<true>` under AVX2+FMA when
    /// available and `$body::<false>` otherwise.
    macro_rules! dispatch {
        ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? => $body:ident) => {
            $(#[$m])*
            pub(crate) fn $name($($arg: $ty),*) $(-> $ret)? {
                #[cfg(target_arch = "x86_64")]
                {
                    #[target_feature(enable = "avx2,fma")]
                    fn fast($($arg: $ty),*) $(-> $ret)? { $body::<true>($($arg),*) }
                    if $crate::kernels::simd::has_avx2_fma() {
                        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                        return unsafe { fast($($arg),*) };
                    }
                }
                $body::<false>($($arg),*)
            }
        };
    }
    pub(crate) use dispatch;
}

use simd::{dispatch, madd};

const LOG2_E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;

/// `exp(y)` for `y` in `[-87, 88]` (clamped), relative error below 2e-7.
///
/// Range reduction `y = n ln 2 + r`, `|r| <= ln 2 / 2`, a degree-7 Taylor polynomial for `e^r`, and `2^n`
/// written into the exponent bits. Branch-free, so it vectorises.
#[inline(always)]
pub(crate) fn exp<const FMA: bool>(y: f32) -> f32 {
    // 1.5 * 2^23: adding and subtracting it rounds to the nearest integer without SSE4.1 `round`.
    const ROUND: f32 = 12_582_912.0;
    let y = y.clamp(-87.0, 88.0);
    let shifted = madd::<FMA>(y, LOG2_E, ROUND);
    let n = shifted - ROUND;
    // The integer n sits in the low mantissa bits of `shifted`; reading it with integer ops avoids a
    // saturating float-to-int cast, which does not vectorise.
    let n_int = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let r = madd::<FMA>(-n, LN2_LO, madd::<FMA>(-n, LN2_HI, y));
    let mut p = 1.0 / 5040.0;
    p = madd::<FMA>(p, r, 1.0 / 720.0);
    p = madd::<FMA>(p, r, 1.0 / 120.0);
    p = madd::<FMA>(p, r, 1.0 / 24.0);
    p = madd::<FMA>(p, r, 1.0 / 6.0);
    p = madd::<FMA>(p, r, 0.5);
    p = madd::<FMA>(p, r, 1.0);
    p = madd::<FMA>(p, r, 1.0);
    let scale = f32::from_bits((n_int.wrapping_add(127) as u32) << 23);
    p * scale
}

/// `log(1 + t)` for `t` in `[0, 1]`, absolute error below 1e-7.
///
/// `x = 1 + t` is brought into `[1/sqrt 2, sqrt 2]` by halving, then `log x = 2 atanh(s)`,
/// `s = (x - 1)/(x + 1)`, `|s| <= 0.172`, summed to `s^7`.
#[inline(always)]
pub(crate) fn log1p_unit<const FMA: bool>(t: f32) -> f32 {
    let x = 1.0 + t;
    let big = x > std::f32::consts::SQRT_2;
    let x = if big { 0.5 * x } else { x };
    let offset = if big { std::f32::consts::LN_2 } else { 0.0 };
    let s = (x - 1.0) / (x + 1.0);
    let s2 = s * s;
    let mut p = 1.0 / 7.0;
    p = madd::<FMA>(p, s2, 1.0 / 5.0);
    p = madd::<FMA>(p, s2, 1.0 / 3.0);
    p = madd::<FMA>(p, s2, 1.0);
    madd::<FMA>(2.0 * s, p, offset)
}

/// `tanh(x)` with absolute error below 2e-7: `sign(x) (1 - t)/(1 + t)`, `t = exp(-2|x|)`, and a Taylor
/// polynomial near 0 where that quotient loses relative precision.
#[inline(always)]
pub(crate) fn tanh<const FMA: bool>(x: f32) -> f32 {
    let ax = x.abs();
    let t = exp::<FMA>(-2.0 * ax.min(9.0));
    let far = (1.0 - t) / (1.0 + t);
    let x2 = x * x;
    let mut p = -17.0 / 315.0;
    p = madd::<FMA>(p, x2, 2.0 / 15.0);
    p = madd::<FMA>(p, x2, -1.0 / 3.0);
    let near = madd::<FMA>(p * x2, ax, ax);
    let y = if ax < 0.125 { near } else { far };
    y.copysign(x)
}

#[inline(always)]
fn tanh_slice_body<const FMA: bool>(xs: &mut [f32]) {
    for x in xs {
        *x = tanh::<FMA>(*x);
    }
}

#[inline(always)]
fn bias_tanh_rows_body<const FMA: bool>(ys: &mut [f32], bias: &[f32], tanh_after: bool) {
    let n = bias.len();
    for row in ys.chunks_exact_mut(n) {
        if tanh_after {
            for (y, &b) in row.iter_mut().zip(bias) {
                *y = tanh::<FMA>(*y + b);
            }
        } else {
            for (y, &b) in row.iter_mut().zip(bias) {
                *y += b;
            }
        }
    }
}

/// Sum of a slice with independent lane accumulators (a plain `iter().sum()` is a serial chain that LLVM
/// may not reorder, so it does not vectorise).
#[inline(always)]
pub(crate) fn lane_sum(xs: &[f32]) -> f32 {
    const L: usize = 16;
    let mut acc = [0.0f32; L];
    let (chunks, rest) = xs.as_chunks::<L>();
    for c in chunks {
        for i in 0..L {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

#[inline(always)]
fn dot_body<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 16;
    let mut acc = [0.0f32; L];
    let ((ac, ar), (bc, br)) = (a.as_chunks::<L>(), b.as_chunks::<L>());
    for (x, y) in ac.iter().zip(bc) {
        for i in 0..L {
            acc[i] = madd::<FMA>(x[i], y[i], acc[i]);
        }
    }
    let mut tail = 0.0;
    for (x, y) in ar.iter().zip(br) {
        tail = madd::<FMA>(*x, *y, tail);
    }
    acc.iter().sum::<f32>() + tail
}

/// Four dot products against the same `x` at once: eight independent FMA chains, enough to hide the FMA
/// latency, and each load of `x` is used four times.
#[inline(always)]
fn dot4_body<const FMA: bool>(rows: [&[f32]; 4], x: &[f32]) -> [f32; 4] {
    const L: usize = 16;
    let (mut a0, mut a1, mut a2, mut a3) = ([0.0f32; L], [0.0f32; L], [0.0f32; L], [0.0f32; L]);
    let (xc, xr) = x.as_chunks::<L>();
    let [(r0, t0), (r1, t1), (r2, t2), (r3, t3)] = rows.map(|r| r.as_chunks::<L>());
    for ((((xv, w0), w1), w2), w3) in xc.iter().zip(r0).zip(r1).zip(r2).zip(r3) {
        for i in 0..L {
            a0[i] = madd::<FMA>(w0[i], xv[i], a0[i]);
            a1[i] = madd::<FMA>(w1[i], xv[i], a1[i]);
            a2[i] = madd::<FMA>(w2[i], xv[i], a2[i]);
            a3[i] = madd::<FMA>(w3[i], xv[i], a3[i]);
        }
    }
    let tail = |t: &[f32]| -> f32 { t.iter().zip(xr).map(|(w, x)| w * x).sum() };
    [
        a0.iter().sum::<f32>() + tail(t0),
        a1.iter().sum::<f32>() + tail(t1),
        a2.iter().sum::<f32>() + tail(t2),
        a3.iter().sum::<f32>() + tail(t3),
    ]
}

#[inline(always)]
fn matvec_body<const FMA: bool>(w: &[f32], x: &[f32], bias: &[f32], y: &mut [f32], tanh_after: bool) {
    let k = x.len();
    let n = y.len();
    let mut i = 0;
    while i + 4 <= n {
        let rows = [0, 1, 2, 3].map(|r| &w[(i + r) * k..(i + r + 1) * k]);
        let z = dot4_body::<FMA>(rows, x);
        for r in 0..4 {
            y[i + r] = z[r] + bias[i + r];
        }
        i += 4;
    }
    for r in i..n {
        y[r] = dot_body::<FMA>(&w[r * k..(r + 1) * k], x) + bias[r];
    }
    if tanh_after {
        for v in y.iter_mut() {
            *v = tanh::<FMA>(*v);
        }
    }
}

dispatch! {
    /// Applies `tanh` to every element in place.
    fn tanh_slice(xs: &mut [f32]) => tanh_slice_body
}
dispatch! {
    /// For each row of `ys` (rows of `bias.len()`): `y = y + b`, then `tanh` when `tanh_after`.
    fn bias_act_rows(ys: &mut [f32], bias: &[f32], tanh_after: bool) => bias_tanh_rows_body
}
dispatch! {
    /// `y = W x + b` (then `tanh` when `tanh_after`), `W` row-major `[y.len(), x.len()]`.
    fn matvec(w: &[f32], x: &[f32], bias: &[f32], y: &mut [f32], tanh_after: bool) => matvec_body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_tanh_log1p_match_libm() {
        let mut worst = [0.0f64; 3];
        for i in -20_000i32..=20_000 {
            let x = i as f32 * 1e-3;
            let e = exp::<false>(x) as f64;
            worst[0] = worst[0].max(((e - (x as f64).exp()) / (x as f64).exp()).abs());
            worst[1] = worst[1].max((tanh::<false>(x) as f64 - (x as f64).tanh()).abs());
            let t = (i.unsigned_abs() as f32) * 5e-5;
            worst[2] = worst[2].max((log1p_unit::<false>(t) as f64 - (t as f64).ln_1p()).abs());
        }
        assert!(worst[0] < 3e-7, "exp relative error {}", worst[0]);
        assert!(worst[1] < 3e-7, "tanh absolute error {}", worst[1]);
        assert!(worst[2] < 2e-7, "log1p absolute error {}", worst[2]);
        assert_eq!(tanh::<false>(1e-30), 1e-30);
        assert_eq!(tanh::<false>(-50.0), -1.0);
    }

    #[test]
    fn dispatched_paths_agree() {
        let xs: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.013).collect();
        let mut fast = xs.clone();
        tanh_slice(&mut fast);
        for (x, y) in xs.iter().zip(&fast) {
            assert!((tanh::<false>(*x) - y).abs() < 1e-6);
        }
    }

    #[test]
    fn gemm_matches_naive_with_transposes() {
        let (m, n, k) = (3, 4, 5);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32 * 0.5 - 2.0).collect();
        let b: Vec<f32> = (0..n * k).map(|i| (i as f32).sin()).collect(); // b is [n, k]: use b^T
        let mut c = vec![1.0; m * n];
        gemm(m, n, k, &mut c, n, true, &a, k, 1, &b, 1, k);
        for i in 0..m {
            for j in 0..n {
                let want: f32 = 1.0 + (0..k).map(|p| a[i * k + p] * b[j * k + p]).sum::<f32>();
                assert!((c[i * n + j] - want).abs() < 1e-5);
            }
        }
    }
}
