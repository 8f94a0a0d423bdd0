//! What one job's interval costs the agent's handlers, without the network: a `Report` batch of P = 128
//! worker reports and one router report, against the same reports as 129 unary calls. Each iteration
//! closes one step (the session's clock is a manual one, moved one interval per iteration).
//!
//! `cargo bench -p sas-agent --bench report_batch`

use criterion::{Criterion, criterion_group, criterion_main};
use sas_agent::fake_job;
use sas_agent::pb::{self, SessionMode, agent_server::Agent};
use sas_agent::server::{AgentClock, AgentService, InitialTableFactory, ManualClock, ServeConfig};
use std::sync::Arc;
use tonic::Request;

const WORKERS: u32 = 128;
const INTERVAL_MS: u64 = 1000;

/// A service holding one SERVE session of P = 128, its clock, and the next interval to report.
struct Job {
    service: AgentService,
    clock: ManualClock,
    session: String,
    interval: u64,
}

impl Job {
    fn new(runtime: &tokio::runtime::Runtime) -> Self {
        let clock = ManualClock::new(1001 * INTERVAL_MS);
        let config = ServeConfig {
            clock: AgentClock::new(clock.clone()),
            ..ServeConfig::default()
        };
        let service = AgentService::new(&config, Arc::new(InitialTableFactory::new(None))).unwrap();
        let mut open = fake_job::open_request("bench", WORKERS, SessionMode::Serve);
        open.interval_ms = INTERVAL_MS as u32;
        let session = runtime
            .block_on(service.open_session(Request::new(open)))
            .unwrap()
            .into_inner()
            .session_id;
        Self {
            service,
            clock,
            session,
            interval: 1000,
        }
    }

    /// The next interval's reports; the agent's clock is at the interval after it.
    fn next(&mut self) -> (Vec<pb::WorkerReport>, pb::RouterReport) {
        let interval = self.interval;
        self.interval += 1;
        self.clock.advance(INTERVAL_MS);
        let workers = (0..WORKERS)
            .map(|w| fake_job::worker_report(&self.session, interval, w, 500.0))
            .collect();
        let router = fake_job::router_report(&self.session, interval, (0..u64::from(WORKERS)).collect());
        (workers, router)
    }
}

fn report(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut group = c.benchmark_group("one interval of P = 128 (129 reports)");
    let mut job = Job::new(&runtime);
    group.bench_function("one Report batch", |b| {
        b.iter(|| {
            let (workers, router) = job.next();
            let batch = pb::ReportBatch {
                session_id: job.session.clone(),
                workers,
                routers: vec![router],
            };
            let ack = runtime.block_on(job.service.report(Request::new(batch))).unwrap();
            assert_eq!(ack.into_inner().stored, WORKERS + 1);
        });
    });
    let mut job = Job::new(&runtime);
    group.bench_function("129 unary calls", |b| {
        b.iter(|| {
            let (workers, router) = job.next();
            runtime.block_on(async {
                for w in workers {
                    job.service.report_worker(Request::new(w)).await.unwrap();
                }
                job.service.report_router(Request::new(router)).await.unwrap();
            });
        });
    });
    group.finish();
}

criterion_group!(benches, report);
criterion_main!(benches);
