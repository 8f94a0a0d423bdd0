//! Focused oracles per strategy, one per promise its paper or reference code makes (`docs/partitioners.md`
//! names the sources): each test states one behaviour the strategy promises and fails if it is broken.

use sas_router::hashing::{hash_int_partition, reduce, seeded_hash64};
use sas_router::metrics::imbalance;
use sas_router::partitioner::{
    DChoices, DaltonOffline, DaltonOriginal, HotKeyMode, HotRouting, RouterConfig, SasPartitioner,
};
use sas_router::workload::{Record, ZipfStream};
use sas_router::{DecodeError, Partitioner, build};
use std::collections::{BTreeSet, HashMap};

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

/// The first `n` records of `ZipfStream::new(alpha, keys, shuffle, rate, seed)` (alpha 0 = uniform).
fn zipf(alpha: f64, keys: u64, shuffle: bool, rate: u64, seed: u64, n: usize) -> Vec<Record> {
    ZipfStream::new(alpha, keys, shuffle, rate, seed)
        .expect("valid workload")
        .take(n)
        .collect()
}

fn config(workers: u32) -> RouterConfig {
    RouterConfig {
        workers,
        ..RouterConfig::default()
    }
}

/// [`config`] with static hot keys (key k < K has rank k), so a test can address rank r through key r.
fn ranked_config(workers: u32) -> RouterConfig {
    let mut c = config(workers);
    c.hot_keys.mode = HotKeyMode::Static;
    c
}

/// Routes every record and returns the worker of each.
fn route_all(p: &mut dyn Partitioner, records: &[Record]) -> Vec<u32> {
    records.iter().map(|r| p.route(r.key, r.ts_ms)).collect()
}

/// The strategy `name` on `records`.
fn run(name: &str, config: &RouterConfig, records: &[Record]) -> Vec<u32> {
    let mut p = build(name, config).expect("valid config");
    route_all(p.as_mut(), records)
}

/// The distinct workers each key reached.
fn workers_per_key(records: &[Record], workers: &[u32]) -> HashMap<u64, BTreeSet<u32>> {
    let mut map: HashMap<u64, BTreeSet<u32>> = HashMap::new();
    for (r, &w) in records.iter().zip(workers) {
        map.entry(r.key).or_default().insert(w);
    }
    map
}

/// λ = (max − mean)/mean of per-worker record counts.
fn count_imbalance(workers: &[u32], n: u32) -> f64 {
    let mut counts = vec![0.0; n as usize];
    for &w in workers {
        counts[w as usize] += 1.0;
    }
    imbalance(&counts)
}

/// λ of per-worker record counts in each tumbling window of `window_ms` event time, averaged over the
/// windows (the last, possibly partial, window included only if it is full).
fn mean_window_imbalance(records: &[Record], workers: &[u32], n: u32, window_ms: u64) -> f64 {
    let mut windows: Vec<Vec<f64>> = Vec::new();
    for (r, &w) in records.iter().zip(workers) {
        let i = (r.ts_ms / window_ms) as usize;
        if windows.len() <= i {
            windows.resize(i + 1, vec![0.0; n as usize]);
        }
        windows[i][w as usize] += 1.0;
    }
    let last_full = records.last().is_some_and(|r| (r.ts_ms + 1) % window_ms == 0);
    if !last_full && windows.len() > 1 {
        windows.pop();
    }
    windows.iter().map(|c| imbalance(c)).sum::<f64>() / windows.len() as f64
}

/// The two candidates of PKG, cAM and CM (seeded hashes 13 and 17, as `two_choices` in the crate).
fn candidates(key: u64, n: u32) -> (u32, u32) {
    (
        reduce(seeded_hash64(key, 13), n),
        reduce(seeded_hash64(key, 17), n),
    )
}

/// The first key at or after `from` (other than `not`) satisfying `pred`.
fn find_key(from: u64, not: &[u64], pred: impl Fn(u64) -> bool) -> u64 {
    (from..from + 1_000_000)
        .find(|k| !not.contains(k) && pred(*k))
        .expect("a key with that property exists among a million")
}

// ---------------------------------------------------------------------------------------------------------
// hash and drifting-key
// ---------------------------------------------------------------------------------------------------------

#[test]
fn hash_sends_every_key_to_exactly_one_worker() {
    let records = zipf(1.5, 1000, false, 10_000, 1, 50_000);
    let workers = run("hash", &config(8), &records);
    for (key, ws) in workers_per_key(&records, &workers) {
        assert_eq!(ws.len(), 1, "key {key} reached {ws:?}");
        // The prototype's hash, so worker ids match it.
        assert_eq!(ws.first(), Some(&hash_int_partition(key, 8)), "key {key}");
    }
    let used: BTreeSet<u32> = workers.iter().copied().collect();
    assert_eq!(used.len(), 8, "1000 keys should cover all 8 workers: {used:?}");
}

#[test]
fn drifting_key_owns_worker_zero() {
    let mut c = config(8);
    c.num_keys = 1000;
    let drifting = c.num_keys;
    let mut records = zipf(1.5, 1000, false, 10_000, 2, 20_000);
    for (i, r) in records.iter_mut().enumerate() {
        if i % 10 == 0 {
            r.key = drifting;
        }
    }
    let workers = run("drifting-key", &c, &records);
    for (r, &w) in records.iter().zip(&workers) {
        if r.key == drifting {
            assert_eq!(w, 0, "the drifting key went to {w}");
        } else {
            assert_ne!(w, 0, "key {} shares worker 0 with the drifting key", r.key);
        }
    }
    let used: BTreeSet<u32> = workers.iter().copied().collect();
    assert_eq!(used, (0..8).collect(), "other keys should cover workers 1..8");
}

// ---------------------------------------------------------------------------------------------------------
// PKG
// ---------------------------------------------------------------------------------------------------------

#[test]
fn pkg_keeps_each_key_on_its_two_candidates() {
    let records = zipf(1.5, 1000, false, 10_000, 3, 50_000);
    let workers = run("pkg", &config(8), &records);
    for (key, ws) in workers_per_key(&records, &workers) {
        let (h1, h2) = candidates(key, 8);
        assert!(ws.len() <= 2, "key {key} reached {ws:?}");
        assert!(
            ws.iter().all(|&w| w == h1 || w == h2),
            "key {key} reached {ws:?}, candidates {h1}, {h2}"
        );
    }
    // The hottest key (39 % of the stream, 3× a fair share) needs both of its candidates.
    let (h1, h2) = candidates(0, 8);
    if h1 != h2 {
        assert_eq!(workers_per_key(&records, &workers)[&0].len(), 2);
    }
}

#[test]
fn pkg_balances_a_uniform_stream() {
    let records = zipf(0.0, 1000, false, 10_000, 4, 100_000);
    let pkg = count_imbalance(&run("pkg", &config(8), &records), 8);
    assert!(pkg < 0.05, "PKG λ = {pkg} on uniform keys");
    // The stream is not balanced by itself: hashing 1000 keys onto 8 workers is visibly uneven.
    let hash = count_imbalance(&run("hash", &config(8), &records), 8);
    assert!(hash > pkg, "hash λ = {hash}, PKG λ = {pkg}");
}

// ---------------------------------------------------------------------------------------------------------
// cAM and CM
// ---------------------------------------------------------------------------------------------------------

fn windowed(workers: u32) -> RouterConfig {
    RouterConfig {
        workers,
        window_ms: 1000,
        slide_ms: 250,
        ..RouterConfig::default()
    }
}

#[test]
fn cam_and_cm_use_at_most_the_two_candidates_per_window() {
    let records = zipf(1.5, 1000, false, 10_000, 5, 50_000);
    for name in ["cam", "cm"] {
        let workers = run(name, &windowed(8), &records);
        // Per tumbling window of 1 s and, since there are only two candidates, over the whole run.
        let mut per_window: HashMap<(u64, u64), BTreeSet<u32>> = HashMap::new();
        for (r, &w) in records.iter().zip(&workers) {
            per_window.entry((r.ts_ms / 1000, r.key)).or_default().insert(w);
        }
        for ((window, key), ws) in per_window {
            assert!(
                ws.len() <= 2,
                "{name}: key {key} reached {ws:?} in window {window}"
            );
        }
        for (key, ws) in workers_per_key(&records, &workers) {
            let (h1, h2) = candidates(key, 8);
            assert!(
                ws.iter().all(|&w| w == h1 || w == h2),
                "{name}: key {key} reached {ws:?}, candidates {h1}, {h2}"
            );
        }
    }
}

#[test]
fn cam_keeps_a_key_on_its_worker_while_it_keeps_arriving() {
    let c = windowed(8);
    let records = zipf(1.5, 1000, false, 10_000, 6, 50_000);
    let workers = run("cam", &c, &records);
    // A gap shorter than window − slide keeps the key's last slide inside the window, whatever the alignment.
    let max_gap = c.window_ms - c.slide_ms;
    let mut last: HashMap<u64, (u64, u32)> = HashMap::new();
    let mut checked = 0;
    for (r, &w) in records.iter().zip(&workers) {
        if let Some(&(ts, prev)) = last.get(&r.key)
            && r.ts_ms - ts < max_gap
        {
            assert_eq!(
                w,
                prev,
                "key {} moved from {prev} to {w} after {} ms",
                r.key,
                r.ts_ms - ts
            );
            checked += 1;
        }
        last.insert(r.key, (r.ts_ms, w));
    }
    assert!(checked > 40_000, "only {checked} records were checked");
}

#[test]
fn cam_re_decides_a_key_after_the_window_expires() {
    let c = windowed(8);
    let mut cam = build("cam", &c).unwrap();
    // Key k with two distinct candidates, and a filler key whose both candidates are k's first one, so
    // every filler record lands there and makes it heavy.
    let k = find_key(0, &[], |k| {
        let (h1, h2) = candidates(k, 8);
        h1 != h2
    });
    let (h1, h2) = candidates(k, 8);
    let filler = find_key(0, &[k], |f| candidates(f, 8) == (h1, h1));

    // All loads are zero: k takes its first candidate.
    assert_eq!(cam.route(k, 0), h1);
    for t in 0..3000 {
        assert_eq!(cam.route(filler, t), h1, "filler at {t}");
        // While k keeps arriving (gaps of 100 ms, then 600 ms), it sticks to h1 although h1 carries
        // every filler record and h2 nothing.
        if (1..=5).contains(&(t / 100)) && t % 100 == 0 || t == 1100 {
            assert_eq!(cam.route(k, t), h1, "k at {t} left its worker");
        }
        // After 1400 ms without k (longer than the 1000 ms window) its holding has expired: the lighter
        // candidate h2 gets it, and it sticks there.
        if t == 2500 || t == 2600 || t == 2900 {
            assert_eq!(cam.route(k, t), h2, "k at {t} was not re-decided");
        }
    }
}

#[test]
fn cm_prefers_the_candidate_with_fewer_keys_in_the_window() {
    let c = windowed(8);
    let mut cm = build("cm", &c).unwrap();
    let k = find_key(0, &[], |k| {
        let (h1, h2) = candidates(k, 8);
        h1 != h2
    });
    let (h1, h2) = candidates(k, 8);
    // Three distinct keys pinned to h1 (both candidates h1): h1 holds 3 keys, h2 none.
    let mut pinned = Vec::new();
    for _ in 0..3 {
        let mut not = pinned.clone();
        not.push(k);
        let f = find_key(0, &not, |f| candidates(f, 8) == (h1, h1));
        assert_eq!(cm.route(f, 0), h1);
        pinned.push(f);
    }
    assert_eq!(cm.route(k, 10), h2, "k should avoid h1, which holds 3 keys");
    // Many records of one key do not raise cardinality: h1 still holds 3 keys, h2 holds k.
    for t in 10..20 {
        assert_eq!(cm.route(k, t), h2);
    }
    // Once the window has passed without any of them, both cardinalities are 0 and h1 wins the tie.
    assert_eq!(cm.route(k, 5000), h1, "holdings should have expired");
}

// ---------------------------------------------------------------------------------------------------------
// W-Choices and D-Choices
// ---------------------------------------------------------------------------------------------------------

#[test]
fn w_choices_balances_zipf_and_beats_d_choices() {
    let records = zipf(1.5, 100_000, false, 100_000, 8, 200_000);
    let c = config(32);
    let w = mean_window_imbalance(&records, &run("w-choices", &c, &records), 32, 1000);
    let d = mean_window_imbalance(&records, &run("d-choices", &c, &records), 32, 1000);
    let hash = mean_window_imbalance(&records, &run("hash", &c, &records), 32, 1000);
    assert!(w < 0.2, "W-Choices λ = {w}");
    assert!(w <= d + 0.05, "W-Choices λ = {w}, D-Choices λ = {d}");
    assert!(hash > 1.0, "hash λ = {hash}: the stream should be skewed");
}

/// D-Choices' `d` after routing `records`.
fn d_after(alpha: f64, seed: u64) -> (u32, Vec<Record>, Vec<u32>) {
    let records = zipf(alpha, 100_000, false, 100_000, seed, 200_000);
    let mut dc = DChoices::new(&config(32)).unwrap();
    let workers = route_all(&mut dc, &records);
    (dc.d(), records, workers)
}

// Regression: tail keys used to enter the head on the error they inherit when taking over a SpaceSaving
// counter (up to m/100, above θ = 1/160 at P = 32), and D-Choices used disjoint hashes for head and tail
// candidates, so at Zipf 1.0 about 1700 tail keys reached 3 or more workers.
#[test]
fn d_choices_grows_d_with_the_hottest_share_and_keeps_tail_keys_on_two_workers() {
    let (d_low, rec_low, w_low) = d_after(1.0, 9);
    let (d_high, rec_high, w_high) = d_after(2.0, 9);
    assert!(d_high > d_low, "d = {d_low} at Zipf 1.0, {d_high} at Zipf 2.0");
    // p1 ≈ 0.08 at Zipf 1.0 over 100k keys: round(p1·32) = 3, so d ≥ 3.
    assert!(d_low >= 3, "d = {d_low} at Zipf 1.0");
    for (records, workers) in [(&rec_low, &w_low), (&rec_high, &w_high)] {
        for (key, ws) in workers_per_key(records, workers) {
            if key >= 1000 {
                assert!(ws.len() <= 2, "tail key {key} reached {ws:?}");
            }
        }
    }
}

#[test]
fn w_choices_keeps_tail_keys_on_their_two_candidates() {
    // Zipf 1.0 at P = 32: a long tail churning through the 100 SpaceSaving counters.
    let records = zipf(1.0, 100_000, false, 100_000, 9, 200_000);
    let workers = run("w-choices", &config(32), &records);
    // While fewer than 1/θ = 160 records are seen every key is in the head and may go anywhere, as in the
    // reference simulator; keys first seen after that must stay on their two PKG candidates.
    let warm_up: BTreeSet<u64> = records[..1000].iter().map(|r| r.key).collect();
    let mut checked = 0;
    for (key, ws) in workers_per_key(&records, &workers) {
        if key >= 1000 && !warm_up.contains(&key) {
            let (h1, h2) = candidates(key, 32);
            assert!(
                ws.iter().all(|&w| w == h1 || w == h2),
                "tail key {key} reached {ws:?}, candidates {h1}, {h2}"
            );
            checked += 1;
        }
    }
    assert!(checked > 10_000, "only {checked} tail keys checked");
}

// ---------------------------------------------------------------------------------------------------------
// Dalton
// ---------------------------------------------------------------------------------------------------------

fn dalton_config(learning_rate: f64) -> RouterConfig {
    let mut c = windowed(8);
    c.dalton.learning_rate = learning_rate;
    c
}

#[test]
fn dalton_q_rows_are_exponential_moving_averages_of_bounded_rewards() {
    let records = zipf(1.5, 1000, false, 10_000, 10, 30_000);
    for a in [0.0, 0.1, 0.3, 1.0] {
        let c = dalton_config(a);
        let q0 = c.dalton.initial_q;
        let mut dalton = DaltonOriginal::new(&c).unwrap();
        let mut updates = 0;
        for r in &records {
            let before = dalton.q_row(r.key).map(<[f64]>::to_vec);
            let w = dalton.route(r.key, r.ts_ms) as usize;
            let Some(after) = dalton.q_row(r.key) else {
                continue;
            };
            updates += 1;
            let before = before.unwrap_or_else(|| vec![q0; after.len()]);
            // Only the chosen arm moves.
            for (i, (&x, &y)) in before.iter().zip(after).enumerate() {
                if i != w {
                    assert_eq!(x, y, "a = {a}: arm {i} moved when {w} was chosen");
                }
                assert!((q0..=0.5).contains(&y), "a = {a}: Q = {y} outside [{q0}, 0.5]");
            }
            // Q' = (1 − a)·Q + a·r with a reward r in [−1, 0.5].
            if a == 0.0 {
                assert_eq!(after[w], q0, "a = 0 must leave Q at its initial value");
            } else {
                let r = (after[w] - (1.0 - a) * before[w]) / a;
                assert!(
                    (-1.0 - 1e-9..=0.5 + 1e-9).contains(&r),
                    "a = {a}: implied reward {r} (Q {} → {})",
                    before[w],
                    after[w]
                );
                if a == 1.0 {
                    assert!((-1.0..=0.5).contains(&after[w]), "a = 1: Q = {}", after[w]);
                }
            }
        }
        assert!(updates > 5_000, "a = {a}: only {updates} hot records");
        assert!(dalton.q_row(0).is_some(), "key 0 (39 % of records) is hot");
    }
}

#[test]
fn dalton_sends_cold_keys_to_key_mod_p_and_caps_max_split() {
    let records = zipf(1.5, 1000, false, 10_000, 11, 50_000);
    // ε = 1 explores on every hot record, so keys fragment fast and max_split climbs to its cap.
    let mut c = windowed(8);
    c.dalton.epsilon = 1.0;
    let mut dalton = DaltonOriginal::new(&c).unwrap();
    let mut highest = 0;
    let mut hot_spread: BTreeSet<u32> = BTreeSet::new();
    for r in &records {
        let w = dalton.route(r.key, r.ts_ms);
        if r.key >= 50 {
            // Rank ≥ 50: under 0.2 % of records, far below the fair share 1/8.
            assert_eq!(u64::from(w), r.key % 8, "cold key {} went to {w}", r.key);
            assert!(dalton.q_row(r.key).is_none(), "cold key {} has a Q row", r.key);
        }
        if r.key == 0 {
            hot_spread.insert(w);
        }
        highest = highest.max(dalton.max_split());
        assert!(dalton.max_split() <= 6, "max_split = {}", dalton.max_split());
    }
    assert_eq!(highest, 6, "max_split should reach its cap with ε = 1");
    assert!(hot_spread.len() > 1, "the hot key was never split");
}

// ---------------------------------------------------------------------------------------------------------
// DAGreedy and FlexD
// ---------------------------------------------------------------------------------------------------------

#[test]
fn dagreedy_and_flexd_hash_cold_keys_and_balance_hot_ones() {
    let records = zipf(1.5, 100_000, false, 100_000, 12, 200_000);
    let c = windowed(16);
    let hash = mean_window_imbalance(&records, &run("hash", &c, &records), 16, 1000);
    for name in ["dagreedy", "flexd"] {
        let workers = run(name, &c, &records);
        for (r, &w) in records.iter().zip(&workers) {
            // Rank ≥ 100: under 0.04 % of records, cold for both (fair share 1/16, FlexD threshold 1 %).
            if r.key >= 100 {
                assert_eq!(u64::from(w), r.key % 16, "{name}: cold key {} went to {w}", r.key);
            }
        }
        let lambda = mean_window_imbalance(&records, &workers, 16, 1000);
        assert!(lambda < hash / 4.0, "{name}: λ = {lambda}, hash λ = {hash}");
    }
}

// ---------------------------------------------------------------------------------------------------------
// SaSPartitioner
// ---------------------------------------------------------------------------------------------------------

#[test]
fn sas_static_hot_keys_stay_inside_their_mask_ranges() {
    let c = ranked_config(8);
    let records = zipf(1.5, 1000, false, 10_000, 13, 50_000);
    let mut sas = SasPartitioner::new(&c).unwrap();
    let ranges = sas.mask().ranges().to_vec();
    let workers = route_all(&mut sas, &records);
    let per_key = workers_per_key(&records, &workers);
    for (rank, range) in ranges.iter().enumerate() {
        let ws = &per_key[&(rank as u64)];
        assert!(
            ws.iter().all(|&w| range.contains(&(w as usize))),
            "hot key {rank} reached {ws:?}, mask range {range:?}"
        );
        if range.len() > 1 {
            assert!(ws.len() > 1, "hot key {rank} never used its range {range:?}");
        }
    }
    for (&key, ws) in &per_key {
        if key >= c.hot_keys.count as u64 {
            assert_eq!(ws.len(), 1, "cold key {key} reached {ws:?}");
            assert_eq!(ws.first(), Some(&hash_int_partition(key, 8)), "cold key {key}");
        }
    }
}

/// An action over `mask` giving every pair weight 1, except key 0's pairs, which get `row0`.
fn action_with_row0(sas: &SasPartitioner, row0: &[f64]) -> Vec<f64> {
    let mut action = vec![1.0; sas.mask().action_dim()];
    assert_eq!(row0.len(), sas.mask().ranges()[0].len());
    action[..row0.len()].copy_from_slice(row0);
    action
}

#[test]
fn sas_apply_action_reroutes_and_bad_actions_keep_the_old_table() {
    let c = ranked_config(8);
    let mut sas = SasPartitioner::new(&c).unwrap();
    let range = sas.mask().ranges()[0].clone();
    assert!(range.len() > 1, "rank 0 should span several workers: {range:?}");
    let mut row0 = vec![0.0; range.len()];
    row0[0] = 1.0;
    let action = action_with_row0(&sas, &row0);
    sas.apply_action(&action).unwrap();
    let only_start = |sas: &mut SasPartitioner| {
        for t in 0..1000 {
            assert_eq!(sas.route(0, t) as usize, range.start, "record {t} of key 0");
        }
    };
    only_start(&mut sas);

    let table = sas.table().clone();
    let too_long = vec![1.0; sas.mask().action_dim() + 1];
    assert!(matches!(
        sas.apply_action(&too_long),
        Err(DecodeError::WrongDimension { .. })
    ));
    assert!(sas.apply_action(&[]).is_err());
    let mut nan = vec![1.0; sas.mask().action_dim()];
    nan[1] = f64::NAN;
    assert!(matches!(
        sas.apply_action(&nan),
        Err(DecodeError::BadValue { index: 1, .. })
    ));
    assert_eq!(sas.table(), &table, "a rejected action changed the table");
    only_start(&mut sas);

    // Every other strategy refuses actions.
    let mut hash = build("hash", &c).unwrap();
    assert!(hash.apply_action(&action).is_err());
}

#[test]
fn sas_achieved_shares_match_the_table_row() {
    for routing in [HotRouting::Schedule, HotRouting::Deficit] {
        let mut c = ranked_config(8);
        c.saspartitioner.hot_routing = routing;
        let mut sas = SasPartitioner::new(&c).unwrap();
        let width = sas.mask().ranges()[0].len();
        let row0: Vec<f64> = (1..=width).map(|i| i as f64).collect();
        sas.apply_action(&action_with_row0(&sas, &row0)).unwrap();
        let target = sas.table().row(0).expect("rank 0 has a row").to_vec();
        let n = 20_000;
        let mut counts = [0.0; 8];
        for t in 0..n {
            counts[sas.route(0, t) as usize] += 1.0;
        }
        for (w, (&got, &want)) in counts.iter().zip(&target).enumerate() {
            let share = got / n as f64;
            assert!(
                (share - want).abs() < 0.01,
                "{routing:?}: worker {w} got {share}, target {want}"
            );
        }
    }
}

#[test]
fn sas_online_hot_keys_split_the_hottest_actual_key() {
    let records = zipf(1.5, 100_000, true, 100_000, 7, 150_000);
    let mut counts: HashMap<u64, u64> = HashMap::new();
    for r in &records {
        *counts.entry(r.key).or_default() += 1;
    }
    let (&hottest, _) = counts.iter().max_by_key(|&(k, c)| (c, k)).unwrap();
    assert!(
        hottest >= 10,
        "shuffling should move the hottest key off the static ranks"
    );

    // Online hot keys are the default.
    let c = config(8);
    let mut sas = SasPartitioner::new(&c).unwrap();
    let range = sas.mask().ranges()[0].clone();
    let workers = route_all(&mut sas, &records);
    let warm_up = 50_000;
    let hot: BTreeSet<u32> = records[warm_up..]
        .iter()
        .zip(&workers[warm_up..])
        .filter(|(r, _)| r.key == hottest)
        .map(|(_, &w)| w)
        .collect();
    assert!(hot.len() > 1, "the hottest key {hottest} stayed on {hot:?}");
    assert!(
        hot.iter().all(|&w| range.contains(&(w as usize))),
        "the hottest key should hold rank 0 and its range {range:?}: {hot:?}"
    );
    let hashed: BTreeSet<u32> = records
        .iter()
        .zip(run("hash", &c, &records))
        .filter(|(r, _)| r.key == hottest)
        .map(|(_, w)| w)
        .collect();
    assert_eq!(hashed.len(), 1, "hash sends one key to one worker");
}

// ---------------------------------------------------------------------------------------------------------
// dalton-offline
// ---------------------------------------------------------------------------------------------------------

/// Routes `records` through `p`, closing an interval every `every` records, as a collecting job does.
fn route_with_intervals(p: &mut dyn Partitioner, records: &[Record], every: usize) -> Vec<u32> {
    let loads = vec![0.0; p.workers() as usize];
    let mut out = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        if i > 0 && i % every == 0 {
            p.end_interval(&loads);
        }
        out.push(p.route(r.key, r.ts_ms));
    }
    out
}

/// Issue #14 item 4: the behaviour policy of offline collection took keys `0..K` as its hot keys, so on
/// shuffled ids (or any real keys) it found none and routed exactly like `hash`. With online hot keys (the
/// default) it explores the keys that are hot in the stream: the hottest one spreads over its mask range
/// and the record balance is far better than hash's.
#[test]
fn dalton_offline_explores_the_hot_keys_of_shuffled_ids() {
    let records = zipf(1.5, 100_000, true, 100_000, 7, 200_000);
    let mut counts: HashMap<u64, u64> = HashMap::new();
    for r in &records {
        *counts.entry(r.key).or_default() += 1;
    }
    let (&hottest, _) = counts.iter().max_by_key(|&(k, c)| (c, k)).unwrap();
    assert!(
        hottest >= 10,
        "shuffling should move the hottest key off the static ranks"
    );

    let c = config(16);
    let mut bandit = DaltonOffline::new(&c).unwrap();
    let range = bandit.mask().ranges()[0].clone();
    let workers = route_with_intervals(&mut bandit, &records, 25_000);
    // After the detector's first revisions the hottest key holds rank 0 and stays inside its range.
    let warm_up = 50_000;
    assert_eq!(bandit.hot_rank(hottest), Some(0));
    let hot: BTreeSet<u32> = records[warm_up..]
        .iter()
        .zip(&workers[warm_up..])
        .filter(|(r, _)| r.key == hottest)
        .map(|(_, &w)| w)
        .collect();
    assert!(hot.len() > 1, "the hottest key {hottest} stayed on {hot:?}");
    assert!(
        hot.iter().all(|&w| range.contains(&(w as usize))),
        "the hottest key left its range {range:?}: {hot:?}"
    );
    // The behaviour action of the last interval records that routing, in the policy's action layout.
    assert!(bandit.behaviour_action()[..range.len()].contains(&1.0));

    let hashed = run("hash", &c, &records[warm_up..]);
    let hash = count_imbalance(&hashed, 16);
    let online = count_imbalance(&workers[warm_up..], 16);
    assert!(
        online < hash / 4.0,
        "dalton-offline λ = {online}, hash λ = {hash}"
    );
    // The static shortcut on the same ids: no key of `0..K` is hot, so it balances like hash.
    let mut ranked = DaltonOffline::new(&ranked_config(16)).unwrap();
    let fixed = count_imbalance(
        &route_with_intervals(&mut ranked, &records, 25_000)[warm_up..],
        16,
    );
    assert!(
        fixed > 0.9 * hash,
        "static dalton-offline λ = {fixed}, hash λ = {hash}"
    );
}

/// On the unshuffled generator the static shortcut and online detection find the same hot keys: the
/// ranks agree once the detector has revised its hot set.
#[test]
fn dalton_offline_online_ranks_match_the_static_ranks_of_unshuffled_zipf() {
    let records = zipf(1.5, 100_000, false, 100_000, 3, 100_000);
    let mut bandit = DaltonOffline::new(&config(16)).unwrap();
    route_with_intervals(&mut bandit, &records, 25_000);
    let true_hot = bandit.mask().true_hot_keys();
    for key in 0..true_hot as u64 {
        assert_eq!(bandit.hot_rank(key), Some(key as usize), "key {key}");
    }
    assert_eq!(bandit.hot_rank(5_000), None);
}
