//! The `sas.v1.Agent` gRPC service: validates every request, maps failures to precise status codes
//! (`INVALID_ARGUMENT` naming the field, `NOT_FOUND` for an unknown session) and never lets one bad
//! request take the server down.

use super::AgentState;
use super::session::{Mode, Session, SessionSpec};
use crate::coordinator::{Accepted, RouterCounts, WorkerLoad};
use crate::pb;
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

    fn spec(&self, r: &pb::OpenSessionRequest) -> Result<SessionSpec, Status> {
        let bad = |m: String| invalid(&self.state, m);
        if r.workers == 0 || r.workers > 32_768 {
            return Err(bad(format!("workers = {}: must be in 1..=32768", r.workers)));
        }
        if r.routers == 0 {
            return Err(bad("routers = 0: must be > 0".into()));
        }
        if r.interval_ms < 100 {
            return Err(bad(format!("interval_ms = {}: must be >= 100", r.interval_ms)));
        }
        if r.window_intervals == 0 {
            return Err(bad("window_intervals = 0: must be >= 1".into()));
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
        let spec = self.spec(request.get_ref())?;
        if let Some(open) = self.keyed(&spec)? {
            return Ok(Response::new(open_reply(
                &open.id,
                &open.spec,
                open.policy().version(),
            )));
        }
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
        if sessions.len() >= self.state.config.max_sessions {
            return Err(Status::resource_exhausted(format!(
                "{} sessions are open, the maximum",
                sessions.len()
            )));
        }
        sessions.insert(id, Arc::new(session));
        self.state.metrics.sessions.set(sessions.len() as i64);
        Ok(Response::new(reply))
    }

    async fn report_worker(
        &self,
        request: Request<pb::WorkerReport>,
    ) -> Result<Response<pb::ReportAck>, Status> {
        let r = request.into_inner();
        let session = self.session(&r.session_id)?;
        let load = WorkerLoad {
            interval: r.interval,
            worker: r.worker as usize,
            busy_ms: r.busy_ms,
            backpressured_ms: r.backpressured_ms,
            interval_ms: r.interval_ms,
        };
        let (accepted, outcomes) = session.with_collector(r.interval, |c| c.add_worker(&load));
        self.publish(&session.id, outcomes);
        self.ack(accepted)
    }

    async fn report_router(
        &self,
        request: Request<pb::RouterReport>,
    ) -> Result<Response<pb::ReportAck>, Status> {
        let r = request.into_inner();
        let session = self.session(&r.session_id)?;
        let counts = RouterCounts {
            interval: r.interval,
            router: r.router as usize,
            counts: r.worker_counts,
            pairs: r.pair_counts,
        };
        let (accepted, outcomes) = session.with_collector(r.interval, |c| c.add_router(&counts));
        self.publish(&session.id, outcomes);
        self.ack(accepted)
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
        let mut tables = session.subscribe();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let mut shutdown = self.state.shutdown();
        // A task per subscriber: a failed send means the router left, so the task ends (tonic's
        // streaming example); a closed watch means the session closed.
        tokio::spawn(async move {
            loop {
                let update = tables.borrow_and_update().clone();
                if tx.send(Ok(update)).await.is_err() {
                    return;
                }
                tokio::select! {
                    changed = tables.changed() => if changed.is_err() { return },
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
fn open_reply(id: &str, spec: &SessionSpec, model_version: u64) -> pb::OpenSessionReply {
    pb::OpenSessionReply {
        session_id: id.to_string(),
        model_version,
        mask: Some(pb::Mask {
            ranges: spec
                .mask
                .ranges()
                .iter()
                .map(|r| pb::WorkerRange {
                    start: r.start as u32,
                    end: r.end as u32,
                })
                .collect(),
        }),
        action_dim: spec.action_dim() as u32,
        observation_dim: spec.observation_dim() as u32,
    }
}

impl AgentService {
    fn ack(
        &self,
        accepted: Result<Accepted, crate::coordinator::ReportError>,
    ) -> Result<Response<pb::ReportAck>, Status> {
        match accepted {
            Ok(Accepted::Stored) => Ok(Response::new(pb::ReportAck { accepted: true })),
            Ok(Accepted::Late) => {
                self.state.metrics.late_reports.inc();
                Ok(Response::new(pb::ReportAck { accepted: false }))
            }
            Err(e) => Err(invalid(&self.state, e.to_string())),
        }
    }
}
