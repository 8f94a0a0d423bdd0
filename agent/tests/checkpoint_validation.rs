//! What the agent trusts is checked before it is used: a checkpoint before `serve` starts (shapes, finite
//! weights, config), a session's `job_name` before it becomes a directory, and a bind address beyond
//! loopback before anything listens on it.
//!
//! Issue "Nothing a client sends takes it down", item 5: before the fix a checkpoint with truncated
//! weights started and reported SERVING, NaN weights were loaded and served, `job_name: ".."` saved a
//! TRAIN checkpoint outside `train_out`, and `bind: 0.0.0.0` was accepted without a word.
//!
//! Every wait is a condition (the process's exit, a log line) with a failure deadline.

mod common;

use common::Served;
use sas_agent::fake_job::{self, LocalAgent};
use sas_agent::pb::{self, SessionMode};
use sas_agent::server::{ModelFactory, ServeConfig};
use sas_learner::checkpoint;
use sas_learner::config::SacConfig;
use sas_learner::sac_n::SacN;
use sas_router::mask::Mask;
use std::path::Path;
use std::sync::Arc;
use tonic::Code;

const WORKERS: u32 = 4;

fn small_sac() -> SacConfig {
    SacConfig {
        hidden_sizes: vec![16, 16],
        batch_size: 8,
        seed: 1,
        ..SacConfig::default()
    }
}

/// A valid checkpoint for `fake_job::open_request` sessions of `WORKERS` workers.
fn save_checkpoint(dir: &Path) {
    let mask = Mask::zipf(WORKERS as usize, 1.5, 10, 0, 0).unwrap();
    let sac = SacN::new(2 * WORKERS as usize, mask.action_dim(), &small_sac()).unwrap();
    let pairs: Vec<[usize; 2]> = mask.ranges().iter().map(|r| [r.start, r.end]).collect();
    checkpoint::save(dir, &sac, &pairs).unwrap();
}

/// `weights.safetensors` cut in half.
fn truncate_weights(dir: &Path) {
    let path = dir.join(checkpoint::WEIGHTS_FILE);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
}

/// Overwrites the first f32 of tensor `name` in `weights.safetensors` with NaN, in place (the file's
/// JSON header gives the tensor's byte offsets after the 8-byte header length).
fn poison_weight(dir: &Path, name: &str) {
    let path = dir.join(checkpoint::WEIGHTS_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let start = header[name]["data_offsets"][0].as_u64().unwrap() as usize + 8 + header_len;
    bytes[start..start + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
}

/// `serve` with `checkpoint` on ephemeral loopback ports: exits 2 naming `file` and `tensor` (if any)
/// instead of starting.
fn serve_refuses(checkpoint: &Path, file: &str, tensor: Option<&str>) {
    let config = checkpoint.with_extension("yaml");
    std::fs::write(
        &config,
        format!(
            "bind: 127.0.0.1:0\nmetrics_bind: 127.0.0.1:0\ncheckpoint: {}\n",
            checkpoint.display()
        ),
    )
    .unwrap();
    let mut served = Served::start(&config, &[]);
    let status = served.exit_blocking();
    let log = served.log();
    assert_eq!(status.code(), Some(2), "{status}:\n{log}");
    let named = checkpoint.join(file).display().to_string();
    assert!(log.contains(&named), "the error names {named}:\n{log}");
    if let Some(tensor) = tensor {
        assert!(log.contains(tensor), "the error names {tensor}:\n{log}");
    }
    assert!(!log.contains("serving grpc"), "nothing listened:\n{log}");
}

#[test]
fn truncated_weights_fail_serve_at_start_up_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    save_checkpoint(&ckpt);
    truncate_weights(&ckpt);
    serve_refuses(&ckpt, checkpoint::WEIGHTS_FILE, None);
}

#[test]
fn nan_weights_fail_serve_at_start_up_naming_the_file_and_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    save_checkpoint(&ckpt);
    poison_weight(&ckpt, "policy.fc1.weight");
    serve_refuses(&ckpt, checkpoint::WEIGHTS_FILE, Some("policy.fc1.weight"));
}

#[test]
fn the_model_factory_refuses_a_bad_checkpoint_before_any_session() {
    let dir = tempfile::tempdir().unwrap();
    save_checkpoint(dir.path());
    poison_weight(dir.path(), "qf_target.fc2.bias");
    let e = ModelFactory::new(&ServeConfig {
        checkpoint: Some(dir.path().to_owned()),
        ..ServeConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(checkpoint::WEIGHTS_FILE) && e.contains("qf_target.fc2.bias") && e.contains("NaN"),
        "{e}"
    );
}

#[tokio::test]
async fn job_names_that_are_not_one_path_component_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let config = ServeConfig {
        train_out: Some(out.clone()),
        offline_dir: Some(dir.path().join("offline")),
        sac: small_sac(),
        ..ServeConfig::default()
    };
    let factory = Arc::new(ModelFactory::new(&config).unwrap());
    let agent = LocalAgent::start(config, factory).await.unwrap();
    let mut client = agent.client().await.unwrap();
    let long = "j".repeat(200);
    for name in [
        "..",
        ".",
        "",
        "../escaped",
        "a/b",
        "/tmp/abs",
        "a\\b",
        "a\0b",
        long.as_str(),
    ] {
        for mode in [SessionMode::Train, SessionMode::Collect, SessionMode::Serve] {
            let refused = client
                .open_session(fake_job::open_request(name, WORKERS, mode))
                .await
                .expect_err(&format!("job_name {name:?} ({mode:?}) was accepted"));
            assert_eq!(refused.code(), Code::InvalidArgument, "{name:?}: {refused:?}");
            assert!(
                refused.message().starts_with("job_name = "),
                "{}",
                refused.message()
            );
        }
    }
    // A good name still opens, trains and saves inside train_out; nothing was written beside it.
    let open = client
        .open_session(fake_job::open_request("good-job", WORKERS, SessionMode::Train))
        .await
        .unwrap()
        .into_inner();
    client
        .close_session(pb::CloseSessionRequest {
            session_id: open.session_id,
        })
        .await
        .unwrap();
    assert!(checkpoint::read_config(&out.join("good-job")).is_ok());
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(
            name == "out" || name == "offline",
            "{name:?} escaped train_out and offline_dir"
        );
    }
    let inside: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(inside, ["good-job"]);
    drop(client);
    agent.stop().await.unwrap();
}

#[test]
fn a_bind_beyond_loopback_needs_allow_remote_and_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("remote.yaml");
    std::fs::write(&config, "bind: 0.0.0.0:0\nmetrics_bind: 127.0.0.1:0\n").unwrap();

    let mut refused = Served::start(&config, &[]);
    let status = refused.exit_blocking();
    let log = refused.log();
    assert_eq!(status.code(), Some(2), "{status}:\n{log}");
    assert!(
        log.contains("`bind` = 0.0.0.0:0") && log.contains("allow-remote"),
        "{log}"
    );

    let mut allowed = Served::start(&config, &["--allow-remote"]);
    allowed.wait_for("listening beyond loopback");
    allowed.wait_for("serving grpc");
    allowed.signal(libc::SIGTERM);
    let status = allowed.exit_blocking();
    assert_eq!(status.code(), Some(0), "{status}:\n{}", allowed.log());
}
