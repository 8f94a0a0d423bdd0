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
//! cores); with two threads, the two policy passes and the two ensemble members each get one.
//!
//! [`profile`] breaks one update down (phases, every matrix product against the CPU's fp32 peak, the
//! activations, a replay sample, allocations): `learner-bench --profile`. Figures, side by side with
//! PyTorch on the same machine (`bin/bench-learner.sh --with-torch`), are in `docs/results.md`, "Learner
//! speed"; on a shared machine only ratios measured in the same run compare.

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

/// What [`run`] measured. It serialises (`sas-agent bench --json`) without the run's own bookkeeping,
/// `updates` and `qf_loss_first_last`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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
    #[serde(skip)]
    pub updates: usize,
    /// Single-thread matrix-product throughput of this CPU (GFLOP/s); an update is about 0.62 GFLOP of
    /// products, so `2 * gemm_gflops / 0.62` bounds `updates_per_s` on two cores.
    pub gemm_gflops: f64,
    /// Critic loss on the first timed batch and after the last update (a sanity check that it learns).
    #[serde(skip)]
    pub qf_loss_first_last: (f32, f32),
    /// The CPU, as [`cpu_model`] names it.
    pub cpu: String,
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
        write!(
            f,
            "single-thread gemm: {:.1} GFLOP/s\nCPU: {}",
            self.gemm_gflops, self.cpu
        )
    }
}

/// The CPU model as `/proc/cpuinfo` names it, with its family/model and vector extensions that matter here
/// (e.g. `AMD EPYC (family 25, model 1; AVX2+FMA, no AVX-512)`); `"unknown"` where there is no such file.
pub fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    };
    let Some(name) = field("model name") else {
        return "unknown".into();
    };
    let flags = field("flags").unwrap_or_default();
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    let simd = match (has("avx2") && has("fma"), has("avx512f")) {
        (_, true) => "AVX2+FMA, AVX-512",
        (true, false) => "AVX2+FMA, no AVX-512",
        (false, false) => "no AVX2+FMA",
    };
    let fam = field("cpu family").unwrap_or_default();
    let model = field("model").unwrap_or_default();
    format!("{name} (family {fam}, model {model}; {simd})")
}

/// This machine's fp32 peak in GFLOP/s on `cores` cores: `cores × FMA ports × lanes × 2 FLOP × GHz`, with 2
/// FMA ports of 8 lanes (AVX2, 256 bits: 32 FLOP per cycle), or of 16 lanes when the CPU has AVX-512 (64;
/// Zen 4 splits a 512-bit FMA in two, so there it is 32 in practice), and the clock `/proc/cpuinfo` reports.
/// Returns `(peak, GHz, FLOP per cycle per core)`, or `None` where the clock is not known.
pub fn fp32_peak_gflops(cores: usize) -> Option<(f64, f64, f64)> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let mhz: f64 = info
        .lines()
        .find(|l| l.starts_with("cpu MHz"))?
        .split_once(':')?
        .1
        .trim()
        .parse()
        .ok()?;
    let per_cycle = if info.contains(" avx512f") { 64.0 } else { 32.0 };
    let ghz = mhz / 1000.0;
    Some((cores as f64 * per_cycle * ghz, ghz, per_cycle))
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

/// What [`try_run`] and [`profile`] start from: SAC-N at the benchmark's sizes (default config, α = 1),
/// the 16 random batches it cycles through, and the generator that drew them.
struct Setup {
    config: SacConfig,
    sac: SacN,
    rng: Xoshiro256PlusPlus,
    batches: Vec<Batch>,
}

impl Setup {
    /// The learner after `warmup` updates on the batches in turn, from the first.
    fn warmed_up(warmup: usize) -> Result<Self> {
        let config = SacConfig {
            initial_alpha: 1.0,
            ..SacConfig::default()
        };
        let mut sac = SacN::new(OBS_DIM, ACT_DIM, &config)?;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
        let batches: Vec<Batch> = (0..16)
            .map(|_| random_batch(&mut rng, config.batch_size, OBS_DIM, ACT_DIM))
            .collect();
        for i in 0..warmup {
            sac.update(&batches[i % batches.len()])?;
        }
        Ok(Self {
            config,
            sac,
            rng,
            batches,
        })
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
    let warmup = (updates / 10).min(30);
    let Setup {
        mut sac,
        mut rng,
        batches,
        ..
    } = Setup::warmed_up(warmup)?;
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
        cpu: cpu_model(),
    })
}

/// Where one update's time goes: see [`profile`].
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Updates profiled.
    pub updates: usize,
    /// Mean wall time of an update, ms.
    pub update_ms: f64,
    /// Per phase of the update (in order): name and mean wall ms per update.
    pub phases: Vec<(&'static str, f64)>,
    /// Per product shape `(m, n, k)`: calls per update and mean ms per update, summed over the threads.
    pub gemms: Vec<((usize, usize, usize), f64, f64)>,
    /// Bias + tanh and tanh' passes, ms per update summed over the threads.
    pub activation_ms: f64,
    /// Mean time of one prioritized-replay sample of a batch of 128 from 20 000 transitions, ms.
    pub replay_sample_ms: f64,
    /// Heap allocations per update, if the caller can count them.
    pub allocations_per_update: Option<f64>,
    /// Threads of the update.
    pub threads: usize,
    /// `fp32_peak_gflops(1)` of this machine.
    pub peak_per_core: Option<(f64, f64, f64)>,
    /// The CPU.
    pub cpu: String,
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let peak = self.peak_per_core.map(|p| p.0);
        writeln!(f, "CPU: {}", self.cpu)?;
        if let Some((p, ghz, per_cycle)) = self.peak_per_core {
            writeln!(
                f,
                "fp32 peak: {per_cycle} FLOP/cycle/core x {ghz:.2} GHz = {p:.1} GFLOP/s per core, {:.1} on {} threads",
                p * self.threads as f64,
                self.threads
            )?;
        }
        writeln!(
            f,
            "{} updates, {} threads: {:.2} ms per update ({:.1} updates/s)\n",
            self.updates,
            self.threads,
            self.update_ms,
            1e3 / self.update_ms
        )?;
        writeln!(f, "| phase (wall time) | ms per update | share |\n|---|---|---|")?;
        for (name, ms) in &self.phases {
            writeln!(f, "| {name} | {ms:.3} | {:.1} % |", 100.0 * ms / self.update_ms)?;
        }
        writeln!(
            f,
            "\n| GEMM (m × n × k), thread time | calls | MFLOP | ms per update | GFLOP/s per thread | share of one core's peak |\n|---|---|---|---|---|---|"
        )?;
        let (mut flop, mut ms) = (0.0, 0.0);
        for &((m, n, k), calls, t) in &self.gemms {
            let mflop = 2.0 * (m * n * k) as f64 * calls / 1e6;
            let gflops = mflop / t;
            flop += mflop;
            ms += t;
            let share = peak.map_or("-".into(), |p| format!("{:.0} %", 100.0 * gflops / p));
            writeln!(
                f,
                "| {m} × {n} × {k} | {calls:.0} | {mflop:.1} | {t:.3} | {gflops:.1} | {share} |"
            )?;
        }
        let gflops = flop / ms;
        let share = peak.map_or("-".into(), |p| format!("{:.0} %", 100.0 * gflops / p));
        writeln!(
            f,
            "| **all** | | **{flop:.1}** | **{ms:.3}** | **{gflops:.1}** | **{share}** |"
        )?;
        let wall_gflops = flop / self.update_ms;
        let wall_share = peak.map_or("-".into(), |p| {
            format!("{:.0} %", 100.0 * wall_gflops / (p * self.threads as f64))
        });
        writeln!(
            f,
            "\nwhole update: {wall_gflops:.1} GFLOP/s of products over its wall time = {wall_share} of the {}-thread peak",
            self.threads
        )?;
        writeln!(
            f,
            "bias + tanh and tanh' (thread time): {:.3} ms per update",
            self.activation_ms
        )?;
        writeln!(
            f,
            "replay sample (PER, batch 128 of 20 000, not part of the update): {:.3} ms",
            self.replay_sample_ms
        )?;
        match self.allocations_per_update {
            Some(a) => writeln!(f, "heap allocations per update: {a:.1}"),
            None => writeln!(f, "heap allocations per update: not counted"),
        }
    }
}

/// Profiles `updates` SAC-N updates at the benchmark's sizes (after a warm-up): the wall time of each phase
/// of the update, every matrix product by shape with its throughput against this CPU's peak, the fused
/// activations, one replay sample, and the heap allocations per update when `allocations` counts them
/// (a counting global allocator lives in the binary, e.g. `learner-bench --profile`).
///
/// # Errors
///
/// Only if the learner fails on valid input, which would be a bug.
pub fn profile(updates: usize, allocations: Option<&dyn Fn() -> u64>) -> Result<Profile> {
    use crate::kernels::profile as counters;
    let Setup {
        config,
        mut sac,
        batches,
        ..
    } = Setup::warmed_up(30)?;
    sac.phases.ns = [0; crate::sac_n::PHASES.len()];
    counters::enable(true);
    let allocs_before = allocations.map(|f| f());
    let start = Instant::now();
    for i in 0..updates {
        sac.update(&batches[i % batches.len()])?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let allocs = allocations
        .zip(allocs_before)
        .map(|(f, before)| (f() - before) as f64 / updates as f64);
    let (gemms, activation_ns) = counters::take();
    counters::enable(false);
    let per_update_ms = |ns: u64| ns as f64 / 1e6 / updates as f64;
    let phases = crate::sac_n::PHASES
        .iter()
        .zip(sac.phases.ns)
        .map(|(name, ns)| (*name, per_update_ms(ns)))
        .collect();
    let gemms = gemms
        .into_iter()
        .map(|(shape, calls, ns)| (shape, calls as f64 / updates as f64, per_update_ms(ns)))
        .collect();

    let mut replay = crate::PrioritizedReplay::new(OBS_DIM, ACT_DIM, 20_000, 0.6, 0.4, 1e-6, 0)?;
    let batch = &batches[0];
    for i in 0..20_000 {
        let r = i % batch.len();
        replay.push(&crate::Transition {
            obs: batch.obs[r * OBS_DIM..(r + 1) * OBS_DIM].to_vec(),
            action: vec![0.5; ACT_DIM],
            reward: batch.rewards[r],
            next_obs: batch.next_obs[r * OBS_DIM..(r + 1) * OBS_DIM].to_vec(),
            ..crate::Transition::default()
        })?;
    }
    let t = Instant::now();
    for _ in 0..100 {
        std::hint::black_box(replay.sample(config.batch_size)?);
    }
    let replay_sample_ms = t.elapsed().as_secs_f64() * 1e3 / 100.0;
    let threads = candle_core::Device::Cpu.with_context(rayon::current_num_threads);
    Ok(Profile {
        updates,
        update_ms: elapsed * 1e3 / updates as f64,
        phases,
        gemms,
        activation_ms: per_update_ms(activation_ns),
        replay_sample_ms,
        allocations_per_update: allocs,
        threads,
        peak_per_core: fp32_peak_gflops(1),
        cpu: cpu_model(),
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
