//! One harness per surface that takes outside input. Each turns the bytes into that input, runs the
//! loader or decoder, and on success goes one step further (builds the router, routes records, reads
//! every line), so what validation lets through is exercised too.

use crate::Target;
use sas_agent::eval::{self, EvalConfig};
use sas_agent::offline::{DatasetReader, Meta};
use sas_learner::Transition;
use sas_router::params::Params;
use sas_router::partitioner::{HotKeyMode, HotRouting, RouterConfig, build};
use sas_router::workload::Workload;
use std::path::{Path, PathBuf};

/// Every target, by name.
pub fn all() -> Vec<Box<dyn Target>> {
    vec![Box::new(ParamsTarget), Box::new(ActionTarget), Box::new(DatasetTarget)]
}

/// The repository's `params/` folder.
fn params_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../params")
}

/// A params file and `KEY=VALUE` overrides: the lines that start with `#set ` (YAML comments, so the
/// file part parses without them) are overrides.
#[derive(Debug)]
pub struct ParamsTarget;

impl Target for ParamsTarget {
    fn name(&self) -> &'static str {
        "params"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(params_dir())
            .map(|dir| {
                dir.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
                    .filter_map(|p| std::fs::read(p).ok())
                    .collect()
            })
            .unwrap_or_default();
        seeds.push(
            b"task: wordcount\npartitioner: saspartitioner\nworkers: 8\nrecords: 100\n\
              #set router.hot_keys.count=12\n#set agent.address=http://127.0.0.1:1\n"
                .to_vec(),
        );
        seeds
    }

    fn run(&mut self, input: &[u8]) -> bool {
        let text = String::from_utf8_lossy(input);
        let overrides: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("#set ")).collect();
        // A base folder with no files: relative paths resolve to nothing readable.
        let Ok(params) = Params::parse_with(&text, "fuzz", Path::new("/nonexistent"), &overrides) else {
            return false;
        };
        let _ = params.job_view();
        let _ = params.session_key();
        let config = EvalConfig::from_params(&params, eval::all_partitioners(), false);
        let Ok(mut router) = build(&params.partitioner, &config.router) else {
            return true;
        };
        if let Ok(workload) = Workload::new(&config.workload) {
            let n = router.workers();
            for (i, r) in workload.iter().take(300).enumerate() {
                assert!(router.route(r.key, r.ts_ms) < n, "route out of range");
                if i % 100 == 99 {
                    router.end_interval(&vec![1.0; n as usize]);
                }
            }
        }
        true
    }
}

/// A `saspartitioner` action: the first byte picks a router (workers, hot keys, detection, per-record
/// rule), the rest are little-endian f64 action elements (any count, any bits: NaN, infinities,
/// negatives).
#[derive(Debug)]
pub struct ActionTarget;

impl ActionTarget {
    fn config(selector: u8) -> RouterConfig {
        let mut config = RouterConfig {
            workers: [1, 2, 3, 8, 16, 64][usize::from(selector) % 6],
            ..RouterConfig::default()
        };
        config.hot_keys.count = [1, 5, 10, 30][usize::from(selector >> 3) % 4];
        config.hot_keys.mode = if selector & 0x20 == 0 {
            HotKeyMode::Static
        } else {
            HotKeyMode::Online
        };
        config.saspartitioner.hot_routing = if selector & 0x40 == 0 {
            HotRouting::Schedule
        } else {
            HotRouting::Deficit
        };
        config
    }
}

impl Target for ActionTarget {
    fn name(&self) -> &'static str {
        "action"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        (0u8..8)
            .map(|selector| {
                let dim = build("saspartitioner", &Self::config(selector))
                    .ok()
                    .and_then(|p| {
                        let mut p = p;
                        // The accepted dimension: the one whose action applies.
                        (0..200).find(|&d| p.apply_action(&vec![0.5; d]).is_ok())
                    })
                    .unwrap_or(0);
                let mut seed = vec![selector];
                for i in 0..dim {
                    seed.extend_from_slice(&((i % 7) as f64 / 7.0).to_le_bytes());
                }
                seed
            })
            .collect()
    }

    fn run(&mut self, input: &[u8]) -> bool {
        let Some((&selector, rest)) = input.split_first() else {
            return false;
        };
        let config = Self::config(selector);
        let Ok(mut router) = build("saspartitioner", &config) else {
            return false;
        };
        let action: Vec<f64> = rest
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8")))
            .collect();
        let accepted = router.apply_action(&action).is_ok();
        let n = router.workers();
        for i in 0..300u64 {
            assert!(router.route(i % 50, i) < n, "route out of range after an action");
            if i % 100 == 99 {
                router.end_interval(&vec![0.5; n as usize]);
            }
        }
        accepted
    }
}

/// An offline dataset: `meta.json`, an empty line, then the transition lines.
#[derive(Debug)]
pub struct DatasetTarget;

impl Target for DatasetTarget {
    fn name(&self) -> &'static str {
        "dataset"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let mask = sas_router::mask::Mask::zipf(4, 1.5, 10, 0, 0).expect("a valid mask");
        let meta = serde_json::to_string(&Meta::new(&mask, "fuzz seed")).expect("meta serialises");
        let line = |step: u64| {
            let t = Transition {
                step,
                obs: vec![1.0; 8],
                action: vec![0.5; mask.action_dim()],
                reward: 0.25,
                next_obs: vec![0.9; 8],
                terminated: false,
                truncated: step == 2,
                imbalance: 0.5,
                nmad: 0.25,
            };
            serde_json::to_string(&t).expect("a transition serialises")
        };
        vec![format!("{meta}\n\n{}\n{}\n{}\n", line(0), line(1), line(2)).into_bytes()]
    }

    fn run(&mut self, input: &[u8]) -> bool {
        let text = String::from_utf8_lossy(input);
        let (meta, lines) = text.split_once("\n\n").unwrap_or((&text, ""));
        let Ok(reader) = DatasetReader::from_reader(meta, Path::new("fuzz.jsonl"), lines.as_bytes()) else {
            return false;
        };
        let mut all_ok = true;
        for t in reader.take(10_000) {
            all_ok &= t.is_ok();
        }
        all_ok
    }
}
