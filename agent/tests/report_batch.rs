//! The `Report` batch over real gRPC on loopback: one call carries an interval's worker and router
//! reports and closes the step exactly as the unary calls do; a bad item fails the whole call naming it,
//! and nothing of the batch is stored; items ahead of the agent's clock are counted and leave nothing.
//!
//! Issue "Nothing a client sends takes it down", item 8: 100 jobs of P = 128 sending every report as its
//! own call are 12 900 calls a second, all at each interval's end; a batch makes it 100.

use sas_agent::fake_job::{self, LocalAgent};
use sas_agent::pb::agent_client::AgentClient;
use sas_agent::pb::{self, SessionMode};
use sas_agent::server::{InitialTableFactory, ServeConfig};
use sas_router::limits::MAX_BATCH_REPORTS;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::timeout;
use tonic::Code;
use tonic::transport::Channel;

const WORKERS: u32 = 4;
const LIMIT: Duration = Duration::from_secs(10);

async fn start() -> (LocalAgent, AgentClient<Channel>) {
    start_with(ServeConfig::default()).await
}

async fn start_with(config: ServeConfig) -> (LocalAgent, AgentClient<Channel>) {
    let local = LocalAgent::start(config, Arc::new(InitialTableFactory::new(None)))
        .await
        .unwrap();
    let client = local.client().await.unwrap();
    (local, client)
}

/// The fake job's intervals are 100 ms; this one is inside the agent's clock window.
fn current_interval() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (now.as_millis() / 100) as u64
}

fn batch(session: &str, interval: u64) -> pb::ReportBatch {
    pb::ReportBatch {
        session_id: session.to_string(),
        workers: (0..WORKERS)
            .map(|w| fake_job::worker_report("", interval, w, 10.0 * f64::from(w + 1)))
            .collect(),
        routers: vec![fake_job::router_report("", interval, vec![40, 30, 20, 10])],
    }
}

async fn open(client: &mut AgentClient<Channel>) -> pb::OpenSessionReply {
    client
        .open_session(fake_job::open_request("batch", WORKERS, SessionMode::Serve))
        .await
        .unwrap()
        .into_inner()
}

async fn close(client: &mut AgentClient<Channel>, session: &str) -> u64 {
    let request = pb::CloseSessionRequest {
        session_id: session.to_string(),
    };
    client.close_session(request).await.unwrap().into_inner().steps
}

/// The step of the next table on the stream.
async fn next_step(tables: &mut tonic::Streaming<pb::RoutingTableUpdate>) -> u64 {
    timeout(LIMIT, tables.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .step
}

#[tokio::test]
async fn one_batch_closes_a_step_as_the_unary_calls_do() {
    let (local, mut client) = start().await;
    let open = open(&mut client).await;
    let mut tables = fake_job::subscribe(&mut client, &open.session_id).await.unwrap();
    assert_eq!(next_step(&mut tables).await, 0);

    let interval = current_interval();
    let ack = client
        .report(batch(&open.session_id, interval))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ack,
        pb::ReportBatchAck {
            stored: WORKERS + 1,
            late: 0,
            ahead: 0
        }
    );
    let table = timeout(LIMIT, tables.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(table.step, 1);
    assert_eq!(table.action.len(), open.action_dim as usize);

    // The same interval again: its step closed, so every item is late.
    let again = client
        .report(batch(&open.session_id, interval))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((again.stored, again.late), (0, WORKERS + 1));
    assert_eq!(close(&mut client, &open.session_id).await, 1);
    drop(client);
    local.stop().await.unwrap();
}

#[tokio::test]
async fn a_bad_item_fails_the_call_naming_it_and_stores_nothing() {
    let (local, mut client) = start().await;
    let open = open(&mut client).await;
    let interval = current_interval();
    let cases: Vec<(&str, pb::ReportBatch)> = vec![
        ("workers[2]", {
            let mut b = batch(&open.session_id, interval);
            b.workers[2].busy_ms = f64::NAN;
            b
        }),
        ("workers[3]", {
            let mut b = batch(&open.session_id, interval);
            b.workers[3].worker = WORKERS;
            b
        }),
        ("routers[0]", {
            let mut b = batch(&open.session_id, interval);
            b.routers[0].worker_counts.push(1);
            b
        }),
        ("workers[1].session_id", {
            let mut b = batch(&open.session_id, interval);
            b.workers[1].session_id = "another".into();
            b
        }),
    ];
    for (field, bad) in cases {
        let e = client.report(bad).await.expect_err(field);
        assert_eq!(e.code(), Code::InvalidArgument, "{field}: {e:?}");
        assert!(e.message().contains(field), "{field}: {}", e.message());
    }
    // Nothing of the refused batches was stored: the interval is still empty, so a batch with the
    // workers alone leaves the step open (no router report yet) and a step closes only with the router's.
    let mut workers_only = batch(&open.session_id, interval);
    let router = workers_only.routers.pop().unwrap();
    let ack = client.report(workers_only).await.unwrap().into_inner();
    assert_eq!(ack.stored, WORKERS);
    let mut tables = fake_job::subscribe(&mut client, &open.session_id).await.unwrap();
    assert_eq!(next_step(&mut tables).await, 0);
    let routers_only = pb::ReportBatch {
        session_id: open.session_id.clone(),
        workers: Vec::new(),
        routers: vec![router],
    };
    assert_eq!(client.report(routers_only).await.unwrap().into_inner().stored, 1);
    assert_eq!(next_step(&mut tables).await, 1);
    assert_eq!(close(&mut client, &open.session_id).await, 1);
    drop(client);
    local.stop().await.unwrap();
}

#[tokio::test]
async fn items_ahead_of_the_clock_are_counted_and_leave_nothing_behind() {
    let (local, mut client) = start().await;
    let open = open(&mut client).await;
    let far = current_interval() + 1_000;
    let ack = client
        .report(batch(&open.session_id, far))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((ack.stored, ack.ahead), (0, WORKERS + 1));
    // The session still steps on time: the far interval opened nothing that holds it back.
    let mut tables = fake_job::subscribe(&mut client, &open.session_id).await.unwrap();
    assert_eq!(next_step(&mut tables).await, 0);
    let ack = client
        .report(batch(&open.session_id, current_interval()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ack.stored, WORKERS + 1);
    assert_eq!(next_step(&mut tables).await, 1);
    drop(client);
    local.stop().await.unwrap();
}

#[tokio::test]
async fn a_batch_over_the_limit_or_for_no_session_is_refused() {
    // A message large enough to hold the batch, so the batch limit refuses it, not the decoder.
    let config = ServeConfig {
        max_message_bytes: sas_router::limits::MAX_MESSAGE_BYTES,
        ..ServeConfig::default()
    };
    let (local, mut client) = start_with(config).await;
    let open = open(&mut client).await;
    let huge = pb::ReportBatch {
        session_id: open.session_id.clone(),
        workers: vec![fake_job::worker_report("", current_interval(), 0, 1.0); MAX_BATCH_REPORTS + 1],
        routers: Vec::new(),
    };
    let e = client.report(huge).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains(&MAX_BATCH_REPORTS.to_string()),
        "{}",
        e.message()
    );

    let e = client
        .report(batch("nope", current_interval()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    drop(client);
    local.stop().await.unwrap();
}
