//! Assembles steps from reports: one step per reporting interval, closed when every worker and every
//! router of the interval has reported, or at a deadline, a missing worker's load imputed with its last
//! known one and a missing router's counts left out, both counted in the [`ClosedStep`]. Intervals close in
//! order: a complete interval waits while an older one is still open.
//!
//! Pure bookkeeping, no gRPC and no clock of its own: the server hands it reports and the current time,
//! so it is tested without sockets or sleeps.

use std::collections::BTreeMap;
use thiserror::Error;

/// The shape of a session's reports.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportShape {
    /// Number of workers P.
    pub workers: usize,
    /// Number of routers reporting.
    pub routers: usize,
    /// Intervals averaged into one observation and one reward.
    pub window_intervals: usize,
    /// Action dimension A (length of a router's pair counts, when it sends them).
    pub action_dim: usize,
}

/// One worker's load over one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerLoad {
    /// Interval number.
    pub interval: u64,
    /// Worker index.
    pub worker: usize,
    /// Busy time (ms).
    pub busy_ms: f64,
    /// Back-pressured time (ms): checked and averaged into [`ClosedStep::backpressure`], which no feature
    /// reads today.
    pub backpressured_ms: f64,
    /// Interval length as measured by the worker (ms).
    pub interval_ms: f64,
}

/// One router's per-worker record counts over one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterCounts {
    /// Interval number.
    pub interval: u64,
    /// Router index.
    pub router: usize,
    /// Records per worker.
    pub counts: Vec<u64>,
    /// Records per mask pair (empty, or length A): the behaviour action in COLLECT sessions.
    pub pairs: Vec<u64>,
}

/// A report that cannot be used; the message names the field.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ReportError {
    /// A field is out of range or not a finite number.
    #[error("invalid `{field}` = {value}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
        /// What is allowed.
        reason: &'static str,
    },
}

fn invalid(field: &'static str, value: impl ToString, reason: &'static str) -> ReportError {
    ReportError::Invalid {
        field,
        value: value.to_string(),
        reason,
    }
}

/// What became of a valid report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Stored for its interval.
    Stored,
    /// Its interval's step already closed; dropped.
    Late,
}

/// The loads of one closed interval, averaged over the observation window. Measurements, not a
/// transition: the session turns them into features and pairs those with the previous step's observation
/// and action to make one [`sas_learner::Transition`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedStep {
    /// The interval that closed the step.
    pub interval: u64,
    /// Busy ratio per worker (busy ms / interval ms, in [0, 1]), window mean.
    pub busy: Vec<f64>,
    /// Back-pressured ratio per worker, window mean. Kept for completeness: neither the observation nor
    /// the reward reads it today.
    pub backpressure: Vec<f64>,
    /// Records per worker (all routers summed), window mean.
    pub counts: Vec<f64>,
    /// Worker reports imputed in this interval (the worker's last known load was reused).
    pub imputed_workers: usize,
    /// Router reports missing in this interval (their counts are absent from `counts`).
    pub missing_routers: usize,
    /// Records per mask pair in this interval, all routers summed (not window-averaged).
    pub pairs: Vec<f64>,
}

#[derive(Debug, Default)]
struct Pending {
    busy: Vec<Option<(f64, f64)>>,
    counts: Vec<u64>,
    pairs: Vec<u64>,
    routers_in: Vec<bool>,
}

/// Collects reports and closes steps.
#[derive(Debug)]
pub struct StepCollector {
    shape: ReportShape,
    pending: BTreeMap<u64, Pending>,
    /// Every interval up to this one is closed; later reports for them are late.
    closed_upto: Option<u64>,
    last_busy: Vec<(f64, f64)>,
    /// The last `window_intervals` closed intervals, oldest first.
    window: Vec<IntervalLoads>,
}

/// One closed interval's per-worker busy ratio, back-pressure ratio and record count.
#[derive(Debug)]
struct IntervalLoads {
    busy: Vec<f64>,
    backpressure: Vec<f64>,
    counts: Vec<f64>,
}

impl StepCollector {
    /// A collector for reports of `shape`.
    pub fn new(shape: ReportShape) -> Self {
        let p = shape.workers;
        Self {
            shape,
            pending: BTreeMap::new(),
            closed_upto: None,
            last_busy: vec![(0.0, 0.0); p],
            window: Vec::new(),
        }
    }

    fn is_closed(&self, interval: u64) -> bool {
        self.closed_upto.is_some_and(|c| interval <= c)
    }

    fn pending(&mut self, interval: u64) -> &mut Pending {
        let (p, r, a) = (self.shape.workers, self.shape.routers, self.shape.action_dim);
        self.pending.entry(interval).or_insert_with(|| Pending {
            busy: vec![None; p],
            counts: vec![0; p],
            pairs: vec![0; a],
            routers_in: vec![false; r],
        })
    }

    /// Stores a worker's report.
    ///
    /// # Errors
    /// [`ReportError`] naming the field for a worker index ≥ P, a negative, NaN or infinite time, or a
    /// non-positive interval length.
    pub fn add_worker(&mut self, r: &WorkerLoad) -> Result<Accepted, ReportError> {
        if r.worker >= self.shape.workers {
            return Err(invalid("worker", r.worker, "must be < workers"));
        }
        for (field, v) in [("busy_ms", r.busy_ms), ("backpressured_ms", r.backpressured_ms)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(field, v, "must be a finite number >= 0"));
            }
        }
        if !(r.interval_ms.is_finite() && r.interval_ms > 0.0) {
            return Err(invalid(
                "interval_ms",
                r.interval_ms,
                "must be a finite number > 0",
            ));
        }
        if self.is_closed(r.interval) {
            return Ok(Accepted::Late);
        }
        let busy = (r.busy_ms / r.interval_ms).min(1.0);
        let bp = (r.backpressured_ms / r.interval_ms).min(1.0);
        self.pending(r.interval).busy[r.worker] = Some((busy, bp));
        Ok(Accepted::Stored)
    }

    /// Stores a router's report.
    ///
    /// # Errors
    /// [`ReportError`] for a router index out of range or a count vector whose length is not P.
    pub fn add_router(&mut self, r: &RouterCounts) -> Result<Accepted, ReportError> {
        if r.router >= self.shape.routers {
            return Err(invalid("router", r.router, "must be < routers"));
        }
        if r.counts.len() != self.shape.workers {
            return Err(invalid(
                "worker_counts",
                format!("{} values", r.counts.len()),
                "needs one count per worker",
            ));
        }
        if !r.pairs.is_empty() && r.pairs.len() != self.shape.action_dim {
            return Err(invalid(
                "pair_counts",
                format!("{} values", r.pairs.len()),
                "needs one count per mask pair",
            ));
        }
        if self.is_closed(r.interval) {
            return Ok(Accepted::Late);
        }
        let pending = self.pending(r.interval);
        if !pending.routers_in[r.router] {
            pending.routers_in[r.router] = true;
            for (c, &n) in pending.counts.iter_mut().zip(&r.counts) {
                *c += n;
            }
            for (c, &n) in pending.pairs.iter_mut().zip(&r.pairs) {
                *c += n;
            }
        }
        Ok(Accepted::Stored)
    }

    /// Closes the oldest pending interval if every report of it is in; a later interval, complete or not,
    /// waits for it (callers loop until `None`).
    pub fn take_complete(&mut self) -> Option<ClosedStep> {
        let (&interval, pending) = self.pending.iter().next()?;
        let complete = pending.busy.iter().all(Option::is_some) && pending.routers_in.iter().all(|&b| b);
        complete.then(|| self.close(interval))
    }

    /// Closes every pending interval up to `interval` (its deadline passed), imputing what is missing.
    pub fn take_overdue(&mut self, interval: u64) -> Vec<ClosedStep> {
        let due: Vec<u64> = self.pending.range(..=interval).map(|(&i, _)| i).collect();
        due.into_iter().map(|i| self.close(i)).collect()
    }

    /// Oldest interval still open, if any.
    pub fn oldest_pending(&self) -> Option<u64> {
        self.pending.keys().next().copied()
    }

    fn close(&mut self, interval: u64) -> ClosedStep {
        // Cannot fail: callers pass a key of `pending`.
        let pending = self
            .pending
            .remove(&interval)
            .expect("closing a pending interval");
        let mut imputed = 0;
        let mut busy = Vec::with_capacity(self.shape.workers);
        let mut bp = Vec::with_capacity(self.shape.workers);
        for (w, b) in pending.busy.iter().enumerate() {
            let (b_w, bp_w) = b.unwrap_or_else(|| {
                imputed += 1;
                self.last_busy[w]
            });
            self.last_busy[w] = (b_w, bp_w);
            busy.push(b_w);
            bp.push(bp_w);
        }
        let counts: Vec<f64> = pending.counts.iter().map(|&c| c as f64).collect();
        let missing_routers = pending.routers_in.iter().filter(|&&b| !b).count();
        self.closed_upto = Some(self.closed_upto.map_or(interval, |c| c.max(interval)));
        self.window.push(IntervalLoads {
            busy,
            backpressure: bp,
            counts,
        });
        if self.window.len() > self.shape.window_intervals {
            self.window.remove(0);
        }
        let mean = |pick: fn(&IntervalLoads) -> &Vec<f64>| -> Vec<f64> {
            let n = self.window.len() as f64;
            (0..self.shape.workers)
                .map(|w| self.window.iter().map(|e| pick(e)[w]).sum::<f64>() / n)
                .collect()
        };
        ClosedStep {
            interval,
            busy: mean(|e| &e.busy),
            backpressure: mean(|e| &e.backpressure),
            counts: mean(|e| &e.counts),
            imputed_workers: imputed,
            missing_routers,
            pairs: pending.pairs.iter().map(|&c| c as f64).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> ReportShape {
        ReportShape {
            workers: 2,
            routers: 1,
            window_intervals: 2,
            action_dim: 3,
        }
    }

    fn worker(interval: u64, worker: usize, busy_ms: f64) -> WorkerLoad {
        WorkerLoad {
            interval,
            worker,
            busy_ms,
            backpressured_ms: 0.0,
            interval_ms: 1000.0,
        }
    }

    #[test]
    fn a_step_closes_when_every_report_is_in() {
        let mut c = StepCollector::new(shape());
        c.add_worker(&worker(0, 0, 500.0)).unwrap();
        c.add_router(&RouterCounts {
            interval: 0,
            router: 0,
            counts: vec![10, 20],
            pairs: vec![1, 2, 3],
        })
        .unwrap();
        assert_eq!(c.take_complete(), None);
        c.add_worker(&worker(0, 1, 250.0)).unwrap();
        let step = c.take_complete().unwrap();
        assert_eq!(step.busy, vec![0.5, 0.25]);
        assert_eq!(step.counts, vec![10.0, 20.0]);
        assert_eq!(step.pairs, vec![1.0, 2.0, 3.0]);
        assert_eq!(step.imputed_workers, 0);
        // A report for a closed interval is late, not an error.
        assert_eq!(c.add_worker(&worker(0, 1, 1.0)).unwrap(), Accepted::Late);
    }

    #[test]
    fn overdue_steps_impute_the_last_known_load_and_say_so() {
        let mut c = StepCollector::new(shape());
        for w in 0..2 {
            c.add_worker(&worker(0, w, 400.0)).unwrap();
        }
        c.add_router(&RouterCounts {
            interval: 0,
            router: 0,
            counts: vec![1, 1],
            pairs: vec![],
        })
        .unwrap();
        c.take_complete().unwrap();
        c.add_worker(&worker(1, 0, 800.0)).unwrap();
        let steps = c.take_overdue(1);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].imputed_workers, 1);
        assert_eq!(steps[0].missing_routers, 1);
        // Window of 2 intervals: worker 0 = mean(0.4, 0.8), worker 1 = mean(0.4, imputed 0.4).
        assert!((steps[0].busy[0] - 0.6).abs() < 1e-12 && (steps[0].busy[1] - 0.4).abs() < 1e-12);
    }

    #[test]
    fn bad_reports_name_the_field() {
        let mut c = StepCollector::new(shape());
        let e = c.add_worker(&worker(0, 5, 1.0)).unwrap_err();
        assert!(e.to_string().contains("`worker`"), "{e}");
        let e = c.add_worker(&worker(0, 0, f64::NAN)).unwrap_err();
        assert!(e.to_string().contains("`busy_ms`"), "{e}");
        let e = c
            .add_router(&RouterCounts {
                interval: 0,
                router: 0,
                counts: vec![1],
                pairs: vec![],
            })
            .unwrap_err();
        assert!(e.to_string().contains("`worker_counts`"), "{e}");
    }
}
