//! Balance metrics over per-worker loads `L_i` (counts or busy time), in the project's shared notation:
//! the one implementation of λ and NMAD in the workspace (the evaluator, the simulator, the reward and the
//! JNI layer all call these).

/// Imbalance λ = (max L − mean) / mean; 0 for an empty or all-zero load vector. The evaluator's form.
pub fn imbalance(loads: &[f64]) -> f64 {
    imbalance_eps(loads, 0.0)
}

/// Smoothed imbalance λ = (max L − mean) / (mean + `eps`); 0 for an empty load vector or when
/// `mean + eps <= 0`. The reward's form with `eps = 1e-6` (busy ms/s, as the prototype's Java), which
/// stays finite and is 0 for all-zero loads.
pub fn imbalance_eps(loads: &[f64], eps: f64) -> f64 {
    let mean = mean(loads);
    let denominator = mean + eps;
    if loads.is_empty() || denominator <= 0.0 {
        return 0.0;
    }
    let max = loads.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (max - mean) / denominator
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

    // The prototype's reward examples use these values (also pinned in the agent's `env::features` tests).
    #[test]
    fn prototype_examples() {
        assert!((imbalance(&[800.0, 400.0, 400.0, 400.0]) - 0.6).abs() < 1e-12);
        assert!((nmad(&[800.0, 400.0, 400.0, 400.0]) - 0.3).abs() < 1e-12);
        assert!((imbalance(&[1000.0, 200.0, 200.0, 200.0]) - 1.5).abs() < 1e-12);
        assert!((nmad(&[1000.0, 200.0, 200.0, 200.0]) - 0.75).abs() < 1e-12);
        assert_eq!(imbalance(&[0.0, 0.0]), 0.0);
        assert_eq!(imbalance(&[]), 0.0);
    }

    #[test]
    fn the_smoothed_form_adds_eps_to_the_mean() {
        // (800 − 500) / (500 + 1e-6), the reward's λ in the prototype's examples.
        let loads = [800.0, 400.0, 400.0, 400.0];
        assert_eq!(imbalance_eps(&loads, 1e-6), 300.0 / (500.0 + 1e-6));
        assert_eq!(imbalance_eps(&loads, 0.0), imbalance(&loads));
        assert_eq!(imbalance_eps(&[0.0; 4], 1e-6), 0.0);
        assert_eq!(imbalance_eps(&[], 1e-6), 0.0);
    }
}
