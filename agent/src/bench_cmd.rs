//! `sas-agent bench`: the agent's reply latency over real gRPC on loopback, measured from the report that
//! completes a step to the routing table of that step arriving at a subscribed router.

use crate::fake_job::{self, LocalAgent};
use crate::pb::SessionMode;
use crate::server::{AgentClock, ManualClock, PolicyFactory, ServeConfig};
use anyhow::Context;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

    #[tokio::test]
    async fn every_step_gets_its_table() {
        let factory = Arc::new(crate::server::InitialTableFactory::new(None));
        let l = reply_latencies(factory, 8, SessionMode::Serve, 20).await.unwrap();
        assert_eq!(l.len(), 20);
        assert!(l.iter().all(|&x| x > 0.0));
    }
}
