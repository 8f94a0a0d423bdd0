//! What answers a step: an observation in, an env-space action out, at once.
//!
//! Serving never waits for training: a policy answers from the latest weights it holds, and learning
//! (when a policy learns) happens on another thread that it feeds through [`ActionPolicy::learn`].

use sas_learner::Transition;
use std::fmt::Debug;

/// A policy the agent serves.
pub trait ActionPolicy: Send + Sync + Debug {
    /// The env-space action (mask order, each element in [0, 1]) for `obs`: the deterministic one when
    /// `deterministic`, a sample otherwise. Must return at once.
    fn act(&self, obs: &[f32], deterministic: bool) -> Vec<f64>;

    /// Version of the weights answering now (0 = no model).
    fn version(&self) -> u64;

    /// Hands one step's transition (env-space action) to learning without blocking. Policies that do not
    /// learn ignore it.
    fn learn(&self, _transition: Transition) {}

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
