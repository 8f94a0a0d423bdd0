//! The `sas.v1.Agent` gRPC service: validates every request, maps failures to precise status codes
//! (`INVALID_ARGUMENT` naming the field, `NOT_FOUND` for an unknown session, `RESOURCE_EXHAUSTED` for a
//! full server or session) and never lets one bad request take the server down.
//!
//! Every size a request carries is checked against [`sas_router::limits`] before anything of that size
//! is allocated or the session is touched: a session's shape (workers, routers, interval, window, hot
//! keys, mask, names) when it opens, a report's indices and vector lengths before it reaches the
//! session's collector. A session then costs at most what its bounded shape costs, and at most
//! `max_sessions` of them exist.

use super::session::{Mode, Session, SessionSpec};
use super::{AgentState, PolicyFactory, ServeConfig, ServeError};
use crate::coordinator::{Accepted, ReportError, RouterCounts, WorkerLoad};
use crate::pb;
use sas_router::limits::{
    MAX_BATCH_REPORTS, MAX_HOT_KEYS, MAX_INTERVAL_MS, MAX_MASK_RANGES, MAX_NAME_BYTES, MAX_ROUTERS,
    MAX_SUBSCRIBERS_PER_ROUTER, MAX_WINDOW_INTERVALS, MAX_WORKERS, MIN_INTERVAL_MS,
};
use sas_router::mask::Mask;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// The service: one per server, sessions shared through [`AgentState`].
#[derive(Debug, Clone)]
pub struct AgentService {
    pub(crate) state: Arc<AgentState>,
}

fn invalid(state: &AgentState, message: String) -> Status {
    state.metrics.rejected_requests.inc();
    Status::invalid_argument(message)
}

impl AgentService {
    /// A service with no transport, for calling the rpc handlers directly (tests, fuzzing): the state
    /// a server with `config` and `policies` would have, without its deadline task or sockets.
    ///
    /// # Errors
    /// [`ServeError`] for a bad setting.
    pub fn new(config: &ServeConfig, policies: Arc<dyn PolicyFactory>) -> Result<Self, ServeError> {
        let (state, _) = AgentState::new(config, policies)?;
        Ok(Self { state })
    }

    fn session(&self, id: &str) -> Result<Arc<Session>, Status> {
        self.state
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| {
                self.state.metrics.rejected_requests.inc();
                Status::not_found(format!("unknown session `{id}`"))
            })
    }

    /// The shape `r` declares, every size checked first.
    fn spec(&self, r: &pb::OpenSessionRequest) -> Result<SessionSpec, Status> {
        let bad = |m: String| invalid(&self.state, m);
        let within = |field: &str, value: u32, min: u64, max: u64| {
            if (min..=max).contains(&u64::from(value)) {
                Ok(())
            } else {
                Err(bad(format!("{field} = {value}: must be in {min}..={max}")))
            }
        };
        within("workers", r.workers, 1, MAX_WORKERS.into())?;
        within("routers", r.routers, 1, MAX_ROUTERS.into())?;
        within("interval_ms", r.interval_ms, MIN_INTERVAL_MS, MAX_INTERVAL_MS)?;
        within(
            "window_intervals",
            r.window_intervals,
            1,
            MAX_WINDOW_INTERVALS.into(),
        )?;
        // 0 is fine when a mask is sent; without one the mask itself refuses it.
        within("hot_keys", r.hot_keys, 0, MAX_HOT_KEYS as u64)?;
        for (field, text) in [("job_name", &r.job_name), ("session_key", &r.session_key)] {
            if text.len() > MAX_NAME_BYTES {
                return Err(bad(format!(
                    "{field}: {} bytes, must be at most {MAX_NAME_BYTES}",
                    text.len()
                )));
            }
        }
        if let Some(m) = r.mask.as_ref().filter(|m| m.ranges.len() > MAX_MASK_RANGES) {
            return Err(bad(format!(
                "mask: {} ranges, must be at most {MAX_MASK_RANGES}",
                m.ranges.len()
            )));
        }
        let mode = match pb::SessionMode::try_from(r.mode) {
            Ok(pb::SessionMode::Serve) => Mode::Serve,
            Ok(pb::SessionMode::Train) => Mode::Train,
            Ok(pb::SessionMode::Collect) => Mode::Collect,
            _ => return Err(bad(format!("mode = {}: must be SERVE, TRAIN or COLLECT", r.mode))),
        };
        let mask = match &r.mask {
            Some(m) => Mask::from_ranges(
                r.workers as usize,
                m.ranges
                    .iter()
                    .map(|w| w.start as usize..w.end as usize)
                    .collect(),
            ),
            None => Mask::zipf(r.workers as usize, r.mask_alpha, r.hot_keys as usize, 0, 0),
        }
        .map_err(|e| bad(format!("mask: {e}")))?;
        Ok(SessionSpec {
            job_name: r.job_name.clone(),
            workers: r.workers as usize,
            routers: r.routers as usize,
            interval: Duration::from_millis(u64::from(r.interval_ms)),
            window_intervals: r.window_intervals as usize,
            mask,
            mode,
            key: r.session_key.clone(),
        })
    }

    /// The open session with `spec`'s key, if any; an error if it has another shape.
    fn keyed(&self, spec: &SessionSpec) -> Result<Option<Arc<Session>>, Status> {
        if spec.key.is_empty() {
            return Ok(None);
        }
        let sessions = self.state.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let Some(open) = sessions.values().find(|s| s.spec.key == spec.key) else {
            return Ok(None);
        };
        match open.spec.differs_from(spec) {
            None => Ok(Some(open.clone())),
            Some(why) => Err(Status::failed_precondition(format!(
                "session_key `{}` belongs to session `{}`: {why}",
                spec.key, open.id
            ))),
        }
    }

    fn publish(&self, session: &str, outcomes: Vec<super::session::StepOutcome>) {
        for o in &outcomes {
            self.state.record_step(session, o);
        }
    }
}

type TableStream = Pin<Box<dyn Stream<Item = Result<pb::RoutingTableUpdate, Status>> + Send>>;

#[tonic::async_trait]
impl pb::agent_server::Agent for AgentService {
    async fn open_session(
        &self,
        request: Request<pb::OpenSessionRequest>,
    ) -> Result<Response<pb::OpenSessionReply>, Status> {
        super::names::check_path_component("job_name", &request.get_ref().job_name)
            .map_err(|m| invalid(&self.state, m))?;
        let spec = self.spec(request.get_ref())?;
        if let Some(open) = self.keyed(&spec)? {
            return Ok(Response::new(open_reply(
                &open.id,
                &open.spec,
                open.policy().version(),
            )));
        }
        // A slot first: a refused session costs nothing (no policy, no dataset directory).
        let slot = self.reserve_slot()?;
        let policy = self
            .state
            .policies
            .policy_for(&spec)
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        let offline = self
            .state
            .policies
            .offline_writer(&spec)
            .map_err(|e| Status::internal(e.to_string()))?;
        let id = format!("s{}", self.state.next_session.fetch_add(1, Ordering::Relaxed));
        let reply = open_reply(&id, &spec, policy.version());
        tracing::info!(session = %id, job = %spec.job_name, workers = spec.workers, mode = ?spec.mode, "session opened");
        let session = Session::new(
            id.clone(),
            spec,
            policy,
            self.state.config.initial_perf,
            self.state.config.episode_length,
            offline,
            self.state.config.clock.clone(),
        );
        let mut sessions = self.state.sessions.lock().unwrap_or_else(|e| e.into_inner());
        // Another subtask of the job may have opened the keyed session meanwhile: join it.
        if !session.spec.key.is_empty()
            && let Some(open) = sessions.values().find(|s| s.spec.key == session.spec.key)
        {
            let joined = open_reply(&open.id, &open.spec, open.policy().version());
            drop(sessions);
            tokio::task::spawn_blocking(move || session.finish());
            return Ok(Response::new(joined));
        }
        sessions.insert(id, Arc::new(session));
        // The slot becomes the session while `sessions` is locked.
        drop(slot);
        self.state.metrics.sessions.set(sessions.len() as i64);
        Ok(Response::new(reply))
    }

    async fn report_worker(
        &self,
        request: Request<pb::WorkerReport>,
    ) -> Result<Response<pb::ReportAck>, Status> {
        let r = request.into_inner();
        let session = self.session(&r.session_id)?;
        self.check_index("worker", r.worker, session.spec.workers, "workers")?;
        let load = worker_load(&r);
        let (accepted, outcomes) = session.with_collector(r.interval, |c, now| c.add_worker(&load, now));
        self.publish(&session.id, outcomes);
        self.ack(accepted)
    }

    async fn report_router(
        &self,
        request: Request<pb::RouterReport>,
    ) -> Result<Response<pb::ReportAck>, Status> {
        let r = request.into_inner();
        let session = self.session(&r.session_id)?;
        self.check_router_report(&r, &session.spec)?;
        let counts = router_counts(r);
        let (accepted, outcomes) =
            session.with_collector(counts.interval, |c, now| c.add_router(&counts, now));
        self.publish(&session.id, outcomes);
        self.ack(accepted)
    }

    async fn report(
        &self,
        request: Request<pb::ReportBatch>,
    ) -> Result<Response<pb::ReportBatchAck>, Status> {
        let batch = request.into_inner();
        let session = self.session(&batch.session_id)?;
        let (workers, routers) = self.check_batch(batch, &session.spec)?;
        let mut intervals: Vec<u64> = workers.iter().map(|w| w.interval).collect();
        intervals.extend(routers.iter().map(|r| r.interval));
        intervals.sort_unstable();
        intervals.dedup();
        let (ack, outcomes) = session.with_collector_batch(&intervals, |c, now| {
            let mut ack = pb::ReportBatchAck::default();
            let mut count = |accepted| match accepted {
                Ok(Accepted::Stored) => ack.stored += 1,
                Ok(Accepted::Late) => ack.late += 1,
                // Checked above, so only the clock can refuse an item: it leaves nothing behind.
                Err(ReportError::AheadOfClock { .. } | ReportError::Invalid { .. }) => ack.ahead += 1,
            };
            for load in &workers {
                count(c.add_worker(load, now));
            }
            for counts in &routers {
                count(c.add_router(counts, now));
            }
            ack
        });
        self.state.metrics.late_reports.inc_by(u64::from(ack.late));
        self.publish(&session.id, outcomes);
        Ok(Response::new(ack))
    }

    type SubscribeTablesStream = TableStream;

    async fn subscribe_tables(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeTablesStream>, Status> {
        let r = request.into_inner();
        let session = self.session(&r.session_id)?;
        if r.router as usize >= session.spec.routers {
            return Err(invalid(
                &self.state,
                format!(
                    "router = {}: must be < routers ({})",
                    r.router, session.spec.routers
                ),
            ));
        }
        let subscription = self.subscription(&session)?;
        let mut tables = session.subscribe();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let mut shutdown = self.state.shutdown();
        // A task per subscriber, holding its slot until it ends: a failed send or a closed channel
        // means the router left (the latter noticed at once, not at the next table, which in COLLECT
        // never comes); a closed watch means the session closed.
        tokio::spawn(async move {
            let _subscription = subscription;
            loop {
                let update = tables.borrow_and_update().clone();
                if tx.send(Ok(update)).await.is_err() {
                    return;
                }
                tokio::select! {
                    changed = tables.changed() => if changed.is_err() { return },
                    () = tx.closed() => return,
                    () = shutdown.recv() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn close_session(
        &self,
        request: Request<pb::CloseSessionRequest>,
    ) -> Result<Response<pb::CloseSessionReply>, Status> {
        let id = request.into_inner().session_id;
        let session = {
            let mut sessions = self.state.sessions.lock().unwrap_or_else(|e| e.into_inner());
            let s = sessions.remove(&id);
            self.state.metrics.sessions.set(sessions.len() as i64);
            s
        };
        let session = session.ok_or_else(|| Status::not_found(format!("unknown session `{id}`")))?;
        // Finishing joins a learner that may be mid-update and saves a checkpoint: not on a runtime thread.
        let finishing = session.clone();
        let _ = tokio::task::spawn_blocking(move || finishing.finish()).await;
        tracing::info!(session = %id, steps = session.steps(), "session closed");
        Ok(Response::new(pb::CloseSessionReply {
            steps: session.steps(),
        }))
    }
}

/// The reply naming session `id` of shape `spec`.
/// A worker report as the collector takes it.
fn worker_load(r: &pb::WorkerReport) -> WorkerLoad {
    WorkerLoad {
        interval: r.interval,
        worker: r.worker as usize,
        busy_ms: r.busy_ms,
        backpressured_ms: r.backpressured_ms,
        interval_ms: r.interval_ms,
    }
}

/// A router report as the collector takes it.
fn router_counts(r: pb::RouterReport) -> RouterCounts {
    RouterCounts {
        interval: r.interval,
        router: r.router as usize,
        counts: r.worker_counts,
        pairs: r.pair_counts,
    }
}

fn open_reply(id: &str, spec: &SessionSpec, model_version: u64) -> pb::OpenSessionReply {
    pb::OpenSessionReply {
        session_id: id.to_string(),
        model_version,
        mask: Some(pb::Mask::from_ranges(spec.mask.ranges())),
        action_dim: spec.action_dim() as u32,
        observation_dim: spec.observation_dim() as u32,
    }
}

impl AgentService {
    /// The reply to a report: `accepted` (false when late), `OUT_OF_RANGE` for an interval ahead of the
    /// agent's clock window (it may come into range as the clock moves), `INVALID_ARGUMENT` otherwise.
    fn ack(&self, accepted: Result<Accepted, ReportError>) -> Result<Response<pb::ReportAck>, Status> {
        match accepted {
            Ok(Accepted::Stored) => Ok(Response::new(pb::ReportAck { accepted: true })),
            Ok(Accepted::Late) => {
                self.state.metrics.late_reports.inc();
                Ok(Response::new(pb::ReportAck { accepted: false }))
            }
            Err(e @ ReportError::AheadOfClock { .. }) => {
                self.state.metrics.rejected_requests.inc();
                Err(Status::out_of_range(e.to_string()))
            }
            Err(e @ ReportError::Invalid { .. }) => Err(invalid(&self.state, e.to_string())),
        }
    }
}

/// The limits on what one request may cost: slots, subscriptions, report shapes.
impl AgentService {
    /// Holds one of `max_sessions` slots for a session being built.
    ///
    /// # Errors
    /// RESOURCE_EXHAUSTED when the open sessions and those being built fill every slot.
    fn reserve_slot(&self) -> Result<SessionSlot, Status> {
        let sessions = self.state.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let opening = self.state.opening.load(Ordering::Relaxed);
        let max = self.state.config.max_sessions;
        if sessions.len() + opening >= max {
            return Err(Status::resource_exhausted(format!(
                "{} sessions are open or opening: the server's max_sessions is {max}",
                sessions.len() + opening
            )));
        }
        self.state.opening.fetch_add(1, Ordering::Relaxed);
        Ok(SessionSlot {
            state: self.state.clone(),
        })
    }

    /// Counts a new `SubscribeTables` stream of `session`.
    ///
    /// # Errors
    /// RESOURCE_EXHAUSTED when the session already has `MAX_SUBSCRIBERS_PER_ROUTER` streams per router.
    fn subscription(&self, session: &Session) -> Result<Subscription, Status> {
        let max = MAX_SUBSCRIBERS_PER_ROUTER * session.spec.routers;
        let mut subscribers = self.state.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        let n = subscribers.entry(session.id.clone()).or_insert(0);
        if *n >= max {
            return Err(Status::resource_exhausted(format!(
                "session `{}` has {n} SubscribeTables streams, the most for {} routers is {max}",
                session.id, session.spec.routers
            )));
        }
        *n += 1;
        Ok(Subscription {
            state: self.state.clone(),
            session: session.id.clone(),
        })
    }

    /// An index field (`worker`, `router`) below the session's count of them.
    fn check_index(&self, field: &str, index: u32, count: usize, of: &str) -> Result<(), Status> {
        if index as usize >= count {
            return Err(invalid(
                &self.state,
                format!("invalid `{field}` = {index}: must be < {of} ({count})"),
            ));
        }
        Ok(())
    }

    /// Every item of a batch against the session's shape, before the session is touched: the first bad
    /// one fails the call, naming it (`workers[3].busy_ms`), and nothing is stored.
    fn check_batch(
        &self,
        batch: pb::ReportBatch,
        spec: &SessionSpec,
    ) -> Result<(Vec<WorkerLoad>, Vec<RouterCounts>), Status> {
        let items = batch.workers.len() + batch.routers.len();
        if items > MAX_BATCH_REPORTS {
            return Err(invalid(
                &self.state,
                format!(
                    "a batch of {items} reports: at most {MAX_BATCH_REPORTS} (workers and routers together)"
                ),
            ));
        }
        let foreign = |list: &str, i: usize, id: &str| {
            (!id.is_empty() && id != batch.session_id).then(|| {
                invalid(
                    &self.state,
                    format!(
                        "`{list}[{i}].session_id` = {id:?}: must be empty or the batch's ({:?})",
                        batch.session_id
                    ),
                )
            })
        };
        let shape = spec.report_shape();
        let mut workers = Vec::with_capacity(batch.workers.len());
        for (i, r) in batch.workers.iter().enumerate() {
            if let Some(status) = foreign("workers", i, &r.session_id) {
                return Err(status);
            }
            let load = worker_load(r);
            shape
                .check_worker(&load)
                .map_err(|e| invalid(&self.state, format!("workers[{i}]: {e}")))?;
            workers.push(load);
        }
        let mut routers = Vec::with_capacity(batch.routers.len());
        for (i, r) in batch.routers.into_iter().enumerate() {
            if let Some(status) = foreign("routers", i, &r.session_id) {
                return Err(status);
            }
            self.check_router_report(&r, spec)
                .map_err(|s| Status::invalid_argument(format!("routers[{i}]: {}", s.message())))?;
            routers.push(router_counts(r));
        }
        Ok((workers, routers))
    }

    /// A router report's index and vector lengths against the session's shape, before the session is
    /// touched (a refused report neither counts as activity nor opens an interval).
    fn check_router_report(&self, r: &pb::RouterReport, spec: &SessionSpec) -> Result<(), Status> {
        self.check_index("router", r.router, spec.routers, "routers")?;
        let length = |field: &str, got: usize, expected: String| {
            invalid(
                &self.state,
                format!("invalid `{field}` = {got} values: must have {expected}"),
            )
        };
        if r.worker_counts.len() != spec.workers {
            return Err(length(
                "worker_counts",
                r.worker_counts.len(),
                format!("one per worker ({})", spec.workers),
            ));
        }
        if !r.pair_counts.is_empty() && r.pair_counts.len() != spec.action_dim() {
            return Err(length(
                "pair_counts",
                r.pair_counts.len(),
                format!("none or one per mask pair ({})", spec.action_dim()),
            ));
        }
        // Ignored today, but a size like any other.
        if r.hot_keys.len() > MAX_HOT_KEYS {
            return Err(length(
                "hot_keys",
                r.hot_keys.len(),
                format!("at most {MAX_HOT_KEYS}"),
            ));
        }
        Ok(())
    }
}

/// One of `max_sessions` slots, held by a session being built; dropping it (the session is in the
/// table, or was not built) releases it.
#[derive(Debug)]
struct SessionSlot {
    state: Arc<AgentState>,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.state.opening.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One live `SubscribeTables` stream, counted in `AgentState::subscribers` until its task ends.
#[derive(Debug)]
struct Subscription {
    state: Arc<AgentState>,
    session: String,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut subscribers = self.state.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = subscribers.get_mut(&self.session) {
            *n -= 1;
            if *n == 0 {
                subscribers.remove(&self.session);
            }
        }
    }
}
