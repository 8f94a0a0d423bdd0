//! Zipf streams: one distribution (`zipf`) or a sequence of them (`zipf-sequence`).

use super::{Record, WorkloadConfig, event_time};
use crate::error::ConfigError;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, Zipf};
use rand_xoshiro::Xoshiro256PlusPlus;

/// A Zipf(α) sampler over ranks with an optional key permutation.
#[derive(Debug, Clone)]
pub(crate) struct ZipfKeys {
    zipf: Option<Zipf<f64>>,
    keys: u64,
    mapping: Option<Vec<u64>>,
}

impl ZipfKeys {
    /// α = 0 is uniform; `shuffle` draws a permutation from `rng`.
    pub(crate) fn new(
        alpha: f64,
        keys: u64,
        shuffle: bool,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<Self, ConfigError> {
        if !(alpha.is_finite() && alpha >= 0.0) {
            return Err(ConfigError::invalid(
                "workload.alpha",
                alpha,
                "must be finite and >= 0",
            ));
        }
        if keys == 0 {
            return Err(ConfigError::invalid("workload.keys", keys, "must be > 0"));
        }
        let zipf =
            if alpha > 0.0 {
                Some(Zipf::new(keys as f64, alpha).map_err(|_| {
                    ConfigError::invalid("workload.alpha", alpha, "rejected by the Zipf sampler")
                })?)
            } else {
                None
            };
        let mapping = shuffle.then(|| {
            let mut m: Vec<u64> = (0..keys).collect();
            m.shuffle(rng);
            m
        });
        Ok(Self { zipf, keys, mapping })
    }

    #[inline]
    pub(crate) fn sample(&self, rng: &mut Xoshiro256PlusPlus) -> u64 {
        let rank = match &self.zipf {
            Some(z) => (z.sample(rng) as u64 - 1).min(self.keys - 1),
            None => rand::Rng::random_range(rng, 0..self.keys),
        };
        match &self.mapping {
            Some(m) => m[rank as usize],
            None => rank,
        }
    }
}

/// A stationary Zipf stream.
#[derive(Debug, Clone)]
pub struct ZipfStream {
    keys: ZipfKeys,
    rng: Xoshiro256PlusPlus,
    rate: u64,
    i: u64,
}

impl ZipfStream {
    /// A stream of Zipf(α) keys over `keys` keys at `rate` records/s, seeded by `seed`.
    pub fn new(alpha: f64, keys: u64, shuffle: bool, rate: u64, seed: u64) -> Result<Self, ConfigError> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let keys = ZipfKeys::new(alpha, keys, shuffle, &mut rng)?;
        Ok(Self {
            keys,
            rng,
            rate,
            i: 0,
        })
    }
}

impl Iterator for ZipfStream {
    type Item = Record;

    #[inline]
    fn next(&mut self) -> Option<Record> {
        let key = self.keys.sample(&mut self.rng);
        let ts_ms = event_time(self.i, self.rate);
        self.i += 1;
        Some(Record { key, ts_ms })
    }
}

/// A Zipf stream whose (α, keys) changes every `shift_interval_ms`, cycling through its phases. Each
/// phase has its own seeded key permutation when `shuffle_keys` is set, so the hot keys move too.
#[derive(Debug, Clone)]
pub struct ZipfSequenceStream {
    phases: Vec<ZipfKeys>,
    shift_interval_ms: u64,
    rng: Xoshiro256PlusPlus,
    rate: u64,
    i: u64,
}

impl ZipfSequenceStream {
    /// The stream of `config.phases`.
    pub fn new(config: &WorkloadConfig) -> Result<Self, ConfigError> {
        if config.phases.is_empty() {
            return Err(ConfigError::invalid(
                "workload.phases",
                "[]",
                "zipf-sequence needs at least one phase",
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
        let phases = config
            .phases
            .iter()
            .map(|p| ZipfKeys::new(p.alpha, p.keys, config.shuffle_keys, &mut rng))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            phases,
            shift_interval_ms: config.shift_interval_ms,
            rng,
            rate: config.rate,
            i: 0,
        })
    }
}

impl Iterator for ZipfSequenceStream {
    type Item = Record;

    #[inline]
    fn next(&mut self) -> Option<Record> {
        let ts_ms = event_time(self.i, self.rate);
        self.i += 1;
        let phase = (ts_ms / self.shift_interval_ms) as usize % self.phases.len();
        Some(Record {
            key: self.phases[phase].sample(&mut self.rng),
            ts_ms,
        })
    }
}
