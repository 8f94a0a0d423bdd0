//! Which keys are hot, and their rank (the row of the routing table and the slot of the mask they use).
//!
//! * **Static** (the prototype's convention, for parity): keys are popularity ranks, so key `k < K` is the
//!   hot key of rank `k`.
//! * **Online**: a [`SpaceSaving`] summary with exponential decay (a sliding window) finds the heavy
//!   hitters of arbitrary keys. Every `tick_records` records the hot set is revised with hysteresis:
//!   a key enters when its guaranteed share reaches `enter`, stays while its estimated share is at least
//!   `exit` (< `enter`), and expires after `expiry_ticks` ticks below that. Ranks are sticky: two keys swap
//!   ranks only when the lower one is more than `rank_hysteresis` more frequent, so routes do not churn.

use crate::error::{ConfigError, StateError};
use crate::fast_map::KeyMap;
use crate::space_saving::SpaceSaving;
use crate::state::{StateReader, StateWriter};
use serde::{Deserialize, Serialize};

/// Settings of online heavy-hitter detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OnlineHotKeyConfig {
    /// Counters in the SpaceSaving summary.
    pub capacity: usize,
    /// Records between two revisions of the hot set; the summary halves its counts at each.
    pub tick_records: u64,
    /// Share of the (decayed) stream a key needs, as a lower bound, to become hot. `None`: 1/(2P).
    pub enter: Option<f64>,
    /// Share below which a hot key starts to expire. `None`: 1/(4P).
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
        let enter = config.enter.unwrap_or(0.5 / workers as f64);
        let exit = config.exit.unwrap_or(0.25 / workers as f64);
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
