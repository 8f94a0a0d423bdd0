//! The router's agent link against the real agent on loopback: a linked router's reports close steps
//! and its tables arrive and are applied; when the agent stops, the router keeps routing with the last
//! table, falls back to the baseline exactly `fallback_after_ms` after it saw the link down, and returns
//! to the agent's tables once a new agent answers on the same port. Routers of one job share one link in
//! a process, and links of one job in different processes (stood for by two addresses of the same agent)
//! share one session by key.
//!
//! No outcome depends on the wall clock. The routers read a [`ManualClock`] the test moves: reporting
//! intervals and the fallback timer advance only when the test says so, so "not before the timeout" and
//! "at the timeout" are checked at exact clock readings. Whatever happens on the link's own thread and
//! in the agent (connecting, reports answered, tables published) is awaited as a condition on the link's
//! counters; [`DEADLINE`] bounds each wait only to fail a test that hangs.

use sas_agent::server::{self, AgentClock, InitialTableFactory, ServeConfig, ServeError};
use sas_agent_link::linked_router::CHECK_EVERY;
use sas_agent_link::{LinkedRouter, StatusSnapshot, WorkerInterval, WorkerReporter};
use sas_router::clock::{Clock, ManualClock};
use sas_router::params::Params;
use sas_router::partitioner::build;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::time::timeout;

const WORKERS: u32 = 4;
const INTERVAL_MS: u64 = 100;
const FALLBACK_AFTER_MS: u64 = 600;
/// How long any wait may take before the test fails. A failure deadline, never an oracle: every wait
/// returns as soon as its condition holds.
const DEADLINE: Duration = Duration::from_secs(30);
/// How often a waiting job looks at its counters again. When the job's clock runs, it also moves one
/// interval per look: this sets how fast the test goes, not what it observes.
const POLL: Duration = Duration::from_millis(20);
/// Records per router per look: more than two checks' worth, so each router looks at its clock, its link
/// and its table slot at least twice.
const BURST: u32 = 2 * CHECK_EVERY + 88;
/// Where the routers' clock starts: 2001-09-09, interval-aligned.
const T0: u64 = 1_000_000_000_000;

struct Agent {
    stop: oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<Result<(), ServeError>>,
}

fn start_agent(listener: TcpListener, metrics: TcpListener, clock: &ManualClock) -> Agent {
    let (stop, stopped) = oneshot::channel::<()>();
    let config = ServeConfig {
        // The agent reads the job's clock: its "now" is the routers' and workers', so their reports are
        // inside its clock window.
        clock: AgentClock::new(clock.clone()),
        ..ServeConfig::default()
    };
    let handle = tokio::spawn(server::run(
        config,
        Arc::new(InitialTableFactory::new(None)),
        listener,
        metrics,
        async {
            let _ = stopped.await;
        },
    ));
    Agent { stop, handle }
}

impl Agent {
    async fn stop(self) {
        let _ = self.stop.send(());
        timeout(DEADLINE, self.handle)
            .await
            .expect("the agent stops in time")
            .unwrap()
            .unwrap();
    }
}

async fn bind_any() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

fn params(addr: SocketAddr, routers: u32, key: &str) -> Params {
    params_at(&format!("http://{addr}"), routers, key)
}

fn params_at(address: &str, routers: u32, key: &str) -> Params {
    let yaml = format!(
        "task: wordcount\npartitioner: saspartitioner\nworkers: {WORKERS}\nrouters: {routers}\nrecords: 1000\n\
         agent:\n  address: {address}\n  session_key: {key}\n  mode: serve\n  \
         interval_ms: {INTERVAL_MS}\n  connect_timeout_ms: 300\n  fallback_after_ms: {FALLBACK_AFTER_MS}\n  \
         fallback: hash\n  reconnect_backoff_ms: {{min: 20, max: 200}}\n"
    );
    Params::parse(&yaml, "router_link.rs").unwrap()
}

/// Whether a waiting job moves its clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pace {
    /// One interval per look: routers and workers report every interval, so steps close.
    Tick,
    /// The clock stands still: no interval ends and the fallback timer does not move.
    Hold,
}

/// A job in miniature on one clock: routers route bursts of records, and at each tick the clock moves
/// one interval, after which every router reports the finished interval (at its next check) and so does
/// every worker.
struct Job {
    routers: Vec<LinkedRouter<ManualClock>>,
    workers: Vec<WorkerReporter>,
    clock: ManualClock,
    /// The interval being counted.
    interval: u64,
    key: u64,
}

impl Job {
    fn new(params: &Params, with_workers: bool, clock: ManualClock) -> Self {
        let routers = (0..params.routers)
            .map(|r| LinkedRouter::open_with_clock(params, "", r, clock.clone()).unwrap())
            .collect();
        let workers = if with_workers {
            (0..WORKERS)
                .map(|w| WorkerReporter::open(params, w).unwrap())
                .collect()
        } else {
            Vec::new()
        };
        Self::of(routers, workers, clock)
    }

    fn of(routers: Vec<LinkedRouter<ManualClock>>, workers: Vec<WorkerReporter>, clock: ManualClock) -> Self {
        Self {
            routers,
            workers,
            interval: clock.now_ms() / INTERVAL_MS,
            clock,
            key: 0,
        }
    }

    /// Router 0's view of its link.
    fn status(&self) -> StatusSnapshot {
        self.routers[0].status()
    }

    /// Routes [`BURST`] records on every router.
    fn route_burst(&mut self) {
        for router in &mut self.routers {
            for _ in 0..BURST {
                let w = router.route(self.key % 100, 0);
                assert!(w < WORKERS, "worker {w}");
                self.key += 1;
            }
        }
    }

    /// Moves the clock one interval on; every router and every worker reports the finished interval.
    fn tick(&mut self) {
        self.clock.advance(INTERVAL_MS);
        self.route_burst();
        for w in &self.workers {
            let load = WorkerInterval {
                interval: self.interval,
                busy_ms: 40.0,
                backpressured_ms: 0.0,
                interval_ms: INTERVAL_MS as f64,
                records_in: 100,
            };
            w.report(&load).unwrap();
        }
        self.interval += 1;
    }

    /// Routes (ticking or not) until `done` holds for every router's status; false if [`DEADLINE`]
    /// passes first.
    async fn run_until(&mut self, pace: Pace, done: impl Fn(&StatusSnapshot) -> bool) -> bool {
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            match pace {
                Pace::Tick => self.tick(),
                Pace::Hold => self.route_burst(),
            }
            if self.routers.iter().all(|r| done(&r.status())) {
                return true;
            }
            tokio::time::sleep(POLL).await;
        }
        false
    }
}

/// Asserts that `other` reads the same link counters as `job`'s router 0. The counters only grow, so
/// read between two reads of router 0 each must lie between them; a handle on another link would show
/// its own counts (its own reports sent, above all), whatever the timing.
fn assert_same_link(job: &Job, other: impl Fn() -> StatusSnapshot, what: &str) {
    type Counter = (&'static str, fn(&StatusSnapshot) -> u64);
    let counters: [Counter; 5] = [
        ("tables_received", |s| s.tables_received),
        ("last_table_step", |s| s.last_table_step),
        ("reports_sent", |s| s.reports_sent),
        ("reports_dropped", |s| s.reports_dropped),
        ("reconnects", |s| s.reconnects),
    ];
    let (first, theirs, last) = (job.status(), other(), job.status());
    for (name, read) in counters {
        assert!(
            read(&first) <= read(&theirs) && read(&theirs) <= read(&last),
            "{what} is not on router 0's link: {name} {} not within {}..={}",
            read(&theirs),
            read(&first),
            read(&last)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_router_follows_the_agent_falls_back_and_comes_back() {
    let listener = bind_any().await;
    let addr = listener.local_addr().unwrap();
    let clock = ManualClock::new(T0);
    let agent = start_agent(listener, bind_any().await, &clock);
    let params = params(addr, 1, "router-link-main");

    // Router only: a step can close (at its deadline) only if the router's reports reach the agent.
    let mut job = Job::new(&params, false, clock);
    let stepped = job
        .run_until(Pace::Tick, |s| {
            s.last_table_step >= 1 && s.connected && s.reports_sent >= 1 && s.tables_applied >= 2
        })
        .await;
    assert!(
        stepped,
        "no step closed from the router's reports, or its table was not applied: {:?}",
        job.status()
    );

    // With the workers: steps close as soon as every report is in, tables keep coming and are applied.
    job.workers = (0..WORKERS)
        .map(|w| WorkerReporter::open(&params, w).unwrap())
        .collect();
    let before = job.status();
    let flowing = job
        .run_until(Pace::Tick, |s| {
            s.last_table_step >= before.last_table_step + 3 && s.tables_applied >= before.tables_applied + 3
        })
        .await;
    assert!(
        flowing,
        "tables stopped: before {before:?}, now {:?}",
        job.status()
    );
    assert_same_link(&job, || job.workers[0].status(), "worker 0");

    // The agent stops. From here the clock stands still until the test moves it, so the fallback timer
    // starts at `down_at`, whenever the link notices.
    let down_at = job.clock.now_ms();
    agent.stop().await;
    let down = job.run_until(Pace::Hold, |s| !s.connected).await;
    assert!(down, "the link did not notice the agent left: {:?}", job.status());
    // Every table the old agent sent is in the slot by now; this burst applies the newest, and its
    // later check sees the link down at `down_at`.
    job.route_burst();
    let applied = job.status().tables_applied;
    let dropped = job.status().reports_dropped;

    // The router keeps routing with its last table until the timeout...
    job.clock.advance(FALLBACK_AFTER_MS - 1);
    job.route_burst();
    let s = job.status();
    assert!(
        !s.fallback_active,
        "fell back {} ms after the link went down, before the timeout: {s:?}",
        job.clock.now_ms() - down_at
    );
    assert_eq!(job.routers[0].active_name(), "saspartitioner");
    assert_eq!(
        s.tables_applied, applied,
        "no table can arrive while the agent is away"
    );

    // ...then, at the timeout, routes with the fallback baseline.
    job.clock.advance(1);
    job.route_burst();
    assert!(
        job.status().fallback_active,
        "no fallback at the timeout: {:?}",
        job.status()
    );
    assert_eq!(job.routers[0].active_name(), "hash");
    // The interval that ended with the clock's move was reported into a link without a session.
    let counted = job.run_until(Pace::Hold, |s| s.reports_dropped > dropped).await;
    assert!(
        counted,
        "reports without a session are dropped and counted: {:?}",
        job.status()
    );

    // A new agent on the same port: the link reconnects, re-opens the session and tables flow again.
    let listener = rebind(addr).await;
    let agent = start_agent(listener, bind_any().await, &job.clock);
    let received = job.status().tables_received;
    let back = job
        .run_until(Pace::Tick, |s| {
            s.connected && !s.fallback_active && s.tables_received > received && s.reconnects >= 1
        })
        .await;
    assert!(back, "did not come back: {:?}", job.status());
    assert_eq!(job.routers[0].active_name(), "saspartitioner");

    // Closing every handle stops the link (joins its thread) without hanging.
    timeout(DEADLINE, tokio::task::spawn_blocking(move || drop(job)))
        .await
        .expect("the link stops in time")
        .unwrap();
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routers_of_one_job_share_one_link_and_session() {
    let listener = bind_any().await;
    let addr = listener.local_addr().unwrap();
    let clock = ManualClock::new(T0);
    let agent = start_agent(listener, bind_any().await, &clock);
    let params = params(addr, 2, "router-link-shared");
    let mut job = Job::new(&params, true, clock);
    // Both routers applied tables beyond the initial one.
    let stepped = job
        .run_until(Pace::Tick, |s| s.last_table_step >= 3 && s.tables_applied >= 2)
        .await;
    assert!(
        stepped,
        "{:?} / {:?}",
        job.routers[0].status(),
        job.routers[1].status()
    );
    // One link: router 1 reads router 0's counters (with one link per router, each would count its own
    // router's reports).
    assert_same_link(&job, || job.routers[1].status(), "router 1");
    // A router index outside the job, or a worker outside it, is refused naming the setting.
    let e = LinkedRouter::open(&params, "", 2).unwrap_err().to_string();
    assert!(e.contains("`router index` = 2"), "{e}");
    let e = WorkerReporter::open(&params, WORKERS).unwrap_err().to_string();
    assert!(e.contains("`worker` = 4"), "{e}");
    drop(job);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_whose_agent_never_answers_falls_back_at_the_timeout_and_keeps_routing() {
    // A port nobody listens on.
    let addr = bind_any().await.local_addr().unwrap();
    let params = params(addr, 1, "router-link-absent");
    // The router counts the link as down from its creation, at T0.
    let mut job = Job::new(&params, true, ManualClock::new(T0));
    job.clock.advance(FALLBACK_AFTER_MS - 1);
    job.route_burst();
    assert!(
        !job.status().fallback_active,
        "fell back before the timeout: {:?}",
        job.status()
    );
    assert_eq!(job.routers[0].active_name(), "saspartitioner");
    job.clock.advance(1);
    job.route_burst();
    let s = job.status();
    assert!(s.fallback_active, "no fallback at the timeout: {s:?}");
    assert_eq!(job.routers[0].active_name(), "hash");
    assert!(
        !s.connected && s.tables_received == 0 && s.reports_sent == 0,
        "{s:?}"
    );
    // It keeps routing, exactly as the fallback baseline does.
    let mut hash = build("hash", &params.router_config()).unwrap();
    for key in 0..10 * u64::from(CHECK_EVERY) {
        assert_eq!(job.routers[0].route(key, 0), hash.route(key, 0), "key {key}");
    }
    assert!(job.status().fallback_active);
    let e = job.workers[0]
        .report(&WorkerInterval {
            interval: 1,
            busy_ms: f64::NAN,
            backpressured_ms: 0.0,
            interval_ms: 100.0,
            records_in: 0,
        })
        .unwrap_err();
    assert!(e.to_string().contains("`busyMs`"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_of_one_job_in_two_processes_share_one_session_by_key() {
    let listener = bind_any().await;
    let addr = listener.local_addr().unwrap();
    let metrics = bind_any().await;
    let metrics_addr = metrics.local_addr().unwrap();
    let clock = ManualClock::new(T0);
    let agent = start_agent(listener, metrics, &clock);
    // Two addresses of one agent give two links in this process, as two TaskManagers would have.
    let here = params_at(
        &format!("http://127.0.0.1:{}", addr.port()),
        2,
        "router-link-keyed",
    );
    let there = params_at(
        &format!("http://localhost:{}", addr.port()),
        2,
        "router-link-keyed",
    );
    let routers = vec![
        LinkedRouter::open_with_clock(&here, "", 0, clock.clone()).unwrap(),
        LinkedRouter::open_with_clock(&there, "", 1, clock.clone()).unwrap(),
    ];
    let workers = (0..WORKERS)
        .map(|w| WorkerReporter::open(if w < 2 { &here } else { &there }, w).unwrap())
        .collect();
    let mut job = Job::of(routers, workers, clock);
    // Steps close only when the reports of both links are in (or at their deadline): both links see
    // the session's tables.
    let stepped = job
        .run_until(Pace::Tick, |s| s.connected && s.last_table_step >= 3)
        .await;
    assert!(
        stepped,
        "{:?} / {:?}",
        job.routers[0].status(),
        job.routers[1].status()
    );
    // Both links are connected, so both opened their session; the agent holds one.
    let body = timeout(DEADLINE, fetch_metrics(metrics_addr)).await.unwrap();
    assert!(body.contains("sas_agent_sessions 1\n"), "{body}");
    drop(job);
    agent.stop().await;
}

async fn fetch_metrics(addr: SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).await.unwrap();
    body
}

/// Binds `addr` again, retrying while the old socket is released (until [`DEADLINE`]).
async fn rebind(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(e) if Instant::now() >= deadline => panic!("cannot bind {addr} again: {e}"),
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}
