//! The process-wide registry: one link per `(address, session key)`, shared by every router and worker
//! handle of the JVM and stopped when the last one is released.

use super::LinkError;
use super::link::Link;
use super::shared::LinkShared;
use super::task::Report;
use sas_router::params::Params;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};
use tokio::sync::mpsc;

/// `(address, session key)` to the live link, if any.
type Links = HashMap<(String, String), Weak<Link>>;

static LINKS: LazyLock<Mutex<Links>> = LazyLock::new(Default::default);

fn links() -> MutexGuard<'static, Links> {
    // The map stays consistent across a panic (single inserts and removes); recover rather than fail.
    LINKS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A counted reference to a link. Every clone and drop of the inner `Arc` happens under the registry
/// lock, so the last release stops the link before anyone can open the same key again: one key never
/// has two links in a process.
#[derive(Debug)]
pub struct LinkRef {
    link: Option<Arc<Link>>,
    registered: bool,
}

impl LinkRef {
    /// Joins the link of `params`' agent (address and session key), starting it if this JVM has none.
    ///
    /// # Errors
    /// As `Link::start`: no agent, a mask the params cannot draw, a bad address, or a thread that cannot
    /// start ([`LinkError`]).
    pub fn acquire(params: &Params) -> Result<Self, LinkError> {
        let agent = params.agent_link().ok_or(LinkError::NoAgent)?;
        let key = (agent.address.clone(), params.session_key());
        let mut links = links();
        if let Some(link) = links.get(&key).and_then(Weak::upgrade) {
            return Ok(Self {
                link: Some(link),
                registered: true,
            });
        }
        let link = Arc::new(Link::start(params)?);
        links.insert(key, Arc::downgrade(&link));
        Ok(Self {
            link: Some(link),
            registered: true,
        })
    }

    /// A reference to a link outside the registry (tests).
    #[cfg(test)]
    pub(crate) fn detached(link: Link) -> Self {
        Self {
            link: Some(Arc::new(link)),
            registered: false,
        }
    }

    fn link(&self) -> &Link {
        // Cannot fail: `link` is only taken in `drop`.
        self.link.as_ref().expect("a live link reference")
    }

    /// Status and table slot.
    pub fn shared(&self) -> Arc<LinkShared> {
        self.link().shared.clone()
    }

    /// A sender into the link's report queue.
    pub(crate) fn reports(&self) -> mpsc::Sender<Report> {
        self.link().reports.clone()
    }

    /// Handles holding this link in this JVM (for tests and logs).
    pub fn holders(&self) -> usize {
        let _links = links();
        self.link.as_ref().map_or(0, Arc::strong_count)
    }
}

impl Drop for LinkRef {
    fn drop(&mut self) {
        let Some(link) = self.link.take() else { return };
        if !self.registered {
            return;
        }
        let mut links = links();
        if Arc::strong_count(&link) == 1 {
            let ours = links
                .get(&link.key)
                .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(&link)));
            if ours {
                links.remove(&link.key);
            }
        }
        // Dropped under the lock: the last reference stops the link here.
        drop(link);
        drop(links);
    }
}
