//! The agent serving models over gRPC on loopback: a checkpoint answers SERVE sessions and refuses a
//! session of another layout; a TRAIN session's learner publishes new weights and saves them; subtasks
//! opening with one session key share one session. Every wait is bounded.

mod common;

use common::report_step;
use sas_agent::fake_job::{self, LocalAgent};
use sas_agent::pb::{self, SessionMode};
use sas_agent::server::{AgentClock, ManualClock, ModelFactory, ServeConfig};
use sas_learner::checkpoint;
use sas_learner::config::SacConfig;
use sas_learner::sac_n::SacN;
use sas_router::mask::Mask;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::time::timeout;
use tonic::Code;

const WORKERS: u32 = 4;
const LIMIT: Duration = Duration::from_secs(20);

fn small_sac() -> SacConfig {
    SacConfig {
        hidden_sizes: vec![16, 16],
        batch_size: 8,
        seed: 1,
        ..SacConfig::default()
    }
}

/// The mask the agent derives for `fake_job::open_request`.
fn mask() -> Mask {
    Mask::zipf(WORKERS as usize, 1.5, 10, 0, 0).unwrap()
}

fn save_checkpoint(dir: &Path) {
    let mask = mask();
    let sac = SacN::new(2 * WORKERS as usize, mask.action_dim(), &small_sac()).unwrap();
    let pairs: Vec<[usize; 2]> = mask.ranges().iter().map(|r| [r.start, r.end]).collect();
    checkpoint::save(dir, &sac, &pairs).unwrap();
}

async fn start(config: ServeConfig) -> LocalAgent {
    let factory = Arc::new(ModelFactory::new(&config).unwrap());
    LocalAgent::start(config, factory).await.unwrap()
}

#[tokio::test]
async fn a_checkpoint_serves_its_policy_and_refuses_another_layout() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    save_checkpoint(&ckpt);
    let agent = start(ServeConfig {
        checkpoint: Some(ckpt.clone()),
        // In interval 0, the one the fake job reports.
        clock: AgentClock::new(ManualClock::new(0)),
        ..ServeConfig::default()
    })
    .await;
    let mut client = agent.client().await.unwrap();
    let open = client
        .open_session(fake_job::open_request("serve", WORKERS, SessionMode::Serve))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(open.model_version, 1, "a model answers, not the initial table");
    let mut tables = fake_job::subscribe(&mut client, &open.session_id).await.unwrap();
    timeout(LIMIT, tables.message()).await.unwrap().unwrap().unwrap();
    report_step(&mut client, &open.session_id, 0, WORKERS).await;
    let table = timeout(LIMIT, tables.message()).await.unwrap().unwrap().unwrap();
    assert_eq!((table.step, table.model_version), (1, 1));
    assert_eq!(table.action.len(), mask().action_dim());
    assert!(table.action.iter().all(|a| (0.0..=1.0).contains(a)));
    assert!(
        table.action.iter().any(|&a| a != 1.0),
        "the policy's action, not the initial table"
    );

    // Eight workers: observations of 16, the checkpoint has 8.
    let refused = client
        .open_session(fake_job::open_request("other", 2 * WORKERS, SessionMode::Serve))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains(&ckpt.display().to_string()) && refused.message().contains("obs_dim"),
        "{}",
        refused.message()
    );
    drop((client, tables));
    agent.stop().await.unwrap();
}

#[test]
fn a_corrupt_checkpoint_stops_the_server_at_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    save_checkpoint(dir.path());
    std::fs::write(
        dir.path().join(checkpoint::CONFIG_FILE),
        b"{\"format_version\": 1, \"obs_",
    )
    .unwrap();
    let e = ModelFactory::new(&ServeConfig {
        checkpoint: Some(dir.path().to_owned()),
        ..ServeConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("config.json"), "{e}");
}

#[tokio::test]
async fn a_train_session_publishes_new_weights_and_saves_them() {
    let dir = tempfile::tempdir().unwrap();
    // The fake job's clock: it moves on one interval per step, so the reports are always on time.
    let clock = ManualClock::new(0);
    let mut config = ServeConfig {
        train_out: Some(dir.path().to_owned()),
        sac: small_sac(),
        clock: AgentClock::new(clock.clone()),
        ..ServeConfig::default()
    };
    config.learner.publish_every = 2;
    let agent = start(config).await;
    let mut client = agent.client().await.unwrap();
    let open = client
        .open_session(fake_job::open_request("learner", WORKERS, SessionMode::Train))
        .await
        .unwrap()
        .into_inner();
    let mut tables = fake_job::subscribe(&mut client, &open.session_id).await.unwrap();
    let first = timeout(LIMIT, tables.message()).await.unwrap().unwrap().unwrap();
    let started = Instant::now();
    let mut interval = 0;
    let mut version = first.model_version;
    // Steps until the learner has published a few times (it needs a batch of 8 first).
    while version < first.model_version + 3 && started.elapsed() < LIMIT {
        clock.set((interval + 1) * 100);
        report_step(&mut client, &open.session_id, interval, WORKERS).await;
        version = timeout(LIMIT, tables.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
            .model_version;
        interval += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        version >= first.model_version + 3,
        "version {version} after {interval} steps"
    );
    client
        .close_session(pb::CloseSessionRequest {
            session_id: open.session_id.clone(),
        })
        .await
        .unwrap();
    let saved = checkpoint::read_config(&dir.path().join("learner")).unwrap();
    assert!(saved.updates > 0);
    drop((client, tables));
    agent.stop().await.unwrap();
}

#[tokio::test]
async fn subtasks_with_one_session_key_share_one_session() {
    let agent = start(ServeConfig::default()).await;
    let mut client = agent.client().await.unwrap();
    let keyed = |workers: u32, key: &str| pb::OpenSessionRequest {
        session_key: key.into(),
        ..fake_job::open_request("job", workers, SessionMode::Serve)
    };
    let a = client
        .open_session(keyed(WORKERS, "job-1"))
        .await
        .unwrap()
        .into_inner();
    let b = client
        .open_session(keyed(WORKERS, "job-1"))
        .await
        .unwrap()
        .into_inner();
    let c = client
        .open_session(keyed(WORKERS, "job-2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.session_id, b.session_id);
    assert_ne!(a.session_id, c.session_id);
    let clash = client
        .open_session(keyed(2 * WORKERS, "job-1"))
        .await
        .unwrap_err();
    assert_eq!(clash.code(), Code::FailedPrecondition);
    assert!(clash.message().contains("workers = 8"), "{}", clash.message());
    // Without a key every open is a new session.
    let d = client
        .open_session(fake_job::open_request("job", WORKERS, SessionMode::Serve))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(d.session_id, a.session_id);
    drop(client);
    agent.stop().await.unwrap();
}
