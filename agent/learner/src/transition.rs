//! [`Transition`], the one record of a step from collection to replay to offline data: the environment's
//! step result carries one, the agent's sessions build one per closed step, the replay buffer stores them
//! and an offline dataset is a file of them, one JSON object per line.
//!
//! The action is in **env space** `[0, 1]^A`, the space routers decode and datasets record. The policy's
//! `[-1, 1]^A` space exists only inside the learners: [`crate::PrioritizedReplay::push`] and
//! [`crate::Batch::from_transitions`] convert it there, once (see [`crate::action`]).

use serde::{Deserialize, Serialize};

/// One environment step `(s, a, r, s')` with its end flags and the balance it measured.
///
/// Serialised as an offline dataset's line (format version 1, field names and order as written):
/// `{"step": u64, "obs": [f32], "action": [f32], "reward": f32, "next_obs": [f32], "terminated": bool,
/// "truncated": bool, "imbalance": f64, "nmad": f64}`. Unknown fields are an error, so a line of another
/// format is never half read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    /// Index of the step in its producer's run (for the record; learners ignore it).
    pub step: u64,
    /// Observation `s` before the action.
    pub obs: Vec<f32>,
    /// Action `a`, env space `[0, 1]^A`, mask order.
    pub action: Vec<f32>,
    /// Reward `r` of the interval that followed `a`.
    pub reward: f32,
    /// Observation `s'` after the interval.
    pub next_obs: Vec<f32>,
    /// The episode really ended at `s'`: no value beyond it, so the target does not bootstrap. Always
    /// false for routing, a continuing task.
    pub terminated: bool,
    /// The episode was cut short at `s'` (time limit, logical episode end): the target still bootstraps.
    pub truncated: bool,
    /// λ of the interval's busy time (`sas_router::metrics`), for logs and datasets; learners ignore it.
    pub imbalance: f64,
    /// NMAD of the interval's busy time, for logs and datasets; learners ignore it.
    pub nmad: f64,
}
