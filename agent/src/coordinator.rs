//! Assembles steps from reports: one step per reporting interval, closed when every worker and every
//! router of the interval has reported, or at a deadline, a missing worker's load imputed with its last
//! known one and a missing router's counts left out, both counted in the [`ClosedStep`]. Intervals close in
//! order: a complete interval waits while an older one is still open.
//!
//! A report may open an interval only inside the clock window around the agent's current interval `now`:
//! `now - MAX_INTERVALS_BEHIND ..= now + MAX_INTERVALS_AHEAD`. Further ahead it is refused
//! ([`ReportError::AheadOfClock`]), further behind it is late; either way nothing is stored. At most
//! [`MAX_OPEN_INTERVALS`] intervals are open at once, so one wrong clock can neither hold an interval open
//! for ever nor grow the bookkeeping, whatever arrives.
//!
//! Pure bookkeeping, no gRPC and no clock of its own: the server hands it reports and the current
//! interval, so it is tested without sockets or sleeps.

use std::collections::{BTreeMap, VecDeque};
use thiserror::Error;

/// How far ahead of the agent's clock a report's interval may be (F, in intervals). Reports of interval
/// n leave just after its end, when the agent is at interval n + 1; a host whose clock runs up to about
/// F + 1 intervals ahead of the agent's is still heard. Beyond that the report is refused: storing it would
/// open an interval no other host reaches for a long time.
pub const MAX_INTERVALS_AHEAD: u64 = 2;

/// How far behind the agent's clock a report may still open its interval (B, in intervals). An interval's
/// first report is due when the agent is at n + 1; up to three intervals more of delay still open it, more
/// than the default deadline (2 intervals), so no report that could make its step in time is turned
/// away. An older report is late, unless its interval is already open.
pub const MAX_INTERVALS_BEHIND: u64 = 4;

/// The most intervals a collector keeps open. An honest session has at most about B + F + the deadline
/// open (8 with the defaults: intervals reported early wait for their end, late ones for their
/// deadline); twice that leaves room for slow deadline passes. Opening one more first closes the oldest,
/// as its deadline would, so the bookkeeping stays bounded even under a flood of distinct intervals.
pub const MAX_OPEN_INTERVALS: usize = 16;

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

impl ReportShape {
    /// What [`StepCollector::add_worker`] checks before it touches any state: a batch checks every
    /// item first, so a bad one leaves nothing behind.
    ///
    /// # Errors
    /// As [`StepCollector::add_worker`]'s [`ReportError::Invalid`].
    pub fn check_worker(&self, r: &WorkerLoad) -> Result<(), ReportError> {
        if r.worker >= self.workers {
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
        Ok(())
    }

    /// What [`StepCollector::add_router`] checks before it touches any state.
    ///
    /// # Errors
    /// As [`StepCollector::add_router`]'s [`ReportError::Invalid`].
    pub fn check_router(&self, r: &RouterCounts) -> Result<(), ReportError> {
        if r.router >= self.routers {
            return Err(invalid("router", r.router, "must be < routers"));
        }
        if r.counts.len() != self.workers {
            return Err(invalid(
                "worker_counts",
                format!("{} values", r.counts.len()),
                "needs one count per worker",
            ));
        }
        if !r.pairs.is_empty() && r.pairs.len() != self.action_dim {
            return Err(invalid(
                "pair_counts",
                format!("{} values", r.pairs.len()),
                "needs one count per mask pair",
            ));
        }
        Ok(())
    }
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
    /// The report's interval is more than [`MAX_INTERVALS_AHEAD`] intervals ahead of the agent's clock
    /// (a host with a wrong clock): nothing was stored.
    #[error(
        "`interval` = {interval} is ahead of the agent's clock: the agent is at interval {now} and accepts \
         {lo}..={hi} ({MAX_INTERVALS_BEHIND} behind to {MAX_INTERVALS_AHEAD} ahead)",
        lo = now.saturating_sub(MAX_INTERVALS_BEHIND),
        hi = now.saturating_add(MAX_INTERVALS_AHEAD)
    )]
    AheadOfClock {
        /// The report's interval.
        interval: u64,
        /// The agent's interval when the report arrived.
        now: u64,
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
    /// Its interval's step already closed, or its interval is not open and more than
    /// [`MAX_INTERVALS_BEHIND`] behind the agent's clock; dropped.
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
    /// The open intervals: at most [`MAX_OPEN_INTERVALS`].
    pending: BTreeMap<u64, Pending>,
    /// Intervals closed early to make room for a newer one, not yet handed out by `take_complete`.
    closed_early: VecDeque<ClosedStep>,
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
            closed_early: VecDeque::new(),
            closed_upto: None,
            last_busy: vec![(0.0, 0.0); p],
            window: Vec::new(),
        }
    }

    fn is_closed(&self, interval: u64) -> bool {
        self.closed_upto.is_some_and(|c| interval <= c)
    }

    /// The slot of `interval` for a report arriving when the agent is at interval `now`: the open one, or
    /// a new one if the interval is inside the clock window (closing the oldest when
    /// [`MAX_OPEN_INTERVALS`] are open); `None` when the report is late. Nothing is created otherwise.
    fn slot(&mut self, interval: u64, now: u64) -> Result<Option<&mut Pending>, ReportError> {
        if !self.pending.contains_key(&interval) {
            if interval > now.saturating_add(MAX_INTERVALS_AHEAD) {
                return Err(ReportError::AheadOfClock { interval, now });
            }
            if self.is_closed(interval) || interval < now.saturating_sub(MAX_INTERVALS_BEHIND) {
                return Ok(None);
            }
            if self.pending.len() >= MAX_OPEN_INTERVALS {
                // Full: of the open intervals and this one, the oldest closes. Cannot fail: full means
                // at least one interval is open.
                let oldest = self
                    .oldest_pending()
                    .expect("a full collector has an open interval");
                if interval < oldest {
                    return Ok(None);
                }
                let closed = self.close(oldest);
                self.closed_early.push_back(closed);
            }
        }
        let (p, r, a) = (self.shape.workers, self.shape.routers, self.shape.action_dim);
        Ok(Some(self.pending.entry(interval).or_insert_with(|| Pending {
            busy: vec![None; p],
            counts: vec![0; p],
            pairs: vec![0; a],
            routers_in: vec![false; r],
        })))
    }

    /// Stores a worker's report, arriving when the agent's clock is at interval `now`.
    ///
    /// # Errors
    /// [`ReportError::Invalid`] naming the field for a worker index ≥ P, a negative, NaN or infinite time,
    /// or a non-positive interval length; [`ReportError::AheadOfClock`] for an interval more than
    /// [`MAX_INTERVALS_AHEAD`] ahead of `now` that is not open.
    pub fn add_worker(&mut self, r: &WorkerLoad, now: u64) -> Result<Accepted, ReportError> {
        self.shape.check_worker(r)?;
        let Some(pending) = self.slot(r.interval, now)? else {
            return Ok(Accepted::Late);
        };
        let busy = (r.busy_ms / r.interval_ms).min(1.0);
        let bp = (r.backpressured_ms / r.interval_ms).min(1.0);
        pending.busy[r.worker] = Some((busy, bp));
        Ok(Accepted::Stored)
    }

    /// Stores a router's report, arriving when the agent's clock is at interval `now`.
    ///
    /// # Errors
    /// [`ReportError::Invalid`] for a router index out of range or a count vector whose length is not P;
    /// [`ReportError::AheadOfClock`] as for [`StepCollector::add_worker`].
    pub fn add_router(&mut self, r: &RouterCounts, now: u64) -> Result<Accepted, ReportError> {
        self.shape.check_router(r)?;
        let Some(pending) = self.slot(r.interval, now)? else {
            return Ok(Accepted::Late);
        };
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

    /// An interval closed early to make room for a newer one, if any (oldest first); otherwise closes the
    /// oldest pending interval if every report of it is in; a later interval, complete or not, waits for
    /// it (callers loop until `None`).
    pub fn take_complete(&mut self) -> Option<ClosedStep> {
        if let Some(closed) = self.closed_early.pop_front() {
            return Some(closed);
        }
        let (&interval, pending) = self.pending.iter().next()?;
        let complete = pending.busy.iter().all(Option::is_some) && pending.routers_in.iter().all(|&b| b);
        complete.then(|| self.close(interval))
    }

    /// Closes every pending interval up to `interval` (its deadline passed), imputing what is missing;
    /// any interval closed early to make room comes first.
    pub fn take_overdue(&mut self, interval: u64) -> Vec<ClosedStep> {
        let due: Vec<u64> = self.pending.range(..=interval).map(|(&i, _)| i).collect();
        let mut closed: Vec<ClosedStep> = self.closed_early.drain(..).collect();
        closed.extend(due.into_iter().map(|i| self.close(i)));
        closed
    }

    /// Oldest interval still open, if any.
    pub fn oldest_pending(&self) -> Option<u64> {
        self.pending.keys().next().copied()
    }

    /// Whether `interval` is open (has a report stored and has not closed).
    pub fn is_open(&self, interval: u64) -> bool {
        self.pending.contains_key(&interval)
    }

    /// Number of open intervals: never more than [`MAX_OPEN_INTERVALS`].
    pub fn open_intervals(&self) -> usize {
        self.pending.len()
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

    /// The agent's clock in the tests that are not about it: every interval they report is in its window.
    const NOW: u64 = 1;

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
        c.add_worker(&worker(0, 0, 500.0), NOW).unwrap();
        c.add_router(
            &RouterCounts {
                interval: 0,
                router: 0,
                counts: vec![10, 20],
                pairs: vec![1, 2, 3],
            },
            NOW,
        )
        .unwrap();
        assert_eq!(c.take_complete(), None);
        c.add_worker(&worker(0, 1, 250.0), NOW).unwrap();
        let step = c.take_complete().unwrap();
        assert_eq!(step.busy, vec![0.5, 0.25]);
        assert_eq!(step.counts, vec![10.0, 20.0]);
        assert_eq!(step.pairs, vec![1.0, 2.0, 3.0]);
        assert_eq!(step.imputed_workers, 0);
        // A report for a closed interval is late, not an error.
        assert_eq!(c.add_worker(&worker(0, 1, 1.0), NOW).unwrap(), Accepted::Late);
    }

    #[test]
    fn overdue_steps_impute_the_last_known_load_and_say_so() {
        let mut c = StepCollector::new(shape());
        for w in 0..2 {
            c.add_worker(&worker(0, w, 400.0), NOW).unwrap();
        }
        c.add_router(
            &RouterCounts {
                interval: 0,
                router: 0,
                counts: vec![1, 1],
                pairs: vec![],
            },
            NOW,
        )
        .unwrap();
        c.take_complete().unwrap();
        c.add_worker(&worker(1, 0, 800.0), NOW).unwrap();
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
        let e = c.add_worker(&worker(0, 5, 1.0), NOW).unwrap_err();
        assert!(e.to_string().contains("`worker`"), "{e}");
        let e = c.add_worker(&worker(0, 0, f64::NAN), NOW).unwrap_err();
        assert!(e.to_string().contains("`busy_ms`"), "{e}");
        let e = c
            .add_router(
                &RouterCounts {
                    interval: 0,
                    router: 0,
                    counts: vec![1],
                    pairs: vec![],
                },
                NOW,
            )
            .unwrap_err();
        assert!(e.to_string().contains("`worker_counts`"), "{e}");
    }

    fn router(interval: u64) -> RouterCounts {
        RouterCounts {
            interval,
            router: 0,
            counts: vec![1, 1],
            pairs: vec![],
        }
    }

    // Issue "Nothing a client sends takes it down", item 2: one report disables a session.
    #[test]
    fn a_report_too_far_ahead_is_refused_and_leaves_nothing() {
        let mut c = StepCollector::new(shape());
        let now = 1_000;
        for interval in [now + MAX_INTERVALS_AHEAD + 1, now + 1_000_000, u64::MAX] {
            let e = c.add_worker(&worker(interval, 0, 1.0), now).unwrap_err();
            assert_eq!(e, ReportError::AheadOfClock { interval, now });
            let message = e.to_string();
            assert!(
                message.contains(&format!("`interval` = {interval}")) && message.contains("996..=1002"),
                "{message}"
            );
            let e = c.add_router(&router(interval), now).unwrap_err();
            assert_eq!(e, ReportError::AheadOfClock { interval, now });
        }
        assert_eq!(c.open_intervals(), 0);
        assert!(c.take_overdue(u64::MAX).is_empty(), "nothing was stored");
        // The edge of the window is in, and the step closes as usual.
        let edge = now + MAX_INTERVALS_AHEAD;
        for w in 0..2 {
            assert_eq!(c.add_worker(&worker(edge, w, 1.0), now), Ok(Accepted::Stored));
        }
        assert_eq!(c.add_router(&router(edge), now), Ok(Accepted::Stored));
        assert_eq!(
            c.take_complete().map(|s| (s.interval, s.imputed_workers)),
            Some((edge, 0))
        );
    }

    #[test]
    fn a_report_too_far_behind_is_late_and_leaves_nothing() {
        let mut c = StepCollector::new(shape());
        let now = 1_000;
        let oldest = now - MAX_INTERVALS_BEHIND;
        for interval in [0, oldest - 1] {
            assert_eq!(c.add_worker(&worker(interval, 0, 1.0), now), Ok(Accepted::Late));
            assert_eq!(c.add_router(&router(interval), now), Ok(Accepted::Late));
        }
        assert_eq!(c.open_intervals(), 0);
        // The oldest interval of the window opens; once open it takes its stragglers whatever the clock.
        assert_eq!(c.add_worker(&worker(oldest, 0, 1.0), now), Ok(Accepted::Stored));
        assert_eq!(
            c.add_worker(&worker(oldest, 1, 1.0), now + 100),
            Ok(Accepted::Stored)
        );
        assert_eq!(c.add_router(&router(oldest), now + 100), Ok(Accepted::Stored));
        assert_eq!(c.take_complete().map(|s| s.interval), Some(oldest));
    }

    #[test]
    fn the_open_intervals_are_bounded_whatever_arrives() {
        let mut c = StepCollector::new(shape());
        let mut closed = Vec::new();
        // A flood: every interval of the window, again and again as the clock moves, and none complete.
        for now in 10..1_000u64 {
            for interval in now - MAX_INTERVALS_BEHIND..=now + MAX_INTERVALS_AHEAD {
                c.add_worker(&worker(interval, 0, 100.0), now).unwrap();
                assert!(
                    c.open_intervals() <= MAX_OPEN_INTERVALS,
                    "{} open",
                    c.open_intervals()
                );
            }
            while let Some(step) = c.take_complete() {
                closed.push(step);
            }
        }
        assert_eq!(c.open_intervals(), MAX_OPEN_INTERVALS);
        // What made room closed in order, oldest first, the missing worker imputed each time.
        assert!(closed.windows(2).all(|w| w[0].interval < w[1].interval));
        assert!(
            closed
                .iter()
                .all(|s| s.imputed_workers == 1 && s.missing_routers == 1)
        );
        assert_eq!(
            closed.len() + MAX_OPEN_INTERVALS,
            (10 - MAX_INTERVALS_BEHIND..=999 + MAX_INTERVALS_AHEAD).count()
        );
        // Full, an interval older than every open one is late rather than closing a newer one.
        let mut c = StepCollector::new(shape());
        for interval in 100..100 + MAX_OPEN_INTERVALS as u64 {
            c.add_worker(&worker(interval, 0, 1.0), interval).unwrap();
        }
        assert_eq!(c.add_worker(&worker(99, 0, 1.0), 100), Ok(Accepted::Late));
        assert_eq!((c.oldest_pending(), c.take_complete()), (Some(100), None));
    }
}
