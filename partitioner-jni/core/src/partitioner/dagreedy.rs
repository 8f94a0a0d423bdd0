//! Partitioner that trades key affinity against load greedily for hot keys and sends cold keys to
//! `key mod P` (DAGreedy, Pacaci and Özsu, BeyondMR'18).

use super::{Partitioner, RouterConfig};
use crate::error::StateError;
use crate::interval_hot::IntervalHotKeys;
use crate::state::{StateReader, StateWriter};
use crate::window::{WindowedLoads, WindowedPresence};

/// Partitioner implementing DAGreedy: a hot key goes to
/// `argmax_w 0.5·[w holds k in the window] − 0.5·(L_w − L̄)/L̄` (first maximum wins), with loads and
/// holdings over the aggregation window. Holdings are kept per (key, worker), not in bitsets shared between
/// slides (the prototype's aliasing made its fragmentation approximate).
#[derive(Debug, Clone)]
pub struct DaGreedy {
    n: u32,
    hot: IntervalHotKeys,
    loads: WindowedLoads,
    presence: WindowedPresence,
    holds: Vec<bool>,
}

impl DaGreedy {
    /// A DAGreedy partitioner; the hot interval is the window slide.
    pub fn new(config: &RouterConfig) -> Self {
        let n = config.workers as usize;
        Self {
            n: config.workers,
            hot: IntervalHotKeys::new(config.workers, config.slide_ms),
            loads: WindowedLoads::new(n, config.window()),
            presence: WindowedPresence::new(n, config.window()),
            holds: vec![false; n],
        }
    }
}

impl Partitioner for DaGreedy {
    fn name(&self) -> &'static str {
        "dagreedy"
    }

    fn workers(&self) -> u32 {
        self.n
    }

    fn route(&mut self, key: u64, ts_ms: u64) -> u32 {
        let (hot, _) = self.hot.observe(key, ts_ms);
        self.loads.advance(ts_ms);
        let w = if hot {
            self.presence.advance(ts_ms);
            self.holds.fill(false);
            let holds = &mut self.holds;
            self.presence.for_each_holder(key, |w| holds[w as usize] = true);
            let mean = self.loads.sum() as f64 / f64::from(self.n);
            let mut best = 0;
            let mut best_score = f64::NEG_INFINITY;
            for (w, (&load, &held)) in self.loads.loads().iter().zip(&self.holds).enumerate() {
                let affinity = if held { 1.0 } else { 0.0 };
                let overload = if mean > 0.0 {
                    (load as f64 - mean) / mean
                } else {
                    0.0
                };
                let score = 0.5 * affinity - 0.5 * overload;
                if score > best_score {
                    best = w;
                    best_score = score;
                }
            }
            self.presence.add(key, best as u32);
            best as u32
        } else {
            (key % u64::from(self.n)) as u32
        };
        self.loads.add(w as usize);
        w
    }

    fn write_state(&self, w: &mut StateWriter) {
        self.hot.write_state(w);
        self.loads.write_state(w);
        self.presence.write_state(w);
    }

    fn read_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let hot = self.hot.read_state(r)?;
        let loads = self.loads.read_state(r)?;
        let presence = self.presence.read_state(r)?;
        r.end()?;
        self.hot = hot;
        self.loads = loads;
        self.presence = presence;
        Ok(())
    }
}
