//! The flags of each `sas-agent` command.

use clap::{Args, ValueEnum};
use sas_agent::env::sim::SimConfig;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// Simulate the world of a job's params file (workers, Zipf stream, hot keys, capacity factors),
    /// so the checkpoint written by --out can be served to that job.
    #[arg(long, conflicts_with_all = ["workers", "alpha", "capacity_spread"])]
    pub(crate) params: Option<PathBuf>,
    /// Number of workers P.
    #[arg(long, default_value_t = 32)]
    pub(crate) workers: u32,
    /// Zipf exponent α of the stream (and of the mask).
    #[arg(long, default_value_t = 1.5)]
    pub(crate) alpha: f64,
    /// Worker capacities drawn from [1 − s, 1 + s].
    #[arg(long, default_value_t = 0.0)]
    pub(crate) capacity_spread: f64,
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
    /// Seed of the world and of the learner.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Steps of random actions first.
    #[arg(long, default_value_t = 200)]
    pub(crate) warmup_steps: u64,
    /// Gradient updates per step.
    #[arg(long, default_value_t = 1)]
    pub(crate) updates_per_step: usize,
    /// Actor learning rate (the prototype's 1e-5 barely moves in a few thousand updates).
    #[arg(long, default_value_t = 3e-4)]
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
    #[arg(long, default_value_t = 200)]
    pub(crate) bc_steps: u64,
    /// Updates between two evaluations in the simulator (curve points and checkpoint saves).
    #[arg(long, default_value_t = 250)]
    pub(crate) eval_every: u64,
    /// Simulator steps per evaluation.
    #[arg(long, default_value_t = 50)]
    pub(crate) eval_steps: u64,
    /// Actor learning rate (the prototype's 1e-5 barely moves in a few thousand updates). Not with
    /// --init, which keeps the checkpoint's own rates and optimiser state.
    #[arg(long, default_value_t = 1e-4, conflicts_with = "init")]
    pub(crate) actor_lr: f64,
    /// Start from this checkpoint (e.g. `sas-agent simulate --out`) instead of fresh networks.
    #[arg(long)]
    pub(crate) init: Option<PathBuf>,
    /// Weight β of the conservative penalty. The prototype's 0.05 let the critics overrate unseen
    /// actions and the policy followed them (λ 1.37 against the behaviour's 1.26, docs/agent.md).
    #[arg(long, default_value_t = 2.0)]
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
pub(crate) struct ServeArgs {
    /// YAML settings (every key optional; see docs/agent.md). Default: 127.0.0.1:50051, metrics :9464.
    #[arg(long)]
    pub(crate) config: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// The agent's gRPC address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub(crate) addr: String,
}

#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// Workload generator.
    #[arg(long, value_enum, default_value_t = Workload::Zipf)]
    pub(crate) workload: Workload,
    /// Zipf exponent α.
    #[arg(long, default_value_t = 1.5)]
    pub(crate) alpha: f64,
    /// Number of distinct keys.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) keys: u64,
    /// Number of records to replay.
    #[arg(long, default_value_t = 2_000_000)]
    pub(crate) records: u64,
    /// Number of workers P.
    #[arg(long, default_value_t = 32)]
    pub(crate) workers: u32,
    /// Seed of the stream and of every partitioner.
    #[arg(long, default_value_t = 7)]
    pub(crate) seed: u64,
    /// Comma-separated partitioner names (default: all).
    #[arg(long, value_delimiter = ',')]
    pub(crate) partitioners: Option<Vec<String>>,
    /// Records per second of event time.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) rate: u64,
    /// Metric and aggregation window (ms of event time).
    #[arg(long, default_value_t = 1000)]
    pub(crate) window_ms: u64,
    /// Slide of the aggregation window (ms); also the hot interval of DAGreedy and Dalton.
    #[arg(long, default_value_t = 250)]
    pub(crate) slide_ms: u64,
    /// Number of hot keys (rows of SaS routing tables; keys whose fragmentation is averaged).
    #[arg(long, default_value_t = 10)]
    pub(crate) hot_keys: usize,
    /// Hot-key detection of saspartitioner: static ranks or online heavy hitters.
    #[arg(long, value_enum, default_value_t = HotKeys::Static)]
    pub(crate) hot_key_mode: HotKeys,
    /// Permute key ids so they say nothing about popularity (use with --hot-key-mode online).
    #[arg(long)]
    pub(crate) shuffle_keys: bool,
    /// Text file of the `text` workload.
    #[arg(long)]
    pub(crate) text: Option<PathBuf>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Workload {
    Zipf,
    ZipfSequence,
    ZipfDriftingKey,
    Text,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum HotKeys {
    Static,
    Online,
}

#[derive(Debug, Args)]
pub(crate) struct MaskArgs {
    /// Number of workers P.
    #[arg(long)]
    pub(crate) workers: usize,
    /// Zipf exponent α of the popularity the mask assumes.
    #[arg(long)]
    pub(crate) alpha: f64,
    /// Number of hot-key candidates.
    #[arg(long)]
    pub(crate) hot_keys: usize,
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
    /// Number of workers P.
    #[arg(long, default_value_t = 32)]
    pub(crate) workers: u32,
    /// Zipf exponent α of the stream (and of the mask).
    #[arg(long, default_value_t = 1.5)]
    pub(crate) alpha: f64,
    /// Worker capacities are drawn from [1 − s, 1 + s].
    #[arg(long, default_value_t = 0.0)]
    pub(crate) capacity_spread: f64,
    /// Transitions to record.
    #[arg(long)]
    pub(crate) steps: u64,
    /// Seed of the capacities, the stream and the behaviour policy.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Dataset directory (created; an existing dataset there is replaced).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Steps per logical episode (the last one is marked truncated).
    #[arg(long, default_value_t = 128)]
    pub(crate) episode_length: u64,
    /// Records routed per step (one second of event time).
    #[arg(long, default_value_t = SimConfig::default().records_per_step)]
    pub(crate) records_per_step: u64,
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
