//! Prints the learner benchmark: `learner-bench [UPDATES]` (default 300).

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let updates = match std::env::args().nth(1).map(|s| s.parse::<usize>()) {
        None => 300,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: learner-bench [UPDATES > 0]");
            return ExitCode::from(2);
        }
    };
    match sas_learner::bench::try_run(updates) {
        Ok(report) => {
            let (first, last) = report.qf_loss_first_last;
            // A closed stdout (`| head`) is not an error of the benchmark.
            let _ = writeln!(
                std::io::stdout(),
                "{report}\ncritic loss: {first:.3} -> {last:.3}"
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("learner-bench: {err}");
            ExitCode::FAILURE
        }
    }
}
