//! Reconnection delays: exponential from a minimum to a maximum, with "equal jitter" (half the delay
//! fixed, half uniform; AWS Architecture Blog, "Exponential Backoff and Jitter", 2015), so the routers
//! of many JVMs do not retry in lockstep.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::time::Duration;

/// The delay before each reconnection attempt.
#[derive(Debug, Clone)]
pub struct Backoff {
    min_ms: u64,
    max_ms: u64,
    /// Failed attempts since the last success.
    attempt: u32,
    rng: Xoshiro256PlusPlus,
}

impl Backoff {
    /// Delays between `min_ms` and `max_ms` (`0 < min_ms <= max_ms`, checked by the config), jitter drawn
    /// from `seed`.
    pub fn new(min_ms: u64, max_ms: u64, seed: u64) -> Self {
        Self {
            min_ms,
            max_ms: max_ms.max(min_ms),
            attempt: 0,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        }
    }

    /// The next delay: base `min(max, min·2^attempt)`, then uniform in `[base/2, base]`.
    pub fn next_delay(&mut self) -> Duration {
        let base = self
            .min_ms
            .saturating_mul(1u64 << self.attempt.min(32))
            .min(self.max_ms);
        self.attempt = self.attempt.saturating_add(1);
        let half = base / 2;
        Duration::from_millis(base - half + self.rng.random_range(0..=half))
    }

    /// Starts over from `min_ms` (after a successful connection).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_with_bounded_jitter_and_reset() {
        let mut b = Backoff::new(100, 1000, 7);
        let bases = [100, 200, 400, 800, 1000, 1000, 1000];
        for base in bases {
            let d = b.next_delay().as_millis() as u64;
            assert!(
                (base / 2..=base).contains(&d),
                "delay {d} outside [{}, {base}]",
                base / 2
            );
        }
        b.reset();
        assert!(b.next_delay().as_millis() <= 100);
        // Same seed, same delays.
        let (mut x, mut y) = (Backoff::new(10, 10_000, 1), Backoff::new(10, 10_000, 1));
        assert!((0..20).all(|_| x.next_delay() == y.next_delay()));
        // Many failures never overflow.
        let mut z = Backoff::new(1, u64::MAX, 0);
        (0..100).for_each(|_| {
            z.next_delay();
        });
    }
}
