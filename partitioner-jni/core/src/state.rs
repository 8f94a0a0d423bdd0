//! Saved router state: the envelope a partitioner's state travels in, and the compact encoding inside it.
//!
//! A router saves what it has learned (loads, hot keys and their statistics, bandit estimates, the routing
//! table in force, its random stream) with
//! [`Partitioner::save_state`](crate::partitioner::Partitioner::save_state), and a router built from the
//! same configuration takes it back with
//! [`restore_state`](crate::partitioner::Partitioner::restore_state); the Flink job keeps it in operator
//! state so that a router resumes after a failover where it stopped.
//!
//! # Format (version 1)
//!
//! ```text
//! "SASR" | version: u16 | name: u8 length + UTF-8 | workers: u32 | body length: u64 | body | checksum: u32
//! ```
//!
//! Fixed-width numbers are little-endian; the checksum is murmur3_x86_32 (seed [`CHECKSUM_SEED`]) of every
//! byte before it. The body is the strategy's own fields in a fixed order ([`StateWriter`]): integers as
//! LEB128 varints, `f64`s as their eight little-endian bytes, a length before the elements of every
//! sequence, maps in key order (so one router's contents always give the same bytes).
//!
//! Reading ([`open`], [`StateReader`]) checks everything before it allocates or trusts it: the magic, the
//! version, the body length against [`MAX_STATE_BYTES`] and against the bytes present, the checksum, then
//! the strategy name and worker count against the router restoring it. Inside the body every length is
//! bounded by the limit its field has ([`crate::limits`] or the router's own shape) and by the bytes left
//! (an element takes at least one byte), every index and count is range-checked, and a field whose shape
//! depends on a setting (the window, a summary's capacity, the mask) names that setting when it differs.
//! A bad state is a [`StateError`], never a panic.

pub use crate::error::StateError;
use crate::fast_map::KeyMap;
use crate::hashing::murmur3_32;
use crate::limits::MAX_STATE_BYTES;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// The first four bytes of every router state.
pub const MAGIC: [u8; 4] = *b"SASR";
/// The format version this library writes and reads.
pub const VERSION: u16 = 1;
/// Seed of the checksum.
pub const CHECKSUM_SEED: u32 = 0x5a5_5a5;
/// Longest strategy name an envelope carries (bytes).
const MAX_NAME_BYTES: usize = 64;
/// Bytes after the body: the checksum.
const CHECKSUM_BYTES: usize = 4;

/// One envelope, checked: whose state it is and the body to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The strategy that saved the state.
    pub name: &'a str,
    /// Its number of workers.
    pub workers: u32,
    /// The strategy's own fields.
    pub body: &'a [u8],
}

impl Envelope<'_> {
    /// Checks that the state was saved by strategy `name` over `workers` workers.
    ///
    /// # Errors
    /// [`StateError::WrongStrategy`] or [`StateError::WrongWorkers`], naming both values.
    pub fn check(&self, name: &'static str, workers: u32) -> Result<(), StateError> {
        if self.name != name {
            return Err(StateError::WrongStrategy {
                saved: self.name.to_string(),
                this: name,
            });
        }
        if self.workers != workers {
            return Err(StateError::WrongWorkers {
                saved: self.workers,
                this: workers,
            });
        }
        Ok(())
    }
}

/// Appends the envelope of `body`, saved by strategy `name` over `workers` workers, to `out`.
pub fn seal(name: &str, workers: u32, body: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    // Strategy names are the short constants of `partitioner::NAMES`.
    debug_assert!(name.len() <= MAX_NAME_BYTES);
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&workers.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(body);
    let checksum = murmur3_32(&out[start..], CHECKSUM_SEED);
    out.extend_from_slice(&checksum.to_le_bytes());
}

/// Reads the envelope at the start of `bytes`; returns it and the bytes after it (another envelope, or
/// nothing).
///
/// # Errors
/// [`StateError::Truncated`], [`StateError::NotAState`], [`StateError::Version`],
/// [`StateError::TooLarge`], [`StateError::Checksum`], or [`StateError::Corrupt`] for a name that is not
/// UTF-8.
pub fn open(bytes: &[u8]) -> Result<(Envelope<'_>, &[u8]), StateError> {
    let mut r = StateReader::new(bytes);
    let magic = r.take("the magic", MAGIC.len())?;
    if magic != MAGIC {
        return Err(StateError::NotAState);
    }
    let version = u16::from_le_bytes(r.array("the format version")?);
    if version != VERSION {
        return Err(StateError::Version {
            found: version,
            supported: VERSION,
        });
    }
    let name_len = usize::from(r.array::<1>("the strategy name")?[0]);
    if name_len > MAX_NAME_BYTES {
        return Err(StateError::corrupt(
            "strategy name",
            format!("{name_len} bytes, at most {MAX_NAME_BYTES}"),
        ));
    }
    let name = r.take("the strategy name", name_len)?;
    let workers = u32::from_le_bytes(r.array("the worker count")?);
    let body_len = u64::from_le_bytes(r.array("the body length")?);
    if body_len > MAX_STATE_BYTES as u64 {
        return Err(StateError::TooLarge {
            bytes: body_len,
            limit: MAX_STATE_BYTES,
        });
    }
    // Cannot truncate: the length is at most MAX_STATE_BYTES, a usize.
    let body = r.take("the body", body_len as usize)?;
    let end = r.pos;
    let checksum = u32::from_le_bytes(r.array("the checksum")?);
    if murmur3_32(&bytes[..end], CHECKSUM_SEED) != checksum {
        return Err(StateError::Checksum);
    }
    let name = std::str::from_utf8(name).map_err(|e| StateError::corrupt("strategy name", e.to_string()))?;
    let envelope = Envelope { name, workers, body };
    Ok((envelope, &bytes[end + CHECKSUM_BYTES..]))
}

/// Writes a state body. Each `Partitioner::write_state` writes its fields in one fixed order and its
/// `read_state` reads them back in that order.
#[derive(Debug, Default)]
pub struct StateWriter {
    buf: Vec<u8>,
}

impl StateWriter {
    /// An empty body.
    pub fn new() -> Self {
        Self::default()
    }

    /// The body written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// An unsigned integer, as a LEB128 varint (1 byte below 128, at most 10).
    pub fn u64(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    /// A `u32`, as [`u64`](Self::u64).
    pub fn u32(&mut self, v: u32) {
        self.u64(u64::from(v));
    }

    /// A length or index, as [`u64`](Self::u64).
    pub fn usize(&mut self, v: usize) {
        self.u64(v as u64);
    }

    /// An `f64`, bit for bit (NaN and infinities included).
    pub fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }

    /// A flag, one byte.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    /// An optional integer: a flag, then the value if present.
    pub fn option_u64(&mut self, v: Option<u64>) {
        self.bool(v.is_some());
        if let Some(v) = v {
            self.u64(v);
        }
    }

    /// A length, then the elements.
    pub fn u64s(&mut self, vs: &[u64]) {
        self.usize(vs.len());
        vs.iter().for_each(|&v| self.u64(v));
    }

    /// A length, then the elements.
    pub fn u32s(&mut self, vs: &[u32]) {
        self.usize(vs.len());
        vs.iter().for_each(|&v| self.u32(v));
    }

    /// A length, then the elements.
    pub fn f64s(&mut self, vs: &[f64]) {
        self.usize(vs.len());
        vs.iter().for_each(|&v| self.f64(v));
    }

    /// A map: its length, then each entry in key order, the key followed by what `value` writes.
    pub fn map<V>(&mut self, map: &KeyMap<u64, V>, mut value: impl FnMut(&mut Self, &V)) {
        let mut entries: Vec<(u64, &V)> = map.iter().map(|(&k, v)| (k, v)).collect();
        entries.sort_unstable_by_key(|&(k, _)| k);
        self.usize(entries.len());
        for (k, v) in entries {
            self.u64(k);
            value(self, v);
        }
    }

    /// A xoshiro256++ generator's four state words: the restored one continues the same stream.
    pub fn rng(&mut self, rng: &Xoshiro256PlusPlus) {
        for word in rng_words(rng) {
            self.buf.extend_from_slice(&word.to_le_bytes());
        }
    }
}

/// xoshiro256++'s state as `rand_xoshiro` serialises it (its `serde` feature): one field `s`. The crate
/// has no other way to read the state out.
#[derive(Serialize, Deserialize)]
struct XoshiroWords {
    s: [u64; 4],
}

fn rng_words(rng: &Xoshiro256PlusPlus) -> [u64; 4] {
    // Cannot fail: the generator serialises to a JSON object holding four integers, read back as such
    // (`the_rng_continues_its_stream` pins the shape).
    let value = serde_json::to_value(rng).expect("xoshiro256++ serialises to JSON");
    serde_json::from_value::<XoshiroWords>(value)
        .expect("xoshiro256++ serialises as {s: [u64; 4]}")
        .s
}

/// Reads a state body (or an envelope) written by [`StateWriter`]; every method names the field it reads
/// in its errors.
#[derive(Debug)]
pub struct StateReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> StateReader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Succeeds when every byte has been read: the last check of a `read_state`, made before it changes
    /// the router.
    ///
    /// # Errors
    /// [`StateError::Trailing`] when bytes are left.
    pub fn end(&self) -> Result<(), StateError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(StateError::Trailing {
                what: "the strategy's fields",
                extra,
            }),
        }
    }

    fn take(&mut self, what: &'static str, n: usize) -> Result<&'a [u8], StateError> {
        if n > self.remaining() {
            return Err(StateError::Truncated {
                what,
                needed: n as u64,
                left: self.remaining() as u64,
            });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], StateError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(what, N)?);
        Ok(out)
    }

    /// An unsigned integer ([`StateWriter::u64`]).
    ///
    /// # Errors
    /// [`StateError::Truncated`], or [`StateError::Corrupt`] for a varint longer than 64 bits.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, StateError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.array::<1>(what)?[0];
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(StateError::corrupt(what, "integer wider than 64 bits"));
            }
            v |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(StateError::corrupt(what, "integer wider than 64 bits"))
    }

    /// A `u32` ([`StateWriter::u32`]).
    ///
    /// # Errors
    /// As [`u64`](Self::u64), and [`StateError::Corrupt`] above `u32::MAX`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, StateError> {
        let v = self.u64(what)?;
        u32::try_from(v).map_err(|_| StateError::corrupt(what, format!("{v} does not fit 32 bits")))
    }

    /// An integer that must be below `bound` (an index, a worker).
    ///
    /// # Errors
    /// As [`u64`](Self::u64), and [`StateError::Corrupt`] at or above `bound`.
    pub fn below(&mut self, what: &'static str, bound: u64) -> Result<u64, StateError> {
        let v = self.u64(what)?;
        if v >= bound {
            return Err(StateError::corrupt(what, format!("{v} is not below {bound}")));
        }
        Ok(v)
    }

    /// A length written before `min_bytes`-byte (at least) elements: at most `max` and at most what the
    /// bytes left can hold, so nothing is allocated for elements that are not there.
    ///
    /// # Errors
    /// [`StateError::Corrupt`] above `max`, [`StateError::Truncated`] when the bytes left cannot hold it.
    pub fn len(&mut self, what: &'static str, max: usize, min_bytes: usize) -> Result<usize, StateError> {
        let n = self.u64(what)?;
        if n > max as u64 {
            return Err(StateError::corrupt(what, format!("{n} elements, at most {max}")));
        }
        let needed = n.saturating_mul(min_bytes.max(1) as u64);
        if needed > self.remaining() as u64 {
            return Err(StateError::Truncated {
                what,
                needed,
                left: self.remaining() as u64,
            });
        }
        // Cannot truncate: n is at most `max`, a usize.
        Ok(n as usize)
    }

    /// A length that must equal `expected` (the router's own shape).
    ///
    /// # Errors
    /// [`StateError::Mismatch`] naming both lengths; as [`len`](Self::len).
    pub fn len_exact(
        &mut self,
        what: &'static str,
        expected: usize,
        min_bytes: usize,
    ) -> Result<usize, StateError> {
        let n = self.u64(what)?;
        if n != expected as u64 {
            return Err(StateError::mismatch(
                what,
                format!("{n} long"),
                format!("{expected} long"),
            ));
        }
        let needed = n.saturating_mul(min_bytes.max(1) as u64);
        if needed > self.remaining() as u64 {
            return Err(StateError::Truncated {
                what,
                needed,
                left: self.remaining() as u64,
            });
        }
        Ok(expected)
    }

    /// An `f64` ([`StateWriter::f64`]).
    ///
    /// # Errors
    /// [`StateError::Truncated`].
    pub fn f64(&mut self, what: &'static str) -> Result<f64, StateError> {
        Ok(f64::from_bits(u64::from_le_bytes(self.array(what)?)))
    }

    /// A finite `f64`.
    ///
    /// # Errors
    /// As [`f64`](Self::f64), and [`StateError::Corrupt`] for NaN or an infinity.
    pub fn finite_f64(&mut self, what: &'static str) -> Result<f64, StateError> {
        let v = self.f64(what)?;
        if !v.is_finite() {
            return Err(StateError::corrupt(what, format!("{v} is not finite")));
        }
        Ok(v)
    }

    /// A flag.
    ///
    /// # Errors
    /// [`StateError::Truncated`], or [`StateError::Corrupt`] for a byte other than 0 or 1.
    pub fn bool(&mut self, what: &'static str) -> Result<bool, StateError> {
        match self.array::<1>(what)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(StateError::corrupt(what, format!("flag byte {b}"))),
        }
    }

    /// An optional integer ([`StateWriter::option_u64`]).
    ///
    /// # Errors
    /// As [`bool`](Self::bool) and [`u64`](Self::u64).
    pub fn option_u64(&mut self, what: &'static str) -> Result<Option<u64>, StateError> {
        Ok(if self.bool(what)? {
            Some(self.u64(what)?)
        } else {
            None
        })
    }

    /// Exactly `n` integers ([`StateWriter::u64s`]).
    ///
    /// # Errors
    /// [`StateError::Mismatch`] for another length; as [`u64`](Self::u64).
    pub fn u64s(&mut self, what: &'static str, n: usize) -> Result<Vec<u64>, StateError> {
        let n = self.len_exact(what, n, 1)?;
        (0..n).map(|_| self.u64(what)).collect()
    }

    /// Exactly `n` `u32`s ([`StateWriter::u32s`]).
    ///
    /// # Errors
    /// [`StateError::Mismatch`] for another length; as [`u32`](Self::u32).
    pub fn u32s(&mut self, what: &'static str, n: usize) -> Result<Vec<u32>, StateError> {
        let n = self.len_exact(what, n, 1)?;
        (0..n).map(|_| self.u32(what)).collect()
    }

    /// Exactly `n` finite `f64`s ([`StateWriter::f64s`]).
    ///
    /// # Errors
    /// [`StateError::Mismatch`] for another length; as [`finite_f64`](Self::finite_f64).
    pub fn finite_f64s(&mut self, what: &'static str, n: usize) -> Result<Vec<f64>, StateError> {
        let n = self.len_exact(what, n, 8)?;
        (0..n).map(|_| self.finite_f64(what)).collect()
    }

    /// A map ([`StateWriter::map`]) whose values `value` reads; each entry takes at least `min_bytes`.
    ///
    /// # Errors
    /// [`StateError::Corrupt`] for keys out of order or repeated; as [`len`](Self::len) and `value`.
    pub fn map<V>(
        &mut self,
        what: &'static str,
        min_bytes: usize,
        mut value: impl FnMut(&mut Self) -> Result<V, StateError>,
    ) -> Result<KeyMap<u64, V>, StateError> {
        let n = self.len(what, usize::MAX, min_bytes)?;
        let mut map = KeyMap::with_capacity_and_hasher(n, Default::default());
        let mut previous = None;
        for _ in 0..n {
            let key = self.u64(what)?;
            if previous.is_some_and(|p| key <= p) {
                return Err(StateError::corrupt(
                    what,
                    format!("key {key} out of order or repeated"),
                ));
            }
            previous = Some(key);
            map.insert(key, value(self)?);
        }
        Ok(map)
    }

    /// A xoshiro256++ generator ([`StateWriter::rng`]).
    ///
    /// # Errors
    /// [`StateError::Truncated`], or [`StateError::Corrupt`] for the all-zero state (which no generator
    /// reaches: it would give zeros for ever).
    pub fn rng(&mut self, what: &'static str) -> Result<Xoshiro256PlusPlus, StateError> {
        let seed: [u8; 32] = self.array(what)?;
        if seed == [0; 32] {
            return Err(StateError::corrupt(what, "all-zero generator state"));
        }
        // `from_seed` reads the four words little-endian, as `StateWriter::rng` wrote them.
        Ok(Xoshiro256PlusPlus::from_seed(seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngCore};

    #[test]
    fn integers_round_trip_in_few_bytes() {
        let values = [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX - 1, u64::MAX];
        let mut w = StateWriter::new();
        values.iter().for_each(|&v| w.u64(v));
        w.f64(f64::INFINITY);
        let mut r = StateReader::new(w.as_bytes());
        for &v in &values {
            assert_eq!(r.u64("v").unwrap(), v);
        }
        assert_eq!(r.f64("f").unwrap(), f64::INFINITY);
        r.end().unwrap();
        assert_eq!(w.as_bytes()[..4], [0, 1, 0x7f, 0x80]);
        // An eleventh byte, or a tenth byte above bit 63, is not a u64.
        let too_wide = [0xff; 10];
        assert!(matches!(
            StateReader::new(&too_wide).u64("x"),
            Err(StateError::Corrupt { .. })
        ));
    }

    #[test]
    fn the_rng_continues_its_stream() {
        let mut a = crate::partitioner::rng(7, 3);
        for _ in 0..5 {
            a.next_u64();
        }
        let mut w = StateWriter::new();
        w.rng(&a);
        let mut b = StateReader::new(w.as_bytes()).rng("rng").unwrap();
        for _ in 0..100 {
            assert_eq!(a.random_range(0..1000u32), b.random_range(0..1000u32));
        }
    }

    #[test]
    fn lengths_are_bounded_by_their_limit_and_the_bytes_left() {
        let mut w = StateWriter::new();
        w.usize(1 << 40);
        let e = StateReader::new(w.as_bytes())
            .len("keys", 1 << 50, 1)
            .unwrap_err();
        assert!(matches!(e, StateError::Truncated { what: "keys", .. }), "{e}");
        let e = StateReader::new(w.as_bytes()).len("keys", 100, 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "corrupt router state: keys: 1099511627776 elements, at most 100"
        );
    }

    #[test]
    fn an_envelope_is_checked_before_its_body_is_read() {
        let mut bytes = Vec::new();
        seal("pkg", 4, &[1, 2, 3], &mut bytes);
        let (envelope, rest) = open(&bytes).unwrap();
        assert_eq!(
            (envelope.name, envelope.workers, envelope.body),
            ("pkg", 4, &[1u8, 2, 3][..])
        );
        assert!(rest.is_empty());
        assert!(envelope.check("pkg", 4).is_ok());
        assert_eq!(
            envelope.check("cam", 4).unwrap_err().to_string(),
            "router state was saved by partitioner `pkg`, this router is `cam`"
        );
        assert_eq!(
            envelope.check("pkg", 8).unwrap_err().to_string(),
            "router state was saved for 4 workers, this router has 8"
        );
        for cut in 0..bytes.len() {
            assert!(
                matches!(open(&bytes[..cut]), Err(StateError::Truncated { .. })),
                "cut at {cut}"
            );
        }
        let mut damaged = bytes.clone();
        damaged[bytes.len() - 6] ^= 1;
        assert_eq!(open(&damaged).unwrap_err(), StateError::Checksum);
        let mut other_version = bytes.clone();
        other_version[4] = 9;
        assert!(matches!(
            open(&other_version),
            Err(StateError::Version { found: 9, .. })
        ));
        assert_eq!(open(b"PK\x03\x04 a zip file").unwrap_err(), StateError::NotAState);
    }
}
