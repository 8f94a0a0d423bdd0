//! The agent link: how routers and workers in a JVM talk to the SaS agent over gRPC, beside the router
//! core and free of JNI types (the JNI layer calls it; nothing here knows about the JVM).
//!
//! # Layout
//!
//! The settings are the `agent:` section of the params, [`AgentLinkConfig`] in the router core
//! (`sas_router::params`), validated there with errors naming the key; the session key every subtask of a
//! job derives alike is [`Params::session_key`](sas_router::params::Params::session_key).
//!
//! * [`registry`]: one link per `(address, session key)` in the process, counted by [`LinkRef`]s and
//!   stopped with the last one.
//! * `link`, `task`, `session`: a link is one thread with a single-threaded tokio runtime, one gRPC
//!   channel and one session. Its task opens the session (back-off with jitter, [`Backoff`]), subscribes
//!   to tables, publishes each into the [`TableSlot`], re-opens with the same key when the stream ends,
//!   and sends queued reports.
//! * [`LinkedRouter`]: the record path of a router on a link (counts, interval reports, tables, and the
//!   [`fallback`] state machine); [`WorkerReporter`]: a worker's reports.
//! * [`status`]: the atomic counters every handle can read; `shared`: the counters and the slot a
//!   link's task and its handles share; `sas_router::clock`: the wall clock intervals are numbered by, injectable
//!   for tests.
//!
//! `docs/agent-link.md` describes the behaviour; `docs/config.md` the settings.

pub mod backoff;
pub mod fallback;
mod link;
pub mod linked_router;
pub mod registry;
mod session;
mod shared;
pub mod slot;
pub mod status;
mod task;
pub mod worker;

pub use backoff::Backoff;
pub use linked_router::{LinkedRouter, StatusReader};
pub use registry::LinkRef;
pub use sas_router::params::{AgentLinkConfig, BackoffConfig, LinkMode};
pub use shared::LinkShared;
pub use slot::{Table, TableSlot};
pub use status::{LinkStatus, StatusSnapshot};
pub use worker::{ReportError, WorkerInterval, WorkerReporter};

use sas_router::error::ConfigError;
use thiserror::Error;

/// Why a router or worker could not be attached to the agent.
#[derive(Debug, Error)]
pub enum LinkError {
    /// The params have no `agent.address`.
    #[error("no agent configured: set `agent.address` in the params")]
    NoAgent,
    /// A setting is out of range (the message names it).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The address is not one tonic can connect to.
    #[error("invalid `agent.address` = {address}: {reason}")]
    Address {
        /// The address.
        address: String,
        /// Why it was refused.
        reason: String,
    },
    /// The link's thread or runtime could not start.
    #[error("cannot start the agent link: {0}")]
    Runtime(#[from] std::io::Error),
}
