//! Observations and rewards from one interval's measurements: the single code path shared by the live
//! environment, the simulator and the offline datasets, so the three can never drift apart.
//!
//! Inputs per interval: `counts` (records routed to each worker) and `busy_ms` (each worker's busy time in
//! ms per second, `[0, 1000]`).
//!
//! * **Observation** (length 2P): `normalize(counts) ‖ busy_ratio(busy_ms)`.
//!   - `normalize`: `clip((c_i − mean) / (5·sd) + 1, 0, 2)`, i.e. the z-score divided by 5 and shifted by 1,
//!     with `sd` the **sample** standard deviation (divisor n − 1), as the prototype's online Java. When
//!     `sd = 0` (all counts equal, or a single worker) every entry is 1. The prototype's offline Python used
//!     the population sd and gave 2.0 there.
//!   - `busy_ratio`: `min(busy_ms, 1000) / 1000`. A saturated worker reads **1.0**, as online Java; the
//!     prototype's offline pipeline wrote 2.0 for it.
//! * **Reward**: with `b` = busy ms/s clamped to `[0, 1000]` (the same values the observation shows) and
//!   `μ = mean(b)`: `λ = (max b − μ)/(μ + 1e−6)`, `nmad = Σ|b_i − μ|/(n·μ)` (0 when μ = 0, where Java gave
//!   NaN), `perf = (λ + nmad)/2`, `f = (initial_perf − perf)/initial_perf`, `reward = 2f + f·|f|`
//!   (= `(1+f)² − 1` for f > 0, `1 − (1−f)²` otherwise).
//!
//! Non-finite or negative inputs are errors naming the field and index, never NaN observations.

use sas_router::metrics;
use thiserror::Error;

/// Id of these conventions, recorded in offline datasets so data made under other conventions (the
/// prototype's population sd, saturation read as 2.0) is never mixed in silently.
pub const FEATURES: &str = "sas-features/1";
/// Divisor of the z-score in [`normalize_counts`] (the prototype's `5·sd`).
const SD_SCALE: f64 = 5.0;
/// Busy time of a saturated worker (ms per second).
pub const SATURATED_MS: f64 = 1000.0;
/// Guard in λ's denominator, in ms/s as the prototype applies it.
const IMBALANCE_EPS: f64 = 1e-6;

/// Measurements that cannot be turned into features.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum FeatureError {
    /// A value is NaN or infinite.
    #[error("`{field}[{index}]` = {value} is not finite")]
    NotFinite {
        /// Which input (`counts`, `busy_ms`).
        field: &'static str,
        /// Position in it.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A value is negative.
    #[error("`{field}[{index}]` = {value} is negative")]
    Negative {
        /// Which input (`counts`, `busy_ms`).
        field: &'static str,
        /// Position in it.
        index: usize,
        /// The value.
        value: f64,
    },
    /// The two inputs disagree on the number of workers, or are empty.
    #[error("`counts` has {counts} workers and `busy_ms` has {busy}; both must be equal and > 0")]
    Workers {
        /// Length of `counts`.
        counts: usize,
        /// Length of `busy_ms`.
        busy: usize,
    },
    /// The reward's baseline is not a finite positive number.
    #[error("`initial_perf` = {0} must be finite and > 0")]
    InitialPerf(f64),
}

/// The reward's baseline `initial_perf`, checked once to be finite and > 0 (0 would give −∞ or NaN).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InitialPerf(f64);

impl InitialPerf {
    /// The baseline `value`.
    ///
    /// # Errors
    /// [`FeatureError::InitialPerf`] unless `value` is finite and > 0.
    pub fn new(value: f64) -> Result<Self, FeatureError> {
        if value.is_finite() && value > 0.0 {
            Ok(Self(value))
        } else {
            Err(FeatureError::InitialPerf(value))
        }
    }

    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// Balance of one interval's busy time, through [`sas_router::metrics`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Balance {
    /// λ = (max − μ)/(μ + 1e−6) ([`metrics::imbalance_eps`]).
    pub imbalance: f64,
    /// Σ|b_i − μ|/(n·μ); 0 when every worker is idle.
    pub nmad: f64,
    /// (λ + nmad)/2; lower is better.
    pub perf: f64,
}

/// Everything one interval yields for the learner.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// The observation, length 2P.
    pub obs: Vec<f32>,
    /// The reward of the action that produced this interval.
    pub reward: f64,
    /// λ, NMAD and perf of the busy time.
    pub balance: Balance,
    /// Busy ms/s per worker, clamped to `[0, 1000]`: the values the reward was computed on.
    pub busy_ms: Vec<f64>,
}

/// Observation, reward and balance of one interval.
///
/// # Errors
/// [`FeatureError`] naming the bad input: lengths differ or are 0, a value is NaN, infinite or negative.
pub fn features(counts: &[f64], busy_ms: &[f64], initial: InitialPerf) -> Result<Features, FeatureError> {
    if counts.len() != busy_ms.len() || counts.is_empty() {
        return Err(FeatureError::Workers {
            counts: counts.len(),
            busy: busy_ms.len(),
        });
    }
    let busy = clamp_busy(busy_ms)?;
    let mut obs = normalize_counts(counts)?;
    obs.extend(busy.iter().map(|b| (b / SATURATED_MS) as f32));
    let balance = balance(&busy)?;
    Ok(Features {
        obs,
        reward: reward(balance.perf, initial),
        balance,
        busy_ms: busy,
    })
}

/// `clip((c_i − mean)/(5·sd) + 1, 0, 2)` with the sample sd; all ones when sd = 0 or there is one worker.
///
/// # Errors
/// [`FeatureError`] naming `counts` for a NaN, infinite or negative count.
pub fn normalize_counts(counts: &[f64]) -> Result<Vec<f32>, FeatureError> {
    check("counts", counts)?;
    let n = counts.len() as f64;
    let mean = counts.iter().sum::<f64>() / n;
    // f64 throughout: the prototype's smile `var(int[])` squared in int and overflowed above 46 340.
    let sd = if counts.len() < 2 {
        0.0
    } else {
        (counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    if sd == 0.0 {
        return Ok(vec![1.0; counts.len()]);
    }
    Ok(counts
        .iter()
        .map(|c| ((c - mean) / (SD_SCALE * sd) + 1.0).clamp(0.0, 2.0) as f32)
        .collect())
}

/// Busy ms/s per worker mapped to `[0, 1]`, saturation (≥ 1000) reading 1.0.
///
/// # Errors
/// [`FeatureError`] naming `busy_ms` for a NaN, infinite or negative value.
pub fn busy_ratios(busy_ms: &[f64]) -> Result<Vec<f32>, FeatureError> {
    Ok(clamp_busy(busy_ms)?
        .iter()
        .map(|b| (b / SATURATED_MS) as f32)
        .collect())
}

/// λ, NMAD and perf of busy ms/s (clamped to `[0, 1000]` first).
///
/// # Errors
/// [`FeatureError`] naming `busy_ms` for a NaN, infinite or negative value, or for an empty vector.
pub fn balance(busy_ms: &[f64]) -> Result<Balance, FeatureError> {
    if busy_ms.is_empty() {
        return Err(FeatureError::Workers { counts: 0, busy: 0 });
    }
    let b = clamp_busy(busy_ms)?;
    let imbalance = metrics::imbalance_eps(&b, IMBALANCE_EPS);
    let nmad = metrics::nmad(&b);
    Ok(Balance {
        imbalance,
        nmad,
        perf: (imbalance + nmad) / 2.0,
    })
}

/// `2f + f·|f|` with `f = (initial_perf − perf)/initial_perf`: +3 at perf 0, 0 at the baseline.
pub fn reward(perf: f64, initial: InitialPerf) -> f64 {
    let f = (initial.0 - perf) / initial.0;
    2.0 * f + f * f.abs()
}

fn check(field: &'static str, values: &[f64]) -> Result<(), FeatureError> {
    for (index, &value) in values.iter().enumerate() {
        if !value.is_finite() {
            return Err(FeatureError::NotFinite { field, index, value });
        }
        if value < 0.0 {
            return Err(FeatureError::Negative { field, index, value });
        }
    }
    Ok(())
}

fn clamp_busy(busy_ms: &[f64]) -> Result<Vec<f64>, FeatureError> {
    check("busy_ms", busy_ms)?;
    Ok(busy_ms.iter().map(|b| b.min(SATURATED_MS)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    // The prototype's Java test vector: counts [10, 20, 30, 40], mean 25, sample sd 12.9099.
    // Reference (numpy): (c - 25) / (5 * np.std(c, ddof=1)) + 1
    //   = [0.76762135, 0.92254045, 1.07745955, 1.23237865]
    #[test]
    fn normalisation_matches_the_prototype_vector() {
        let got = normalize_counts(&[10.0, 20.0, 30.0, 40.0]).unwrap();
        let want = [0.767621, 0.922540, 1.077460, 1.232379];
        for (g, w) in got.iter().zip(want) {
            assert!(close(f64::from(*g), w, 1e-6), "{got:?}");
        }
    }

    #[test]
    fn the_population_sd_would_not_match() {
        // Guards the convention: with np.std (ddof=0) the first entry would be 1 − 15/(5·11.1803) = 0.7317.
        let got = normalize_counts(&[10.0, 20.0, 30.0, 40.0]).unwrap();
        assert!(!close(f64::from(got[0]), 0.7317, 1e-3));
    }

    #[test]
    fn zero_sd_and_single_worker_give_ones() {
        assert_eq!(normalize_counts(&[7.0; 5]).unwrap(), vec![1.0; 5]);
        assert_eq!(normalize_counts(&[3.0]).unwrap(), vec![1.0]);
        assert_eq!(normalize_counts(&[0.0, 0.0]).unwrap(), vec![1.0; 2]);
    }

    #[test]
    fn normalised_counts_are_clipped_to_0_2() {
        let mut counts = vec![0.0; 99];
        counts.push(1e6);
        let got = normalize_counts(&counts).unwrap();
        assert!(got.iter().all(|x| (0.0..=2.0).contains(x)));
        assert_eq!(*got.last().unwrap(), 2.0);
    }

    // The prototype's Java reward examples, initialPerf 0.6. Reference (Java RewardCalculator):
    //   imb = (max - mean) / (mean + 1e-6); nmad = Σ|b - mean| / (n·mean); perf = (imb + nmad) / 2
    //   f = (0.6 - perf) / 0.6; reward = f > 0 ? (1+f)^2 - 1 : -((1-f)^2 - 1)
    #[test]
    fn reward_examples_match_the_prototype() {
        let p0 = InitialPerf::new(0.6).unwrap();
        let good = features(&[1.0; 4], &[800.0, 400.0, 400.0, 400.0], p0).unwrap();
        assert!(close(good.balance.imbalance, 0.6, 1e-8));
        assert!(close(good.balance.nmad, 0.3, 1e-12));
        assert!(close(good.reward, 0.5625, 1e-7), "{}", good.reward);
        let bad = features(&[1.0; 4], &[1000.0, 200.0, 200.0, 200.0], p0).unwrap();
        assert!(close(bad.balance.imbalance, 1.5, 1e-8));
        assert!(close(bad.reward, -2.515625, 1e-7), "{}", bad.reward);
    }

    #[test]
    fn reward_is_2f_plus_f_abs_f() {
        let p0 = InitialPerf::new(0.6).unwrap();
        for (perf, want) in [(0.0, 3.0), (0.3, 1.25), (0.6, 0.0), (0.9, -1.25), (1.2, -3.0)] {
            assert!(close(reward(perf, p0), want, 1e-12), "perf {perf}");
        }
    }

    #[test]
    fn observation_layout_and_saturation() {
        let p0 = InitialPerf::new(0.6).unwrap();
        let f = features(&[10.0, 20.0], &[500.0, 1200.0], p0).unwrap();
        assert_eq!(f.obs.len(), 4);
        assert_eq!(&f.obs[2..], &[0.5, 1.0]);
        // The reward sees the clamped busy time too.
        assert_eq!(f.busy_ms, vec![500.0, 1000.0]);
        assert_eq!(busy_ratios(&[0.0, 1000.0, 5000.0]).unwrap(), vec![0.0, 1.0, 1.0]);
    }

    #[test]
    fn all_idle_workers_give_zero_imbalance_not_nan() {
        let b = balance(&[0.0; 4]).unwrap();
        assert_eq!((b.imbalance, b.nmad), (0.0, 0.0));
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let p0 = InitialPerf::new(0.6).unwrap();
        let e = features(&[1.0, f64::NAN], &[1.0, 1.0], p0).unwrap_err();
        assert_eq!(e.to_string(), "`counts[1]` = NaN is not finite");
        let e = features(&[1.0, 1.0], &[f64::INFINITY, 1.0], p0).unwrap_err();
        assert!(e.to_string().contains("`busy_ms[0]`"), "{e}");
        let e = features(&[1.0, 1.0], &[1.0, -3.0], p0).unwrap_err();
        assert!(e.to_string().contains("`busy_ms[1]` = -3 is negative"), "{e}");
        let e = features(&[1.0], &[1.0, 1.0], p0).unwrap_err();
        assert!(matches!(e, FeatureError::Workers { counts: 1, busy: 2 }));
        for bad in [0.0, -0.6, f64::NAN, f64::INFINITY] {
            let e = InitialPerf::new(bad).unwrap_err();
            assert!(e.to_string().contains("`initial_perf`"), "{e}");
        }
    }
}
