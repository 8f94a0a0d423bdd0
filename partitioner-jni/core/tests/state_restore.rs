//! A router restored from a saved state routes every later record as the router that saved it: the state
//! of every strategy in [`NAMES`] holds all that its decisions depend on. And a state that does not fit
//! (another strategy, another worker count, another setting it depends on) or is not a whole, undamaged
//! state is refused with an error saying why, the router left as it was.
//!
//! Issue #13, item 6: "Routing state survives failover".

use rand::{Rng, RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use sas_router::partitioner::{HotKeyMode, HotRouting, RouterConfig};
use sas_router::state::{self, StateError};
use sas_router::workload::{Record, ZipfStream};
use sas_router::{NAMES, Partitioner, build};

const WORKERS: u32 = 8;
/// 10 000 records/s of event time: windows, slides and hot-key intervals roll over many times.
const RATE: u64 = 10_000;
/// Records routed before the state is saved: not on an interval boundary, so a half-finished interval
/// and window are in the state.
const BEFORE: usize = 30_123;
/// Records routed after it by the original and the restored router.
const AFTER: usize = 30_000;
/// Reporting interval for `end_interval` (ms of event time).
const INTERVAL_MS: u64 = 250;
/// Strategies whose decisions depend on nothing but the key: a cold router routes as a warm one.
const STATELESS: &[&str] = &["hash", "drifting-key"];

/// A skewed stream: Zipf(1.5) over 1000 keys, the first hot keys taking most records.
fn stream() -> Vec<Record> {
    ZipfStream::new(1.5, 1000, false, RATE, 5)
        .expect("valid workload")
        .take(BEFORE + AFTER)
        .collect()
}

fn base() -> RouterConfig {
    let mut config = RouterConfig {
        workers: WORKERS,
        seed: 42,
        // FlexD refreshes every 2 s: refreshes happen on both sides of the save.
        flexd: sas_router::partitioner::FlexDConfig {
            refresh_ms: 2000,
            ..Default::default()
        },
        ..RouterConfig::default()
    };
    // Online hot keys (the default) revise their hot set every 4096 records: on both sides of the save.
    config.hot_keys.online.tick_records = 4096;
    config
}

/// Every name in [`NAMES`] (online hot keys), plus the strategies with ranked hot keys under the static
/// shortcut, and `saspartitioner` with the deficit rule (their state differs).
fn cases() -> Vec<(String, &'static str, RouterConfig)> {
    let mut cases: Vec<_> = NAMES.iter().map(|&n| (n.to_string(), n, base())).collect();
    let mut ranks = base();
    ranks.hot_keys.mode = HotKeyMode::Static;
    for name in ["saspartitioner", "dalton-offline"] {
        cases.push((format!("{name} (static hot keys)"), name, ranks.clone()));
    }
    let mut deficit = base();
    deficit.saspartitioner.hot_routing = HotRouting::Deficit;
    cases.push(("saspartitioner (deficit rule)".into(), "saspartitioner", deficit));
    cases
}

/// What a job does around a router besides `route`: it closes an interval every [`INTERVAL_MS`] with
/// loads (the interval's record counts, worker `w` costing `1 + w/P` per record, so Dalton-with-metrics
/// learns unequal costs), and `saspartitioner` gets a policy action twice.
struct Job {
    counts: Vec<u64>,
    interval_end: u64,
}

impl Job {
    fn new() -> Self {
        Self {
            counts: vec![0; WORKERS as usize],
            interval_end: INTERVAL_MS,
        }
    }

    /// The interval's loads if record `i` at `ts_ms` closes it.
    fn loads_before(&mut self, ts_ms: u64) -> Option<Vec<f64>> {
        if ts_ms < self.interval_end {
            return None;
        }
        let n = self.counts.len() as f64;
        let loads = self
            .counts
            .iter()
            .enumerate()
            .map(|(w, &c)| c as f64 * (1.0 + w as f64 / n))
            .collect();
        self.counts.fill(0);
        self.interval_end = (ts_ms / INTERVAL_MS + 1) * INTERVAL_MS;
        Some(loads)
    }

    /// The action given before record `i`, if any: one early, one shortly before the save.
    fn action_before(i: usize, p: &dyn Partitioner, config: &RouterConfig) -> Option<Vec<f64>> {
        if p.name() != "saspartitioner" || !(i == 1_000 || i == BEFORE - 5_000) {
            return None;
        }
        let dim = config.hot_keys.mask(config.workers).unwrap().action_dim();
        Some((0..dim).map(|a| ((a + i) % 4) as f64).collect())
    }
}

/// Routes `records` (indexes `from..`) through every router in `routers` alike, as a job would; returns
/// each router's decisions.
fn route(
    routers: &mut [&mut dyn Partitioner],
    config: &RouterConfig,
    job: &mut Job,
    records: &[Record],
    from: usize,
) -> Vec<Vec<u32>> {
    let mut out = vec![Vec::with_capacity(records.len()); routers.len()];
    for (i, r) in records.iter().enumerate() {
        let i = from + i;
        if let Some(loads) = job.loads_before(r.ts_ms) {
            routers.iter_mut().for_each(|p| p.end_interval(&loads));
        }
        if let Some(action) = Job::action_before(i, &*routers[0], config) {
            for p in routers.iter_mut() {
                p.apply_action(&action).expect("a valid action");
            }
        }
        for (p, out) in routers.iter_mut().zip(&mut out) {
            out.push(p.route(r.key, r.ts_ms));
        }
        job.counts[out[0][out[0].len() - 1] as usize] += 1;
    }
    out
}

fn saved(p: &dyn Partitioner) -> Vec<u8> {
    let mut bytes = Vec::new();
    p.save_state(&mut bytes);
    bytes
}

/// A router of `name` after the first [`BEFORE`] records of the stream, and its saved state.
fn warm(name: &str, config: &RouterConfig, records: &[Record]) -> (Box<dyn Partitioner>, Vec<u8>, Job) {
    let mut p = build(name, config).unwrap();
    let mut job = Job::new();
    route(&mut [p.as_mut()], config, &mut job, &records[..BEFORE], 0);
    let bytes = saved(p.as_ref());
    (p, bytes, job)
}

#[test]
fn every_strategy_resumes_where_it_was_saved() {
    let records = stream();
    let mut cold_differs = Vec::new();
    for (label, name, config) in cases() {
        let (mut original, bytes, mut job) = warm(name, &config, &records);
        let mut restored = build(name, &config).unwrap();
        restored
            .restore_state(&bytes)
            .unwrap_or_else(|e| panic!("{label}: restoring its own state: {e}"));
        assert_eq!(
            saved(restored.as_ref()),
            bytes,
            "{label}: the restored router saves the same state"
        );
        let mut cold = build(name, &config).unwrap();

        let after = &records[BEFORE..];
        let out = route(
            &mut [original.as_mut(), restored.as_mut(), cold.as_mut()],
            &config,
            &mut job,
            after,
            BEFORE,
        );
        if let Some(i) = (0..AFTER).find(|&i| out[0][i] != out[1][i]) {
            panic!(
                "{label}: record {} ({:?}) went to worker {} from the original router, {} from the restored one",
                BEFORE + i,
                after[i],
                out[0][i],
                out[1][i]
            );
        }
        assert_eq!(
            saved(original.as_ref()),
            saved(restored.as_ref()),
            "{label}: states after {AFTER} more records"
        );
        // The control: without the state a router decides otherwise, so the comparison above has teeth.
        let differing = (0..AFTER).filter(|&i| out[0][i] != out[2][i]).count();
        if differing > 0 {
            cold_differs.push(name);
        }
        eprintln!(
            "{label}: state {} bytes; a cold router routes {differing} of {AFTER} records elsewhere",
            bytes.len()
        );
    }
    cold_differs.sort_unstable();
    cold_differs.dedup();
    let mut stateful: Vec<&str> = NAMES.iter().copied().filter(|n| !STATELESS.contains(n)).collect();
    stateful.sort_unstable();
    assert_eq!(cold_differs, stateful, "the strategies a cold start changes");
}

#[test]
fn a_state_of_another_strategy_or_worker_count_is_refused_naming_both() {
    let records = stream();
    let config = base();
    let fewer = RouterConfig { workers: 4, ..base() };
    for (i, &name) in NAMES.iter().enumerate() {
        let (_, bytes, _) = warm(name, &config, &records);
        let other = NAMES[(i + 1) % NAMES.len()];
        let e = build(other, &config).unwrap().restore_state(&bytes).unwrap_err();
        assert_eq!(
            e,
            StateError::WrongStrategy {
                saved: name.into(),
                this: other
            }
        );
        assert_eq!(
            e.to_string(),
            format!("router state was saved by partitioner `{name}`, this router is `{other}`")
        );
        let e = build(name, &fewer).unwrap().restore_state(&bytes).unwrap_err();
        assert_eq!(
            e.to_string(),
            "router state was saved for 8 workers, this router has 4",
            "{name}"
        );
    }
}

#[test]
fn a_state_under_another_setting_it_depends_on_is_refused_naming_it() {
    let records = stream();
    let other_window = RouterConfig {
        window_ms: 2000,
        ..base()
    };
    let mut more_hot_keys = base();
    more_hot_keys.hot_keys.count = 12;
    let mut ranks = base();
    ranks.hot_keys.mode = HotKeyMode::Static;
    // Measured shares whose mask has 4 true hot keys, where Zipf(1.5) at P = 8 has 2.
    let mut measured = base();
    measured.hot_keys.shares = vec![0.2, 0.2, 0.2, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05];
    assert_ne!(measured.hot_keys.mask(WORKERS), base().hot_keys.mask(WORKERS));
    let mut bigger_summary = base();
    bigger_summary.choices.capacity = 200;
    let cases = [
        (
            "cam",
            other_window.clone(),
            "the window (size/slide ms) is 1000/250 in the state, 2000/250 here",
        ),
        ("dalton-original", other_window, "the window (size/slide ms)"),
        ("saspartitioner", more_hot_keys, "hot_keys"),
        (
            "saspartitioner",
            ranks.clone(),
            "`hot_keys.mode` is online in the state, static here",
        ),
        (
            "dalton-offline",
            ranks,
            "`hot_keys.mode` is online in the state, static here",
        ),
        ("dalton-offline", measured, "(the mask's"),
        ("w-choices", bigger_summary, "the summary capacity"),
    ];
    for (name, config, expected) in cases {
        let (_, bytes, _) = warm(name, &base(), &records);
        let mut p = build(name, &config).unwrap();
        let e = p.restore_state(&bytes).unwrap_err();
        assert!(matches!(e, StateError::Mismatch { .. }), "{name}: {e:?}");
        assert!(e.to_string().contains(expected), "{name}: {e}");
        unchanged(p.as_mut(), name, &config, &records);
    }
}

/// `p`, after a refused state, still routes exactly as a router that was never offered one.
fn unchanged(p: &mut dyn Partitioner, name: &str, config: &RouterConfig, records: &[Record]) {
    let mut fresh = build(name, config).unwrap();
    let out = route(
        &mut [p, fresh.as_mut()],
        config,
        &mut Job::new(),
        &records[..5_000],
        0,
    );
    assert_eq!(out[0], out[1], "{name}: a refused state changed the router");
}

#[test]
fn truncated_damaged_and_extended_states_are_refused() {
    let records = stream();
    let config = base();
    for &name in NAMES {
        let (_, bytes, _) = warm(name, &config, &records);
        let mut p = build(name, &config).unwrap();
        let len = bytes.len();
        let cuts = (0..len.min(64)).chain((64..len).step_by((len / 200).max(1)));
        for cut in cuts {
            let e = p.restore_state(&bytes[..cut]).unwrap_err();
            assert!(
                matches!(e, StateError::Truncated { .. }),
                "{name} cut at {cut} of {len}: {e}"
            );
        }
        for at in (0..len).step_by((len / 300).max(1)) {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x10;
            let e = p.restore_state(&damaged).unwrap_err();
            assert!(
                matches!(
                    e,
                    StateError::Checksum
                        | StateError::NotAState
                        | StateError::Version { .. }
                        | StateError::Truncated { .. }
                        | StateError::TooLarge { .. }
                        | StateError::Corrupt { .. }
                ),
                "{name}: byte {at} flipped: {e:?}"
            );
        }
        let mut twice = bytes.clone();
        twice.extend_from_slice(&bytes);
        let e = p.restore_state(&twice).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("router state has {len} bytes after its end (the router state)")
        );
        unchanged(p.as_mut(), name, &config, &records);
    }
}

#[test]
fn random_bytes_are_refused() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    let config = base();
    for &name in NAMES {
        let mut p = build(name, &config).unwrap();
        for len in (0..64).chain((0..64).map(|i| 64 << (i % 12))) {
            let mut bytes = vec![0u8; len];
            rng.fill_bytes(&mut bytes);
            // Half of them behind a valid magic and version, so the later checks are reached.
            if len >= 6 && rng.random::<bool>() {
                bytes[..4].copy_from_slice(&state::MAGIC);
                bytes[4..6].copy_from_slice(&state::VERSION.to_le_bytes());
            }
            assert!(
                p.restore_state(&bytes).is_err(),
                "{name}: {len} random bytes were taken"
            );
        }
        unchanged(p.as_mut(), name, &config, &records_for_unchanged());
    }
}

fn records_for_unchanged() -> Vec<Record> {
    ZipfStream::new(1.5, 1000, false, RATE, 9)
        .unwrap()
        .take(5_000)
        .collect()
}

/// Bodies damaged behind a valid envelope (the checksum recomputed, as a bug in a writer would produce):
/// every one is refused with an error or, if it happens to be a valid state, routes without a panic.
/// Nothing a state holds can make `restore_state` or a later `route` index out of bounds.
#[test]
fn damaged_bodies_behind_a_valid_envelope_never_panic() {
    let records = stream();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
    let mut refused = 0;
    let mut taken = 0;
    for (_, name, config) in cases() {
        let (_, bytes, _) = warm(name, &config, &records);
        let (envelope, _) = state::open(&bytes).unwrap();
        for _ in 0..150 {
            let mut body = envelope.body.to_vec();
            match rng.random_range(0..3) {
                // Flip bits in a few bytes.
                0 if !body.is_empty() => {
                    for _ in 0..rng.random_range(1..4) {
                        let at = rng.random_range(0..body.len());
                        body[at] ^= 1 << rng.random_range(0..8);
                    }
                }
                // Cut the body short.
                1 if !body.is_empty() => body.truncate(rng.random_range(0..body.len())),
                // Insert random bytes.
                _ => {
                    let at = rng.random_range(0..=body.len());
                    let junk: Vec<u8> = (0..rng.random_range(1..16)).map(|_| rng.random()).collect();
                    body.splice(at..at, junk);
                }
            }
            let mut resealed = Vec::new();
            state::seal(envelope.name, envelope.workers, &body, &mut resealed);
            let mut p = build(name, &config).unwrap();
            match p.restore_state(&resealed) {
                Ok(()) => {
                    taken += 1;
                    route(
                        &mut [p.as_mut()],
                        &config,
                        &mut Job::new(),
                        &records[BEFORE..BEFORE + 2_000],
                        BEFORE,
                    );
                }
                Err(_) => {
                    refused += 1;
                    unchanged(p.as_mut(), name, &config, &records);
                }
            }
        }
    }
    eprintln!("damaged bodies: {refused} refused, {taken} taken");
    assert!(refused > taken, "{refused} refused, {taken} taken");
}
