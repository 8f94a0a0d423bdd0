//! The link's task: opens the session (with back-off), subscribes to its tables and publishes each into
//! the slot; on a lost stream or a refused open it waits and starts over with the same session key. A
//! second task sends the queued reports in batches, at most a few calls at a time, each with a deadline.

use super::Backoff;
use super::shared::LinkShared;
use super::slot::Table;
use super::status::LinkStatus;
use sas_proto::pb;
use sas_proto::pb::agent_client::AgentClient;
use sas_router::limits::MAX_BATCH_REPORTS;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};
use tokio::time::timeout;
use tonic::transport::{Channel, Endpoint};

/// Report calls in flight at most; more wait in the queue (and are dropped when it is full).
const MAX_REPORTS_IN_FLIGHT: usize = 8;

/// A report waiting in the queue; the sender fills in the session id.
#[derive(Debug)]
pub(crate) enum Report {
    /// A router's counts over one interval.
    Router(pb::RouterReport),
    /// A worker's load over one interval.
    Worker(pb::WorkerReport),
}

/// Everything the task needs, built by [`super::Link::start`].
#[derive(Debug)]
pub(crate) struct TaskContext {
    pub(crate) shared: Arc<LinkShared>,
    pub(crate) open: pb::OpenSessionRequest,
    /// What the agent's reply must say, or the routers could not decode its tables.
    pub(crate) action_dim: usize,
    pub(crate) endpoint: Endpoint,
    pub(crate) connect_timeout: Duration,
    pub(crate) report_timeout: Duration,
    pub(crate) backoff: Backoff,
}

/// Why a session round ended.
#[derive(Debug)]
struct RoundEnd {
    /// Whether the round got as far as a live table stream.
    connected: bool,
    cause: String,
}

/// Runs the link until `stop` fires. The session is not closed (see [`super::link::Link`]).
pub(crate) async fn run(
    mut ctx: TaskContext,
    reports: mpsc::Receiver<Report>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut client = AgentClient::new(ctx.endpoint.connect_lazy());
    let (session_tx, session_rx) = watch::channel(None::<Arc<str>>);
    let resync = Arc::new(Notify::new());
    let sender = tokio::spawn(send_reports(
        client.clone(),
        reports,
        session_rx,
        ctx.shared.clone(),
        resync.clone(),
        ctx.report_timeout,
    ));
    let mut opened = 0u64;
    let mut failures = 0u64;
    loop {
        let end = tokio::select! {
            _ = &mut stop => break,
            end = session(&mut client, &ctx, &session_tx, &resync, &mut opened) => end,
        };
        ctx.shared.status.set_connected(false);
        session_tx.send_replace(None);
        if end.connected {
            ctx.backoff.reset();
            failures = 0;
        }
        let delay = ctx.backoff.next_delay();
        let address = ctx.endpoint.uri();
        if end.connected {
            tracing::warn!(%address, cause = %end.cause, retry_in_ms = delay.as_millis() as u64, "agent link down");
        } else if failures == 0 {
            tracing::warn!(%address, cause = %end.cause, retry_in_ms = delay.as_millis() as u64, "agent unreachable");
        } else {
            tracing::debug!(%address, cause = %end.cause, failures, retry_in_ms = delay.as_millis() as u64, "agent still unreachable");
        }
        failures += 1;
        tokio::select! {
            _ = &mut stop => break,
            () = tokio::time::sleep(delay) => {}
        }
    }
    sender.abort();
    ctx.shared.status.set_connected(false);
}

/// One session: open it, subscribe, publish tables until the stream ends or the agent forgets it.
async fn session(
    client: &mut AgentClient<Channel>,
    ctx: &TaskContext,
    session_tx: &watch::Sender<Option<Arc<str>>>,
    resync: &Notify,
    opened: &mut u64,
) -> RoundEnd {
    let failed = |cause: String| RoundEnd {
        connected: false,
        cause,
    };
    let reply = match timeout(ctx.connect_timeout, client.open_session(ctx.open.clone())).await {
        Err(_) => return failed("OpenSession timed out".into()),
        Ok(Err(status)) => return failed(format!("OpenSession: {status}")),
        Ok(Ok(reply)) => reply.into_inner(),
    };
    if reply.action_dim as usize != ctx.action_dim {
        return failed(format!(
            "session `{}` has action dimension {}, the routers' mask {}",
            reply.session_id, reply.action_dim, ctx.action_dim
        ));
    }
    let id: Arc<str> = reply.session_id.as_str().into();
    session_tx.send_replace(Some(id.clone()));
    let subscribe = client.subscribe_tables(pb::SubscribeRequest {
        session_id: reply.session_id.clone(),
        // Every router of a session gets the same tables; the link subscribes once for all of them.
        router: 0,
    });
    let mut tables = match timeout(ctx.connect_timeout, subscribe).await {
        Err(_) => return failed("SubscribeTables timed out".into()),
        Ok(Err(status)) => return failed(format!("SubscribeTables: {status}")),
        Ok(Ok(stream)) => stream.into_inner(),
    };
    let status = &ctx.shared.status;
    status.set_connected(true);
    if *opened > 0 {
        LinkStatus::count(&status.reconnects);
    }
    *opened += 1;
    tracing::info!(session = %id, model_version = reply.model_version, sessions_opened = *opened, "agent link up");
    loop {
        tokio::select! {
            message = tables.message() => match message {
                Ok(Some(update)) => publish(ctx, update),
                Ok(None) => return RoundEnd { connected: true, cause: "the table stream ended".into() },
                Err(status) => return RoundEnd { connected: true, cause: format!("table stream: {status}") },
            },
            () = resync.notified() => {
                return RoundEnd { connected: true, cause: format!("the agent no longer knows session `{id}`") };
            }
        }
    }
}

fn publish(ctx: &TaskContext, update: pb::RoutingTableUpdate) {
    if update.action.len() != ctx.action_dim {
        tracing::warn!(
            step = update.step,
            len = update.action.len(),
            expected = ctx.action_dim,
            "table ignored: wrong length"
        );
        return;
    }
    let status = &ctx.shared.status;
    LinkStatus::count(&status.tables_received);
    status
        .model_version
        .store(update.model_version, std::sync::atomic::Ordering::Relaxed);
    status
        .last_table_step
        .store(update.step, std::sync::atomic::Ordering::Relaxed);
    tracing::debug!(
        step = update.step,
        model_version = update.model_version,
        "table received"
    );
    ctx.shared.slot.publish(Table {
        step: update.step,
        model_version: update.model_version,
        action: update.action,
    });
}

/// Sends queued reports under the current session, everything queued at once in one `Report` call: the
/// reports of one JVM's workers and routers for an interval arrive together, and one request per JVM
/// and interval costs the agent a fraction of one per report. While calls are in flight the queue
/// fills, so the next batch takes all of it. A report with no session open is dropped (its interval will
/// be closed by the agent's deadline, or was lost with the agent).
async fn send_reports(
    client: AgentClient<Channel>,
    mut queue: mpsc::Receiver<Report>,
    session: watch::Receiver<Option<Arc<str>>>,
    shared: Arc<LinkShared>,
    resync: Arc<Notify>,
    report_timeout: Duration,
) {
    let in_flight = Arc::new(Semaphore::new(MAX_REPORTS_IN_FLIGHT));
    while let Some(first) = queue.recv().await {
        // Cannot fail: the semaphore is never closed.
        let permit = in_flight.clone().acquire_owned().await.expect("semaphore open");
        let mut batch = Batch::default();
        batch.push(first);
        while batch.len() < MAX_BATCH_REPORTS {
            match queue.try_recv() {
                Ok(report) => batch.push(report),
                Err(_) => break,
            }
        }
        let id = session.borrow().clone();
        let Some(id) = id else {
            LinkStatus::add(&shared.status.reports_dropped, batch.len());
            continue;
        };
        let (mut client, shared, resync, session) =
            (client.clone(), shared.clone(), resync.clone(), session.clone());
        tokio::spawn(async move {
            let n = batch.len();
            let sent = timeout(report_timeout, client.report(batch.into_request(&id))).await;
            drop(permit);
            match sent {
                Ok(Ok(_)) => LinkStatus::add(&shared.status.reports_sent, n),
                Ok(Err(status)) => {
                    LinkStatus::add(&shared.status.reports_dropped, n);
                    let current = session.borrow().as_deref() == Some(&*id);
                    if status.code() == tonic::Code::NotFound && current {
                        resync.notify_one();
                    } else {
                        tracing::debug!(session = %id, cause = %status, "reports not delivered");
                    }
                }
                Err(_) => LinkStatus::add(&shared.status.reports_dropped, n),
            }
        });
    }
}

/// Reports taken from the queue together, sent as one `Report` call.
#[derive(Debug, Default)]
struct Batch {
    workers: Vec<pb::WorkerReport>,
    routers: Vec<pb::RouterReport>,
}

impl Batch {
    fn push(&mut self, report: Report) {
        match report {
            Report::Router(r) => self.routers.push(r),
            Report::Worker(w) => self.workers.push(w),
        }
    }

    fn len(&self) -> usize {
        self.workers.len() + self.routers.len()
    }

    /// The call for session `session_id` (the items' own ids stay empty).
    fn into_request(self, session_id: &str) -> pb::ReportBatch {
        pb::ReportBatch {
            session_id: session_id.to_string(),
            workers: self.workers,
            routers: self.routers,
        }
    }
}
