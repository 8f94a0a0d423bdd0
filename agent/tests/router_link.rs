//! The router's agent link against the real agent on loopback: a linked router's reports close steps
//! and its tables arrive and are applied; when the agent stops, the router keeps routing with the last
//! table, falls back to the baseline after `fallback_after_ms`, and returns to the agent's tables once a
//! new agent answers on the same port. Routers of one job share one link in a process, and links of one
//! job in different processes (stood for by two addresses of the same agent) share one session by key.
//! Every wait is bounded.

use sas_agent::server::{self, InitialTableFactory, ServeConfig, ServeError};
use sas_agent_link::{LinkedRouter, StatusSnapshot, WorkerInterval, WorkerReporter};
use sas_router::params::Params;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::time::timeout;

const WORKERS: u32 = 4;
const INTERVAL_MS: u64 = 100;
const FALLBACK_AFTER_MS: u64 = 600;
/// The longest any phase may take.
const PHASE: Duration = Duration::from_secs(5);

struct Agent {
    stop: oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<Result<(), ServeError>>,
}

fn start_agent(listener: TcpListener, metrics: TcpListener) -> Agent {
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(server::run(
        ServeConfig::default(),
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
        timeout(PHASE, self.handle)
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

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A job in miniature: routers route bursts of records (more than one check's worth) and workers report
/// each finished wall-clock interval, until `done` holds for router 0's status or `limit` passes.
struct Job {
    routers: Vec<LinkedRouter>,
    workers: Vec<WorkerReporter>,
    interval: u64,
    key: u64,
}

impl Job {
    fn new(params: &Params, with_workers: bool) -> Self {
        let routers = (0..params.routers)
            .map(|r| LinkedRouter::open(params, "", r).unwrap())
            .collect();
        let workers = if with_workers {
            (0..WORKERS)
                .map(|w| WorkerReporter::open(params, w).unwrap())
                .collect()
        } else {
            Vec::new()
        };
        Self::of(routers, workers)
    }

    fn of(routers: Vec<LinkedRouter>, workers: Vec<WorkerReporter>) -> Self {
        Self {
            routers,
            workers,
            interval: now_ms() / INTERVAL_MS,
            key: 0,
        }
    }

    fn status(&self) -> StatusSnapshot {
        self.routers[0].status()
    }

    async fn run_until(&mut self, limit: Duration, done: impl Fn(&StatusSnapshot) -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            for router in &mut self.routers {
                for _ in 0..600 {
                    let w = router.route(self.key % 100, 0);
                    assert!(w < WORKERS, "worker {w}");
                    self.key += 1;
                }
            }
            let interval = now_ms() / INTERVAL_MS;
            if interval != self.interval {
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
                self.interval = interval;
            }
            if done(&self.status()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_router_follows_the_agent_falls_back_and_comes_back() {
    let listener = bind_any().await;
    let addr = listener.local_addr().unwrap();
    let agent = start_agent(listener, bind_any().await);
    let params = params(addr, 1, "router-link-main");

    // Router only: a step can close (at its deadline) only if the router's reports reach the agent.
    let mut job = Job::new(&params, false);
    let stepped = job.run_until(PHASE, |s| s.last_table_step >= 1).await;
    let s = job.status();
    assert!(stepped, "no step closed from the router's reports: {s:?}");
    assert!(
        s.connected && s.reports_sent >= 1 && s.tables_applied >= 2,
        "{s:?}"
    );

    // With the workers: steps close as soon as every report is in, tables keep coming and are applied.
    let mut job = Job {
        workers: (0..WORKERS)
            .map(|w| WorkerReporter::open(&params, w).unwrap())
            .collect(),
        ..job
    };
    let before = job.status();
    let flowing = job
        .run_until(PHASE, |s| {
            s.last_table_step >= before.last_table_step + 3 && s.tables_applied >= before.tables_applied + 3
        })
        .await;
    assert!(
        flowing,
        "tables stopped: before {before:?}, now {:?}",
        job.status()
    );
    assert_eq!(
        job.workers[0].status().tables_received,
        job.status().tables_received,
        "one link"
    );

    // The agent stops: the router keeps routing with its last table until the timeout...
    // Timed from before the stop: the link can see the agent go while `stop` is still waiting for its
    // tasks, and the fallback timeout runs from that moment.
    let stopped_at = Instant::now();
    agent.stop().await;
    let down = job.run_until(PHASE, |s| !s.connected).await;
    assert!(down, "the link did not notice the agent left");
    let applied = job.status().tables_applied;
    job.run_until(Duration::from_millis(FALLBACK_AFTER_MS / 3), |_| false)
        .await;
    let s = job.status();
    if stopped_at.elapsed() < Duration::from_millis(FALLBACK_AFTER_MS) {
        assert!(!s.fallback_active, "fell back before the timeout: {s:?}");
        assert_eq!(job.routers[0].active_name(), "saspartitioner");
    }
    assert_eq!(
        s.tables_applied, applied,
        "no table can arrive while the agent is away"
    );

    // ...then routes with the fallback baseline.
    let fell_back = job.run_until(PHASE, |s| s.fallback_active).await;
    assert!(fell_back, "no fallback: {:?}", job.status());
    assert!(stopped_at.elapsed() >= Duration::from_millis(FALLBACK_AFTER_MS));
    assert_eq!(job.routers[0].active_name(), "hash");
    assert!(
        job.status().reports_dropped > 0,
        "reports without a session are dropped and counted"
    );

    // A new agent on the same port: the link reconnects, re-opens the session and tables flow again.
    let listener = rebind(addr).await;
    let agent = start_agent(listener, bind_any().await);
    let received = job.status().tables_received;
    let back = job
        .run_until(PHASE, |s| {
            s.connected && !s.fallback_active && s.tables_received > received && s.reconnects >= 1
        })
        .await;
    assert!(back, "did not come back: {:?}", job.status());
    assert_eq!(job.routers[0].active_name(), "saspartitioner");

    // Closing every handle stops the link in bounded time.
    let closing = Instant::now();
    drop(job);
    assert!(closing.elapsed() < PHASE);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routers_of_one_job_share_one_link_and_session() {
    let listener = bind_any().await;
    let addr = listener.local_addr().unwrap();
    let agent = start_agent(listener, bind_any().await);
    let params = params(addr, 2, "router-link-shared");
    let mut job = Job::new(&params, true);
    let stepped = job.run_until(PHASE, |s| s.last_table_step >= 3).await;
    assert!(stepped, "{:?}", job.status());
    // One link: both routers read the same counters; both applied the tables.
    let (a, b) = (job.routers[0].status(), job.routers[1].status());
    assert_eq!(
        (a.tables_received, a.reconnects),
        (b.tables_received, b.reconnects)
    );
    assert!(b.tables_applied >= 2, "{b:?}");
    // A router index outside the job, or a worker outside it, is refused naming the setting.
    let e = LinkedRouter::open(&params, "", 2).unwrap_err().to_string();
    assert!(e.contains("`router index` = 2"), "{e}");
    let e = WorkerReporter::open(&params, WORKERS).unwrap_err().to_string();
    assert!(e.contains("`worker` = 4"), "{e}");
    drop(job);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_whose_agent_never_answers_falls_back_and_keeps_routing() {
    // A port nobody listens on.
    let addr = bind_any().await.local_addr().unwrap();
    let params = params(addr, 1, "router-link-absent");
    let started = Instant::now();
    let mut job = Job::new(&params, true);
    let fell_back = job.run_until(PHASE, |s| s.fallback_active).await;
    let s = job.status();
    assert!(fell_back, "{s:?}");
    assert!(started.elapsed() >= Duration::from_millis(FALLBACK_AFTER_MS));
    assert!(
        !s.connected && s.tables_received == 0 && s.reports_sent == 0,
        "{s:?}"
    );
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
    let agent = start_agent(listener, metrics);
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
        LinkedRouter::open(&here, "", 0).unwrap(),
        LinkedRouter::open(&there, "", 1).unwrap(),
    ];
    let workers = (0..WORKERS)
        .map(|w| WorkerReporter::open(if w < 2 { &here } else { &there }, w).unwrap())
        .collect();
    let mut job = Job::of(routers, workers);
    let stepped = job.run_until(PHASE, |s| s.last_table_step >= 3).await;
    assert!(stepped, "{:?}", job.status());
    let other = job.routers[1].status();
    assert!(other.connected && other.last_table_step >= 3, "{other:?}");
    let body = timeout(PHASE, fetch_metrics(metrics_addr)).await.unwrap();
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

/// Binds `addr` again (retrying briefly while the old socket is released).
async fn rebind(addr: SocketAddr) -> TcpListener {
    for _ in 0..50 {
        if let Ok(listener) = TcpListener::bind(addr).await {
            return listener;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("cannot bind {addr} again");
}
