//! The `zipf-drifting-key` stream.

use super::zipf::ZipfKeys;
use super::{Record, WorkloadConfig, event_time};
use crate::error::ConfigError;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Zipf keys (unshuffled) plus a drifting key, `keys`, emitted with a probability redrawn every
/// `shift_interval_ms`: alternately from the high band `[mid, max)` and the low band `[min, mid)`,
/// starting high, with `mid = (min + max)/2`.
#[derive(Debug, Clone)]
pub struct DriftingKeyStream {
    base: ZipfKeys,
    drifting_key: u64,
    min: f64,
    max: f64,
    shift_interval_ms: u64,
    phase: Option<u64>,
    probability: f64,
    rng: Xoshiro256PlusPlus,
    rate: u64,
    i: u64,
}

impl DriftingKeyStream {
    /// The stream `config` describes.
    pub fn new(config: &WorkloadConfig) -> Result<Self, ConfigError> {
        if !(0.0..1.0).contains(&config.drift_min)
            || config.drift_min >= config.drift_max
            || config.drift_max > 1.0
        {
            return Err(ConfigError::invalid(
                "workload.drift_min",
                format!("{}..{}", config.drift_min, config.drift_max),
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
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
        Ok(Self {
            base: ZipfKeys::new(config.alpha, config.keys, false, &mut rng)?,
            drifting_key: config.keys,
            min: config.drift_min,
            max: config.drift_max,
            shift_interval_ms: config.shift_interval_ms,
            phase: None,
            probability: 0.0,
            rng,
            rate: config.rate,
            i: 0,
        })
    }
}

impl Iterator for DriftingKeyStream {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let ts_ms = event_time(self.i, self.rate);
        self.i += 1;
        let phase = ts_ms / self.shift_interval_ms;
        if self.phase != Some(phase) {
            self.phase = Some(phase);
            let mid = (self.min + self.max) / 2.0;
            self.probability = if phase.is_multiple_of(2) {
                self.rng.random_range(mid..self.max)
            } else {
                self.rng.random_range(self.min..mid)
            };
        }
        let key = if self.rng.random::<f64>() < self.probability {
            self.drifting_key
        } else {
            self.base.sample(&mut self.rng)
        };
        Some(Record { key, ts_ms })
    }
}
