//! Which keys are hot, and their rank (the row of the routing table and the slot of the mask they use).
//!
//! * **Online** (the default): a [`SpaceSaving`] summary with exponential decay (a sliding window) finds
//!   the heavy hitters of arbitrary keys. Every `tick_records` records the hot set is revised with hysteresis:
//!   a key enters when its guaranteed share reaches `enter`, stays while its estimated share is at least
//!   `exit` (< `enter`), and expires after `expiry_ticks` ticks below that. Ranks are sticky: two keys swap
//!   ranks only when the lower one is more than `rank_hysteresis` more frequent, so routes do not churn.
//! * **Static** (the prototype's convention, a benchmark-only shortcut): keys are popularity ranks, so key
//!   `k < K` is the hot key of rank `k`. True of the unshuffled synthetic Zipf generator only.
//!
//! [`measure_rank_shares`] runs the online detector over a stream and measures the share each rank takes:
//! the popularities the mask is drawn from (`hot_keys.shares`).

use crate::error::{ConfigError, StateError};
use crate::fast_map::KeyMap;
use crate::space_saving::SpaceSaving;
use crate::state::{StateReader, StateWriter};
use serde::{Deserialize, Serialize};

/// Default `enter`, as a fraction of one worker's fair share 1/P.
pub const DEFAULT_ENTER_WORKER_SHARE: f64 = 0.2;
/// Default `exit`, as a fraction of one worker's fair share 1/P.
pub const DEFAULT_EXIT_WORKER_SHARE: f64 = 0.1;

/// Settings of online heavy-hitter detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OnlineHotKeyConfig {
    /// Counters in the SpaceSaving summary.
    pub capacity: usize,
    /// Records between two revisions of the hot set; the summary halves its counts at each.
    pub tick_records: u64,
    /// Share of the (decayed) stream a key needs, as a lower bound, to become hot. `None`: 1/(5P), the
    /// head threshold θ of D-/W-Choices (Nasir et al., ICDE 2016): a key with a fifth of a worker's fair
    /// share is hot. (Half a worker's share, as before, left the ranks of real word streams empty at
    /// P = 16: their hottest words take 1-8 % each, and it is their collisions that unbalance hashing.)
    pub enter: Option<f64>,
    /// Share below which a hot key starts to expire. `None`: 1/(10P).
    pub exit: Option<f64>,
    /// Ticks a hot key may stay below `exit` before it loses its rank.
    pub expiry_ticks: u32,
    /// Relative margin by which a key must beat the key ranked above it to take its rank.
    pub rank_hysteresis: f64,
}

impl Default for OnlineHotKeyConfig {
    fn default() -> Self {
        Self {
            capacity: 256,
            tick_records: 16_384,
            enter: None,
            exit: None,
            expiry_ticks: 2,
            rank_hysteresis: 0.25,
        }
    }
}

/// Hot-key ranks, static or online.
#[derive(Debug, Clone)]
pub enum HotKeys {
    /// Key `k < count` is the hot key of rank `k`.
    Static {
        /// Number of hot keys.
        count: u64,
    },
    /// Heavy hitters found in the stream.
    Online(OnlineHotKeys),
}

impl HotKeys {
    /// The rank of `key` if it is hot.
    #[inline(always)]
    pub fn rank(&self, key: u64) -> Option<usize> {
        match self {
            HotKeys::Static { count } => (key < *count).then_some(key as usize),
            HotKeys::Online(o) => o.ranks.get(&key).map(|&r| r as usize),
        }
    }

    /// Feeds one record's key to the detector (a no-op in static mode).
    #[inline(always)]
    pub fn observe(&mut self, key: u64) {
        if let HotKeys::Online(o) = self {
            o.observe(key);
        }
    }

    fn mode(&self) -> &'static str {
        match self {
            HotKeys::Static { .. } => "static",
            HotKeys::Online(_) => "online",
        }
    }

    /// Saves the mode and, online, the detector's state.
    pub(crate) fn write_state(&self, w: &mut StateWriter) {
        match self {
            HotKeys::Static { count } => {
                w.bool(false);
                w.u64(*count);
            }
            HotKeys::Online(o) => {
                w.bool(true);
                o.write_state(w);
            }
        }
    }

    /// Reads what [`write_state`](Self::write_state) wrote into hot keys of this one's mode and settings.
    pub(crate) fn read_state(&self, r: &mut StateReader<'_>) -> Result<Self, StateError> {
        let saved_mode = if r.bool("hot-key mode")? {
            "online"
        } else {
            "static"
        };
        if saved_mode != self.mode() {
            return Err(StateError::mismatch("`hot_keys.mode`", saved_mode, self.mode()));
        }
        Ok(match self {
            HotKeys::Static { count } => {
                let saved = r.u64("static hot keys")?;
                if saved != *count {
                    return Err(StateError::mismatch("`hot_keys.count`", saved, count));
                }
                HotKeys::Static { count: *count }
            }
            HotKeys::Online(o) => HotKeys::Online(o.read_state(r)?),
        })
    }
}

/// Online heavy-hitter ranks.
#[derive(Debug, Clone)]
pub struct OnlineHotKeys {
    summary: SpaceSaving,
    slots: Vec<Option<Slot>>,
    ranks: KeyMap<u64, u32>,
    since_tick: u64,
    tick_records: u64,
    enter: f64,
    exit: f64,
    expiry_ticks: u32,
    rank_hysteresis: f64,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    key: u64,
    ticks_below: u32,
}

impl OnlineHotKeys {
    /// A detector for `slots` hot ranks over `workers` workers.
    pub fn new(slots: usize, workers: usize, config: &OnlineHotKeyConfig) -> Result<Self, ConfigError> {
        let enter = config
            .enter
            .unwrap_or(DEFAULT_ENTER_WORKER_SHARE / workers as f64);
        let exit = config.exit.unwrap_or(DEFAULT_EXIT_WORKER_SHARE / workers as f64);
        if !(enter > 0.0 && enter <= 1.0) {
            return Err(ConfigError::invalid(
                "hot_keys.online.enter",
                enter,
                "must be in (0, 1]",
            ));
        }
        if !(exit > 0.0 && exit <= enter) {
            return Err(ConfigError::invalid(
                "hot_keys.online.exit",
                exit,
                "must be in (0, enter]",
            ));
        }
        if config.tick_records == 0 {
            return Err(ConfigError::invalid(
                "hot_keys.online.tick_records",
                0,
                "must be > 0",
            ));
        }
        if config.capacity < slots {
            return Err(ConfigError::invalid(
                "hot_keys.online.capacity",
                config.capacity,
                "must be >= hot_keys.count",
            ));
        }
        if !(config.rank_hysteresis >= 0.0 && config.rank_hysteresis.is_finite()) {
            return Err(ConfigError::invalid(
                "hot_keys.online.rank_hysteresis",
                config.rank_hysteresis,
                "must be >= 0",
            ));
        }
        Ok(Self {
            summary: SpaceSaving::new(config.capacity),
            slots: vec![None; slots],
            ranks: KeyMap::with_capacity_and_hasher(slots, Default::default()),
            since_tick: 0,
            tick_records: config.tick_records,
            enter,
            exit,
            expiry_ticks: config.expiry_ticks,
            rank_hysteresis: config.rank_hysteresis,
        })
    }

    /// Counts one record; revises the hot set every `tick_records` records.
    #[inline(always)]
    pub fn observe(&mut self, key: u64) {
        self.summary.observe(key);
        self.since_tick += 1;
        if self.since_tick == self.tick_records {
            self.tick();
        }
    }

    /// The hot keys by rank (`None` for a free rank).
    pub fn ranked(&self) -> Vec<Option<u64>> {
        self.slots.iter().map(|s| s.map(|s| s.key)).collect()
    }

    /// Saves the summary, the ranked keys with their ticks below `exit`, and the records since the last
    /// tick (the rank map follows from the slots).
    fn write_state(&self, w: &mut StateWriter) {
        self.summary.write_state(w);
        w.usize(self.slots.len());
        for slot in &self.slots {
            w.bool(slot.is_some());
            if let Some(s) = slot {
                w.u64(s.key);
                w.u32(s.ticks_below);
            }
        }
        w.u64(self.since_tick);
    }

    fn read_state(&self, r: &mut StateReader<'_>) -> Result<Self, StateError> {
        let summary = self.summary.read_state(r)?;
        let n = r.len_exact("hot-key ranks (`hot_keys.count`)", self.slots.len(), 1)?;
        let mut slots = Vec::with_capacity(n);
        let mut ranks = KeyMap::with_capacity_and_hasher(n, Default::default());
        for rank in 0..n {
            if !r.bool("hot-key rank")? {
                slots.push(None);
                continue;
            }
            let key = r.u64("hot key")?;
            let ticks_below = r.u32("hot key's ticks below `exit`")?;
            if ticks_below > self.expiry_ticks {
                return Err(StateError::corrupt(
                    "hot key's ticks below `exit`",
                    format!(
                        "{ticks_below}, above `hot_keys.online.expiry_ticks` = {}",
                        self.expiry_ticks
                    ),
                ));
            }
            if ranks.insert(key, rank as u32).is_some() {
                return Err(StateError::corrupt(
                    "hot key",
                    format!("key {key} holds two ranks"),
                ));
            }
            slots.push(Some(Slot { key, ticks_below }));
        }
        let since_tick = r.below("records since the last tick", self.tick_records)?;
        Ok(Self {
            summary,
            slots,
            ranks,
            since_tick,
            tick_records: self.tick_records,
            enter: self.enter,
            exit: self.exit,
            expiry_ticks: self.expiry_ticks,
            rank_hysteresis: self.rank_hysteresis,
        })
    }

    fn tick(&mut self) {
        self.since_tick = 0;
        let total = self.summary.total().max(1) as f64;
        let count_of = |s: &SpaceSaving, key: u64| s.get(key).map_or(0, |e| e.count);
        // Incumbents: stay while above `exit`, expire after `expiry_ticks` ticks below it.
        for slot in self.slots.iter_mut() {
            if let Some(s) = slot {
                if count_of(&self.summary, s.key) as f64 / total >= self.exit {
                    s.ticks_below = 0;
                } else {
                    s.ticks_below += 1;
                    if s.ticks_below > self.expiry_ticks {
                        *slot = None;
                    }
                }
            }
        }
        // Newcomers: the most frequent keys whose guaranteed share reaches `enter` fill free ranks.
        // (Nothing below allocates: a tick runs on the record path.)
        let mut candidates = self.summary.top_iter(self.slots.len());
        for rank in 0..self.slots.len() {
            if self.slots[rank].is_some() {
                continue;
            }
            // A key placed here is not met again: `top_iter` yields each key once.
            let newcomer = candidates.by_ref().find(|e| {
                !self.slots.iter().flatten().any(|s| s.key == e.key)
                    && (e.count - e.error) as f64 / total >= self.enter
            });
            match newcomer {
                Some(e) => {
                    self.slots[rank] = Some(Slot {
                        key: e.key,
                        ticks_below: 0,
                    })
                }
                None => break,
            }
        }
        drop(candidates);
        // Sticky re-ranking: bubble a key up only past keys it beats by the hysteresis margin; free ranks
        // sink to the end so the widest mask ranges go to real keys.
        let margin = 1.0 + self.rank_hysteresis;
        let score = |s: &Option<Slot>| s.map_or(-1.0, |s| count_of(&self.summary, s.key) as f64);
        let slots = &mut self.slots;
        for i in 1..slots.len() {
            let mut j = i;
            while j > 0
                && (slots[j - 1].is_none() && slots[j].is_some()
                    || score(&slots[j]) > score(&slots[j - 1]) * margin)
            {
                slots.swap(j - 1, j);
                j -= 1;
            }
        }
        self.ranks.clear();
        self.ranks.extend(
            self.slots
                .iter()
                .enumerate()
                .filter_map(|(r, s)| s.map(|s| (s.key, r as u32))),
        );
        self.summary.decay();
    }
}

/// What [`measure_rank_shares`] found: the share of the stream each hot rank took.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankShares {
    /// Per rank, the share of the measured records whose key held that rank when it was routed (the
    /// load the rank's mask range has to carry); 0 for a rank no key reached.
    pub shares: Vec<f64>,
    /// Records measured: the stream after the detector's first revision (before it no key is hot).
    pub records: u64,
    /// The key holding each rank at the end of the stream (`None`: a free rank).
    pub keys: Vec<Option<u64>>,
}

/// Runs `detector` over `keys` as a router runs it (each record counted, then its rank looked up) and
/// measures the share of the records each rank took, from the first revision of the hot set on.
///
/// # Errors
/// [`ConfigError::Invalid`] naming `hot_keys.online.tick_records` when the stream ends before the first
/// revision, so nothing could be measured.
pub fn measure_rank_shares(
    mut detector: OnlineHotKeys,
    keys: impl IntoIterator<Item = u64>,
) -> Result<RankShares, ConfigError> {
    let mut counts = vec![0u64; detector.slots.len()];
    let (mut seen, mut measured) = (0u64, 0u64);
    for key in keys {
        detector.observe(key);
        seen += 1;
        // Before the first tick the hot set is empty whatever the stream holds: not a measurement.
        if seen < detector.tick_records {
            continue;
        }
        measured += 1;
        if let Some(&rank) = detector.ranks.get(&key) {
            counts[rank as usize] += 1;
        }
    }
    if measured == 0 {
        return Err(ConfigError::invalid(
            "hot_keys.online.tick_records",
            detector.tick_records,
            format!("is more than the {seen} records of the stream: no hot set to measure"),
        ));
    }
    Ok(RankShares {
        shares: counts.iter().map(|&c| c as f64 / measured as f64).collect(),
        records: measured,
        keys: detector.ranked(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector(slots: usize) -> OnlineHotKeys {
        let config = OnlineHotKeyConfig {
            tick_records: 1000,
            enter: Some(0.05),
            exit: Some(0.02),
            ..Default::default()
        };
        OnlineHotKeys::new(slots, 8, &config).unwrap()
    }

    /// Feeds `n` records where key `hot[i]` has share `shares[i]` and the rest are distinct cold keys.
    fn feed(d: &mut OnlineHotKeys, n: u64, hot: &[(u64, u64)], cold_base: &mut u64) {
        for i in 0..n {
            let slot = i % 100;
            let mut acc = 0;
            let mut key = None;
            for &(k, per_hundred) in hot {
                acc += per_hundred;
                if slot < acc {
                    key = Some(k);
                    break;
                }
            }
            d.observe(key.unwrap_or_else(|| {
                *cold_base += 1;
                1_000_000 + *cold_base
            }));
        }
    }

    #[test]
    fn finds_heavy_hitters_in_rank_order() {
        let mut d = detector(3);
        let mut cold = 0;
        feed(&mut d, 5000, &[(42, 30), (7, 15), (99, 8)], &mut cold);
        assert_eq!(d.ranked(), vec![Some(42), Some(7), Some(99)]);
        let h = HotKeys::Online(d);
        assert_eq!(h.rank(42), Some(0));
        assert_eq!(h.rank(1_000_001), None);
    }

    #[test]
    fn ranks_are_sticky_within_the_margin_and_keys_expire() {
        let mut d = detector(2);
        let mut cold = 0;
        feed(&mut d, 5000, &[(1, 30), (2, 26)], &mut cold);
        assert_eq!(d.ranked(), vec![Some(1), Some(2)]);
        // Key 2 becomes slightly hotter than key 1 (within 25 %): ranks stay.
        feed(&mut d, 5000, &[(1, 26), (2, 30)], &mut cold);
        assert_eq!(d.ranked(), vec![Some(1), Some(2)]);
        // Key 2 becomes much hotter: it takes rank 0.
        feed(&mut d, 5000, &[(1, 10), (2, 40)], &mut cold);
        assert_eq!(d.ranked(), vec![Some(2), Some(1)]);
        // Key 1 vanishes: it keeps its rank for `expiry_ticks` ticks, then a newcomer replaces it.
        feed(&mut d, 1000, &[(2, 40), (3, 20)], &mut cold);
        assert_eq!(d.ranked()[1], Some(1));
        feed(&mut d, 5000, &[(2, 40), (3, 20)], &mut cold);
        assert_eq!(d.ranked(), vec![Some(2), Some(3)]);
    }

    #[test]
    fn measured_rank_shares_are_the_hot_keys_shares() {
        // Key 42 takes 30 % of the records, 7 takes 15 %, 99 takes 8 %, the rest are distinct.
        let mut keys = Vec::new();
        let mut cold = 0;
        for i in 0..20_000u64 {
            let slot = i % 100;
            keys.push(match slot {
                0..30 => 42,
                30..45 => 7,
                45..53 => 99,
                _ => {
                    cold += 1;
                    1_000_000 + cold
                }
            });
        }
        let m = measure_rank_shares(detector(3), keys.iter().copied()).unwrap();
        // Measured from the first revision (record 1000) on; from then on each hot key is found.
        assert_eq!(m.records, 19_001);
        assert_eq!(m.keys, vec![Some(42), Some(7), Some(99)]);
        for (got, want) in m.shares.iter().zip([0.30, 0.15, 0.08]) {
            assert!((got - want).abs() < 0.002, "{:?}", m.shares);
        }
        // A rank no key reaches measures 0.
        let m = measure_rank_shares(detector(5), keys.iter().copied()).unwrap();
        assert_eq!(m.shares[3..], [0.0, 0.0]);
        // Shorter than one revision: nothing to measure.
        let e = measure_rank_shares(detector(3), keys[..999].iter().copied()).unwrap_err();
        assert!(e.to_string().contains("hot_keys.online.tick_records"), "{e}");
    }

    #[test]
    fn bad_thresholds_are_errors() {
        let config = OnlineHotKeyConfig {
            enter: Some(0.01),
            exit: Some(0.02),
            ..Default::default()
        };
        let e = OnlineHotKeys::new(2, 8, &config).unwrap_err();
        assert!(e.to_string().contains("hot_keys.online.exit"), "{e}");
    }
}
