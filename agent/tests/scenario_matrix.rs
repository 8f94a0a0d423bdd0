//! `bin/scenario-matrix.sh` in its dry run (`SAS_MATRIX_DRY_RUN=1`: synthetic runs, no build, no Flink):
//! a failed run is reported and does not stop the others, a rerun resumes and skips what was measured,
//! and the table comes from this build's `sas-agent plot-matrix`. And a command whose reader goes away
//! ends quietly.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A scratch folder, or `None` (the test skipped) when this is not the release build the script runs.
fn release_tempdir() -> Option<tempfile::TempDir> {
    if !Path::new(env!("CARGO_BIN_EXE_sas-agent")).starts_with(repo_root().join("target/release")) {
        eprintln!("skipped: the script uses target/release/sas-agent; run the tests with --release");
        return None;
    }
    Some(tempfile::tempdir().unwrap())
}

fn matrix(out: &Path, partitioners: &str) -> Output {
    matrix_with(out, partitioners, &[])
}

fn matrix_with(out: &Path, partitioners: &str, extra: &[&str]) -> Output {
    Command::new("bash")
        .arg(repo_root().join("bin/scenario-matrix.sh"))
        .args(["--scenarios", "equal,two-routers", "--partitioners", partitioners, "--repeats", "2"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .env("SAS_MATRIX_DRY_RUN", "1")
        .output()
        .expect("bash runs")
}

#[test]
fn a_failed_run_is_listed_and_a_rerun_resumes() {
    let Some(dir) = release_tempdir() else {
        return;
    };
    let out = dir.path().join("m");

    let first = matrix(&out, "hash,fail");
    let stdout = String::from_utf8_lossy(&first.stdout);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("4 runs failed"), "{stderr}");
    assert!(stdout.contains("== ramp of every run: --preset fast"), "{stdout}");
    let csv = std::fs::read_to_string(out.join("matrix.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 4, "{csv}");
    for scenario in ["equal", "two-routers"] {
        for repeat in ["1", "2"] {
            assert!(rows.iter().any(|r| r.starts_with(&format!("{scenario},hash,{repeat},"))), "{csv}");
        }
    }
    assert!(out.join("matrix.png").is_file());
    // The table: one line per (scenario, partitioner) measured.
    assert!(stdout.lines().any(|l| l.starts_with("two-routers") && l.contains("hash")), "{stdout}");

    let again = matrix(&out, "hash");
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&again.stderr));
    assert!(stdout.contains("0 runs to do; skipped 4"), "{stdout}");
    assert_eq!(std::fs::read_to_string(out.join("matrix.csv")).unwrap(), csv, "a resumed matrix adds nothing");
}

#[test]
fn runs_two_at_a_time_write_every_row_once_and_list_every_failure() {
    let Some(dir) = release_tempdir() else {
        return;
    };
    let out = dir.path().join("m");

    let run = matrix_with(&out, "hash,fail,w-choices", &["--jobs", "2"]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stdout}
{stderr}");
    assert!(stderr.contains("4 runs failed"), "{stderr}");
    for repeat in ["1", "2"] {
        assert!(stderr.contains(&format!("equal/fail/{repeat}")), "{stderr}");
    }
    let csv = std::fs::read_to_string(out.join("matrix.csv")).unwrap();
    let mut keys: Vec<String> = csv
        .lines()
        .skip(1)
        .map(|row| row.split(',').take(3).collect::<Vec<_>>().join(","))
        .collect();
    keys.sort();
    let mut expected = Vec::new();
    for scenario in ["equal", "two-routers"] {
        for partitioner in ["hash", "w-choices"] {
            for repeat in ["1", "2"] {
                expected.push(format!("{scenario},{partitioner},{repeat}"));
            }
        }
    }
    expected.sort();
    assert_eq!(keys, expected, "{csv}");
    for row in csv.lines().skip(1) {
        assert_eq!(row.split(',').count(), 10, "a row of two runs mixed: {row}");
    }
}

#[test]
fn a_table_whose_reader_goes_away_ends_the_command_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sas-agent"))
        .args(["params"])
        .arg(repo_root().join("params/scenarios/equal.yaml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader (`| head`) is gone before the command prints
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(status.code(), Some(101), "a panic's exit status: {stderr}");
}
