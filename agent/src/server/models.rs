//! The policy factory of `sas-agent serve`: what answers each session, by mode.
//!
//! | mode    | with `checkpoint`                        | without                         |
//! |---------|------------------------------------------|---------------------------------|
//! | SERVE   | its deterministic policy                 | the initial table               |
//! | TRAIN   | its weights, trained on (learner thread) | fresh SAC-N networks, trained   |
//! | COLLECT | no policy: the routers' behaviour is recorded under `offline_dir`               |
//!
//! The checkpoint is loaded whole once at start, so a truncated, inconsistent or non-finite one stops
//! `serve` naming the file (and the tensor) before health ever says SERVING. It is then loaded per
//! session (with the same validation) and checked against the session's dimensions and mask, so a model
//! trained for another layout refuses the session (FAILED_PRECONDITION naming the file) instead of
//! answering nonsense.

use super::{InitialTableFactory, Mode, PolicyFactory, ServeConfig, SessionSpec, names};
use crate::offline::DatasetWriter;
use crate::policy::{ActionPolicy, InitialTable};
use crate::sac_policy::{LearnerSettings, SacPolicy, SaveTo};
use sas_learner::checkpoint::{self, Expected};
use sas_learner::config::SacConfig;
use sas_learner::sac_n::SacN;
use sas_router::limits::MAX_REPLAY_BYTES;
use std::path::PathBuf;
use std::sync::Arc;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves checkpoints and trains SAC-N per session (see the module table).
#[derive(Debug)]
pub struct ModelFactory {
    checkpoint: Option<PathBuf>,
    train_out: Option<PathBuf>,
    learner: LearnerSettings,
    sac: SacConfig,
    collect: InitialTableFactory,
}

impl ModelFactory {
    /// The factory `config` describes. The checkpoint is loaded and validated now (every tensor present
    /// with the shape its `config.json` implies, every value finite), so a missing, corrupt or
    /// non-finite checkpoint stops the server at start rather than at the first session.
    ///
    /// # Errors
    /// The checkpoint cannot be loaded (the error names the file, and the tensor when one is at fault).
    pub fn new(config: &ServeConfig) -> Result<Self, sas_learner::LearnerError> {
        if let Some(dir) = &config.checkpoint {
            let meta = checkpoint::read_config(dir)?;
            let itself = Expected {
                obs_dim: meta.obs_dim,
                act_dim: meta.act_dim,
                mask: None,
            };
            // Built and dropped: what matters is that it loads; sessions load their own copy.
            checkpoint::load(dir, &itself)?;
            tracing::info!(checkpoint = %dir.display(), obs_dim = meta.obs_dim, act_dim = meta.act_dim, updates = meta.updates, "serving from checkpoint");
        }
        Ok(Self {
            checkpoint: config.checkpoint.clone(),
            train_out: config.train_out.clone(),
            learner: config.learner.clone(),
            sac: config.sac.clone(),
            collect: InitialTableFactory::new(config.offline_dir.clone()),
        })
    }

    fn load(&self, spec: &SessionSpec) -> Result<Option<SacN>, BoxError> {
        let Some(dir) = &self.checkpoint else {
            return Ok(None);
        };
        let mask = mask_pairs(spec);
        let expected = Expected {
            obs_dim: spec.observation_dim(),
            act_dim: spec.action_dim(),
            mask: Some(&mask),
        };
        let (sac, meta) = checkpoint::load(dir, &expected).map_err(|e| {
            format!(
                "checkpoint {} does not fit session `{}`: {e}",
                dir.display(),
                spec.job_name
            )
        })?;
        tracing::info!(checkpoint = %dir.display(), updates = meta.updates, job = %spec.job_name, "checkpoint loaded");
        Ok(Some(sac))
    }
}

/// Refuses a TRAIN session whose replay buffer, full, would outgrow [`MAX_REPLAY_BYTES`]: `capacity`
/// transitions of two observations (2P each), an action (A) and a reward and a flag, as f32.
fn check_replay(spec: &SessionSpec, capacity: usize) -> Result<(), BoxError> {
    let per_transition = (2 * spec.observation_dim() + spec.action_dim() + 2) as u64 * 4;
    let bytes = per_transition.saturating_mul(capacity as u64);
    if bytes > MAX_REPLAY_BYTES {
        return Err(format!(
            "a TRAIN session of {} workers and action dimension {} needs {bytes} bytes of replay at \
             replay_capacity = {capacity}, more than {MAX_REPLAY_BYTES}: lower sac.replay_capacity or \
             the session's shape",
            spec.workers,
            spec.action_dim()
        )
        .into());
    }
    Ok(())
}

fn mask_pairs(spec: &SessionSpec) -> Vec<[usize; 2]> {
    spec.mask.ranges().iter().map(|r| [r.start, r.end]).collect()
}

impl PolicyFactory for ModelFactory {
    fn policy_for(&self, spec: &SessionSpec) -> Result<Arc<dyn ActionPolicy>, BoxError> {
        match spec.mode {
            Mode::Collect => Ok(Arc::new(InitialTable::new(spec.action_dim()))),
            Mode::Serve => match self.load(spec)? {
                Some(sac) => Ok(Arc::new(SacPolicy::serving(sac.snapshot()?, sac.config().seed))),
                None => Ok(Arc::new(InitialTable::new(spec.action_dim()))),
            },
            Mode::Train => {
                // The service refuses such names already; checked again because the name becomes a path.
                names::check_path_component("job_name", &spec.job_name)?;
                // Before any network exists; a checkpoint brings its own capacity, checked once loaded.
                check_replay(spec, self.sac.replay_capacity)?;
                let sac = match self.load(spec)? {
                    Some(sac) => sac,
                    None => SacN::new(spec.observation_dim(), spec.action_dim(), &self.sac)?,
                };
                check_replay(spec, sac.config().replay_capacity)?;
                let save = self.train_out.as_ref().map(|dir| SaveTo {
                    dir: dir.join(spec.job_name.replace(' ', "_")),
                    mask: mask_pairs(spec),
                });
                Ok(Arc::new(SacPolicy::training(sac, self.learner.clone(), save)?))
            }
        }
    }

    fn offline_writer(&self, spec: &SessionSpec) -> Result<Option<DatasetWriter>, BoxError> {
        self.collect.offline_writer(spec)
    }
}
