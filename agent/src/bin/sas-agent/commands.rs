//! Each command's glue: flags → the library's configuration → its result printed as text or JSON.

use crate::args::*;
use anyhow::Context;
use sas_agent::bench_cmd;
use sas_agent::collect::{self, CollectConfig, CollectSummary};
use sas_agent::env::sim::{Scenario, SimConfig};
use sas_agent::eval::{self, EvalConfig, RouterReport};
use sas_agent::server::{ModelFactory, ServeConfig};
use sas_agent::table;
use sas_agent::train_offline::{self, TrainOfflineConfig};
use sas_learner::config::CqlConfig;
use sas_router::params::Params;
use sas_router::partitioner::{HotKeyConfig, HotKeyMode, RouterConfig};
use sas_router::workload::WorkloadConfig;
use serde::Serialize;
use std::io::IsTerminal;
use std::sync::Arc;

/// The default experiment of `eval-routers`, embedded so the binary needs no checkout.
const EVAL_DEFAULT: &str = include_str!("../../../../params/eval-routers.yaml");

pub(crate) fn eval_routers(args: EvalArgs) -> anyhow::Result<()> {
    let params = experiment(&args.stream, args.as_overrides())?;
    let partitioners = args.partitioners.unwrap_or_else(eval::all_partitioners);
    let config = EvalConfig::from_params(&params, partitioners, show_progress(args.json));
    let reports = eval::run(&config).context("eval-routers")?;
    emit(args.json, &reports, |r| {
        format!("{}{}", hot_keys_line(&config.router), report_table(r))
    })
}

/// The params of `stream`'s experiment with the overrides `sets` applied (a `zipf-sequence` without
/// phases gets two).
fn experiment(stream: &StreamArgs, mut sets: Vec<String>) -> anyhow::Result<Params> {
    let (yaml, origin) = match &stream.params {
        Some(path) => (
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
            path.display().to_string(),
        ),
        None => (EVAL_DEFAULT.to_string(), "params/eval-routers.yaml (embedded)".to_string()),
    };
    // Relative paths in a params file resolve against the repository root, the parent of its folder.
    let base_dir = match &stream.params {
        Some(path) => {
            let file = std::fs::canonicalize(path).with_context(|| format!("{}", path.display()))?;
            let folder = file.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
            folder.parent().map(std::path::Path::to_path_buf).unwrap_or(folder)
        }
        None => std::env::current_dir()?,
    };
    if matches!(stream.workload, Some(Workload::ZipfSequence)) {
        // A zipf-sequence needs phases: without them in the file, alternate between the given α and a
        // milder one, so the hot set shifts.
        let base = Params::parse_with(&yaml, &origin, &base_dir, &stream.overrides)?;
        if base.workload.phases.is_empty() {
            let alpha = stream.alpha.unwrap_or(base.workload.alpha);
            let keys = stream.keys.unwrap_or(base.workload.keys);
            let mild = (alpha / 1.5).max(0.5);
            sets.insert(
                0,
                format!("workload.phases=[{{alpha: {alpha}, keys: {keys}}}, {{alpha: {mild}, keys: {keys}}}]"),
            );
        }
    }
    Ok(Params::parse_with(&yaml, &origin, &base_dir, &sets)?)
}

/// One line saying how the routers find hot keys and where their mask comes from.
fn hot_keys_line(router: &RouterConfig) -> String {
    let hot = &router.hot_keys;
    let mode = match hot.mode {
        HotKeyMode::Online => "online (heavy hitters found in the stream)",
        HotKeyMode::Static => "static (key id = rank, the unshuffled generator's shortcut)",
    };
    let source = if hot.shares.is_empty() {
        format!("Zipf α = {}", hot.alpha)
    } else {
        "measured shares".to_string()
    };
    // Every partitioner was built from this config, so the mask exists; an error would still print.
    let mask = hot.mask(router.workers).map_or_else(
        |e| format!("no mask ({e})"),
        |m| format!("{} true hot keys, A = {}", m.true_hot_keys(), m.action_dim()),
    );
    format!(
        "hot keys: {mode}, K = {}; mask from {source}: {mask}\n",
        hot.count
    )
}

pub(crate) fn measure_hot_keys(args: MeasureArgs) -> anyhow::Result<()> {
    let params = experiment(&args.stream, args.as_overrides())?;
    let report = eval::measure_hot_keys(&params.workload_config(), params.records, &params.router_config())
        .context("measure-hot-keys")?;
    emit(args.json, &report, |r| shares_snippet(r, &params))
}

/// The measurement as a params snippet: comments saying what was measured, then `router.hot_keys`.
fn shares_snippet(r: &eval::HotKeyReport, params: &Params) -> String {
    let stream = match (&params.workload.kind[..], &params.workload.path) {
        ("file", Some(path)) => format!("file {}", path.display()),
        (kind, _) => kind.to_string(),
    };
    let ranges = |m: &eval::MaskSummary| {
        m.ranges
            .iter()
            .map(|[s, e]| format!("{s}-{e}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = format!(
        "# Share of each hot rank, measured by the online hot-key detector (P = {}, K = {}) in the {}\n\
         # records after its first revision, of {} records of the stream: {stream}\n",
        r.workers, r.hot_keys, r.measured_records, r.records
    );
    out += &format!(
        "# Mask from these shares: {} true hot keys, A = {} ({}).\n",
        r.mask.true_hot_keys,
        r.mask.action_dim,
        ranges(&r.mask)
    );
    out += &format!(
        "# (Zipf α = {} would give {} true hot keys, A = {} ({}).)\n",
        r.alpha,
        r.alpha_mask.true_hot_keys,
        r.alpha_mask.action_dim,
        ranges(&r.alpha_mask)
    );
    let shares: Vec<String> = r.shares.iter().map(|s| s.to_string()).collect();
    out += &format!(
        "router:\n  hot_keys:\n    count: {}\n    shares: [{}]\n",
        r.hot_keys,
        shares.join(", ")
    );
    out
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
    workers: u32,
    /// The exponent the mask assumes (`null` when drawn from shares).
    alpha: Option<f64>,
    /// The measured shares it is drawn from (empty when from `alpha`).
    shares: Vec<f64>,
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

pub(crate) fn mask(args: MaskArgs) -> anyhow::Result<()> {
    // The routers' own rule (`HotKeyConfig::mask`), so this prints the mask a params file would give.
    let defaults = HotKeyConfig::default();
    let hot = HotKeyConfig {
        count: args.hot_keys.unwrap_or(if args.shares.is_empty() {
            defaults.count
        } else {
            args.shares.len()
        }),
        alpha: args.alpha.unwrap_or(defaults.alpha),
        shares: args.shares.clone(),
        true_hot_keys: args.true_hot_keys,
        spread_keys: args.spread_keys,
        ..defaults
    };
    let mask = hot.mask(args.workers)?;
    let report = MaskReport {
        workers: args.workers,
        alpha: hot.shares.is_empty().then_some(hot.alpha),
        shares: hot.shares.clone(),
        hot_keys: hot.count,
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

pub(crate) fn collect_sim(args: CollectSimArgs) -> anyhow::Result<()> {
    let mut sim = world(&args.world, args.seed, args.steps)?;
    if let Some(records) = args.records_per_step {
        sim.records_per_step = records;
    }
    sim.episode_length = args.episode_length;
    let config = CollectConfig {
        sim,
        steps: args.steps,
        out: args.out,
        progress: show_progress(args.json),
    };
    let summary = collect::run(&config).context("collect-sim")?;
    emit(args.json, &summary, collect_report)
}

/// The simulated world of `args` over `steps` steps: a job's params file, or the flags (with `seed`).
fn world(args: &WorldArgs, seed: u64, steps: u64) -> anyhow::Result<SimConfig> {
    if let Some(path) = &args.params {
        let params = Params::load(path)?;
        return SimConfig::from_params(&params, steps).with_context(|| format!("{}", path.display()));
    }
    let defaults = SimConfig::default();
    let (hot_keys, mask_shares) = if args.hot_key_shares.is_empty() {
        (defaults.hot_keys, Vec::new())
    } else {
        (args.hot_key_shares.len(), args.hot_key_shares.clone())
    };
    let mut sim = SimConfig {
        workers: args.workers,
        alpha: args.alpha,
        capacity_spread: args.capacity_spread,
        seed,
        workload: sim_workload(args, seed),
        hot_key_mode: args.hot_key_mode.map_or(defaults.hot_key_mode, HotKeys::mode),
        hot_keys,
        mask_shares,
        ..defaults
    };
    if sim.mask_shares.is_empty() && sim.workload.is_some() && sim.hot_key_mode == HotKeyMode::Online {
        measure_mask_shares(&mut sim, steps)?;
    }
    Ok(sim)
}

/// Records the mask's shares are measured over, at most: enough for the detector to settle, little beside
/// training.
const MASK_MEASURE_RECORDS: u64 = 2_000_000;

/// Draws the mask of a world whose stream is not the generated Zipf one from the shares its routers'
/// online detector measures on the stream itself (what `measure-hot-keys` prints), not from an assumed
/// exponent that such a stream need not follow.
fn measure_mask_shares(sim: &mut SimConfig, steps: u64) -> anyhow::Result<()> {
    let records = sim.records_per_step.saturating_mul(steps).clamp(1, MASK_MEASURE_RECORDS);
    let workload = sim.workload_config(sim.alpha);
    let report = eval::measure_hot_keys(&workload, records, &sim.router_config())
        .context("measuring the stream's hot-key shares for the mask (give --hot-key-shares to skip)")?;
    eprintln!(
        "mask from the hot-key shares measured on the first {} records of the stream (top share {:.4}, \
         {} true hot keys, action dimension {})",
        report.records,
        report.shares.first().copied().unwrap_or(0.0),
        report.mask.true_hot_keys,
        report.mask.action_dim,
    );
    sim.hot_keys = report.shares.len();
    sim.mask_shares = report.shares;
    Ok(())
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

pub(crate) fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let mut sim = world(&args.world, args.seed, args.steps)?;
    sim.utilisation_max = args.utilisation_max;
    anyhow::ensure!(args.cycle_steps > 0, "--cycle-steps must be > 0");
    sim.scenarios.extend(Scenario::alpha_cycle(
        sim.alpha,
        &args.alpha_cycle,
        args.cycle_steps,
        args.steps,
    ));
    let sac = sas_learner::config::SacConfig {
        actor_lr: args.actor_lr,
        seed: args.seed,
        ..sas_learner::config::SacConfig::simulator()
    };
    let config = sas_agent::simulate::SimulateConfig {
        sim,
        steps: args.steps,
        warmup_steps: args.warmup_steps,
        updates_per_step: args.updates_per_step,
        publish_every: 10,
        eval_steps: args.eval_steps,
        sac,
        out: args.out,
        save_every: args.save_every,
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
        if let Some(dir) = &summary.checkpoint {
            println!("checkpoint: {}", dir.display());
        }
    }
    Ok(())
}

/// The stream the world flags ask for: `None` for the generated Zipf stream.
fn sim_workload(args: &WorldArgs, seed: u64) -> Option<WorkloadConfig> {
    let kind = args.workload.map_or("zipf", Workload::name);
    (kind != "zipf" || args.shuffle_keys).then(|| WorkloadConfig {
        kind: kind.to_string(),
        alpha: args.alpha,
        shuffle_keys: args.shuffle_keys,
        seed,
        path: args.path.clone(),
        text_path: args.text.clone(),
        ..WorkloadConfig::default()
    })
}

pub(crate) fn train_offline(args: TrainOfflineArgs) -> anyhow::Result<()> {
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
        init: args.init,
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

pub(crate) fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let report = bench_cmd::run(args.steps, args.updates)?;
    emit(args.json, &report, bench_cmd::BenchReport::render)
}

pub(crate) fn soak(args: SoakArgs) -> anyhow::Result<()> {
    use sas_agent::soak::{self, SoakConfig, Target};
    use std::time::Duration;
    let config = SoakConfig {
        sessions: args.sessions,
        workers: args.workers,
        interval_ms: args.interval_ms,
        duration: Duration::from_secs(args.duration_s),
        warmup: Duration::from_secs(args.warmup_s),
        rss_every: Duration::from_secs(args.rss_every_s),
        spread: args.spread,
        unary: args.unary,
    };
    let target = match args.addr {
        Some(uri) => Target::Remote {
            uri,
            pid: args.server_pid,
        },
        None => Target::InProcess(Arc::new(ModelFactory::new(&ServeConfig::default())?)),
    };
    // One runtime for the server and the fake jobs, a thread per core.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(soak::run(&config, target))?;
    emit(args.json, &report, soak::SoakReport::render)
}

/// A progress bar is shown only for people: not with `--json`, not when stderr is not a terminal.
pub(crate) fn show_progress(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// Prints `value` as pretty JSON with `--json`, else as the text `render` makes of it.
pub(crate) fn emit<T: Serialize>(
    json: bool,
    value: &T,
    render: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{}", render(value));
    }
    Ok(())
}

pub(crate) fn shift_report(args: ShiftReportArgs) -> anyhow::Result<()> {
    use sas_agent::shift_report;
    let params = sas_router::params::Params::load(&args.params)?;
    let steps = shift_report::read_steps(&args.steps)?;
    let report = shift_report::report(&steps, &params, args.threshold, args.settle_steps)
        .with_context(|| format!("{}", args.params.display()))?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let json = dir.join("shift.json");
        std::fs::write(&json, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("cannot write {}", json.display()))?;
        shift_report::plot(&dir.join("lambda.png"), &steps, &report)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let fmt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    let rows: Vec<Vec<String>> = report
        .phases
        .iter()
        .map(|p| {
            vec![
                p.phase.to_string(),
                format!("{}", p.alpha),
                format!("{}-{}", p.first_step, p.last_step),
                fmt(p.shift_step),
                fmt(p.recovery_steps),
                p.peak_imbalance.map_or("-".into(), |v| format!("{v:.3}")),
                format!("{:.4}", p.steady_imbalance),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &[
                "phase",
                "alpha",
                "steps",
                "shift_step",
                "recovery_steps",
                "peak_λ",
                "steady_λ"
            ],
            &rows
        )
    );
    println!(
        "steady-state λ {:.4}; slowest recovery under {}: {} steps",
        report.steady_imbalance,
        report.threshold,
        fmt(report.max_recovery_steps)
    );
    Ok(())
}

pub(crate) fn plot_matrix(args: PlotMatrixArgs) -> anyhow::Result<()> {
    let table = sas_agent::plot_matrix::run(&args.csv, &args.out)?;
    if args.table {
        print!("{table}");
    }
    Ok(())
}
