//! Routing tables: per hot key, a target share for every worker.
//!
//! An action (one element per mask pair) decodes into a table: row `k` holds key `k`'s weights over its
//! masked workers, normalised to sum to 1. A true hot key whose weights are all zero has no row and is
//! routed as a cold key. Hot keys beyond the true ones are spread uniformly over every worker.

use crate::error::DecodeError;
use crate::mask::Mask;

/// Target shares per hot-key rank; `None` means "route as a cold key".
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingTable {
    workers: usize,
    rows: Vec<Option<Vec<f64>>>,
}

impl RoutingTable {
    /// The table before any action: each true hot key uniform over its mask range, every other hot key
    /// uniform over all workers.
    pub fn initial(mask: &Mask, hot_keys: usize) -> Self {
        let ones = vec![1.0; mask.action_dim()];
        // Cannot fail: the all-ones action has exactly the mask's dimension and valid values.
        Self::decode(mask, &ones, hot_keys).expect("all-ones action always decodes")
    }

    /// Decodes `action` (mask order) for `hot_keys` hot keys.
    ///
    /// An action shorter than the mask is accepted only when it equals the mask's dimension minus its
    /// single-worker keys: those keys then get their one worker without consuming an element (the
    /// prototype's "dropped dimensions" mode).
    ///
    /// # Errors
    /// [`DecodeError::WrongDimension`] for any other length; [`DecodeError::BadValue`] for a NaN, infinite
    /// or negative element.
    pub fn decode(mask: &Mask, action: &[f64], hot_keys: usize) -> Result<Self, DecodeError> {
        if let Some((index, &value)) = action
            .iter()
            .enumerate()
            .find(|(_, v)| !v.is_finite() || **v < 0.0)
        {
            return Err(DecodeError::BadValue { index, value });
        }
        let full = mask.action_dim();
        let singles = mask.ranges().iter().filter(|r| r.len() == 1).count();
        let drop_singles = action.len() != full;
        if drop_singles && (singles == 0 || action.len() != full - singles) {
            return Err(DecodeError::WrongDimension {
                expected: full,
                got: action.len(),
            });
        }
        let p = mask.workers();
        let mut rows = Vec::with_capacity(hot_keys.max(mask.true_hot_keys()));
        let mut next = 0;
        for range in mask.ranges() {
            let mut row = vec![0.0; p];
            if drop_singles && range.len() == 1 {
                row[range.start] = 1.0;
            } else {
                row[range.clone()].copy_from_slice(&action[next..next + range.len()]);
                next += range.len();
            }
            let sum: f64 = row.iter().sum();
            rows.push((sum > 0.0).then(|| row.into_iter().map(|x| x / sum).collect()));
        }
        while rows.len() < hot_keys {
            rows.push(Some(vec![1.0 / p as f64; p]));
        }
        Ok(Self { workers: p, rows })
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Number of hot-key rows (including cold ones).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no rows at all (every key is cold).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The target shares of hot key `rank`, or `None` when it is routed as cold.
    pub fn row(&self, rank: usize) -> Option<&[f64]> {
        self.rows.get(rank).and_then(|r| r.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask() -> Mask {
        Mask::from_ranges(4, vec![0..3, 2..4]).unwrap()
    }

    // The prototype's decoding example (its Java router builds these rows from this action).
    #[test]
    fn prototype_decoding_example() {
        let t = RoutingTable::decode(&mask(), &[0.2, 0.2, 0.6, 1.0, 0.0], 3).unwrap();
        assert_eq!(t.row(0).unwrap(), &[0.2, 0.2, 0.6, 0.0]);
        assert_eq!(t.row(1).unwrap(), &[0.0, 0.0, 1.0, 0.0]);
        assert_eq!(t.row(2).unwrap(), &[0.25; 4]);
        assert_eq!(t.row(3), None);
    }

    #[test]
    fn rows_are_normalised_and_zero_rows_are_cold() {
        let t = RoutingTable::decode(&mask(), &[2.0, 2.0, 4.0, 0.0, 0.0], 2).unwrap();
        assert_eq!(t.row(0).unwrap(), &[0.25, 0.25, 0.5, 0.0]);
        assert_eq!(t.row(1), None);
    }

    #[test]
    fn initial_table_is_uniform_in_each_range() {
        let t = RoutingTable::initial(&mask(), 3);
        let third = 1.0 / 3.0;
        assert_eq!(t.row(0).unwrap(), &[third, third, third, 0.0]);
        assert_eq!(t.row(1).unwrap(), &[0.0, 0.0, 0.5, 0.5]);
    }

    #[test]
    fn dropped_single_worker_keys() {
        let m = Mask::from_ranges(4, vec![0..3, 3..4]).unwrap();
        let t = RoutingTable::decode(&m, &[1.0, 1.0, 2.0], 2).unwrap();
        assert_eq!(t.row(1).unwrap(), &[0.0, 0.0, 0.0, 1.0]);
        assert_eq!(t.row(0).unwrap(), &[0.25, 0.25, 0.5, 0.0]);
    }

    #[test]
    fn bad_actions_are_errors() {
        assert_eq!(
            RoutingTable::decode(&mask(), &[1.0; 6], 2),
            Err(DecodeError::WrongDimension { expected: 5, got: 6 })
        );
        assert!(matches!(
            RoutingTable::decode(&mask(), &[1.0, f64::NAN, 1.0, 1.0, 1.0], 2),
            Err(DecodeError::BadValue { index: 1, .. })
        ));
        assert!(matches!(
            RoutingTable::decode(&mask(), &[1.0, 1.0, -1.0, 1.0, 1.0], 2),
            Err(DecodeError::BadValue { index: 2, .. })
        ));
    }
}
