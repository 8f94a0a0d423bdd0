//! Partitioner that keeps a key on the candidate that already holds it and otherwise picks the candidate
//! with fewer records (cAM, Katsipoulakis et al., "A Holistic View of Stream Partitioning Costs", VLDB'17).

use super::{Partitioner, RouterConfig, two_choices};
use crate::error::StateError;
use crate::state::{StateReader, StateWriter};
use crate::window::{WindowedLoads, WindowedPresence};

/// Partitioner implementing cAM over the aggregation window: if the first candidate holds the key within
/// the window, use it; else if the second does, use it; else the candidate with fewer records in the window
/// (the first wins ties). Holdings and loads expire with the window, which the prototype's copy never did.
#[derive(Debug, Clone)]
pub struct Cam {
    n: u32,
    loads: WindowedLoads,
    presence: WindowedPresence,
}

impl Cam {
    /// A cAM partitioner over the config's window.
    pub fn new(config: &RouterConfig) -> Self {
        let n = config.workers as usize;
        Self {
            n: config.workers,
            loads: WindowedLoads::new(n, config.window()),
            presence: WindowedPresence::new(n, config.window()),
        }
    }
}

impl Partitioner for Cam {
    fn name(&self) -> &'static str {
        "cam"
    }

    fn workers(&self) -> u32 {
        self.n
    }

    #[inline]
    fn route(&mut self, key: u64, ts_ms: u64) -> u32 {
        self.loads.advance(ts_ms);
        self.presence.advance(ts_ms);
        let (h1, h2) = two_choices(key, self.n);
        let sticks_to_h2 = !self.presence.contains(key, h1) && self.presence.contains(key, h2);
        let h2_lighter = self.loads.loads()[h2 as usize] < self.loads.loads()[h1 as usize];
        let w = if self.presence.contains(key, h1) {
            h1
        } else if sticks_to_h2 || h2_lighter {
            h2
        } else {
            h1
        };
        self.loads.add(w as usize);
        self.presence.add(key, w);
        w
    }

    fn write_state(&self, w: &mut StateWriter) {
        self.loads.write_state(w);
        self.presence.write_state(w);
    }

    fn read_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let loads = self.loads.read_state(r)?;
        let presence = self.presence.read_state(r)?;
        r.end()?;
        self.loads = loads;
        self.presence = presence;
        Ok(())
    }
}
