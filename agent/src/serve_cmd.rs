//! The `serve` and `health` commands: thin wrappers that build a runtime and call the library.

use crate::server::{self, ModelFactory, ServeConfig};
use anyhow::Context;
use std::path::Path;
use std::sync::Arc;

/// Loads `--config` (YAML, every key optional) or the defaults.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<ServeConfig> {
    let Some(path) = path else {
        return Ok(ServeConfig::default());
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let config: ServeConfig = serde_norway::from_str(&text).with_context(|| format!("{}", path.display()))?;
    config.validate().with_context(|| format!("{}", path.display()))?;
    Ok(config)
}

/// Runs the agent until Ctrl-C.
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
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot bind `bind` = {}", config.bind))?;
        let metrics = tokio::net::TcpListener::bind(config.metrics_bind)
            .await
            .with_context(|| format!("cannot bind `metrics_bind` = {}", config.metrics_bind))?;
        tracing::info!(grpc = %config.bind, metrics = %config.metrics_bind, "serving");
        let factory = Arc::new(ModelFactory::new(&config).context("`checkpoint`")?);
        let ctrl_c = async {
            // If the signal handler cannot be installed the server runs until killed.
            let _ = tokio::signal::ctrl_c().await;
        };
        server::run(config, factory, listener, metrics, ctrl_c).await?;
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
