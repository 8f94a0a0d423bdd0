//! The one pair of conversions between the environment's action space and the policy's.
//!
//! The router receives weights in `[0, 1]^A` (env space); the squashed-Gaussian policy lives in
//! `[-1, 1]^A` (policy space) and the replay buffer stores policy-space actions. Every
//! [`Transition`](crate::Transition), online or offline, holds an env-space action, converted once, at
//! ingestion into the replay buffer or a batch, with [`policy_from_env`]: the prototype fed offline actions
//! unconverted, so CQL fitted Q on `[0, 1]` and the pre-trained policy squeezed routing ratios towards
//! uniform.

/// Policy-space actions are kept this far inside `(-1, 1)`, so `atanh` (behaviour cloning) stays finite.
pub const ACTION_EPS: f32 = 1e-6;

/// Env space to policy space: `a = 2x - 1`, clamped to `[-1 + ACTION_EPS, 1 - ACTION_EPS]`.
pub fn policy_from_env(x: f32) -> f32 {
    (2.0 * x - 1.0).clamp(-1.0 + ACTION_EPS, 1.0 - ACTION_EPS)
}

/// Policy space to env space: `x = (a + 1) / 2`, clamped to `[0, 1]`.
pub fn env_from_policy(a: f32) -> f32 {
    ((a + 1.0) * 0.5).clamp(0.0, 1.0)
}

/// [`policy_from_env`] over a whole action vector.
pub fn policy_action_from_env(env_action: &[f32]) -> Vec<f32> {
    env_action.iter().map(|&x| policy_from_env(x)).collect()
}

/// [`env_from_policy`] over a whole action vector.
pub fn env_action_from_policy(policy_action: &[f32]) -> Vec<f32> {
    policy_action.iter().map(|&a| env_from_policy(a)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_invert_each_other_inside_the_open_box() {
        for x in [0.0, 0.01, 0.25, 0.5, 0.99, 1.0] {
            let a = policy_from_env(x);
            assert!(a > -1.0 && a < 1.0, "{x} -> {a}");
            assert!((env_from_policy(a) - x).abs() < 1e-6);
        }
        // A data ratio of 0.01 : 1 stays 0.01 : 1 after the round trip (the prototype made it 0.505 : 1).
        let back = env_action_from_policy(&policy_action_from_env(&[0.01, 1.0]));
        assert!((back[0] / back[1] - 0.01).abs() < 1e-5);
    }
}
