//! Seeded workload generators: record `i` of a stream is a pure function of the seed and `i`.
//!
//! * `zipf`: Zipf(α) ranks over `keys` keys; key = rank − 1 (0 is the hottest), or a seeded permutation
//!   of it with `shuffle_keys`.
//! * `zipf-sequence`: a list of (α, keys) phases, switching every `shift_interval_ms` of event time.
//! * `zipf-drifting-key`: Zipf keys plus one extra key (`keys`) whose share alternates between a high and a
//!   low band every `shift_interval_ms`.
//! * `text`: the words of a text file, in order, cycling; key = a 64-bit hash of the word.
//!
//! Event time advances by `1000 / rate` ms per record, so `rate · s` records span `s` seconds. Because
//! record `i` depends only on `(seed, i)`, parallel sources can each produce any slice of one stream and a
//! test can recompute the stream a Flink job saw.

use crate::error::ConfigError;
use serde::{Deserialize, Serialize};

mod counter_rng;
mod drifting;
mod text;
mod zipf;

pub use counter_rng::CounterRng;
pub use drifting::DriftingKeys;
pub use text::{TextKeys, text_words};
pub use zipf::{ZipfKeys, ZipfSequenceKeys, ZipfStream};

/// One record of a generated stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// The key.
    pub key: u64,
    /// Event time (ms).
    pub ts_ms: u64,
}

/// A generator of keys by record index.
pub trait KeySource: Send + Sync + std::fmt::Debug {
    /// The key of record `i`, given its event time.
    fn key_at(&self, i: u64, ts_ms: u64) -> u64;
}

/// Workload names accepted by [`Workload::new`].
pub const WORKLOADS: &[&str] = &["zipf", "zipf-sequence", "zipf-drifting-key", "text"];

/// One phase of `zipf-sequence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZipfPhase {
    /// Zipf exponent α (0 means uniform).
    pub alpha: f64,
    /// Number of keys.
    pub keys: u64,
}

/// Settings of a generated stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkloadConfig {
    /// One of [`WORKLOADS`]. Default `zipf`.
    pub kind: String,
    /// Zipf exponent α. Default 1.5.
    pub alpha: f64,
    /// Number of distinct keys. Default 100 000.
    pub keys: u64,
    /// Permute ranks with a seeded permutation, so key ids say nothing about popularity. Default false.
    pub shuffle_keys: bool,
    /// Records per second of event time. Default 100 000.
    pub rate: u64,
    /// Seed of the stream. Default 0.
    pub seed: u64,
    /// Phases of `zipf-sequence`.
    pub phases: Vec<ZipfPhase>,
    /// Event time between two phases (`zipf-sequence`) or two drift flips (`zipf-drifting-key`). Default 5000.
    pub shift_interval_ms: u64,
    /// Lowest share of the drifting key. Default 0.001.
    pub drift_min: f64,
    /// Highest share of the drifting key. Default 0.03.
    pub drift_max: f64,
    /// Text file of the `text` workload.
    pub text_path: Option<std::path::PathBuf>,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        Self {
            kind: "zipf".into(),
            alpha: 1.5,
            keys: 100_000,
            shuffle_keys: false,
            rate: 100_000,
            seed: 0,
            phases: Vec::new(),
            shift_interval_ms: 5000,
            drift_min: 0.001,
            drift_max: 0.03,
            text_path: None,
        }
    }
}

/// A generated stream: keys by index, event time by rate.
#[derive(Debug)]
pub struct Workload {
    keys: Box<dyn KeySource>,
    rate: u64,
}

impl Workload {
    /// The stream `config` describes.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the bad setting (unknown kind, α out of range, unreadable text file, ...).
    pub fn new(config: &WorkloadConfig) -> Result<Self, ConfigError> {
        if config.rate == 0 {
            return Err(ConfigError::invalid("workload.rate", 0, "must be > 0"));
        }
        if config.keys == 0 {
            return Err(ConfigError::invalid("workload.keys", 0, "must be > 0"));
        }
        let keys: Box<dyn KeySource> = match config.kind.as_str() {
            "zipf" => Box::new(ZipfKeys::new(
                config.alpha,
                config.keys,
                config.shuffle_keys,
                config.seed,
            )?),
            "zipf-sequence" => Box::new(ZipfSequenceKeys::new(config)?),
            "zipf-drifting-key" => Box::new(DriftingKeys::new(config)?),
            "text" => {
                let path = config.text_path.as_ref().ok_or_else(|| {
                    ConfigError::invalid("workload.text_path", "(none)", "the text workload needs a file")
                })?;
                Box::new(TextKeys::from_file(path)?)
            }
            other => {
                return Err(ConfigError::invalid(
                    "workload.kind",
                    other,
                    format!("must be one of {}", WORKLOADS.join(", ")),
                ));
            }
        };
        Ok(Self {
            keys,
            rate: config.rate,
        })
    }

    /// Record `i`.
    #[inline]
    pub fn record_at(&self, i: u64) -> Record {
        let ts_ms = self.event_time(i);
        Record {
            key: self.keys.key_at(i, ts_ms),
            ts_ms,
        }
    }

    /// Event time of record `i` (ms).
    #[inline]
    pub fn event_time(&self, i: u64) -> u64 {
        (u128::from(i) * 1000 / u128::from(self.rate)) as u64
    }

    /// Records `0, 1, 2, …`.
    pub fn iter(&self) -> impl Iterator<Item = Record> + '_ {
        (0..).map(|i| self.record_at(i))
    }
}
