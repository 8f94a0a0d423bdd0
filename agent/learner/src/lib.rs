//! The SaS learners: SAC-N for online fine-tuning and CQL-N for offline pre-training of the routing policy,
//! on candle, with prioritized replay, lock-free policy snapshots for serving, and checkpoints.
//!
//! # Layout
//!
//! * [`config`]: [`SacConfig`] and [`CqlConfig`], every hyperparameter with its default and validation.
//! * [`nets`]: the policy (squashed Gaussian) and the critic ensemble, built from a candle `VarBuilder`.
//! * [`sac_n`]: [`SacN`], the online learner; its module doc lists the update and the metric names.
//! * [`cql_n`]: [`CqlN`], the offline learner: SAC-N plus the conservative penalty and a behaviour-cloning
//!   phase.
//! * [`transition`]: [`Transition`], one step from collection to replay to offline data (env-space action).
//! * [`replay`]: [`PrioritizedReplay`] and the [`Batch`] it samples (policy-space actions).
//! * [`action`]: the env-space `[0, 1]` / policy-space `[-1, 1]` action conversions.
//! * [`adam`]: [`Adam`], whose moments and step count are saveable.
//! * [`snapshot`]: [`PolicySnapshot`], the policy as plain vectors with a one-observation forward.
//! * [`checkpoint`]: save and load a learner as a directory of safetensors and JSON.
//! * [`bench`](mod@bench): updates per second and single-observation latency at the prototype's sizes.
//! * `ops` and `kernels` (private): the fused candle ops and the vectorised slice kernels under them.
//!
//! Errors are one enum, [`LearnerError`]; bad input (wrong dimensions, NaN, a checkpoint of another model)
//! is an error, never a panic. Every random draw comes from `SacConfig::seed`.
//!
//! # Speed
//!
//! Stock candle runs a SAC-N update at about a third of torch's speed on CPU. The learners here keep
//! candle's tensors, variables and autograd, but every dense layer is one fused op that calls `gemm`
//! directly, adds the bias and applies `tanh` in the same pass, splits ensemble members over threads, and
//! returns gradients only for tracked arguments; the squashed-Gaussian sample and log-probability is one op
//! too, and Adam and the Polyak update are single in-place passes.

#![deny(missing_docs)]

pub mod action;
pub mod adam;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod cql_n;
mod error;
mod kernels;
pub mod nets;
mod ops;
pub mod replay;
pub mod sac_n;
pub mod snapshot;
pub mod transition;

pub use adam::Adam;
pub use checkpoint::{CheckpointMeta, Expected};
pub use config::{CqlConfig, SacConfig};
pub use cql_n::{CqlN, CqlStats};
pub use error::{LearnerError, Result};
pub use replay::{Batch, PrioritizedReplay};
pub use sac_n::{SacN, UpdateStats};
pub use snapshot::PolicySnapshot;
pub use transition::Transition;
