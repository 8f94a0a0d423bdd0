//! One shutdown signal fanned out to every long-lived task (the mini-redis shape), and the operating
//! system's signals that start it.

use tokio::sync::broadcast;

/// Listens for the server's shutdown signal. Each task holds its own; `recv` returns once the signal
/// was sent (or the sender is gone), and every later call returns at once.
#[derive(Debug)]
pub(crate) struct Shutdown {
    is_shutdown: bool,
    notify: broadcast::Receiver<()>,
}

impl Shutdown {
    pub(crate) fn new(notify: broadcast::Receiver<()>) -> Self {
        Self {
            is_shutdown: false,
            notify,
        }
    }

    /// Waits for the shutdown signal.
    pub(crate) async fn recv(&mut self) {
        if self.is_shutdown {
            return;
        }
        // Either the value or a closed/lagged channel means shutdown.
        let _ = self.notify.recv().await;
        self.is_shutdown = true;
    }
}

/// The future that starts the server's shutdown: the first SIGTERM (what systemd, Docker and Kubernetes
/// send) or SIGINT (Ctrl-C). Both handlers are installed now, before the server starts, so a signal
/// arriving at any later moment takes the graceful path instead of the default action (exit, nothing
/// saved).
///
/// # Errors
/// A handler cannot be installed; the caller should not start a server it could not stop cleanly.
pub(crate) fn terminate_or_interrupt() -> std::io::Result<impl std::future::Future<Output = ()> + Send> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            let name = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            tracing::info!(signal = name, "shutdown requested");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            // No handler: keep serving (stopped only by a kill) rather than shut down at once.
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::error!(cause = %e, "no Ctrl-C handler: the server stops only when killed");
                std::future::pending::<()>().await;
            }
            tracing::info!(signal = "Ctrl-C", "shutdown requested");
        })
    }
}
