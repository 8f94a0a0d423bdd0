//! Seeded workload generators: record `i` of a stream is a pure function of the seed and `i`.
//!
//! * `zipf`: Zipf(α) ranks over `keys` keys; key = rank − 1 (0 is the hottest), or a seeded permutation
//!   of it with `shuffle_keys`.
//! * `zipf-sequence`: a list of (α, keys) phases, switching every `shift_interval_ms` of event time.
//! * `zipf-drifting-key`: Zipf keys plus one extra key (`keys`) whose share alternates between a high and a
//!   low band every `shift_interval_ms`.
//! * `text`: the words of a text file, in order, cycling; key = a 64-bit hash of the word.
//! * `file`: a recorded key stream, one key per line or one CSV column, in file order, cycling; key = the
//!   same 64-bit hash of the key's text.
//!
//! Event time advances by `1000 / rate` ms per record, so `rate · s` records span `s` seconds. Because
//! record `i` depends only on `(seed, i)`, parallel sources can each produce any slice of one stream and a
//! test can recompute the stream a Flink job saw.
//!
//! [`WorkloadConfig::validate`] checks every setting without building the stream (no permutation is
//! drawn, no file is read past its first line), so validating params stays cheap; [`Workload::new`]
//! runs the same checks first, so both report a bad setting in the same words.

use crate::error::ConfigError;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};

mod counter_rng;
mod drifting;
mod file;
mod text;
mod zipf;

pub use counter_rng::CounterRng;
pub use drifting::DriftingKeys;
pub use file::{FileKeys, MAX_FILE_BYTES, MAX_FILE_KEYS, MAX_LINE_BYTES};
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
pub const WORKLOADS: &[&str] = &["zipf", "zipf-sequence", "zipf-drifting-key", "text", "file"];

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
    pub text_path: Option<PathBuf>,
    /// Key-stream file of the `file` workload: one key per line, or a CSV (see `csv_column`).
    pub path: Option<PathBuf>,
    /// `file`: the CSV column holding the key, by header name or 0-based index; none = the whole line is
    /// the key. Default none.
    pub csv_column: Option<CsvColumn>,
    /// `file`: the CSV field separator, one ASCII character. Default `,`.
    pub csv_delimiter: char,
    /// `file`: whether the CSV's first line names the columns (and is no record). Default true.
    pub csv_header: bool,
}

/// Which CSV column holds the key: a YAML integer is a 0-based index, a string a header name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CsvColumn {
    /// Position, 0 for the first column.
    Index(usize),
    /// Name in the header line.
    Name(String),
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
            path: None,
            csv_column: None,
            csv_delimiter: ',',
            csv_header: true,
        }
    }
}

impl WorkloadConfig {
    /// Checks every setting without building the stream: no permutation is drawn and no file is read
    /// beyond an open, its size and (for a CSV column) its first line. [`Workload::new`] runs these
    /// checks first, so a config that passes here fails there only on what needs the whole stream (a
    /// text without a word, a malformed line deep in a key file).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the bad setting, worded as [`Workload::new`] words it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.rate == 0 {
            return Err(ConfigError::invalid("workload.rate", 0, "must be > 0"));
        }
        if self.keys == 0 {
            return Err(ConfigError::invalid("workload.keys", 0, "must be > 0"));
        }
        match self.kind.as_str() {
            "zipf" => ZipfKeys::check(self.alpha, self.keys, self.shuffle_keys),
            "zipf-sequence" => ZipfSequenceKeys::check(self),
            "zipf-drifting-key" => DriftingKeys::check(self),
            "text" => TextKeys::check_file(self.text_file()?),
            "file" => FileKeys::check(self),
            other => Err(ConfigError::invalid(
                "workload.kind",
                other,
                format!("must be one of {}", WORKLOADS.join(", ")),
            )),
        }
    }

    fn text_file(&self) -> Result<&Path, ConfigError> {
        self.text_path.as_deref().ok_or_else(|| {
            ConfigError::invalid("workload.text_path", "(none)", "the text workload needs a file")
        })
    }
}

/// Opens the input file of a workload (named by the setting `key`): a regular file, so that a FIFO or a
/// device neither blocks nor streams forever, of at most `max_bytes`. Returns the file and its length.
fn open_input(key: &'static str, path: &Path, max_bytes: u64) -> Result<(File, u64), ConfigError> {
    let cannot = |e: std::io::Error| ConfigError::invalid(key, path.display(), format!("cannot read: {e}"));
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        return Err(ConfigError::invalid(key, path.display(), "is not a regular file"));
    }
    if meta.len() > max_bytes {
        return Err(ConfigError::invalid(
            key,
            path.display(),
            format!("holds more than {max_bytes} bytes"),
        ));
    }
    Ok((File::open(path).map_err(cannot)?, meta.len()))
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
        config.validate()?;
        let keys: Box<dyn KeySource> = match config.kind.as_str() {
            "zipf" => Box::new(ZipfKeys::new(
                config.alpha,
                config.keys,
                config.shuffle_keys,
                config.seed,
            )?),
            "zipf-sequence" => Box::new(ZipfSequenceKeys::new(config)?),
            "zipf-drifting-key" => Box::new(DriftingKeys::new(config)?),
            "text" => Box::new(TextKeys::from_file(config.text_file()?)?),
            "file" => Box::new(FileKeys::from_config(config)?),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every bad setting is found by `validate` and worded as `Workload::new` words it.
    #[test]
    fn validation_finds_what_construction_finds_in_the_same_words() {
        let zipf = WorkloadConfig::default();
        let sequence = WorkloadConfig {
            kind: "zipf-sequence".into(),
            phases: vec![ZipfPhase { alpha: 1.0, keys: 10 }],
            ..zipf.clone()
        };
        let missing = std::path::PathBuf::from("/nonexistent/sas-workload");
        let cases = [
            (
                "workload.rate",
                WorkloadConfig {
                    rate: 0,
                    ..zipf.clone()
                },
            ),
            (
                "workload.keys",
                WorkloadConfig {
                    keys: 0,
                    ..zipf.clone()
                },
            ),
            (
                "workload.kind",
                WorkloadConfig {
                    kind: "zipff".into(),
                    ..zipf.clone()
                },
            ),
            (
                "workload.alpha",
                WorkloadConfig {
                    alpha: f64::NAN,
                    ..zipf.clone()
                },
            ),
            (
                "workload.keys",
                WorkloadConfig {
                    keys: crate::limits::MAX_SHUFFLED_KEYS + 1,
                    shuffle_keys: true,
                    ..zipf.clone()
                },
            ),
            (
                "workload.phases",
                WorkloadConfig {
                    phases: Vec::new(),
                    ..sequence.clone()
                },
            ),
            (
                "workload.shift_interval_ms",
                WorkloadConfig {
                    shift_interval_ms: 0,
                    ..sequence.clone()
                },
            ),
            (
                "workload.alpha",
                WorkloadConfig {
                    phases: vec![ZipfPhase {
                        alpha: -1.0,
                        keys: 10,
                    }],
                    ..sequence
                },
            ),
            (
                "workload.drift_min",
                WorkloadConfig {
                    kind: "zipf-drifting-key".into(),
                    drift_min: 0.5,
                    drift_max: 0.1,
                    ..zipf.clone()
                },
            ),
            (
                "workload.text_path",
                WorkloadConfig {
                    kind: "text".into(),
                    ..zipf.clone()
                },
            ),
            (
                "workload.text_path",
                WorkloadConfig {
                    kind: "text".into(),
                    text_path: Some(missing.clone()),
                    ..zipf.clone()
                },
            ),
            (
                "workload.text_path",
                WorkloadConfig {
                    kind: "text".into(),
                    text_path: Some("/".into()),
                    ..zipf.clone()
                },
            ),
            (
                "workload.path",
                WorkloadConfig {
                    kind: "file".into(),
                    path: Some(missing),
                    ..zipf.clone()
                },
            ),
        ];
        for (key, config) in cases {
            let checked = config.validate().unwrap_err();
            let built = Workload::new(&config).unwrap_err();
            assert_eq!(checked, built, "{config:?}");
            assert!(
                checked.to_string().contains(&format!("`{key}`")),
                "{key}: {checked}"
            );
        }
        assert!(
            WorkloadConfig {
                kind: "text".into(),
                text_path: Some("/".into()),
                ..zipf
            }
            .validate()
            .unwrap_err()
            .to_string()
            .contains("is not a regular file")
        );
    }
}
