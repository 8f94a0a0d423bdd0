//! Zipf keys: one distribution (`zipf`) or a sequence of them (`zipf-sequence`).

use super::{CounterRng, KeySource, WorkloadConfig};
use crate::error::ConfigError;
use crate::limits::MAX_SHUFFLED_KEYS;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, Zipf};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Zipf(α) ranks over `keys` keys (α = 0: uniform), optionally through a seeded permutation.
#[derive(Debug, Clone)]
pub struct ZipfKeys {
    zipf: Option<Zipf<f64>>,
    keys: u64,
    mapping: Option<Vec<u64>>,
    seed: u64,
}

impl ZipfKeys {
    /// Checks the settings of [`ZipfKeys::new`] without building anything (no permutation, no
    /// sampler): the errors `new` would return.
    pub fn check(alpha: f64, keys: u64, shuffle: bool) -> Result<(), ConfigError> {
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
        // The permutation `new` draws holds every key.
        if shuffle && keys > MAX_SHUFFLED_KEYS {
            return Err(ConfigError::invalid(
                "workload.keys",
                keys,
                format!("must be at most {MAX_SHUFFLED_KEYS} with shuffle_keys"),
            ));
        }
        // O(1): the sampler's constants, not a table.
        if alpha > 0.0 {
            zipf_sampler(keys, alpha)?;
        }
        Ok(())
    }

    /// Keys of a Zipf(α) stream with `seed`; `shuffle` permutes ranks with a permutation drawn from it.
    pub fn new(alpha: f64, keys: u64, shuffle: bool, seed: u64) -> Result<Self, ConfigError> {
        Self::check(alpha, keys, shuffle)?;
        let zipf = if alpha > 0.0 {
            Some(zipf_sampler(keys, alpha)?)
        } else {
            None
        };
        let mapping = shuffle.then(|| {
            let mut m: Vec<u64> = (0..keys).collect();
            m.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5eed_5eed));
            m
        });
        Ok(Self {
            zipf,
            keys,
            mapping,
            seed,
        })
    }

    /// The key of record `i`.
    #[inline]
    pub fn key(&self, i: u64) -> u64 {
        let mut rng = CounterRng::new(self.seed, i);
        let rank = match &self.zipf {
            Some(z) => (z.sample(&mut rng) as u64).clamp(1, self.keys) - 1,
            None => rand::Rng::random_range(&mut rng, 0..self.keys),
        };
        match &self.mapping {
            Some(m) => m[rank as usize],
            None => rank,
        }
    }
}

impl KeySource for ZipfKeys {
    #[inline]
    fn key_at(&self, i: u64, _ts_ms: u64) -> u64 {
        self.key(i)
    }
}

/// The Zipf(α) sampler over ranks `1..=keys`.
fn zipf_sampler(keys: u64, alpha: f64) -> Result<Zipf<f64>, ConfigError> {
    Zipf::new(keys as f64, alpha).map_err(|e| ConfigError::invalid("workload.alpha", alpha, e.to_string()))
}

/// Zipf keys whose (α, keys) changes every `shift_interval_ms` of event time, cycling through the phases.
/// Each phase has its own seed (and permutation with `shuffle_keys`), so the hot keys move too.
#[derive(Debug, Clone)]
pub struct ZipfSequenceKeys {
    phases: Vec<ZipfKeys>,
    shift_interval_ms: u64,
}

impl ZipfSequenceKeys {
    /// Checks the settings of [`ZipfSequenceKeys::new`] without building any phase: the errors `new`
    /// would return.
    pub fn check(config: &WorkloadConfig) -> Result<(), ConfigError> {
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
        // Each phase holds its own permutation.
        let shuffled: u64 = config.phases.iter().map(|p| p.keys).fold(0, u64::saturating_add);
        if config.shuffle_keys && shuffled > MAX_SHUFFLED_KEYS {
            return Err(ConfigError::invalid(
                "workload.phases",
                format!("{shuffled} keys in all"),
                format!("must be at most {MAX_SHUFFLED_KEYS} with shuffle_keys"),
            ));
        }
        config
            .phases
            .iter()
            .try_for_each(|p| ZipfKeys::check(p.alpha, p.keys, config.shuffle_keys))
    }

    /// The keys of `config.phases`.
    pub fn new(config: &WorkloadConfig) -> Result<Self, ConfigError> {
        Self::check(config)?;
        let phases = config
            .phases
            .iter()
            .enumerate()
            .map(|(i, p)| {
                ZipfKeys::new(
                    p.alpha,
                    p.keys,
                    config.shuffle_keys,
                    config.seed.wrapping_add(i as u64),
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            phases,
            shift_interval_ms: config.shift_interval_ms,
        })
    }
}

impl KeySource for ZipfSequenceKeys {
    #[inline]
    fn key_at(&self, i: u64, ts_ms: u64) -> u64 {
        let phase = (ts_ms / self.shift_interval_ms) as usize % self.phases.len();
        self.phases[phase].key(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_zero_is_the_hottest_and_records_are_reproducible() {
        let z = ZipfKeys::new(1.5, 1000, false, 9).unwrap();
        let keys: Vec<u64> = (0..20_000).map(|i| z.key(i)).collect();
        let zeros = keys.iter().filter(|&&k| k == 0).count() as f64 / keys.len() as f64;
        // P(rank 1) = 1/H(1000, 1.5) ≈ 0.39.
        assert!((zeros - 0.39).abs() < 0.02, "share of key 0: {zeros}");
        assert!(keys.iter().all(|&k| k < 1000));
        assert_eq!(
            z.key(12_345),
            ZipfKeys::new(1.5, 1000, false, 9).unwrap().key(12_345)
        );
    }

    #[test]
    fn shuffling_moves_the_hot_key() {
        let z = ZipfKeys::new(1.5, 1000, true, 9).unwrap();
        let zeros = (0..5000).filter(|&i| z.key(i) == 0).count();
        assert!(
            zeros < 500,
            "key 0 should no longer be the hottest ({zeros} of 5000)"
        );
    }
}

/// A stationary Zipf stream as an iterator: the `zipf` workload without the config struct.
#[derive(Debug, Clone)]
pub struct ZipfStream {
    keys: ZipfKeys,
    rate: u64,
    i: u64,
}

impl ZipfStream {
    /// Zipf(α) over `keys` keys at `rate` records/s of event time, seeded by `seed`.
    pub fn new(alpha: f64, keys: u64, shuffle: bool, rate: u64, seed: u64) -> Result<Self, ConfigError> {
        if rate == 0 {
            return Err(ConfigError::invalid("workload.rate", 0, "must be > 0"));
        }
        Ok(Self {
            keys: ZipfKeys::new(alpha, keys, shuffle, seed)?,
            rate,
            i: 0,
        })
    }
}

impl Iterator for ZipfStream {
    type Item = super::Record;

    #[inline]
    fn next(&mut self) -> Option<super::Record> {
        let ts_ms = (u128::from(self.i) * 1000 / u128::from(self.rate)) as u64;
        let key = self.keys.key(self.i);
        self.i += 1;
        Some(super::Record { key, ts_ms })
    }
}
