//! The environment the learners act in: one trait for the simulator and (later) the live Flink job.
//!
//! * [`features`]: observations and rewards from one interval's measurements, the one code path for
//!   live steps, the simulator and offline datasets.
//! * [`sim`]: the simulator, which routes generated records through the router core.
//!
//! # Conventions
//!
//! An action is in **env space** `[0, 1]^A`, one weight per mask pair in mask order (key-major, then
//! ascending worker); the router decodes it with [`RoutingTable::decode`](sas_router::routing_table::RoutingTable::decode),
//! normalising each key's weights to shares. Learners that think in a squashed `[−1, 1]` space convert at
//! their own edge (`a_env = (a + 1)/2`); nothing here does.
//!
//! Episodes end by **truncation only**: `terminated` is always false. Routing is a continuing task (the
//! stream never ends and no state is absorbing), so an episode is a logical window of `episode_length`
//! steps and the learner must still bootstrap from the next observation at its end. The prototype marked
//! those ends terminal, which taught its critic that the future stops every 128 steps.

pub mod features;
pub mod sim;

use sas_learner::Transition;
use sas_router::error::DecodeError;
use sas_router::mask::Mask;
use thiserror::Error;

pub use features::FeatureError;

/// An environment with a fixed mask, stepped one reporting interval at a time.
///
/// `reset` does not restart the stream: it starts a new logical episode and returns the current
/// observation (the last one of the previous episode, or one warm-up interval's on first use).
///
/// # Examples
/// ```
/// use sas_agent::env::Environment;
/// use sas_agent::env::sim::{SimConfig, Simulator};
///
/// let config = SimConfig { workers: 8, records_per_step: 2_000, ..SimConfig::default() };
/// let mut env = Simulator::new(config).unwrap();
/// let obs = env.reset();
/// assert_eq!(obs.len(), env.observation_dim());
/// let step = env.step(&vec![1.0; env.action_dim()]).unwrap();
/// assert_eq!(step.transition.obs, obs);
/// assert!(!step.transition.terminated);
/// assert!(step.transition.imbalance >= 0.0);
/// assert!(env.step(&[0.5]).is_err());
/// ```
pub trait Environment: Send + std::fmt::Debug {
    /// Length of an observation: 2P (normalised counts, then busy ratios).
    fn observation_dim(&self) -> usize;

    /// Length of an action: the mask's number of (key, worker) pairs.
    fn action_dim(&self) -> usize;

    /// The mask that fixes the action layout.
    fn mask(&self) -> &Mask;

    /// Starts a new logical episode and returns the current observation.
    fn reset(&mut self) -> Vec<f32>;

    /// Applies `action` (env space, mask order) for one interval and returns what followed.
    ///
    /// # Errors
    /// [`EnvError::Action`] / [`EnvError::ActionRange`] for a wrong length or a NaN, infinite or
    /// out-of-`[0, 1]` element (the environment is left unchanged); [`EnvError::Features`] when the
    /// measurements cannot be turned into an observation.
    fn step(&mut self, action: &[f64]) -> Result<Step, EnvError>;
}

/// What one step yields: its transition and the interval's busy time.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The step: `obs` is the observation the action was taken in (the one `reset` or the previous step
    /// returned; empty on a first step taken without `reset`), `action` the action as applied, `next_obs`
    /// the observation after the interval (length [`Environment::observation_dim`]), `reward` as in
    /// [`features`], `terminated` always false (see the module docs), `truncated` true on the last step of
    /// a logical episode, `imbalance` and `nmad` of the interval's busy time. `step` counts the
    /// environment's intervals from 0, a warm-up interval included.
    pub transition: Transition,
    /// Busy time per worker, ms per second in `[0, 1000]`.
    pub busy: Vec<f64>,
}

/// A step could not be taken.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum EnvError {
    /// The action does not decode (wrong length, NaN, infinite or negative element).
    #[error("bad action: {0}")]
    Action(#[from] DecodeError),
    /// An element is above 1: the action is not in env space (a module-space or raw-count action?).
    #[error("bad action: action[{index}] = {value} is above 1; actions are in env space [0, 1]")]
    ActionRange {
        /// Position in the action.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A partitioner handed to the environment routes to a different number of workers.
    #[error("partitioner `{name}` routes to {got} workers, the environment has {expected}")]
    Workers {
        /// The partitioner's name.
        name: &'static str,
        /// Workers of the environment.
        expected: usize,
        /// Workers of the partitioner.
        got: usize,
    },
    /// The interval's measurements are unusable.
    #[error(transparent)]
    Features(#[from] FeatureError),
}

/// Checks an env-space action against `mask`: exact length, every element finite and in `[0, 1]`.
///
/// # Errors
/// [`EnvError::Action`] for a wrong length or a NaN, infinite or negative element;
/// [`EnvError::ActionRange`] for an element above 1.
pub fn check_action(mask: &Mask, action: &[f64]) -> Result<(), EnvError> {
    // Exact length: the router's "dropped single-worker keys" mode is a wire option, not an env one.
    if action.len() != mask.action_dim() {
        return Err(DecodeError::WrongDimension {
            expected: mask.action_dim(),
            got: action.len(),
        }
        .into());
    }
    for (index, &value) in action.iter().enumerate() {
        if !value.is_finite() || value < 0.0 {
            return Err(DecodeError::BadValue { index, value }.into());
        }
        if value > 1.0 {
            return Err(EnvError::ActionRange { index, value });
        }
    }
    Ok(())
}
