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

/// A saved router state could not be restored (see [`crate::state`]). The router is left as it was.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum StateError {
    /// The bytes do not start with the state envelope's magic.
    #[error("not a router state: the first bytes are not the magic `SASR`")]
    NotAState,
    /// A format version this library does not read.
    #[error("router state format version {found}; this library reads version {supported}")]
    Version {
        /// The version in the bytes.
        found: u16,
        /// The version this library writes and reads.
        supported: u16,
    },
    /// The bytes end before the state does.
    #[error("router state truncated: {what} needs {needed} more bytes, {left} are left")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes it needs.
        needed: u64,
        /// Bytes left.
        left: u64,
    },
    /// Bytes follow the end of the state.
    #[error("router state has {extra} bytes after its end ({what})")]
    Trailing {
        /// What ended.
        what: &'static str,
        /// Bytes after it.
        extra: usize,
    },
    /// The checksum does not match the bytes.
    #[error("router state checksum mismatch: the bytes are damaged")]
    Checksum,
    /// The state is larger than [`crate::limits::MAX_STATE_BYTES`].
    #[error("router state of {bytes} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Its size.
        bytes: u64,
        /// The limit.
        limit: usize,
    },
    /// The state was saved by another strategy.
    #[error("router state was saved by partitioner `{saved}`, this router is `{this}`")]
    WrongStrategy {
        /// The strategy that saved it.
        saved: String,
        /// This router's strategy.
        this: &'static str,
    },
    /// The state was saved for another number of workers.
    #[error("router state was saved for {saved} workers, this router has {this}")]
    WrongWorkers {
        /// Workers of the router that saved it.
        saved: u32,
        /// This router's workers.
        this: u32,
    },
    /// A setting the state depends on differs between the router that saved it and this one.
    #[error("router state does not fit this router: {what} is {saved} in the state, {this} here")]
    Mismatch {
        /// The setting or shape.
        what: &'static str,
        /// Its value in the state.
        saved: String,
        /// Its value in this router.
        this: String,
    },
    /// A value is out of range or inconsistent with the rest of the state.
    #[error("corrupt router state: {what}: {reason}")]
    Corrupt {
        /// The field.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl StateError {
    /// A corrupt field: `what`, and what is wrong with it.
    pub fn corrupt(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Corrupt {
            what,
            reason: reason.into(),
        }
    }

    /// A setting or shape that differs: `what`, its saved value and this router's.
    pub fn mismatch(what: &'static str, saved: impl ToString, this: impl ToString) -> Self {
        Self::Mismatch {
            what,
            saved: saved.to_string(),
            this: this.to_string(),
        }
    }
}
