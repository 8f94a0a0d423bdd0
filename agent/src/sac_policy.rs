//! SAC-N weights serving a session: the actor/learner split.
//!
//! ```text
//!  step closes ──► act(obs) ──► latest PolicySnapshot (read lock, never waits for training)
//!       │
//!       └──► learn(experience) ──try_send──► learner thread: replay ← experience
//!                                                             updates_per_step × SacN::update
//!                                                             every publish_every updates: new snapshot
//!                                                             every checkpoint_every updates: save
//! ```
//!
//! The queue is bounded; when the learner falls behind, experience is dropped and counted rather than
//! delaying an answer. The learner saves a final checkpoint when the policy is finished or dropped.

use crate::policy::ActionPolicy;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use sas_learner::Transition;
use sas_learner::checkpoint;
use sas_learner::replay::PrioritizedReplay;
use sas_learner::sac_n::SacN;
use sas_learner::snapshot::PolicySnapshot;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// How a TRAIN session's learner runs (`learner:` in the serve settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LearnerSettings {
    /// Gradient updates per step of experience. Default 1.
    pub updates_per_step: usize,
    /// Updates between two snapshot publications. Default 10.
    pub publish_every: u64,
    /// Updates between two checkpoint saves (0: only at the end). Default 500.
    pub checkpoint_every: u64,
    /// Steps of experience queued for the learner at most; beyond, experience is dropped. Default 1024.
    pub queue: usize,
}

impl Default for LearnerSettings {
    fn default() -> Self {
        Self {
            updates_per_step: 1,
            publish_every: 10,
            checkpoint_every: 500,
            queue: 1024,
        }
    }
}

/// The snapshot answering now and its version.
#[derive(Debug)]
struct Published {
    snapshot: RwLock<Arc<PolicySnapshot>>,
    version: AtomicU64,
}

impl Published {
    fn publish(&self, snapshot: PolicySnapshot) {
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
        self.version.fetch_add(1, Ordering::Release);
    }

    fn current(&self) -> Arc<PolicySnapshot> {
        self.snapshot.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Where a learner saves its weights, with the mask they were trained for.
#[derive(Debug, Clone)]
pub struct SaveTo {
    /// Checkpoint directory.
    pub dir: PathBuf,
    /// The session's mask, `[start, end)` per true hot key.
    pub mask: Vec<[usize; 2]>,
}

/// A policy of SAC-N weights; with a learner thread when it trains.
#[derive(Debug)]
pub struct SacPolicy {
    published: Arc<Published>,
    rng: Mutex<Xoshiro256PlusPlus>,
    experience: Mutex<Option<SyncSender<Transition>>>,
    dropped: AtomicU64,
    learner: Mutex<Option<JoinHandle<()>>>,
}

impl SacPolicy {
    /// Serves `snapshot` (version 1) without learning.
    pub fn serving(snapshot: PolicySnapshot, seed: u64) -> Self {
        Self {
            published: Arc::new(Published {
                snapshot: RwLock::new(Arc::new(snapshot)),
                version: AtomicU64::new(1),
            }),
            rng: Mutex::new(Xoshiro256PlusPlus::seed_from_u64(seed)),
            experience: Mutex::new(None),
            dropped: AtomicU64::new(0),
            learner: Mutex::new(None),
        }
    }

    /// Serves `sac`'s current policy and trains it on a thread of its own from the experience handed
    /// to [`ActionPolicy::learn`], saving to `save` when given.
    ///
    /// # Errors
    /// The first snapshot or the replay buffer cannot be built (a bad configuration).
    pub fn training(sac: SacN, settings: LearnerSettings, save: Option<SaveTo>) -> anyhow::Result<Self> {
        let s = sac.config().clone();
        let replay = PrioritizedReplay::new(
            sac.obs_dim(),
            sac.act_dim(),
            s.replay_capacity,
            s.per_alpha,
            s.per_beta,
            s.per_eps,
            s.seed,
        )?;
        let policy = Self::serving(sac.snapshot()?, s.seed ^ 0x5ac);
        let (tx, rx) = sync_channel(settings.queue.max(1));
        let published = policy.published.clone();
        let handle = std::thread::Builder::new()
            .name("sas-learner".into())
            .spawn(move || {
                yield_to_serving();
                learn_loop(sac, replay, &settings, save.as_ref(), &rx, &published)
            })?;
        *policy.learner.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        *policy.experience.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        Ok(policy)
    }

    /// Experience dropped because the learner's queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl ActionPolicy for SacPolicy {
    fn act(&self, obs: &[f32], deterministic: bool) -> Vec<f64> {
        let snapshot = self.published.current();
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        match snapshot.act(obs, deterministic, &mut *rng) {
            Ok(a) => a.into_iter().map(f64::from).collect(),
            Err(e) => {
                // Dimensions are checked when the session opens; a failure here is a bug, and the
                // initial table is the safe answer.
                tracing::error!(cause = %e, "policy forward failed; answering the initial table");
                vec![1.0; snapshot.act_dim()]
            }
        }
    }

    fn version(&self) -> u64 {
        self.published.version.load(Ordering::Acquire)
    }

    fn learn(&self, experience: Transition) {
        let sender = self.experience.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = sender.as_ref() else { return };
        match tx.try_send(experience) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(dropped = n, "learner queue full: experience dropped");
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                tracing::error!("learner thread is gone: experience dropped");
            }
        }
    }

    fn finish(&self) {
        // Closing the queue ends the learner, which saves its final checkpoint; then wait for it.
        self.experience.lock().unwrap_or_else(|e| e.into_inner()).take();
        let handle = self.learner.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("learner thread panicked");
        }
    }
}

impl Drop for SacPolicy {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Lowers the calling (learner) thread's scheduling priority to nice 10. Threads it starts, such as the
/// compute pool created by its first gradient step, inherit it; on a busy machine an answer then never
/// queues behind a gradient step (measured reply p99: 2.96 ms without this beside a Flink job).
fn yield_to_serving() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions; setpriority(PRIO_PROCESS, tid) changes only this thread's
        // nice value and reports failure through its return value.
        let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) };
        if result != 0 {
            tracing::debug!("learner priority unchanged: {}", std::io::Error::last_os_error());
        }
    }
}

/// The learner thread: replay, updates, publications, checkpoints; ends when the queue closes.
fn learn_loop(
    mut sac: SacN,
    mut replay: PrioritizedReplay,
    settings: &LearnerSettings,
    save: Option<&SaveTo>,
    experience: &Receiver<Transition>,
    published: &Published,
) {
    let batch_size = sac.config().batch_size;
    let mut pending = 0usize;
    let mut updates = 0u64;
    loop {
        // Drain what is queued; wait only when there is nothing to train on.
        let next = if pending > 0 && replay.len() >= batch_size {
            experience.try_recv().map_err(|e| match e {
                std::sync::mpsc::TryRecvError::Empty => RecvTimeoutError::Timeout,
                std::sync::mpsc::TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
            })
        } else {
            experience.recv_timeout(Duration::from_millis(100))
        };
        match next {
            Ok(t) => {
                if let Err(err) = replay.push(&t) {
                    tracing::error!(cause = %err, "experience rejected by the replay buffer");
                    continue;
                }
                pending += settings.updates_per_step;
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        if pending == 0 || replay.len() < batch_size {
            continue;
        }
        pending -= 1;
        let step = replay
            .sample(batch_size)
            .and_then(|batch| Ok((sac.update(&batch)?, batch)))
            .and_then(|(stats, batch)| replay.update_priorities(&batch.indices, &stats.td_errors));
        if let Err(e) = step {
            tracing::error!(cause = %e, "gradient update failed; learner stops, serving goes on");
            break;
        }
        updates += 1;
        if updates.is_multiple_of(settings.publish_every.max(1)) {
            match sac.snapshot() {
                Ok(s) => published.publish(s),
                Err(e) => tracing::error!(cause = %e, "snapshot failed"),
            }
        }
        if settings.checkpoint_every > 0 && updates.is_multiple_of(settings.checkpoint_every) {
            save_checkpoint(&sac, save);
        }
    }
    save_checkpoint(&sac, save);
    tracing::info!(updates, "learner stopped");
}

fn save_checkpoint(sac: &SacN, save: Option<&SaveTo>) {
    let Some(save) = save else { return };
    match checkpoint::save(&save.dir, sac, &save.mask) {
        Ok(()) => tracing::info!(dir = %save.dir.display(), updates = sac.updates(), "checkpoint saved"),
        Err(e) => tracing::error!(cause = %e, "checkpoint not saved"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sas_learner::config::SacConfig;
    use std::time::Instant;

    fn small_sac() -> SacN {
        let config = SacConfig {
            hidden_sizes: vec![16, 16],
            batch_size: 8,
            seed: 3,
            ..SacConfig::default()
        };
        SacN::new(4, 3, &config).unwrap()
    }

    fn experience(i: usize) -> Transition {
        let x = i as f32 / 100.0;
        Transition {
            obs: vec![x, 1.0 - x, 0.5, 0.2],
            action: vec![0.1, 0.5, 0.9],
            reward: -x,
            next_obs: vec![x + 0.01, 0.99 - x, 0.5, 0.2],
            terminated: false,
            truncated: i % 16 == 15,
            ..Transition::default()
        }
    }

    #[test]
    fn serving_answers_the_deterministic_action_in_env_space() {
        let sac = small_sac();
        let snapshot = sac.snapshot().unwrap();
        let policy = SacPolicy::serving(snapshot.clone(), 0);
        let obs = [0.1, 0.2, 0.3, 0.4];
        let a = policy.act(&obs, true);
        let expected = snapshot
            .act(&obs, true, &mut Xoshiro256PlusPlus::seed_from_u64(9))
            .unwrap();
        assert_eq!(a, expected.iter().map(|&x| f64::from(x)).collect::<Vec<_>>());
        assert!(a.iter().all(|x| (0.0..=1.0).contains(x)));
        assert_eq!(policy.version(), 1);
        policy.learn(experience(0)); // ignored: not training
    }

    #[test]
    fn training_publishes_new_weights_and_saves_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let settings = LearnerSettings {
            publish_every: 2,
            checkpoint_every: 0,
            ..LearnerSettings::default()
        };
        let save = SaveTo {
            dir: dir.path().join("ckpt"),
            mask: vec![[0, 2], [1, 2]],
        };
        let policy = SacPolicy::training(small_sac(), settings, Some(save.clone())).unwrap();
        let obs = [0.1, 0.2, 0.3, 0.4];
        let before = policy.act(&obs, true);
        for i in 0..40 {
            policy.learn(experience(i));
        }
        let started = Instant::now();
        while policy.version() < 5 && started.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            policy.version() >= 5,
            "learner published {} versions",
            policy.version()
        );
        assert_ne!(policy.act(&obs, true), before, "new weights answer");
        drop(policy);
        let (sac, meta) = checkpoint::load(
            &save.dir,
            &checkpoint::Expected {
                obs_dim: 4,
                act_dim: 3,
                mask: Some(&save.mask),
            },
        )
        .unwrap();
        assert!(sac.updates() >= 8 && meta.updates == sac.updates());
    }
}
