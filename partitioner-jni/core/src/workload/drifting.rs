//! The `zipf-drifting-key` keys.

use super::zipf::ZipfKeys;
use super::{CounterRng, KeySource, WorkloadConfig};
use crate::error::ConfigError;
use crate::hashing::seeded_hash64;
use rand::Rng;

/// Zipf keys (unshuffled) plus a drifting key, `keys`, emitted with a probability that changes every
/// `shift_interval_ms`: even intervals draw it from the high band `[mid, max)`, odd ones from the low band
/// `[min, mid)`, with `mid = (min + max)/2`; the draw is seeded by the interval number.
#[derive(Debug, Clone)]
pub struct DriftingKeys {
    base: ZipfKeys,
    drifting_key: u64,
    min: f64,
    max: f64,
    shift_interval_ms: u64,
    seed: u64,
}

impl DriftingKeys {
    /// Checks the settings of [`DriftingKeys::new`] without building anything: the errors `new` would
    /// return.
    pub fn check(config: &WorkloadConfig) -> Result<(), ConfigError> {
        let (min, max) = (config.drift_min, config.drift_max);
        if !(0.0..1.0).contains(&min) || min >= max || max > 1.0 {
            return Err(ConfigError::invalid(
                "workload.drift_min",
                format!("{min}..{max}"),
                "need 0 <= drift_min < drift_max <= 1",
            ));
        }
        if config.shift_interval_ms == 0 {
            return Err(ConfigError::invalid(
                "workload.shift_interval_ms",
                0,
                "must be > 0",
            ));
        }
        ZipfKeys::check(config.alpha, config.keys, false)
    }

    /// The keys `config` describes.
    pub fn new(config: &WorkloadConfig) -> Result<Self, ConfigError> {
        Self::check(config)?;
        let (min, max) = (config.drift_min, config.drift_max);
        Ok(Self {
            base: ZipfKeys::new(config.alpha, config.keys, false, config.seed)?,
            drifting_key: config.keys,
            min,
            max,
            shift_interval_ms: config.shift_interval_ms,
            seed: seeded_hash64(config.seed, 0xd71f),
        })
    }

    /// The drifting key's share during the interval holding `ts_ms`.
    pub fn probability(&self, ts_ms: u64) -> f64 {
        let interval = ts_ms / self.shift_interval_ms;
        let mid = (self.min + self.max) / 2.0;
        let mut rng = CounterRng::new(self.seed, interval);
        if interval.is_multiple_of(2) {
            rng.random_range(mid..self.max)
        } else {
            rng.random_range(self.min..mid)
        }
    }
}

impl KeySource for DriftingKeys {
    fn key_at(&self, i: u64, ts_ms: u64) -> u64 {
        let mut rng = CounterRng::new(self.seed ^ 0x0ff5e7, i);
        if rng.random::<f64>() < self.probability(ts_ms) {
            self.drifting_key
        } else {
            self.base.key(i)
        }
    }
}
