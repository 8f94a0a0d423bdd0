//! `sas-agent measure-hot-keys`: the share of a stream each hot rank takes, measured with the routers'
//! online detector, printed as the `router.hot_keys.shares` the mask is drawn from (issue #14 item 4:
//! "The mask is computed from measured hot-key shares, not from an assumed exponent"). The snippet it
//! prints, pasted into params, gives the mask it reports, in every tool; `mask --shares` draws the same.

use sas_router::hashing::word_key;
use sas_router::params::Params;
use std::path::Path;
use std::process::{Command, Output};

fn sas_agent(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_sas-agent"))
        .args(args)
        .output()
        .expect("sas-agent runs");
    assert!(
        out.status.success(),
        "sas-agent {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The arguments of `sas-agent <command>` on the key stream at `path` (the file workload) with 8 workers,
/// then `rest`.
fn on_stream<'a>(command: &'a str, path: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    [
        &[command, "--workload", "file", "--path", path, "--workers", "8"],
        rest,
    ]
    .concat()
}

/// 60 000 records: `a` is 30 % of them, `b` 15 %, `c` 8 %, the rest cycle through 2000 rare keys.
fn write_stream(path: &Path) {
    let mut text = String::new();
    for i in 0..60_000 {
        let key = match i % 100 {
            0..30 => "a".to_string(),
            30..45 => "b".to_string(),
            45..53 => "c".to_string(),
            _ => format!("rare-{}", i % 2000),
        };
        text.push_str(&key);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn measured_shares_are_the_streams_and_the_snippet_gives_the_reported_mask() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("keys.txt");
    write_stream(&stream);
    let path = stream.to_str().unwrap();
    let flags = on_stream(
        "measure-hot-keys",
        path,
        &["--hot-keys", "4", "--records", "60000"],
    );

    let json: serde_json::Value =
        serde_json::from_slice(&sas_agent(&[&flags[..], &["--json"]].concat()).stdout).unwrap();
    assert_eq!(json["measured_records"], 60_000 - 16_384 + 1);
    let shares: Vec<f64> = serde_json::from_value(json["shares"].clone()).unwrap();
    for (rank, want) in [0.30, 0.15, 0.08].into_iter().enumerate() {
        assert!((shares[rank] - want).abs() < 0.002, "rank {rank}: {shares:?}");
    }
    // No rare key reaches the entry threshold 1/(5P) = 2.5 %: the fourth rank stays free.
    assert_eq!(shares[3], 0.0);
    let keys: Vec<Option<u64>> = serde_json::from_value(json["keys"].clone()).unwrap();
    assert_eq!(
        keys,
        [
            Some(word_key("a")),
            Some(word_key("b")),
            Some(word_key("c")),
            None
        ]
    );

    // The text output is YAML: pasted into params, it gives the mask the JSON reports.
    let snippet = String::from_utf8(sas_agent(&flags).stdout).unwrap();
    let yaml = format!("task: wordcount\npartitioner: saspartitioner\nworkers: 8\nrecords: 1\n{snippet}");
    let params = Params::parse(&yaml, "snippet").unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(params.router.hot_keys.shares, shares);
    let mask = params.router_config().hot_keys.mask(8).unwrap();
    let ranges: Vec<[usize; 2]> = mask.ranges().iter().map(|r| [r.start, r.end]).collect();
    assert_eq!(json["mask"]["ranges"], serde_json::json!(ranges));
    assert_eq!(json["mask"]["action_dim"], mask.action_dim());

    // `mask --shares` draws the same mask.
    let list: Vec<String> = shares.iter().map(|s| s.to_string()).collect();
    let drawn: serde_json::Value = serde_json::from_slice(
        &sas_agent(&["mask", "--workers", "8", "--shares", &list.join(","), "--json"]).stdout,
    )
    .unwrap();
    let drawn_ranges: Vec<[usize; 2]> = drawn["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            [
                r["start"].as_u64().unwrap() as usize,
                r["end"].as_u64().unwrap() as usize,
            ]
        })
        .collect();
    assert_eq!(drawn_ranges, ranges);
    assert_eq!(drawn["alpha"], serde_json::Value::Null);
}

#[test]
fn eval_routers_names_the_hot_key_mode_and_the_mask_source() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("keys.txt");
    write_stream(&stream);
    let path = stream.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = on_stream(
            "eval-routers",
            path,
            &[
                "--records",
                "60000",
                "--rate",
                "10000",
                "--partitioners",
                "hash,dalton-offline",
            ],
        );
        args.extend_from_slice(extra);
        String::from_utf8(sas_agent(&args).stdout).unwrap()
    };
    let default = run(&[]);
    assert!(default.starts_with("hot keys: online"), "{default}");
    assert!(default.contains("mask from Zipf α = 1.5"), "{default}");
    let measured = run(&[
        "--set",
        "router.hot_keys.shares=[0.3, 0.15, 0.08, 0, 0, 0, 0, 0, 0, 0]",
    ]);
    assert!(measured.contains("mask from measured shares"), "{measured}");
    let ranks = run(&["--hot-key-mode", "static"]);
    assert!(ranks.starts_with("hot keys: static"), "{ranks}");

    // Bad shares are refused, naming the key.
    let out = Command::new(env!("CARGO_BIN_EXE_sas-agent"))
        .args([
            "eval-routers",
            "--workers",
            "8",
            "--set",
            "router.hot_keys.shares=[0.5, 0.4]",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`hot_keys.shares`"), "{stderr}");
}

#[test]
fn simulate_draws_the_mask_of_a_key_stream_from_its_measured_shares() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("keys.txt");
    write_stream(&stream);
    let path = stream.to_str().unwrap();
    let checkpoint = dir.path().join("policy");
    // 3 steps of 20 000 records: the whole stream, measured before training.
    let run = sas_agent(&on_stream(
        "simulate",
        path,
        &[
            "--steps",
            "3",
            "--warmup-steps",
            "3",
            "--eval-steps",
            "1",
            "--json",
            "--out",
            checkpoint.to_str().unwrap(),
        ],
    ));
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(
        said.contains("mask from the hot-key shares measured on the first 60000 records"),
        "{said}"
    );

    let measured: serde_json::Value = serde_json::from_slice(
        &sas_agent(&on_stream(
            "measure-hot-keys",
            path,
            &["--records", "60000", "--json"],
        ))
        .stdout,
    )
    .unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(checkpoint.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["mask"], measured["mask"]["ranges"]);
    // Not the mask Zipf(1.5) would give: the stream's own shares drew it.
    assert_ne!(measured["mask"]["ranges"], measured["alpha_mask"]["ranges"]);
}
