//! `sas-agent`: the command line of the SaS agent.

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use sas_agent::bench_cmd;
use sas_agent::collect::{self, CollectConfig, CollectSummary};
use sas_agent::env::sim::SimConfig;
use sas_agent::eval::{self, EvalConfig, RouterReport};
use sas_agent::pb::SessionMode;
use sas_agent::server::{ModelFactory, ServeConfig};
use sas_agent::table;
use sas_agent::train_offline::{self, TrainOfflineConfig};
use sas_learner::config::CqlConfig;
use sas_router::mask::Mask;
use sas_router::partitioner::{HotKeyMode, RouterConfig};
use sas_router::workload::WorkloadConfig;
use serde::Serialize;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// The SaS agent: evaluate routers offline and inspect masks.
#[derive(Debug, Parser)]
#[command(name = "sas-agent", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay a generated stream through partitioners and compare balance, fragmentation and speed.
    EvalRouters(EvalArgs),
    /// Print the mask (worker range per true hot key) and the action dimension for a Zipf workload.
    Mask(MaskArgs),
    /// Record an offline dataset in the simulator under the dalton-offline behaviour policy.
    CollectSim(CollectSimArgs),
    /// Train CQL-N on an offline dataset into a checkpoint, with a learning curve (CSV + PNG).
    TrainOffline(TrainOfflineArgs),
    /// Print a params file with `--set KEY=VALUE` overrides applied, validated and normalised.
    Params(ParamsArgs),
    /// Chart (PNG) and table of a baseline sweep (bin/sweep-baselines.sh) from its summary.csv.
    PlotSweep(PlotSweepArgs),
    /// Run the agent server: gRPC (sas.v1.Agent + grpc.health.v1) and Prometheus /metrics, until Ctrl-C.
    Serve(ServeArgs),
    /// Ask a running agent whether it is serving (exit 0 if so, 1 if not).
    Health(HealthArgs),
    /// Train SAC-N online in the simulator, then measure the learned policy against the initial table.
    Simulate(SimulateArgs),
    /// Measure the agent: reply latency over gRPC on loopback, SAC-N updates/s, policy forward time.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct SimulateArgs {
    /// Number of workers P.
    #[arg(long, default_value_t = 32)]
    workers: u32,
    /// Zipf exponent α of the stream (and of the mask).
    #[arg(long, default_value_t = 1.5)]
    alpha: f64,
    /// Worker capacities drawn from [1 − s, 1 + s].
    #[arg(long, default_value_t = 0.0)]
    capacity_spread: f64,
    /// Training steps.
    #[arg(long, default_value_t = 3000)]
    steps: u64,
    /// Seed of the world and of the learner.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Steps of random actions first.
    #[arg(long, default_value_t = 200)]
    warmup_steps: u64,
    /// Gradient updates per step.
    #[arg(long, default_value_t = 1)]
    updates_per_step: usize,
    /// Actor learning rate (the prototype's 1e-5 barely moves in a few thousand updates).
    #[arg(long, default_value_t = 3e-4)]
    actor_lr: f64,
    /// Steps over which the final policy and the initial table are measured.
    #[arg(long, default_value_t = 50)]
    eval_steps: u64,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct TrainOfflineArgs {
    /// Dataset directory (from `collect-sim` or `bin/collect-offline.sh`).
    #[arg(long)]
    data: PathBuf,
    /// Checkpoint directory to write (created; its files are replaced).
    #[arg(long)]
    out: PathBuf,
    /// Gradient updates.
    #[arg(long, default_value_t = 1500)]
    updates: u64,
    /// Updates of behaviour cloning before the actor follows the critics.
    #[arg(long, default_value_t = 200)]
    bc_steps: u64,
    /// Updates between two evaluations in the simulator (curve points and checkpoint saves).
    #[arg(long, default_value_t = 250)]
    eval_every: u64,
    /// Simulator steps per evaluation.
    #[arg(long, default_value_t = 50)]
    eval_steps: u64,
    /// Actor learning rate (the prototype's 1e-5 barely moves in a few thousand updates).
    #[arg(long, default_value_t = 1e-4)]
    actor_lr: f64,
    /// Weight β of the conservative penalty. The prototype's 0.05 let the critics overrate unseen
    /// actions and the policy followed them (λ 1.37 against the behaviour's 1.26, docs/agent.md).
    #[arg(long, default_value_t = 2.0)]
    min_q_weight: f32,
    /// Seed of the weights and of batch sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct PlotSweepArgs {
    /// The sweep's summary.csv.
    #[arg(long)]
    summary: PathBuf,
    /// The PNG to write.
    #[arg(long)]
    out: PathBuf,
    /// Total emulated capacity drawn across the bars (default: from the runs' throughput.json beside the summary).
    #[arg(long)]
    capacity: Option<f64>,
}

#[derive(Debug, Args)]
struct ParamsArgs {
    /// The params file (`params/*.yaml`).
    file: PathBuf,
    /// Override a key, e.g. `--set agent.mode=collect` (repeatable; values are YAML).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Steps of the fake job whose reply latency is measured.
    #[arg(long, default_value_t = 2000)]
    steps: u64,
    /// SAC-N updates timed.
    #[arg(long, default_value_t = 200)]
    updates: usize,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// YAML settings (every key optional; see docs/agent.md). Default: 127.0.0.1:50051, metrics :9464.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
struct HealthArgs {
    /// The agent's gRPC address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    addr: String,
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// Workload generator.
    #[arg(long, value_enum, default_value_t = Workload::Zipf)]
    workload: Workload,
    /// Zipf exponent α.
    #[arg(long, default_value_t = 1.5)]
    alpha: f64,
    /// Number of distinct keys.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Number of records to replay.
    #[arg(long, default_value_t = 2_000_000)]
    records: u64,
    /// Number of workers P.
    #[arg(long, default_value_t = 32)]
    workers: u32,
    /// Seed of the stream and of every partitioner.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Comma-separated partitioner names (default: all).
    #[arg(long, value_delimiter = ',')]
    partitioners: Option<Vec<String>>,
    /// Records per second of event time.
    #[arg(long, default_value_t = 100_000)]
    rate: u64,
    /// Metric and aggregation window (ms of event time).
    #[arg(long, default_value_t = 1000)]
    window_ms: u64,
    /// Slide of the aggregation window (ms); also the hot interval of DAGreedy and Dalton.
    #[arg(long, default_value_t = 250)]
    slide_ms: u64,
    /// Number of hot keys (rows of SaS routing tables; keys whose fragmentation is averaged).
    #[arg(long, default_value_t = 10)]
    hot_keys: usize,
    /// Hot-key detection of saspartitioner: static ranks or online heavy hitters.
    #[arg(long, value_enum, default_value_t = HotKeys::Static)]
    hot_key_mode: HotKeys,
    /// Permute key ids so they say nothing about popularity (use with --hot-key-mode online).
    #[arg(long)]
    shuffle_keys: bool,
    /// Text file of the `text` workload.
    #[arg(long)]
    text: Option<PathBuf>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Workload {
    Zipf,
    ZipfSequence,
    ZipfDriftingKey,
    Text,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum HotKeys {
    Static,
    Online,
}

#[derive(Debug, Args)]
struct MaskArgs {
    /// Number of workers P.
    #[arg(long)]
    workers: usize,
    /// Zipf exponent α of the popularity the mask assumes.
    #[arg(long)]
    alpha: f64,
    /// Number of hot-key candidates.
    #[arg(long)]
    hot_keys: usize,
    /// Number of true hot keys (default: decided by the heuristic).
    #[arg(long, default_value_t = 0)]
    true_hot_keys: usize,
    /// Leading true hot keys allowed on every worker.
    #[arg(long, default_value_t = 0)]
    spread_keys: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct CollectSimArgs {
    /// Number of workers P.
    #[arg(long, default_value_t = 32)]
    workers: u32,
    /// Zipf exponent α of the stream (and of the mask).
    #[arg(long, default_value_t = 1.5)]
    alpha: f64,
    /// Worker capacities are drawn from [1 − s, 1 + s].
    #[arg(long, default_value_t = 0.0)]
    capacity_spread: f64,
    /// Transitions to record.
    #[arg(long)]
    steps: u64,
    /// Seed of the capacities, the stream and the behaviour policy.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Dataset directory (created; an existing dataset there is replaced).
    #[arg(long)]
    out: PathBuf,
    /// Steps per logical episode (the last one is marked truncated).
    #[arg(long, default_value_t = 128)]
    episode_length: u64,
    /// Records routed per step (one second of event time).
    #[arg(long, default_value_t = SimConfig::default().records_per_step)]
    records_per_step: u64,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::EvalRouters(args) => eval_routers(args),
        Command::Mask(args) => mask(args),
        Command::CollectSim(args) => collect_sim(args),
        Command::Serve(args) => {
            sas_agent::serve_cmd::load_config(args.config.as_deref()).and_then(sas_agent::serve_cmd::serve)
        }
        Command::Simulate(args) => simulate(args),
        Command::TrainOffline(args) => train_offline(args),
        Command::PlotSweep(args) => sas_agent::plot_sweep::run(&args.summary, &args.out, args.capacity)
            .map(|table| print!("{table}"))
            .map_err(Into::into),
        Command::Params(args) => {
            sas_agent::params_cmd::derive(&args.file, &args.overrides).map(|yaml| print!("{yaml}"))
        }
        Command::Bench(args) => bench(args),
        Command::Health(args) => match sas_agent::serve_cmd::health(&args.addr) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sas-agent: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn eval_routers(args: EvalArgs) -> anyhow::Result<()> {
    let kind = match args.workload {
        Workload::Zipf => "zipf",
        Workload::ZipfSequence => "zipf-sequence",
        Workload::ZipfDriftingKey => "zipf-drifting-key",
        Workload::Text => "text",
    };
    let workload = WorkloadConfig {
        kind: kind.into(),
        alpha: args.alpha,
        keys: args.keys,
        shuffle_keys: args.shuffle_keys,
        rate: args.rate,
        seed: args.seed,
        // zipf-sequence: alternate between the given α and a milder one, so the hot set shifts.
        phases: vec![
            sas_router::workload::ZipfPhase {
                alpha: args.alpha,
                keys: args.keys,
            },
            sas_router::workload::ZipfPhase {
                alpha: (args.alpha / 1.5).max(0.5),
                keys: args.keys,
            },
        ],
        text_path: args.text.clone(),
        ..WorkloadConfig::default()
    };
    let mut router = RouterConfig {
        workers: args.workers,
        seed: args.seed,
        window_ms: args.window_ms,
        slide_ms: args.slide_ms,
        num_keys: args.keys,
        ..RouterConfig::default()
    };
    router.hot_keys.count = args.hot_keys;
    router.hot_keys.alpha = args.alpha;
    router.hot_keys.mode = match args.hot_key_mode {
        HotKeys::Static => HotKeyMode::Static,
        HotKeys::Online => HotKeyMode::Online,
    };
    let config = EvalConfig {
        workload,
        records: args.records,
        router,
        partitioners: args.partitioners.unwrap_or_else(eval::all_partitioners),
        window_ms: args.window_ms,
        hot_keys: args.hot_keys,
        progress: show_progress(args.json),
    };
    let reports = eval::run(&config).context("eval-routers")?;
    emit(args.json, &reports, |r| report_table(r))
}

fn report_table(reports: &[RouterReport]) -> String {
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            vec![
                r.partitioner.clone(),
                format!("{:.4}", r.imbalance),
                format!("{:.4}", r.nmad),
                format!("{:.2}", r.hot_fragmentation_mean),
                r.max_fragmentation.to_string(),
                format!("{:.1}", r.ns_per_record),
            ]
        })
        .collect();
    table::render(
        &[
            "partitioner",
            "imbalance",
            "nmad",
            "hot_frag_mean",
            "max_frag",
            "ns/record",
        ],
        &rows,
    )
}

#[derive(Debug, Serialize)]
struct MaskReport {
    workers: usize,
    alpha: f64,
    hot_keys: usize,
    true_hot_keys: usize,
    action_dim: usize,
    ranges: Vec<MaskRange>,
}

#[derive(Debug, Serialize)]
struct MaskRange {
    key: usize,
    start: usize,
    end: usize,
    width: usize,
}

fn mask(args: MaskArgs) -> anyhow::Result<()> {
    let mask = Mask::zipf(
        args.workers,
        args.alpha,
        args.hot_keys,
        args.true_hot_keys,
        args.spread_keys,
    )?;
    let report = MaskReport {
        workers: args.workers,
        alpha: args.alpha,
        hot_keys: args.hot_keys,
        true_hot_keys: mask.true_hot_keys(),
        action_dim: mask.action_dim(),
        ranges: mask
            .ranges()
            .iter()
            .enumerate()
            .map(|(key, r)| MaskRange {
                key,
                start: r.start,
                end: r.end,
                width: r.len(),
            })
            .collect(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let rows: Vec<Vec<String>> = report
            .ranges
            .iter()
            .map(|r| {
                vec![
                    r.key.to_string(),
                    r.start.to_string(),
                    r.end.to_string(),
                    r.width.to_string(),
                ]
            })
            .collect();
        print!("{}", table::render(&["key", "start", "end", "width"], &rows));
        println!(
            "true hot keys: {}, action dimension A = {}",
            report.true_hot_keys, report.action_dim
        );
    }
    Ok(())
}

fn collect_sim(args: CollectSimArgs) -> anyhow::Result<()> {
    let config = CollectConfig {
        sim: SimConfig {
            workers: args.workers,
            alpha: args.alpha,
            capacity_spread: args.capacity_spread,
            records_per_step: args.records_per_step,
            episode_length: args.episode_length,
            seed: args.seed,
            ..SimConfig::default()
        },
        steps: args.steps,
        out: args.out,
        progress: show_progress(args.json),
    };
    let summary = collect::run(&config).context("collect-sim")?;
    emit(args.json, &summary, collect_report)
}

fn collect_report(s: &CollectSummary) -> String {
    format!(
        "wrote {} transitions ({} episodes) to {}\n\
         obs_dim {}, action_dim {}\n\
         behaviour (dalton-offline): mean λ {:.4}, mean nmad {:.4}, mean reward {:.4}\n\
         initial table: mean λ {:.4}\n",
        s.transitions,
        s.episodes,
        s.out.display(),
        s.obs_dim,
        s.action_dim,
        s.behaviour_imbalance,
        s.behaviour_nmad,
        s.mean_reward,
        s.initial_imbalance,
    )
}

fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let sim = sas_agent::env::sim::SimConfig {
        workers: args.workers,
        alpha: args.alpha,
        capacity_spread: args.capacity_spread,
        seed: args.seed,
        ..Default::default()
    };
    let sac = sas_learner::config::SacConfig {
        actor_lr: args.actor_lr,
        seed: args.seed,
        ..Default::default()
    };
    let config = sas_agent::simulate::SimulateConfig {
        sim,
        steps: args.steps,
        warmup_steps: args.warmup_steps,
        updates_per_step: args.updates_per_step,
        publish_every: 10,
        eval_steps: args.eval_steps,
        sac,
        progress: show_progress(args.json),
    };
    let summary = sas_agent::simulate::run(&config).context("simulate")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "initial table λ {:.4} → learned policy λ {:.4} ({} steps, {} updates, {:.1} updates/s)",
            summary.initial_imbalance,
            summary.final_imbalance,
            summary.steps,
            summary.updates,
            summary.updates_per_s
        );
    }
    Ok(())
}

fn train_offline(args: TrainOfflineArgs) -> anyhow::Result<()> {
    let mut cql = CqlConfig {
        bc_steps: args.bc_steps,
        min_q_weight: args.min_q_weight,
        ..CqlConfig::default()
    };
    cql.sac.actor_lr = args.actor_lr;
    cql.sac.seed = args.seed;
    let config = TrainOfflineConfig {
        data: args.data,
        out: args.out,
        updates: args.updates,
        eval_every: args.eval_every,
        eval_steps: args.eval_steps,
        cql,
        progress: show_progress(args.json),
    };
    let summary = train_offline::run(&config).context("train-offline")?;
    emit(args.json, &summary, |s| {
        let lambda = |v: Option<f64>| v.map_or("n/a (not simulated data)".into(), |l| format!("{l:.4}"));
        format!(
            "{} transitions, {} updates ({:.1}/s)\nbehaviour λ {:.4}  offline policy λ {}  initial table λ {}\n\
             checkpoint {}\ncurve {} and {}\n",
            s.transitions,
            s.updates,
            s.updates_per_s,
            s.behaviour_imbalance,
            lambda(s.offline_policy_imbalance),
            lambda(s.initial_imbalance),
            s.checkpoint.display(),
            s.curve_csv.display(),
            s.curve_png.display()
        )
    })
}

/// P = 128 workers: observations of 256 and, with 10 hot keys of Zipf(1.5), actions of 137, the sizes
/// the learner benchmark uses.
const BENCH_WORKERS: u32 = 128;

#[derive(Debug, Serialize)]
struct BenchReport {
    reply_p50_us: f64,
    reply_p99_us: f64,
    updates_per_s: f64,
    update_p50_ms: f64,
    forward_p50_us: f64,
    forward_p99_us: f64,
    threads: usize,
}

fn bench(args: BenchArgs) -> anyhow::Result<()> {
    // Reply latency of a TRAIN session first: SAC-N actions sampled from the served snapshot while that
    // session's learner trains on its thread (which starts the compute pool at its lower priority).
    // Then the learner benchmark alone.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let factory = Arc::new(ModelFactory::new(&ServeConfig::default())?);
    let latencies = runtime.block_on(bench_cmd::reply_latencies(
        factory,
        BENCH_WORKERS,
        SessionMode::Train,
        args.steps,
    ))?;
    let learner = sas_learner::bench::run(args.updates);
    let report = BenchReport {
        reply_p50_us: bench_cmd::quantile(&latencies, 0.5),
        reply_p99_us: bench_cmd::quantile(&latencies, 0.99),
        updates_per_s: learner.updates_per_s,
        update_p50_ms: learner.update_p50_ms,
        forward_p50_us: learner.forward_p50_us,
        forward_p99_us: learner.forward_p99_us,
        threads: learner.threads,
    };
    emit(args.json, &report, |r| format!("{r:#?}\n"))
}

/// A progress bar is shown only for people: not with `--json`, not when stderr is not a terminal.
fn show_progress(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// Prints `value` as pretty JSON with `--json`, else as the text `render` makes of it.
fn emit<T: Serialize>(json: bool, value: &T, render: impl FnOnce(&T) -> String) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{}", render(value));
    }
    Ok(())
}
