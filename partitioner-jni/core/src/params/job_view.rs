//! The params as the Flink job reads them: one flat record of the values `JobParams` holds, every
//! default filled in and every derived value (per-worker capacity, the effective agent) computed here,
//! so the Java side has no defaults or arithmetic of its own. The JNI layer hands it over as JSON.

use super::{LinkMode, Params, Task};
use serde::Serialize;
use std::path::PathBuf;

/// What the Flink job reads from validated [`Params`]; serialised as JSON, field names are the keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobView {
    /// What the pipeline computes (`task`).
    pub task: Task,
    /// The partitioner the routers run (`partitioner`, overrides applied).
    pub partitioner: String,
    /// Number of workers P (`workers`).
    pub workers: u32,
    /// Parallelism of source and router (`routers`).
    pub routers: u32,
    /// Records the source emits (`records`).
    pub records: u64,
    /// Records per second the source emits; 0 = as fast as the job takes them (`source_rate`).
    pub source_rate: u64,
    /// Seed of the workload and the routers (`seed`).
    pub seed: u64,
    /// Aggregation window length, ms of event time (`window_ms`).
    pub window_ms: u64,
    /// Aggregation window slide, ms (`slide_ms`).
    pub slide_ms: u64,
    /// Checkpoint interval, ms; 0 = no checkpoints (`checkpoint_interval_ms`).
    pub checkpoint_interval_ms: u64,
    /// The sentence text of WordCount payloads (`payload.text_path`), absolute once the params' paths
    /// are resolved.
    pub payload_text: PathBuf,
    /// Words per sentence payload (`payload.words_per_sentence`).
    pub words_per_sentence: u32,
    /// Values per TDigest payload (`payload.values_per_record`).
    pub values_per_record: u32,
    /// Records per second of each worker (length P): `capacity.units_per_second` × the worker's
    /// factor; 0 = unlimited.
    pub capacity: Vec<f64>,
    /// When the capacity changes during the run (`capacity.changes`): wall-clock ms after the worker's
    /// first record, one per change.
    pub capacity_changes_after_ms: Vec<u64>,
    /// Each change's records per second per worker (length P each), as `capacity`.
    pub capacity_changes: Vec<Vec<f64>>,
    /// Share of the key space whose records cost `key_cost_factor` units (`capacity.key_cost.share`).
    pub key_cost_share: f64,
    /// Units per record of those keys (`capacity.key_cost.factor`).
    pub key_cost_factor: f64,
    /// Units one partial costs the merging worker (`capacity.partial_cost`, or the task's calibrated
    /// cost).
    pub partial_cost: f64,
    /// gRPC address of the agent (`agent.address`); empty = no agent, the workers log their loads.
    pub agent_address: String,
    /// What the agent does with the session (`agent.mode`); meaningful only with an agent.
    pub agent_mode: LinkMode,
    /// Wall-clock interval of the workers' load samples and reports, ms (`agent.interval_ms`, its
    /// default without an `agent:` section).
    pub load_interval_ms: u64,
    /// Number of hot keys K (`router.hot_keys.count`), the keys whose fragmentation is measured.
    pub hot_keys: usize,
    /// Records per second of event time of the key stream (`workload.rate`).
    pub workload_rate: u64,
}

impl Params {
    /// The values the Flink job reads (see [`JobView`]).
    pub fn job_view(&self) -> JobView {
        // Without an `agent:` section the workers still sample their load, at the default interval.
        let agent = self.agent.clone().unwrap_or_default();
        JobView {
            task: self.task,
            partitioner: self.partitioner.clone(),
            workers: self.workers,
            routers: self.routers,
            records: self.records,
            source_rate: self.source_rate,
            seed: self.seed,
            window_ms: self.window_ms,
            slide_ms: self.slide_ms,
            checkpoint_interval_ms: self.checkpoint_interval_ms,
            payload_text: self.payload.text_path.clone(),
            words_per_sentence: self.payload.words_per_sentence,
            values_per_record: self.payload.values_per_record,
            capacity: (0..self.workers as usize)
                .map(|w| self.capacity_of(w).unwrap_or(0.0))
                .collect(),
            capacity_changes_after_ms: self.capacity.changes.iter().map(|c| c.after_ms).collect(),
            capacity_changes: self
                .capacity
                .changes
                .iter()
                .map(|c| c.factors.iter().map(|f| self.capacity.units_per_second * f).collect())
                .collect(),
            key_cost_share: self.capacity.key_cost.share,
            key_cost_factor: self.capacity.key_cost.factor,
            partial_cost: self.capacity.partial_cost.unwrap_or(self.task.partial_cost()),
            agent_address: self.agent_link().map(|a| a.address.clone()).unwrap_or_default(),
            agent_mode: agent.mode,
            load_interval_ms: agent.interval_ms,
            hot_keys: self.router.hot_keys.count,
            workload_rate: self.workload.rate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::AgentLinkConfig;

    const MINIMAL: &str = "task: tdigest\npartitioner: pkg\nworkers: 3\nrecords: 1000\n";

    #[test]
    fn defaults_are_filled_in() {
        let p = Params::parse(MINIMAL, "t").unwrap();
        let v = p.job_view();
        assert_eq!(v.capacity, vec![0.0; 3], "no capacity = unlimited");
        let no_agent = AgentLinkConfig::default();
        assert_eq!(
            (v.agent_address.as_str(), v.load_interval_ms, v.agent_mode),
            ("", no_agent.interval_ms, no_agent.mode)
        );
        assert_eq!(
            (v.routers, v.window_ms, v.slide_ms, v.hot_keys, v.workload_rate),
            (
                p.routers,
                p.window_ms,
                p.slide_ms,
                p.router.hot_keys.count,
                p.workload.rate
            )
        );
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["task"], "tdigest");
        assert_eq!(json["agent_mode"], "serve");
    }

    #[test]
    fn capacity_is_per_worker_and_the_agent_is_effective() {
        let yaml = format!(
            "{MINIMAL}capacity:\n  units_per_second: 100\n  factors: [1, 0.5, 2]\n\
             agent:\n  interval_ms: 200\n  mode: collect\n"
        );
        let v = Params::parse(&yaml, "t").unwrap().job_view();
        assert_eq!(v.capacity, vec![100.0, 50.0, 200.0]);
        assert_eq!(
            v.agent_address, "",
            "an agent section without an address is no agent"
        );
        assert_eq!((v.load_interval_ms, v.agent_mode), (200, LinkMode::Collect));

        let with_agent = format!("{yaml}  address: http://127.0.0.1:9\n");
        let v = Params::parse(&with_agent, "t").unwrap().job_view();
        assert_eq!(v.agent_address, "http://127.0.0.1:9");
        let v = Params::parse(&format!("{MINIMAL}capacity:\n  units_per_second: 10\n"), "t")
            .unwrap()
            .job_view();
        assert_eq!(v.capacity, vec![10.0; 3], "no factors = all 1");
    }
}
