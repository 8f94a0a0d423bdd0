//! The [`Partitioner`] contract, checked once for every strategy in [`NAMES`] (STYLE rule 15):
//! each record goes to exactly one worker `< workers()`, the same configuration and input give the same
//! worker sequence, unknown names and out-of-range settings are rejected with errors that say what to fix.

use sas_router::partitioner::{HotKeyMode, RouterConfig};
use sas_router::workload::{Record, ZipfStream};
use sas_router::{ConfigError, NAMES, Partitioner, build};

const WORKERS: u32 = 8;
const RECORDS: usize = 50_000;
/// 10 000 records/s: 50 000 records span 5 s of event time, so 1 s windows roll over several times.
const RATE: u64 = 10_000;
/// Reporting interval for `end_interval` (ms of event time), the default slide.
const INTERVAL_MS: u64 = 250;

/// Zipf(1.5) over 1000 keys.
fn stream(seed: u64) -> Vec<Record> {
    ZipfStream::new(1.5, 1000, false, RATE, seed)
        .expect("valid workload")
        .take(RECORDS)
        .collect()
}

/// Every configuration the contract is checked under: each name with P = 8 (online hot keys, the
/// default), plus the two strategies with ranked hot keys under the static shortcut.
fn cases() -> Vec<(&'static str, RouterConfig)> {
    let base = RouterConfig {
        workers: WORKERS,
        seed: 42,
        ..RouterConfig::default()
    };
    assert_eq!(
        base.hot_keys.mode,
        HotKeyMode::Online,
        "online hot keys are the default"
    );
    let mut cases: Vec<_> = NAMES.iter().map(|&name| (name, base.clone())).collect();
    let mut ranks = base.clone();
    ranks.hot_keys.mode = HotKeyMode::Static;
    cases.push(("saspartitioner", ranks.clone()));
    cases.push(("dalton-offline", ranks));
    cases
}

/// Routes `records`, closing a reporting interval every `INTERVAL_MS` of event time with that interval's
/// record counts as loads (so strategies that learn from reports are exercised too). Returns the workers.
fn route_all(p: &mut dyn Partitioner, records: &[Record]) -> Vec<u32> {
    let n = p.workers() as usize;
    let mut counts = vec![0u64; n];
    let mut interval_end = INTERVAL_MS;
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        if r.ts_ms >= interval_end {
            let loads: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
            p.end_interval(&loads);
            counts.fill(0);
            interval_end = (r.ts_ms / INTERVAL_MS + 1) * INTERVAL_MS;
        }
        let w = p.route(r.key, r.ts_ms);
        assert!(
            w < p.workers(),
            "{}: record {r:?} went to worker {w} of {}",
            p.name(),
            p.workers()
        );
        counts[w as usize] += 1;
        out.push(w);
    }
    out
}

#[test]
fn every_strategy_keeps_the_contract() {
    let records = stream(7);
    let other_records = stream(8);
    for (name, config) in cases() {
        let label = format!("{name} ({:?} hot keys)", config.hot_keys.mode);
        let mut p = build(name, &config).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(p.name(), name, "{label}: name()");
        assert_eq!(p.workers(), WORKERS, "{label}: workers()");

        // Every record goes to a worker < workers() (checked inside route_all).
        let first = route_all(p.as_mut(), &records);
        assert_eq!(first.len(), RECORDS);
        // A strategy that sends everything to one worker is not routing.
        let used = first.iter().collect::<std::collections::HashSet<_>>().len();
        assert!(used > 1, "{label}: only {used} worker(s) used");

        // Same configuration, same seed, same input: the same worker sequence.
        let mut again = build(name, &config).unwrap_or_else(|e| panic!("{label}: {e}"));
        let second = route_all(again.as_mut(), &records);
        if let Some(i) = (0..RECORDS).find(|&i| first[i] != second[i]) {
            panic!(
                "{label}: record {i} ({:?}) went to {} then {}",
                records[i], first[i], second[i]
            );
        }

        // A different input still respects the bound (fresh instance, no shared state).
        let mut fresh = build(name, &config).unwrap_or_else(|e| panic!("{label}: {e}"));
        route_all(fresh.as_mut(), &other_records);

        // `splits_keys() == false` is a promise that no key ever reaches two workers.
        if !p.splits_keys() {
            let mut owner = std::collections::HashMap::new();
            for (r, &w) in records.iter().zip(&first) {
                let o = *owner.entry(r.key).or_insert(w);
                assert_eq!(o, w, "{label}: claims not to split keys, key {} split", r.key);
            }
        }
    }
}

#[test]
fn unknown_names_are_rejected_with_the_valid_names() {
    let config = RouterConfig::default();
    for bad in ["", "nope", "Hash", "pkg ", "dalton"] {
        let err = build(bad, &config).expect_err(bad);
        assert_eq!(
            err,
            ConfigError::UnknownPartitioner {
                name: bad.to_string(),
                expected: NAMES,
            }
        );
        let message = err.to_string();
        for name in NAMES {
            assert!(message.contains(name), "message `{message}` lacks `{name}`");
        }
    }
}

/// A configuration broken in one setting, and the key its error must name.
fn invalid_configs() -> Vec<(&'static str, RouterConfig)> {
    let ok = RouterConfig {
        workers: WORKERS,
        ..RouterConfig::default()
    };
    let with = |f: &dyn Fn(&mut RouterConfig)| {
        let mut c = ok.clone();
        f(&mut c);
        c
    };
    vec![
        ("workers", with(&|c| c.workers = 0)),
        ("workers", with(&|c| c.workers = 40_000)),
        ("slide_ms", with(&|c| c.slide_ms = 0)),
        (
            "window_ms",
            with(&|c| {
                c.window_ms = 100;
                c.slide_ms = 250;
            }),
        ),
        ("num_keys", with(&|c| c.num_keys = 0)),
        ("hot_keys.count", with(&|c| c.hot_keys.count = 0)),
        ("hot_keys.shares", with(&|c| c.hot_keys.shares = vec![0.5])),
        ("choices.theta", with(&|c| c.choices.theta = Some(1.5))),
        ("choices.theta", with(&|c| c.choices.theta = Some(0.0))),
        ("choices.capacity", with(&|c| c.choices.capacity = 0)),
        (
            "choices.recompute_every",
            with(&|c| c.choices.recompute_every = 0),
        ),
        ("choices.epsilon", with(&|c| c.choices.epsilon = -0.1)),
        ("dalton.epsilon", with(&|c| c.dalton.epsilon = 2.0)),
        ("dalton.epsilon", with(&|c| c.dalton.epsilon = f64::NAN)),
        ("dalton.learning_rate", with(&|c| c.dalton.learning_rate = 1.5)),
        ("dalton.initial_q", with(&|c| c.dalton.initial_q = f64::INFINITY)),
        ("dalton.max_split", with(&|c| c.dalton.max_split = 0)),
        ("dalton.max_split", with(&|c| c.dalton.max_split = 7)),
        ("dalton.temperature", with(&|c| c.dalton.temperature = -1.0)),
        ("flexd.hot_threshold", with(&|c| c.flexd.hot_threshold = 2.0)),
        ("flexd.refresh_ms", with(&|c| c.flexd.refresh_ms = 0)),
        ("flexd.delta", with(&|c| c.flexd.delta = 0.5)),
        ("busy_feedback.smoothing", with(&|c| c.busy_feedback.smoothing = 0.0)),
        ("busy_feedback.smoothing", with(&|c| c.busy_feedback.smoothing = f64::NAN)),
        (
            "saspartitioner.stats_intervals",
            with(&|c| c.saspartitioner.stats_intervals = 0),
        ),
    ]
}

#[test]
fn invalid_configs_are_rejected_naming_the_setting() {
    for (key, config) in invalid_configs() {
        for name in NAMES {
            match build(name, &config) {
                Err(ConfigError::Invalid { key: got, .. }) if got == key => {
                    let message = build(name, &config).unwrap_err().to_string();
                    assert!(
                        message.contains(key),
                        "{name}: message `{message}` does not name `{key}`"
                    );
                }
                other => panic!("{name} with bad `{key}`: expected Invalid naming it, got {other:?}"),
            }
        }
    }
}

#[test]
fn strategy_specific_settings_are_rejected_by_the_strategies_that_use_them() {
    // drifting-key needs a worker for the drifting key and at least one for the rest.
    let one_worker = RouterConfig {
        workers: 1,
        ..RouterConfig::default()
    };
    let err = build("drifting-key", &one_worker).expect_err("drifting-key with P = 1");
    assert!(
        matches!(err, ConfigError::Invalid { key: "workers", .. }),
        "{err:?}"
    );
    assert!(build("hash", &one_worker).is_ok());

    // Online hot keys (the default): the detector's thresholds, for both strategies that run it.
    let mut online = RouterConfig {
        workers: WORKERS,
        ..RouterConfig::default()
    };
    for name in ["saspartitioner", "dalton-offline"] {
        online.hot_keys.online.enter = Some(2.0);
        let err = build(name, &online).expect_err("enter = 2");
        assert!(err.to_string().contains("hot_keys.online.enter"), "{name}: {err}");

        online.hot_keys.online.enter = None;
        online.hot_keys.online.capacity = 3;
        let err = build(name, &online).expect_err("capacity < count");
        assert!(
            err.to_string().contains("hot_keys.online.capacity"),
            "{name}: {err}"
        );
        online.hot_keys.online.capacity = 256;
    }

    // Measured shares: one per hot key, each a share, together part of one stream.
    let mut shares = RouterConfig {
        workers: WORKERS,
        ..RouterConfig::default()
    };
    for (bad, expected) in [
        (
            vec![0.3, 0.2],
            "must have one share per hot key (`hot_keys.count` = 10)",
        ),
        (
            vec![0.3, 0.2, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, -0.01],
            "-0.01 at rank 9",
        ),
        (
            vec![0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
            "summing to",
        ),
        (vec![0.0; 10], "summing to 0"),
        (vec![f64::NAN; 10], "NaN at rank 0"),
    ] {
        shares.hot_keys.shares = bad;
        for name in ["saspartitioner", "dalton-offline"] {
            let err = build(name, &shares).expect_err(expected);
            assert!(
                matches!(
                    err,
                    ConfigError::Invalid {
                        key: "hot_keys.shares",
                        ..
                    }
                ) && err.to_string().contains(expected),
                "{name}: {err}"
            );
        }
    }

    // The mask needs a positive Zipf exponent; every strategy rejects a bad one, naming its config key.
    let mut bad_alpha = RouterConfig {
        workers: WORKERS,
        ..RouterConfig::default()
    };
    bad_alpha.hot_keys.alpha = -1.0;
    for name in NAMES {
        let err = build(name, &bad_alpha).expect_err(name);
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    key: "hot_keys.alpha",
                    ..
                }
            ) && err.to_string().contains("`hot_keys.alpha`"),
            "{name}: {err}"
        );
    }
}
