//! One harness per surface that takes outside input. Each turns the bytes into that input, runs the
//! loader or decoder, and on success goes one step further (builds the router, routes records, reads
//! every line), so what validation lets through is exercised too.

use crate::Target;
use sas_agent::eval::{self, EvalConfig};
use sas_agent::offline::{DatasetReader, Meta};
use sas_learner::Transition;
use sas_router::params::Params;
use sas_router::partitioner::{HotKeyMode, HotRouting, RouterConfig, build};
use sas_router::workload::{Workload, WorkloadConfig};
use std::path::{Path, PathBuf};

/// Every target, by name.
pub fn all() -> Vec<Box<dyn Target>> {
    vec![
        Box::new(ParamsTarget),
        Box::new(ActionTarget),
        Box::new(DatasetTarget),
        Box::new(GrpcTarget::default()),
        Box::new(CheckpointTarget::default()),
    ]
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
        if let Ok(workload) = Workload::new(&routing_sample(&config.workload)) {
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

/// Keys of a shuffled workload the params target routes: its check needs 300 records, not a
/// permutation of up to 2^24 keys drawn for each input (the core's own tests cover drawing it).
const SAMPLE_SHUFFLED_KEYS: u64 = 1 << 12;

/// The workload whose first records the params target routes: `workload` itself, with a shuffled key
/// space cut to [`SAMPLE_SHUFFLED_KEYS`] so that building it costs what validating it costs.
fn routing_sample(workload: &WorkloadConfig) -> WorkloadConfig {
    let mut sample = workload.clone();
    if sample.shuffle_keys {
        sample.keys = sample.keys.min(SAMPLE_SHUFFLED_KEYS);
        for phase in &mut sample.phases {
            phase.keys = phase.keys.min(SAMPLE_SHUFFLED_KEYS);
        }
    }
    sample
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

/// The agent's rpc handlers called directly (no socket), as a hostile client would drive them: the
/// input is a sequence of `[kind][length: u16 LE][protobuf bytes]` records, each decoded as an
/// `OpenSession`, worker report, router report, `SubscribeTables`, `CloseSession` or `Report` batch
/// request (kinds 0 to 5, modulo 6). An empty
/// `session_id` means the last session opened, so mutated reports reach live sessions. Every input
/// starts from a fresh server whose clock is fixed at interval [`GrpcTarget::NOW_INTERVAL`].
#[derive(Debug)]
pub struct GrpcTarget {
    runtime: tokio::runtime::Runtime,
}

impl Default for GrpcTarget {
    fn default() -> Self {
        Self {
            // Cannot fail on a machine that runs tests: a current-thread runtime needs no threads.
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime"),
        }
    }
}

impl GrpcTarget {
    /// The agent's clock, in intervals of the seeds' 100 ms.
    pub const NOW_INTERVAL: u64 = 10_000;

    fn record(kind: u8, message: &impl prost::Message) -> Vec<u8> {
        let bytes = message.encode_to_vec();
        let mut out = vec![kind];
        out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        out.extend_from_slice(&bytes);
        out
    }
}

impl Target for GrpcTarget {
    fn name(&self) -> &'static str {
        "grpc"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        use sas_agent::fake_job;
        use sas_agent::pb::{self, SessionMode};
        let mut seeds = Vec::new();
        for mode in [SessionMode::Serve, SessionMode::Train, SessionMode::Collect] {
            let mut seed = Self::record(0, &fake_job::open_request("fuzz", 4, mode));
            for interval in Self::NOW_INTERVAL - 2..Self::NOW_INTERVAL {
                for w in 0..4 {
                    seed.extend(Self::record(1, &fake_job::worker_report("", interval, w, 50.0)));
                }
                let mut router = fake_job::router_report("", interval, vec![10, 20, 30, 40]);
                if mode == SessionMode::Collect {
                    router.pair_counts = vec![1; 8];
                }
                seed.extend(Self::record(2, &router));
            }
            // The next interval as one batch, as the routers' link sends it.
            let next = Self::NOW_INTERVAL + 1;
            let batch = pb::ReportBatch {
                session_id: String::new(),
                workers: (0..4).map(|w| fake_job::worker_report("", next, w, 30.0)).collect(),
                routers: vec![fake_job::router_report("", next, vec![40, 30, 20, 10])],
            };
            seed.extend(Self::record(5, &batch));
            seed.extend(Self::record(3, &pb::SubscribeRequest::default()));
            seed.extend(Self::record(4, &pb::CloseSessionRequest::default()));
            seeds.push(seed);
        }
        seeds
    }

    fn run(&mut self, input: &[u8]) -> bool {
        use prost::Message;
        use sas_agent::pb::{self, agent_server::Agent};
        use sas_agent::server::{AgentClock, AgentService, InitialTableFactory, ManualClock, ServeConfig};
        use std::sync::Arc;
        use tonic::Request;
        let config = ServeConfig {
            clock: AgentClock::new(ManualClock::new(Self::NOW_INTERVAL * 100 + 50)),
            ..ServeConfig::default()
        };
        let Ok(service) = AgentService::new(&config, Arc::new(InitialTableFactory::new(None))) else {
            return false;
        };
        let mut rest = input;
        let mut last = String::new();
        let mut accepted = false;
        self.runtime.block_on(async {
            while rest.len() >= 3 {
                let (kind, len) = (rest[0], usize::from(u16::from_le_bytes([rest[1], rest[2]])));
                let end = (3 + len).min(rest.len());
                let bytes = &rest[3..end];
                rest = &rest[end..];
                let session = |id: String| if id.is_empty() { last.clone() } else { id };
                match kind % 6 {
                    0 => {
                        let Ok(r) = pb::OpenSessionRequest::decode(bytes) else {
                            continue;
                        };
                        if let Ok(reply) = service.open_session(Request::new(r)).await {
                            last = reply.into_inner().session_id;
                            accepted = true;
                        }
                    }
                    1 => {
                        let Ok(mut r) = pb::WorkerReport::decode(bytes) else {
                            continue;
                        };
                        r.session_id = session(r.session_id);
                        accepted |= service.report_worker(Request::new(r)).await.is_ok();
                    }
                    2 => {
                        let Ok(mut r) = pb::RouterReport::decode(bytes) else {
                            continue;
                        };
                        r.session_id = session(r.session_id);
                        accepted |= service.report_router(Request::new(r)).await.is_ok();
                    }
                    3 => {
                        let Ok(mut r) = pb::SubscribeRequest::decode(bytes) else {
                            continue;
                        };
                        r.session_id = session(r.session_id);
                        // The stream is dropped at once: a subscriber that leaves.
                        accepted |= service.subscribe_tables(Request::new(r)).await.is_ok();
                    }
                    4 => {
                        let Ok(mut r) = pb::CloseSessionRequest::decode(bytes) else {
                            continue;
                        };
                        r.session_id = session(r.session_id);
                        accepted |= service.close_session(Request::new(r)).await.is_ok();
                    }
                    _ => {
                        let Ok(mut r) = pb::ReportBatch::decode(bytes) else {
                            continue;
                        };
                        r.session_id = session(r.session_id);
                        accepted |= service.report(Request::new(r)).await.is_ok();
                    }
                }
            }
        });
        accepted
    }
}

/// A checkpoint directory: the input is `config.json`, the weights and the optimizer state, each as
/// `[length: u32 LE][bytes]`, written to a scratch folder and loaded with the learner's loader as
/// `sas-agent serve` loads one (observations of 8, actions of 5).
#[derive(Debug)]
pub struct CheckpointTarget {
    dir: PathBuf,
}

impl Default for CheckpointTarget {
    fn default() -> Self {
        Self {
            dir: std::env::temp_dir().join(format!("sas-fuzz-checkpoint-{}", std::process::id())),
        }
    }
}

impl Drop for CheckpointTarget {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl CheckpointTarget {
    const OBS: usize = 8;
    const ACT: usize = 5;
    const FILES: [&'static str; 3] = [
        sas_learner::checkpoint::CONFIG_FILE,
        sas_learner::checkpoint::WEIGHTS_FILE,
        sas_learner::checkpoint::OPTIMIZER_FILE,
    ];
}

impl Target for CheckpointTarget {
    fn name(&self) -> &'static str {
        "checkpoint"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let config = sas_learner::SacConfig {
            hidden_sizes: vec![8, 8],
            ..sas_learner::SacConfig::default()
        };
        let Ok(sac) = sas_learner::SacN::new(Self::OBS, Self::ACT, &config) else {
            return Vec::new();
        };
        if sas_learner::checkpoint::save(&self.dir, &sac, &[[0, 3], [1, 4]]).is_err() {
            return Vec::new();
        }
        let mut seed = Vec::new();
        for file in Self::FILES {
            let bytes = std::fs::read(self.dir.join(file)).unwrap_or_default();
            seed.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            seed.extend_from_slice(&bytes);
        }
        vec![seed]
    }

    fn run(&mut self, input: &[u8]) -> bool {
        let mut rest = input;
        for file in Self::FILES {
            let len = rest
                .get(..4)
                .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
            let start = rest.len().min(4);
            let end = (start + len).min(rest.len());
            if std::fs::create_dir_all(&self.dir).is_err()
                || std::fs::write(self.dir.join(file), &rest[start..end]).is_err()
            {
                return false;
            }
            rest = &rest[end..];
        }
        let expected = sas_learner::Expected {
            obs_dim: Self::OBS,
            act_dim: Self::ACT,
            mask: None,
        };
        sas_learner::checkpoint::load(&self.dir, &expected).is_ok()
    }
}
