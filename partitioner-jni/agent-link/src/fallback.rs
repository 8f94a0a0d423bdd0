//! When a router stops trusting the agent: the fallback state machine.
//!
//! A router routes with its primary partitioner (holding the last table it received) until the link has
//! been down for `fallback_after_ms` without a table arriving; it then routes with the fallback baseline
//! until tables flow again. Pure: the router feeds it its own clock readings, so tests drive it without
//! sleeping.

/// What an observation changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    /// Nothing.
    Stay,
    /// Route with the fallback from now on; the link has been down `down_ms`.
    ToFallback {
        /// How long the link has been down (ms).
        down_ms: u64,
    },
    /// A table arrived: route with the primary again.
    ToPrimary,
}

/// Whether the fallback routes, and since when the link is down.
#[derive(Debug, Clone)]
pub struct FallbackState {
    after_ms: u64,
    /// When the router first saw the link down (router clock); `None` while connected or tables flow.
    down_since: Option<u64>,
    active: bool,
}

impl FallbackState {
    /// A router created at `now_ms`: it counts the link as down from then until it sees it up, so a
    /// router whose agent never answers falls back `after_ms` after it started.
    pub fn new(after_ms: u64, now_ms: u64) -> Self {
        Self {
            after_ms,
            down_since: Some(now_ms),
            active: false,
        }
    }

    /// Whether the fallback routes.
    #[inline]
    pub fn active(&self) -> bool {
        self.active
    }

    /// Notes what the router sees at `now_ms`: whether the link is connected and whether a table arrived
    /// since the last observation.
    pub fn observe(&mut self, now_ms: u64, connected: bool, new_table: bool) -> Switch {
        if new_table {
            self.down_since = None;
            if self.active {
                self.active = false;
                return Switch::ToPrimary;
            }
            return Switch::Stay;
        }
        if connected {
            // Up again but no table yet: the timer stops; an active fallback stays until a table comes.
            self.down_since = None;
            return Switch::Stay;
        }
        let since = *self.down_since.get_or_insert(now_ms);
        let down_ms = now_ms.saturating_sub(since);
        if !self.active && down_ms >= self.after_ms {
            self.active = true;
            return Switch::ToFallback { down_ms };
        }
        Switch::Stay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER: u64 = 5000;

    #[test]
    fn a_router_whose_agent_never_answers_falls_back_after_the_timeout() {
        let mut f = FallbackState::new(AFTER, 1_000);
        assert_eq!(f.observe(1_000 + AFTER - 1, false, false), Switch::Stay);
        assert!(!f.active());
        assert_eq!(
            f.observe(1_000 + AFTER, false, false),
            Switch::ToFallback { down_ms: AFTER }
        );
        assert!(f.active());
        // Said once.
        assert_eq!(f.observe(1_000 + 2 * AFTER, false, false), Switch::Stay);
    }

    #[test]
    fn a_connection_stops_the_timer_and_a_loss_restarts_it() {
        let mut f = FallbackState::new(AFTER, 0);
        assert_eq!(f.observe(100, true, true), Switch::Stay);
        assert_eq!(f.observe(4_000, true, false), Switch::Stay);
        // Down from 10 000 (first seen down), not from creation.
        assert_eq!(f.observe(10_000, false, false), Switch::Stay);
        assert_eq!(f.observe(10_000 + AFTER - 1, false, false), Switch::Stay);
        // A brief reconnection without a table resets the timer.
        assert_eq!(f.observe(10_000 + AFTER - 1, true, false), Switch::Stay);
        assert_eq!(f.observe(16_000, false, false), Switch::Stay);
        assert_eq!(f.observe(16_000 + AFTER - 1, false, false), Switch::Stay);
        assert!(matches!(
            f.observe(16_000 + AFTER, false, false),
            Switch::ToFallback { .. }
        ));
    }

    #[test]
    fn the_fallback_stays_until_a_table_arrives() {
        let mut f = FallbackState::new(AFTER, 0);
        assert!(matches!(
            f.observe(AFTER, false, false),
            Switch::ToFallback { .. }
        ));
        // Connected again, but no table yet: keep the fallback.
        assert_eq!(f.observe(AFTER + 10, true, false), Switch::Stay);
        assert!(f.active());
        assert_eq!(f.observe(AFTER + 20, true, true), Switch::ToPrimary);
        assert!(!f.active());
        // And a later loss falls back again, a full timeout after it was seen.
        assert_eq!(f.observe(20_000, false, false), Switch::Stay);
        assert!(matches!(
            f.observe(20_000 + AFTER, false, false),
            Switch::ToFallback { .. }
        ));
    }

    #[test]
    fn a_zero_timeout_falls_back_at_the_first_sight_of_a_loss() {
        let mut f = FallbackState::new(0, 0);
        assert_eq!(f.observe(0, true, true), Switch::Stay);
        assert_eq!(f.observe(1, false, false), Switch::ToFallback { down_ms: 0 });
    }
}
