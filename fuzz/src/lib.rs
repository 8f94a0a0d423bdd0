//! Mutation fuzzing on the stable toolchain.
//!
//! Nightly Rust (and with it cargo-fuzz's coverage instrumentation) cannot be installed here, so this is
//! a plain mutation fuzzer: each [`Target`] has seed inputs (the shipped params files, valid actions and
//! datasets, ...); the driver mutates them byte- and token-wise from a seeded RNG and runs the target on
//! each. Inputs a target accepts join the corpus (a crude but useful feedback: valid inputs lead deeper
//! into the checks after parsing). A panic is a crash: the driver catches it and keeps the input. An
//! abort (a failed allocation, a stack overflow) ends the process, so the script that runs the fuzzer
//! (`bin/fuzz.sh`) treats a non-zero exit as a crash too.
//!
//! # Layout
//!
//! * [`mutate`]: the mutations.
//! * [`targets`]: one harness per input surface: params, actions, datasets, gRPC requests, checkpoints.
//! * [`run`]: the driver.

pub mod mutate;
pub mod targets;

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// One input surface under test.
pub trait Target {
    /// The target's name on the command line.
    fn name(&self) -> &'static str;
    /// Valid inputs to start from.
    fn seeds(&self) -> Vec<Vec<u8>>;
    /// Runs the code under test on `input`; returns whether it was accepted (parsed, applied). Must
    /// not panic: a panic is a crash.
    fn run(&mut self, input: &[u8]) -> bool;
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    /// Inputs run.
    pub execs: u64,
    /// Inputs the target accepted.
    pub accepted: u64,
    /// Inputs that panicked, with the panic message.
    pub crashes: Vec<(Vec<u8>, String)>,
    /// Inputs in the corpus at the end.
    pub corpus: usize,
}

/// The most inputs kept in the corpus; accepted inputs beyond it replace random ones.
const MAX_CORPUS: usize = 4096;

/// The largest input tried; mutations that grow past it are cut.
pub const MAX_INPUT: usize = 64 << 10;

/// Runs `target` on `execs` mutated inputs drawn from `seed`; calls `tick` every 4096 inputs.
pub fn run(target: &mut dyn Target, execs: u64, seed: u64, mut tick: impl FnMut(u64)) -> Report {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut corpus = target.seeds();
    assert!(!corpus.is_empty(), "{}: no seeds", target.name());
    let mut report = Report::default();
    // Quiet panics: a crash is reported once, with its input, not as a backtrace per input.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for i in 0..execs {
        let mut input = corpus[rng.random_range(0..corpus.len())].clone();
        let rounds = rng.random_range(1..=4);
        for _ in 0..rounds {
            let other = &corpus[rng.random_range(0..corpus.len())];
            mutate::mutate(&mut input, other, &mut rng);
        }
        input.truncate(MAX_INPUT);
        match catch_unwind(AssertUnwindSafe(|| target.run(&input))) {
            Ok(true) => {
                report.accepted += 1;
                if corpus.len() < MAX_CORPUS {
                    corpus.push(input);
                } else if rng.random_bool(0.01) {
                    let at = rng.random_range(0..corpus.len());
                    corpus[at] = input;
                }
            }
            Ok(false) => {}
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "(non-string panic)".into());
                report.crashes.push((input, message));
            }
        }
        report.execs += 1;
        if i % 4096 == 4095 {
            tick(4096);
        }
    }
    std::panic::set_hook(hook);
    report.corpus = corpus.len();
    report
}
