//! One experiment, one shape: every file in `params/` is read once, by the core's `Params`, and each
//! tool's view of it is derived from that. This test loads every file and checks that the evaluator, the
//! simulator and the Flink job (the job view handed to Java through JNI) see the same values.

use sas_agent::env::sim::SimConfig;
use sas_agent::eval::{self, EvalConfig};
use sas_router::params::Params;
use sas_router::partitioner::{DaltonOffline, HotKeyMode, SasPartitioner};
use sas_router::workload::WorkloadConfig;
use std::path::{Path, PathBuf};

fn params_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../params");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 8,
        "expected the shipped params files in {}",
        dir.display()
    );
    files
}

fn load(path: &Path) -> Params {
    Params::load_with(path, &[] as &[&str]).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_evaluator_replays_the_experiment_of_every_params_file() {
    for path in params_files() {
        let p = load(&path);
        let name = path.display();
        let eval = EvalConfig::from_params(&p, eval::all_partitioners(), false);
        let router = p.router_config();
        assert_eq!(eval.router, router, "{name}: router settings");
        assert_eq!(
            (eval.router.workers, eval.router.seed, eval.router.num_keys),
            (p.workers, p.seed, p.workload.keys),
            "{name}: workers, seed, keys"
        );
        assert_eq!(
            (eval.router.window_ms, eval.router.slide_ms, eval.window_ms),
            (p.window_ms, p.slide_ms, p.window_ms),
            "{name}: windows"
        );
        assert_eq!(eval.workload, p.workload_config(), "{name}: stream");
        assert_eq!(eval.records, p.records, "{name}: records");
        assert_eq!(eval.hot_keys, p.router.hot_keys.count, "{name}: hot keys");
    }
}

#[test]
fn the_simulator_models_the_world_of_every_params_file() {
    let (mut generated, mut replayed) = (0, 0);
    for path in params_files() {
        let p = load(&path);
        let name = path.display();
        // Every workload kind and both hot-key modes are simulated (issue #14 item 4).
        let sim = SimConfig::from_params(&p, 100).unwrap_or_else(|e| panic!("{name}: {e}"));
        let job = p.router_config();
        let hot = &p.router.hot_keys;
        match &sim.workload {
            // The job's own stream, replayed record by record, one step per second of event time.
            Some(stream) => {
                assert_eq!(*stream, p.workload_config(), "{name}: stream");
                assert_eq!(
                    sim.workload_config(sim.alpha),
                    WorkloadConfig {
                        rate: sim.records_per_step,
                        ..p.workload_config()
                    },
                    "{name}: stream"
                );
                assert_eq!(sim.keys, p.workload.keys, "{name}: keys");
                replayed += 1;
            }
            // The simulator's Zipf stream with the job's exponent and key count.
            None => {
                let first = p.workload.phases.first();
                assert!(!p.workload.shuffle_keys, "{name}: shuffled keys are not ranks");
                assert_eq!(
                    sim.keys,
                    first.map_or(p.workload.keys, |ph| ph.keys),
                    "{name}: keys"
                );
                assert_eq!(
                    sim.alpha,
                    first.map_or(p.workload.alpha, |ph| ph.alpha),
                    "{name}: alpha"
                );
                assert_eq!(
                    sim.workload_config(sim.alpha).seed,
                    p.workload_config().seed,
                    "{name}: stream seed"
                );
                generated += 1;
            }
        }
        assert_eq!(sim.workers, p.workers, "{name}: workers");
        assert_eq!(sim.seed, p.seed, "{name}: seed");
        assert_eq!(sim.router_config().hot_keys, job.hot_keys, "{name}: hot-key detection");
        assert_eq!(
            (sim.hot_keys, sim.true_hot_keys, sim.spread_keys, sim.mask_alpha()),
            (hot.count, hot.true_hot_keys, hot.spread_keys, hot.alpha),
            "{name}: hot keys"
        );
        // The job's own `capacity:` section, its partial cost resolved as the job view resolves it.
        assert_eq!(
            sim.capacity,
            sas_router::params::CapacityConfig {
                partial_cost: Some(p.job_view().partial_cost),
                ..p.capacity.clone()
            },
            "{name}: capacity"
        );
        let ours = SasPartitioner::new(&sim.router_config()).unwrap();
        let theirs = SasPartitioner::new(&job).unwrap();
        assert_eq!(ours.mask(), theirs.mask(), "{name}: mask (the action layout)");
        // The behaviour policy of offline collection shares that layout, in the job and the simulator.
        let behaviour = DaltonOffline::new(&sim.router_config()).unwrap();
        assert_eq!(behaviour.mask(), theirs.mask(), "{name}: dalton-offline's mask");
    }
    assert!(generated >= 4, "only {generated} params files have the generated stream");
    assert!(replayed >= 1, "no params file has a replayed stream");
}

/// The Flink job reads the job view (through JNI; `ParamsAndLoadingTest` checks that `JobParams`
/// equals it field by field); here the view must say what the router, the evaluator and the simulator
/// are given.
#[test]
fn the_flink_job_sees_the_values_the_other_tools_see() {
    for path in params_files() {
        let p = load(&path);
        let name = path.display();
        let job = p.job_view();
        let eval = EvalConfig::from_params(&p, eval::all_partitioners(), false);
        assert_eq!(
            (job.workers, job.seed, job.window_ms, job.slide_ms),
            (
                eval.router.workers,
                eval.router.seed,
                eval.router.window_ms,
                eval.router.slide_ms
            ),
            "{name}: workers, seed, windows"
        );
        assert_eq!(job.records, eval.records, "{name}: records");
        assert_eq!(job.hot_keys, eval.router.hot_keys.count, "{name}: hot keys");
        assert_eq!(job.workload_rate, eval.workload.rate, "{name}: event-time rate");
        assert_eq!(
            job.capacity.len(),
            p.workers as usize,
            "{name}: one capacity per worker"
        );
        for (w, &c) in job.capacity.iter().enumerate() {
            assert_eq!(
                c,
                p.capacity_of(w).unwrap_or(0.0),
                "{name}: capacity of worker {w}"
            );
        }
        // The simulator's capacity factors are the job's capacities relative to the base rate.
        let sim = SimConfig::from_params(&p, 100).unwrap_or_else(|e| panic!("{name}: {e}"));
        let base = p.capacity.units_per_second;
        for (w, &c) in job.capacity.iter().enumerate() {
            let factor = sim.capacity_factor_at(w, 0);
            assert_eq!(
                c,
                base * factor,
                "{name}: capacity of worker {w} in the simulator"
            );
        }
    }
}

/// Issue #14 item 4: online hot keys are the default everywhere; `static` (key id = rank) is a
/// benchmark-only shortcut, so a shipped params file may set it only over a stream whose ids are ranks
/// (the unshuffled generated Zipf), and must say why in a comment.
#[test]
fn shipped_params_run_online_hot_keys_unless_a_benchmark_needs_ranks() {
    for path in params_files() {
        let p = load(&path);
        let name = path.display();
        if p.router.hot_keys.mode == HotKeyMode::Online {
            continue;
        }
        let w = &p.workload;
        assert!(
            matches!(w.kind.as_str(), "zipf" | "zipf-sequence" | "zipf-drifting-key") && !w.shuffle_keys,
            "{name}: static hot keys over a stream whose key ids are not ranks"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let line = text.lines().find(|l| l.contains("mode: static")).unwrap_or_default();
        assert!(line.contains('#'), "{name}: `mode: static` without a comment saying why: {line}");
    }
}

/// The mask from measured shares (`router.hot_keys.shares`) is the one every tool draws: the routers and
/// the behaviour policy of the job, the evaluator's, and the simulator's, and it is not Zipf's.
#[test]
fn measured_shares_give_every_tool_the_same_mask() {
    let yaml = "task: wordcount\npartitioner: saspartitioner\nworkers: 16\nrecords: 100000\nseed: 3\n\
                workload: {kind: zipf, shuffle_keys: true, keys: 10000}\n\
                router: {hot_keys: {count: 5, shares: [0.2, 0.2, 0.15, 0.1, 0.05]}}\n";
    let p = Params::parse(yaml, "shares.yaml").unwrap();
    let job = p.router_config();
    assert_eq!(job.hot_keys.mode, HotKeyMode::Online);
    let mask = job.hot_keys.mask(16).unwrap();
    let mut assumed = job.hot_keys.clone();
    assumed.shares.clear();
    assert_ne!(mask, assumed.mask(16).unwrap(), "the shares should give another mask than Zipf(1.5)");

    let eval = EvalConfig::from_params(&p, eval::all_partitioners(), false);
    let sim = SimConfig::from_params(&p, 100).unwrap();
    for (tool, config) in [("job", &job), ("evaluator", &eval.router), ("simulator", &sim.router_config())] {
        assert_eq!(SasPartitioner::new(config).unwrap().mask(), &mask, "{tool}: saspartitioner");
        assert_eq!(DaltonOffline::new(config).unwrap().mask(), &mask, "{tool}: dalton-offline");
    }
    // The simulator's own serialisation (what a collected dataset records as its producer) keeps them.
    let json = serde_json::to_string(&sim).unwrap();
    let back: SimConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back.router_config().hot_keys.mask(16).unwrap(), mask);
}

/// `sas-agent simulate --params` reads a scenario file as the job does: its relative paths against the
/// parent of the file's folder, wherever the command runs (the matrix trains every scenario's policy so).
#[test]
fn simulate_resolves_a_scenario_files_paths_as_the_job_does() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let scenario = root.join("params/scenarios/text.yaml");
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sas-agent"))
        .current_dir(dir.path())
        .arg("simulate")
        .arg("--params")
        .arg(&scenario)
        .args(["--steps", "2", "--warmup-steps", "2", "--eval-steps", "1", "--json", "--out"])
        .arg(dir.path().join("policy"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
