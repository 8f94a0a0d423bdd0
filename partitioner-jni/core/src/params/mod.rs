//! Experiment parameters: the YAML files of `params/`, validated in one place for the Flink job, the
//! scripts and the agent.
//!
//! Unknown keys, missing required keys and out-of-range values are errors that name the key. Router
//! settings common to every strategy (workers, seed, windows, key count) are top-level; the strategies'
//! own settings sit under `router:` with the fields of [`RouterConfig`].

use crate::error::ConfigError;
use crate::hashing::murmur3_32;
use crate::limits::{MAX_CAPACITY_CHANGES, MAX_PAYLOAD_ITEMS, MAX_RECORDS, MAX_ROUTERS};
use crate::partitioner::{
    BusyFeedbackConfig, ChoicesConfig, DaltonConfig, FlexDConfig, HotKeyConfig, NAMES, RouterConfig, SasConfig,
};
use crate::workload::WorkloadConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

mod agent;
mod job_view;
pub mod overrides;

pub use agent::{AgentLinkConfig, BackoffConfig, LinkMode};
pub use job_view::JobView;

/// What the pipeline computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// Per-key histogram of the words of a sentence payload (the prototype's WordCount).
    Wordcount,
    /// Classic word count: the key is the word (use with the `text` workload).
    WordcountText,
    /// Per-key t-digest over numeric payloads.
    Tdigest,
}

impl Task {
    /// Units of emulated work one merged partial costs, where one record costs one unit: the time the
    /// merge spends on a partial over the time the partial aggregate spends on a record (added to each of
    /// its two sliding windows), measured on the job's own aggregate functions (`bin/bench-task-cost.sh`, median of three runs; docs/results.md
    /// "Merge cost"). A word histogram's merge walks every word of the partial, a count's adds one number,
    /// a t-digest's folds in its centroids.
    pub fn partial_cost(self) -> f64 {
        match self {
            Task::Wordcount => 2.01,
            Task::WordcountText => 0.33,
            Task::Tdigest => 0.93,
        }
    }
}

/// One experiment, as written in a `params/*.yaml` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// What the pipeline computes. Required.
    pub task: Task,
    /// Partitioner name (see `docs/partitioners.md`). Required.
    pub partitioner: String,
    /// Number of workers P (parallelism of the partial aggregate). Required.
    pub workers: u32,
    /// Parallelism of source and router. Default 1.
    #[serde(default = "one")]
    pub routers: u32,
    /// Records the source emits. Required.
    pub records: u64,
    /// Records per second the source emits (wall clock); 0 = as fast as the job takes them. Default 0.
    #[serde(default)]
    pub source_rate: u64,
    /// Seed of the workload and of every router. Default 0.
    #[serde(default)]
    pub seed: u64,
    /// Aggregation window length (ms of event time). Default: [`RouterConfig`]'s, 1000.
    #[serde(default = "default_window_ms")]
    pub window_ms: u64,
    /// Aggregation window slide (ms). Default: [`RouterConfig`]'s, 250.
    #[serde(default = "default_slide_ms")]
    pub slide_ms: u64,
    /// The key stream (its `seed` is mixed with the top-level seed).
    #[serde(default)]
    pub workload: WorkloadConfig,
    /// Record payloads.
    #[serde(default)]
    pub payload: PayloadConfig,
    /// Emulated worker capacity.
    #[serde(default)]
    pub capacity: CapacityConfig,
    /// Checkpoint interval (ms); 0 = no checkpoints. Default 0.
    #[serde(default)]
    pub checkpoint_interval_ms: u64,
    /// Strategy settings.
    #[serde(default)]
    pub router: RouterSettings,
    /// The agent the routers and workers report to and take routing tables from; absent (or an empty
    /// `address`) = no agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentLinkConfig>,
}

/// Payload of each record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PayloadConfig {
    /// Text whose sentences are the WordCount payloads. Default `data/pg1342.txt`.
    pub text_path: PathBuf,
    /// Words per sentence. Default 8.
    pub words_per_sentence: u32,
    /// Values per TDigest record. Default 100.
    pub values_per_record: u32,
}

impl Default for PayloadConfig {
    fn default() -> Self {
        Self {
            text_path: PathBuf::from("data/pg1342.txt"),
            words_per_sentence: 8,
            values_per_record: 100,
        }
    }
}

/// Emulated capacity: worker `w` serves at most `units_per_second[w]` records per second, waiting (not
/// spinning) when ahead, so one machine can stand for P.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CapacityConfig {
    /// Records per second for every worker; 0 = unlimited. Default 0.
    pub units_per_second: f64,
    /// Per-worker factors applied to `units_per_second` (length P), e.g. 0.5 for a half-speed worker.
    /// Empty = all 1.
    pub factors: Vec<f64>,
    /// Capacity that changes during the run: from each change's `after_ms` of wall-clock time after the
    /// worker's first record on, its `factors` replace the ones before (the same schedule for every
    /// partitioner). Default none.
    pub changes: Vec<CapacityChange>,
    /// Records whose key costs more than one unit (as a longer sentence would). Default: every key 1.
    pub key_cost: KeyCostConfig,
    /// Units one partial costs the worker whose merge takes it; the merge runs on the same workers as the
    /// partial aggregate (slot sharing) and spends the same budget. Default: the task's calibrated cost
    /// ([`Task::partial_cost`]).
    pub partial_cost: Option<f64>,
}

/// One change of the emulated capacity (`capacity.changes`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityChange {
    /// Wall-clock ms after the worker's first record.
    pub after_ms: u64,
    /// Per-worker factors from then on (length P), as `capacity.factors`.
    pub factors: Vec<f64>,
}

/// Keys that cost more (`capacity.key_cost`): a key whose [`key_cost_draw`] is below `share` costs
/// `factor` units per record, every other key one unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyCostConfig {
    /// Share of the key space (not of the records) that costs more, in [0, 1]. Default 0.
    pub share: f64,
    /// Units per record of such a key, ≥ 1. Default 1.
    pub factor: f64,
}

impl Default for KeyCostConfig {
    fn default() -> Self {
        Self {
            share: 0.0,
            factor: 1.0,
        }
    }
}

/// Seed of [`key_cost_draw`]'s hash, so the costly keys are not those any partitioner's hash singles out.
pub const KEY_COST_SEED: u64 = 0x6b65_795f_636f_7374;

/// A key's draw in [0, 1) for `capacity.key_cost`: the top 53 bits of its seeded 64-bit hash. The Flink
/// job's capacity emulation computes the same (`KeyCost.draw`, tested against these values).
pub fn key_cost_draw(key: u64) -> f64 {
    (crate::hashing::seeded_hash64(key, KEY_COST_SEED) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The strategies' own settings (the fields of [`RouterConfig`] that are not top-level params).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterSettings {
    /// Hot keys of `saspartitioner` and `dalton-offline`.
    pub hot_keys: HotKeyConfig,
    /// D-Choices and W-Choices.
    pub choices: ChoicesConfig,
    /// Dalton.
    pub dalton: DaltonConfig,
    /// FlexD.
    pub flexd: FlexDConfig,
    /// busy-feedback.
    pub busy_feedback: BusyFeedbackConfig,
    /// saspartitioner.
    pub saspartitioner: SasConfig,
}

fn one() -> u32 {
    1
}

// The router's settings have their defaults in one place, `RouterConfig::default`.
fn default_window_ms() -> u64 {
    RouterConfig::default().window_ms
}

fn default_slide_ms() -> u64 {
    RouterConfig::default().slide_ms
}

/// Why params could not be loaded.
#[derive(Debug, Error)]
pub enum ParamsError {
    /// The file could not be read.
    #[error("cannot read params file {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// The YAML is malformed, has an unknown key, lacks a required one or has a value of the wrong type.
    #[error("{origin}: {message}")]
    Yaml {
        /// The file, or `(inline)`.
        origin: String,
        /// The parser's message, with the key and position.
        message: String,
    },
    /// A `KEY=VALUE` override is malformed.
    // The cause is part of the message, not a `source`: error chains would print it twice.
    #[error("{origin}: {error}")]
    Override {
        /// The file, or `(inline)`.
        origin: String,
        /// Which override, and why.
        error: overrides::OverrideError,
    },
    /// A value is out of range.
    #[error("{origin}: {error}")]
    Invalid {
        /// The file, or `(inline)`.
        origin: String,
        /// Which key, and what is allowed.
        error: ConfigError,
    },
}

impl Params {
    /// Loads the params file at `path` as the job reads it: [`load_with`](Self::load_with) without
    /// overrides (relative paths against the parent of the file's folder), validated.
    pub fn load(path: &Path) -> Result<Self, ParamsError> {
        Self::load_with(path, &[] as &[&str])
    }

    /// Parses and validates params from YAML text; `origin` names it in errors.
    pub fn parse(yaml: &str, origin: &str) -> Result<Self, ParamsError> {
        let params: Params = serde_norway::from_str(yaml).map_err(|e| ParamsError::Yaml {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        params.validate().map_err(|error| ParamsError::Invalid {
            origin: origin.to_string(),
            error,
        })?;
        Ok(params)
    }

    /// Parses params, resolves their relative file paths against `base_dir`, then validates them.
    pub fn parse_in(yaml: &str, origin: &str, base_dir: &Path) -> Result<Self, ParamsError> {
        Self::parse_with(yaml, origin, base_dir, &[] as &[&str])
    }

    /// Loads the params file at `path` with `KEY=VALUE` overrides applied (see [`overrides::apply`]),
    /// its relative paths resolved against the parent of the file's folder (the repository root for
    /// `params/*.yaml`), and validates the result.
    ///
    /// # Errors
    /// An unreadable file, malformed YAML or override, or a value the schema rejects; the message names
    /// the file and the key.
    pub fn load_with(path: &Path, overrides: &[impl AsRef<str>]) -> Result<Self, ParamsError> {
        let text = std::fs::read_to_string(path).map_err(|error| ParamsError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let file = std::fs::canonicalize(path).map_err(|error| ParamsError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let folder = file.parent().unwrap_or(&file);
        let base = folder.parent().unwrap_or(folder);
        Self::parse_with(&text, &path.display().to_string(), base, overrides)
    }

    /// Parses params text, applies `KEY=VALUE` overrides, resolves relative file paths against
    /// `base_dir` and validates. This is the one way the job (through JNI), the agent and the scripts
    /// turn a params file and its overrides into values: nobody edits the YAML text.
    ///
    /// # Errors
    /// As [`Params::load_with`].
    pub fn parse_with(
        yaml: &str,
        origin: &str,
        base_dir: &Path,
        overrides: &[impl AsRef<str>],
    ) -> Result<Self, ParamsError> {
        let yaml_error = |e: serde_norway::Error| ParamsError::Yaml {
            origin: origin.to_string(),
            message: e.to_string(),
        };
        // Without overrides the file's own text is parsed, so errors give its lines; with them the
        // edited document is written out and parsed again, since only text parsing names the key of a
        // value of the wrong type (`records: invalid type ...`).
        let edited;
        let text = if overrides.is_empty() {
            yaml
        } else {
            let mut doc: serde_norway::Value = serde_norway::from_str(yaml).map_err(yaml_error)?;
            overrides::apply(&mut doc, overrides).map_err(|error| ParamsError::Override {
                origin: origin.to_string(),
                error,
            })?;
            edited = serde_norway::to_string(&doc).map_err(yaml_error)?;
            &edited
        };
        let mut params: Params = serde_norway::from_str(text).map_err(yaml_error)?;
        params.resolve_paths(base_dir);
        params.validate().map_err(|error| ParamsError::Invalid {
            origin: origin.to_string(),
            error,
        })?;
        Ok(params)
    }

    /// Makes the relative file paths absolute, relative to `base_dir`.
    pub fn resolve_paths(&mut self, base_dir: &Path) {
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base_dir.join(p)
            }
        };
        self.payload.text_path = resolve(&self.payload.text_path);
        if let Some(t) = &self.workload.text_path {
            self.workload.text_path = Some(resolve(t));
        }
        if let Some(f) = &self.workload.path {
            self.workload.path = Some(resolve(f));
        }
    }

    /// Checks every range; the error names the first bad key. Every size is bounded by
    /// [`crate::limits`] before anything of that size is allocated. The workload is checked, not built
    /// ([`WorkloadConfig::validate`]): no permutation of up to 2^24 keys is drawn and no key file read
    /// past its first line, so validation stays cheap; what only the whole stream can show (a text
    /// without a word, a malformed line deep in a key file) is reported when the stream is built.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !NAMES.contains(&self.partitioner.as_str()) {
            return Err(ConfigError::UnknownPartitioner {
                name: self.partitioner.clone(),
                expected: NAMES,
            });
        }
        if self.routers == 0 || self.routers > MAX_ROUTERS {
            return Err(ConfigError::invalid(
                "routers",
                self.routers,
                format!("must be in 1..={MAX_ROUTERS}"),
            ));
        }
        if self.records == 0 || self.records > MAX_RECORDS {
            return Err(ConfigError::invalid(
                "records",
                self.records,
                format!("must be in 1..={MAX_RECORDS}"),
            ));
        }
        for (key, n) in [
            ("payload.words_per_sentence", self.payload.words_per_sentence),
            ("payload.values_per_record", self.payload.values_per_record),
        ] {
            if n == 0 || n > MAX_PAYLOAD_ITEMS {
                return Err(ConfigError::invalid(
                    key,
                    n,
                    format!("must be in 1..={MAX_PAYLOAD_ITEMS}"),
                ));
            }
        }
        let c = &self.capacity;
        if !(c.units_per_second >= 0.0 && c.units_per_second.is_finite()) {
            return Err(ConfigError::invalid(
                "capacity.units_per_second",
                c.units_per_second,
                "must be >= 0",
            ));
        }
        if !c.factors.is_empty() && c.factors.len() != self.workers as usize {
            return Err(ConfigError::invalid(
                "capacity.factors",
                c.factors.len(),
                "needs one factor per worker",
            ));
        }
        if let Some(f) = c.factors.iter().find(|f| !(**f > 0.0 && f.is_finite())) {
            return Err(ConfigError::invalid(
                "capacity.factors",
                f,
                "each factor must be > 0",
            ));
        }
        if c.changes.len() > MAX_CAPACITY_CHANGES {
            return Err(ConfigError::invalid(
                "capacity.changes",
                c.changes.len(),
                format!("at most {MAX_CAPACITY_CHANGES} changes"),
            ));
        }
        let mut after = None;
        for change in &c.changes {
            if change.factors.len() != self.workers as usize {
                return Err(ConfigError::invalid(
                    "capacity.changes.factors",
                    change.factors.len(),
                    "needs one factor per worker",
                ));
            }
            if let Some(f) = change.factors.iter().find(|f| !(**f > 0.0 && f.is_finite())) {
                return Err(ConfigError::invalid(
                    "capacity.changes.factors",
                    f,
                    "each factor must be > 0",
                ));
            }
            if after.is_some_and(|a| change.after_ms <= a) {
                return Err(ConfigError::invalid(
                    "capacity.changes.after_ms",
                    change.after_ms,
                    "changes must be in increasing order of after_ms",
                ));
            }
            after = Some(change.after_ms);
        }
        let k = &c.key_cost;
        if !(0.0..=1.0).contains(&k.share) {
            return Err(ConfigError::invalid("capacity.key_cost.share", k.share, "must be in [0, 1]"));
        }
        if !(k.factor >= 1.0 && k.factor.is_finite()) {
            return Err(ConfigError::invalid("capacity.key_cost.factor", k.factor, "must be >= 1"));
        }
        if let Some(cost) = c.partial_cost
            && !(cost >= 0.0 && cost.is_finite())
        {
            return Err(ConfigError::invalid("capacity.partial_cost", cost, "must be >= 0"));
        }
        self.router_config().validate().map_err(in_params)?;
        self.workload_config().validate()?;
        if let Some(agent) = &self.agent {
            agent.validate()?;
        }
        Ok(())
    }

    /// The agent settings, when an agent is configured (an `agent:` section with an `address`).
    pub fn agent_link(&self) -> Option<&AgentLinkConfig> {
        self.agent.as_ref().filter(|a| a.enabled())
    }

    /// The job's name: `agent.job_name`, or `<task>-<partitioner>`.
    pub fn job_name(&self) -> String {
        let configured = self.agent.as_ref().and_then(|a| a.job_name.clone());
        configured.unwrap_or_else(|| {
            // Cannot fail: `Task` is a unit enum, serialised as its kebab-case name.
            let task = serde_json::to_value(self.task).expect("a task serialises");
            format!("{}-{}", task.as_str().unwrap_or("job"), self.partitioner)
        })
    }

    /// The session key: `agent.session_key`, or `<job_name>-<seed>-<64-bit hash of the params>`. Every
    /// subtask of a job is given the same params, so every subtask derives the same key.
    pub fn session_key(&self) -> String {
        if let Some(key) = self.agent.as_ref().and_then(|a| a.session_key.clone()) {
            return key;
        }
        // Cannot fail: params hold only strings, numbers, lists and maps with string keys.
        let json = serde_json::to_string(self).expect("params serialise to JSON");
        let hash =
            (u64::from(murmur3_32(json.as_bytes(), 0)) << 32) | u64::from(murmur3_32(json.as_bytes(), 1));
        format!("{}-{}-{hash:016x}", self.job_name(), self.seed)
    }

    /// The router configuration these params describe.
    pub fn router_config(&self) -> RouterConfig {
        let r = self.router.clone();
        RouterConfig {
            workers: self.workers,
            seed: self.seed,
            window_ms: self.window_ms,
            slide_ms: self.slide_ms,
            num_keys: self.workload.keys,
            hot_keys: r.hot_keys,
            choices: r.choices,
            dalton: r.dalton,
            flexd: r.flexd,
            busy_feedback: r.busy_feedback,
            saspartitioner: r.saspartitioner,
        }
    }

    /// The workload these params describe (the top-level seed mixed in).
    pub fn workload_config(&self) -> WorkloadConfig {
        WorkloadConfig {
            seed: self.workload.seed ^ self.seed,
            ..self.workload.clone()
        }
    }

    /// Capacity of worker `w` in records per second; `None` = unlimited.
    pub fn capacity_of(&self, w: usize) -> Option<f64> {
        let base = self.capacity.units_per_second;
        (base > 0.0).then(|| base * self.capacity.factors.get(w).copied().unwrap_or(1.0))
    }
}

/// The params keys of the [`RouterConfig`] settings that do not sit at the top level: the strategies'
/// own settings under `router:`, the key count under `workload:`.
const ROUTER_KEYS: &[&str] = &[
    "workload.keys",
    "router.hot_keys.count",
    "router.hot_keys.alpha",
    "router.hot_keys.true_hot_keys",
    "router.hot_keys.spread_keys",
    "router.hot_keys.online.capacity",
    "router.hot_keys.online.enter",
    "router.hot_keys.online.exit",
    "router.hot_keys.online.tick_records",
    "router.hot_keys.online.rank_hysteresis",
    "router.choices.theta",
    "router.choices.capacity",
    "router.choices.epsilon",
    "router.choices.recompute_every",
    "router.dalton.epsilon",
    "router.dalton.learning_rate",
    "router.dalton.initial_q",
    "router.dalton.max_split",
    "router.dalton.temperature",
    "router.flexd.hot_threshold",
    "router.flexd.refresh_ms",
    "router.flexd.delta",
    "router.busy_feedback.smoothing",
    "router.saspartitioner.stats_intervals",
];

/// A [`RouterConfig`] error renamed to the key a params file spells (`hot_keys.count` is
/// `router.hot_keys.count` there, `num_keys` is `workload.keys`).
fn in_params(error: ConfigError) -> ConfigError {
    match error {
        ConfigError::Invalid { key, value, reason } => {
            let renamed = if key == "num_keys" {
                Some("workload.keys")
            } else {
                ROUTER_KEYS
                    .iter()
                    .copied()
                    .find(|k| k.strip_prefix("router.") == Some(key))
            };
            ConfigError::Invalid {
                key: renamed.unwrap_or(key),
                value,
                reason,
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "task: wordcount\npartitioner: pkg\nworkers: 4\nrecords: 1000\n";

    #[test]
    fn minimal_params_get_defaults() {
        let p = Params::parse(MINIMAL, "t").unwrap();
        assert_eq!(p.routers, 1);
        assert_eq!(p.router_config().workers, 4);
        assert_eq!(p.router_config().num_keys, 100_000);
        assert_eq!(p.capacity_of(0), None);
    }

    #[test]
    fn errors_name_the_key() {
        let unknown = format!("{MINIMAL}wokers: 3\n");
        let e = Params::parse(&unknown, "f.yaml").unwrap_err().to_string();
        assert!(
            e.contains("f.yaml") && e.contains("unknown field `wokers`"),
            "{e}"
        );

        let nested = format!("{MINIMAL}workload:\n  alpah: 1.2\n");
        let e = Params::parse(&nested, "f.yaml").unwrap_err().to_string();
        assert!(e.contains("alpah"), "{e}");

        let e = Params::parse("task: wordcount\nworkers: 4\nrecords: 1\n", "f.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `partitioner`"), "{e}");

        let e = Params::parse(&MINIMAL.replace("pkg", "pgk"), "f.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown partitioner `pgk`"), "{e}");

        let e = Params::parse(&format!("{MINIMAL}slide_ms: 0\n"), "f.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`slide_ms`"), "{e}");

        let e = Params::parse(
            &format!("{MINIMAL}capacity:\n  units_per_second: 10\n  factors: [1, 2]\n"),
            "f",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`capacity.factors`"), "{e}");

        let e = Params::parse("task: [", "f.yaml").unwrap_err().to_string();
        assert!(e.starts_with("f.yaml: "), "{e}");
    }

    // Issue "Nothing a client sends takes it down", item 1: `router.hot_keys.count: 10000000000` made
    // validation allocate 80 GB for the mask's popularity vector and the process abort.
    #[test]
    fn every_size_is_bounded_and_named_as_the_file_spells_it() {
        let e = Params::parse(
            &format!("{MINIMAL}router:\n  hot_keys:\n    count: 10000000000\n"),
            "f.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("f.yaml: ") && e.contains("`router.hot_keys.count`"),
            "{e}"
        );
        assert!(e.contains("4096"), "{e}");
        // K·P routing-table cells: 4 096 hot keys fit 4 workers, not 32 768.
        let wide = format!("{MINIMAL}router:\n  hot_keys:\n    count: 4096\n");
        Params::parse(&wide, "f").unwrap();
        let e = Params::parse(&wide.replace("workers: 4", "workers: 32768"), "f")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`router.hot_keys.count`") && e.contains("cells"),
            "{e}"
        );

        for (yaml, key) in [
            ("workers: 4294967295\n", "`workers`"),
            ("routers: 4294967295\n", "`routers`"),
            ("records: 18446744073709551615\n", "`records`"),
            ("window_ms: 100000000\nslide_ms: 1\n", "`window_ms`"),
            (
                "payload:\n  values_per_record: 4294967295\n",
                "`payload.values_per_record`",
            ),
            (
                "router:\n  choices:\n    capacity: 100000000000\n",
                "`router.choices.capacity`",
            ),
            (
                "router:\n  hot_keys:\n    online:\n      capacity: 100000000000\n",
                "`router.hot_keys.online.capacity`",
            ),
            (
                "router:\n  saspartitioner:\n    stats_intervals: 100000000\n",
                "`router.saspartitioner.stats_intervals`",
            ),
            (
                "workload:\n  keys: 10000000000\n  shuffle_keys: true\n",
                "`workload.keys`",
            ),
            (
                "agent:\n  window_intervals: 4294967295\n",
                "`agent.window_intervals`",
            ),
            ("agent:\n  report_queue: 100000000000\n", "`agent.report_queue`"),
        ] {
            // MINIMAL's own `workers` and `records` unless the case sets them.
            let mut text = format!("task: wordcount\npartitioner: pkg\n{yaml}");
            for line in ["workers: 4\n", "records: 1000\n"] {
                let name = &line[..line.find(':').unwrap() + 1];
                if !yaml.lines().any(|l| l.starts_with(name)) {
                    text.push_str(line);
                }
            }
            let e = Params::parse(&text, "f.yaml").unwrap_err().to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
        let long = "x".repeat(200);
        let e = Params::parse(&format!("{MINIMAL}agent:\n  job_name: {long}\n"), "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`agent.job_name`"), "{e}");
        // An unshuffled workload allocates nothing per key: any count is fine.
        Params::parse(&format!("{MINIMAL}workload:\n  keys: 10000000000\n"), "f").unwrap();
    }

    // Issue #13 item 7: validating params built the workload, and a shuffled Zipf workload draws a
    // permutation of up to 2^24 keys, so the params fuzz target ran a few inputs a second.
    #[test]
    fn validating_a_shuffled_workload_draws_no_permutation() {
        let yaml = format!(
            "{MINIMAL}workload:\n  shuffle_keys: true\n  keys: {}\n",
            crate::limits::MAX_SHUFFLED_KEYS
        );
        let started = std::time::Instant::now();
        for _ in 0..20 {
            Params::parse(&yaml, "f").unwrap();
        }
        // Drawing the permutation takes over 100 ms each time, even in release builds.
        let elapsed = started.elapsed();
        assert!(
            elapsed < std::time::Duration::from_secs(1),
            "20 validations took {elapsed:?}"
        );
        // Out of range is still an error, worded as building the stream words it.
        let over = yaml.replace(
            &crate::limits::MAX_SHUFFLED_KEYS.to_string(),
            &(crate::limits::MAX_SHUFFLED_KEYS + 1).to_string(),
        );
        let e = Params::parse(&over, "f").unwrap_err().to_string();
        let p: Params = serde_norway::from_str(&over).unwrap();
        let built = crate::workload::Workload::new(&p.workload_config()).unwrap_err();
        assert_eq!(e, format!("f: {built}"));
    }

    #[test]
    fn a_file_workload_is_checked_against_its_header_and_resolved_like_the_text() {
        let dir = std::env::temp_dir().join(format!("sas-params-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("events.csv"), "ts;user\n1;alice\n2;bob\n").unwrap();
        let yaml = format!(
            "{MINIMAL}workload:\n  kind: file\n  path: events.csv\n  csv_column: user\n  csv_delimiter: ';'\n"
        );
        let p = Params::parse_in(&yaml, "f", &dir).unwrap();
        assert_eq!(p.workload.path.as_deref(), Some(dir.join("events.csv").as_path()));
        let by_index = Params::parse_with(&yaml, "f", &dir, &["workload.csv_column=1"]).unwrap();
        assert_eq!(
            by_index.workload.csv_column,
            Some(crate::workload::CsvColumn::Index(1))
        );

        let e = Params::parse_with(&yaml, "f.yaml", &dir, &["workload.csv_column=usr"])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("f.yaml: ") && e.contains("`workload.csv_column` = usr") && e.contains("ts, user"),
            "{e}"
        );
        let e = Params::parse_with(&yaml, "f", &dir, &["workload.path=nothing.csv"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`workload.path`") && e.contains("nothing.csv"), "{e}");
        let e = Params::parse_with(&yaml, "f", &dir, &["workload.path=null"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("the file workload needs a file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_agent_section_is_validated_and_keys_are_shared() {
        let p = Params::parse(MINIMAL, "t").unwrap();
        assert!(p.agent_link().is_none());
        let p = Params::parse(&format!("{MINIMAL}agent:\n  interval_ms: 500\n"), "t").unwrap();
        assert!(p.agent_link().is_none(), "no address, no agent");

        let yaml = format!(
            "{MINIMAL}seed: 3\nagent:\n  address: http://127.0.0.1:50051\n  mode: collect\n  \
             reconnect_backoff_ms: {{min: 50, max: 400}}\n"
        );
        let p = Params::parse(&yaml, "t").unwrap();
        let a = p.agent_link().unwrap();
        assert_eq!((a.mode, a.reconnect_backoff_ms.max), (LinkMode::Collect, 400));
        // Every subtask parses the same text, so every subtask derives the same key.
        let again = Params::parse(&yaml, "t").unwrap();
        assert_eq!(p.session_key(), again.session_key());
        assert!(
            p.session_key().starts_with("wordcount-pkg-3-"),
            "{}",
            p.session_key()
        );
        let other = Params::parse(&yaml.replace("seed: 3", "seed: 4"), "t").unwrap();
        assert_ne!(p.session_key(), other.session_key());

        let e = Params::parse(&format!("{yaml}  fallback: nope\n"), "f.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`agent.fallback`"), "{e}");
        let e = Params::parse(&format!("{yaml}  interval_ms: 10\n"), "f.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`agent.interval_ms`"), "{e}");
        let e = Params::parse(&format!("{yaml}  adress: x\n"), "f.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `adress`"), "{e}");
    }

    #[test]
    fn overrides_are_validated_like_the_file_and_name_the_key() {
        let base = Path::new("/");
        let p = Params::parse_with(MINIMAL, "f.yaml", base, &["workers=8", "agent.interval_ms=300"]).unwrap();
        assert_eq!((p.workers, p.agent.unwrap().interval_ms), (8, 300));
        let e = Params::parse_with(MINIMAL, "f.yaml", base, &["records=abc"])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("f.yaml: ") && e.contains("records"), "{e}");
        let e = Params::parse_with(MINIMAL, "f.yaml", base, &["records=0"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`records`"), "{e}");
        let e = Params::parse_with(MINIMAL, "f.yaml", base, &["task.x=1"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`task` is not a section"), "{e}");
        let e = Params::parse(&MINIMAL.replace("1000", "abc"), "f.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("records") && e.contains("line 4"), "{e}");
    }

    #[test]
    fn shipped_params_files_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../params");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                let params: Params =
                    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                // Relative paths in params are relative to the repository root.
                let mut p = params.clone();
                p.payload.text_path = dir.join("..").join(&params.payload.text_path);
                if let Some(t) = &params.workload.text_path {
                    p.workload.text_path = Some(dir.join("..").join(t));
                }
                if let Some(f) = &params.workload.path {
                    p.workload.path = Some(dir.join("..").join(f));
                }
                p.validate().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                n += 1;
            }
        }
        assert!(n > 0, "no params files found in {}", dir.display());
    }

    #[test]
    fn capacity_changes_key_costs_and_partial_costs_reach_the_job_view_or_are_refused_by_name() {
        let yaml = format!(
            "{MINIMAL}capacity:\n  units_per_second: 100\n  changes:\n    - after_ms: 5000\n      \
             factors: [1, 1, 1, 0.5]\n  key_cost:\n    share: 0.25\n    factor: 4\n  partial_cost: 3\n"
        );
        let view = Params::parse(&yaml, "f").unwrap().job_view();
        assert_eq!(view.capacity_changes_after_ms, vec![5000]);
        assert_eq!(view.capacity_changes, vec![vec![100.0, 100.0, 100.0, 50.0]]);
        assert_eq!((view.key_cost_share, view.key_cost_factor, view.partial_cost), (0.25, 4.0, 3.0));
        let default = Params::parse(MINIMAL, "f").unwrap().job_view();
        assert_eq!(default.partial_cost, Task::Wordcount.partial_cost());
        assert!(default.capacity_changes.is_empty());

        for (bad, key) in [
            ("  changes:\n    - after_ms: 1\n      factors: [1]\n", "`capacity.changes.factors`"),
            ("  changes:\n    - after_ms: 1\n      factors: [1, 1, 1, 0]\n", "`capacity.changes.factors`"),
            (
                "  changes:\n    - {after_ms: 9, factors: [1, 1, 1, 1]}\n    - {after_ms: 9, factors: [1, 1, 1, 1]}\n",
                "`capacity.changes.after_ms`",
            ),
            ("  key_cost:\n    share: 1.5\n", "`capacity.key_cost.share`"),
            ("  key_cost:\n    factor: 0.5\n", "`capacity.key_cost.factor`"),
            ("  partial_cost: -1\n", "`capacity.partial_cost`"),
        ] {
            let e = Params::parse(&format!("{MINIMAL}capacity:\n{bad}"), "f")
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{bad}: {e}");
        }
    }

    /// The Flink job's `KeyCost.draw` is tested against these values.
    #[test]
    fn key_cost_draws_are_uniform_and_fixed() {
        let draws: Vec<f64> = (0..100_000u64).map(key_cost_draw).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let below = draws.iter().filter(|&&d| d < 0.25).count();
        assert!((below as f64 / 1e5 - 0.25).abs() < 0.005, "{below}");
        assert_eq!(key_cost_draw(0), 0.549_329_188_988_012_53);
        assert_eq!(key_cost_draw(1), 0.512_637_662_931_634_04);
        assert_eq!(key_cost_draw(42), 0.284_884_918_037_964_12);
        assert_eq!(key_cost_draw(u64::MAX), 0.226_555_416_584_036_77);
    }
}
