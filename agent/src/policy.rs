//! What answers a step: an observation in, an env-space action out, at once.
//!
//! Serving never waits for training: a policy answers from the latest weights it holds, and learning
//! (when a policy learns) happens on another thread that it feeds through [`ActionPolicy::learn`].

use std::fmt::Debug;

/// One step's experience, in the env's action space.
#[derive(Debug, Clone, PartialEq)]
pub struct Experience {
    /// Observation the action was taken in.
    pub obs: Vec<f32>,
    /// The action (env space [0, 1], mask order).
    pub action: Vec<f32>,
    /// Reward of the interval that followed.
    pub reward: f32,
    /// Observation after it.
    pub next_obs: Vec<f32>,
    /// Always false here: routing never ends; kept for the learner's bootstrap mask.
    pub terminated: bool,
    /// True at an episode boundary (a truncation: the next step still bootstraps).
    pub truncated: bool,
}

/// A policy the agent serves.
pub trait ActionPolicy: Send + Sync + Debug {
    /// The env-space action (mask order, each element in [0, 1]) for `obs`: the deterministic one when
    /// `deterministic`, a sample otherwise. Must return at once.
    fn act(&self, obs: &[f32], deterministic: bool) -> Vec<f64>;

    /// Version of the weights answering now (0 = no model).
    fn version(&self) -> u64;

    /// Hands one step's experience to learning without blocking. Policies that do not learn ignore it.
    fn learn(&self, _experience: Experience) {}

    /// Stops learning and saves what was learned (the session is closing). Serving still works.
    fn finish(&self) {}
}

/// The initial routing table: uniform inside each mask range (an all-ones action), model version 0.
#[derive(Debug, Clone)]
pub struct InitialTable {
    action_dim: usize,
}

impl InitialTable {
    /// The initial table for actions of `action_dim` elements.
    pub fn new(action_dim: usize) -> Self {
        Self { action_dim }
    }
}

impl ActionPolicy for InitialTable {
    fn act(&self, _obs: &[f32], _deterministic: bool) -> Vec<f64> {
        vec![1.0; self.action_dim]
    }

    fn version(&self) -> u64 {
        0
    }
}
