//! Requests that try to make the agent allocate or hold without bound, over real gRPC on loopback. Each
//! is refused before anything of its size is allocated (`INVALID_ARGUMENT` naming the field, or
//! `RESOURCE_EXHAUSTED` for a full server or session), and afterwards the server still serves a normal
//! session: open, report, get a table.
//!
//! Issue "Nothing a client sends takes it down", item 1: an `OpenSession` with `hot_keys = 4 000 000 000`
//! (a few bytes on the wire) made the server allocate 32 GB and the process abort; so did a mask of
//! 170 000 ranges that fits under `max_message_bytes`.

use sas_agent::fake_job::{self, LocalAgent};
use sas_agent::pb::agent_client::AgentClient;
use sas_agent::pb::{self, SessionMode};
use sas_agent::server::{InitialTableFactory, ModelFactory, PolicyFactory, ServeConfig};
use sas_router::limits::{
    MAX_ACTION_DIM, MAX_HOT_KEYS, MAX_INTERVAL_MS, MAX_MASK_RANGES, MAX_MESSAGE_BYTES, MAX_NAME_BYTES,
    MAX_ROUTERS, MAX_SESSIONS, MAX_WINDOW_INTERVALS, MAX_WORKERS,
};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::timeout;
use tonic::transport::Channel;
use tonic::{Code, Status};

const WORKERS: u32 = 4;
const LIMIT: Duration = Duration::from_secs(10);

struct Agent {
    client: AgentClient<Channel>,
    local: LocalAgent,
}

async fn start_with(config: ServeConfig, policies: Arc<dyn PolicyFactory>) -> Agent {
    let local = LocalAgent::start(config, policies).await.unwrap();
    Agent {
        client: local.client().await.unwrap(),
        local,
    }
}

async fn start() -> Agent {
    start_with(ServeConfig::default(), Arc::new(InitialTableFactory::new(None))).await
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

fn open_request() -> pb::OpenSessionRequest {
    fake_job::open_request("hostile", WORKERS, SessionMode::Serve)
}

/// The call failed with `code`, and its message names `field` and says `limit`.
fn refused<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, field: &str, limit: &str) {
    let e = result.expect_err(field);
    assert_eq!(e.code(), code, "{field}: {e:?}");
    assert!(
        e.message().contains(field) && e.message().contains(limit),
        "{field} (limit {limit}): {}",
        e.message()
    );
}

/// The interval the agent's clock is in now (the fake job's intervals are 100 ms): reports of it are
/// inside the agent's clock window.
fn current_interval() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (now.as_millis() / 100) as u64
}

/// A normal session still works end to end: open, subscribe, one full interval of reports, the table
/// of step 1; then it closes.
async fn assert_serves(client: &mut AgentClient<Channel>) {
    let open = client
        .open_session(open_request())
        .await
        .expect("a normal session opens")
        .into_inner();
    let mut tables = fake_job::subscribe(client, &open.session_id).await.unwrap();
    let initial = timeout(LIMIT, tables.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(initial.step, 0);
    report_interval(client, &open.session_id, current_interval()).await;
    let table = timeout(LIMIT, tables.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(table.step, 1);
    assert_eq!(table.action.len(), open.action_dim as usize);
    client
        .close_session(pb::CloseSessionRequest {
            session_id: open.session_id,
        })
        .await
        .unwrap();
}

/// Every worker's and the one router's report of `interval`, each accepted.
async fn report_interval(client: &mut AgentClient<Channel>, session: &str, interval: u64) {
    for w in 0..WORKERS {
        let ack = client
            .report_worker(fake_job::worker_report(session, interval, w, 40.0))
            .await
            .unwrap();
        assert!(ack.into_inner().accepted);
    }
    let ack = client
        .report_router(fake_job::router_report(session, interval, vec![40, 30, 20, 10]))
        .await
        .unwrap();
    assert!(ack.into_inner().accepted);
}

#[tokio::test]
async fn four_billion_hot_keys_are_refused() {
    let mut agent = start().await;
    let hostile = pb::OpenSessionRequest {
        hot_keys: 4_000_000_000,
        ..open_request()
    };
    let limit = MAX_HOT_KEYS.to_string();
    refused(
        agent.client.open_session(hostile).await,
        Code::InvalidArgument,
        "hot_keys",
        &limit,
    );
    assert_serves(&mut agent.client).await;
    agent.stop().await;
}

#[tokio::test]
async fn a_mask_of_170_000_ranges_is_refused() {
    let mut agent = start().await;
    // About 1 MB on the wire: under the default `max_message_bytes`, so the server decodes it (the
    // answer is INVALID_ARGUMENT, not OUT_OF_RANGE). Its action would have 5.6 × 10⁹ elements.
    let everywhere = pb::WorkerRange {
        start: 0,
        end: MAX_WORKERS,
    };
    let hostile = pb::OpenSessionRequest {
        workers: MAX_WORKERS,
        mask: Some(pb::Mask {
            ranges: vec![everywhere; 170_000],
        }),
        ..open_request()
    };
    let limit = MAX_MASK_RANGES.to_string();
    refused(
        agent.client.open_session(hostile).await,
        Code::InvalidArgument,
        "mask",
        &limit,
    );

    // Few ranges, but their widths sum past the largest action.
    let wide = pb::OpenSessionRequest {
        workers: MAX_WORKERS,
        mask: Some(pb::Mask {
            ranges: vec![everywhere; 3],
        }),
        ..open_request()
    };
    let limit = MAX_ACTION_DIM.to_string();
    refused(
        agent.client.open_session(wide).await,
        Code::InvalidArgument,
        "mask",
        &limit,
    );
    assert_serves(&mut agent.client).await;
    agent.stop().await;
}

#[tokio::test]
async fn huge_shapes_are_refused_naming_the_field() {
    let mut agent = start().await;
    let long = "x".repeat(100_000);
    let cases = [
        (
            pb::OpenSessionRequest {
                workers: u32::MAX,
                ..open_request()
            },
            "workers",
            MAX_WORKERS.to_string(),
        ),
        (
            pb::OpenSessionRequest {
                routers: u32::MAX,
                ..open_request()
            },
            "routers",
            MAX_ROUTERS.to_string(),
        ),
        (
            pb::OpenSessionRequest {
                interval_ms: u32::MAX,
                ..open_request()
            },
            "interval_ms",
            MAX_INTERVAL_MS.to_string(),
        ),
        (
            pb::OpenSessionRequest {
                window_intervals: u32::MAX,
                ..open_request()
            },
            "window_intervals",
            MAX_WINDOW_INTERVALS.to_string(),
        ),
        (
            pb::OpenSessionRequest {
                job_name: long.clone(),
                ..open_request()
            },
            "job_name",
            MAX_NAME_BYTES.to_string(),
        ),
        (
            pb::OpenSessionRequest {
                session_key: long,
                ..open_request()
            },
            "session_key",
            MAX_NAME_BYTES.to_string(),
        ),
    ];
    for (hostile, field, limit) in cases {
        refused(
            agent.client.open_session(hostile).await,
            Code::InvalidArgument,
            field,
            &limit,
        );
    }
    assert_serves(&mut agent.client).await;
    agent.stop().await;
}

#[tokio::test]
async fn reports_with_wrong_or_huge_vectors_are_refused() {
    let mut agent = start().await;
    let open = agent
        .client
        .open_session(open_request())
        .await
        .unwrap()
        .into_inner();
    let id = open.session_id.as_str();
    let interval = current_interval();
    let counts = |n: usize| fake_job::router_report(id, interval, vec![1; n]);

    let reports = [
        (counts(WORKERS as usize + 1), "worker_counts", WORKERS.to_string()),
        (counts(100_000), "worker_counts", WORKERS.to_string()),
        (
            pb::RouterReport {
                pair_counts: vec![1; 100_000],
                ..counts(WORKERS as usize)
            },
            "pair_counts",
            open.action_dim.to_string(),
        ),
        (
            pb::RouterReport {
                router: u32::MAX,
                ..counts(WORKERS as usize)
            },
            "router",
            "1".to_string(),
        ),
        (
            pb::RouterReport {
                hot_keys: vec![pb::HotKeyStat::default(); MAX_HOT_KEYS + 1],
                ..counts(WORKERS as usize)
            },
            "hot_keys",
            MAX_HOT_KEYS.to_string(),
        ),
    ];
    for (hostile, field, limit) in reports {
        refused(
            agent.client.report_router(hostile).await,
            Code::InvalidArgument,
            field,
            &limit,
        );
    }
    let hostile = fake_job::worker_report(id, interval, u32::MAX, 1.0);
    let limit = WORKERS.to_string();
    refused(
        agent.client.report_worker(hostile).await,
        Code::InvalidArgument,
        "worker",
        &limit,
    );

    // The refused reports left the session as it was: a full interval still completes step 1.
    let mut tables = fake_job::subscribe(&mut agent.client, id).await.unwrap();
    timeout(LIMIT, tables.message()).await.unwrap().unwrap().unwrap();
    report_interval(&mut agent.client, id, current_interval()).await;
    let table = timeout(LIMIT, tables.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(table.step, 1);
    drop(tables);
    assert_serves(&mut agent.client).await;
    agent.stop().await;
}

#[tokio::test]
async fn subscriptions_per_session_are_bounded_and_a_leaving_one_frees_its_slot() {
    let mut agent = start().await;
    // One router: two streams at once (MAX_SUBSCRIBERS_PER_ROUTER).
    let open = agent
        .client
        .open_session(open_request())
        .await
        .unwrap()
        .into_inner();
    let id = open.session_id.as_str();
    let first = fake_job::subscribe(&mut agent.client, id).await.unwrap();
    let _second = fake_job::subscribe(&mut agent.client, id).await.unwrap();
    refused(
        fake_job::subscribe(&mut agent.client, id).await,
        Code::ResourceExhausted,
        "SubscribeTables",
        "2",
    );
    // The server notices the stream is gone (no table needs to be published for that).
    drop(first);
    let again = timeout(LIMIT, async {
        loop {
            match fake_job::subscribe(&mut agent.client, id).await {
                Ok(stream) => return stream,
                Err(e) => assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a slot frees once a subscriber leaves");
    drop(again);
    assert_serves(&mut agent.client).await;
    agent.stop().await;
}

#[tokio::test]
async fn sessions_are_bounded_and_a_refused_open_costs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServeConfig {
        max_sessions: 2,
        ..ServeConfig::default()
    };
    let factory = Arc::new(InitialTableFactory::new(Some(dir.path().to_path_buf())));
    let mut agent = start_with(config, factory).await;
    let datasets = || std::fs::read_dir(dir.path()).unwrap().count();
    let collect = |key: &str| pb::OpenSessionRequest {
        session_key: key.into(),
        ..fake_job::open_request("hostile", WORKERS, SessionMode::Collect)
    };

    let a = agent
        .client
        .open_session(collect("a"))
        .await
        .unwrap()
        .into_inner();
    let b = agent
        .client
        .open_session(collect("b"))
        .await
        .unwrap()
        .into_inner();
    refused(
        agent.client.open_session(collect("c")).await,
        Code::ResourceExhausted,
        "sessions",
        "2",
    );
    // The refused session was never built: no dataset of its own.
    assert_eq!(datasets(), 2);
    // Joining an open session takes no slot.
    let joined = agent
        .client
        .open_session(collect("a"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(joined.session_id, a.session_id);

    agent
        .client
        .close_session(pb::CloseSessionRequest {
            session_id: b.session_id,
        })
        .await
        .unwrap();
    agent.client.open_session(collect("c")).await.unwrap();
    assert_eq!(datasets(), 3);
    refused(
        agent.client.open_session(open_request()).await,
        Code::ResourceExhausted,
        "sessions",
        "2",
    );
    agent
        .client
        .close_session(pb::CloseSessionRequest {
            session_id: a.session_id,
        })
        .await
        .unwrap();
    assert_serves(&mut agent.client).await;
    agent.stop().await;
}

#[tokio::test]
async fn serve_settings_above_the_limits_stop_the_server_at_start() {
    for (config, key) in [
        (
            ServeConfig {
                max_sessions: MAX_SESSIONS + 1,
                ..ServeConfig::default()
            },
            "max_sessions",
        ),
        (
            ServeConfig {
                max_message_bytes: MAX_MESSAGE_BYTES + 1,
                ..ServeConfig::default()
            },
            "max_message_bytes",
        ),
    ] {
        let local = LocalAgent::start(config, Arc::new(InitialTableFactory::new(None)))
            .await
            .unwrap();
        let e = timeout(LIMIT, local.stop())
            .await
            .expect("the server returns in time")
            .expect_err(key);
        assert!(e.to_string().contains(key), "{e}");
    }
}

#[tokio::test]
async fn a_train_session_whose_replay_would_not_fit_is_refused_before_its_networks_exist() {
    let config = ServeConfig::default();
    let factory = Arc::new(ModelFactory::new(&config).unwrap());
    let mut agent = start_with(config, factory).await;
    // P = 32 768: an observation of 65 536 values, a transition of about 600 KB, 10⁵ of them in the
    // replay. Refused at once, before the networks (hundreds of MB) are built.
    let hostile = fake_job::open_request("hostile", MAX_WORKERS, SessionMode::Train);
    let e = timeout(LIMIT, agent.client.open_session(hostile))
        .await
        .expect("refused at once")
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("replay_capacity"), "{}", e.message());
    assert_serves(&mut agent.client).await;
    agent.stop().await;
}
