//! Balance metrics over per-worker loads `L_i` (counts or busy time), in the project's shared notation.

/// Imbalance λ = (max − mean) / mean; 0 for an all-zero load vector.
pub fn imbalance(loads: &[f64]) -> f64 {
    let mean = mean(loads);
    if mean <= 0.0 {
        return 0.0;
    }
    let max = loads.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (max - mean) / mean
}

/// Normalised mean absolute deviation Σ|L_i − mean| / (n · mean); 0 for an all-zero load vector.
pub fn nmad(loads: &[f64]) -> f64 {
    let mean = mean(loads);
    if mean <= 0.0 {
        return 0.0;
    }
    loads.iter().map(|l| (l - mean).abs()).sum::<f64>() / (loads.len() as f64 * mean)
}

fn mean(loads: &[f64]) -> f64 {
    if loads.is_empty() {
        0.0
    } else {
        loads.iter().sum::<f64>() / loads.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The reward examples of prototype-java.md §13 use these values.
    #[test]
    fn prototype_examples() {
        assert!((imbalance(&[800.0, 400.0, 400.0, 400.0]) - 0.6).abs() < 1e-12);
        assert!((nmad(&[800.0, 400.0, 400.0, 400.0]) - 0.3).abs() < 1e-12);
        assert!((imbalance(&[1000.0, 200.0, 200.0, 200.0]) - 1.5).abs() < 1e-12);
        assert!((nmad(&[1000.0, 200.0, 200.0, 200.0]) - 0.75).abs() < 1e-12);
        assert_eq!(imbalance(&[0.0, 0.0]), 0.0);
    }
}
