//! `sas-fuzz`: runs the mutation fuzzer on one target or all of them and prints what it found. Exits 1
//! when an input panicked (the inputs are written to `--crashes`).

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Mutation fuzzing of the project's loaders and decoders (params, actions, offline datasets).
#[derive(Debug, Parser)]
#[command(name = "sas-fuzz", about)]
struct Cli {
    /// Target to run (`all` for every one).
    #[arg(long, default_value = "all")]
    target: String,
    /// Inputs per target.
    #[arg(long, default_value_t = 100_000)]
    execs: u64,
    /// Seed of the mutations.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Folder the crashing inputs are written to.
    #[arg(long, default_value = "results/fuzz-crashes")]
    crashes: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut targets = sas_fuzz::targets::all();
    targets.retain(|t| cli.target == "all" || t.name() == cli.target);
    if targets.is_empty() {
        let names: Vec<&str> = sas_fuzz::targets::all().iter().map(|t| t.name()).collect();
        eprintln!(
            "sas-fuzz: unknown target `{}`; expected all or one of: {}",
            cli.target,
            names.join(", ")
        );
        return ExitCode::from(2);
    }
    println!(
        "{:<10} {:>12} {:>12} {:>8} {:>8} {:>10}",
        "target", "execs", "accepted", "corpus", "crashes", "execs/s"
    );
    let mut crashed = false;
    for target in &mut targets {
        let bar = indicatif::ProgressBar::new(cli.execs);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:10} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
                .expect("a valid template"),
        );
        bar.set_message(target.name());
        let started = Instant::now();
        let report = sas_fuzz::run(target.as_mut(), cli.execs, cli.seed, |n| bar.inc(n));
        bar.finish_and_clear();
        let rate = report.execs as f64 / started.elapsed().as_secs_f64();
        println!(
            "{:<10} {:>12} {:>12} {:>8} {:>8} {:>10.0}",
            target.name(),
            report.execs,
            report.accepted,
            report.corpus,
            report.crashes.len(),
            rate
        );
        for (i, (input, message)) in report.crashes.iter().enumerate() {
            crashed = true;
            let path = cli.crashes.join(format!("{}-{i}", target.name()));
            let saved = std::fs::create_dir_all(&cli.crashes).and_then(|()| std::fs::write(&path, input));
            match saved {
                Ok(()) => eprintln!("crash: {message} (input: {})", path.display()),
                Err(e) => eprintln!("crash: {message} (input not saved: {e})"),
            }
        }
    }
    if crashed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
