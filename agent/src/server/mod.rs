//! The agent server: the `sas.v1.Agent` gRPC service beside `grpc.health.v1`, a Prometheus `/metrics`
//! endpoint, and a deadline task that every 25 ms closes the steps whose deadline passed and the sessions
//! nobody reported to for `session_idle_s`.
//!
//! A report reaches its session (`session::Session`) through the handlers of `service`; the session
//! stores it in its [`StepCollector`](crate::coordinator::StepCollector) and, when that closes an interval
//! (every report in, or the deadline), turns the window into features, asks its policy for an action and
//! publishes the table on a `watch` channel, all inside the call that closed the step. Each
//! `SubscribeTables` stream is a task forwarding that channel. `models` builds each session's policy from
//! the checkpoint (or the initial table); `metrics` and `step_log` record every closed step.
//!
//! [`run`] takes bound listeners and a shutdown future, like mini-redis' `server::run`, so tests start
//! it on port 0 and stop it when they are done.

mod metrics;
mod models;
mod names;
mod service;
mod session;
mod step_log;

pub use step_log::HEADER as STEP_LOG_HEADER;

pub use models::ModelFactory;

pub use service::AgentService;
pub use session::{AgentClock, Clock, ManualClock, Mode, SessionSpec, WallClock};

use crate::env::features::InitialPerf;
use crate::offline::DatasetWriter;
use crate::pb;
use crate::policy::{ActionPolicy, InitialTable};
use crate::sac_policy::LearnerSettings;
use crate::shutdown::Shutdown;
use metrics::Metrics;
use sas_learner::config::SacConfig;
use sas_router::limits::{MAX_MESSAGE_BYTES, MAX_SESSIONS};
use serde::{Deserialize, Serialize};
use session::Session;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::broadcast;

/// Settings of `sas-agent serve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// gRPC address. Default 127.0.0.1:50051 (loopback: the agent trusts its clients; any other address
    /// needs `allow_remote`).
    pub bind: SocketAddr,
    /// Prometheus `/metrics` address. Default 127.0.0.1:9464.
    pub metrics_bind: SocketAddr,
    /// Baseline perf of the reward (`2f + f|f|`, f relative to it); must be > 0. Default 0.6.
    pub initial_perf: f64,
    /// Steps per episode; every `episode_length`-th step is a truncation. Default 128.
    pub episode_length: u64,
    /// A step closes this many intervals after its first report even if reports are missing. Default 2.
    pub deadline_intervals: f64,
    /// Open sessions at most, in `1..=`[`MAX_SESSIONS`]; one more is refused with RESOURCE_EXHAUSTED
    /// before anything of it is built. Default 64.
    pub max_sessions: usize,
    /// Largest request accepted (bytes), in `1024..=`[`MAX_MESSAGE_BYTES`]; a larger one gets
    /// OUT_OF_RANGE. Default 1 MiB.
    pub max_message_bytes: usize,
    /// Directory COLLECT sessions write their offline dataset to (one subdirectory per session).
    pub offline_dir: Option<PathBuf>,
    /// Checkpoint SERVE sessions answer from and TRAIN sessions continue from. None: SERVE answers the
    /// initial table and TRAIN starts from fresh networks.
    pub checkpoint: Option<PathBuf>,
    /// Where TRAIN sessions save their weights: `<train_out>/<job_name>`. None: not saved.
    pub train_out: Option<PathBuf>,
    /// Cadence of TRAIN sessions' learners.
    pub learner: LearnerSettings,
    /// SAC-N hyperparameters of fresh networks (TRAIN without a checkpoint; a checkpoint keeps its own).
    pub sac: SacConfig,
    /// A session without any report for this long is closed (its learner saves, its dataset is
    /// flushed). Default 120 s.
    pub session_idle_s: f64,
    /// CSV file every closed step is appended to (columns: [`STEP_LOG_HEADER`]). None: no log.
    pub step_log: Option<PathBuf>,
    /// Accept a `bind` or `metrics_bind` beyond loopback (`--allow-remote`). The agent trusts its clients
    /// and speaks plaintext, so exposing it is a decision: refused without this, logged with it
    /// (`docs/agent.md`, "Beyond loopback"). Default false.
    pub allow_remote: bool,
    /// The clock report intervals are checked against (`docs/agent.md`, "The clock window"): the
    /// system clock; tests inject their own. Not a settings key.
    #[serde(skip)]
    pub clock: AgentClock,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 50051)),
            metrics_bind: SocketAddr::from(([127, 0, 0, 1], 9464)),
            initial_perf: 0.6,
            episode_length: 128,
            deadline_intervals: 2.0,
            max_sessions: 64,
            max_message_bytes: 1 << 20,
            offline_dir: None,
            checkpoint: None,
            train_out: None,
            learner: LearnerSettings::default(),
            sac: SacConfig::default(),
            session_idle_s: 120.0,
            step_log: None,
            allow_remote: false,
            clock: AgentClock::default(),
        }
    }
}

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A setting is out of range.
    #[error("invalid `{key}` = {value}: {reason}")]
    Invalid {
        /// The setting.
        key: &'static str,
        /// Its value.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// The gRPC transport failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// A socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// A learner setting or the checkpoint is wrong (the message names the key or the file).
    #[error(transparent)]
    Learner(#[from] sas_learner::LearnerError),
}

impl ServeConfig {
    /// Checks every setting; the error names the first bad one.
    pub fn validate(&self) -> Result<InitialPerf, ServeError> {
        let initial = InitialPerf::new(self.initial_perf).map_err(|_| ServeError::Invalid {
            key: "initial_perf",
            value: self.initial_perf.to_string(),
            reason: "must be a finite number > 0".into(),
        })?;
        if !(self.deadline_intervals.is_finite() && self.deadline_intervals >= 1.0) {
            return Err(ServeError::Invalid {
                key: "deadline_intervals",
                value: self.deadline_intervals.to_string(),
                reason: "must be >= 1".into(),
            });
        }
        if !(self.session_idle_s.is_finite() && self.session_idle_s > 0.0) {
            return Err(ServeError::Invalid {
                key: "session_idle_s",
                value: self.session_idle_s.to_string(),
                reason: "must be > 0".into(),
            });
        }
        if !(1..=MAX_SESSIONS).contains(&self.max_sessions) {
            return Err(ServeError::Invalid {
                key: "max_sessions",
                value: self.max_sessions.to_string(),
                reason: format!("must be in 1..={MAX_SESSIONS}"),
            });
        }
        if !(1024..=MAX_MESSAGE_BYTES).contains(&self.max_message_bytes) {
            return Err(ServeError::Invalid {
                key: "max_message_bytes",
                value: self.max_message_bytes.to_string(),
                reason: format!("must be in 1024..={MAX_MESSAGE_BYTES}"),
            });
        }
        for (key, addr) in [("bind", self.bind), ("metrics_bind", self.metrics_bind)] {
            if !addr.ip().is_loopback() && !self.allow_remote {
                return Err(ServeError::Invalid {
                    key,
                    value: addr.to_string(),
                    reason: "not a loopback address: the agent trusts its clients and speaks plaintext; \
                             set `allow_remote: true` (or `--allow-remote`) to expose it, TLS in front"
                        .into(),
                });
            }
        }
        self.sac.validate()?;
        Ok(initial)
    }
}

/// Makes the policy (and, for COLLECT sessions, the dataset writer) of a new session.
pub trait PolicyFactory: Send + Sync + std::fmt::Debug {
    /// The policy serving a session of this shape; an error refuses the session.
    fn policy_for(
        &self,
        spec: &SessionSpec,
    ) -> Result<Arc<dyn ActionPolicy>, Box<dyn std::error::Error + Send + Sync>>;

    /// Where a COLLECT session records its transitions.
    fn offline_writer(
        &self,
        spec: &SessionSpec,
    ) -> Result<Option<DatasetWriter>, Box<dyn std::error::Error + Send + Sync>>;
}

/// Serves the initial table (uniform inside each mask range) and records COLLECT sessions under
/// `offline_dir`.
#[derive(Debug, Default)]
pub struct InitialTableFactory {
    offline_dir: Option<PathBuf>,
    next: AtomicU64,
}

impl InitialTableFactory {
    /// A factory writing COLLECT datasets under `offline_dir`.
    pub fn new(offline_dir: Option<PathBuf>) -> Self {
        Self {
            offline_dir,
            next: AtomicU64::new(0),
        }
    }
}

impl PolicyFactory for InitialTableFactory {
    fn policy_for(
        &self,
        spec: &SessionSpec,
    ) -> Result<Arc<dyn ActionPolicy>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Arc::new(InitialTable::new(spec.action_dim())))
    }

    fn offline_writer(
        &self,
        spec: &SessionSpec,
    ) -> Result<Option<DatasetWriter>, Box<dyn std::error::Error + Send + Sync>> {
        match (&self.offline_dir, spec.mode) {
            (Some(dir), Mode::Collect) => {
                let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path = dir.join(format!("{}-{n}", spec.job_name.replace(['/', ' '], "_")));
                let meta = crate::offline::Meta::new(&spec.mask, format!("job {}", spec.job_name));
                Ok(Some(DatasetWriter::create(&path, meta)?))
            }
            _ => Ok(None),
        }
    }
}

/// State shared by the service and the server's tasks.
#[derive(Debug)]
pub(crate) struct AgentState {
    pub(crate) config: ServeConfigResolved,
    pub(crate) sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Sessions being built: each holds a slot of `max_sessions` from its check to its insertion, so
    /// concurrent opens cannot overshoot the limit. Taken only with `sessions` locked.
    pub(crate) opening: AtomicUsize,
    /// Live `SubscribeTables` streams per session id (ids with none are absent), bounded by
    /// `MAX_SUBSCRIBERS_PER_ROUTER` × the session's routers.
    pub(crate) subscribers: Mutex<HashMap<String, usize>>,
    pub(crate) next_session: AtomicU64,
    pub(crate) policies: Arc<dyn PolicyFactory>,
    pub(crate) metrics: Metrics,
    step_log: Option<step_log::StepLog>,
    notify_shutdown: broadcast::Sender<()>,
}

/// The validated settings the service reads.
#[derive(Debug, Clone)]
pub(crate) struct ServeConfigResolved {
    pub(crate) initial_perf: InitialPerf,
    pub(crate) episode_length: u64,
    pub(crate) deadline_intervals: f64,
    pub(crate) max_sessions: usize,
    pub(crate) session_idle_s: f64,
    pub(crate) clock: AgentClock,
}

impl AgentState {
    /// The state of a server with `config` and `policies`, and the sender of its shutdown signal.
    pub(crate) fn new(
        config: &ServeConfig,
        policies: Arc<dyn PolicyFactory>,
    ) -> Result<(Arc<Self>, broadcast::Sender<()>), ServeError> {
        let initial_perf = config.validate()?;
        let step_log = match &config.step_log {
            Some(path) => Some(step_log::StepLog::open(path).map_err(|e| {
                ServeError::Io(std::io::Error::new(
                    e.kind(),
                    format!("step_log {}: {e}", path.display()),
                ))
            })?),
            None => None,
        };
        let (notify_shutdown, _) = broadcast::channel(1);
        let state = Arc::new(AgentState {
            config: ServeConfigResolved {
                initial_perf,
                episode_length: config.episode_length,
                deadline_intervals: config.deadline_intervals,
                max_sessions: config.max_sessions,
                session_idle_s: config.session_idle_s,
                clock: config.clock.clone(),
            },
            sessions: Mutex::new(HashMap::new()),
            opening: AtomicUsize::new(0),
            subscribers: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            policies,
            metrics: Metrics::new(),
            step_log,
            notify_shutdown: notify_shutdown.clone(),
        });
        Ok((state, notify_shutdown))
    }

    /// Counts a closed step of `session` in the metrics and the step log.
    pub(crate) fn record_step(&self, session: &str, outcome: &session::StepOutcome) {
        self.metrics.record_step(outcome);
        if let Some(log) = &self.step_log {
            log.append(session, outcome);
        }
    }

    pub(crate) fn shutdown(&self) -> Shutdown {
        Shutdown::new(self.notify_shutdown.subscribe())
    }
}

/// Runs the agent until `shutdown` completes: gRPC (agent + health) on `listener`, `/metrics` on
/// `metrics_listener`, and the deadline task. Then it reports `NotServing`, stops every task through one
/// broadcast signal, waits for them and finishes the open sessions (learners save, datasets flush).
///
/// # Errors
/// [`ServeError`] for a bad setting or a transport failure.
pub async fn run(
    config: ServeConfig,
    policies: Arc<dyn PolicyFactory>,
    listener: TcpListener,
    metrics_listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (state, notify_shutdown) = AgentState::new(&config, policies)?;
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<pb::agent_server::AgentServer<AgentService>>()
        .await;
    let service = pb::agent_server::AgentServer::new(AgentService { state: state.clone() })
        .max_decoding_message_size(config.max_message_bytes);

    let deadlines = tokio::spawn(close_overdue_steps(state.clone(), state.shutdown()));
    let metrics = tokio::spawn(serve_metrics(state.clone(), metrics_listener, state.shutdown()));

    let mut grpc_shutdown = state.shutdown();
    // No Nagle: a table is a small message that must leave at once (with Nagle and delayed ACKs a reply
    // waited ~40 ms).
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let grpc = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, async move { grpc_shutdown.recv().await });

    let grpc = tokio::spawn(grpc);
    shutdown.await;
    tracing::info!("shutting down");
    health_reporter
        .set_not_serving::<pb::agent_server::AgentServer<AgentService>>()
        .await;
    // The overall status ("") too: a probe without a service name must see the drain as well.
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    // Receivers may all be gone already; that is fine.
    let _ = notify_shutdown.send(());
    let (grpc, _, _) = tokio::join!(grpc, deadlines, metrics);
    // Every open session ends as a closed one does: TRAIN learners save their checkpoint, COLLECT
    // datasets flush. Joining a learner blocks, so not on a runtime thread.
    let open: Vec<Arc<Session>> = {
        let mut sessions = state.sessions.lock().unwrap_or_else(|e| e.into_inner());
        state.metrics.sessions.set(0);
        sessions.drain().map(|(_, s)| s).collect()
    };
    tracing::info!(sessions = open.len(), "finishing open sessions");
    let finished = tokio::task::spawn_blocking(move || {
        for session in open {
            session.finish();
            tracing::info!(session = %session.id, steps = session.steps(), "session finished");
        }
    })
    .await;
    if let Err(join) = finished {
        tracing::error!(cause = %join, "finishing the sessions failed");
    }
    match grpc {
        Ok(result) => result.map_err(ServeError::from),
        Err(join) => {
            tracing::error!(cause = %join, "gRPC task failed");
            Ok(())
        }
    }
}

/// Every 25 ms, closes the sessions idle for `session_idle_s` and the steps whose deadline
/// (`deadline_intervals` × the session's interval after the interval's first report, or after its end on
/// the agent's clock if later) passed, missing worker reports imputed.
async fn close_overdue_steps(state: Arc<AgentState>, mut shutdown: Shutdown) {
    let mut tick = tokio::time::interval(Duration::from_millis(25));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.recv() => return,
        }
        let sessions: Vec<Arc<Session>> = state
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let now = Instant::now();
        let idle_limit = Duration::from_secs_f64(state.config.session_idle_s);
        for s in sessions.iter().filter(|s| s.idle(now) >= idle_limit) {
            close_idle(&state, s).await;
        }
        for s in sessions {
            let deadline = s.spec.interval.mul_f64(state.config.deadline_intervals);
            for outcome in s.close_overdue(now, deadline) {
                state.record_step(&s.id, &outcome);
            }
        }
    }
}

/// Closes a session nobody reported to for `session_idle_s`: its learner saves, its dataset is flushed.
async fn close_idle(state: &AgentState, session: &Arc<Session>) {
    let removed = {
        let mut sessions = state.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let removed = sessions.remove(&session.id).is_some();
        state.metrics.sessions.set(sessions.len() as i64);
        removed
    };
    if removed {
        tracing::info!(session = %session.id, steps = session.steps(), "idle session closed");
        let finishing = session.clone();
        let _ = tokio::task::spawn_blocking(move || finishing.finish()).await;
    }
}

/// `GET /metrics` in the Prometheus text format.
async fn serve_metrics(state: Arc<AgentState>, listener: TcpListener, mut shutdown: Shutdown) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let state = state.clone();
            async move { state.metrics.render() }
        }),
    );
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.recv().await })
        .await;
    if let Err(e) = served {
        tracing::error!(cause = %e, "metrics endpoint failed");
    }
}
