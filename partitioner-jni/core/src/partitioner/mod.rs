//! The [`Partitioner`] trait and one file per strategy.
//!
//! Every strategy is built by name from one [`RouterConfig`] with [`build`]; the names are [`NAMES`].

use crate::error::{ConfigError, StateError};
use crate::hot_keys::{HotKeys, OnlineHotKeyConfig, OnlineHotKeys, RankShares};
use crate::limits::{
    MAX_HOT_KEYS, MAX_STATS_INTERVALS, MAX_SUMMARY_CAPACITY, MAX_TABLE_CELLS, MAX_WINDOW_SLIDES, MAX_WORKERS,
};
use crate::mask::Mask;
use crate::state::{StateReader, StateWriter};
use crate::window::WindowSpec;
use serde::{Deserialize, Serialize};

mod busy_feedback;
mod cam;
mod cm;
mod d_choices;
mod dagreedy;
mod dalton_bandit;
mod dalton_metrics;
mod dalton_offline;
mod dalton_original;
mod drifting_key;
mod flexd;
mod hash;
mod local_global;
mod pkg;
mod saspartitioner;
mod shuffle;
mod w_choices;

pub use busy_feedback::BusyFeedback;
pub use cam::Cam;
pub use cm::Cm;
pub use d_choices::DChoices;
pub use dagreedy::DaGreedy;
pub use dalton_metrics::DaltonMetrics;
pub use dalton_offline::DaltonOffline;
pub use dalton_original::DaltonOriginal;
pub use drifting_key::DriftingKey;
pub use flexd::FlexD;
pub use hash::Hash;
pub use local_global::LocalGlobal;
pub use pkg::Pkg;
pub use saspartitioner::SasPartitioner;
pub use shuffle::Shuffle;
pub use w_choices::WChoices;

/// A routing strategy: decides, record by record, which worker receives a key.
///
/// Contract, tested once for every strategy (`tests/contract.rs`):
/// * each record goes to exactly one worker `< workers()`;
/// * the same configuration (seed included) and the same input give the same output;
/// * `route` neither allocates on the steady-state path nor fails;
/// * a router restored from another's [`save_state`](Self::save_state) routes every later record as that
///   one would (`tests/state_restore.rs`).
///
/// # Examples
/// ```
/// use sas_router::partitioner::{build, RouterConfig};
/// let config = RouterConfig { workers: 8, ..RouterConfig::default() };
/// let mut pkg = build("pkg", &config).unwrap();
/// let w = pkg.route(42, 0);
/// assert!(w < 8);
/// ```
pub trait Partitioner: Send + std::fmt::Debug {
    /// The strategy's name, as accepted by [`build`].
    fn name(&self) -> &'static str;

    /// Number of workers routed to.
    fn workers(&self) -> u32;

    /// Picks the worker for one record of `key` with event time `ts_ms` (ms, non-decreasing in practice;
    /// a late record is counted in the current slide).
    fn route(&mut self, key: u64, ts_ms: u64) -> u32;

    /// Ends a reporting interval with each worker's load over it (busy ratio, or record count when no
    /// busy time is measured). Strategies that learn from load or rotate per-interval statistics use it.
    fn end_interval(&mut self, _loads: &[f64]) {}

    /// Applies a policy action (mask order). Only `saspartitioner` accepts one.
    fn apply_action(&mut self, _action: &[f64]) -> Result<(), crate::error::DecodeError> {
        Err(crate::error::DecodeError::WrongDimension {
            expected: 0,
            got: _action.len(),
        })
    }

    /// Whether records of one key may reach more than one worker (and so need a merge downstream).
    fn splits_keys(&self) -> bool {
        true
    }

    /// The routing-table rank of `key` if this strategy treats it as hot (what the agent link reports as
    /// hot-key statistics). `None` for strategies without ranked hot keys.
    fn hot_rank(&self, _key: u64) -> Option<usize> {
        None
    }

    /// Appends this router's state to `out`: everything its later decisions depend on (loads, hot keys
    /// and their statistics, bandit estimates, the routing table in force, the random stream), in the
    /// envelope of [`crate::state`] that names the strategy and the worker count. Not on the record path:
    /// it allocates. Strategies implement [`write_state`](Self::write_state), not this.
    fn save_state(&self, out: &mut Vec<u8>) {
        let mut body = StateWriter::new();
        self.write_state(&mut body);
        crate::state::seal(self.name(), self.workers(), body.as_bytes(), out);
    }

    /// Replaces this router's state with one [`save_state`](Self::save_state) wrote, by a router of the
    /// same strategy and configuration; from then on it routes as that router would have. On error the
    /// router is unchanged. Strategies implement [`read_state`](Self::read_state), not this.
    ///
    /// # Errors
    /// A [`StateError`]: bytes that are not one whole, undamaged state; a state of another strategy or
    /// worker count (naming both); a setting the state depends on that differs (naming it).
    fn restore_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        let (envelope, rest) = crate::state::open(bytes)?;
        if !rest.is_empty() {
            return Err(StateError::Trailing {
                what: "the router state",
                extra: rest.len(),
            });
        }
        envelope.check(self.name(), self.workers())?;
        self.read_state(&mut StateReader::new(envelope.body))
    }

    /// Writes the strategy's own fields (a state body, see [`crate::state`]). Stateless strategies keep
    /// the default, an empty body.
    fn write_state(&self, _body: &mut StateWriter) {}

    /// Reads what [`write_state`](Self::write_state) wrote, checking every value, and only then, after
    /// [`StateReader::end`], changes `self`: an error leaves the router as it was.
    ///
    /// # Errors
    /// A [`StateError`] naming the field.
    fn read_state(&mut self, body: &mut StateReader<'_>) -> Result<(), StateError> {
        body.end()
    }
}

/// Every strategy name, in the order result tables list them.
pub const NAMES: &[&str] = &[
    "hash",
    "shuffle",
    "pkg",
    "d-choices",
    "w-choices",
    "cm",
    "cam",
    "dagreedy",
    "flexd",
    "dalton-original",
    "dalton-metrics",
    "dalton-offline",
    "drifting-key",
    "local-global",
    "busy-feedback",
    "saspartitioner",
];

/// Builds the strategy called `name`.
///
/// # Errors
/// [`ConfigError::UnknownPartitioner`] for a name not in [`NAMES`]; [`ConfigError::Invalid`] naming the
/// setting when the configuration is out of range.
pub fn build(name: &str, config: &RouterConfig) -> Result<Box<dyn Partitioner>, ConfigError> {
    config.validate()?;
    Ok(match name {
        "hash" => Box::new(Hash::new(config)),
        "shuffle" => Box::new(Shuffle::new(config)),
        "pkg" => Box::new(Pkg::new(config)),
        "d-choices" => Box::new(DChoices::new(config)?),
        "w-choices" => Box::new(WChoices::new(config)?),
        "cm" => Box::new(Cm::new(config)),
        "cam" => Box::new(Cam::new(config)),
        "dagreedy" => Box::new(DaGreedy::new(config)),
        "flexd" => Box::new(FlexD::new(config)?),
        "dalton-original" => Box::new(DaltonOriginal::new(config)?),
        "dalton-metrics" => Box::new(DaltonMetrics::new(config)?),
        "dalton-offline" => Box::new(DaltonOffline::new(config)?),
        "drifting-key" => Box::new(DriftingKey::new(config)?),
        "local-global" => Box::new(LocalGlobal::new(config)),
        "busy-feedback" => Box::new(BusyFeedback::new(config)?),
        "saspartitioner" => Box::new(SasPartitioner::new(config)?),
        _ => {
            return Err(ConfigError::UnknownPartitioner {
                name: name.to_string(),
                expected: NAMES,
            });
        }
    })
}

/// Everything a router needs, one struct for every strategy. Each field is documented with its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterConfig {
    /// Number of downstream workers P. Default 8.
    pub workers: u32,
    /// Seed of every random choice a strategy makes. Default 0.
    pub seed: u64,
    /// Size of the aggregation window (ms of event time), the window of windowed strategies. Default 1000.
    pub window_ms: u64,
    /// Slide of that window (ms); also the hot-key interval of DAGreedy and Dalton. Default 250.
    pub slide_ms: u64,
    /// Size of the key space (static ranks are `0..num_keys`; the drifting key is `num_keys`). Default 100 000.
    pub num_keys: u64,
    /// Hot keys of `saspartitioner` and `dalton-offline`.
    pub hot_keys: HotKeyConfig,
    /// D-Choices and W-Choices.
    pub choices: ChoicesConfig,
    /// Dalton (original and metrics) and the offline behaviour bandit.
    pub dalton: DaltonConfig,
    /// FlexD.
    pub flexd: FlexDConfig,
    /// `busy-feedback`.
    pub busy_feedback: BusyFeedbackConfig,
    /// `saspartitioner`'s per-record rule.
    pub saspartitioner: SasConfig,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            workers: 8,
            seed: 0,
            window_ms: 1000,
            slide_ms: 250,
            num_keys: 100_000,
            hot_keys: HotKeyConfig::default(),
            choices: ChoicesConfig::default(),
            dalton: DaltonConfig::default(),
            flexd: FlexDConfig::default(),
            busy_feedback: BusyFeedbackConfig::default(),
            saspartitioner: SasConfig::default(),
        }
    }
}

/// How hot keys are found, how many there are and how the mask is drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HotKeyConfig {
    /// `online` (heavy-hitter detection, for any keys) or `static` (key id = popularity rank, a
    /// benchmark-only shortcut true of the unshuffled synthetic Zipf generator alone). Default `online`.
    pub mode: HotKeyMode,
    /// Number of hot keys K (rows of the routing table). Default 10.
    pub count: usize,
    /// True hot keys (masked and steered by the policy); 0 = the mask heuristic decides. Default 0.
    pub true_hot_keys: usize,
    /// Leading true hot keys allowed on every worker. Default 0.
    pub spread_keys: usize,
    /// Zipf exponent the mask's popularity vector assumes when `shares` is empty. Default 1.5.
    pub alpha: f64,
    /// Measured share of the stream each hot rank takes, one per rank (`count` values, rank order, each
    /// in [0, 1], summing to at most 1 and more than 0), as `sas-agent measure-hot-keys` prints them.
    /// When given, the mask is drawn from these instead of from `alpha`. Default empty.
    pub shares: Vec<f64>,
    /// Online detection settings (used when `mode` is `online`).
    pub online: OnlineHotKeyConfig,
}

impl Default for HotKeyConfig {
    fn default() -> Self {
        Self {
            mode: HotKeyMode::Online,
            count: 10,
            true_hot_keys: 0,
            spread_keys: 0,
            alpha: 1.5,
            shares: Vec::new(),
            online: OnlineHotKeyConfig::default(),
        }
    }
}

/// Hot-key detection mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HotKeyMode {
    /// Key `k < count` is hot with rank `k`. A benchmark-only shortcut: it holds for the unshuffled
    /// synthetic Zipf generator, whose key ids are popularity ranks, and for no real stream (shuffled
    /// ids, text, a key file).
    Static,
    /// SpaceSaving heavy hitters with hysteresis and expiry (the default).
    Online,
}

/// Slack per share on the sum of measured shares: shares printed with 6 decimal places (as
/// `measure-hot-keys` does) are each off by at most 5·10⁻⁷, so their sum may pass 1 by that much each.
const SHARE_ROUNDING_SLACK: f64 = 1e-6;

impl HotKeyConfig {
    /// The mask these settings draw for `workers` workers: from the measured `shares` when given, else
    /// from Zipf(`alpha`) popularities; errors name the `hot_keys.` setting.
    pub fn mask(&self, workers: u32) -> Result<Mask, ConfigError> {
        let mask = if self.shares.is_empty() {
            Mask::zipf(
                workers as usize,
                self.alpha,
                self.count,
                self.true_hot_keys,
                self.spread_keys,
            )
        } else {
            self.check_shares()?;
            Mask::heuristic(
                workers as usize,
                &self.shares,
                self.true_hot_keys,
                self.spread_keys,
            )
        };
        mask.map_err(|e| match e {
            // The mask names its own arguments; in a config they live under `hot_keys`.
            ConfigError::Invalid { key, value, reason } => {
                let key = match key {
                    "alpha" => "hot_keys.alpha",
                    "popularity" => "hot_keys.shares",
                    "true_hot_keys" => "hot_keys.true_hot_keys",
                    "hot_keys" => "hot_keys.count",
                    "spread_keys" => "hot_keys.spread_keys",
                    other => other,
                };
                ConfigError::Invalid { key, value, reason }
            }
            other => other,
        })
    }

    /// Checks `shares` (when given): one per hot rank, each a share in [0, 1], together a part of the
    /// stream (more than 0, at most 1).
    fn check_shares(&self) -> Result<(), ConfigError> {
        if self.shares.len() != self.count {
            return Err(ConfigError::invalid(
                "hot_keys.shares",
                format!("{} values", self.shares.len()),
                format!("must have one share per hot key (`hot_keys.count` = {})", self.count),
            ));
        }
        if let Some((i, s)) = self
            .shares
            .iter()
            .enumerate()
            .find(|(_, s)| !(0.0..=1.0).contains(*s))
        {
            return Err(ConfigError::invalid(
                "hot_keys.shares",
                format!("{s} at rank {i}"),
                "must be a share in [0, 1]",
            ));
        }
        let sum: f64 = self.shares.iter().sum();
        if !(sum > 0.0 && sum <= 1.0 + SHARE_ROUNDING_SLACK * self.count as f64) {
            return Err(ConfigError::invalid(
                "hot_keys.shares",
                format!("summing to {sum}"),
                "must sum to more than 0 and at most 1 (shares of one stream)",
            ));
        }
        Ok(())
    }

    /// Measures, with the online detector these settings describe (whatever `mode` says), the share of
    /// `keys` each hot rank takes over `workers` workers: what `shares` should hold for this stream.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for bad detector settings, or a stream too short for one revision of
    /// the hot set (`hot_keys.online.tick_records`).
    pub fn measure_shares(
        &self,
        workers: u32,
        keys: impl IntoIterator<Item = u64>,
    ) -> Result<RankShares, ConfigError> {
        let detector = OnlineHotKeys::new(self.count, workers as usize, &self.online)?;
        crate::hot_keys::measure_rank_shares(detector, keys)
    }

    pub(crate) fn detector(&self, workers: u32) -> Result<HotKeys, ConfigError> {
        Ok(match self.mode {
            HotKeyMode::Static => HotKeys::Static {
                count: self.count as u64,
            },
            HotKeyMode::Online => {
                HotKeys::Online(OnlineHotKeys::new(self.count, workers as usize, &self.online)?)
            }
        })
    }
}

/// Head detection of D-Choices and W-Choices (Nasir et al., ICDE 2016).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChoicesConfig {
    /// Head threshold θ on a key's share; `None` = 1/(5P). Default `None`.
    pub theta: Option<f64>,
    /// Counters of the SpaceSaving summary. Default 100 (the paper's simulator).
    pub capacity: usize,
    /// Slack ε of D-Choices' choice of d. Default 0.001.
    pub epsilon: f64,
    /// Records between two recomputations of d. Default 4096.
    pub recompute_every: u64,
}

impl Default for ChoicesConfig {
    fn default() -> Self {
        Self {
            theta: None,
            capacity: 100,
            epsilon: 0.001,
            recompute_every: 4096,
        }
    }
}

/// Dalton's contextual bandit (Zapridou et al., VLDB 2023) and the offline behaviour bandit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaltonConfig {
    /// Exploration probability ε. Default 0.1.
    pub epsilon: f64,
    /// Step size a of the Q update `Q ← (1−a)·Q + a·r`. Default 0.1.
    pub learning_rate: f64,
    /// Initial Q value of a new hot key's arms. Default −2.
    pub initial_q: f64,
    /// Initial maximum number of workers a key may be split over while exploring. Default 2.
    pub max_split: usize,
    /// Cap of `max_split`. Default 6.
    pub max_split_cap: usize,
    /// Softmax temperature of the offline behaviour bandit (0 = greedy). Default 0.
    pub temperature: f64,
}

impl Default for DaltonConfig {
    fn default() -> Self {
        Self {
            epsilon: 0.1,
            learning_rate: 0.1,
            initial_q: -2.0,
            max_split: 2,
            max_split_cap: 6,
            temperature: 0.0,
        }
    }
}

/// FlexD (Liu et al., CCF THPC 2024).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlexDConfig {
    /// Share of records above which a key is hot. Default 0.01.
    pub hot_threshold: f64,
    /// Period after which all tables reset (ms of event time). Default 60 000.
    pub refresh_ms: u64,
    /// Growth factor of a key's reference frequency when it gains a worker. Default 1.1.
    pub delta: f64,
}

impl Default for FlexDConfig {
    fn default() -> Self {
        Self {
            hot_threshold: 0.01,
            refresh_ms: 60_000,
            delta: 1.1,
        }
    }
}

/// `busy-feedback`'s smoothing of the measured per-record costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusyFeedbackConfig {
    /// Weight of the newest interval in each worker's smoothed cost per record, in (0, 1]: 1 follows the
    /// last interval alone, lower values ride out interval noise. Default 0.5 (a change is 94 % followed
    /// after 4 intervals).
    pub smoothing: f64,
}

impl Default for BusyFeedbackConfig {
    fn default() -> Self {
        Self { smoothing: 0.5 }
    }
}

/// The per-record rule `saspartitioner` applies to hot keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SasConfig {
    /// `schedule` (unrolled smooth weighted round-robin, O(1)) or `deficit` (the prototype's rule over
    /// sliding statistics, O(P)). Default `schedule`.
    pub hot_routing: HotRouting,
    /// Intervals the `deficit` rule's statistics window spans. Default 4.
    pub stats_intervals: usize,
}

impl Default for SasConfig {
    fn default() -> Self {
        Self {
            hot_routing: HotRouting::Schedule,
            stats_intervals: 4,
        }
    }
}

/// See [`SasConfig::hot_routing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HotRouting {
    /// Unrolled smooth weighted round-robin.
    Schedule,
    /// Deficit rule over sliding per-key statistics.
    Deficit,
}

impl RouterConfig {
    /// The aggregation window.
    pub fn window(&self) -> WindowSpec {
        WindowSpec {
            size_ms: self.window_ms,
            slide_ms: self.slide_ms,
        }
    }

    /// Checks every range; the error names the first bad setting. Every size a strategy allocates by
    /// (workers, hot keys × workers, window slides, summary counters, statistics intervals) is bounded
    /// by [`crate::limits`] here, before any strategy is built.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let unit = |key, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(ConfigError::invalid(key, v, "must be in [0, 1]"))
            }
        };
        if self.workers == 0 || self.workers > MAX_WORKERS {
            return Err(ConfigError::invalid(
                "workers",
                self.workers,
                format!("must be in 1..={MAX_WORKERS}"),
            ));
        }
        if self.slide_ms == 0 {
            return Err(ConfigError::invalid("slide_ms", self.slide_ms, "must be > 0"));
        }
        if self.window_ms < self.slide_ms {
            return Err(ConfigError::invalid(
                "window_ms",
                self.window_ms,
                "must be >= slide_ms",
            ));
        }
        if self.window_ms.div_ceil(self.slide_ms) > MAX_WINDOW_SLIDES {
            return Err(ConfigError::invalid(
                "window_ms",
                self.window_ms,
                format!("must be at most {MAX_WINDOW_SLIDES} slides of slide_ms"),
            ));
        }
        if self.num_keys == 0 {
            return Err(ConfigError::invalid("num_keys", self.num_keys, "must be > 0"));
        }
        let k = self.hot_keys.count;
        if k == 0 || k > MAX_HOT_KEYS {
            return Err(ConfigError::invalid(
                "hot_keys.count",
                k,
                format!("must be in 1..={MAX_HOT_KEYS}"),
            ));
        }
        // Cannot overflow: both factors are bounded above.
        if k * self.workers as usize > MAX_TABLE_CELLS {
            return Err(ConfigError::invalid(
                "hot_keys.count",
                k,
                format!(
                    "times {} workers must be at most {MAX_TABLE_CELLS} routing-table cells",
                    self.workers
                ),
            ));
        }
        let online = self.hot_keys.online.capacity;
        if online > MAX_SUMMARY_CAPACITY {
            return Err(ConfigError::invalid(
                "hot_keys.online.capacity",
                online,
                format!("must be at most {MAX_SUMMARY_CAPACITY}"),
            ));
        }
        if let Some(theta) = self.choices.theta.filter(|t| !(*t > 0.0 && *t < 1.0)) {
            return Err(ConfigError::invalid("choices.theta", theta, "must be in (0, 1)"));
        }
        if self.choices.capacity == 0 || self.choices.capacity > MAX_SUMMARY_CAPACITY {
            return Err(ConfigError::invalid(
                "choices.capacity",
                self.choices.capacity,
                format!("must be in 1..={MAX_SUMMARY_CAPACITY}"),
            ));
        }
        if self.choices.recompute_every == 0 {
            return Err(ConfigError::invalid("choices.recompute_every", 0, "must be > 0"));
        }
        unit("choices.epsilon", self.choices.epsilon)?;
        unit("dalton.epsilon", self.dalton.epsilon)?;
        unit("dalton.learning_rate", self.dalton.learning_rate)?;
        if !self.dalton.initial_q.is_finite() {
            return Err(ConfigError::invalid(
                "dalton.initial_q",
                self.dalton.initial_q,
                "must be finite",
            ));
        }
        if self.dalton.max_split == 0 || self.dalton.max_split > self.dalton.max_split_cap {
            return Err(ConfigError::invalid(
                "dalton.max_split",
                self.dalton.max_split,
                "must be in 1..=max_split_cap",
            ));
        }
        if !(self.dalton.temperature >= 0.0 && self.dalton.temperature.is_finite()) {
            return Err(ConfigError::invalid(
                "dalton.temperature",
                self.dalton.temperature,
                "must be >= 0",
            ));
        }
        unit("flexd.hot_threshold", self.flexd.hot_threshold)?;
        if self.flexd.refresh_ms == 0 {
            return Err(ConfigError::invalid("flexd.refresh_ms", 0, "must be > 0"));
        }
        if !(self.flexd.delta >= 1.0 && self.flexd.delta.is_finite()) {
            return Err(ConfigError::invalid(
                "flexd.delta",
                self.flexd.delta,
                "must be >= 1",
            ));
        }
        let smoothing = self.busy_feedback.smoothing;
        if !(smoothing > 0.0 && smoothing <= 1.0) {
            return Err(ConfigError::invalid("busy_feedback.smoothing", smoothing, "must be in (0, 1]"));
        }
        self.hot_keys.mask(self.workers)?;
        let stats = self.saspartitioner.stats_intervals;
        if stats == 0 || stats > MAX_STATS_INTERVALS {
            return Err(ConfigError::invalid(
                "saspartitioner.stats_intervals",
                stats,
                format!("must be in 1..={MAX_STATS_INTERVALS}"),
            ));
        }
        Ok(())
    }
}

/// The two candidate workers PKG, cAM and CM choose between: two independent seeded hashes of the key.
#[inline(always)]
pub(crate) fn two_choices(key: u64, n: u32) -> (u32, u32) {
    use crate::hashing::{reduce, seeded_hash64};
    (
        reduce(seeded_hash64(key, 13), n),
        reduce(seeded_hash64(key, 17), n),
    )
}

/// Index of the smallest element, first one on ties.
#[inline]
pub(crate) fn argmin<T: PartialOrd + Copy>(values: impl IntoIterator<Item = T>) -> usize {
    let mut best = 0;
    let mut best_value: Option<T> = None;
    for (i, v) in values.into_iter().enumerate() {
        if best_value.is_none_or(|b| v < b) {
            best = i;
            best_value = Some(v);
        }
    }
    best
}

/// A seeded RNG for strategy `salt` (so two strategies with one seed do not share a stream).
pub(crate) fn rng(seed: u64, salt: u64) -> rand_xoshiro::Xoshiro256PlusPlus {
    use rand::SeedableRng;
    rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(crate::hashing::seeded_hash64(seed, salt))
}
