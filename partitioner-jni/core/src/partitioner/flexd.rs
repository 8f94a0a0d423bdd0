//! Partitioner that gives each hot key a number of workers growing with its frequency (FlexD, Liu, Wang,
//! Zhou, Mao, CCF THPC 2024).

use super::{Partitioner, RouterConfig};
use crate::error::{ConfigError, StateError};
use crate::fast_map::KeyMap;
use crate::state::{StateReader, StateWriter};
use crate::window::{WindowSpec, WindowedLoads};

/// Partitioner implementing FlexD. A key is hot while its share of the records of the current refresh
/// period is at least `hot_threshold`; cold keys go to `key mod P`. Shares are only trusted once the period
/// holds `1/hot_threshold` records; before that every key is routed as cold. A hot key starts on the
/// lightest worker with a reference share of `hot_threshold`; each time its share rises above the
/// reference it gains the lightest worker it does not use yet and the reference grows by `delta`, so the
/// number of workers grows with the logarithm of the share. Otherwise a record goes to the lightest worker
/// the key already uses. Everything resets every `refresh_ms`. Load is the worker's record count over the
/// last two refresh periods. Key counts keep growing through the period (the prototype froze a key's count
/// once it crossed an internal threshold, so very hot keys read as cold late in each minute, and it took
/// the key's first observed share as its reference, which kept a steady hot key on one worker).
#[derive(Debug, Clone)]
pub struct FlexD {
    n: u32,
    hot_threshold: f64,
    delta: f64,
    refresh_ms: u64,
    next_refresh: Option<u64>,
    counts: KeyMap<u64, u64>,
    total: u64,
    /// Hot key → (reference share, workers it may use).
    mapped: KeyMap<u64, (f64, Vec<u32>)>,
    /// Worker lists of keys dropped at a refresh, each with capacity P, reused for the next period's hot
    /// keys so that neither a refresh nor a new hot key allocates on the record path.
    spare: Vec<Vec<u32>>,
    loads: WindowedLoads,
}

impl FlexD {
    /// A FlexD partitioner with the paper's constants from `config.flexd`.
    pub fn new(config: &RouterConfig) -> Result<Self, ConfigError> {
        let f = &config.flexd;
        let spec = WindowSpec {
            size_ms: 2 * f.refresh_ms,
            slide_ms: f.refresh_ms,
        };
        Ok(Self {
            n: config.workers,
            hot_threshold: f.hot_threshold,
            delta: f.delta,
            refresh_ms: f.refresh_ms,
            next_refresh: None,
            counts: KeyMap::default(),
            total: 0,
            mapped: KeyMap::default(),
            spare: Vec::new(),
            loads: WindowedLoads::new(config.workers as usize, spec),
        })
    }
}

/// The least loaded of `candidates` (the first one on ties).
fn lightest(loads: &[u64], candidates: impl Iterator<Item = u32>) -> Option<u32> {
    candidates.fold(None, |best: Option<u32>, w| match best {
        Some(b) if loads[b as usize] <= loads[w as usize] => Some(b),
        _ => Some(w),
    })
}

impl Partitioner for FlexD {
    fn name(&self) -> &'static str {
        "flexd"
    }

    fn workers(&self) -> u32 {
        self.n
    }

    fn route(&mut self, key: u64, ts_ms: u64) -> u32 {
        let next_refresh = *self.next_refresh.get_or_insert(ts_ms + self.refresh_ms);
        if ts_ms >= next_refresh {
            self.counts.clear();
            for (_, (_, mut ws)) in self.mapped.drain() {
                ws.clear();
                self.spare.push(ws);
            }
            self.total = 0;
            self.next_refresh = Some(ts_ms + self.refresh_ms);
        }
        self.loads.advance(ts_ms);
        // The share is taken before this record is counted, once the period has enough records for it.
        let count = self.counts.get(&key).copied().unwrap_or(0);
        let trusted = self.total as f64 * self.hot_threshold >= 1.0;
        let freq = if trusted {
            count as f64 / self.total as f64
        } else {
            0.0
        };
        let w = if freq < self.hot_threshold {
            (key % u64::from(self.n)) as u32
        } else {
            let loads = self.loads.loads();
            match self.mapped.get_mut(&key) {
                None => {
                    // Cannot be None: 0..n is non-empty.
                    let w = lightest(loads, 0..self.n).expect("at least one worker");
                    let n = self.n as usize;
                    let mut ws = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(n));
                    ws.push(w);
                    self.mapped.insert(key, (self.hot_threshold, ws));
                    w
                }
                Some((reference, ws)) if freq > *reference && ws.len() < self.n as usize => {
                    let unused = (0..self.n).filter(|w| !ws.contains(w));
                    let w = lightest(loads, unused).expect("a worker not yet mapped exists");
                    *reference *= self.delta;
                    ws.push(w);
                    w
                }
                Some((_, ws)) => lightest(loads, ws.iter().copied()).expect("a mapped key has a worker"),
            }
        };
        *self.counts.entry(key).or_insert(0) += 1;
        self.total += 1;
        self.loads.add(w as usize);
        w
    }

    fn write_state(&self, w: &mut StateWriter) {
        w.option_u64(self.next_refresh);
        w.u64(self.total);
        w.map(&self.counts, |w, &c| w.u64(c));
        w.map(&self.mapped, |w, (reference, ws)| {
            w.f64(*reference);
            w.u32s(ws);
        });
        self.loads.write_state(w);
    }

    fn read_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let n = self.n as usize;
        let next_refresh = r.option_u64("next refresh")?;
        let total = r.u64("records this period")?;
        let counts = r.map("key counts", 2, |r| r.u64("a key's count"))?;
        let mut used = vec![false; n];
        // A hot key's entry: its reference share (8 bytes), a length and a worker.
        let mapped = r.map("hot keys", 10, |r| {
            let reference = r.finite_f64("a hot key's reference share")?;
            let len = r.len("a hot key's workers", n, 1)?;
            // Capacity P, as the record path builds them: a key gaining a worker never reallocates.
            let mut ws = Vec::with_capacity(n);
            for _ in 0..len {
                let w = r.below("a hot key's worker", n as u64)? as u32;
                if std::mem::replace(&mut used[w as usize], true) {
                    return Err(StateError::corrupt(
                        "a hot key's worker",
                        format!("worker {w} listed twice"),
                    ));
                }
                ws.push(w);
            }
            ws.iter().for_each(|&w| used[w as usize] = false);
            if ws.is_empty() {
                return Err(StateError::corrupt("a hot key's workers", "none"));
            }
            Ok((reference, ws))
        })?;
        let loads = self.loads.read_state(r)?;
        r.end()?;
        self.next_refresh = next_refresh;
        self.total = total;
        self.counts = counts;
        self.mapped = mapped;
        self.loads = loads;
        Ok(())
    }
}
