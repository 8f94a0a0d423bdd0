//! One job's session: its shape, its step collector, its policy and the channel its routing tables are
//! published on.
//!
//! A step closes inside the call that completes its interval (a report handler, or the deadline task):
//! features of the window, the policy's action, the table on the channel, and the transition of the
//! *previous* step, whose reward this step measured. Routers apply the table of step t during the interval
//! after the one it was computed from, so the transition `(obs_t, a_t, r_{t+1}, obs_{t+1})` pairs a_t with
//! the interval it routed (`docs/agent-env.md`, "When a table applies").

use crate::coordinator::{ClosedStep, ReportShape, StepCollector};
use crate::env::features::{InitialPerf, features};
use crate::offline::DatasetWriter;
use crate::pb;
use crate::policy::ActionPolicy;
use sas_learner::Transition;
use sas_router::mask::Mask;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

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
    /// When each open interval's first report arrived (its deadline runs from there).
    first_seen: BTreeMap<u64, Instant>,
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
}

impl Session {
    pub(crate) fn new(
        id: String,
        spec: SessionSpec,
        policy: Arc<dyn ActionPolicy>,
        initial_perf: InitialPerf,
        episode_length: u64,
        offline: Option<DatasetWriter>,
    ) -> Self {
        let shape = ReportShape {
            workers: spec.workers,
            routers: spec.routers,
            window_intervals: spec.window_intervals,
            action_dim: spec.action_dim(),
        };
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
                first_seen: BTreeMap::new(),
                steps: 0,
                last: None,
            }),
            tables: watch::channel(initial).0,
            offline: offline.map(Mutex::new),
            last_report: Mutex::new(Instant::now()),
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

    /// Applies `f` to the collector (a report), notes the interval's arrival, then closes every step
    /// that is complete.
    pub(crate) fn with_collector<T>(
        &self,
        interval: u64,
        f: impl FnOnce(&mut StepCollector) -> T,
    ) -> (T, Vec<StepOutcome>) {
        let now = Instant::now();
        *self.last_report.lock().unwrap_or_else(|e| e.into_inner()) = now;
        let mut state = self.lock();
        state.first_seen.entry(interval).or_insert(now);
        let out = f(&mut state.collector);
        let mut outcomes = Vec::new();
        while let Some(closed) = state.collector.take_complete() {
            outcomes.extend(self.close_step(&mut state, closed));
        }
        (out, outcomes)
    }

    /// Closes every interval whose deadline (`deadline` after its first report) has passed.
    pub(crate) fn close_overdue(&self, now: Instant, deadline: Duration) -> Vec<StepOutcome> {
        let mut state = self.lock();
        let overdue: Vec<u64> = state
            .first_seen
            .iter()
            .filter(|(_, t)| now.duration_since(**t) >= deadline)
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
        state.first_seen.remove(&closed.interval);
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
