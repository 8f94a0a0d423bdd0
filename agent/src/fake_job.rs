//! An agent on loopback and the messages of a fake job: what the gRPC tests and `sas-agent bench` drive
//! the server with.

use crate::pb::{self, SessionMode};
use crate::server::{self, PolicyFactory, ServeConfig, ServeError};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// An agent server on ephemeral loopback ports, stopped by [`LocalAgent::stop`].
#[derive(Debug)]
pub struct LocalAgent {
    /// The gRPC address.
    pub addr: SocketAddr,
    /// The `/metrics` address.
    pub metrics_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    handle: JoinHandle<Result<(), ServeError>>,
}

impl LocalAgent {
    /// Starts `server::run` with `config` (its bind addresses are ignored) and `policies`.
    ///
    /// # Errors
    /// A loopback port cannot be bound.
    pub async fn start(config: ServeConfig, policies: Arc<dyn PolicyFactory>) -> std::io::Result<Self> {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await?, config, policies).await
    }

    /// As [`LocalAgent::start`], on a listener the caller bound (e.g. a port a client already knows).
    ///
    /// # Errors
    /// The metrics port cannot be bound.
    pub async fn start_on(
        listener: TcpListener,
        config: ServeConfig,
        policies: Arc<dyn PolicyFactory>,
    ) -> std::io::Result<Self> {
        let metrics = TcpListener::bind("127.0.0.1:0").await?;
        let (addr, metrics_addr) = (listener.local_addr()?, metrics.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(server::run(config, policies, listener, metrics, async {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            metrics_addr,
            stop,
            handle,
        })
    }

    /// The URI clients connect to.
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A connected client.
    ///
    /// # Errors
    /// The server cannot be reached.
    pub async fn client(
        &self,
    ) -> Result<pb::agent_client::AgentClient<tonic::transport::Channel>, tonic::transport::Error> {
        pb::agent_client::AgentClient::connect(self.uri()).await
    }

    /// Stops the server and waits for it.
    ///
    /// # Errors
    /// The server failed, or its task panicked.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.handle.await??;
        Ok(())
    }
}

/// A session of `workers` workers, one router, 100 ms intervals, a window of 1, static hot keys and the
/// mask the agent derives for 10 hot keys of Zipf(1.5).
pub fn open_request(job_name: &str, workers: u32, mode: SessionMode) -> pb::OpenSessionRequest {
    pb::OpenSessionRequest {
        job_name: job_name.into(),
        workers,
        routers: 1,
        interval_ms: 100,
        window_intervals: 1,
        hot_key_mode: pb::HotKeyMode::Static as i32,
        hot_keys: 10,
        mask: None,
        mask_alpha: 1.5,
        mode: mode as i32,
        session_key: String::new(),
    }
}

/// Worker `worker` was busy `busy_ms` of a 100 ms interval.
pub fn worker_report(session: &str, interval: u64, worker: u32, busy_ms: f64) -> pb::WorkerReport {
    pb::WorkerReport {
        session_id: session.into(),
        interval,
        worker,
        busy_ms,
        backpressured_ms: 0.0,
        interval_ms: 100.0,
        records_in: 100,
    }
}

/// Router 0 routed `counts` records to the workers.
pub fn router_report(session: &str, interval: u64, counts: Vec<u64>) -> pb::RouterReport {
    pb::RouterReport {
        session_id: session.into(),
        interval,
        router: 0,
        worker_counts: counts,
        hot_keys: vec![],
        pair_counts: vec![],
    }
}

/// Subscribes router 0 to `session`'s routing tables.
///
/// # Errors
/// The agent refused the subscription (e.g. an unknown session).
pub async fn subscribe(
    client: &mut pb::agent_client::AgentClient<tonic::transport::Channel>,
    session: &str,
) -> Result<tonic::Streaming<pb::RoutingTableUpdate>, tonic::Status> {
    let request = pb::SubscribeRequest {
        session_id: session.into(),
        router: 0,
    };
    Ok(client.subscribe_tables(request).await?.into_inner())
}
