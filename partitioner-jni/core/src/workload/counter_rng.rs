//! A counter-based random source: the stream for record `i` is seeded by `(seed, i)` alone.

use crate::hashing::seeded_hash64;
use rand::RngCore;

/// SplitMix64 started from a hash of `(seed, index)`: cheap to create per record, so any record of a
/// stream can be generated without the ones before it.
#[derive(Debug, Clone)]
pub struct CounterRng {
    state: u64,
}

impl CounterRng {
    /// The random source of record `index` of the stream with `seed`.
    #[inline]
    pub fn new(seed: u64, index: u64) -> Self {
        Self {
            state: seeded_hash64(index, seed),
        }
    }
}

impl RngCore for CounterRng {
    #[inline]
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}
