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
//! * `mlp`, `ops` and `kernels` (private): the hand-written forward and backward of the MLPs that SAC-N's
//!   update runs, the fused candle ops that CQL-N and inference run, and the slice kernels under both.
//!
//! Errors are one enum, [`LearnerError`]; bad input (wrong dimensions, NaN, a checkpoint of another model)
//! is an error, never a panic. Every random draw comes from `SacConfig::seed`.
//!
//! # Speed
//!
//! Stock candle runs a SAC-N update at about a third of torch's speed on CPU. The variables stay candle
//! `Var`s (checkpoints, snapshots and CQL-N's autograd use them), but [`SacN::update`] does not go through
//! candle's autograd: `mlp.rs` writes out the forward and backward of the fixed tanh MLPs over the `gemm`
//! crate, with the bias and `tanh` fused into each product, only the gradients the losses need, every
//! buffer kept between updates, the policy's two passes on one thread each and each ensemble member's
//! whole chain on its own thread. Its gradients are checked against the same losses in plain candle
//! (`sac_n::tests::fast_update_matches_plain_candle`). CQL-N's update uses the fused candle ops of `ops.rs`.

#![deny(missing_docs)]

pub mod action;
pub mod adam;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod cql_n;
mod error;
mod kernels;
mod mlp;
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
