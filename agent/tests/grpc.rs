//! The agent over real gRPC on loopback: a fake job opens a session, reports, receives routing tables;
//! malformed messages get precise status codes; a subscriber that leaves and comes back gets the latest
//! table; a step with a missing worker closes at its deadline with the worker imputed. Every wait is
//! bounded.

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
const LIMIT: Duration = Duration::from_secs(10);

struct Agent {
    client: AgentClient<Channel>,
    metrics_addr: std::net::SocketAddr,
    local: LocalAgent,
}

/// The fake job numbers its intervals 0, 1, 2, 3; the agent's clock stands in interval 2, so every one of
/// them is inside its window (`docs/agent.md`, "The clock window").
fn config() -> ServeConfig {
    ServeConfig {
        clock: AgentClock::new(ManualClock::new(200)),
        ..ServeConfig::default()
    }
}

async fn start_agent() -> Agent {
    let factory = Arc::new(InitialTableFactory::new(None));
    let local = LocalAgent::start(config(), factory).await.unwrap();
    Agent {
        client: local.client().await.unwrap(),
        metrics_addr: local.metrics_addr,
        local,
    }
}

impl Agent {
    async fn stop(self) {
        drop(self.client);
        timeout(LIMIT, self.local.stop())
            .await
            .expect("server stops in time")
            .unwrap();
    }
}

fn open_request(mode: SessionMode) -> pb::OpenSessionRequest {
    fake_job::open_request("test", WORKERS, mode)
}

fn worker(session: &str, interval: u64, worker: u32, busy_ms: f64) -> pb::WorkerReport {
    fake_job::worker_report(session, interval, worker, busy_ms)
}

fn router(session: &str, interval: u64) -> pb::RouterReport {
    fake_job::router_report(session, interval, vec![100, 50, 25, 25])
}

#[tokio::test]
async fn a_fake_job_gets_a_table_per_step() {
    let mut agent = start_agent().await;
    let open = agent
        .client
        .open_session(open_request(SessionMode::Serve))
        .await
        .unwrap()
        .into_inner();
    let mask = open.mask.clone().unwrap();
    let expected = sas_router::mask::Mask::zipf(WORKERS as usize, 1.5, 10, 0, 0).unwrap();
    assert_eq!(open.action_dim as usize, expected.action_dim());
    assert_eq!(open.observation_dim, 2 * WORKERS);
    assert_eq!(mask.ranges.len(), expected.true_hot_keys());

    let mut tables = fake_job::subscribe(&mut agent.client, &open.session_id)
        .await
        .unwrap();
    let initial = timeout(LIMIT, tables.message()).await.unwrap().unwrap().unwrap();
    assert_eq!((initial.step, initial.action.len()), (0, expected.action_dim()));

    for interval in 0..3u64 {
        for w in 0..WORKERS {
            let ack = agent
                .client
                .report_worker(worker(&open.session_id, interval, w, 500.0))
                .await
                .unwrap();
            assert!(ack.into_inner().accepted);
        }
        agent
            .client
            .report_router(router(&open.session_id, interval))
            .await
            .unwrap();
        let table = timeout(LIMIT, tables.message()).await.unwrap().unwrap().unwrap();
        assert_eq!(table.step, interval + 1);
        assert_eq!(table.action.len(), expected.action_dim());
        assert!(table.action.iter().all(|a| (0.0..=1.0).contains(a)));
    }
    // A report for a closed interval is accepted as late, not an error.
    let late = agent
        .client
        .report_worker(worker(&open.session_id, 0, 0, 1.0))
        .await
        .unwrap();
    assert!(!late.into_inner().accepted);

    let closed = agent
        .client
        .close_session(pb::CloseSessionRequest {
            session_id: open.session_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(closed.into_inner().steps, 3);
    agent.stop().await;
}

#[tokio::test]
async fn malformed_messages_get_precise_codes_and_the_server_stays_up() {
    let mut agent = start_agent().await;
    let bad = pb::OpenSessionRequest {
        workers: 0,
        ..open_request(SessionMode::Serve)
    };
    let e = agent.client.open_session(bad).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("workers"), "{}", e.message());

    let bad = pb::OpenSessionRequest {
        interval_ms: 10,
        ..open_request(SessionMode::Serve)
    };
    let e = agent.client.open_session(bad).await.unwrap_err();
    assert!(
        e.code() == Code::InvalidArgument && e.message().contains("interval_ms"),
        "{e:?}"
    );

    let bad = pb::OpenSessionRequest {
        mode: 0,
        ..open_request(SessionMode::Serve)
    };
    let e = agent.client.open_session(bad).await.unwrap_err();
    assert!(
        e.code() == Code::InvalidArgument && e.message().contains("mode"),
        "{e:?}"
    );

    let bad_mask = pb::OpenSessionRequest {
        mask: Some(pb::Mask {
            ranges: vec![pb::WorkerRange { start: 3, end: 9 }],
        }),
        ..open_request(SessionMode::Serve)
    };
    let e = agent.client.open_session(bad_mask).await.unwrap_err();
    assert!(
        e.code() == Code::InvalidArgument && e.message().contains("mask"),
        "{e:?}"
    );

    let e = agent
        .client
        .report_worker(worker("nope", 0, 0, 1.0))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    let open = agent
        .client
        .open_session(open_request(SessionMode::Serve))
        .await
        .unwrap()
        .into_inner();
    let e = agent
        .client
        .report_worker(worker(&open.session_id, 0, 99, 1.0))
        .await
        .unwrap_err();
    assert!(
        e.code() == Code::InvalidArgument && e.message().contains("`worker`"),
        "{e:?}"
    );
    let e = agent
        .client
        .report_worker(worker(&open.session_id, 0, 0, f64::NAN))
        .await
        .unwrap_err();
    assert!(
        e.code() == Code::InvalidArgument && e.message().contains("`busy_ms`"),
        "{e:?}"
    );
    let e = agent
        .client
        .report_worker(worker(&open.session_id, 0, 0, f64::INFINITY))
        .await
        .unwrap_err();
    assert!(
        e.code() == Code::InvalidArgument && e.message().contains("`busy_ms`"),
        "{e:?}"
    );
    let mut short = router(&open.session_id, 0);
    short.worker_counts.pop();
    let e = agent.client.report_router(short).await.unwrap_err();
    assert!(
        e.code() == Code::InvalidArgument && e.message().contains("`worker_counts`"),
        "{e:?}"
    );
    let e = agent
        .client
        .subscribe_tables(pb::SubscribeRequest {
            session_id: open.session_id.clone(),
            router: 7,
        })
        .await
        .unwrap_err();
    assert!(
        e.code() == Code::InvalidArgument && e.message().contains("router = 7"),
        "{e:?}"
    );

    // Oversized message: more than the 1 MiB limit.
    let mut huge = router(&open.session_id, 0);
    huge.worker_counts = vec![1; 2_000_000];
    let e = agent.client.report_router(huge).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");

    // Still serving: new sessions open, and the session the bad reports were aimed at still takes
    // good ones (none of them was stored: interval 0 is still open).
    let again = agent.client.open_session(open_request(SessionMode::Serve)).await;
    assert!(again.is_ok(), "{again:?}");
    let ack = agent
        .client
        .report_worker(worker(&open.session_id, 0, 0, 1.0))
        .await
        .unwrap();
    assert!(ack.into_inner().accepted);
    agent.stop().await;
}

#[tokio::test]
async fn a_subscriber_that_reconnects_gets_the_latest_table() {
    let mut agent = start_agent().await;
    let open = agent
        .client
        .open_session(open_request(SessionMode::Serve))
        .await
        .unwrap()
        .into_inner();
    let subscribe = pb::SubscribeRequest {
        session_id: open.session_id.clone(),
        router: 0,
    };
    let first = agent
        .client
        .subscribe_tables(subscribe.clone())
        .await
        .unwrap()
        .into_inner();
    drop(first);
    // Two steps close while no one listens (each closes inside the report that completes it).
    for interval in 0..2 {
        for w in 0..WORKERS {
            agent
                .client
                .report_worker(worker(&open.session_id, interval, w, 300.0))
                .await
                .unwrap();
        }
        agent
            .client
            .report_router(router(&open.session_id, interval))
            .await
            .unwrap();
    }
    let mut again = agent
        .client
        .subscribe_tables(subscribe)
        .await
        .unwrap()
        .into_inner();
    // The latest table first: not the initial one, nor the first step it missed.
    let latest = timeout(LIMIT, again.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(latest.step, 2);
    assert_eq!(latest.action.len(), open.action_dim as usize);
    agent.stop().await;
}

#[tokio::test]
async fn a_missing_worker_is_imputed_at_the_deadline() {
    let mut agent = start_agent().await;
    let open = agent
        .client
        .open_session(open_request(SessionMode::Serve))
        .await
        .unwrap()
        .into_inner();
    let mut tables = fake_job::subscribe(&mut agent.client, &open.session_id)
        .await
        .unwrap();
    timeout(LIMIT, tables.message()).await.unwrap().unwrap().unwrap();
    for w in 0..WORKERS - 1 {
        agent
            .client
            .report_worker(worker(&open.session_id, 0, w, 500.0))
            .await
            .unwrap();
    }
    agent
        .client
        .report_router(router(&open.session_id, 0))
        .await
        .unwrap();
    // Deadline: 2 intervals of 100 ms after the first report.
    let table = timeout(LIMIT, tables.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(table.step, 1);
    // The step closed without the missing worker: its report is now late.
    let late = agent
        .client
        .report_worker(worker(&open.session_id, 0, WORKERS - 1, 500.0))
        .await
        .unwrap();
    assert!(
        !late.into_inner().accepted,
        "the step closed without worker {}",
        WORKERS - 1
    );
    // Only the deadline path imputes. The test runtime is single-threaded: the deadline task counts
    // the step in the metrics before anything else runs after it published the table.
    let body = timeout(LIMIT, fetch_metrics(agent.metrics_addr)).await.unwrap();
    assert!(body.contains("sas_agent_imputed_reports_total 1\n"), "{body}");
    assert!(body.contains("sas_agent_steps_total 1\n"), "{body}");
    agent.stop().await;
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

#[tokio::test]
async fn the_step_log_has_one_line_per_step() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs/steps.csv");
    let config = ServeConfig {
        step_log: Some(path.clone()),
        ..config()
    };
    let local = LocalAgent::start(config, Arc::new(InitialTableFactory::new(None)))
        .await
        .unwrap();
    let mut client = local.client().await.unwrap();
    let open = client
        .open_session(open_request(SessionMode::Serve))
        .await
        .unwrap()
        .into_inner();
    let mut tables = fake_job::subscribe(&mut client, &open.session_id).await.unwrap();
    timeout(LIMIT, tables.message()).await.unwrap().unwrap().unwrap();
    // Busy 50, 50, 50, 100 ms of 100 ms: μ 0.625, λ = 0.375/0.625 = 0.6, NMAD = 0.75/(4·0.625) = 0.3.
    for interval in 0..2u64 {
        for (w, busy) in [50.0, 50.0, 50.0, 100.0].into_iter().enumerate() {
            client
                .report_worker(worker(&open.session_id, interval, w as u32, busy))
                .await
                .unwrap();
        }
        client
            .report_router(router(&open.session_id, interval))
            .await
            .unwrap();
        timeout(LIMIT, tables.message()).await.unwrap().unwrap().unwrap();
    }
    drop(client);
    timeout(LIMIT, local.stop()).await.unwrap().unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], sas_agent::server::STEP_LOG_HEADER);
    assert_eq!(lines.len(), 3, "{text}");
    for (i, line) in lines[1..].iter().enumerate() {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols[1], open.session_id);
        assert_eq!(cols[2], (i + 1).to_string(), "step");
        assert_eq!(cols[3], i.to_string(), "interval");
        assert_eq!(cols[4], "200", "records: 100 + 50 + 25 + 25");
        assert_eq!(cols[5], "0.600000", "λ");
        assert_eq!(cols[6], "0.300000", "NMAD");
    }
}

/// A COLLECT transition pairs the observation of interval n with the behaviour that routed interval n+1
/// and that interval's reward. The routers' pair counts differ per interval here, so an action one
/// interval early (what live datasets recorded before this was fixed) fails the test.
#[tokio::test]
async fn a_collect_transition_pairs_the_reward_with_the_routing_that_earned_it() {
    let dir = tempfile::tempdir().unwrap();
    let factory = Arc::new(InitialTableFactory::new(Some(dir.path().to_path_buf())));
    let local = LocalAgent::start(config(), factory).await.unwrap();
    let mut client = local.client().await.unwrap();
    let open = client
        .open_session(open_request(SessionMode::Collect))
        .await
        .unwrap()
        .into_inner();
    let pairs = open.action_dim as usize;
    // Interval n's behaviour sends everything to pair n (mod the pair count): one-hot, distinct per
    // interval.
    let behaviour = |interval: u64| -> Vec<u64> {
        (0..pairs).map(|p| u64::from(p == interval as usize % pairs) * 100).collect()
    };
    for interval in 0..4u64 {
        for w in 0..WORKERS {
            client
                .report_worker(worker(&open.session_id, interval, w, 100.0 * f64::from(w + 1)))
                .await
                .unwrap();
        }
        let mut report = fake_job::router_report(&open.session_id, interval, vec![100, 50, 25, 25]);
        report.pair_counts = behaviour(interval);
        assert!(client.report_router(report).await.unwrap().into_inner().accepted);
    }
    let closed = client
        .close_session(pb::CloseSessionRequest {
            session_id: open.session_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(closed.into_inner().steps, 4);
    drop(client);
    timeout(LIMIT, local.stop()).await.expect("server stops in time").unwrap();

    let dataset = std::fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap().path();
    let transitions: Vec<_> = sas_agent::offline::DatasetReader::open(&dataset)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // Steps 2..=4 close intervals 1..=3; each transition's action is that interval's behaviour.
    assert_eq!(transitions.len(), 3);
    for (t, interval) in transitions.iter().zip(1u64..) {
        let expected: Vec<f32> = behaviour(interval).iter().map(|&c| (c / 100) as f32).collect();
        assert_eq!(t.action, expected, "step {}", t.step);
    }
}
