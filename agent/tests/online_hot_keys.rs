//! Issue #14 item 4: every stage works with online hot keys (the default) and a mask drawn from measured
//! shares. On one params file of a recorded key stream: the shares are measured, the simulator models
//! the job's world (same mask), offline collection explores the stream's real hot keys, CQL-N trains on
//! that data, SAC-N pretrains in the simulator, and the agent serves the pretrained checkpoint to a
//! session whose mask is the one the job's routers send, while refusing one of the assumed Zipf mask.

use sas_agent::collect::{self, CollectConfig};
use sas_agent::env::sim::SimConfig;
use sas_agent::eval;
use sas_agent::fake_job::{self, LocalAgent};
use sas_agent::offline::DatasetReader;
use sas_agent::pb::{self, SessionMode};
use sas_agent::server::{AgentClock, ManualClock, ModelFactory, ServeConfig};
use sas_agent::simulate::{self, SimulateConfig};
use sas_agent::train_offline::{self, TrainOfflineConfig};
use sas_learner::config::{CqlConfig, SacConfig};
use sas_router::mask::Mask;
use sas_router::params::Params;
use sas_router::partitioner::HotKeyMode;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::timeout;
use tonic::Code;

const WORKERS: u32 = 8;
const LIMIT: Duration = Duration::from_secs(20);

/// A recorded stream of 40 000 lines: `a` takes 30 % of them, `b` 20 %, `c` 12 %, the rest are rare.
fn write_stream(path: &Path) {
    let mut text = String::new();
    for i in 0..40_000 {
        let key = match i % 100 {
            0..30 => "a".to_string(),
            30..50 => "b".to_string(),
            50..62 => "c".to_string(),
            _ => format!("rare-{}", i % 3000),
        };
        text.push_str(&key);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// The job's params: the stream, 8 workers, 4 hot keys, no `router.hot_keys.mode` (online).
fn params(stream: &Path, shares: Option<&[f64]>) -> Params {
    let shares = shares.map_or(String::new(), |s| {
        let list: Vec<String> = s.iter().map(f64::to_string).collect();
        format!(", shares: [{}]", list.join(", "))
    });
    let yaml = format!(
        "task: wordcount\npartitioner: saspartitioner\nworkers: {WORKERS}\nrecords: 40000\nseed: 5\n\
         workload: {{kind: file, path: {:?}, rate: 10000}}\n\
         router: {{hot_keys: {{count: 4{shares}}}}}\n",
        stream.display().to_string()
    );
    Params::parse(&yaml, "job.yaml").unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn small_sac() -> SacConfig {
    SacConfig {
        hidden_sizes: vec![16, 16],
        batch_size: 8,
        seed: 1,
        ..SacConfig::default()
    }
}

/// The session the job's link opens: its routers' own mask, as `sas-agent-link` sends it.
fn open_request(name: &str, mask: Option<&Mask>) -> pb::OpenSessionRequest {
    pb::OpenSessionRequest {
        hot_key_mode: pb::HotKeyMode::Online as i32,
        hot_keys: 4,
        mask: mask.map(|m| pb::Mask {
            ranges: m
                .ranges()
                .iter()
                .map(|r| pb::WorkerRange {
                    start: r.start as u32,
                    end: r.end as u32,
                })
                .collect(),
        }),
        ..fake_job::open_request(name, WORKERS, SessionMode::Serve)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stage_runs_online_hot_keys_with_the_measured_mask() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("keys.txt");
    write_stream(&stream);

    // 1. Measure the shares; the job's params carry them, and their mask is not Zipf(1.5)'s.
    let assumed = params(&stream, None);
    assert_eq!(assumed.router.hot_keys.mode, HotKeyMode::Online);
    let report =
        eval::measure_hot_keys(&assumed.workload_config(), 40_000, &assumed.router_config()).unwrap();
    assert!((report.shares[0] - 0.30).abs() < 0.01, "{:?}", report.shares);
    let job = params(&stream, Some(&report.shares));
    let mask = job.router_config().hot_keys.mask(WORKERS).unwrap();
    let zipf = assumed.router_config().hot_keys.mask(WORKERS).unwrap();
    assert_ne!(mask, zipf);

    // 2. The simulator models the job's world: its stream, online detection and mask.
    let sim = SimConfig::from_params(&job, 40).unwrap();
    assert_eq!(sim.hot_key_mode, HotKeyMode::Online);
    assert_eq!(sim.router_config().hot_keys.mask(WORKERS).unwrap(), mask);
    let sim = SimConfig {
        records_per_step: 4_000,
        episode_length: 8,
        online_hot_keys: sas_router::hot_keys::OnlineHotKeyConfig {
            tick_records: 2_000,
            ..Default::default()
        },
        ..sim
    };

    // 3. Offline collection: the behaviour policy explores the stream's hot keys (every step routes some
    //    pair of the mask), then CQL-N trains on the data.
    let data = dir.path().join("off");
    let collected = collect::run(&CollectConfig {
        sim: sim.clone(),
        steps: 24,
        out: data.clone(),
        progress: false,
    })
    .unwrap();
    assert_eq!(collected.action_dim, mask.action_dim());
    let transitions: Vec<sas_learner::Transition> = DatasetReader::open(&data)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(transitions.len(), 24);
    assert!(
        transitions.iter().all(|t| t.action.contains(&1.0)),
        "a step whose behaviour routed no hot key inside the mask"
    );
    let mut cql = CqlConfig {
        bc_steps: 2,
        num_random_actions: 2,
        num_policy_actions: 2,
        ..CqlConfig::default()
    };
    cql.sac = small_sac();
    let offline = train_offline::run(&TrainOfflineConfig {
        data,
        out: dir.path().join("offline-ckpt"),
        updates: 4,
        eval_every: 4,
        eval_steps: 2,
        cql,
        init: None,
        progress: false,
    })
    .unwrap();
    assert!(offline.offline_policy_imbalance.is_some_and(f64::is_finite));

    // 4. SAC-N pretraining in the simulator writes a checkpoint of the job's layout.
    let ckpt = dir.path().join("sim-ckpt");
    simulate::run(&SimulateConfig {
        sim,
        steps: 20,
        warmup_steps: 8,
        updates_per_step: 1,
        publish_every: 4,
        eval_steps: 2,
        sac: small_sac(),
        out: Some(ckpt.clone()),
        save_every: 1000,
        progress: false,
    })
    .unwrap();

    // 5. Serving: the session with the routers' mask gets the model; one of the Zipf mask is refused.
    let config = ServeConfig {
        checkpoint: Some(ckpt),
        clock: AgentClock::new(ManualClock::new(0)),
        ..ServeConfig::default()
    };
    let factory = Arc::new(ModelFactory::new(&config).unwrap());
    let agent = LocalAgent::start(config, factory).await.unwrap();
    let mut client = agent.client().await.unwrap();
    let open = timeout(LIMIT, client.open_session(open_request("job", Some(&mask))))
        .await
        .unwrap()
        .unwrap()
        .into_inner();
    assert_eq!(
        open.model_version, 1,
        "the pretrained model answers, not the initial table"
    );
    assert_eq!(open.action_dim as usize, mask.action_dim());
    let refused = timeout(LIMIT, client.open_session(open_request("zipf", Some(&zipf))))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{}", refused.message());
    drop(client);
    agent.stop().await.unwrap();
}
