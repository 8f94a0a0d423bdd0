//! One shutdown signal fanned out to every long-lived task (the mini-redis shape).

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
