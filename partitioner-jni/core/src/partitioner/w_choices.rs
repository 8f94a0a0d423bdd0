//! Partitioner that sends head keys to the least loaded of all workers and tail keys by PKG (W-Choices,
//! Nasir et al., "When Two Choices Are not Enough", ICDE 2016).

use super::{Partitioner, RouterConfig, argmin, pkg::Pkg};
use crate::error::{ConfigError, StateError};
use crate::space_saving::{Estimate, SpaceSaving};
use crate::state::{StateReader, StateWriter};

/// Head detection shared by D-Choices and W-Choices: a key is in the head when its guaranteed SpaceSaving
/// count (count − error) exceeds θ of the records this router has seen. The estimate itself is an upper
/// bound: a key that just took over a counter inherits the evicted key's count as error, which can be up to
/// `m / capacity`; with θ below `1 / capacity` (the default 1/(5P) is, from P = 21 on) every fresh tail key
/// would look like a head key and could reach any worker.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) summary: SpaceSaving,
    pub(crate) theta: f64,
}

impl Head {
    pub(crate) fn new(config: &RouterConfig) -> Result<Self, ConfigError> {
        let theta = config
            .choices
            .theta
            .unwrap_or(1.0 / (5.0 * f64::from(config.workers)));
        Ok(Self {
            summary: SpaceSaving::new(config.choices.capacity),
            theta,
        })
    }

    /// Counts `key` and says whether it is in the head.
    #[inline]
    pub(crate) fn observe(&mut self, key: u64) -> bool {
        self.summary.observe(key);
        let m = self.summary.total() as f64;
        self.summary
            .get(key)
            .is_some_and(|e| Self::guaranteed(&e) > self.theta * m)
    }

    /// The count `e`'s key is guaranteed to have (a lower bound of its true count).
    #[inline]
    pub(crate) fn guaranteed(e: &Estimate) -> f64 {
        (e.count - e.error) as f64
    }
}

/// Partitioner implementing W-Choices: head keys may use any worker (the least loaded by this router's
/// local counts), tail keys use PKG's two choices. Near-perfect balance, highest fragmentation of the
/// head.
#[derive(Debug, Clone)]
pub struct WChoices {
    n: u32,
    head: Head,
    sent: Vec<u64>,
}

impl WChoices {
    /// A W-Choices partitioner; θ defaults to 1/(5P).
    pub fn new(config: &RouterConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            n: config.workers,
            head: Head::new(config)?,
            sent: vec![0; config.workers as usize],
        })
    }
}

impl Partitioner for WChoices {
    fn name(&self) -> &'static str {
        "w-choices"
    }

    fn workers(&self) -> u32 {
        self.n
    }

    #[inline]
    fn route(&mut self, key: u64, _ts_ms: u64) -> u32 {
        if self.head.observe(key) {
            let w = argmin(self.sent.iter().copied());
            self.sent[w] += 1;
            w as u32
        } else {
            Pkg::choose(&mut self.sent, key, self.n)
        }
    }

    fn write_state(&self, w: &mut StateWriter) {
        self.head.summary.write_state(w);
        w.u64s(&self.sent);
    }

    fn read_state(&mut self, r: &mut StateReader<'_>) -> Result<(), StateError> {
        let summary = self.head.summary.read_state(r)?;
        let sent = r.u64s("records sent per worker", self.sent.len())?;
        r.end()?;
        self.head.summary = summary;
        self.sent = sent;
        Ok(())
    }
}
