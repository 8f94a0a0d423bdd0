//! Event-time sliding windows shared by the windowed partitioners (cAM, CM, DAGreedy, Dalton, FlexD).
//!
//! A window of `size` ms sliding by `slide` ms is kept as a ring of `ceil(size / slide)` slides. Slide `s`
//! covers event times `[s·slide, (s+1)·slide)`. Structures advance lazily when a record of a later slide
//! arrives, expiring every slide that left the window (the prototype's cAM never expired anything).

use crate::error::StateError;
use crate::fast_map::KeyMap;
use crate::state::{StateReader, StateWriter};

/// Size and slide of a sliding window, in milliseconds of event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    /// Window length (ms).
    pub size_ms: u64,
    /// Slide length (ms).
    pub slide_ms: u64,
}

impl WindowSpec {
    /// Number of slides one window spans.
    pub fn slides(&self) -> usize {
        self.size_ms.div_ceil(self.slide_ms).max(1) as usize
    }

    /// The slide an event time belongs to.
    #[inline]
    pub fn slide_of(&self, ts_ms: u64) -> u64 {
        ts_ms / self.slide_ms
    }

    fn write_state(&self, w: &mut StateWriter) {
        w.u64(self.size_ms);
        w.u64(self.slide_ms);
    }

    /// Reads a saved spec and checks that it is this one: slide numbers mean nothing under another slide.
    fn check_state(&self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let saved = (r.u64("window size")?, r.u64("window slide")?);
        if saved != (self.size_ms, self.slide_ms) {
            return Err(StateError::mismatch(
                "the window (size/slide ms)",
                format!("{}/{}", saved.0, saved.1),
                format!("{}/{}", self.size_ms, self.slide_ms),
            ));
        }
        Ok(())
    }
}

/// Per-worker record counts over the last `slides` slides.
#[derive(Debug, Clone)]
pub struct WindowedLoads {
    spec: WindowSpec,
    ring: Vec<Vec<u64>>,
    totals: Vec<u64>,
    sum: u64,
    current: u64,
}

impl WindowedLoads {
    /// Zero loads for `n` workers.
    pub fn new(n: usize, spec: WindowSpec) -> Self {
        Self {
            spec,
            ring: vec![vec![0; n]; spec.slides()],
            totals: vec![0; n],
            sum: 0,
            current: 0,
        }
    }

    /// Moves the window so that it ends with the slide of `ts_ms`; earlier slides that fall out are
    /// subtracted. Time never moves backwards: a late record counts in the current slide.
    #[inline]
    pub fn advance(&mut self, ts_ms: u64) {
        let slide = self.spec.slide_of(ts_ms);
        if slide <= self.current {
            return;
        }
        let len = self.ring.len() as u64;
        let steps = (slide - self.current).min(len);
        for s in 1..=steps {
            let idx = ((self.current + s) % len) as usize;
            for (t, c) in self.totals.iter_mut().zip(self.ring[idx].iter_mut()) {
                *t -= *c;
                self.sum -= *c;
                *c = 0;
            }
        }
        self.current = slide;
    }

    /// Counts one record on `worker` in the current slide.
    #[inline]
    pub fn add(&mut self, worker: usize) {
        let idx = (self.current % self.ring.len() as u64) as usize;
        self.ring[idx][worker] += 1;
        self.totals[worker] += 1;
        self.sum += 1;
    }

    /// Records per worker in the window.
    #[inline]
    pub fn loads(&self) -> &[u64] {
        &self.totals
    }

    /// Records in the window, all workers together.
    #[inline]
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// The current slide number.
    pub fn current_slide(&self) -> u64 {
        self.current
    }

    /// Saves the spec, the current slide and the ring (the totals follow from it).
    pub(crate) fn write_state(&self, w: &mut StateWriter) {
        self.spec.write_state(w);
        w.u64(self.current);
        for slide in &self.ring {
            w.u64s(slide);
        }
    }

    /// Reads what [`write_state`](Self::write_state) wrote into loads of this one's shape.
    pub(crate) fn read_state(&self, r: &mut StateReader<'_>) -> Result<Self, StateError> {
        self.spec.check_state(r)?;
        let current = r.u64("window loads: current slide")?;
        let n = self.totals.len();
        let mut totals = vec![0u64; n];
        let mut ring = Vec::with_capacity(self.ring.len());
        for _ in 0..self.ring.len() {
            let slide = r.u64s("window loads per worker", n)?;
            for (t, &c) in totals.iter_mut().zip(&slide) {
                *t = t
                    .checked_add(c)
                    .ok_or_else(|| StateError::corrupt("window loads", "a worker's total overflows"))?;
            }
            ring.push(slide);
        }
        let sum = totals
            .iter()
            .try_fold(0u64, |s, &t| s.checked_add(t))
            .ok_or_else(|| StateError::corrupt("window loads", "the total overflows"))?;
        Ok(Self {
            spec: self.spec,
            ring,
            totals,
            sum,
            current,
        })
    }
}

/// Which workers saw which key within the window, and how many distinct keys each worker holds.
///
/// For every key it keeps the last slide in which each worker received it; a (key, worker) pair is in the
/// window while that slide is. Per worker it keeps, per slide, the number of keys whose latest arrival is
/// in that slide, so a worker's cardinality is a sum over the ring. Stale entries are purged when the map
/// has grown past twice its live size.
#[derive(Debug, Clone)]
pub struct WindowedPresence {
    spec: WindowSpec,
    seen: KeyMap<u64, Vec<(u32, u64)>>,
    latest_per_slide: Vec<Vec<u64>>,
    current: u64,
    live_hint: usize,
}

impl WindowedPresence {
    /// Empty presence for `n` workers.
    pub fn new(n: usize, spec: WindowSpec) -> Self {
        Self {
            spec,
            seen: KeyMap::default(),
            latest_per_slide: vec![vec![0; spec.slides()]; n],
            current: 0,
            live_hint: 1024,
        }
    }

    fn oldest_live(&self) -> u64 {
        (self.current + 1).saturating_sub(self.spec.slides() as u64)
    }

    /// Advances to the slide of `ts_ms`, expiring slides that leave the window.
    #[inline]
    pub fn advance(&mut self, ts_ms: u64) {
        let slide = self.spec.slide_of(ts_ms);
        if slide <= self.current {
            return;
        }
        let len = self.spec.slides() as u64;
        let steps = (slide - self.current).min(len);
        for s in 1..=steps {
            let idx = ((self.current + s) % len) as usize;
            for ring in &mut self.latest_per_slide {
                ring[idx] = 0;
            }
        }
        self.current = slide;
        if self.seen.len() > 2 * self.live_hint {
            let oldest = self.oldest_live();
            self.seen.retain(|_, v| {
                v.retain(|&(_, s)| s >= oldest);
                !v.is_empty()
            });
            self.live_hint = self.seen.len().max(1024);
        }
    }

    /// Whether `worker` received `key` within the window.
    #[inline]
    pub fn contains(&self, key: u64, worker: u32) -> bool {
        let oldest = self.oldest_live();
        self.seen
            .get(&key)
            .is_some_and(|v| v.iter().any(|&(w, s)| w == worker && s >= oldest))
    }

    /// Calls `f` for every worker holding `key` within the window.
    #[inline]
    pub fn for_each_holder(&self, key: u64, mut f: impl FnMut(u32)) {
        let oldest = self.oldest_live();
        if let Some(v) = self.seen.get(&key) {
            v.iter().filter(|&&(_, s)| s >= oldest).for_each(|&(w, _)| f(w));
        }
    }

    /// Number of distinct workers holding `key` within the window (its fragmentation |F(k)|).
    #[inline]
    pub fn fragmentation(&self, key: u64) -> usize {
        let mut n = 0;
        self.for_each_holder(key, |_| n += 1);
        n
    }

    /// Number of distinct keys `worker` holds within the window.
    #[inline]
    pub fn cardinality(&self, worker: u32) -> u64 {
        self.latest_per_slide[worker as usize].iter().sum()
    }

    /// Saves the spec, the current slide, the purge threshold and every (key, worker, last slide), stale
    /// ones included: whether an entry was purged decides where a holder sits in its key's list, which
    /// Dalton's exploration draws from. The per-slide cardinalities follow from the entries.
    pub(crate) fn write_state(&self, w: &mut StateWriter) {
        self.spec.write_state(w);
        w.u64(self.current);
        w.usize(self.live_hint);
        w.map(&self.seen, |w, holders| {
            w.usize(holders.len());
            for &(worker, slide) in holders {
                w.u32(worker);
                w.u64(slide);
            }
        });
    }

    /// Reads what [`write_state`](Self::write_state) wrote into presence of this one's shape.
    pub(crate) fn read_state(&self, r: &mut StateReader<'_>) -> Result<Self, StateError> {
        self.spec.check_state(r)?;
        let current = r.u64("presence: current slide")?;
        let live_hint = usize::try_from(r.u64("presence: purge threshold")?)
            .map_err(|_| StateError::corrupt("presence: purge threshold", "does not fit usize"))?;
        let n = self.latest_per_slide.len();
        let mut seen_worker = vec![false; n];
        let seen = r.map("presence keys", 2, |r| {
            // A (worker, slide) pair takes at least two bytes.
            let len = r.len("a key's holders", n, 2)?;
            let mut holders = Vec::with_capacity(len);
            for _ in 0..len {
                let worker = r.below("holder worker", n as u64)? as u32;
                let slide = r.u64("holder slide")?;
                if slide > current {
                    return Err(StateError::corrupt(
                        "holder slide",
                        format!("{slide} is after the current slide {current}"),
                    ));
                }
                if std::mem::replace(&mut seen_worker[worker as usize], true) {
                    return Err(StateError::corrupt(
                        "holder worker",
                        format!("worker {worker} listed twice"),
                    ));
                }
                holders.push((worker, slide));
            }
            holders.iter().for_each(|&(w, _)| seen_worker[w as usize] = false);
            Ok(holders)
        })?;
        let mut out = Self {
            spec: self.spec,
            seen,
            latest_per_slide: vec![vec![0; self.spec.slides()]; n],
            current,
            live_hint,
        };
        let (oldest, len) = (out.oldest_live(), self.spec.slides() as u64);
        for holders in out.seen.values() {
            for &(w, s) in holders.iter().filter(|&&(_, s)| s >= oldest) {
                out.latest_per_slide[w as usize][(s % len) as usize] += 1;
            }
        }
        Ok(out)
    }

    /// Records that `worker` received `key` in the current slide.
    #[inline]
    pub fn add(&mut self, key: u64, worker: u32) {
        let len = self.spec.slides() as u64;
        let oldest = self.oldest_live();
        let current = self.current;
        let entry = self.seen.entry(key).or_default();
        let ring = &mut self.latest_per_slide[worker as usize];
        match entry.iter_mut().find(|(w, _)| *w == worker) {
            Some((_, s)) if *s == current => {}
            Some((_, s)) => {
                if *s >= oldest {
                    ring[(*s % len) as usize] -= 1;
                }
                *s = current;
                ring[(current % len) as usize] += 1;
            }
            None => {
                entry.push((worker, current));
                ring[(current % len) as usize] += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: WindowSpec = WindowSpec {
        size_ms: 300,
        slide_ms: 100,
    };

    #[test]
    fn loads_expire_with_the_window() {
        let mut l = WindowedLoads::new(2, SPEC);
        l.add(0);
        l.advance(150);
        l.add(1);
        assert_eq!(l.loads(), &[1, 1]);
        l.advance(300); // slide 3: slide 0 leaves (window = slides 1..=3)
        assert_eq!(l.loads(), &[0, 1]);
        l.advance(10_000);
        assert_eq!(l.loads(), &[0, 0]);
        assert_eq!(l.sum(), 0);
    }

    #[test]
    fn presence_and_cardinality_follow_the_window() {
        let mut p = WindowedPresence::new(2, SPEC);
        p.add(7, 0);
        p.add(8, 0);
        p.add(7, 1);
        assert!(p.contains(7, 0) && p.contains(7, 1));
        assert_eq!(p.cardinality(0), 2);
        assert_eq!(p.fragmentation(7), 2);
        p.advance(200);
        p.add(7, 0); // refresh key 7 on worker 0 in slide 2
        assert_eq!(p.cardinality(0), 2);
        p.advance(300); // slide 0 leaves: key 8 and (7, 1) expire
        assert_eq!(p.cardinality(0), 1);
        assert!(!p.contains(7, 1) && p.contains(7, 0));
        assert_eq!(p.fragmentation(7), 1);
    }
}
