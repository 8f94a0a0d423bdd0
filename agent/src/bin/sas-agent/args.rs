//! The flags of each `sas-agent` command.

use clap::{Args, ValueEnum};
use sas_agent::env::sim::SimConfig;
use sas_learner::config::{CqlConfig, SacConfig};
use std::path::PathBuf;

/// The simulated world of `simulate` and `collect-sim`: a job's params file, or these flags.
#[derive(Debug, Args)]
pub(crate) struct WorldArgs {
    /// Simulate the world of a job's params file (workers, stream, hot keys and mask, capacity
    /// factors, seed), so what is trained or collected here fits that job.
    #[arg(long, conflicts_with_all = [
        "workers", "alpha", "capacity_spread", "workload", "path", "text", "shuffle_keys", "hot_key_mode",
        "hot_key_shares",
    ])]
    pub(crate) params: Option<PathBuf>,
    /// The stream (default: Zipf(--alpha) generated): `file` replays a key-stream file (--path), `text`
    /// the words of a text (--text), each record in its order.
    #[arg(long, value_enum)]
    pub(crate) workload: Option<Workload>,
    /// Key-stream file of `--workload file`: one key per line.
    #[arg(long)]
    pub(crate) path: Option<PathBuf>,
    /// Text file of `--workload text`.
    #[arg(long)]
    pub(crate) text: Option<PathBuf>,
    /// Permute the Zipf key ids so they say nothing about popularity.
    #[arg(long)]
    pub(crate) shuffle_keys: bool,
    /// How the simulated routers find hot keys (default: online, as the routers' default; `static`, key
    /// id = rank, is a benchmark-only shortcut for the unshuffled generated stream).
    #[arg(long, value_enum)]
    pub(crate) hot_key_mode: Option<HotKeys>,
    /// Measured share of each hot rank, comma-separated (`sas-agent measure-hot-keys` prints them): the
    /// mask is drawn from these, and there are as many hot keys as shares. Without them the mask of the
    /// generated Zipf stream is drawn from --alpha, and that of any other stream (a file, a text, shuffled
    /// ids) from the shares the online detector measures on its first records (up to 2 million).
    #[arg(long, value_delimiter = ',')]
    pub(crate) hot_key_shares: Vec<f64>,
    /// Number of workers P.
    #[arg(long, default_value_t = SimConfig::default().workers)]
    pub(crate) workers: u32,
    /// Zipf exponent α of the stream (and of the mask, without --hot-key-shares).
    #[arg(long, default_value_t = SimConfig::default().alpha)]
    pub(crate) alpha: f64,
    /// Worker capacities drawn from [1 − s, 1 + s].
    #[arg(long, default_value_t = SimConfig::default().capacity_spread)]
    pub(crate) capacity_spread: f64,
}

#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// The world (a params file, or the stream, hot-key and worker flags).
    #[command(flatten)]
    pub(crate) world: WorldArgs,
    /// Draw each episode's utilisation from [0.7, this] (up to 1.5) instead of a fixed 0.7, so the
    /// policy sees the loads of a rate ramp.
    #[arg(long)]
    pub(crate) utilisation_max: Option<f64>,
    /// Zipf exponents the stream cycles through after the world's own, every --cycle-steps steps
    /// (e.g. `1.2,1.8`), so the policy learns to follow shifts of skew. The mask stays the world's.
    #[arg(long, value_delimiter = ',')]
    pub(crate) alpha_cycle: Vec<f64>,
    /// Steps of each exponent of --alpha-cycle.
    #[arg(long, default_value_t = 500)]
    pub(crate) cycle_steps: u64,
    /// Checkpoint directory to write (created; its files are replaced), servable by `sas-agent serve`.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Steps between two checkpoint saves (with --out).
    #[arg(long, default_value_t = 1000)]
    pub(crate) save_every: u64,
    /// Training steps.
    #[arg(long, default_value_t = 3000)]
    pub(crate) steps: u64,
    /// Seed of the world (with --params: the params' seed) and of the learner.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Steps of random actions first.
    #[arg(long, default_value_t = 200)]
    pub(crate) warmup_steps: u64,
    /// Gradient updates per step.
    #[arg(long, default_value_t = 1)]
    pub(crate) updates_per_step: usize,
    /// Actor learning rate (default: `SacConfig::simulator()`'s; the prototype's 1e-5 barely moves in
    /// a few thousand updates).
    #[arg(long, default_value_t = SacConfig::simulator().actor_lr)]
    pub(crate) actor_lr: f64,
    /// Steps over which the final policy and the initial table are measured.
    #[arg(long, default_value_t = 50)]
    pub(crate) eval_steps: u64,
    /// Print a JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TrainOfflineArgs {
    /// Dataset directory (from `collect-sim` or `bin/collect-offline.sh`).
    #[arg(long)]
    pub(crate) data: PathBuf,
    /// Checkpoint directory to write (created; its files are replaced).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Gradient updates.
    #[arg(long, default_value_t = 1500)]
    pub(crate) updates: u64,
    /// Updates of behaviour cloning before the actor follows the critics.
    #[arg(long, default_value_t = CqlConfig::default().bc_steps)]
    pub(crate) bc_steps: u64,
    /// Updates between two evaluations in the simulator (curve points and checkpoint saves).
    #[arg(long, default_value_t = 250)]
    pub(crate) eval_every: u64,
    /// Simulator steps per evaluation.
    #[arg(long, default_value_t = 50)]
    pub(crate) eval_steps: u64,
    /// Actor learning rate (the prototype's 1e-5 barely moves in a few thousand updates). Not with
    /// --init, which keeps the checkpoint's own rates and optimiser state.
    #[arg(long, default_value_t = CqlConfig::default().sac.actor_lr, conflicts_with = "init")]
    pub(crate) actor_lr: f64,
    /// Start from this checkpoint (e.g. `sas-agent simulate --out`) instead of fresh networks.
    #[arg(long)]
    pub(crate) init: Option<PathBuf>,
    /// Weight β of the conservative penalty (default: `CqlConfig::default()`'s; the prototype's 0.05 let
    /// the critics overrate unseen actions, docs/agent.md).
    #[arg(long, default_value_t = CqlConfig::default().min_q_weight)]
    pub(crate) min_q_weight: f32,
    /// Seed of the weights and of batch sampling.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PlotSweepArgs {
    /// The sweep's summary.csv.
    #[arg(long)]
    pub(crate) summary: PathBuf,
    /// The PNG to write.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Total emulated capacity drawn across the bars (default: from the runs' throughput.json beside the summary).
    #[arg(long)]
    pub(crate) capacity: Option<f64>,
}

#[derive(Debug, Args)]
pub(crate) struct PlotMatrixArgs {
    /// The matrix's matrix.csv.
    #[arg(long)]
    pub(crate) csv: PathBuf,
    /// The PNG to write.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Also print the table: per scenario and partitioner, the median of_capacity and its spread
    /// ((max − min) / median, %) over the repeats, and the median max_rate, p99 and λ.
    #[arg(long)]
    pub(crate) table: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ParamsArgs {
    /// The params file (`params/*.yaml`).
    pub(crate) file: PathBuf,
    /// Override a key, e.g. `--set agent.mode=collect` (repeatable; values are YAML).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) overrides: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Steps of the fake job whose reply latency is measured.
    #[arg(long, default_value_t = 2000)]
    pub(crate) steps: u64,
    /// SAC-N updates timed.
    #[arg(long, default_value_t = 200)]
    pub(crate) updates: usize,
    /// Print a JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SoakArgs {
    /// Concurrent job sessions (SERVE, one router each).
    #[arg(long, default_value_t = 100)]
    pub(crate) sessions: usize,
    /// Workers P of each session.
    #[arg(long, default_value_t = 128)]
    pub(crate) workers: u32,
    /// Reporting interval (ms): one step per interval per session, on the wall clock.
    #[arg(long, default_value_t = 1000)]
    pub(crate) interval_ms: u64,
    /// How long the sessions step (s).
    #[arg(long, default_value_t = 600)]
    pub(crate) duration_s: u64,
    /// Leading seconds left out of the latencies; memory growth counts from their end.
    #[arg(long, default_value_t = 30)]
    pub(crate) warmup_s: u64,
    /// Seconds between two samples of resident memory.
    #[arg(long, default_value_t = 10)]
    pub(crate) rss_every_s: u64,
    /// Spread the sessions' reports over the interval (session i reports i/N of an interval after its
    /// end) instead of all at the interval's end: the same rate without the burst.
    #[arg(long)]
    pub(crate) spread: bool,
    /// Send each report as its own call (P `ReportWorker` calls, then a `ReportRouter`) instead of one
    /// `Report` batch per session and interval, as the routers' link sends them.
    #[arg(long)]
    pub(crate) unary: bool,
    /// Drive a running agent at this address instead of one started in this process (its
    /// `max_sessions` must allow --sessions).
    #[arg(long)]
    pub(crate) addr: Option<String>,
    /// With --addr: the agent's process id, whose resident memory and CPU time are sampled.
    #[arg(long, requires = "addr")]
    pub(crate) server_pid: Option<u32>,
    /// Print a JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// YAML settings (every key optional; see docs/agent.md). Default: 127.0.0.1:50051, metrics :9464.
    #[arg(long)]
    pub(crate) config: Option<std::path::PathBuf>,
    /// Accept a `bind`/`metrics_bind` beyond loopback (as `allow_remote: true`). The agent trusts its
    /// clients and speaks plaintext: put a TLS-terminating proxy in front (docs/agent.md).
    #[arg(long)]
    pub(crate) allow_remote: bool,
}

#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// The agent's gRPC address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub(crate) addr: String,
}

/// The experiment of `eval-routers` and `measure-hot-keys`: a params file (`--params`, default
/// `params/eval-routers.yaml`, embedded in the binary); every other flag overrides one of its keys, as
/// `--set KEY=VALUE` does.
#[derive(Debug, Args)]
pub(crate) struct StreamArgs {
    /// Params file of the experiment to replay (default: the embedded `params/eval-routers.yaml`:
    /// 32 workers, Zipf 1.5 over 100 000 keys, 2 million records, seed 7).
    #[arg(long)]
    pub(crate) params: Option<PathBuf>,
    /// Override a params key, e.g. `--set router.hot_keys.true_hot_keys=4` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) overrides: Vec<String>,
    /// Workload generator (`workload.kind`).
    #[arg(long, value_enum)]
    pub(crate) workload: Option<Workload>,
    /// Zipf exponent α (`workload.alpha` and the mask's `router.hot_keys.alpha`).
    #[arg(long)]
    pub(crate) alpha: Option<f64>,
    /// Number of distinct keys (`workload.keys`).
    #[arg(long)]
    pub(crate) keys: Option<u64>,
    /// Number of records to replay (`records`).
    #[arg(long)]
    pub(crate) records: Option<u64>,
    /// Number of workers P (`workers`).
    #[arg(long)]
    pub(crate) workers: Option<u32>,
    /// Seed of the stream and of every partitioner (`seed`).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Records per second of event time (`workload.rate`).
    #[arg(long)]
    pub(crate) rate: Option<u64>,
    /// Number of hot keys: rows of SaS routing tables, keys whose fragmentation is averaged
    /// (`router.hot_keys.count`).
    #[arg(long)]
    pub(crate) hot_keys: Option<usize>,
    /// Permute key ids so they say nothing about popularity (`workload.shuffle_keys`).
    #[arg(long)]
    pub(crate) shuffle_keys: bool,
    /// Text file of the `text` workload (`workload.text_path`).
    #[arg(long)]
    pub(crate) text: Option<PathBuf>,
    /// Key-stream file of the `file` workload, one key per line or a CSV (`workload.path`; relative to
    /// the working directory).
    #[arg(long)]
    pub(crate) path: Option<PathBuf>,
    /// `file` workload: the CSV column holding the key, a header name or a 0-based index
    /// (`workload.csv_column`); without it each line is a key.
    #[arg(long)]
    pub(crate) csv_column: Option<String>,
    /// `file` workload: the CSV field separator (`workload.csv_delimiter`, default `,`).
    #[arg(long)]
    pub(crate) csv_delimiter: Option<char>,
    /// `file` workload: the CSV has no header line; its first line is a record (`workload.csv_header`).
    #[arg(long)]
    pub(crate) csv_no_header: bool,
}

impl StreamArgs {
    /// The flags as `KEY=VALUE` overrides of the params, in flag order, without the `--set`s.
    pub(crate) fn flag_overrides(&self) -> Vec<String> {
        let mut sets = Vec::new();
        if let Some(w) = self.workload {
            sets.push(format!("workload.kind={}", w.name()));
        }
        if let Some(a) = self.alpha {
            sets.push(format!("workload.alpha={a}"));
            sets.push(format!("router.hot_keys.alpha={a}"));
        }
        let pairs = [
            ("workload.keys", self.keys.map(|v| v.to_string())),
            ("records", self.records.map(|v| v.to_string())),
            ("workers", self.workers.map(|v| v.to_string())),
            ("seed", self.seed.map(|v| v.to_string())),
            ("workload.rate", self.rate.map(|v| v.to_string())),
            ("router.hot_keys.count", self.hot_keys.map(|v| v.to_string())),
            ("workload.text_path", self.text.as_ref().map(|t| t.display().to_string())),
            ("workload.path", self.path.as_deref().map(cli_path)),
            ("workload.csv_column", self.csv_column.as_deref().map(csv_column)),
            ("workload.csv_delimiter", self.csv_delimiter.map(yaml_string)),
        ];
        sets.extend(pairs.into_iter().filter_map(|(key, v)| v.map(|v| format!("{key}={v}"))));
        if self.shuffle_keys {
            sets.push("workload.shuffle_keys=true".into());
        }
        if self.csv_no_header {
            sets.push("workload.csv_header=false".into());
        }
        sets
    }
}

/// `eval-routers`: the experiment's stream through every partitioner asked for.
#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// The experiment (a params file and overrides of its keys).
    #[command(flatten)]
    pub(crate) stream: StreamArgs,
    /// Comma-separated partitioner names (default: all).
    #[arg(long, value_delimiter = ',')]
    pub(crate) partitioners: Option<Vec<String>>,
    /// Metric and aggregation window, ms of event time (`window_ms`).
    #[arg(long)]
    pub(crate) window_ms: Option<u64>,
    /// Slide of the aggregation window, ms; also the hot interval of DAGreedy and Dalton (`slide_ms`).
    #[arg(long)]
    pub(crate) slide_ms: Option<u64>,
    /// Hot-key detection of saspartitioner and dalton-offline (`router.hot_keys.mode`, default online:
    /// heavy hitters found in the stream; `static`, key id = rank, is a benchmark-only shortcut true of
    /// the unshuffled Zipf generator alone).
    #[arg(long, value_enum)]
    pub(crate) hot_key_mode: Option<HotKeys>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

impl EvalArgs {
    /// The flags as `KEY=VALUE` overrides of the params, in flag order, then the `--set`s.
    pub(crate) fn as_overrides(&self) -> Vec<String> {
        let mut sets = self.stream.flag_overrides();
        let pairs = [
            ("window_ms", self.window_ms.map(|v| v.to_string())),
            ("slide_ms", self.slide_ms.map(|v| v.to_string())),
            ("router.hot_keys.mode", self.hot_key_mode.map(|m| m.name().to_string())),
        ];
        sets.extend(pairs.into_iter().filter_map(|(key, v)| v.map(|v| format!("{key}={v}"))));
        sets.extend(self.stream.overrides.iter().cloned());
        sets
    }
}

/// `measure-hot-keys`: the share of the experiment's stream each hot rank takes.
#[derive(Debug, Args)]
pub(crate) struct MeasureArgs {
    /// The experiment (a params file and overrides of its keys): its stream, workers P (the detector's
    /// thresholds are 1/(5P) and 1/(10P)), hot keys K and `router.hot_keys.online` settings.
    #[command(flatten)]
    pub(crate) stream: StreamArgs,
    /// Print JSON instead of a params snippet.
    #[arg(long)]
    pub(crate) json: bool,
}

impl MeasureArgs {
    /// The flags as `KEY=VALUE` overrides of the params, then the `--set`s.
    pub(crate) fn as_overrides(&self) -> Vec<String> {
        let mut sets = self.stream.flag_overrides();
        sets.extend(self.stream.overrides.iter().cloned());
        sets
    }
}

/// `text` as a YAML string (override values are YAML, and a path or a delimiter may hold `:`, `#`, `,`).
fn yaml_string(text: impl std::fmt::Display) -> String {
    // Cannot fail: a string serialises to JSON, which is YAML.
    serde_json::to_string(&text.to_string()).expect("a string serialises")
}

/// A path given on the command line as YAML: relative to the working directory, not to the params
/// file's repository as a path written in the file is.
fn cli_path(path: &std::path::Path) -> String {
    yaml_string(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display())
}

/// A CSV column as YAML: a whole number stays one (an index), anything else is a name.
fn csv_column(column: &str) -> String {
    if column.parse::<usize>().is_ok() {
        column.to_string()
    } else {
        yaml_string(column)
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Workload {
    Zipf,
    ZipfSequence,
    ZipfDriftingKey,
    Text,
    File,
}

impl Workload {
    /// The `workload.kind` of params files.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Workload::Zipf => "zipf",
            Workload::ZipfSequence => "zipf-sequence",
            Workload::ZipfDriftingKey => "zipf-drifting-key",
            Workload::Text => "text",
            Workload::File => "file",
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum HotKeys {
    Static,
    Online,
}

impl HotKeys {
    /// The `router.hot_keys.mode` of params files.
    pub(crate) fn name(self) -> &'static str {
        match self {
            HotKeys::Static => "static",
            HotKeys::Online => "online",
        }
    }

    /// The router core's mode.
    pub(crate) fn mode(self) -> sas_router::partitioner::HotKeyMode {
        match self {
            HotKeys::Static => sas_router::partitioner::HotKeyMode::Static,
            HotKeys::Online => sas_router::partitioner::HotKeyMode::Online,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct MaskArgs {
    /// Number of workers P.
    #[arg(long)]
    pub(crate) workers: u32,
    /// Zipf exponent α of the popularity the mask assumes (default 1.5, `router.hot_keys.alpha`'s).
    #[arg(long, conflicts_with = "shares")]
    pub(crate) alpha: Option<f64>,
    /// Measured share of each hot rank, comma-separated (`router.hot_keys.shares`, as
    /// `sas-agent measure-hot-keys` prints them), instead of an assumed --alpha.
    #[arg(long, value_delimiter = ',')]
    pub(crate) shares: Vec<f64>,
    /// Number of hot-key candidates (default: one per share, or 10).
    #[arg(long)]
    pub(crate) hot_keys: Option<usize>,
    /// Number of true hot keys (default: decided by the heuristic).
    #[arg(long, default_value_t = 0)]
    pub(crate) true_hot_keys: usize,
    /// Leading true hot keys allowed on every worker.
    #[arg(long, default_value_t = 0)]
    pub(crate) spread_keys: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CollectSimArgs {
    /// The world (a params file, or the stream, hot-key and worker flags).
    #[command(flatten)]
    pub(crate) world: WorldArgs,
    /// Transitions to record.
    #[arg(long)]
    pub(crate) steps: u64,
    /// Seed of the capacities, the stream and the behaviour policy (with --params: the params' seed).
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Dataset directory (created; an existing dataset there is replaced).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Steps per logical episode (the last one is marked truncated).
    #[arg(long, default_value_t = 128)]
    pub(crate) episode_length: u64,
    /// Records routed per step (one second of event time) [default: the params' `workload.rate` with
    /// --params, else the simulator's default]
    #[arg(long)]
    pub(crate) records_per_step: Option<u64>,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ShiftReportArgs {
    /// The agent's step log (`step_log` in its settings).
    #[arg(long)]
    pub(crate) steps: PathBuf,
    /// The params the job ran with (a `zipf-sequence` workload, one source).
    #[arg(long)]
    pub(crate) params: PathBuf,
    /// Folder to write shift.json and lambda.png into.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// λ a shift must bring the job back under.
    #[arg(long, default_value_t = 0.1)]
    pub(crate) threshold: f64,
    /// Steps after the start and after each shift left out of the steady state.
    #[arg(long, default_value_t = 5)]
    pub(crate) settle_steps: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}
