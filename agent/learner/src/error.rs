//! The one error type of the crate, an enum of causes that callers branch on.

use std::path::PathBuf;

/// Why a learner call failed.
///
/// Bad input (a wrong dimension, a NaN in a batch, an invalid hyperparameter, a checkpoint made for another
/// model) is reported here rather than by a panic, so the agent server can reject one request or one
/// checkpoint and keep serving.
#[derive(Debug, thiserror::Error)]
pub enum LearnerError {
    /// A hyperparameter is out of range; the message names the field and the value.
    #[error("{field} = {value}: {reason}")]
    InvalidConfig {
        /// Dotted path of the field, e.g. `sac.gamma`.
        field: String,
        /// The offending value, as written.
        value: String,
        /// What the value must satisfy.
        reason: String,
    },
    /// A vector or batch does not have the length the model was built for.
    #[error("{what} has length {got}, expected {expected}")]
    DimMismatch {
        /// What was checked, e.g. `obs` or `batch.actions`.
        what: String,
        /// Length the model expects.
        expected: usize,
        /// Length that arrived.
        got: usize,
    },
    /// A NaN or an infinity arrived in an input.
    #[error("{what} holds a non-finite value at index {index}")]
    NonFinite {
        /// Which input, e.g. `batch.rewards`.
        what: String,
        /// Flat index of the first bad value.
        index: usize,
    },
    /// An action that must be in env space `[0, 1]` is not (a policy-space action passed by mistake?).
    #[error("{what}[{index}] = {value} is outside env space [0, 1]")]
    ActionRange {
        /// Which input, e.g. `transition.action`.
        what: String,
        /// Position of the first bad element.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// The replay buffer cannot produce a batch yet.
    #[error("replay buffer is empty")]
    EmptyReplay,
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A checkpoint file exists but cannot be parsed, or lacks a tensor, or holds one of the wrong shape.
    #[error("{}: {reason}", path.display())]
    CorruptFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A checkpoint is well formed but belongs to another model (other dimensions or mask).
    #[error("checkpoint {field} mismatch: checkpoint has {found}, expected {expected}")]
    CheckpointMismatch {
        /// The field that differs, e.g. `obs_dim` or `mask`.
        field: String,
        /// What the caller expects.
        expected: String,
        /// What the checkpoint holds.
        found: String,
    },
    /// A tensor operation failed inside candle; with validated inputs this indicates a bug.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, LearnerError>;

/// Checks a length, naming `what` in the error.
pub(crate) fn check_len(what: &str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(LearnerError::DimMismatch {
            what: what.to_owned(),
            expected,
            got,
        })
    }
}

/// Checks that every value is finite, naming `what` and the first bad index in the error.
pub(crate) fn check_finite(what: &str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(LearnerError::NonFinite {
            what: what.to_owned(),
            index,
        }),
    }
}
