//! `sas-agent bench`: the agent's reply latency over real gRPC on loopback, measured from the report that
//! completes a step to the routing table of that step arriving at a subscribed router.

use crate::pb::agent_client::AgentClient;
use crate::pb::{self, SessionMode};
use crate::server::{self, PolicyFactory, ServeConfig};
use anyhow::Context;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Reply latencies of `steps` steps of a fake job with `workers` workers, in microseconds, sorted.
pub async fn reply_latencies(
    policies: Arc<dyn PolicyFactory>,
    workers: u32,
    steps: u64,
) -> anyhow::Result<Vec<f64>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let metrics = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ServeConfig {
        deadline_intervals: 1000.0,
        ..ServeConfig::default()
    };
    let server = tokio::spawn(server::run(config, policies, listener, metrics, async {
        let _ = stopped.await;
    }));
    let mut client = AgentClient::connect(format!("http://{addr}"))
        .await
        .context("connect to the agent")?;
    let open = client
        .open_session(pb::OpenSessionRequest {
            job_name: "bench".into(),
            workers,
            routers: 1,
            interval_ms: 100,
            window_intervals: 1,
            hot_key_mode: pb::HotKeyMode::Static as i32,
            hot_keys: 10,
            mask: None,
            mask_alpha: 1.5,
            mode: SessionMode::Serve as i32,
        })
        .await?
        .into_inner();
    let mut tables = client
        .subscribe_tables(pb::SubscribeRequest {
            session_id: open.session_id.clone(),
            router: 0,
        })
        .await?
        .into_inner();
    tables.message().await?.context("initial table")?;
    let mut latencies = Vec::with_capacity(steps as usize);
    for interval in 0..steps {
        for w in 0..workers {
            client
                .report_worker(pb::WorkerReport {
                    session_id: open.session_id.clone(),
                    interval,
                    worker: w,
                    busy_ms: 100.0 + f64::from(w),
                    backpressured_ms: 0.0,
                    interval_ms: 1000.0,
                    records_in: 1000,
                })
                .await?;
        }
        let counts = (0..u64::from(workers)).map(|w| 1000 + 10 * w).collect();
        let started = Instant::now();
        client
            .report_router(pb::RouterReport {
                session_id: open.session_id.clone(),
                interval,
                router: 0,
                worker_counts: counts,
                hot_keys: vec![],
                pair_counts: vec![],
            })
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
    let _ = stop.send(());
    server.await??;
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
        let l = reply_latencies(factory, 8, 20).await.unwrap();
        assert_eq!(l.len(), 20);
        assert!(l.iter().all(|&x| x > 0.0));
    }
}
