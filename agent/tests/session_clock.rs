//! Sessions are robust to time, over real gRPC on loopback (issue "Nothing a client sends takes it down",
//! item 2: one report disables a session). A report far ahead of the agent's clock is refused with
//! `OUT_OF_RANGE` naming the window and leaves nothing behind; one far behind is late and leaves nothing;
//! a flood of distinct intervals stores only the window's; a worker whose clock is behind cannot stall
//! the session. Before the fix, one far-future report either made every later step close 25 ms after its
//! first report, workers imputed, or, accepted, made every later report late.
//!
//! The agent reads a [`ManualClock`] the test moves, so which interval is "now" never depends on the wall
//! clock. Steps close on their last report; where the deadline is not the subject it is 1000 intervals,
//! so a slow machine cannot close a step early. Every wait is bounded by [`LIMIT`], a failure deadline,
//! never an oracle.

use sas_agent::fake_job::{self, LocalAgent};
use sas_agent::pb::agent_client::AgentClient;
use sas_agent::pb::{self, SessionMode};
use sas_agent::server::{AgentClock, InitialTableFactory, ManualClock, ServeConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::timeout;
use tonic::Code;
use tonic::transport::Channel;

const WORKERS: u32 = 4;
/// `fake_job::open_request`'s interval.
const INTERVAL_MS: u64 = 100;
const LIMIT: Duration = Duration::from_secs(10);
/// The agent's interval when each test starts (any will do; about today's).
const C: u64 = 17_000_000_000;

struct Job {
    client: AgentClient<Channel>,
    clock: ManualClock,
    session: String,
    tables: tonic::Streaming<pb::RoutingTableUpdate>,
    local: LocalAgent,
}

/// An agent whose clock stands just after the start of interval [`C`], a SERVE session on it and a
/// subscriber that has read the initial table.
async fn start(deadline_intervals: f64) -> Job {
    let clock = ManualClock::new(C * INTERVAL_MS + 1);
    let config = ServeConfig {
        deadline_intervals,
        clock: AgentClock::new(clock.clone()),
        ..ServeConfig::default()
    };
    let local = LocalAgent::start(config, Arc::new(InitialTableFactory::new(None)))
        .await
        .unwrap();
    let mut client = local.client().await.unwrap();
    let session = client
        .open_session(fake_job::open_request("clock", WORKERS, SessionMode::Serve))
        .await
        .unwrap()
        .into_inner()
        .session_id;
    let mut tables = fake_job::subscribe(&mut client, &session).await.unwrap();
    let initial = timeout(LIMIT, tables.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(initial.step, 0);
    Job {
        client,
        clock,
        session,
        tables,
        local,
    }
}

impl Job {
    async fn worker(&mut self, interval: u64, worker: u32) -> Result<bool, tonic::Status> {
        let report = fake_job::worker_report(&self.session, interval, worker, 50.0);
        Ok(self.client.report_worker(report).await?.into_inner().accepted)
    }

    async fn router(&mut self, interval: u64) -> Result<bool, tonic::Status> {
        let report = fake_job::router_report(&self.session, interval, vec![10; WORKERS as usize]);
        Ok(self.client.report_router(report).await?.into_inner().accepted)
    }

    /// Interval `interval` ends on the clock and every worker and the router report it; its step closes
    /// and its table arrives with step number `step`.
    async fn step(&mut self, interval: u64, step: u64) {
        self.clock.set((interval + 1) * INTERVAL_MS + 1);
        for w in 0..WORKERS {
            assert!(
                self.worker(interval, w).await.unwrap(),
                "worker {w}, interval {interval}"
            );
        }
        assert!(
            self.router(interval).await.unwrap(),
            "router, interval {interval}"
        );
        let table = timeout(LIMIT, self.tables.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(table.step, step, "interval {interval}");
    }

    /// `/metrics`, then stops the agent.
    async fn stop(self) -> String {
        let body = timeout(LIMIT, fetch_metrics(self.local.metrics_addr))
            .await
            .unwrap();
        drop((self.client, self.tables));
        timeout(LIMIT, self.local.stop()).await.unwrap().unwrap();
        body
    }
}

/// The value of the metric `name`, a line `name value` of the text format.
fn metric(body: &str, name: &str) -> u64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no `{name}` in {body}"))
}

#[tokio::test]
async fn a_report_far_ahead_is_refused_and_the_session_keeps_stepping() {
    let mut job = start(1000.0).await;
    let far = C + 1_000_000;
    let window = format!("{}..={}", C - 4, C + 2);
    // Valid but far ahead, from a worker and from a router: refused, naming the interval and the window.
    let e = job.worker(far, 0).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
    assert!(
        e.message().contains(&format!("`interval` = {far}")) && e.message().contains(&window),
        "{}",
        e.message()
    );
    let e = job.router(far).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
    // Three ahead is one too many.
    let e = job.worker(C + 3, 0).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
    // Far ahead and invalid: the field's error, and nothing left behind either.
    let e = job.worker(far, 99).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    // The session steps as if none of them had come: every report accepted, no step early, none imputed.
    for (interval, step) in (C..C + 5).zip(1..) {
        job.step(interval, step).await;
    }
    let body = job.stop().await;
    assert_eq!(metric(&body, "sas_agent_steps_total"), 5);
    assert_eq!(metric(&body, "sas_agent_imputed_reports_total"), 0);
    assert_eq!(metric(&body, "sas_agent_late_reports_total"), 0);
    assert_eq!(metric(&body, "sas_agent_rejected_requests_total"), 4);
}

#[tokio::test]
async fn a_report_far_behind_is_late_and_leaves_nothing() {
    let mut job = start(1000.0).await;
    // Before any step closed: such a report used to open its interval, and every later step waited for
    // it (1000 intervals here).
    assert!(!job.worker(C - 1_000_000, 0).await.unwrap());
    assert!(!job.router(C - 5).await.unwrap());
    assert!(!job.worker(0, 1).await.unwrap());
    // Four behind still opens its interval: the job's own reports of C, the clock having moved on.
    job.clock.set((C + 4) * INTERVAL_MS + 1);
    for w in 0..WORKERS {
        assert!(job.worker(C, w).await.unwrap());
    }
    assert!(job.router(C).await.unwrap());
    let table = timeout(LIMIT, job.tables.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(table.step, 1);
    job.step(C + 4, 2).await;
    let body = job.stop().await;
    assert_eq!(metric(&body, "sas_agent_late_reports_total"), 3);
    assert_eq!(metric(&body, "sas_agent_imputed_reports_total"), 0);
}

#[tokio::test]
async fn a_flood_of_intervals_stores_only_the_window() {
    let mut job = start(1000.0).await;
    let (mut stored, mut late, mut refused) = (Vec::new(), 0, 0);
    for interval in C - 1000..=C + 1000 {
        match job.worker(interval, 0).await {
            Ok(true) => stored.push(interval),
            Ok(false) => late += 1,
            Err(e) if e.code() == Code::OutOfRange => refused += 1,
            Err(e) => panic!("interval {interval}: {e:?}"),
        }
    }
    assert_eq!(stored, (C - 4..=C + 2).collect::<Vec<_>>());
    assert_eq!((late, refused), (996, 998));
    // The window's intervals are the job's own: completed, they close in order, nothing imputed.
    for (interval, step) in stored.into_iter().zip(1..) {
        for w in 1..WORKERS {
            assert!(job.worker(interval, w).await.unwrap());
        }
        assert!(job.router(interval).await.unwrap());
        let table = timeout(LIMIT, job.tables.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(table.step, step, "interval {interval}");
    }
    job.step(C + 3, 8).await;
    let body = job.stop().await;
    assert_eq!(metric(&body, "sas_agent_imputed_reports_total"), 0);
    assert_eq!(metric(&body, "sas_agent_late_reports_total"), 996);
}

#[tokio::test]
async fn a_worker_whose_clock_is_behind_cannot_stall_the_session() {
    // Steps close at the deadline, 5 intervals: time enough to send the others' reports first.
    let mut job = start(5.0).await;
    for (interval, step) in (C..C + 3).zip(1..) {
        job.clock.set((interval + 1) * INTERVAL_MS + 1);
        for w in 0..WORKERS - 1 {
            assert!(job.worker(interval, w).await.unwrap());
        }
        assert!(job.router(interval).await.unwrap());
        // Worker 3 numbers its intervals ten behind the job's: late, every time.
        assert!(!job.worker(interval - 10, WORKERS - 1).await.unwrap());
        let table = timeout(LIMIT, job.tables.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(table.step, step, "interval {interval} closed at its deadline");
    }
    let body = job.stop().await;
    assert_eq!(metric(&body, "sas_agent_steps_total"), 3);
    assert_eq!(metric(&body, "sas_agent_imputed_reports_total"), 3);
}

async fn fetch_metrics(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).await.unwrap();
    body
}
