//! `sas-agent`: the command line of the SaS agent. This file parses and dispatches; the flags are in
//! `args.rs`, the commands' glue in `commands.rs`, and the work in the `sas_agent` library.

mod args;
mod commands;

use args::*;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// The SaS agent: serve and learn routing tables, simulate, train offline, evaluate routers.
#[derive(Debug, Parser)]
#[command(name = "sas-agent", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Replay a generated stream through partitioners and compare balance, fragmentation and speed.
    EvalRouters(EvalArgs),
    /// Print the mask (worker range per true hot key) and the action dimension, from measured hot-key
    /// shares or an assumed Zipf exponent.
    Mask(MaskArgs),
    /// Measure the share of a stream each hot rank takes (the routers' online detector) and print it as
    /// `router.hot_keys.shares`, the measured popularities the mask is drawn from.
    MeasureHotKeys(MeasureArgs),
    /// Record an offline dataset in the simulator under the dalton-offline behaviour policy (online hot
    /// keys, so a key file or shuffled ids are explored as the job would).
    CollectSim(CollectSimArgs),
    /// Train CQL-N on an offline dataset into a checkpoint, with a learning curve (CSV + PNG).
    TrainOffline(TrainOfflineArgs),
    /// Print a params file with `--set KEY=VALUE` overrides applied, validated and normalised.
    Params(ParamsArgs),
    /// λ per phase and recovery after each α shift, from the agent's step log of a zipf-sequence job.
    ShiftReport(ShiftReportArgs),
    /// Chart (PNG) and table of a baseline sweep (bin/sweep-baselines.sh) from its summary.csv.
    PlotSweep(PlotSweepArgs),
    /// Chart (PNG, a panel per scenario) and table of a scenario matrix (bin/scenario-matrix.sh) from its
    /// matrix.csv: median and spread over the repeats of each scenario and partitioner.
    PlotMatrix(PlotMatrixArgs),
    /// Run the agent server: gRPC (sas.v1.Agent + grpc.health.v1) and Prometheus /metrics, until SIGTERM
    /// or Ctrl-C (sessions finished, learners saved, exit 0).
    Serve(ServeArgs),
    /// Ask a running agent whether it is serving (exit 0 if so, 1 if not).
    Health(HealthArgs),
    /// Train SAC-N online in the simulator, then measure the learned policy against the initial table.
    Simulate(SimulateArgs),
    /// Measure the agent: reply latency over gRPC on loopback, SAC-N updates/s, policy forward time.
    Bench(BenchArgs),
    /// Hold many fake jobs against an agent for minutes: reply latency, tables lost, resident memory.
    Soak(SoakArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_) | Command::Bench(_) | Command::Soak(_)) {
        end_quietly_on_a_closed_pipe();
    }
    let result = match cli.command {
        Command::EvalRouters(args) => commands::eval_routers(args),
        Command::Mask(args) => commands::mask(args),
        Command::MeasureHotKeys(args) => commands::measure_hot_keys(args),
        Command::CollectSim(args) => commands::collect_sim(args),
        Command::Serve(args) => sas_agent::serve_cmd::load_config(args.config.as_deref(), args.allow_remote)
            .and_then(sas_agent::serve_cmd::serve),
        Command::Simulate(args) => commands::simulate(args),
        Command::TrainOffline(args) => commands::train_offline(args),
        Command::PlotSweep(args) => sas_agent::plot_sweep::run(&args.summary, &args.out, args.capacity)
            .map(|table| print!("{table}"))
            .map_err(Into::into),
        Command::PlotMatrix(args) => commands::plot_matrix(args),
        Command::Params(args) => {
            sas_agent::params_cmd::derive(&args.file, &args.overrides).map(|yaml| print!("{yaml}"))
        }
        Command::Bench(args) => commands::bench(args),
        Command::Soak(args) => commands::soak(args),
        Command::ShiftReport(args) => commands::shift_report(args),
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

/// A command that prints a table or YAML ends as `cat` does when its reader goes away (`| head`): by
/// SIGPIPE, quietly, rather than panicking in `print!`. Rust ignores SIGPIPE by default so that a write
/// to a closed socket is an error; the commands that serve or use sockets keep that.
fn end_quietly_on_a_closed_pipe() {
    // SAFETY: called first in main, before any other thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
