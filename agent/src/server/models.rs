//! The policy factory of `sas-agent serve`: what answers each session, by mode.
//!
//! | mode    | with `checkpoint`                        | without                         |
//! |---------|------------------------------------------|---------------------------------|
//! | SERVE   | its deterministic policy                 | the initial table               |
//! | TRAIN   | its weights, trained on (learner thread) | fresh SAC-N networks, trained   |
//! | COLLECT | no policy: the routers' behaviour is recorded under `offline_dir`               |
//!
//! A checkpoint is loaded per session and checked against the session's dimensions and mask, so a model
//! trained for another layout refuses the session (FAILED_PRECONDITION naming the file) instead of
//! answering nonsense.

use super::{InitialTableFactory, Mode, PolicyFactory, ServeConfig, SessionSpec};
use crate::offline::DatasetWriter;
use crate::policy::{ActionPolicy, InitialTable};
use crate::sac_policy::{LearnerSettings, SacPolicy, SaveTo};
use sas_learner::checkpoint::{self, Expected};
use sas_learner::config::SacConfig;
use sas_learner::sac_n::SacN;
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
    /// The factory `config` describes. The checkpoint's `config.json` is read now, so a missing or
    /// corrupt checkpoint stops the server at start rather than at the first session.
    ///
    /// # Errors
    /// The checkpoint's metadata cannot be read (the error names the file).
    pub fn new(config: &ServeConfig) -> Result<Self, sas_learner::LearnerError> {
        if let Some(dir) = &config.checkpoint {
            let meta = checkpoint::read_config(dir)?;
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
                let sac = match self.load(spec)? {
                    Some(sac) => sac,
                    None => SacN::new(spec.observation_dim(), spec.action_dim(), &self.sac)?,
                };
                let save = self.train_out.as_ref().map(|dir| SaveTo {
                    dir: dir.join(spec.job_name.replace(['/', ' '], "_")),
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
