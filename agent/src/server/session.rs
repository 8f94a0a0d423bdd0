//! One job's session: its shape, its step collector, its policy and the channel its routing tables are
//! published on.
//!
//! A step closes inside the call that completes its interval (a report handler, or the deadline task):
//! features of the window, the policy's action, the table on the channel, and the transition of the
//! *previous* step, whose reward this step measured. Routers apply the table of step t during the interval
//! after the one it was computed from, so the transition `(obs_t, a_t, r_{t+1}, obs_{t+1})` pairs a_t with
//! the interval it routed (`docs/agent-env.md`, "When a table applies").
//!
//! Intervals are wall-clock numbered (interval n is `[n·I, (n+1)·I)` since the Unix epoch), so the session
//! knows which interval is "now" from the agent's [`Clock`]: a report may open an interval only inside the
//! coordinator's clock window around it, and an interval's deadline runs from its first report or from
//! its end on that clock, whichever is later, so a host whose clock runs ahead can neither open far
//! intervals nor make the ones before them overdue.

use crate::coordinator::{ClosedStep, MAX_INTERVALS_AHEAD, ReportShape, StepCollector};
use crate::env::features::{InitialPerf, features};
use crate::offline::DatasetWriter;
use crate::pb;
use crate::policy::ActionPolicy;
use sas_learner::Transition;
pub use sas_router::clock::{Clock, ManualClock, WallClock};
use sas_router::mask::Mask;
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The clock an agent's sessions read ([`WallClock`] unless a test injects another); clones share it.
#[derive(Debug, Clone)]
pub struct AgentClock(Arc<dyn Clock>);

/// One wall clock for every default [`AgentClock`], so that default settings compare equal.
static WALL: LazyLock<AgentClock> = LazyLock::new(|| AgentClock::new(WallClock));

impl AgentClock {
    /// A handle on `clock`.
    pub fn new(clock: impl Clock + 'static) -> Self {
        Self(Arc::new(clock))
    }

    /// The current time (ms since the Unix epoch).
    pub fn now_ms(&self) -> u64 {
        self.0.now_ms()
    }
}

impl Default for AgentClock {
    fn default() -> Self {
        WALL.clone()
    }
}

impl PartialEq for AgentClock {
    /// The same clock, not two clocks reading the same time.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// What a session does with its steps (the proto's `SessionMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deterministic actions, no learning.
    Serve,
    /// Sampled actions, learning.
    Train,
    /// No actions; transitions of the routers' own behaviour are recorded.
    Collect,
}

/// The declared shape of a session.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    /// A name for logs and dataset directories.
    pub job_name: String,
    /// Number of workers P.
    pub workers: usize,
    /// Number of routers reporting.
    pub routers: usize,
    /// Reporting interval.
    pub interval: Duration,
    /// Intervals averaged into one observation and one reward.
    pub window_intervals: usize,
    /// The mask actions are laid out in.
    pub mask: Mask,
    /// What the session does with its steps.
    pub mode: Mode,
    /// The job's idempotency key (empty: none): opening again with it joins this session.
    pub key: String,
}

impl SessionSpec {
    /// Why a session of `self`'s shape cannot be joined by a job declaring `other`: the first field
    /// that differs, or `None` when they agree.
    pub fn differs_from(&self, other: &SessionSpec) -> Option<String> {
        let fields = [
            ("workers", self.workers.to_string(), other.workers.to_string()),
            ("routers", self.routers.to_string(), other.routers.to_string()),
            (
                "interval_ms",
                self.interval.as_millis().to_string(),
                other.interval.as_millis().to_string(),
            ),
            (
                "window_intervals",
                self.window_intervals.to_string(),
                other.window_intervals.to_string(),
            ),
            ("mode", format!("{:?}", self.mode), format!("{:?}", other.mode)),
            (
                "mask",
                format!("{:?}", self.mask.ranges()),
                format!("{:?}", other.mask.ranges()),
            ),
        ];
        fields
            .into_iter()
            .find(|(_, a, b)| a != b)
            .map(|(field, open, asked)| format!("{field} = {asked}, but the open session has {open}"))
    }

    /// The shape the session's reports must have.
    pub fn report_shape(&self) -> ReportShape {
        ReportShape {
            workers: self.workers,
            routers: self.routers,
            window_intervals: self.window_intervals,
            action_dim: self.action_dim(),
        }
    }

    /// Observation dimension, 2P.
    pub fn observation_dim(&self) -> usize {
        2 * self.workers
    }

    /// Action dimension, the mask's.
    pub fn action_dim(&self) -> usize {
        self.mask.action_dim()
    }
}

/// What one closed step produced, for metrics and logs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StepOutcome {
    pub(crate) step: u64,
    /// The reporting interval the step closed.
    pub(crate) interval: u64,
    /// Records the routers reported per interval, averaged over the window (the interval's own count when
    /// the window is one interval).
    pub(crate) records: f64,
    pub(crate) imbalance: f64,
    pub(crate) nmad: f64,
    pub(crate) reward: f64,
    pub(crate) imputed_workers: usize,
    /// Time from the step's closing to its table being published.
    pub(crate) reply: Duration,
}

#[derive(Debug)]
struct StepState {
    collector: StepCollector,
    /// For each open interval (the same keys as the collector's), when its deadline starts running: its
    /// first report's arrival or its end on the agent's clock, whichever is later.
    deadline_from: BTreeMap<u64, Instant>,
    steps: u64,
    /// Observation of the previous step and the table chosen with it, waiting for the reward of the
    /// interval that table routes. In COLLECT nothing is chosen (empty): the transition takes the
    /// behaviour measured in that next interval instead.
    last: Option<(Vec<f32>, Vec<f32>)>,
}

/// A live session.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) spec: SessionSpec,
    policy: Arc<dyn ActionPolicy>,
    initial_perf: InitialPerf,
    episode_length: u64,
    state: Mutex<StepState>,
    tables: watch::Sender<pb::RoutingTableUpdate>,
    offline: Option<Mutex<DatasetWriter>>,
    /// When the last report arrived (or the session opened).
    last_report: Mutex<Instant>,
    /// Tells which interval is "now": reports are checked against it.
    clock: AgentClock,
}

impl Session {
    pub(crate) fn new(
        id: String,
        spec: SessionSpec,
        policy: Arc<dyn ActionPolicy>,
        initial_perf: InitialPerf,
        episode_length: u64,
        offline: Option<DatasetWriter>,
        clock: AgentClock,
    ) -> Self {
        let shape = spec.report_shape();
        let initial = pb::RoutingTableUpdate {
            step: 0,
            model_version: policy.version(),
            action: vec![1.0; spec.action_dim()],
        };
        Self {
            id,
            policy,
            initial_perf,
            episode_length: episode_length.max(1),
            state: Mutex::new(StepState {
                collector: StepCollector::new(shape),
                deadline_from: BTreeMap::new(),
                steps: 0,
                last: None,
            }),
            tables: watch::channel(initial).0,
            offline: offline.map(Mutex::new),
            last_report: Mutex::new(Instant::now()),
            clock,
            spec,
        }
    }

    /// The table channel routers subscribe to.
    pub(crate) fn subscribe(&self) -> watch::Receiver<pb::RoutingTableUpdate> {
        self.tables.subscribe()
    }

    /// The policy answering the session.
    pub(crate) fn policy(&self) -> &Arc<dyn ActionPolicy> {
        &self.policy
    }

    /// How long since the last report (or the opening).
    pub(crate) fn idle(&self, now: Instant) -> Duration {
        now.saturating_duration_since(*self.last_report.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Number of steps taken.
    pub(crate) fn steps(&self) -> u64 {
        self.lock().steps
    }

    /// Finishes the policy's learning and the offline dataset, if the session has them.
    pub(crate) fn finish(&self) {
        self.policy.finish();
        if let Some(writer) = &self.offline {
            let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = w.flush() {
                tracing::error!(session = %self.id, cause = %e, "offline dataset not flushed");
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StepState> {
        // A panic while holding the lock would be a bug in this module; recover the state rather than
        // take the whole agent down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `f` to the collector with the agent's current interval (a report for `interval`), starts
    /// the interval's deadline if the report opened it, then closes every step that is complete.
    pub(crate) fn with_collector<T>(
        &self,
        interval: u64,
        f: impl FnOnce(&mut StepCollector, u64) -> T,
    ) -> (T, Vec<StepOutcome>) {
        self.report_at(Instant::now(), self.clock.now_ms(), &[interval], f)
    }

    /// [`Session::with_collector`] for a batch of reports for `intervals`, under one lock and one clock
    /// reading: what `f` stores is what the reports' own calls would have stored, and the steps that
    /// close are the same, checked once at the end.
    pub(crate) fn with_collector_batch<T>(
        &self,
        intervals: &[u64],
        f: impl FnOnce(&mut StepCollector, u64) -> T,
    ) -> (T, Vec<StepOutcome>) {
        self.report_at(Instant::now(), self.clock.now_ms(), intervals, f)
    }

    /// [`Session::with_collector`] for reports of `intervals` that arrived at `arrived`, the agent's
    /// clock reading `now_ms`.
    fn report_at<T>(
        &self,
        arrived: Instant,
        now_ms: u64,
        intervals: &[u64],
        f: impl FnOnce(&mut StepCollector, u64) -> T,
    ) -> (T, Vec<StepOutcome>) {
        *self.last_report.lock().unwrap_or_else(|e| e.into_inner()) = arrived;
        let interval_ms = self.interval_ms();
        let mut state = self.lock();
        let out = f(&mut state.collector, now_ms / interval_ms);
        // Only an interval a report opened gets a deadline: a refused or late report leaves nothing.
        for &interval in intervals {
            if state.collector.is_open(interval) {
                state.deadline_from.entry(interval).or_insert_with(|| {
                    // The report just opened the interval, so it is at most MAX_INTERVALS_AHEAD ahead
                    // of the clock: the wait is capped there all the same.
                    let ends_in = interval
                        .saturating_add(1)
                        .saturating_mul(interval_ms)
                        .saturating_sub(now_ms)
                        .min((MAX_INTERVALS_AHEAD + 1) * interval_ms);
                    arrived + Duration::from_millis(ends_in)
                });
            }
        }
        let mut outcomes = Vec::new();
        while let Some(closed) = state.collector.take_complete() {
            outcomes.extend(self.close_step(&mut state, closed));
        }
        (out, outcomes)
    }

    /// The reporting interval in ms (≥ 100: checked when the session opened).
    fn interval_ms(&self) -> u64 {
        (self.spec.interval.as_millis() as u64).max(1)
    }

    /// How many intervals the session holds open, in its collector and in its deadlines (always the
    /// same number): bounded by `coordinator::MAX_OPEN_INTERVALS`.
    #[cfg(test)]
    pub(crate) fn open_intervals(&self) -> (usize, usize) {
        let state = self.lock();
        (state.collector.open_intervals(), state.deadline_from.len())
    }

    /// Closes every interval whose deadline (`deadline` after its first report, or after its end on the
    /// agent's clock if that is later) has passed, and every older one.
    pub(crate) fn close_overdue(&self, now: Instant, deadline: Duration) -> Vec<StepOutcome> {
        let mut state = self.lock();
        let overdue: Vec<u64> = state
            .deadline_from
            .iter()
            .filter(|(_, t)| now.saturating_duration_since(**t) >= deadline)
            .map(|(&i, _)| i)
            .collect();
        let Some(&last) = overdue.last() else {
            return Vec::new();
        };
        let closed = state.collector.take_overdue(last);
        closed
            .into_iter()
            .filter_map(|c| self.close_step(&mut state, c))
            .collect()
    }

    /// Turns a closed interval into step t: features → obs_t and r_t; in SERVE and TRAIN, a_t from the
    /// policy, published at once as table `step = t`; in COLLECT, a_t = this interval's pair counts, not
    /// published. Then records `(obs_{t-1}, a_{t-1}, r_t, obs_t)` and keeps `(obs_t, a_t)` for the next
    /// step. `None` (the step skipped and logged) when the measurements give no features.
    fn close_step(&self, state: &mut StepState, closed: ClosedStep) -> Option<StepOutcome> {
        let started = Instant::now();
        state.deadline_from.remove(&closed.interval);
        let busy_ms: Vec<f64> = closed.busy.iter().map(|b| b * 1000.0).collect();
        let f = match features(&closed.counts, &busy_ms, self.initial_perf) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(session = %self.id, interval = closed.interval, cause = %e, "step skipped");
                return None;
            }
        };
        state.steps += 1;
        let step = state.steps;
        let truncated = step.is_multiple_of(self.episode_length);
        let previous = state.last.take();
        // `routed`: what routed the interval that just closed, when it is measured now (COLLECT: the
        // routers' own behaviour, from this interval's pair counts); otherwise it is the table chosen at
        // the previous step (the one-step lag of docs/agent-env.md). `chosen`: this step's table.
        let (routed, chosen): (Option<Vec<f32>>, Vec<f32>) = match self.spec.mode {
            Mode::Collect => (Some(behaviour_action(&closed.pairs)), Vec::new()),
            Mode::Serve | Mode::Train => {
                let a = self.policy.act(&f.obs, self.spec.mode == Mode::Serve);
                let update = pb::RoutingTableUpdate {
                    step,
                    model_version: self.policy.version(),
                    action: a.clone(),
                };
                // No receiver is fine: routers may subscribe later and get the latest table then. Hence
                // `send_replace`: `send` leaves the old value in place when no one is subscribed.
                self.tables.send_replace(update);
                (None, a.iter().map(|&x| x as f32).collect())
            }
        };
        let reply = started.elapsed();
        if let Some((obs, previous_choice)) = previous {
            // The reward is this interval's, so the action is what routed this interval.
            self.record(Transition {
                step,
                obs,
                action: routed.unwrap_or(previous_choice),
                reward: f.reward as f32,
                next_obs: f.obs.clone(),
                terminated: false,
                truncated,
                imbalance: f.balance.imbalance,
                nmad: f.balance.nmad,
            });
        }
        state.last = Some((f.obs, chosen));
        Some(StepOutcome {
            step,
            interval: closed.interval,
            records: closed.counts.iter().sum(),
            imbalance: f.balance.imbalance,
            nmad: f.balance.nmad,
            reward: f.reward,
            imputed_workers: closed.imputed_workers,
            reply,
        })
    }

    /// Hands a step's transition to learning (TRAIN) or to the offline dataset (COLLECT).
    fn record(&self, t: Transition) {
        match self.spec.mode {
            Mode::Train => self.policy.learn(t),
            Mode::Collect => {
                if let Some(writer) = &self.offline {
                    let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
                    // Flushed per step: a crash loses at most the step being written.
                    if let Err(e) = w.write(&t).and_then(|()| w.flush()) {
                        tracing::error!(session = %self.id, cause = %e, "offline transition not written");
                    }
                }
            }
            Mode::Serve => {}
        }
    }
}

/// The behaviour action of a COLLECT step: records per mask pair over their maximum (env space [0, 1]).
fn behaviour_action(pairs: &[f64]) -> Vec<f32> {
    let max = pairs.iter().copied().fold(0.0, f64::max);
    pairs
        .iter()
        .map(|&c| if max > 0.0 { (c / max) as f32 } else { 0.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    //! Issue "Nothing a client sends takes it down", item 2: one report disables a session. Every time is
    //! explicit: the report's arrival, the agent's clock and the deadline pass's `now`.

    use super::*;
    use crate::coordinator::{Accepted, MAX_OPEN_INTERVALS, ReportError, RouterCounts, WorkerLoad};
    use crate::policy::InitialTable;

    const WORKERS: usize = 4;
    const INTERVAL_MS: u64 = 100;
    const DEADLINE: Duration = Duration::from_millis(2 * INTERVAL_MS);
    /// The agent's interval at the start of each test (any will do).
    const C: u64 = 17_000_000_000;

    fn session() -> Session {
        let mask = Mask::zipf(WORKERS, 1.5, 10, 0, 0).unwrap();
        let spec = SessionSpec {
            job_name: "clock".into(),
            workers: WORKERS,
            routers: 1,
            interval: Duration::from_millis(INTERVAL_MS),
            window_intervals: 1,
            mode: Mode::Serve,
            key: String::new(),
            mask,
        };
        let policy = Arc::new(InitialTable::new(spec.action_dim()));
        let initial_perf = InitialPerf::new(0.6).unwrap();
        // The clock is never read: every report below passes its own reading to `report_at`.
        Session::new(
            "s1".into(),
            spec,
            policy,
            initial_perf,
            128,
            None,
            AgentClock::default(),
        )
    }

    fn worker(
        s: &Session,
        arrived: Instant,
        now_ms: u64,
        interval: u64,
        worker: usize,
    ) -> (Result<Accepted, ReportError>, Vec<StepOutcome>) {
        let load = WorkerLoad {
            interval,
            worker,
            busy_ms: 50.0,
            backpressured_ms: 0.0,
            interval_ms: INTERVAL_MS as f64,
        };
        s.report_at(arrived, now_ms, &[interval], |c, now| c.add_worker(&load, now))
    }

    fn router(
        s: &Session,
        arrived: Instant,
        now_ms: u64,
        interval: u64,
    ) -> (Result<Accepted, ReportError>, Vec<StepOutcome>) {
        let counts = RouterCounts {
            interval,
            router: 0,
            counts: vec![10; WORKERS],
            pairs: vec![],
        };
        s.report_at(arrived, now_ms, &[interval], |c, now| c.add_router(&counts, now))
    }

    /// (step, interval, imputed workers) of each outcome.
    fn steps(outcomes: &[StepOutcome]) -> Vec<(u64, u64, usize)> {
        outcomes
            .iter()
            .map(|o| (o.step, o.interval, o.imputed_workers))
            .collect()
    }

    #[test]
    fn a_report_ahead_of_its_interval_cannot_make_earlier_intervals_overdue() {
        let s = session();
        let t0 = Instant::now();
        // Halfway through interval C on the agent's clock.
        let now_ms = C * INTERVAL_MS + 50;
        // A worker whose clock runs two intervals ahead: inside the window, stored.
        assert_eq!(worker(&s, t0, now_ms, C + 2, 0).0, Ok(Accepted::Stored));
        // Interval C, all but worker 3: its deadline runs from C's end, 50 ms from now.
        for w in 0..3 {
            worker(&s, t0, now_ms, C, w).0.unwrap();
        }
        router(&s, t0, now_ms, C).0.unwrap();
        // Before C + 2's deadline had it run from its first report (t0 + 200 ms) and until C's own
        // (t0 + 250 ms), nothing closes.
        assert!(
            s.close_overdue(t0 + Duration::from_millis(240), DEADLINE)
                .is_empty()
        );
        // C closes at its own deadline, worker 3 imputed; C + 2 waits for its end.
        let closed = s.close_overdue(t0 + Duration::from_millis(250), DEADLINE);
        assert_eq!(steps(&closed), vec![(1, C, 1)]);
        assert_eq!(s.open_intervals(), (1, 1));
        assert!(
            s.close_overdue(t0 + Duration::from_millis(449), DEADLINE)
                .is_empty()
        );
        let closed = s.close_overdue(t0 + Duration::from_millis(450), DEADLINE);
        assert_eq!(steps(&closed), vec![(2, C + 2, 3)]);
        assert_eq!(s.open_intervals(), (0, 0));
    }

    #[test]
    fn a_worker_whose_clock_is_behind_cannot_stall_the_session() {
        let s = session();
        let t0 = Instant::now();
        for k in 0..5u64 {
            // Just after the end of interval C + k - 1: its reports arrive.
            let arrived = t0 + Duration::from_millis(k * INTERVAL_MS);
            let now_ms = (C + k) * INTERVAL_MS + 1;
            let interval = C + k - 1;
            for w in 0..3 {
                worker(&s, arrived, now_ms, interval, w).0.unwrap();
            }
            router(&s, arrived, now_ms, interval).0.unwrap();
            // Worker 3 numbers its intervals ten behind: late, nothing stored.
            assert_eq!(
                worker(&s, arrived, now_ms, interval - 10, 3).0,
                Ok(Accepted::Late)
            );
            // A rejected report, far ahead, leaves nothing either (it used to leave a deadline that
            // closed every later interval 25 ms after its first report).
            let e = worker(&s, arrived, now_ms, C + 1_000_000, 99).0.unwrap_err();
            assert!(e.to_string().contains("`worker`"), "{e}");
            assert_eq!(s.open_intervals(), (1, 1));
            // The step closes at its deadline, not before, worker 3 imputed.
            assert!(
                s.close_overdue(arrived + DEADLINE - Duration::from_millis(1), DEADLINE)
                    .is_empty()
            );
            let closed = s.close_overdue(arrived + DEADLINE, DEADLINE);
            assert_eq!(steps(&closed), vec![(k + 1, interval, 1)]);
        }
        assert_eq!(s.open_intervals(), (0, 0));
    }

    #[test]
    fn a_flood_of_intervals_leaves_the_bookkeeping_bounded() {
        let s = session();
        let t0 = Instant::now();
        let mut refused = 0;
        for k in 0..200u64 {
            let arrived = t0 + Duration::from_millis(k * INTERVAL_MS);
            let now_ms = (C + k) * INTERVAL_MS;
            let now = C + k;
            // Every interval around the clock, near and far, from one worker; no step ever completes.
            for interval in (now - 20..=now + 20).chain([0, now + 1_000_000, u64::MAX]) {
                if worker(&s, arrived, now_ms, interval, 0).0.is_err() {
                    refused += 1;
                }
                let (collector, deadlines) = s.open_intervals();
                assert_eq!(collector, deadlines, "every open interval has one deadline");
                assert!(
                    collector <= MAX_OPEN_INTERVALS,
                    "{collector} open at interval {now}"
                );
            }
        }
        assert_eq!(
            refused,
            200 * (18 + 2),
            "beyond two ahead: 18 of the range, and two far"
        );
        // Once the flood stops, every interval it opened closes by its deadline.
        let after = t0 + Duration::from_secs(3600);
        assert!(!s.close_overdue(after, DEADLINE).is_empty());
        assert_eq!(s.open_intervals(), (0, 0));
    }
}
