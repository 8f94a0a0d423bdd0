//! Seeded workload generators: streams of `(key, event time)` records.
//!
//! * `zipf`: Zipf(α) ranks over `keys` keys; key = rank − 1 (0 is the hottest), or a seeded permutation
//!   of it with `shuffle_keys`.
//! * `zipf-sequence`: a list of (α, keys) phases, switching every `shift_interval_ms` of event time.
//! * `zipf-drifting-key`: Zipf keys plus one extra key (`keys`) whose share flips between a high and a low
//!   band every `shift_interval_ms`.
//! * `text`: the words of a text file, in order, cycling; key = a 64-bit hash of the word.
//!
//! Event time advances by `1000 / rate` ms per record, so a stream of `rate · s` records spans `s` seconds.

use crate::error::ConfigError;
use serde::{Deserialize, Serialize};

mod drifting;
mod text;
mod zipf;

pub use drifting::DriftingKeyStream;
pub use text::{TextStream, text_words};
pub use zipf::{ZipfSequenceStream, ZipfStream};

/// One record of a generated stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// The key.
    pub key: u64,
    /// Event time (ms).
    pub ts_ms: u64,
}

/// Workload names accepted by [`build`].
pub const WORKLOADS: &[&str] = &["zipf", "zipf-sequence", "zipf-drifting-key", "text"];

/// One phase of `zipf-sequence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZipfPhase {
    /// Zipf exponent α (> 0; 0 means uniform).
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

/// Event time of record `i` at `rate` records per second.
#[inline]
pub(crate) fn event_time(i: u64, rate: u64) -> u64 {
    (u128::from(i) * 1000 / u128::from(rate)) as u64
}

/// Builds the stream `config.kind` describes.
///
/// # Errors
/// A [`ConfigError`] naming the bad setting (unknown kind, α out of range, missing text file, ...).
pub fn build(config: &WorkloadConfig) -> Result<Box<dyn Iterator<Item = Record> + Send>, ConfigError> {
    if config.rate == 0 {
        return Err(ConfigError::invalid("workload.rate", 0, "must be > 0"));
    }
    if config.keys == 0 {
        return Err(ConfigError::invalid("workload.keys", 0, "must be > 0"));
    }
    Ok(match config.kind.as_str() {
        "zipf" => Box::new(ZipfStream::new(
            config.alpha,
            config.keys,
            config.shuffle_keys,
            config.rate,
            config.seed,
        )?),
        "zipf-sequence" => Box::new(ZipfSequenceStream::new(config)?),
        "zipf-drifting-key" => Box::new(DriftingKeyStream::new(config)?),
        "text" => {
            let path = config.text_path.as_ref().ok_or_else(|| {
                ConfigError::invalid("workload.text_path", "(none)", "the text workload needs a file")
            })?;
            Box::new(TextStream::from_file(path, config.rate)?)
        }
        other => {
            return Err(ConfigError::invalid(
                "workload.kind",
                other,
                "must be one of zipf, zipf-sequence, zipf-drifting-key, text",
            ));
        }
    })
}
