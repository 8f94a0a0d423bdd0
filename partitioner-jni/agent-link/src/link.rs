//! One link: a thread running a single-threaded tokio runtime with one gRPC channel and one session, the
//! table slot and status counters it fills, and the bounded queue handles put reports in.

use super::shared::LinkShared;
use super::task::{self, Report, TaskContext};
use super::{Backoff, LinkError};
use sas_router::hashing::murmur3_32;
use sas_router::params::AgentLinkConfig;
use sas_router::params::Params;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A running link. Dropping it stops the task and joins its thread. The session is left open: routers
/// and workers in other JVMs may share it, and a Flink restart re-joins it by key; the agent closes it
/// after `session_idle_s` without reports (saving its learner), or when it shuts down.
#[derive(Debug)]
pub struct Link {
    pub(crate) shared: Arc<LinkShared>,
    pub(crate) reports: mpsc::Sender<Report>,
    /// `(address, session key)`: the registry's key.
    pub(crate) key: (String, String),
    thread: Option<(oneshot::Sender<()>, std::thread::JoinHandle<()>)>,
}

impl Link {
    /// Starts the link of `params`' agent section on its own thread. Returns once the thread runs; the
    /// session is opened in the background.
    ///
    /// # Errors
    /// [`LinkError::NoAgent`] without an agent, [`LinkError::Config`] for a mask the params cannot draw,
    /// [`LinkError::Address`] for an address tonic rejects, [`LinkError::Runtime`] if the thread or its
    /// runtime cannot start.
    pub fn start(params: &Params) -> Result<Self, LinkError> {
        let agent = params.agent_link().ok_or(LinkError::NoAgent)?;
        let (open, action_dim) = super::session::open_request(params, agent)?;
        let endpoint = endpoint(agent)?;
        let key = (agent.address.clone(), open.session_key.clone());
        let shared = Arc::new(LinkShared::default());
        let (reports, queue) = mpsc::channel(agent.report_queue);
        let (stop, stopped) = oneshot::channel();
        // The process id is mixed in: every JVM of a job has the same config, and identical jitter would
        // make them retry in lockstep.
        let seed = params.seed
            ^ u64::from(murmur3_32(open.session_key.as_bytes(), 0))
            ^ (u64::from(std::process::id()) << 32);
        let context = TaskContext {
            shared: shared.clone(),
            open,
            action_dim,
            endpoint,
            connect_timeout: Duration::from_millis(agent.connect_timeout_ms),
            report_timeout: Duration::from_millis(2 * agent.interval_ms),
            backoff: Backoff::new(
                agent.reconnect_backoff_ms.min,
                agent.reconnect_backoff_ms.max,
                seed,
            ),
        };
        let (started, ready) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("sas-agent-link".into())
            .spawn(move || {
                // The runtime is built and dropped on this thread: dropping a runtime inside another
                // runtime's task panics, and handles may be closed from one.
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                match runtime {
                    Ok(runtime) => {
                        let _ = started.send(Ok(()));
                        runtime.block_on(task::run(context, queue, stopped));
                    }
                    Err(e) => {
                        let _ = started.send(Err(e));
                    }
                }
            })?;
        // Cannot be empty: the thread sends before doing anything else (a panic there drops the sender,
        // which is reported as the error below).
        match ready.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(LinkError::Runtime(e));
            }
            Err(_) => {
                let _ = thread.join();
                return Err(LinkError::Runtime(std::io::Error::other(
                    "link thread died at start",
                )));
            }
        }
        tracing::info!(address = %key.0, session_key = %key.1, "agent link started");
        Ok(Self {
            shared,
            reports,
            key,
            thread: Some((stop, thread)),
        })
    }

    /// A link with no task, for tests: nothing connects, the returned queue receives the reports.
    #[cfg(test)]
    pub(crate) fn detached(queue: usize) -> (Self, mpsc::Receiver<Report>) {
        let (reports, rx) = mpsc::channel(queue);
        let link = Self {
            shared: Arc::new(LinkShared::default()),
            reports,
            key: (String::new(), String::new()),
            thread: None,
        };
        (link, rx)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.thread.take() {
            // The task may be gone already (it only ends when told to, or if it panicked).
            let _ = stop.send(());
            if thread.join().is_err() {
                tracing::error!(address = %self.key.0, "agent link thread panicked");
            }
            tracing::info!(address = %self.key.0, session_key = %self.key.1, "agent link stopped");
        }
    }
}

fn endpoint(agent: &AgentLinkConfig) -> Result<tonic::transport::Endpoint, LinkError> {
    let connect_timeout = Duration::from_millis(agent.connect_timeout_ms);
    let endpoint =
        tonic::transport::Endpoint::from_shared(agent.address.clone()).map_err(|e| LinkError::Address {
            address: agent.address.clone(),
            reason: e.to_string(),
        })?;
    Ok(endpoint
        .connect_timeout(connect_timeout)
        // Tables and reports are small messages that must leave at once.
        .tcp_nodelay(true)
        // An agent host that vanishes without closing the socket is noticed within a ping or two,
        // so the table stream ends and the router's fallback timer starts.
        .http2_keep_alive_interval(Duration::from_millis(agent.interval_ms.max(1000)))
        .keep_alive_timeout(connect_timeout)
        .keep_alive_while_idle(true))
}
