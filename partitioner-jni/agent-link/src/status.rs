//! The link's status counters: written by the link's task and the handles, read by anyone, all atomics.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Counters of one link (one session), shared by every router and worker handle on it.
#[derive(Debug, Default)]
pub struct LinkStatus {
    /// A session is open and its table stream is live.
    connected: AtomicBool,
    pub(crate) tables_received: AtomicU64,
    pub(crate) model_version: AtomicU64,
    pub(crate) last_table_step: AtomicU64,
    pub(crate) reports_sent: AtomicU64,
    pub(crate) reports_dropped: AtomicU64,
    pub(crate) reconnects: AtomicU64,
}

impl LinkStatus {
    /// Whether a session is open and its table stream live.
    #[inline]
    pub fn connected(&self) -> bool {
        self.connected.load(Relaxed)
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Relaxed);
    }

    pub(crate) fn count(counter: &AtomicU64) {
        Self::add(counter, 1);
    }

    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Relaxed);
    }

    /// The link's counters, with a handle's own `fallback_active` and `tables_applied`.
    pub fn snapshot(&self, fallback_active: bool, tables_applied: u64) -> StatusSnapshot {
        StatusSnapshot {
            connected: self.connected(),
            tables_received: self.tables_received.load(Relaxed),
            model_version: self.model_version.load(Relaxed),
            last_table_step: self.last_table_step.load(Relaxed),
            reports_sent: self.reports_sent.load(Relaxed),
            reports_dropped: self.reports_dropped.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            fallback_active,
            tables_applied,
        }
    }
}

/// One router's own status: written by its record path, read by any thread.
///
/// The record path keeps plain copies for itself (`using_fallback` is read per record) and mirrors them
/// here at each check (every `CHECK_EVERY` records) or applied table, so a reader on another thread (the JVM's metrics thread) never reads a field the router writes.
#[derive(Debug, Default)]
pub(crate) struct RouterCounters {
    fallback_active: AtomicBool,
    tables_applied: AtomicU64,
}

impl RouterCounters {
    pub(crate) fn set_fallback_active(&self, active: bool) {
        self.fallback_active.store(active, Relaxed);
    }

    pub(crate) fn count_table_applied(&self) {
        self.tables_applied.fetch_add(1, Relaxed);
    }

    /// Whether the router routes with the fallback, as of its last check.
    pub(crate) fn fallback_active(&self) -> bool {
        self.fallback_active.load(Relaxed)
    }

    /// Tables the router applied.
    pub(crate) fn tables_applied(&self) -> u64 {
        self.tables_applied.load(Relaxed)
    }
}

/// What a handle reports about its link. [`to_array`](Self::to_array) gives the fields in the order of
/// [`FIELDS`](Self::FIELDS), which is what `NativeRouter.agentStatus` returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusSnapshot {
    /// A session is open and its table stream is live.
    pub connected: bool,
    /// Routing tables received since the link started (every session).
    pub tables_received: u64,
    /// Model version of the newest table.
    pub model_version: u64,
    /// Step of the newest table (0 = a session's initial table).
    pub last_table_step: u64,
    /// Reports the agent answered (accepted, or late for a closed step).
    pub reports_sent: u64,
    /// Reports not delivered: queue full, no session open, or the call failed or timed out.
    pub reports_dropped: u64,
    /// Sessions re-opened after the first one (each follows a lost connection or a refused open).
    pub reconnects: u64,
    /// This router routes with the fallback baseline (always false for a worker).
    pub fallback_active: bool,
    /// Tables this router applied to its partitioner (0 for a worker, or in `collect` mode).
    pub tables_applied: u64,
}

impl StatusSnapshot {
    /// Names of [`to_array`](Self::to_array)'s elements, in order.
    pub const FIELDS: [&'static str; 9] = [
        "connected",
        "tables_received",
        "model_version",
        "last_table_step",
        "reports_sent",
        "reports_dropped",
        "reconnects",
        "fallback_active",
        "tables_applied",
    ];

    /// The fields as numbers (booleans as 0/1), in the order of [`FIELDS`](Self::FIELDS).
    pub fn to_array(&self) -> [u64; 9] {
        [
            u64::from(self.connected),
            self.tables_received,
            self.model_version,
            self.last_table_step,
            self.reports_sent,
            self.reports_dropped,
            self.reconnects,
            u64::from(self.fallback_active),
            self.tables_applied,
        ]
    }
}
