//! A worker's side of the link: one report per interval with its busy and back-pressured time.

use super::LinkError;
use super::registry::LinkRef;
use super::shared::LinkShared;
use super::status::{LinkStatus, StatusSnapshot};
use super::task::Report;
use sas_proto::pb;
use sas_router::error::ConfigError;
use sas_router::params::Params;
use std::sync::Arc;
use thiserror::Error;
use tokio::sync::mpsc;

/// One worker's load over one interval, as measured by the job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkerInterval {
    /// The wall-clock interval, `now_ms / agent.interval_ms` (see [`AgentLinkConfig::interval_ms`]).
    ///
    /// [`AgentLinkConfig::interval_ms`]: super::AgentLinkConfig::interval_ms
    pub interval: u64,
    /// Time spent processing records in the interval (ms).
    pub busy_ms: f64,
    /// Time blocked on full output buffers in the interval (ms).
    pub backpressured_ms: f64,
    /// Length of the interval as the worker measured it (ms).
    pub interval_ms: f64,
    /// Records received in the interval.
    pub records_in: u64,
}

/// A worker report that cannot be sent; the message names the argument.
#[derive(Debug, Error, Clone, PartialEq)]
#[error("invalid `{field}` = {value}: {reason}")]
pub struct ReportError {
    /// The argument.
    pub field: &'static str,
    /// Its value.
    pub value: f64,
    /// What is allowed.
    pub reason: &'static str,
}

/// Sends one worker's reports on the JVM's link to the agent.
#[derive(Debug)]
pub struct WorkerReporter {
    worker: u32,
    shared: Arc<LinkShared>,
    reports: mpsc::Sender<Report>,
    _link: LinkRef,
}

impl WorkerReporter {
    /// The reporter of worker `worker` of the job in `params`.
    ///
    /// # Errors
    /// [`LinkError::Config`] for `worker >= workers`; otherwise as [`LinkRef::acquire`].
    pub fn open(params: &Params, worker: u32) -> Result<Self, LinkError> {
        if params.agent_link().is_none() {
            return Err(LinkError::NoAgent);
        }
        if worker >= params.workers {
            return Err(ConfigError::invalid(
                "worker",
                worker,
                format!("must be < workers ({})", params.workers),
            )
            .into());
        }
        let link = LinkRef::acquire(params)?;
        Ok(Self {
            worker,
            shared: link.shared(),
            reports: link.reports(),
            _link: link,
        })
    }

    /// Queues a report without waiting: `Ok(false)` when the queue is full (the report is dropped and
    /// counted).
    ///
    /// # Errors
    /// [`ReportError`] for a negative, NaN or infinite time, or an interval length that is not > 0.
    pub fn report(&self, r: &WorkerInterval) -> Result<bool, ReportError> {
        for (field, value) in [("busyMs", r.busy_ms), ("backpressuredMs", r.backpressured_ms)] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(ReportError {
                    field,
                    value,
                    reason: "must be a finite number >= 0",
                });
            }
        }
        if !(r.interval_ms.is_finite() && r.interval_ms > 0.0) {
            return Err(ReportError {
                field: "intervalMs",
                value: r.interval_ms,
                reason: "must be a finite number > 0",
            });
        }
        let report = pb::WorkerReport {
            session_id: String::new(),
            interval: r.interval,
            worker: self.worker,
            busy_ms: r.busy_ms,
            backpressured_ms: r.backpressured_ms,
            interval_ms: r.interval_ms,
            records_in: r.records_in,
        };
        let queued = self.reports.try_send(Report::Worker(report)).is_ok();
        if !queued {
            LinkStatus::count(&self.shared.status.reports_dropped);
        }
        Ok(queued)
    }

    /// The link's counters.
    pub fn status(&self) -> StatusSnapshot {
        self.shared.status.snapshot(false, 0)
    }
}
