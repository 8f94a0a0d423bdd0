//! Key hashing: murmur3_x86_32 and the two ways the prototype applies it, plus Flink's own murmur mix.
//!
//! Three different functions matter for parity and they are easy to mix up:
//! * [`hash_int`]: murmur3 over the 4 little-endian bytes of the key's Java `hashCode`, seed 38324. The
//!   prototype's `hash` baseline, `drifting-key` and the offline collector use it.
//! * [`hash_decimal`]: murmur3 over the UTF-8 decimal string of the key, seed 0 ("aligned with Python mh3").
//!   The prototype's `saspartitioner` sends cold keys with it.
//! * [`flink_murmur`]: Flink's `MathUtils.murmurHash(int)`, which picks key groups in `keyBy`.

/// Seed of the prototype's `HashUtils.hash`.
pub const HASH_INT_SEED: u32 = 38324;

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

#[inline(always)]
fn mix_k1(k1: u32) -> u32 {
    k1.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

#[inline(always)]
fn mix_h1(h1: u32, k1: u32) -> u32 {
    (h1 ^ mix_k1(k1))
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

#[inline(always)]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// Standard murmur3_x86_32 of `data` with `seed`.
pub fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    let mut h1 = seed;
    let mut blocks = data.chunks_exact(4);
    for b in &mut blocks {
        h1 = mix_h1(h1, u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    }
    let tail = blocks.remainder();
    let mut k1 = 0u32;
    for (i, &byte) in tail.iter().enumerate() {
        k1 |= u32::from(byte) << (8 * i);
    }
    if !tail.is_empty() {
        h1 ^= mix_k1(k1);
    }
    fmix32(h1 ^ data.len() as u32)
}

/// murmur3_x86_32 of one 4-byte little-endian block: the same value as `murmur3_32(&x.to_le_bytes(), seed)`
/// without the slice handling.
#[inline(always)]
pub fn murmur3_32_int(x: u32, seed: u32) -> u32 {
    fmix32(mix_h1(seed, x) ^ 4)
}

/// Java's `Long.hashCode` of a key: for keys below 2³¹ it equals `Integer.hashCode`, so integer keys of
/// the prototype keep their hash.
#[inline(always)]
pub fn java_hash_code(key: u64) -> u32 {
    (key ^ (key >> 32)) as u32
}

/// The prototype's `HashUtils.hash(key)`, as a signed Java int.
#[inline(always)]
pub fn hash_int(key: u64) -> i32 {
    murmur3_32_int(java_hash_code(key), HASH_INT_SEED) as i32
}

/// `floorMod(hash_int(key), n)`: the `hash` baseline.
#[inline(always)]
pub fn hash_int_partition(key: u64, n: u32) -> u32 {
    hash_int(key).rem_euclid(n as i32) as u32
}

/// `floorMod(x, n)` for a signed 32-bit `x`, with a bit-mask fast path when `n` is a power of two (then
/// `floorMod(x, n) == x & (n − 1)` in two's complement). Lemire's division-free fastmod measured no faster
/// than the hardware division here, so the general path stays a plain `rem_euclid`.
#[derive(Debug, Clone, Copy)]
pub struct FloorMod {
    n: u32,
    mask: Option<u32>,
}

impl FloorMod {
    /// A reducer modulo `n` (> 0).
    pub fn new(n: u32) -> Self {
        assert!(n > 0, "modulus must be > 0");
        Self {
            n,
            mask: n.is_power_of_two().then(|| n - 1),
        }
    }

    /// `x.rem_euclid(n)`.
    #[inline(always)]
    pub fn apply(&self, x: i32) -> u32 {
        match self.mask {
            Some(mask) => {
                let r = x as u32 & mask;
                debug_assert_eq!(r, x.rem_euclid(self.n as i32) as u32);
                r
            }
            None => x.rem_euclid(self.n as i32) as u32,
        }
    }
}

/// [`hash_int_partition`] with the modulus prepared once: the cold path of every hashing strategy.
#[derive(Debug, Clone, Copy)]
pub struct IntHashPartition(FloorMod);

impl IntHashPartition {
    /// Hash partitioning over `n` (> 0) workers.
    pub fn new(n: u32) -> Self {
        Self(FloorMod::new(n))
    }

    /// `floorMod(hash_int(key), n)`.
    #[inline(always)]
    pub fn worker(&self, key: u64) -> u32 {
        self.0.apply(hash_int(key))
    }
}

/// The prototype's `HashUtils.hashPartition(key, n)`: murmur3 (seed 0) of the decimal string, floor-mod n.
#[inline]
pub fn hash_decimal_partition(key: u64, n: u32) -> u32 {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = key;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    (murmur3_32(&buf[i..], 0) as i32).rem_euclid(n as i32) as u32
}

/// Flink's `MathUtils.murmurHash(int)`: murmur3 of one block, seed 0, made non-negative
/// (`Integer.MIN_VALUE` maps to 0).
#[inline]
pub fn flink_murmur(code: i32) -> i32 {
    let h = murmur3_32_int(code as u32, 0) as i32;
    if h >= 0 {
        h
    } else if h != i32::MIN {
        -h
    } else {
        0
    }
}

/// A seeded 64-bit mix of a key (splitmix64 finaliser), for the choice hashes of PKG, D-Choices and cAM.
/// Different seeds give independent-looking functions; the value is spread over all 64 bits.
#[inline(always)]
pub fn seeded_hash64(key: u64, seed: u64) -> u64 {
    let mut z = key
        ^ seed
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(0x632b_e59b_d9b4_e019);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Maps a 64-bit hash onto `0..n` without a division (Lemire's multiply-shift).
#[inline(always)]
pub fn reduce(hash: u64, n: u32) -> u32 {
    ((u128::from(hash) * u128::from(n)) >> 64) as u32
}

/// A 64-bit key for a word (FNV-1a then a splitmix finaliser), used by the `text` workload.
pub fn word_key(word: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in word.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    seeded_hash64(h, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    // murmur3_x86_32's standard vectors, as the prototype's Java tests use them.
    #[test]
    fn murmur3_standard_vector() {
        assert_eq!(murmur3_32(b"hello", 0) as i32, 613_153_351);
        assert_eq!(murmur3_32(b"", 0), 0);
    }

    #[test]
    fn int_fast_path_matches_slice_path() {
        for x in [0u32, 1, 1000, 0xdead_beef, u32::MAX] {
            assert_eq!(murmur3_32_int(x, 38324), murmur3_32(&x.to_le_bytes(), 38324));
        }
    }

    #[test]
    fn hash_int_matches_prototype() {
        assert_eq!(hash_int(1000), -793_550_645);
        assert_eq!(hash_int_partition(1000, 128), 75);
        let p8: Vec<u32> = (0..16).map(|k| hash_int_partition(k, 8)).collect();
        assert_eq!(p8, [1, 0, 5, 0, 2, 0, 5, 1, 3, 0, 3, 7, 5, 0, 0, 6]);
        let p128: Vec<u32> = (0..16).map(|k| hash_int_partition(k, 128)).collect();
        assert_eq!(
            p128,
            [89, 40, 77, 88, 10, 32, 109, 33, 67, 88, 43, 111, 69, 88, 64, 86]
        );
    }

    #[test]
    fn hash_decimal_matches_prototype() {
        let p8: Vec<u32> = (0..16).map(|k| hash_decimal_partition(k, 8)).collect();
        assert_eq!(p8, [7, 3, 7, 4, 0, 4, 0, 0, 7, 1, 7, 2, 5, 1, 1, 4]);
        let p128: Vec<u32> = (0..16).map(|k| hash_decimal_partition(k, 128)).collect();
        assert_eq!(
            p128,
            [127, 19, 23, 52, 8, 100, 64, 40, 23, 33, 63, 50, 21, 65, 57, 124]
        );
        // Multi-digit keys go through the whole string.
        assert_eq!(
            hash_decimal_partition(123_456_789, 1 << 30),
            (murmur3_32(b"123456789", 0) as i32).rem_euclid(1 << 30) as u32
        );
    }

    #[test]
    fn flink_murmur_matches_flink() {
        let v: Vec<i32> = (0..5).map(flink_murmur).collect();
        assert_eq!(
            v,
            [593_689_054, 68_075_478, 1_085_422_463, 847_579_505, 1_889_779_975]
        );
    }

    proptest::proptest! {
        #[test]
        fn floor_mod_matches_rem_euclid(x in proptest::prelude::any::<i32>(), n in 1u32..100_000) {
            proptest::prop_assert_eq!(FloorMod::new(n).apply(x), x.rem_euclid(n as i32) as u32);
        }
    }

    #[test]
    fn floor_mod_edges() {
        for n in [1u32, 2, 3, 7, 32, 128, 1000, 32_768] {
            let m = FloorMod::new(n);
            for x in [0, 1, -1, i32::MIN, i32::MAX, i32::MIN + 1, -(n as i32)] {
                assert_eq!(m.apply(x), x.rem_euclid(n as i32) as u32, "x = {x}, n = {n}");
            }
        }
    }

    #[test]
    fn reduce_stays_in_range() {
        for h in [0u64, 1, u64::MAX, 0x8000_0000_0000_0000] {
            assert!(reduce(h, 7) < 7);
        }
        assert_eq!(reduce(u64::MAX, 7), 6);
    }
}
