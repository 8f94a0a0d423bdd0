//! The mask: which (hot key, worker) pairs the policy may route to.
//!
//! The true hot keys get contiguous worker ranges proportional to their popularity, carved left to right
//! over `0..P` (adjacent ranges share a worker when a boundary is fractional). The action has one element
//! per permitted pair, key-major then by ascending worker, so the mask fixes the action layout and must be
//! the same everywhere a policy is trained or served.

use crate::error::ConfigError;
use serde::Serialize;
use std::ops::Range;

/// The mask: one contiguous worker range per true hot key, in key-rank order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mask {
    workers: usize,
    ranges: Vec<Range<usize>>,
}

/// Zipf popularities of the first `hot_keys` ranks, renormalised over them: `d_i ∝ i^-α`, i = 1..=hot_keys.
pub fn zipf_popularity(alpha: f64, hot_keys: usize) -> Vec<f64> {
    let raw: Vec<f64> = (1..=hot_keys).map(|i| (i as f64).powf(-alpha)).collect();
    let sum: f64 = raw.iter().sum();
    raw.into_iter().map(|x| x / sum).collect()
}

/// The number of true hot keys: the first rank `i ≥ 1` (0-based) whose share `P·d_i` is at most the
/// cumulative share `Σ_{j≤i} d_j`, i.e. the next key would get at most about one worker's worth of load.
/// When no rank qualifies every candidate is a true hot key (the Java behaviour; the prototype's Python
/// returned 0 there, which made the two sides disagree).
pub fn true_hot_key_count(workers: usize, popularity: &[f64]) -> usize {
    let mut cumulative = popularity.first().copied().unwrap_or(0.0);
    for (i, &d) in popularity.iter().enumerate().skip(1) {
        cumulative += d;
        if workers as f64 * d <= cumulative {
            return i;
        }
    }
    popularity.len()
}

impl Mask {
    /// The prototype's heuristic mask. `popularity` holds the candidates' shares in rank order (need not
    /// sum to 1); `true_hot_keys = 0` picks the count with [`true_hot_key_count`]; the first `spread_keys`
    /// keys may use every worker.
    pub fn heuristic(
        workers: usize,
        popularity: &[f64],
        true_hot_keys: usize,
        spread_keys: usize,
    ) -> Result<Self, ConfigError> {
        if workers == 0 {
            return Err(ConfigError::invalid("workers", workers, "must be > 0"));
        }
        if popularity.is_empty() {
            return Err(ConfigError::invalid("hot_keys", 0, "must be > 0"));
        }
        if let Some(d) = popularity.iter().find(|d| !d.is_finite() || **d < 0.0) {
            return Err(ConfigError::invalid("popularity", d, "must be finite and >= 0"));
        }
        let total: f64 = popularity.iter().sum();
        let norm: Vec<f64> = popularity.iter().map(|d| d / total).collect();
        let t = if true_hot_keys == 0 {
            true_hot_key_count(workers, &norm)
        } else {
            true_hot_keys
        };
        if t > norm.len() {
            return Err(ConfigError::invalid("true_hot_keys", t, "must be <= hot_keys"));
        }
        let spread = spread_keys.min(t);
        let masked_total: f64 = norm[spread..t].iter().sum();
        let mut ranges: Vec<Range<usize>> = (0..spread).map(|_| 0..workers).collect();
        // cs[i] = P · (share of keys spread..i among the masked keys), summed term by term as the prototype.
        let mut cs = 0.0f64;
        for &d in &norm[spread..t] {
            let next = cs + d / masked_total * workers as f64;
            let start = (cs.floor() as usize).min(workers - 1);
            let end = (next.ceil() as usize).min(workers).max(start + 1);
            ranges.push(start..end);
            cs = next;
        }
        Ok(Self { workers, ranges })
    }

    /// The mask for a Zipf(α) workload with `hot_keys` candidates.
    pub fn zipf(
        workers: usize,
        alpha: f64,
        hot_keys: usize,
        true_hot_keys: usize,
        spread_keys: usize,
    ) -> Result<Self, ConfigError> {
        if !(alpha.is_finite() && alpha > 0.0) {
            return Err(ConfigError::invalid("alpha", alpha, "must be finite and > 0"));
        }
        Self::heuristic(
            workers,
            &zipf_popularity(alpha, hot_keys),
            true_hot_keys,
            spread_keys,
        )
    }

    /// A mask from explicit ranges (e.g. read from a checkpoint); each must be non-empty and within `0..P`.
    pub fn from_ranges(workers: usize, ranges: Vec<Range<usize>>) -> Result<Self, ConfigError> {
        if workers == 0 {
            return Err(ConfigError::invalid("workers", workers, "must be > 0"));
        }
        if let Some(r) = ranges.iter().find(|r| r.start >= r.end || r.end > workers) {
            return Err(ConfigError::invalid(
                "mask range",
                format!("{r:?}"),
                "must be non-empty within 0..workers",
            ));
        }
        Ok(Self { workers, ranges })
    }

    /// Number of workers P.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The worker range of each true hot key, by rank.
    pub fn ranges(&self) -> &[Range<usize>] {
        &self.ranges
    }

    /// Number of true hot keys.
    pub fn true_hot_keys(&self) -> usize {
        self.ranges.len()
    }

    /// The action dimension A: one element per permitted (key, worker) pair.
    pub fn action_dim(&self) -> usize {
        self.ranges.iter().map(|r| r.len()).sum()
    }

    /// The permitted pairs in action order: key-major, then ascending worker.
    pub fn pairs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.ranges
            .iter()
            .enumerate()
            .flat_map(|(k, r)| r.clone().map(move |w| (k, w)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(p: usize, alpha: f64) -> (Vec<usize>, Vec<usize>, usize) {
        let m = Mask::zipf(p, alpha, 10, 0, 0).unwrap();
        (
            m.ranges().iter().map(|r| r.start).collect(),
            m.ranges().iter().map(|r| r.end).collect(),
            m.action_dim(),
        )
    }

    // The prototype's mask at P = 128, α = 1.5, 10 hot keys: its Java code gives these ranges and A.
    #[test]
    fn prototype_mask_vectors() {
        let (s, e, a) = row(128, 1.5);
        assert_eq!(s, [0, 64, 86, 99, 107, 112, 117, 120, 123, 125]);
        assert_eq!(e, [65, 87, 100, 108, 113, 118, 121, 124, 126, 128]);
        assert_eq!(a, 137);
        let widths: Vec<usize> = Mask::zipf(128, 1.5, 10, 0, 0)
            .unwrap()
            .ranges()
            .iter()
            .map(|r| r.len())
            .collect();
        assert_eq!(widths, [65, 23, 14, 9, 6, 6, 4, 4, 3, 3]);

        let (s, e, a) = row(64, 1.0);
        assert_eq!(s, [0, 21, 32, 40, 45, 49, 53, 56, 59, 61]);
        assert_eq!(e, [22, 33, 41, 46, 50, 54, 57, 60, 62, 64]);
        assert_eq!(a, 73);

        let (s, e, a) = row(16, 1.5);
        assert_eq!((s, e, a), (vec![0, 9, 12, 14], vec![10, 13, 15, 16], 19));

        let (s, e, a) = row(8, 1.0);
        assert_eq!((s, e, a), (vec![0, 4, 6], vec![5, 7, 8], 10));
    }

    #[test]
    fn explicit_true_hot_keys_keep_the_p128_row() {
        assert_eq!(
            Mask::zipf(128, 1.5, 10, 10, 0).unwrap(),
            Mask::zipf(128, 1.5, 10, 0, 0).unwrap()
        );
    }

    #[test]
    fn spread_keys_use_every_worker() {
        let m = Mask::zipf(16, 1.5, 10, 4, 1).unwrap();
        assert_eq!(m.ranges()[0], 0..16);
        assert_eq!(m.ranges()[1].start, 0);
        assert_eq!(m.ranges().last().unwrap().end, 16);
    }

    #[test]
    fn pairs_are_key_major() {
        let m = Mask::from_ranges(4, vec![0..3, 2..4]).unwrap();
        let pairs: Vec<_> = m.pairs().collect();
        assert_eq!(pairs, [(0, 0), (0, 1), (0, 2), (1, 2), (1, 3)]);
    }

    #[test]
    fn bad_inputs_name_the_setting() {
        let e = Mask::zipf(0, 1.5, 10, 0, 0).unwrap_err();
        assert!(e.to_string().contains("`workers`"), "{e}");
        let e = Mask::zipf(8, f64::NAN, 10, 0, 0).unwrap_err();
        assert!(e.to_string().contains("`alpha`"), "{e}");
        let e = Mask::zipf(8, 1.0, 3, 5, 0).unwrap_err();
        assert!(e.to_string().contains("`true_hot_keys`"), "{e}");
    }
}
