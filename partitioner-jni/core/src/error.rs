//! Errors of the router core. Every message names the offending setting or value.

use thiserror::Error;

/// A router or partitioner could not be built from its configuration.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ConfigError {
    /// The partitioner name is not one of the known names.
    #[error("unknown partitioner `{name}`; expected one of: {}", .expected.join(", "))]
    UnknownPartitioner {
        /// The name that was asked for.
        name: String,
        /// The names that exist (the registry's `NAMES`, handed in so errors need no registry).
        expected: &'static [&'static str],
    },
    /// A setting is out of its allowed range.
    #[error("invalid `{key}` = {value}: {reason}")]
    Invalid {
        /// The setting's name.
        key: &'static str,
        /// Its value, printed.
        value: String,
        /// What is allowed.
        reason: String,
    },
}

impl ConfigError {
    /// An out-of-range setting: `key` = `value`, and what is allowed.
    pub fn invalid(key: &'static str, value: impl ToString, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// An action vector could not be decoded into a routing table.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DecodeError {
    /// The action has the wrong number of elements.
    #[error("action has {got} elements, the mask needs {expected}")]
    WrongDimension {
        /// Elements the mask defines (or, with dropped single-worker keys, the smallest accepted count).
        expected: usize,
        /// Elements received.
        got: usize,
    },
    /// An element is NaN, infinite or negative.
    #[error("action[{index}] = {value} is not a finite non-negative number")]
    BadValue {
        /// Position in the action vector.
        index: usize,
        /// The value.
        value: f64,
    },
}
