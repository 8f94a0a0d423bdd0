//! `route` allocates nothing in steady state, for every strategy in [`NAMES`] (the [`Partitioner`]
//! contract and STYLE rule 16: "`route()` neither allocates nor fails").
//!
//! This file is its own test binary, so the counting `#[global_allocator]` below serves only it. Every
//! call into the allocator (`alloc`, `alloc_zeroed`, `realloc`, `dealloc`) is counted per thread, and only
//! while the thread has armed the counter, which it does around each `route` call and nowhere else: the
//! harness's other threads, the stream generation and the `end_interval`/`apply_action` calls between
//! records cannot move the count.
//!
//! **Steady state**, as measured here:
//! * the strategy has been built and warmed up on the same kind of stream it is measured on: a Zipf(1.5)
//!   stream over keys `0..1000` (so the static hot keys `0..10` are its hottest keys) plus the drifting key
//!   `1000` of the `zipf-drifting-key` workload, 20 s of event time at 10 000 records/s, with one burst in
//!   which every key of that key set appears (so per-key and per-interval maps hold the whole key set once);
//! * `end_interval` is called every 250 ms of event time with that interval's record counts, during
//!   warm-up and during the measured stretch alike (as a job reports); `saspartitioner` has applied a
//!   valid, non-uniform action, so it routes hot keys by a decoded table rather than the initial one;
//! * the measured stretch continues the same stream for another 20 s of event time: only keys the
//!   strategy has already seen, event time advancing, so window slides, hot-key intervals, FlexD
//!   refreshes (every 2 s here), online hot-key ticks, D-Choices recomputations and drift flips all
//!   happen on the record path inside it.
//!
//! A key never seen before may still allocate (per-key state such as cAM's holder list is created on first
//! sight); that is not steady state and is not measured.

use sas_router::partitioner::{HotKeyMode, HotRouting, RouterConfig};
use sas_router::workload::{Record, Workload, WorkloadConfig};
use sas_router::{NAMES, Partitioner, build};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

/// The system allocator, counting the calls made by a thread while that thread has armed it.
struct CountingAllocator;

thread_local! {
    /// Whether this thread's allocator calls are counted now.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    /// This thread's counted allocator calls.
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

/// Counts one allocator call if this thread is armed. `try_with`: a call made while the thread's locals
/// are being torn down is not counted rather than aborting.
fn note_call() {
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = CALLS.try_with(|calls| calls.set(calls.get() + 1));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counter touches only
// const-initialised thread-locals of `Cell` type, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_call();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_call();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_call();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_call();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `f` with this thread's counter armed; returns its result and the allocator calls it made.
#[inline(always)]
fn counting<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = CALLS.with(Cell::get);
    ARMED.with(|a| a.set(true));
    let out = f();
    ARMED.with(|a| a.set(false));
    (out, CALLS.with(Cell::get) - before)
}

const WORKERS: u32 = 8;
/// Keys `0..KEYS` follow Zipf(1.5); key `KEYS` is the drifting key.
const KEYS: u64 = 1000;
const RATE: u64 = 10_000;
/// Records of the warm-up, and again of the measured stretch: 20 s of event time each.
const STRETCH: u64 = 20 * RATE;
/// Reporting interval for `end_interval` (ms of event time), the default slide.
const INTERVAL_MS: u64 = 250;

/// The stream: `zipf-drifting-key` over [`KEYS`] keys, the drift flipping every second.
fn workload() -> Workload {
    Workload::new(&WorkloadConfig {
        kind: "zipf-drifting-key".into(),
        alpha: 1.5,
        keys: KEYS,
        rate: RATE,
        seed: 11,
        shift_interval_ms: 1000,
        ..WorkloadConfig::default()
    })
    .expect("valid workload")
}

/// Every configuration measured: each name in [`NAMES`] (online hot keys, the default), plus the
/// strategies with ranked hot keys under the static shortcut, and `saspartitioner` with the deficit
/// rule. FlexD refreshes every 2 s so that refreshes fall inside the measured stretch.
fn cases() -> Vec<(String, &'static str, RouterConfig)> {
    let base = RouterConfig {
        workers: WORKERS,
        seed: 42,
        num_keys: KEYS,
        flexd: sas_router::partitioner::FlexDConfig {
            refresh_ms: 2000,
            ..Default::default()
        },
        ..RouterConfig::default()
    };
    let mut cases: Vec<_> = NAMES
        .iter()
        .map(|&name| (name.to_string(), name, base.clone()))
        .collect();
    let mut ranks = base.clone();
    ranks.hot_keys.mode = HotKeyMode::Static;
    for name in ["saspartitioner", "dalton-offline"] {
        cases.push((format!("{name} (static hot keys)"), name, ranks.clone()));
    }
    let mut deficit = base.clone();
    deficit.saspartitioner.hot_routing = HotRouting::Deficit;
    cases.push(("saspartitioner (deficit rule)".into(), "saspartitioner", deficit));
    cases
}

/// A valid action for `config`'s mask that is not the initial all-ones one: weights 1, 2, 3, 1, 2, 3, ...
fn action(config: &RouterConfig) -> Vec<f64> {
    let dim = config
        .hot_keys
        .mask(config.workers)
        .expect("valid mask")
        .action_dim();
    (0..dim).map(|i| (i % 3 + 1) as f64).collect()
}

/// Closes a reporting interval on `p` every [`INTERVAL_MS`] of event time with the interval's record
/// counts as loads, as a job's router does. Lives outside the measured region.
struct Intervals {
    counts: Vec<u64>,
    loads: Vec<f64>,
    end_ms: u64,
}

impl Intervals {
    fn new(workers: u32) -> Self {
        Self {
            counts: vec![0; workers as usize],
            loads: vec![0.0; workers as usize],
            end_ms: INTERVAL_MS,
        }
    }

    /// Ends the interval if `ts_ms` lies past it.
    fn before(&mut self, p: &mut dyn Partitioner, ts_ms: u64) {
        if ts_ms >= self.end_ms {
            for (l, &c) in self.loads.iter_mut().zip(&self.counts) {
                *l = c as f64;
            }
            p.end_interval(&self.loads);
            self.counts.fill(0);
            self.end_ms = (ts_ms / INTERVAL_MS + 1) * INTERVAL_MS;
        }
    }

    fn routed(&mut self, w: u32) {
        self.counts[w as usize] += 1;
    }
}

/// What the measured stretch saw for one configuration.
#[derive(Debug)]
struct Measured {
    records: u64,
    calls: u64,
    /// The first record whose `route` called the allocator, with the number of calls it made.
    first: Option<(u64, Record, u64)>,
    workers_used: usize,
}

/// Warms `p` up, then routes the measured stretch, counting allocator calls inside each `route`.
fn measure(p: &mut dyn Partitioner, config: &RouterConfig, stream: &Workload) -> Measured {
    let mut intervals = Intervals::new(config.workers);
    // Warm-up, with every key of the key set in one burst at 5 s.
    let burst_at = 5 * RATE;
    for i in 0..STRETCH {
        let r = stream.record_at(i);
        intervals.before(p, r.ts_ms);
        if i == burst_at {
            for key in 0..=KEYS {
                intervals.routed(p.route(key, r.ts_ms));
            }
        }
        if i == STRETCH / 2 && p.name() == "saspartitioner" {
            p.apply_action(&action(config)).expect("a valid action");
        }
        intervals.routed(p.route(r.key, r.ts_ms));
    }
    // The measured stretch: the same stream, continued.
    let records: Vec<Record> = (STRETCH..2 * STRETCH).map(|i| stream.record_at(i)).collect();
    let mut used = vec![false; config.workers as usize];
    let mut calls = 0;
    let mut first = None;
    for (i, r) in records.iter().enumerate() {
        intervals.before(p, r.ts_ms);
        let (w, n) = counting(|| p.route(black_box(r.key), black_box(r.ts_ms)));
        if n > 0 && first.is_none() {
            first = Some((STRETCH + i as u64, *r, n));
        }
        calls += n;
        used[black_box(w) as usize] = true;
        intervals.routed(w);
    }
    Measured {
        records: records.len() as u64,
        calls,
        first,
        workers_used: used.iter().filter(|&&u| u).count(),
    }
}

#[test]
fn the_counter_sees_allocations_made_while_armed_and_only_those() {
    // Without this, a counter that never counts would let every strategy pass.
    let (v, calls) = counting(|| black_box(vec![1u8; 16]));
    assert_eq!(calls, 1, "one allocation");
    let ((), calls) = counting(|| drop(black_box(v)));
    assert_eq!(calls, 1, "one deallocation");
    let mut grown: Vec<u64> = Vec::with_capacity(1);
    let ((), calls) = counting(|| grown.extend(black_box([1, 2, 3, 4])));
    assert_eq!(calls, 1, "one reallocation");
    let before = CALLS.with(Cell::get);
    black_box(vec![0u64; 4]);
    assert_eq!(CALLS.with(Cell::get), before, "not armed, not counted");
}

#[test]
fn every_strategy_routes_without_allocating_in_steady_state() {
    let stream = workload();
    // The measured keys are keys the warm-up routed: the key set, every key of which the burst routes.
    assert!((STRETCH..2 * STRETCH).all(|i| stream.record_at(i).key <= KEYS));
    let mut failures = Vec::new();
    for (label, name, config) in cases() {
        let mut p = build(name, &config).unwrap_or_else(|e| panic!("{label}: {e}"));
        let m = measure(p.as_mut(), &config, &stream);
        assert_eq!(m.records, STRETCH, "{label}: records routed");
        assert!(
            m.workers_used > 1,
            "{label}: routed everything to one worker: {m:?}"
        );
        if let Some((index, record, calls)) = m.first {
            failures.push(format!(
                "{label}: {} allocator call(s) in {} measured routes; the first in record {index} \
                 ({record:?}), {calls} call(s)",
                m.calls, m.records
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "route allocated in steady state:\n  {}",
        failures.join("\n  ")
    );
}
