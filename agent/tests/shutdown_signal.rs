//! `sas-agent serve` as a real process stops through its one shutdown path on SIGTERM (what systemd,
//! Docker and Kubernetes send) and on SIGINT (Ctrl-C): health turns NOT_SERVING, sessions are finished,
//! a TRAIN session's learner saves its final checkpoint, and the process exits 0.
//!
//! Issue "Nothing a client sends takes it down", item 4: before the fix SIGTERM ended the process with
//! the default action (killed by signal 15, nothing saved).
//!
//! Every wait is a condition (health, a file, the process's exit) with a failure deadline.

mod common;

use common::{LIMIT, Served, report_step};
use sas_agent::fake_job;
use sas_agent::pb::{self, SessionMode};
use sas_learner::checkpoint::{self, Expected};
use sas_router::mask::Mask;
use std::time::{Duration, Instant};
use tokio::time::timeout;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const WORKERS: u32 = 4;
const JOB: &str = "signalled-job";

/// A loopback port nobody listens on now (the agent binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until the agent at `uri` reports SERVING for `sas.v1.Agent`.
async fn wait_serving(served: &mut Served, uri: &str) {
    let deadline = Instant::now() + LIMIT;
    loop {
        served.assert_running();
        if let Ok(channel) = tonic::transport::Channel::from_shared(uri.to_string())
            .unwrap()
            .connect()
            .await
        {
            let request = HealthCheckRequest {
                service: "sas.v1.Agent".into(),
            };
            if let Ok(reply) = HealthClient::new(channel).check(request).await
                && reply.into_inner().status() == ServingStatus::Serving
            {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "not SERVING within {LIMIT:?}:\n{}",
            served.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The interval the wall clock is in: `fake_job` sessions report every 100 ms, numbered since the epoch.
fn wall_interval() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    (now.as_millis() / 100) as u64
}

/// Serves TRAIN with checkpoints only at the end, trains a session until the learner has published three
/// times, sends `signal` with the session still open and its router still subscribed, and checks the
/// exit status and the checkpoint the learner saved on the way out.
async fn training_survives(signal: libc::c_int) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let port = free_port();
    let config = dir.path().join("serve.yaml");
    std::fs::write(
        &config,
        format!(
            "bind: 127.0.0.1:{port}\n\
             metrics_bind: 127.0.0.1:0\n\
             train_out: {}\n\
             sac: {{hidden_sizes: [16, 16], batch_size: 8, seed: 1}}\n\
             learner: {{publish_every: 2, checkpoint_every: 0}}\n",
            out.display()
        ),
    )
    .unwrap();
    let mut served = Served::start(&config, &[]);
    let uri = format!("http://127.0.0.1:{port}");
    wait_serving(&mut served, &uri).await;

    let mut client = pb::agent_client::AgentClient::connect(uri.clone()).await.unwrap();
    let open = client
        .open_session(fake_job::open_request(JOB, WORKERS, SessionMode::Train))
        .await
        .unwrap()
        .into_inner();
    let mut tables = fake_job::subscribe(&mut client, &open.session_id).await.unwrap();
    let first = timeout(LIMIT, tables.message()).await.unwrap().unwrap().unwrap();
    let started = Instant::now();
    let (mut interval, mut version) = (wall_interval(), first.model_version);
    while version < first.model_version + 3 {
        assert!(
            started.elapsed() < LIMIT,
            "version {version} at interval {interval}"
        );
        // Intervals are numbered by the wall clock and the agent refuses those far ahead of its own:
        // run at most one ahead, as a job would.
        while interval > wall_interval() + 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        report_step(&mut client, &open.session_id, interval, WORKERS).await;
        version = timeout(LIMIT, tables.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
            .model_version;
        interval += 1;
    }
    let saved = out.join(JOB);
    assert!(
        !saved.exists(),
        "checkpoint_every = 0: nothing is saved before the session ends"
    );

    served.signal(signal);
    let status = served.exit().await;
    assert_eq!(status.code(), Some(0), "{status}:\n{}", served.log());
    let log = served.log();
    assert!(log.contains("shutting down"), "{log}");

    // The router's stream ends with the server rather than hanging.
    let end = timeout(LIMIT, tables.message()).await.expect("stream ended");
    assert!(!matches!(end, Ok(Some(_))), "{end:?}");

    let mask = Mask::zipf(WORKERS as usize, 1.5, 10, 0, 0).unwrap();
    let pairs: Vec<[usize; 2]> = mask.ranges().iter().map(|r| [r.start, r.end]).collect();
    let expected = Expected {
        obs_dim: 2 * WORKERS as usize,
        act_dim: mask.action_dim(),
        mask: Some(&pairs),
    };
    let (sac, meta) = checkpoint::load(&saved, &expected)
        .unwrap_or_else(|e| panic!("no valid checkpoint in {}: {e}\n{log}", saved.display()));
    // Three publications at publish_every = 2: at least six updates reached the checkpoint.
    assert!(meta.updates >= 6, "updates {}", meta.updates);
    assert_eq!(sac.updates(), meta.updates);
}

#[tokio::test]
async fn sigterm_finishes_sessions_saves_the_learner_and_exits_0() {
    training_survives(libc::SIGTERM).await;
}

#[tokio::test]
async fn sigint_takes_the_same_path() {
    training_survives(libc::SIGINT).await;
}
