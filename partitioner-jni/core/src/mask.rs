//! The mask: which (hot key, worker) pairs the policy may route to.
//!
//! The true hot keys get contiguous worker ranges proportional to their popularity, carved left to right
//! over `0..P` (adjacent ranges share a worker when a boundary is fractional). The action has one element
//! per permitted pair, key-major then by ascending worker, so the mask fixes the action layout and must be
//! the same everywhere a policy is trained or served.
//!
//! Every constructor bounds its sizes before allocating ([`crate::limits`]): at most
//! [`MAX_HOT_KEYS`] candidates, [`MAX_MASK_RANGES`] ranges and an action of [`MAX_ACTION_DIM`] elements.

use crate::error::ConfigError;
use crate::limits::{MAX_ACTION_DIM, MAX_HOT_KEYS, MAX_MASK_RANGES, MAX_WORKERS};
use serde::Serialize;
use std::ops::Range;

/// The mask: one contiguous worker range per true hot key, in key-rank order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mask {
    workers: usize,
    ranges: Vec<Range<usize>>,
}

/// Zipf popularities of the first `hot_keys` ranks, renormalised over them: `d_i ∝ i^-α`, i = 1..=hot_keys.
/// Allocates `hot_keys` values: callers bound it first ([`Mask::zipf`] checks [`MAX_HOT_KEYS`]).
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
        check_workers(workers)?;
        check_hot_keys(popularity.len())?;
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
        // Without spread keys adjacent ranges share at most one worker, so A <= P + t - 1 fits; each
        // spread key adds a whole P.
        let action_dim: usize = ranges.iter().map(|r| r.len()).sum();
        if action_dim > MAX_ACTION_DIM {
            return Err(ConfigError::invalid(
                "spread_keys",
                spread,
                format!(
                    "gives an action of {action_dim} elements over {workers} workers, more than \
                     {MAX_ACTION_DIM}"
                ),
            ));
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
        // Before the popularity vector of `hot_keys` values is allocated.
        check_hot_keys(hot_keys)?;
        Self::heuristic(
            workers,
            &zipf_popularity(alpha, hot_keys),
            true_hot_keys,
            spread_keys,
        )
    }

    /// A mask from explicit ranges (e.g. read from a checkpoint); each must be non-empty and within `0..P`,
    /// at most [`MAX_MASK_RANGES`] of them, their widths summing to at most [`MAX_ACTION_DIM`].
    pub fn from_ranges(workers: usize, ranges: Vec<Range<usize>>) -> Result<Self, ConfigError> {
        check_workers(workers)?;
        if ranges.len() > MAX_MASK_RANGES {
            return Err(ConfigError::invalid(
                "mask.ranges",
                format!("{} ranges", ranges.len()),
                format!("must be at most {MAX_MASK_RANGES}"),
            ));
        }
        if let Some(r) = ranges.iter().find(|r| r.start >= r.end || r.end > workers) {
            return Err(ConfigError::invalid(
                "mask range",
                format!("{r:?}"),
                "must be non-empty within 0..workers",
            ));
        }
        // Cannot overflow: at most MAX_MASK_RANGES widths of at most MAX_WORKERS each.
        let action_dim: usize = ranges.iter().map(|r| r.len()).sum();
        if action_dim > MAX_ACTION_DIM {
            return Err(ConfigError::invalid(
                "mask.ranges",
                format!("widths summing to {action_dim}"),
                format!("the action dimension must be at most {MAX_ACTION_DIM}"),
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

fn check_workers(workers: usize) -> Result<(), ConfigError> {
    if workers == 0 || workers > MAX_WORKERS as usize {
        return Err(ConfigError::invalid(
            "workers",
            workers,
            format!("must be in 1..={MAX_WORKERS}"),
        ));
    }
    Ok(())
}

fn check_hot_keys(hot_keys: usize) -> Result<(), ConfigError> {
    if hot_keys == 0 || hot_keys > MAX_HOT_KEYS {
        return Err(ConfigError::invalid(
            "hot_keys",
            hot_keys,
            format!("must be in 1..={MAX_HOT_KEYS}"),
        ));
    }
    Ok(())
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

    // Issue "Nothing a client sends takes it down", item 1: 10^10 hot keys made `zipf_popularity`
    // allocate 80 GB and the process abort.
    #[test]
    fn sizes_are_bounded_before_anything_is_allocated() {
        let e = Mask::zipf(8, 1.5, 10_000_000_000, 0, 0).unwrap_err();
        assert!(
            e.to_string().contains("`hot_keys`") && e.to_string().contains("4096"),
            "{e}"
        );
        Mask::zipf(8, 1.5, MAX_HOT_KEYS, 0, 0).unwrap();
        let e = Mask::zipf(40_000, 1.5, 10, 0, 0).unwrap_err();
        assert!(e.to_string().contains("`workers`"), "{e}");

        let e = Mask::from_ranges(32_768, vec![0..32_768; 170_000]).unwrap_err();
        assert!(e.to_string().contains("`mask.ranges`"), "{e}");
        let e = Mask::from_ranges(32_768, vec![0..32_768; 3]).unwrap_err();
        assert!(
            e.to_string().contains("`mask.ranges`") && e.to_string().contains("65536"),
            "{e}"
        );
        Mask::from_ranges(32_768, vec![0..32_768; 2]).unwrap();

        // Every heuristic mask without spread keys fits; spread keys each add a whole P.
        let widest = Mask::zipf(32_768, 0.01, MAX_HOT_KEYS, MAX_HOT_KEYS, 0).unwrap();
        assert!(widest.action_dim() <= MAX_ACTION_DIM, "{}", widest.action_dim());
        let e = Mask::zipf(32_768, 1.5, 10, 10, 3).unwrap_err();
        assert!(e.to_string().contains("`spread_keys`"), "{e}");
    }
}
