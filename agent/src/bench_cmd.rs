//! `sas-agent bench`: the agent's reply latency over real gRPC on loopback, measured from the report that
//! completes a step to the routing table of that step arriving at a subscribed router, then the learner's
//! speed alone (`sas_learner::bench`), reported together with the CPU they ran on.

use crate::fake_job::{self, LocalAgent};
use crate::pb::SessionMode;
use crate::server::{AgentClock, ManualClock, ModelFactory, PolicyFactory, ServeConfig};
use anyhow::Context;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// P = 128 workers: observations of 256 and, with 10 hot keys of Zipf(1.5), actions of 137, the sizes
/// the learner benchmark uses.
pub const BENCH_WORKERS: u32 = 128;

/// What `sas-agent bench` prints (`--json`: these field names, the learner's flattened in after the reply
/// latency).
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Reply latency of a TRAIN session over gRPC, median, µs.
    pub reply_p50_us: f64,
    /// The same, 99th percentile, µs.
    pub reply_p99_us: f64,
    /// The learner alone (`sas_learner::bench`): SAC-N updates at O = 256, A = 137, E = 2, batch 128, the
    /// policy forward, the CPU's gemm throughput and the CPU, whose figures compare only within one machine.
    #[serde(flatten)]
    pub learner: sas_learner::bench::BenchReport,
}

impl BenchReport {
    /// The report as text, one line per measurement.
    pub fn render(&self) -> String {
        let learner = &self.learner;
        format!(
            "reply latency (TRAIN session, gRPC loopback): p50 {:.0} µs, p99 {:.0} µs\n\
             SAC-N updates: {:.1}/s on {} threads (p50 {:.2} ms, p99 {:.2} ms)\n\
             policy forward, one observation: p50 {:.1} µs, p99 {:.1} µs\n\
             single-thread gemm: {:.1} GFLOP/s\nCPU: {}\n",
            self.reply_p50_us,
            self.reply_p99_us,
            learner.updates_per_s,
            learner.threads,
            learner.update_p50_ms,
            learner.update_p99_ms,
            learner.forward_p50_us,
            learner.forward_p99_us,
            learner.gemm_gflops,
            learner.cpu
        )
    }
}

/// Runs the whole benchmark: the reply latency of `steps` steps of a TRAIN session of [`BENCH_WORKERS`]
/// (SAC-N actions sampled from the served snapshot while that session's learner trains on its thread, at
/// its lower priority), then `updates` learner updates alone.
///
/// # Errors
///
/// If the in-process agent cannot start or a step gets no table.
pub fn run(steps: u64, updates: usize) -> anyhow::Result<BenchReport> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let factory = Arc::new(ModelFactory::new(&ServeConfig::default())?);
    let latencies = runtime.block_on(reply_latencies(factory, BENCH_WORKERS, SessionMode::Train, steps))?;
    Ok(BenchReport {
        reply_p50_us: quantile(&latencies, 0.5),
        reply_p99_us: quantile(&latencies, 0.99),
        learner: sas_learner::bench::try_run(updates)?,
    })
}

/// Reply latencies of `steps` steps of a fake job with `workers` workers in a session of `mode`, in
/// microseconds, sorted.
pub async fn reply_latencies(
    policies: Arc<dyn PolicyFactory>,
    workers: u32,
    mode: SessionMode,
    steps: u64,
) -> anyhow::Result<Vec<f64>> {
    // The fake job's clock moves on one interval per step, as fast as the steps go: its reports are
    // always on time for the agent.
    let clock = ManualClock::new(0);
    let config = ServeConfig {
        deadline_intervals: 1000.0,
        clock: AgentClock::new(clock.clone()),
        ..ServeConfig::default()
    };
    let agent = LocalAgent::start(config, policies).await?;
    let mut client = agent.client().await.context("connect to the agent")?;
    let open = client
        .open_session(fake_job::open_request("bench", workers, mode))
        .await?
        .into_inner();
    let session = open.session_id.as_str();
    let mut tables = fake_job::subscribe(&mut client, session).await?;
    tables.message().await?.context("initial table")?;
    let mut latencies = Vec::with_capacity(steps as usize);
    for interval in 0..steps {
        // Interval `interval` (100 ms in `fake_job::open_request`) has just ended.
        clock.set((interval + 1) * 100);
        for w in 0..workers {
            // Loads vary with the step so the learner sees changing rewards.
            let busy = 40.0 + f64::from((w + interval as u32) % 50);
            client
                .report_worker(fake_job::worker_report(session, interval, w, busy))
                .await?;
        }
        let counts = (0..u64::from(workers)).map(|w| 1000 + 10 * w).collect();
        let started = Instant::now();
        client
            .report_router(fake_job::router_report(session, interval, counts))
            .await?;
        let table = tokio::time::timeout(Duration::from_secs(5), tables.message())
            .await
            .context("no table within 5 s")??
            .context("table stream ended")?;
        anyhow::ensure!(
            table.step == interval + 1,
            "table for step {} instead of {}",
            table.step,
            interval + 1
        );
        latencies.push(started.elapsed().as_secs_f64() * 1e6);
    }
    drop(tables);
    agent.stop().await?;
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// The `q`-quantile of sorted values (nearest rank).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn json_lists_the_learners_figures_beside_the_reply_latency() {
        let report = BenchReport {
            reply_p50_us: 1.0,
            reply_p99_us: 2.0,
            learner: sas_learner::bench::BenchReport {
                updates_per_s: 3.0,
                update_p50_ms: 4.0,
                update_p99_ms: 5.0,
                forward_p50_us: 6.0,
                forward_p99_us: 7.0,
                threads: 2,
                updates: 20,
                gemm_gflops: 8.0,
                qf_loss_first_last: (0.5, 0.25),
                cpu: "cpu".into(),
            },
        };
        assert_eq!(
            serde_json::to_string(&report).unwrap(),
            r#"{"reply_p50_us":1.0,"reply_p99_us":2.0,"updates_per_s":3.0,"update_p50_ms":4.0,"#.to_owned()
                + r#""update_p99_ms":5.0,"forward_p50_us":6.0,"forward_p99_us":7.0,"threads":2,"#
                + r#""gemm_gflops":8.0,"cpu":"cpu"}"#
        );
    }

    #[tokio::test]
    async fn every_step_gets_its_table() {
        let factory = Arc::new(crate::server::InitialTableFactory::new(None));
        let l = reply_latencies(factory, 8, SessionMode::Serve, 20).await.unwrap();
        assert_eq!(l.len(), 20);
        assert!(l.iter().all(|&x| x > 0.0));
    }
}
