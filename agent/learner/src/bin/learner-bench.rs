//! Prints the learner benchmark: `learner-bench [UPDATES]` (default 300), or with `--profile` where one
//! update's time goes (phases, every matrix product against the CPU's peak, allocations per update).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

/// The system allocator, counting allocations so the profile can report them per update.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above, for `dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above, for `realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let profile = args.iter().any(|a| a == "--profile");
    args.retain(|a| a != "--profile");
    let updates = match args.first().map(|s| s.parse::<usize>()) {
        None => 300,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: learner-bench [--profile] [UPDATES > 0]");
            return ExitCode::from(2);
        }
    };
    let out = if profile {
        let count = || ALLOCATIONS.load(Ordering::Relaxed);
        sas_learner::bench::profile(updates, Some(&count)).map(|p| p.to_string())
    } else {
        sas_learner::bench::try_run(updates).map(|report| {
            let (first, last) = report.qf_loss_first_last;
            format!("{report}\ncritic loss: {first:.3} -> {last:.3}\n")
        })
    };
    match out {
        Ok(text) => {
            // A closed stdout (`| head`) is not an error of the benchmark.
            let _ = write!(std::io::stdout(), "{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("learner-bench: {err}");
            ExitCode::FAILURE
        }
    }
}
