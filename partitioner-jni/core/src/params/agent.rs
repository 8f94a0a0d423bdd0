//! The `agent:` section of the params: where the agent is, which session to join, how often to report and
//! what to do while the agent is away.

use crate::error::ConfigError;
use crate::limits::{
    MAX_INTERVAL_MS, MAX_NAME_BYTES, MAX_REPORT_QUEUE, MAX_WINDOW_INTERVALS, MIN_INTERVAL_MS,
};
use crate::partitioner::NAMES;
use serde::{Deserialize, Serialize};

/// How a job's routers and workers talk to the agent. Each field is documented with its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentLinkConfig {
    /// gRPC address of the agent, `http://host:port`; empty = no agent. Default empty.
    pub address: String,
    /// The job's name in the agent's logs and metrics; absent = `<task>-<partitioner>`.
    pub job_name: Option<String>,
    /// Session key: every router and worker of one job opens the session with it and joins the same
    /// session. Absent = `<job_name>-<seed>-<hash of the params>`, which every subtask derives alike
    /// from the params it was given; set it (e.g. to the Flink job id) to keep two runs of the same
    /// params apart.
    pub session_key: Option<String>,
    /// What the agent does with the steps: `serve`, `train` or `collect`. Default `serve`.
    pub mode: LinkMode,
    /// Reporting interval (ms of wall-clock time, >= 100); interval `i` is `[i·interval_ms,
    /// (i+1)·interval_ms)` since the Unix epoch, so every JVM numbers it alike. Default 1000.
    pub interval_ms: u64,
    /// Intervals averaged into one observation, >= 1. Default 1.
    pub window_intervals: u32,
    /// Longest wait for a connection or a unary call to the agent (ms). Default 1000.
    pub connect_timeout_ms: u64,
    /// Disconnected this long without a table, a router routes with `fallback` (ms). Default 5000.
    pub fallback_after_ms: u64,
    /// The baseline partitioner used while the agent is away (one of the partitioner names). Default
    /// `w-choices`: the best count balancer of the offline evaluator (docs/config.md says why).
    pub fallback: String,
    /// Delays between reconnection attempts: exponential from `min` to `max`, with jitter.
    pub reconnect_backoff_ms: BackoffConfig,
    /// Reports waiting to be sent at most; a report finding the queue full is dropped and counted.
    /// Default 1024.
    pub report_queue: usize,
}

impl Default for AgentLinkConfig {
    fn default() -> Self {
        Self {
            address: String::new(),
            job_name: None,
            session_key: None,
            mode: LinkMode::Serve,
            interval_ms: 1000,
            window_intervals: 1,
            connect_timeout_ms: 1000,
            fallback_after_ms: 5000,
            fallback: "w-choices".into(),
            reconnect_backoff_ms: BackoffConfig::default(),
            report_queue: 1024,
        }
    }
}

/// Bounds of the reconnection back-off (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffConfig {
    /// First delay, > 0. Default 100.
    pub min: u64,
    /// Largest delay, >= `min`. Default 10 000.
    pub max: u64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            min: 100,
            max: 10_000,
        }
    }
}

/// What the agent does with the session's steps (the proto's `SessionMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkMode {
    /// The agent serves its deterministic policy; routers apply its tables.
    Serve,
    /// The agent learns online and serves sampled actions; routers apply its tables.
    Train,
    /// The routers' own partitioner (the behaviour policy) routes; the agent records transitions and
    /// routers report per mask pair counts.
    Collect,
}

impl LinkMode {
    /// The name used in params files.
    pub fn name(self) -> &'static str {
        match self {
            LinkMode::Serve => "serve",
            LinkMode::Train => "train",
            LinkMode::Collect => "collect",
        }
    }
}

impl AgentLinkConfig {
    /// Whether an agent is configured (`address` is not empty).
    pub fn enabled(&self) -> bool {
        !self.address.is_empty()
    }

    /// Checks every setting; the error names the first bad one under `agent.`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.enabled() {
            let rest = self.address.strip_prefix("http://").unwrap_or("");
            if rest.is_empty() || rest.contains(char::is_whitespace) {
                return Err(ConfigError::invalid(
                    "agent.address",
                    &self.address,
                    "must be http://host:port, or empty for no agent",
                ));
            }
        }
        for (key, value) in [
            ("agent.job_name", &self.job_name),
            ("agent.session_key", &self.session_key),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(ConfigError::invalid(
                    key,
                    "\"\"",
                    "must not be empty (omit it for the default)",
                ));
            }
            if let Some(v) = value.as_deref().filter(|v| v.len() > MAX_NAME_BYTES) {
                return Err(ConfigError::invalid(
                    key,
                    format!("{} bytes", v.len()),
                    format!("must be at most {MAX_NAME_BYTES} bytes"),
                ));
            }
        }
        if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&self.interval_ms) {
            return Err(ConfigError::invalid(
                "agent.interval_ms",
                self.interval_ms,
                format!("must be in {MIN_INTERVAL_MS}..={MAX_INTERVAL_MS}"),
            ));
        }
        if self.window_intervals == 0 || self.window_intervals > MAX_WINDOW_INTERVALS {
            return Err(ConfigError::invalid(
                "agent.window_intervals",
                self.window_intervals,
                format!("must be in 1..={MAX_WINDOW_INTERVALS}"),
            ));
        }
        if self.connect_timeout_ms == 0 {
            return Err(ConfigError::invalid("agent.connect_timeout_ms", 0, "must be > 0"));
        }
        if !NAMES.contains(&self.fallback.as_str()) {
            return Err(ConfigError::invalid(
                "agent.fallback",
                &self.fallback,
                format!("must be one of: {}", NAMES.join(", ")),
            ));
        }
        let b = self.reconnect_backoff_ms;
        if b.min == 0 {
            return Err(ConfigError::invalid(
                "agent.reconnect_backoff_ms.min",
                0,
                "must be > 0",
            ));
        }
        if b.max < b.min {
            return Err(ConfigError::invalid(
                "agent.reconnect_backoff_ms.max",
                b.max,
                "must be >= reconnect_backoff_ms.min",
            ));
        }
        if self.report_queue == 0 || self.report_queue > MAX_REPORT_QUEUE {
            return Err(ConfigError::invalid(
                "agent.report_queue",
                self.report_queue,
                format!("must be in 1..={MAX_REPORT_QUEUE}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut AgentLinkConfig)) -> Result<(), ConfigError> {
        let mut c = AgentLinkConfig {
            address: "http://127.0.0.1:50051".into(),
            ..AgentLinkConfig::default()
        };
        f(&mut c);
        c.validate()
    }

    fn key_of(result: Result<(), ConfigError>) -> &'static str {
        match result {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid setting, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid_and_disabled() {
        let c = AgentLinkConfig::default();
        assert!(!c.enabled());
        c.validate().unwrap();
        with(|_| {}).unwrap();
    }

    #[test]
    fn every_bad_setting_is_named() {
        assert_eq!(
            key_of(with(|c| c.address = "127.0.0.1:50051".into())),
            "agent.address"
        );
        assert_eq!(key_of(with(|c| c.address = "http://".into())), "agent.address");
        assert_eq!(
            key_of(with(|c| c.session_key = Some(" ".into()))),
            "agent.session_key"
        );
        assert_eq!(
            key_of(with(|c| c.job_name = Some(String::new()))),
            "agent.job_name"
        );
        assert_eq!(key_of(with(|c| c.interval_ms = 99)), "agent.interval_ms");
        assert_eq!(key_of(with(|c| c.window_intervals = 0)), "agent.window_intervals");
        assert_eq!(
            key_of(with(|c| c.connect_timeout_ms = 0)),
            "agent.connect_timeout_ms"
        );
        assert_eq!(key_of(with(|c| c.fallback = "nope".into())), "agent.fallback");
        assert_eq!(
            key_of(with(|c| c.reconnect_backoff_ms.min = 0)),
            "agent.reconnect_backoff_ms.min"
        );
        assert_eq!(
            key_of(with(
                |c| c.reconnect_backoff_ms = BackoffConfig { min: 500, max: 100 }
            )),
            "agent.reconnect_backoff_ms.max"
        );
        assert_eq!(key_of(with(|c| c.report_queue = 0)), "agent.report_queue");
        with(|c| c.interval_ms = 100).unwrap();
        with(|c| c.fallback_after_ms = 0).unwrap();
        with(|c| c.fallback = "pkg".into()).unwrap();
    }
}
