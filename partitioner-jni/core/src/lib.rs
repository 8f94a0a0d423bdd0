//! The SaS router core: everything that decides where a record goes, with no JNI, Flink or network in it.
//!
//! # Layout
//!
//! * [`hashing`]: murmur3 and the prototype's two key hashes, Flink's murmur mix, choice hashes.
//! * [`key_groups`]: Flink's key-group arithmetic and the per-worker inverse key table used by `keyBy`.
//! * [`partitioner`]: the [`Partitioner`](partitioner::Partitioner) trait, one file per strategy, and
//!   [`build`](partitioner::build) by name from a [`RouterConfig`](partitioner::RouterConfig).
//! * [`hot_keys`]: hot-key ranks, static (key = popularity rank) or online ([`space_saving`] heavy
//!   hitters with hysteresis and expiry); [`interval_hot`]: DAGreedy's and Dalton's per-interval detection.
//! * [`mask`], [`routing_table`], [`deficit`]: which workers a hot key may use, action → table decoding,
//!   and the per-record rule that realises a table's shares.
//! * [`clock`]: the wall clock reporting intervals are numbered by, and a manual one for tests.
//! * [`window`]: event-time sliding windows of loads and key holdings.
//! * [`workload`]: seeded stream generators; [`metrics`]: λ and NMAD, the one implementation every
//!   tool reports.
//! * [`params`]: the schema of a `params/*.yaml` experiment, with every default, and the views derived
//!   from it.
//! * [`limits`]: every size a request or a params file may carry (workers, routers, hot keys, mask
//!   ranges, messages, sessions), checked before anything of that size is allocated.
//! * [`state`]: a router's saved state (the envelope and the checked encoding behind
//!   [`save_state`](partitioner::Partitioner::save_state) and
//!   [`restore_state`](partitioner::Partitioner::restore_state)), what a Flink checkpoint keeps.
//!
//! Two crates sit on top of this one and nothing here knows them: `sas-agent-link` (the gRPC client to
//! the agent: tokio and tonic) and `sas-router-jni` (the JNI adapter the Flink job loads).

#![deny(missing_docs)]

pub mod clock;
pub mod deficit;
pub mod error;
pub mod fast_map;
pub mod hashing;
pub mod hot_keys;
pub mod interval_hot;
pub mod key_groups;
pub mod limits;
pub mod mask;
pub mod metrics;
pub mod params;
pub mod partitioner;
pub mod routing_table;
pub mod space_saving;
pub mod state;
pub mod window;
pub mod workload;

pub use error::{ConfigError, DecodeError, StateError};
pub use partitioner::{NAMES, Partitioner, RouterConfig, build};
