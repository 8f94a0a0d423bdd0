//! The agent's Prometheus metrics (`/metrics`). Names are an API: see docs/agent.md.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Every metric the agent exports.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) steps: Counter,
    pub(crate) imputed_reports: Counter,
    pub(crate) late_reports: Counter,
    pub(crate) rejected_requests: Counter,
    pub(crate) sessions: Gauge,
    pub(crate) reply_latency: Histogram,
    pub(crate) imbalance: Gauge<f64, AtomicU64>,
    pub(crate) nmad: Gauge<f64, AtomicU64>,
    pub(crate) reward: Gauge<f64, AtomicU64>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("sas_agent");
        let steps = Counter::default();
        let imputed_reports = Counter::default();
        let late_reports = Counter::default();
        let rejected_requests = Counter::default();
        let sessions = Gauge::default();
        // 10 µs … ~80 ms, doubling.
        let reply_latency = Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
            1e-5, 2.0, 14,
        ));
        let imbalance = Gauge::<f64, AtomicU64>::default();
        let nmad = Gauge::<f64, AtomicU64>::default();
        let reward = Gauge::<f64, AtomicU64>::default();
        registry.register("steps", "Steps closed, all sessions", steps.clone());
        registry.register(
            "imputed_reports",
            "Worker reports imputed at a step deadline",
            imputed_reports.clone(),
        );
        registry.register(
            "late_reports",
            "Reports that arrived after their step closed",
            late_reports.clone(),
        );
        registry.register(
            "rejected_requests",
            "Requests rejected as invalid",
            rejected_requests.clone(),
        );
        registry.register("sessions", "Open sessions", sessions.clone());
        registry.register(
            "reply_latency_seconds",
            "From a step closing to its routing table being published",
            reply_latency.clone(),
        );
        registry.register("imbalance", "λ of busy time at the last step", imbalance.clone());
        registry.register("nmad", "NMAD of busy time at the last step", nmad.clone());
        registry.register("reward", "Reward of the last step", reward.clone());
        Self {
            registry,
            steps,
            imputed_reports,
            late_reports,
            rejected_requests,
            sessions,
            reply_latency,
            imbalance,
            nmad,
            reward,
        }
    }

    /// The text exposition format.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        encode(&mut out, &self.registry).expect("encoding metrics into a String");
        out
    }

    pub(crate) fn record_step(&self, o: &super::session::StepOutcome) {
        self.steps.inc();
        self.imputed_reports.inc_by(o.imputed_workers as u64);
        self.reply_latency.observe(o.reply.as_secs_f64());
        self.imbalance.set(o.imbalance);
        self.nmad.set(o.nmad);
        self.reward.set(o.reward);
    }
}
