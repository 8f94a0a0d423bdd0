//! Partitioner that sends a key to whichever of its two candidates holds fewer distinct keys (CM,
//! Katsipoulakis et al., "A Holistic View of Stream Partitioning Costs", VLDB'17).

use super::{Partitioner, RouterConfig, two_choices};
use crate::error::StateError;
use crate::state::{StateReader, StateWriter};
use crate::window::WindowedPresence;

/// Partitioner implementing CM: the candidate with the smaller windowed cardinality (number of distinct
/// keys it received within the window) gets the record; the first candidate wins ties.
#[derive(Debug, Clone)]
pub struct Cm {
    n: u32,
    presence: WindowedPresence,
}

impl Cm {
    /// A CM partitioner over the config's window.
    pub fn new(config: &RouterConfig) -> Self {
        Self {
            n: config.workers,
            presence: WindowedPresence::new(config.workers as usize, config.window()),
        }
    }
}

impl Partitioner for Cm {
    fn name(&self) -> &'static str {
        "cm"
    }

    fn workers(&self) -> u32 {
        self.n
    }

    #[inline]
    fn route(&mut self, key: u64, ts_ms: u64) -> u32 {
        self.presence.advance(ts_ms);
        let (h1, h2) = two_choices(key, self.n);
        let w = if self.presence.cardinality(h2) < self.presence.cardinality(h1) {
            h2
        } else {
            h1
        };
        self.presence.add(key, w);
        w
    }

    fn write_state(&self, w: &mut StateWriter) {
        self.presence.write_state(w);
    }

    fn read_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let presence = self.presence.read_state(r)?;
        r.end()?;
        self.presence = presence;
        Ok(())
    }
}
