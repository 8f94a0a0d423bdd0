//! `sas-agent eval-routers --workload file --path FILE`: the flags reach the params (`workload.kind`,
//! `workload.path`, `workload.csv_*`) and a recorded key stream is replayed through the partitioners.

use std::path::Path;
use std::process::{Command, Output};

fn eval_routers(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sas-agent"))
        .arg("eval-routers")
        .args(args)
        .output()
        .expect("sas-agent runs")
}

/// A skewed stream: one key in every four records is `hot`, the rest cycle through 500 others.
fn write_stream(path: &Path, csv: bool) {
    let mut text = String::from(if csv { "ts,user\n" } else { "" });
    for i in 0..8000 {
        let key = if i % 4 == 0 {
            "hot".to_string()
        } else {
            format!("k{}", i % 500)
        };
        if csv {
            text.push_str(&format!("{i},{key}\n"));
        } else {
            text.push_str(&format!("{key}\n"));
        }
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_key_file_is_replayed_through_every_partitioner_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let lines = dir.path().join("keys.txt");
    write_stream(&lines, false);
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--workers",
            "8",
            "--records",
            "16000",
            "--rate",
            "4000",
            "--partitioners",
            "hash,shuffle",
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = eval_routers(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let imbalance = |i: usize| reports[i]["imbalance"].as_f64().unwrap();
        assert_eq!(reports[0]["partitioner"], "hash");
        (
            imbalance(0),
            imbalance(1),
            reports[0]["max_fragmentation"].as_u64().unwrap(),
        )
    };
    let path = lines.to_str().unwrap();
    let (hash, shuffle, hash_fragmentation) = run(&["--workload", "file", "--path", path]);
    // A quarter of the records on hash's one worker for `hot`: λ ≥ 0.25·8 − 1 = 1.
    assert!(hash >= 1.0, "hash λ = {hash}");
    assert!(shuffle < 0.2, "shuffle λ = {shuffle}");
    assert_eq!(hash_fragmentation, 1);

    // The same keys as a CSV column, by name or by index, replay the same stream.
    let csv = dir.path().join("events.csv");
    write_stream(&csv, true);
    let csv = csv.to_str().unwrap();
    let by_name = run(&["--workload", "file", "--path", csv, "--csv-column", "user"]);
    let by_index = run(&["--workload", "file", "--path", csv, "--csv-column", "1"]);
    assert_eq!(by_name.0, hash);
    assert_eq!(by_index.0, hash);
}

#[test]
fn a_bad_key_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("events.csv");
    write_stream(&csv, true);
    let csv = csv.to_str().unwrap();
    let out = eval_routers(&["--workload", "file", "--path", csv, "--csv-column", "usr"]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("`workload.csv_column` = usr") && e.contains("its columns are: ts, user"),
        "{e}"
    );
    let missing = dir.path().join("missing.txt");
    let out = eval_routers(&["--workload", "file", "--path", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("`workload.path`") && e.contains("missing.txt"), "{e}");
}
