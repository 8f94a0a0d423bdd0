//! The offline evaluator: replays one generated stream through partitioners and measures them.
//!
//! The stream is generated once, then each partitioner routes it window by window (windows of
//! `window_ms` event time). Only the routing loop is timed. At the end of each window the evaluator
//! computes, from the routed records:
//! * `imbalance` λ = (max − mean)/mean of per-worker record counts, and `nmad` = Σ|L_i − mean|/(n·mean)
//!   (both from [`sas_router::metrics`]);
//! * the fragmentation of each key: the number of distinct workers that received it in the window.
//!
//! It then hands the window's per-worker counts to the partitioner as its interval load
//! ([`Partitioner::end_interval`]), the signal `dalton-metrics` learns from when no busy time exists.
//! Reported figures are means over windows; `max_fragmentation` is the maximum over every key and window;
//! `hot_fragmentation_mean` averages over the `hot_keys` most frequent keys of the whole stream.

use indicatif::ProgressBar;
use sas_router::fast_map::{KeyMap, KeySet};
use sas_router::hot_keys::DEFAULT_ENTER_WORKER_SHARE;
use sas_router::limits::MAX_EVAL_RECORDS;
use sas_router::mask::Mask;
use sas_router::metrics::{imbalance, nmad};
use sas_router::params::Params;
use sas_router::partitioner::{Partitioner, RouterConfig, build};
use sas_router::workload::{Record, Workload, WorkloadConfig};
use sas_router::{ConfigError, NAMES};
use serde::Serialize;
use std::time::{Duration, Instant};

/// What to replay and how to measure it.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// The generated stream.
    pub workload: WorkloadConfig,
    /// Number of records to replay.
    pub records: u64,
    /// Router settings shared by every partitioner (workers, seed, windows, ...).
    pub router: RouterConfig,
    /// Partitioner names to evaluate, in output order.
    pub partitioners: Vec<String>,
    /// Metric window (ms of event time).
    pub window_ms: u64,
    /// Number of most frequent keys whose fragmentation is averaged.
    pub hot_keys: usize,
    /// Show a progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
}

/// The measurements of one partitioner. Field names are the `--json` contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouterReport {
    /// Partitioner name.
    pub partitioner: String,
    /// Mean over windows of (max − mean)/mean per-worker record counts.
    pub imbalance: f64,
    /// Mean over windows of Σ|L_i − mean|/(n·mean).
    pub nmad: f64,
    /// Mean over windows and hot keys of the number of workers a hot key reached.
    pub hot_fragmentation_mean: f64,
    /// Largest number of workers any key reached in any window.
    pub max_fragmentation: u64,
    /// Routing time per record (ns), the decision alone.
    pub ns_per_record: f64,
}

/// Errors of an evaluation.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A partitioner or workload setting is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An evaluation setting is wrong.
    #[error("invalid `{key}` = {value}: {reason}")]
    Invalid {
        /// The flag.
        key: &'static str,
        /// Its value.
        value: String,
        /// What is allowed.
        reason: &'static str,
    },
}

impl EvalConfig {
    /// The evaluation of the experiment `params` describes: its stream (seed mixed as the job mixes
    /// it), record count, router settings and window; fragmentation averaged over its hot-key count.
    pub fn from_params(params: &Params, partitioners: Vec<String>, progress: bool) -> Self {
        Self {
            workload: params.workload_config(),
            records: params.records,
            router: params.router_config(),
            partitioners,
            window_ms: params.window_ms,
            hot_keys: params.router.hot_keys.count,
            progress,
        }
    }
}

/// Replays the stream through every requested partitioner.
///
/// # Errors
/// [`EvalError`] naming the bad setting or partitioner; nothing is run until every partitioner builds.
pub fn run(config: &EvalConfig) -> Result<Vec<RouterReport>, EvalError> {
    if config.records == 0 {
        return Err(EvalError::Invalid {
            key: "records",
            value: "0".into(),
            reason: "must be > 0",
        });
    }
    // The whole stream is held in memory.
    if config.records > MAX_EVAL_RECORDS {
        return Err(EvalError::Config(ConfigError::invalid(
            "records",
            config.records,
            format!("must be at most {MAX_EVAL_RECORDS} (eval-routers holds the whole stream)"),
        )));
    }
    if config.window_ms == 0 {
        return Err(EvalError::Invalid {
            key: "window-ms",
            value: "0".into(),
            reason: "must be > 0",
        });
    }
    // Build everything first so a bad name fails before minutes of work.
    let mut partitioners: Vec<Box<dyn Partitioner>> = config
        .partitioners
        .iter()
        .map(|name| build(name, &config.router))
        .collect::<Result<_, _>>()?;
    let records: Vec<Record> = Workload::new(&config.workload)?
        .iter()
        .take(config.records as usize)
        .collect();
    let windows = split_windows(&records, config.window_ms);
    let hot = top_keys(&records, config.hot_keys);

    let bar = crate::progress::bar(
        config.progress,
        (partitioners.len() * windows.len()) as u64,
        "{spinner} {msg:16} [{bar:40}] {pos}/{len} windows ({eta})",
    );
    let reports = partitioners
        .iter_mut()
        .map(|p| {
            bar.set_message(p.name());
            let report = evaluate(p.as_mut(), &records, &windows, &hot, &bar);
            bar.println(format!(
                "  {:<16} λ = {:.3}",
                report.partitioner, report.imbalance
            ));
            report
        })
        .collect();
    bar.finish_and_clear();
    Ok(reports)
}

/// The default partitioner list: every name the router core knows.
pub fn all_partitioners() -> Vec<String> {
    NAMES.iter().map(|s| s.to_string()).collect()
}

fn evaluate(
    p: &mut dyn Partitioner,
    records: &[Record],
    windows: &[std::ops::Range<usize>],
    hot: &KeySet<u64>,
    bar: &ProgressBar,
) -> RouterReport {
    let n = p.workers() as usize;
    let mut routed = vec![0u32; records.len()];
    let mut routing_time = Duration::ZERO;
    let (mut lambda_sum, mut nmad_sum) = (0.0, 0.0);
    let (mut hot_frag_sum, mut hot_frag_count, mut max_frag) = (0u64, 0u64, 0u64);
    let mut pairs: KeySet<(u64, u32)> = KeySet::default();
    let mut fragmentation: KeyMap<u64, u64> = KeyMap::default();
    for window in windows {
        let chunk = &records[window.clone()];
        let out = &mut routed[window.clone()];
        let start = Instant::now();
        for (r, w) in chunk.iter().zip(out.iter_mut()) {
            *w = p.route(r.key, r.ts_ms);
        }
        routing_time += start.elapsed();

        let mut counts = vec![0f64; n];
        pairs.clear();
        fragmentation.clear();
        for (r, &w) in chunk.iter().zip(out.iter()) {
            counts[w as usize] += 1.0;
            if pairs.insert((r.key, w)) {
                *fragmentation.entry(r.key).or_insert(0) += 1;
            }
        }
        lambda_sum += imbalance(&counts);
        nmad_sum += nmad(&counts);
        for (key, &f) in &fragmentation {
            max_frag = max_frag.max(f);
            if hot.contains(key) {
                hot_frag_sum += f;
                hot_frag_count += 1;
            }
        }
        p.end_interval(&counts);
        bar.inc(1);
    }
    let windows = windows.len().max(1) as f64;
    RouterReport {
        partitioner: p.name().to_string(),
        imbalance: lambda_sum / windows,
        nmad: nmad_sum / windows,
        hot_fragmentation_mean: if hot_frag_count == 0 {
            0.0
        } else {
            hot_frag_sum as f64 / hot_frag_count as f64
        },
        max_fragmentation: max_frag,
        ns_per_record: routing_time.as_nanos() as f64 / records.len() as f64,
    }
}

/// Decimal places measured shares are rounded to: the mask [`measure_hot_keys`] reports is drawn from
/// the rounded shares, so the printed `router.hot_keys.shares` gives exactly that mask.
pub const SHARE_DECIMALS: i32 = 6;

/// The share of a stream each hot rank takes, and the mask drawn from it. Field names are the `--json`
/// contract of `sas-agent measure-hot-keys`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HotKeyReport {
    /// Workers P the detector's thresholds are for.
    pub workers: u32,
    /// Hot ranks K (`router.hot_keys.count`).
    pub hot_keys: usize,
    /// Records of the stream read.
    pub records: u64,
    /// Records measured: those after the detector's first revision of its hot set.
    pub measured_records: u64,
    /// Per rank, the share of the measured records routed under it ([`SHARE_DECIMALS`] places): the
    /// `router.hot_keys.shares` of params.
    pub shares: Vec<f64>,
    /// The key holding each rank at the end of the stream (`null`: a free rank).
    pub keys: Vec<Option<u64>>,
    /// The mask the shares give.
    pub mask: MaskSummary,
    /// The Zipf exponent the mask assumes without shares (`router.hot_keys.alpha`).
    pub alpha: f64,
    /// The mask that exponent gives, for comparison.
    pub alpha_mask: MaskSummary,
}

/// A mask, as reports print it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaskSummary {
    /// True hot keys (ranges).
    pub true_hot_keys: usize,
    /// The action dimension A.
    pub action_dim: usize,
    /// `[start, end)` worker range of each true hot key, by rank.
    pub ranges: Vec<[usize; 2]>,
}

impl From<&Mask> for MaskSummary {
    fn from(mask: &Mask) -> Self {
        Self {
            true_hot_keys: mask.true_hot_keys(),
            action_dim: mask.action_dim(),
            ranges: mask.ranges().iter().map(|r| [r.start, r.end]).collect(),
        }
    }
}

/// Measures the first `records` records of `workload` with the router core's online hot-key detector
/// (`router.hot_keys.count` ranks, `router.hot_keys.online` settings, thresholds for `router.workers`),
/// whatever `router.hot_keys.mode` says: the share of the stream each rank takes, and the mask those
/// shares give. `router.hot_keys.shares`, if set, is not read.
///
/// # Errors
/// [`EvalError`] naming the bad setting: the stream, the detector, `records` = 0, a stream shorter than
/// one revision of the hot set.
pub fn measure_hot_keys(
    workload: &WorkloadConfig,
    records: u64,
    router: &RouterConfig,
) -> Result<HotKeyReport, EvalError> {
    if records == 0 {
        return Err(EvalError::Invalid {
            key: "records",
            value: "0".into(),
            reason: "must be > 0",
        });
    }
    let mut hot = router.hot_keys.clone();
    hot.shares.clear();
    let alpha_mask = hot.mask(router.workers)?;
    let stream = Workload::new(workload)?;
    let measured = hot.measure_shares(
        router.workers,
        stream.iter().take(records as usize).map(|r| r.key),
    )?;
    if measured.shares.iter().all(|&s| s == 0.0) {
        let enter = hot
            .online
            .enter
            .unwrap_or(DEFAULT_ENTER_WORKER_SHARE / f64::from(router.workers));
        return Err(EvalError::Config(ConfigError::invalid(
            "hot_keys.online.enter",
            enter,
            format!(
                "no key of the {records} records reached it, so nothing is hot at P = {} and there are \
                 no shares to draw a mask from (lower it, or measure for more workers)",
                router.workers
            ),
        )));
    }
    let scale = 10f64.powi(SHARE_DECIMALS);
    hot.shares = measured
        .shares
        .iter()
        .map(|s| (s * scale).round() / scale)
        .collect();
    let mask = hot.mask(router.workers)?;
    Ok(HotKeyReport {
        workers: router.workers,
        hot_keys: hot.count,
        records,
        measured_records: measured.records,
        shares: hot.shares,
        keys: measured.keys,
        mask: MaskSummary::from(&mask),
        alpha: hot.alpha,
        alpha_mask: MaskSummary::from(&alpha_mask),
    })
}

/// Index ranges of consecutive records sharing a metric window (records are in event-time order).
fn split_windows(records: &[Record], window_ms: u64) -> Vec<std::ops::Range<usize>> {
    let mut windows = Vec::new();
    let mut start = 0;
    for i in 1..=records.len() {
        if i == records.len() || records[i].ts_ms / window_ms != records[start].ts_ms / window_ms {
            windows.push(start..i);
            start = i;
        }
    }
    windows
}

/// The `k` most frequent keys of the stream (ties: smaller key first).
fn top_keys(records: &[Record], k: usize) -> KeySet<u64> {
    let mut counts: KeyMap<u64, u64> = KeyMap::default();
    for r in records {
        *counts.entry(r.key).or_insert(0) += 1;
    }
    let mut all: Vec<(u64, u64)> = counts.into_iter().collect();
    all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    all.into_iter().take(k).map(|(key, _)| key).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(names: &[&str]) -> EvalConfig {
        EvalConfig {
            workload: WorkloadConfig {
                alpha: 1.5,
                keys: 10_000,
                rate: 50_000,
                seed: 3,
                ..Default::default()
            },
            records: 200_000,
            router: RouterConfig {
                workers: 16,
                seed: 3,
                ..Default::default()
            },
            partitioners: names.iter().map(|s| s.to_string()).collect(),
            window_ms: 1000,
            hot_keys: 10,
            progress: false,
        }
    }

    #[test]
    fn hash_never_splits_and_shuffle_balances() {
        let reports = run(&config(&["hash", "shuffle", "pkg"])).unwrap();
        let [hash, shuffle, pkg] = &reports[..] else {
            panic!("three reports")
        };
        assert_eq!(hash.max_fragmentation, 1);
        assert!(hash.imbalance > 1.0, "hash λ = {}", hash.imbalance);
        assert!(shuffle.imbalance < 0.05, "shuffle λ = {}", shuffle.imbalance);
        assert!(shuffle.hot_fragmentation_mean > 15.0);
        assert!(pkg.max_fragmentation <= 2);
    }

    #[test]
    fn unknown_partitioner_fails_before_running() {
        let e = run(&config(&["hash", "nope"])).unwrap_err();
        assert!(e.to_string().contains("unknown partitioner `nope`"), "{e}");
    }

    // Issue "Nothing a client sends takes it down", item 1: the stream is materialised, so its length
    // is bounded before anything is generated.
    #[test]
    fn a_stream_too_long_to_hold_is_refused() {
        let too_long = EvalConfig {
            records: 10_000_000_000,
            ..config(&["hash"])
        };
        let e = run(&too_long).unwrap_err();
        assert!(e.to_string().contains("`records`"), "{e}");
    }

    /// A recorded stream replays in file order: a key that fills one window and is gone in the next
    /// loads hash's worker in the first window only, and the hot keys are the file's frequent lines.
    #[test]
    fn a_key_file_replays_in_order_with_its_bursts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.txt");
        // Window 1 (1000 records at 1000 records/s): one key only. Window 2: 1000 distinct keys.
        let mut lines = vec!["burst".to_string(); 1000];
        lines.extend((0..1000).map(|i| format!("user-{i}")));
        std::fs::write(&path, lines.join("\n")).unwrap();
        let config = EvalConfig {
            workload: WorkloadConfig {
                kind: "file".into(),
                path: Some(path),
                rate: 1000,
                ..Default::default()
            },
            records: 2000,
            hot_keys: 1,
            ..config(&["hash", "shuffle"])
        };
        let reports = run(&config).unwrap();
        let [hash, shuffle] = &reports[..] else {
            panic!("two reports")
        };
        // Window 1: all 1000 records on one of 16 workers, λ = 15; window 2 spreads 1000 keys.
        assert!(hash.imbalance > 7.0, "hash λ = {}", hash.imbalance);
        assert_eq!(hash.max_fragmentation, 1);
        // The burst key is the hot key; shuffle spreads it over every worker in its window.
        assert_eq!(shuffle.hot_fragmentation_mean, 16.0);
        assert!(shuffle.imbalance < 0.5, "shuffle λ = {}", shuffle.imbalance);
        let records: Vec<Record> = Workload::new(&config.workload)
            .unwrap()
            .iter()
            .take(2001)
            .collect();
        assert_eq!(records[0].key, sas_router::hashing::word_key("burst"));
        assert_eq!(records[1000].key, sas_router::hashing::word_key("user-0"));
        // Past the end the file starts over.
        assert_eq!(records[2000].key, records[0].key);
    }

    /// Issue #14 item 4: the mask is drawn from measured shares, not from an assumed exponent. On
    /// shuffled Zipf(1.5) ids the detector's ranks take the Zipf shares of the top ranks, and the
    /// reported mask is the one those (rounded) shares give in params.
    #[test]
    fn measured_shares_are_the_top_ranks_shares_and_draw_the_mask() {
        let workload = WorkloadConfig {
            alpha: 1.5,
            keys: 10_000,
            shuffle_keys: true,
            seed: 3,
            ..Default::default()
        };
        let router = RouterConfig {
            workers: 8,
            ..Default::default()
        };
        let report = measure_hot_keys(&workload, 300_000, &router).unwrap();
        assert_eq!(
            (report.workers, report.hot_keys, report.records),
            (8, 10, 300_000)
        );
        assert_eq!(report.measured_records, 300_000 - 16_384 + 1);
        let zipf = sas_router::mask::zipf_popularity(1.5, 10_000);
        for rank in 0..3 {
            assert!(
                (report.shares[rank] - zipf[rank]).abs() < 0.01,
                "rank {rank}: measured {:?}, Zipf {:?}",
                report.shares,
                &zipf[..10]
            );
        }
        // Ranks whose key is below the entry threshold 1/(5P) = 2.5 % stay free (the tenth key has
        // 1.2 %): no share.
        assert_eq!(report.shares[9], 0.0);
        assert_eq!(report.keys[9], None);
        let mut params = router.hot_keys.clone();
        params.shares = report.shares.clone();
        assert_eq!(report.mask, MaskSummary::from(&params.mask(8).unwrap()));
        let assumed = sas_router::mask::Mask::zipf(8, 1.5, 10, 0, 0).unwrap();
        assert_eq!(report.alpha_mask, MaskSummary::from(&assumed));
        // Rounding keeps every digit the mask can see.
        assert!(
            report
                .shares
                .iter()
                .all(|s| (s * 1e6 - (s * 1e6).round()).abs() < 1e-6)
        );
    }

    #[test]
    fn a_stream_shorter_than_one_revision_measures_nothing() {
        let router = RouterConfig {
            workers: 8,
            ..Default::default()
        };
        let e = measure_hot_keys(&WorkloadConfig::default(), 1000, &router).unwrap_err();
        assert!(e.to_string().contains("hot_keys.online.tick_records"), "{e}");
        let e = measure_hot_keys(&WorkloadConfig::default(), 0, &router).unwrap_err();
        assert!(e.to_string().contains("`records`"), "{e}");
        // Uniform keys: none reaches the entry threshold, so there is nothing to measure.
        let uniform = WorkloadConfig {
            alpha: 0.0,
            ..Default::default()
        };
        let e = measure_hot_keys(&uniform, 50_000, &router)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`hot_keys.online.enter` = 0.025") && e.contains("nothing is hot at P = 8"),
            "{e}"
        );
    }

    #[test]
    fn windows_split_on_event_time() {
        let recs: Vec<Record> = [0, 10, 999, 1000, 2500]
            .iter()
            .map(|&ts_ms| Record { key: 0, ts_ms })
            .collect();
        assert_eq!(split_windows(&recs, 1000), vec![0..3, 3..4, 4..5]);
    }
}
