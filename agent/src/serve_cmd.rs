//! The `serve` and `health` commands: thin wrappers that build a runtime and call the library.

use crate::server::{self, ModelFactory, ServeConfig};
use anyhow::Context;
use std::path::Path;
use std::sync::Arc;

/// Loads `--config` (YAML, every key optional) or the defaults; `allow_remote` (`--allow-remote`) sets
/// the key of that name.
///
/// # Errors
/// The file cannot be read or parsed, or a setting is invalid (the message names the file and the key).
pub fn load_config(path: Option<&Path>, allow_remote: bool) -> anyhow::Result<ServeConfig> {
    let mut config = match path {
        None => ServeConfig::default(),
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            serde_norway::from_str(&text).with_context(|| format!("{}", path.display()))?
        }
    };
    config.allow_remote |= allow_remote;
    let origin = path.map_or_else(|| "defaults".to_string(), |p| p.display().to_string());
    config.validate().with_context(|| origin)?;
    Ok(config)
}

/// Runs the agent until SIGTERM or SIGINT (Ctrl-C), then shuts down gracefully: health NOT_SERVING,
/// open sessions finished (TRAIN learners save, COLLECT datasets flush), `Ok` (exit 0).
///
/// The checkpoint is loaded and validated before any port is bound, so while it loads nothing answers,
/// and a bad one ends the command with an error naming the file (exit 2) before health is ever SERVING.
///
/// # Errors
/// The signal handlers cannot be installed, the checkpoint is invalid, a port cannot be bound, or the
/// server fails.
pub fn serve(config: ServeConfig) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        // Colours only for a terminal: the mode scripts write the log to a file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    tracing::info!(?config, "starting");
    let runtime = tokio::runtime::Runtime::new().context("tokio runtime")?;
    runtime.block_on(async {
        // First, so that a signal arriving while the checkpoint loads also takes the graceful path.
        let signals =
            crate::shutdown::terminate_or_interrupt().context("installing SIGTERM/SIGINT handlers")?;
        let factory = Arc::new(ModelFactory::new(&config).context("`checkpoint`")?);
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot bind `bind` = {}", config.bind))?;
        let metrics = tokio::net::TcpListener::bind(config.metrics_bind)
            .await
            .with_context(|| format!("cannot bind `metrics_bind` = {}", config.metrics_bind))?;
        let (grpc_addr, metrics_addr) = (listener.local_addr()?, metrics.local_addr()?);
        for (key, addr) in [("bind", grpc_addr), ("metrics_bind", metrics_addr)] {
            // `validate` refused these unless `allow_remote` is set.
            if !addr.ip().is_loopback() {
                tracing::warn!(
                    key,
                    %addr,
                    "listening beyond loopback: plaintext, no authentication; \
                     put a TLS-terminating proxy in front (docs/agent.md, \"Beyond loopback\")"
                );
            }
        }
        tracing::info!(grpc = %grpc_addr, metrics = %metrics_addr, "serving");
        server::run(config, factory, listener, metrics, signals).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Asks the agent at `addr` for its health; `Ok(true)` when it is serving.
pub fn health(addr: &str) -> anyhow::Result<bool> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let runtime = tokio::runtime::Runtime::new().context("tokio runtime")?;
    runtime.block_on(async {
        let channel = tonic::transport::Channel::from_shared(addr.to_string())
            .with_context(|| format!("`--addr` = {addr} is not a URI"))?
            .connect()
            .await
            .with_context(|| format!("cannot reach the agent at {addr}"))?;
        let mut client = HealthClient::new(channel);
        let reply = client
            .check(HealthCheckRequest {
                service: "sas.v1.Agent".into(),
            })
            .await
            .with_context(|| format!("health check of {addr}"))?;
        let status = reply.into_inner().status();
        println!("{addr}: {}", status.as_str_name());
        Ok(status == ServingStatus::Serving)
    })
}
