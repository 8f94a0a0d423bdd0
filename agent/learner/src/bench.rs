//! Speed of the learner at the prototype's sizes: SAC-N updates per second (O = 256, A = 137, E = 2,
//! B = 128, 256-256 tanh networks) and the latency of one policy forward for serving.
//!
//! The protocol follows the team's torch baseline (`torch-baseline.md`): updates on 16 pre-generated random
//! batches, cycled, after a warm-up; replay sampling is not timed. The forward is the deterministic action
//! of a [`crate::PolicySnapshot`] for one observation, `Vec<f32>` in and out. The report also measures the
//! CPU's single-thread matrix-product throughput, because an update is about 0.62 GFLOP of products and
//! that bounds everything else.
//!
//! Threads: the update runs in candle's CPU pool, sized by `RAYON_NUM_THREADS` (default: the physical
//! cores). Candle also starts a spinning pool for elementwise ops on 64 Ki elements or more (its
//! gradient accumulation of the `[2, 128, 256]` critic activations is exactly that size); on 2 cores it
//! competes with the gemm threads, so run with `CANDLE_NUM_THREADS=1`, which keeps that pool empty.
//!
//! Measured on the 2-vCPU build machine (AMD EPYC family 23 = Zen 1, AVX2 on 128-bit FMA units, 512 KiB
//! L2 per core; single-thread gemm 31-35 GFLOP/s), 300 updates per run:
//!
//! | setting | updates/s | update p50 | forward p50 |
//! |---|---|---|---|
//! | default | 61-63 | 15.7-16.0 ms | 21-26 µs |
//! | `CANDLE_NUM_THREADS=1` | 62-72 | 13.7-15.4 ms | 21-23 µs |
//!
//! The torch baseline (91.9 updates/s, 60 µs forward) and candle's 28 updates/s were measured on a Zen 4
//! machine with about three times this gemm throughput, so the numbers do not compare one to one: here
//! the products alone take about 9 ms per update on two fully used cores.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::config::SacConfig;
use crate::error::Result;
use crate::replay::Batch;
use crate::sac_n::SacN;

/// Observation dimension of the benchmark (2P, P = 128 workers).
pub const OBS_DIM: usize = 256;
/// Action dimension of the benchmark (the prototype's default mask).
pub const ACT_DIM: usize = 137;

/// What [`run`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// SAC-N gradient updates per second over the timed updates.
    pub updates_per_s: f64,
    /// Median time of one update, in milliseconds.
    pub update_p50_ms: f64,
    /// 99th percentile time of one update, in milliseconds.
    pub update_p99_ms: f64,
    /// Median time of one single-observation policy forward (snapshot, deterministic), in microseconds.
    pub forward_p50_us: f64,
    /// 99th percentile of the same, in microseconds.
    pub forward_p99_us: f64,
    /// Threads of candle's CPU pool during the updates.
    pub threads: usize,
    /// Updates timed (after the warm-up).
    pub updates: usize,
    /// Single-thread matrix-product throughput of this CPU (GFLOP/s); an update is about 0.62 GFLOP of
    /// products, so `2 * gemm_gflops / 0.62` bounds `updates_per_s` on two cores.
    pub gemm_gflops: f64,
    /// Critic loss on the first timed batch and after the last update (a sanity check that it learns).
    pub qf_loss_first_last: (f32, f32),
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "SAC-N update (O={OBS_DIM}, A={ACT_DIM}, E=2, B=128, {} threads): {:.1} updates/s, p50 {:.2} ms, p99 {:.2} ms",
            self.threads, self.updates_per_s, self.update_p50_ms, self.update_p99_ms
        )?;
        writeln!(
            f,
            "policy forward, one observation: p50 {:.1} µs, p99 {:.1} µs",
            self.forward_p50_us, self.forward_p99_us
        )?;
        write!(f, "single-thread gemm: {:.1} GFLOP/s", self.gemm_gflops)
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((q / 100.0 * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)]
}

/// A random batch like the torch baseline's: obs in `[0, 2)`, actions in `[-1, 1)`, normal-ish rewards,
/// 1 % terminations.
pub fn random_batch(rng: &mut impl Rng, batch_size: usize, obs_dim: usize, act_dim: usize) -> Batch {
    let mut uniform =
        |n: usize, lo: f32, hi: f32| -> Vec<f32> { (0..n).map(|_| rng.random_range(lo..hi)).collect() };
    let obs = uniform(batch_size * obs_dim, 0.0, 2.0);
    let actions = uniform(batch_size * act_dim, -1.0, 1.0);
    let rewards = uniform(batch_size, -1.7, 1.7);
    let next_obs = uniform(batch_size * obs_dim, 0.0, 2.0);
    let terminated = uniform(batch_size, 0.0, 1.0)
        .into_iter()
        .map(|u| if u < 0.01 { 1.0 } else { 0.0 })
        .collect();
    Batch {
        obs,
        actions,
        rewards,
        next_obs,
        terminated,
        weights: vec![1.0; batch_size],
        indices: Vec::new(),
    }
}

/// Runs `updates` timed SAC-N updates (after a warm-up of a tenth as many, at most 30) and 2000 timed
/// policy forwards, and reports their speed.
pub fn run(updates: usize) -> BenchReport {
    // The sizes and the default config are fixed and valid, so the learner cannot reject them.
    try_run(updates).expect("benchmark on fixed, valid sizes")
}

/// [`run`], returning errors instead of panicking.
///
/// # Errors
///
/// Only if the learner fails on valid input, which would be a bug.
pub fn try_run(updates: usize) -> Result<BenchReport> {
    let config = SacConfig {
        initial_alpha: 1.0,
        ..SacConfig::default()
    };
    let mut sac = SacN::new(OBS_DIM, ACT_DIM, &config)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
    let batches: Vec<Batch> = (0..16)
        .map(|_| random_batch(&mut rng, config.batch_size, OBS_DIM, ACT_DIM))
        .collect();
    let warmup = (updates / 10).min(30);
    for i in 0..warmup {
        sac.update(&batches[i % batches.len()])?;
    }
    let mut times = Vec::with_capacity(updates);
    let mut losses = (f32::NAN, f32::NAN);
    let start = Instant::now();
    for i in 0..updates {
        let t = Instant::now();
        let stats = sac.update(&batches[(warmup + i) % batches.len()])?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        if i == 0 {
            losses.0 = stats.qf_loss;
        }
        losses.1 = stats.qf_loss;
    }
    let elapsed = start.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);

    let snapshot = sac.snapshot()?;
    let observations: Vec<Vec<f32>> = (0..64)
        .map(|_| (0..OBS_DIM).map(|_| rng.random_range(0.0..2.0)).collect())
        .collect();
    let mut forward = Vec::with_capacity(2000);
    for i in 0..2200 {
        let t = Instant::now();
        let action = snapshot.act(&observations[i % observations.len()], true, &mut rng)?;
        let dt = t.elapsed().as_secs_f64() * 1e6;
        std::hint::black_box(action);
        if i >= 200 {
            forward.push(dt);
        }
    }
    forward.sort_by(f64::total_cmp);
    Ok(BenchReport {
        updates_per_s: updates as f64 / elapsed.max(f64::MIN_POSITIVE),
        update_p50_ms: percentile(&times, 50.0),
        update_p99_ms: percentile(&times, 99.0),
        forward_p50_us: percentile(&forward, 50.0),
        forward_p99_us: percentile(&forward, 99.0),
        threads: candle_core::Device::Cpu.with_context(rayon::current_num_threads),
        updates,
        gemm_gflops: crate::kernels::gemm_gflops(),
        qf_loss_first_last: losses,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn bench_runs_and_learns() {
        let report = super::try_run(20).unwrap();
        assert!(report.updates_per_s > 0.0 && report.forward_p50_us > 0.0 && report.gemm_gflops > 0.0);
        assert!(report.qf_loss_first_last.1.is_finite());
    }
}
