//! Prioritized experience replay (Schaul et al. 2016, "Prioritized Experience Replay", proportional
//! variant), shared by the online learner and any caller that stores transitions.
//!
//! * Sampling probability `P(i) = p_i^alpha / sum_j p_j^alpha`, through a sum tree (`O(log N)` per draw).
//! * New transitions get the largest priority seen so far, so each is replayed at least about once.
//! * Importance weights `w_i = (N P(i))^-beta / max_j w_j`; the maximum comes from a min tree over all
//!   stored priorities, so weights are at most 1 (the paper's normalisation, as in RLlib).
//! * A batch is stratified: the total mass is cut into `B` equal segments and one draw is made in each
//!   (the paper's appendix B.2.1), which lowers the variance against `B` independent draws.
//! * After an update, [`PrioritizedReplay::update_priorities`] sets `p_i = |td_i| + eps`.
//!
//! Storage is flat `Vec<f32>` per field, a ring over `capacity` slots, so building a batch is a few copies.
//! Actions arrive in env space `[0, 1]^A` (a [`Transition`]'s) and are stored in policy space `[-1, 1]^A`:
//! [`PrioritizedReplay::push`] and [`Batch::from_transitions`] are the one place that converts.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::action::policy_from_env;
use crate::error::{LearnerError, Result, check_finite, check_len};
use crate::transition::Transition;

/// A batch in flat row-major arrays, ready to become tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `[B, obs_dim]`.
    pub obs: Vec<f32>,
    /// `[B, act_dim]`, policy space `[-1, 1]^A`.
    pub actions: Vec<f32>,
    /// `[B]`.
    pub rewards: Vec<f32>,
    /// `[B, obs_dim]`.
    pub next_obs: Vec<f32>,
    /// `[B]`, 1.0 where the transition terminated (truncation is not recorded here: it still bootstraps).
    pub terminated: Vec<f32>,
    /// `[B]` importance-sampling weights (all 1 for uniform data).
    pub weights: Vec<f32>,
    /// Replay slots the rows came from, for [`PrioritizedReplay::update_priorities`]; empty when the
    /// batch did not come from a replay buffer.
    pub indices: Vec<usize>,
}

impl Batch {
    /// Builds an unweighted batch from transitions (offline data, tests), converting their env-space
    /// actions to policy space.
    pub fn from_transitions(transitions: &[Transition]) -> Self {
        let mut b = Self {
            obs: Vec::new(),
            actions: Vec::new(),
            rewards: Vec::new(),
            next_obs: Vec::new(),
            terminated: Vec::new(),
            weights: Vec::new(),
            indices: Vec::new(),
        };
        for t in transitions {
            b.obs.extend_from_slice(&t.obs);
            b.actions.extend(t.action.iter().map(|&x| policy_from_env(x)));
            b.rewards.push(t.reward);
            b.next_obs.extend_from_slice(&t.next_obs);
            b.terminated.push(if t.terminated { 1.0 } else { 0.0 });
            b.weights.push(1.0);
        }
        b
    }

    /// Number of rows `B`.
    pub fn len(&self) -> usize {
        self.rewards.len()
    }

    /// True when the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.rewards.is_empty()
    }

    /// Checks every length against `obs_dim`, `act_dim` and `B`, and every value for NaN or infinity.
    ///
    /// # Errors
    ///
    /// [`LearnerError::DimMismatch`] or [`LearnerError::NonFinite`] naming the field.
    pub fn validate(&self, obs_dim: usize, act_dim: usize) -> Result<()> {
        let b = self.len();
        if b == 0 {
            return Err(LearnerError::DimMismatch {
                what: "batch.rewards".into(),
                expected: 1,
                got: 0,
            });
        }
        check_len("batch.obs", b * obs_dim, self.obs.len())?;
        check_len("batch.actions", b * act_dim, self.actions.len())?;
        check_len("batch.next_obs", b * obs_dim, self.next_obs.len())?;
        check_len("batch.terminated", b, self.terminated.len())?;
        check_len("batch.weights", b, self.weights.len())?;
        check_finite("batch.obs", &self.obs)?;
        check_finite("batch.actions", &self.actions)?;
        check_finite("batch.rewards", &self.rewards)?;
        check_finite("batch.next_obs", &self.next_obs)?;
        check_finite("batch.weights", &self.weights)
    }
}

/// A complete binary tree over `leaves` (a power of two) keeping sums and minima of the leaf values.
#[derive(Debug, Clone)]
struct SegmentTrees {
    leaves: usize,
    sum: Vec<f64>,
    min: Vec<f64>,
}

impl SegmentTrees {
    fn new(capacity: usize) -> Self {
        let leaves = capacity.next_power_of_two();
        Self {
            leaves,
            sum: vec![0.0; 2 * leaves],
            min: vec![f64::INFINITY; 2 * leaves],
        }
    }

    fn set(&mut self, index: usize, value: f64) {
        let mut i = index + self.leaves;
        self.sum[i] = value;
        self.min[i] = value;
        while i > 1 {
            i /= 2;
            self.sum[i] = self.sum[2 * i] + self.sum[2 * i + 1];
            self.min[i] = self.min[2 * i].min(self.min[2 * i + 1]);
        }
    }

    fn total(&self) -> f64 {
        self.sum[1]
    }

    fn min(&self) -> f64 {
        self.min[1]
    }

    fn get(&self, index: usize) -> f64 {
        self.sum[index + self.leaves]
    }

    /// The leaf where the prefix sum first exceeds `mass` (`0 <= mass < total`).
    fn find_prefix(&self, mut mass: f64) -> usize {
        let mut i = 1;
        while i < self.leaves {
            let left = self.sum[2 * i];
            if mass < left {
                i *= 2;
            } else {
                mass -= left;
                i = 2 * i + 1;
            }
        }
        i - self.leaves
    }
}

/// A prioritized replay buffer of fixed capacity (oldest overwritten first).
#[derive(Debug)]
pub struct PrioritizedReplay {
    obs_dim: usize,
    act_dim: usize,
    capacity: usize,
    alpha: f64,
    beta: f64,
    eps: f64,
    obs: Vec<f32>,
    actions: Vec<f32>,
    rewards: Vec<f32>,
    next_obs: Vec<f32>,
    terminated: Vec<f32>,
    len: usize,
    next: usize,
    max_priority: f64,
    trees: SegmentTrees,
    rng: Xoshiro256PlusPlus,
}

impl PrioritizedReplay {
    /// An empty buffer for `obs_dim`/`act_dim` transitions. `alpha`, `beta`, `eps` as in
    /// [`crate::SacConfig`] (`per_alpha`, `per_beta`, `per_eps`); `seed` fixes the sampling.
    ///
    /// # Errors
    ///
    /// [`LearnerError::InvalidConfig`] if `capacity` is 0 or an exponent is outside `[0, 1]`.
    pub fn new(
        obs_dim: usize,
        act_dim: usize,
        capacity: usize,
        alpha: f32,
        beta: f32,
        eps: f32,
        seed: u64,
    ) -> Result<Self> {
        let bad = |field: &str, value: String, reason: &str| LearnerError::InvalidConfig {
            field: format!("replay.{field}"),
            value,
            reason: reason.into(),
        };
        if capacity == 0 {
            return Err(bad("capacity", "0".into(), "must be >= 1"));
        }
        if !(0.0..=1.0).contains(&alpha) {
            return Err(bad("alpha", alpha.to_string(), "must be in [0, 1]"));
        }
        if !(0.0..=1.0).contains(&beta) {
            return Err(bad("beta", beta.to_string(), "must be in [0, 1]"));
        }
        if !(eps.is_finite() && eps > 0.0) {
            return Err(bad("eps", eps.to_string(), "must be finite and > 0"));
        }
        Ok(Self {
            obs_dim,
            act_dim,
            capacity,
            alpha: f64::from(alpha),
            beta: f64::from(beta),
            eps: f64::from(eps),
            obs: Vec::new(),
            actions: Vec::new(),
            rewards: Vec::new(),
            next_obs: Vec::new(),
            terminated: Vec::new(),
            len: 0,
            next: 0,
            max_priority: 1.0,
            trees: SegmentTrees::new(capacity),
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        })
    }

    /// Number of stored transitions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets the importance-sampling exponent (for annealing `beta` towards 1).
    pub fn set_beta(&mut self, beta: f32) {
        self.beta = f64::from(beta.clamp(0.0, 1.0));
    }

    /// Stores a transition with the maximum priority seen so far, its env-space action converted to policy
    /// space.
    ///
    /// # Errors
    ///
    /// [`LearnerError::DimMismatch`], [`LearnerError::NonFinite`] or [`LearnerError::ActionRange`] naming
    /// the field; nothing is stored.
    pub fn push(&mut self, t: &Transition) -> Result<()> {
        check_len("transition.obs", self.obs_dim, t.obs.len())?;
        check_len("transition.action", self.act_dim, t.action.len())?;
        check_len("transition.next_obs", self.obs_dim, t.next_obs.len())?;
        check_finite("transition.obs", &t.obs)?;
        check_finite("transition.action", &t.action)?;
        check_finite("transition.reward", &[t.reward])?;
        check_finite("transition.next_obs", &t.next_obs)?;
        if let Some((index, &value)) = t
            .action
            .iter()
            .enumerate()
            .find(|(_, x)| !(0.0..=1.0).contains(*x))
        {
            return Err(LearnerError::ActionRange {
                what: "transition.action".into(),
                index,
                value,
            });
        }
        let slot = self.next;
        let term = if t.terminated { 1.0 } else { 0.0 };
        let action = t.action.iter().map(|&x| policy_from_env(x));
        if slot == self.rewards.len() {
            self.obs.extend_from_slice(&t.obs);
            self.actions.extend(action);
            self.rewards.push(t.reward);
            self.next_obs.extend_from_slice(&t.next_obs);
            self.terminated.push(term);
        } else {
            let (o, a) = (self.obs_dim, self.act_dim);
            self.obs[slot * o..(slot + 1) * o].copy_from_slice(&t.obs);
            for (stored, x) in self.actions[slot * a..(slot + 1) * a].iter_mut().zip(action) {
                *stored = x;
            }
            self.rewards[slot] = t.reward;
            self.next_obs[slot * o..(slot + 1) * o].copy_from_slice(&t.next_obs);
            self.terminated[slot] = term;
        }
        self.trees.set(slot, self.max_priority.powf(self.alpha));
        self.next = (slot + 1) % self.capacity;
        self.len = (self.len + 1).min(self.capacity);
        Ok(())
    }

    /// Draws `batch_size` transitions (with replacement) proportionally to `priority^alpha`, with their
    /// importance weights.
    ///
    /// # Errors
    ///
    /// [`LearnerError::EmptyReplay`] when nothing is stored.
    pub fn sample(&mut self, batch_size: usize) -> Result<Batch> {
        if self.len == 0 {
            return Err(LearnerError::EmptyReplay);
        }
        let (o, a) = (self.obs_dim, self.act_dim);
        let total = self.trees.total();
        let n = self.len as f64;
        // max_j w_j = (N P_min)^-beta.
        let max_weight = (n * self.trees.min() / total).powf(-self.beta);
        let mut batch = Batch {
            obs: Vec::with_capacity(batch_size * o),
            actions: Vec::with_capacity(batch_size * a),
            rewards: Vec::with_capacity(batch_size),
            next_obs: Vec::with_capacity(batch_size * o),
            terminated: Vec::with_capacity(batch_size),
            weights: Vec::with_capacity(batch_size),
            indices: Vec::with_capacity(batch_size),
        };
        let segment = total / batch_size as f64;
        for i in 0..batch_size {
            let mass = segment * (i as f64 + self.rng.random::<f64>());
            // Rounding can put `mass` at or past the last non-empty leaf; clamp to a stored slot.
            let idx = self
                .trees
                .find_prefix(mass.min(total * (1.0 - f64::EPSILON)))
                .min(self.len - 1);
            let p = self.trees.get(idx) / total;
            batch.weights.push(((n * p).powf(-self.beta) / max_weight) as f32);
            batch.obs.extend_from_slice(&self.obs[idx * o..(idx + 1) * o]);
            batch
                .actions
                .extend_from_slice(&self.actions[idx * a..(idx + 1) * a]);
            batch.rewards.push(self.rewards[idx]);
            batch
                .next_obs
                .extend_from_slice(&self.next_obs[idx * o..(idx + 1) * o]);
            batch.terminated.push(self.terminated[idx]);
            batch.indices.push(idx);
        }
        Ok(batch)
    }

    /// Sets `p_i = |td_i| + eps` for the slots of a sampled batch.
    ///
    /// # Errors
    ///
    /// [`LearnerError::DimMismatch`] if the lengths differ or an index is not a stored slot,
    /// [`LearnerError::NonFinite`] for a NaN TD error; no priority is changed then.
    pub fn update_priorities(&mut self, indices: &[usize], td_errors: &[f32]) -> Result<()> {
        check_len("td_errors", indices.len(), td_errors.len())?;
        check_finite("td_errors", td_errors)?;
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len) {
            return Err(LearnerError::DimMismatch {
                what: "replay index".into(),
                expected: self.len,
                got: bad,
            });
        }
        for (&i, &td) in indices.iter().zip(td_errors) {
            let p = f64::from(td.abs()) + self.eps;
            self.max_priority = self.max_priority.max(p);
            self.trees.set(i, p.powf(self.alpha));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transition(reward: f32) -> Transition {
        Transition {
            obs: vec![reward],
            action: vec![0.0],
            reward,
            next_obs: vec![reward],
            ..Transition::default()
        }
    }

    #[test]
    fn sampling_follows_priorities_and_weights_are_normalised() {
        let (alpha, beta) = (0.6f32, 0.4f32);
        let mut replay = PrioritizedReplay::new(1, 1, 8, alpha, beta, 1e-6, 7).unwrap();
        for i in 0..4 {
            replay.push(&transition(i as f32)).unwrap();
        }
        // Priorities 1, 2, 3, 4 (minus eps).
        replay
            .update_priorities(&[0, 1, 2, 3], &[1.0, 2.0, 3.0, 4.0].map(|p| p - 1e-6))
            .unwrap();
        let pa: Vec<f64> = (1..=4).map(|p| (p as f64).powf(0.6)).collect();
        let total: f64 = pa.iter().sum();
        let mut counts = [0usize; 4];
        let draws = 200_000;
        for _ in 0..draws / 100 {
            let batch = replay.sample(100).unwrap();
            for (&idx, &w) in batch.indices.iter().zip(&batch.weights) {
                counts[idx] += 1;
                // w_i = (N P(i))^-beta / (N P_min)^-beta, P_min = P(0).
                let want = ((pa[idx] / total * 4.0).powf(-0.4) / (pa[0] / total * 4.0).powf(-0.4)) as f32;
                assert!((w - want).abs() < 1e-5, "slot {idx}: weight {w}, want {want}");
            }
        }
        for i in 0..4 {
            let got = counts[i] as f64 / draws as f64;
            let want = pa[i] / total;
            assert!(
                (got - want).abs() < 0.005,
                "slot {i}: frequency {got}, want {want}"
            );
        }
    }

    #[test]
    fn new_items_get_max_priority_and_ring_overwrites_oldest() {
        let mut replay = PrioritizedReplay::new(1, 1, 2, 1.0, 0.4, 1e-6, 0).unwrap();
        replay.push(&transition(0.0)).unwrap();
        replay.update_priorities(&[0], &[5.0]).unwrap();
        replay.push(&transition(1.0)).unwrap();
        assert!((replay.trees.get(1) - (5.0 + 1e-6)).abs() < 1e-9);
        replay.push(&transition(2.0)).unwrap(); // overwrites slot 0
        assert_eq!(replay.len(), 2);
        assert_eq!(replay.rewards, vec![2.0, 1.0]);
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut replay = PrioritizedReplay::new(2, 1, 4, 0.6, 0.4, 1e-6, 0).unwrap();
        assert!(matches!(replay.sample(4), Err(LearnerError::EmptyReplay)));
        let err = replay.push(&transition(0.0)).unwrap_err();
        assert_eq!(err.to_string(), "transition.obs has length 1, expected 2");
        let mut t = transition(f32::NAN);
        t.obs = vec![0.0, 0.0];
        t.next_obs = vec![0.0, 0.0];
        assert!(matches!(replay.push(&t), Err(LearnerError::NonFinite { .. })));
        // A policy-space action is refused, not silently clamped.
        t.reward = 0.0;
        t.action = vec![-0.5];
        let err = replay.push(&t).unwrap_err();
        assert_eq!(
            err.to_string(),
            "transition.action[0] = -0.5 is outside env space [0, 1]"
        );
        assert!(replay.is_empty());
        assert!(PrioritizedReplay::new(2, 1, 0, 0.6, 0.4, 1e-6, 0).is_err());
    }

    #[test]
    fn a_stored_transition_is_sampled_as_its_batch_row() {
        let t = Transition {
            step: 4,
            obs: vec![0.1, 0.2],
            action: vec![0.0, 0.25, 1.0],
            reward: -0.5,
            next_obs: vec![0.3, 0.4],
            truncated: true,
            imbalance: 0.6,
            nmad: 0.3,
            ..Transition::default()
        };
        let mut replay = PrioritizedReplay::new(2, 3, 4, 0.6, 0.4, 1e-6, 0).unwrap();
        replay.push(&t).unwrap();
        let mut batch = replay.sample(1).unwrap();
        assert_eq!(batch.indices, vec![0]);
        // One row, unweighted: equal to the batch built from the transition directly.
        let want = Batch::from_transitions(std::slice::from_ref(&t));
        batch.indices.clear();
        assert_eq!(batch, want);
        // The env-space action is in policy space now, 2x - 1 kept inside (-1, 1).
        assert!(want.actions[0] > -1.0 && want.actions[0] < -0.999);
        assert_eq!(want.actions[1], -0.5);
        assert!(want.actions[2] < 1.0 && want.actions[2] > 0.999);
    }

    #[test]
    fn same_seed_same_batches() {
        let fill = |seed| {
            let mut r = PrioritizedReplay::new(1, 1, 16, 0.6, 0.4, 1e-6, seed).unwrap();
            for i in 0..10 {
                r.push(&transition(i as f32)).unwrap();
            }
            r.sample(8).unwrap().indices
        };
        assert_eq!(fill(3), fill(3));
    }
}
