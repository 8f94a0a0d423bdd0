//! Partitioner that sends each key to the less loaded of two hashed candidates (Partial Key Grouping,
//! Nasir et al., ICDE 2015).

use super::{Partitioner, RouterConfig, two_choices};
use crate::error::StateError;
use crate::state::{StateReader, StateWriter};

/// Partitioner implementing PKG with local load estimation: this router's own cumulative count of
/// records sent to each worker decides between the key's two candidates (ties go to the first).
/// A key reaches at most two workers.
#[derive(Debug, Clone)]
pub struct Pkg {
    n: u32,
    sent: Vec<u64>,
}

impl Pkg {
    /// A PKG partitioner over `config.workers` workers.
    pub fn new(config: &RouterConfig) -> Self {
        Self {
            n: config.workers,
            sent: vec![0; config.workers as usize],
        }
    }

    /// Routes by the two choices and counts the record; shared with the tail of D- and W-Choices.
    #[inline]
    pub(crate) fn choose(sent: &mut [u64], key: u64, n: u32) -> u32 {
        let (h1, h2) = two_choices(key, n);
        let w = if sent[h2 as usize] < sent[h1 as usize] {
            h2
        } else {
            h1
        };
        sent[w as usize] += 1;
        w
    }
}

impl Partitioner for Pkg {
    fn name(&self) -> &'static str {
        "pkg"
    }

    fn workers(&self) -> u32 {
        self.n
    }

    #[inline]
    fn route(&mut self, key: u64, _ts_ms: u64) -> u32 {
        Self::choose(&mut self.sent, key, self.n)
    }

    fn write_state(&self, w: &mut StateWriter) {
        w.u64s(&self.sent);
    }

    fn read_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let sent = r.u64s("records sent per worker", self.sent.len())?;
        r.end()?;
        self.sent = sent;
        Ok(())
    }
}
