//! The record path of a router attached to the agent.
//!
//! Per record: route with the primary partitioner (or the fallback while the agent is away), count the
//! record for its worker, its hot-key rank and, in `collect` mode, its mask pair. Every
//! [`CHECK_EVERY`] records, one clock read and two atomic loads: when the wall-clock interval
//! (`now_ms / interval_ms`) changed, the finished interval's report goes into the link's queue
//! (`try_send`, never waiting); when the table slot's version changed, the newest table is applied; and
//! the fallback state machine sees whether the link is up. No lock, allocation or system call on the
//! record path itself.
//!
//! Saved state ([`LinkedRouter::save_state`]) is the primary's state followed by the fallback's, each in
//! the router core's envelope: the routing table in force is part of the primary's. The interval being
//! counted is not saved: a restored router counts a new interval of the wall clock.

use super::LinkError;
use super::fallback::{FallbackState, Switch};
use super::registry::LinkRef;
use super::shared::LinkShared;
use super::status::{LinkStatus, RouterCounters, StatusSnapshot};
use super::task::Report;
use sas_proto::pb;
use sas_router::clock::{Clock, WallClock};
use sas_router::error::{ConfigError, DecodeError, StateError};
use sas_router::params::LinkMode;
use sas_router::params::Params;
use sas_router::partitioner::{HotKeyMode, Partitioner, RouterConfig, build};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Records between two looks at the clock and the table slot.
pub const CHECK_EVERY: u32 = 256;

/// A router whose tables come from the agent and whose counts go to it.
#[derive(Debug)]
pub struct LinkedRouter<C: Clock = WallClock> {
    primary: Box<dyn Partitioner>,
    /// Built once and kept, so its state survives switching back and forth.
    fallback: Box<dyn Partitioner>,
    /// Mirrors `fallback_state.active()` for the record path (and into `own` for other threads).
    using_fallback: bool,
    fallback_state: FallbackState,
    fallback_name: &'static str,
    /// What both partitioners were built from; a restore builds a fallback from it first.
    config: RouterConfig,
    clock: C,
    router: u32,
    interval_ms: u64,
    /// The wall-clock interval being counted.
    interval: u64,
    until_check: u32,
    /// Records per worker in the current interval.
    counts: Vec<u64>,
    /// Scratch for `end_interval`'s loads, kept to avoid an allocation per interval.
    loads: Vec<f64>,
    hot: HotStats,
    /// Records per mask pair, in `collect` mode only.
    pairs: Option<PairCounts>,
    /// Whether tables are applied to the primary (`serve`, `train`) or only watched (`collect`).
    applies_tables: bool,
    applied_version: u64,
    /// This router's status for other threads ([`StatusReader`]): written here, never read back.
    own: Arc<RouterCounters>,
    shared: Arc<LinkShared>,
    reports: mpsc::Sender<Report>,
    /// Keeps the link alive; released last.
    _link: LinkRef,
}

impl LinkedRouter<WallClock> {
    /// Router `router` (its subtask index) of the job in `params`, routing with `partitioner` (empty =
    /// the params' own), on the JVM's link to the params' agent.
    ///
    /// # Errors
    /// [`LinkError::Config`] for a router index `>= routers`, a partitioner that cannot be built, or a
    /// primary that cannot apply tables in `serve`/`train` mode; otherwise as [`LinkRef::acquire`].
    pub fn open(params: &Params, partitioner: &str, router: u32) -> Result<Self, LinkError> {
        Self::open_with_clock(params, partitioner, router, WallClock)
    }
}

impl<C: Clock> LinkedRouter<C> {
    /// As [`LinkedRouter::open`], numbering intervals and timing the fallback by `clock`: tests against a
    /// real agent drive a [`ManualClock`](sas_router::clock::ManualClock), so no outcome depends on the wall
    /// clock.
    ///
    /// # Errors
    /// As [`LinkedRouter::open`].
    pub fn open_with_clock(
        params: &Params,
        partitioner: &str,
        router: u32,
        clock: C,
    ) -> Result<Self, LinkError> {
        // Build first: a bad setting must not start a link.
        let parts = Parts::new(params, partitioner, router)?;
        let link = LinkRef::acquire(params)?;
        Ok(Self::assemble(params, parts, link, clock))
    }
}

/// Everything that can be checked before a link starts.
struct Parts {
    primary: Box<dyn Partitioner>,
    fallback: Box<dyn Partitioner>,
    router: u32,
}

impl Parts {
    fn new(params: &Params, partitioner: &str, router: u32) -> Result<Self, LinkError> {
        let agent = params.agent_link().ok_or(LinkError::NoAgent)?;
        if router >= params.routers {
            return Err(ConfigError::invalid(
                "router index",
                router,
                format!("must be < routers ({})", params.routers),
            )
            .into());
        }
        let partitioner = match partitioner {
            "" => params.partitioner.as_str(),
            name => name,
        };
        let config = params.router_config();
        let mut primary = build(partitioner, &config)?;
        let fallback = build(&agent.fallback, &config)?;
        if agent.mode != LinkMode::Collect {
            // The agent's first table is all ones (uniform inside the mask); a partitioner that cannot
            // take it cannot take any.
            let action_dim = config.hot_keys.mask(config.workers)?.action_dim();
            primary.apply_action(&vec![1.0; action_dim]).map_err(|_| {
                ConfigError::invalid(
                    "partitioner",
                    partitioner,
                    format!(
                        "cannot apply the agent's tables in mode {} (only saspartitioner can); \
                         use agent.mode: collect to run a behaviour policy",
                        agent.mode.name()
                    ),
                )
            })?;
        }
        Ok(Self {
            primary,
            fallback,
            router,
        })
    }
}

impl<C: Clock> LinkedRouter<C> {
    fn assemble(params: &Params, parts: Parts, link: LinkRef, clock: C) -> Self {
        // Cannot fail: `Parts::new` checked that an agent is configured and the mask can be drawn.
        let agent = params.agent_link().expect("an agent section");
        let config = params.router_config();
        let mask = config.hot_keys.mask(config.workers).expect("a valid mask");
        let now = clock.now_ms();
        let workers = config.workers as usize;
        let hot_count = config.hot_keys.count.max(mask.true_hot_keys());
        let fallback_name = parts.fallback.name();
        Self {
            primary: parts.primary,
            fallback: parts.fallback,
            using_fallback: false,
            fallback_state: FallbackState::new(agent.fallback_after_ms, now),
            fallback_name,
            router: parts.router,
            interval_ms: agent.interval_ms,
            interval: now / agent.interval_ms,
            until_check: CHECK_EVERY,
            counts: vec![0; workers],
            loads: vec![0.0; workers],
            hot: HotStats::new(
                match config.hot_keys.mode {
                    HotKeyMode::Static => RankSource::Static(config.hot_keys.count as u64),
                    HotKeyMode::Online => RankSource::Primary,
                },
                hot_count,
            ),
            pairs: (agent.mode == LinkMode::Collect).then(|| PairCounts::new(mask.ranges())),
            applies_tables: agent.mode != LinkMode::Collect,
            applied_version: 0,
            own: Arc::default(),
            shared: link.shared(),
            reports: link.reports(),
            _link: link,
            clock,
            config,
        }
    }

    /// Picks the worker for one record. Never blocks, allocates or fails.
    #[inline]
    pub fn route(&mut self, key: u64, ts_ms: u64) -> u32 {
        let w = if self.using_fallback {
            self.fallback.route(key, ts_ms)
        } else {
            self.primary.route(key, ts_ms)
        };
        self.counts[w as usize] += 1;
        let rank = match self.hot.source {
            RankSource::Static(count) => (key < count).then_some(key as usize),
            RankSource::Primary => self.primary.hot_rank(key),
        };
        if let Some(rank) = rank {
            self.hot.add(rank, key);
            if let Some(pairs) = &mut self.pairs {
                pairs.add(rank, w as usize);
            }
        }
        self.until_check -= 1;
        if self.until_check == 0 {
            self.check();
        }
        w
    }

    #[cold]
    #[inline(never)]
    fn check(&mut self) {
        self.until_check = CHECK_EVERY;
        let now = self.clock.now_ms();
        let interval = now / self.interval_ms;
        if interval != self.interval {
            self.finish_interval();
            self.interval = interval;
        }
        let new_table = self.shared.slot.version() != self.applied_version;
        if new_table {
            self.apply_newest_table();
        }
        let connected = self.shared.status.connected();
        match self.fallback_state.observe(now, connected, new_table) {
            Switch::Stay => {}
            Switch::ToFallback { down_ms } => {
                tracing::warn!(
                    router = self.router,
                    fallback = self.fallback_name,
                    down_ms,
                    "agent away: routing with the fallback"
                );
            }
            Switch::ToPrimary => {
                tracing::info!(
                    router = self.router,
                    primary = self.primary.name(),
                    "tables flow again: routing with the primary"
                );
            }
        }
        self.using_fallback = self.fallback_state.active();
        self.own.set_fallback_active(self.using_fallback);
    }

    /// Reports the finished interval and closes it on the routing partitioner.
    fn finish_interval(&mut self) {
        let report = pb::RouterReport {
            session_id: String::new(),
            interval: self.interval,
            router: self.router,
            worker_counts: self.counts.clone(),
            hot_keys: self.hot.take(),
            pair_counts: self.pairs.as_mut().map(PairCounts::take).unwrap_or_default(),
        };
        for (load, &count) in self.loads.iter_mut().zip(&self.counts) {
            *load = count as f64;
        }
        self.counts.fill(0);
        let loads = std::mem::take(&mut self.loads);
        self.active_mut().end_interval(&loads);
        self.loads = loads;
        if self.reports.try_send(Report::Router(report)).is_err() {
            LinkStatus::count(&self.shared.status.reports_dropped);
        }
    }

    fn apply_newest_table(&mut self) {
        let (version, table) = self.shared.slot.load();
        self.applied_version = version;
        if !self.applies_tables {
            return;
        }
        match self.primary.apply_action(&table.action) {
            Ok(()) => self.own.count_table_applied(),
            Err(e) => {
                tracing::warn!(router = self.router, step = table.step, cause = %e, "table not applied; keeping the previous one");
            }
        }
    }

    fn active_mut(&mut self) -> &mut dyn Partitioner {
        if self.using_fallback {
            self.fallback.as_mut()
        } else {
            self.primary.as_mut()
        }
    }

    /// Closes an interval on the routing partitioner with loads from outside (`NativeRouter.endInterval`);
    /// the router also closes one itself at every wall-clock interval boundary.
    pub fn end_interval(&mut self, loads: &[f64]) {
        self.active_mut().end_interval(loads);
    }

    /// Installs an action on the primary, as a table from the agent would be.
    ///
    /// # Errors
    /// [`DecodeError`] for a wrong length or a bad element.
    pub fn apply_action(&mut self, action: &[f64]) -> Result<(), DecodeError> {
        self.primary.apply_action(action)
    }

    /// Appends this router's state to `out`: the primary's (with the routing table in force), then the
    /// fallback's, each as [`Partitioner::save_state`] writes it.
    pub fn save_state(&self, out: &mut Vec<u8>) {
        self.primary.save_state(out);
        self.fallback.save_state(out);
    }

    /// Restores a state [`save_state`](Self::save_state) wrote; on error nothing changes. A newer table
    /// from the agent replaces the restored one as usual, at the next look at the table slot.
    ///
    /// # Errors
    /// As [`Partitioner::restore_state`], for either part; [`StateError::Mismatch`] when the state has no
    /// fallback part (it was saved by a router without an agent link).
    pub fn restore_state(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        let (_, fallback) = sas_router::state::open(bytes)?;
        let primary = &bytes[..bytes.len() - fallback.len()];
        if fallback.is_empty() {
            return Err(StateError::mismatch(
                "the fallback of the agent link",
                "absent (saved by a router without an agent link)",
                format!("`{}`", self.fallback_name),
            ));
        }
        // The fallback is restored into a new partitioner and the primary in place, which leaves it
        // unchanged on error: a refused part changes neither.
        // Cannot fail: this configuration built the fallback when the router opened.
        let mut restored_fallback =
            build(self.fallback_name, &self.config).expect("the fallback builds again");
        restored_fallback.restore_state(fallback)?;
        self.primary.restore_state(primary)?;
        self.fallback = restored_fallback;
        Ok(())
    }

    /// Whether one key may reach several workers (under the primary or the fallback).
    pub fn splits_keys(&self) -> bool {
        self.primary.splits_keys() || self.fallback.splits_keys()
    }

    /// The partitioner routing now.
    pub fn active_name(&self) -> &'static str {
        if self.using_fallback {
            self.fallback.name()
        } else {
            self.primary.name()
        }
    }

    /// The link's counters and this router's fallback state.
    pub fn status(&self) -> StatusSnapshot {
        self.status_reader().snapshot()
    }

    /// A reader of [`status`](Self::status) for another thread: it shares only atomics with this router,
    /// so it can read while the router routes.
    pub fn status_reader(&self) -> StatusReader {
        StatusReader {
            shared: Arc::clone(&self.shared),
            own: Arc::clone(&self.own),
        }
    }
}

/// A router's status, readable from any thread while the router routes (the JVM's metrics thread reads
/// it through `NativeRouter.agentStatus` while the task thread calls `route`).
///
/// It holds only what is shared through atomics: the link's [`LinkStatus`] and the router's own
/// [`RouterCounters`]. Being `Send + Sync` and holding no reference into the [`LinkedRouter`], it cannot
/// race with the record path by construction; the router's plain fields stay on its own thread.
#[derive(Debug, Clone)]
pub struct StatusReader {
    shared: Arc<LinkShared>,
    own: Arc<RouterCounters>,
}

impl StatusReader {
    /// The link's counters and the router's fallback state and applied tables, each as last published
    /// (the fallback state as of the router's last check, at most `CHECK_EVERY` records old).
    pub fn snapshot(&self) -> StatusSnapshot {
        self.shared
            .status
            .snapshot(self.own.fallback_active(), self.own.tables_applied())
    }
}

/// Where hot-key ranks come from.
#[derive(Debug, Clone, Copy)]
enum RankSource {
    /// Key `k < count` has rank `k` (checked inline, no call).
    Static(u64),
    /// The primary's detector ([`Partitioner::hot_rank`]).
    Primary,
}

/// Records per hot-key rank in the current interval, with the key last seen at each rank.
#[derive(Debug)]
struct HotStats {
    source: RankSource,
    keys: Vec<u64>,
    counts: Vec<u64>,
}

impl HotStats {
    fn new(source: RankSource, ranks: usize) -> Self {
        Self {
            source,
            keys: vec![0; ranks],
            counts: vec![0; ranks],
        }
    }

    #[inline]
    fn add(&mut self, rank: usize, key: u64) {
        if let (Some(k), Some(c)) = (self.keys.get_mut(rank), self.counts.get_mut(rank)) {
            *k = key;
            *c += 1;
        }
    }

    /// The interval's statistics (ranks with records), counts reset.
    fn take(&mut self) -> Vec<pb::HotKeyStat> {
        let stats = (0..self.counts.len())
            .filter(|&r| self.counts[r] > 0)
            .map(|r| pb::HotKeyStat {
                key: self.keys[r],
                rank: r as u32,
                count: self.counts[r],
            })
            .collect();
        self.counts.fill(0);
        stats
    }
}

/// Records per (true hot key, worker) pair of the mask, in action order: the behaviour action.
#[derive(Debug)]
struct PairCounts {
    /// Per true hot key: its worker range and the action index of its first worker.
    ranges: Vec<(usize, usize, usize)>,
    counts: Vec<u64>,
}

impl PairCounts {
    fn new(ranges: &[std::ops::Range<usize>]) -> Self {
        let mut offset = 0;
        let ranges = ranges
            .iter()
            .map(|r| {
                let entry = (r.start, r.end, offset);
                offset += r.len();
                entry
            })
            .collect();
        Self {
            ranges,
            counts: vec![0; offset],
        }
    }

    #[inline]
    fn add(&mut self, rank: usize, worker: usize) {
        if let Some(&(start, end, offset)) = self.ranges.get(rank)
            && (start..end).contains(&worker)
        {
            self.counts[offset + worker - start] += 1;
        }
    }

    fn take(&mut self) -> Vec<u64> {
        let out = self.counts.clone();
        self.counts.fill(0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::link::Link;
    use super::super::slot::Table;
    use super::*;
    use sas_router::clock::ManualClock;

    const INTERVAL: u64 = 1000;
    const AFTER: u64 = 3000;
    /// 2001-09-09: a large, interval-aligned epoch time.
    const T0: u64 = 1_000_000_000_000;

    fn params(mode: &str) -> Params {
        params_with(mode, "hash")
    }

    /// Static hot keys (a test-only shortcut, as online detection is the routers' default): keys
    /// `0..10` are hot with rank = key from the first record, so the tests can name them.
    fn params_with(mode: &str, fallback: &str) -> Params {
        let yaml = format!(
            "task: wordcount\npartitioner: saspartitioner\nworkers: 4\nrouters: 2\nrecords: 10\n\
             router:\n  hot_keys:\n    mode: static\n\
             agent:\n  address: http://127.0.0.1:1\n  mode: {mode}\n  interval_ms: {INTERVAL}\n  \
             fallback_after_ms: {AFTER}\n  fallback: {fallback}\n"
        );
        Params::parse(&yaml, "t").unwrap()
    }

    fn router(
        mode: &str,
        partitioner: &str,
    ) -> (LinkedRouter<ManualClock>, ManualClock, mpsc::Receiver<Report>) {
        router_of(&params(mode), partitioner)
    }

    fn router_of(
        p: &Params,
        partitioner: &str,
    ) -> (LinkedRouter<ManualClock>, ManualClock, mpsc::Receiver<Report>) {
        let (link, rx) = Link::detached(16);
        let clock = ManualClock::new(T0);
        let parts = Parts::new(p, partitioner, 1).unwrap();
        let r = LinkedRouter::assemble(p, parts, LinkRef::detached(link), clock.clone());
        (r, clock, rx)
    }

    /// Routes `n` records of keys `0..50` (keys 0..10 are the static hot keys).
    fn route_n(r: &mut LinkedRouter<ManualClock>, n: u32) -> Vec<u32> {
        (0..n).map(|i| r.route(u64::from(i % 50), 0)).collect()
    }

    /// Records of keys below `bound` among `n` routed by `route_n`.
    fn keys_below(bound: u32, n: u32) -> u64 {
        (0..n).filter(|i| i % 50 < bound).count() as u64
    }

    fn router_report(rx: &mut mpsc::Receiver<Report>) -> pb::RouterReport {
        match rx.try_recv().expect("a report") {
            Report::Router(r) => r,
            Report::Worker(w) => panic!("expected a router report, got {w:?}"),
        }
    }

    #[test]
    fn a_finished_interval_is_reported_with_its_epoch_aligned_number() {
        let (mut r, clock, mut rx) = router("serve", "saspartitioner");
        route_n(&mut r, CHECK_EVERY * 2);
        assert!(rx.try_recv().is_err(), "no report inside an interval");
        clock.advance(INTERVAL);
        let workers = route_n(&mut r, CHECK_EVERY);
        let report = router_report(&mut rx);
        assert_eq!(report.interval, T0 / INTERVAL);
        assert_eq!(report.router, 1);
        // Everything routed before the boundary, including the record whose check saw it.
        assert_eq!(
            report.worker_counts.iter().sum::<u64>(),
            u64::from(CHECK_EVERY) * 3
        );
        let hot: u64 = report.hot_keys.iter().map(|h| h.count).sum();
        let expected_hot = keys_below(10, CHECK_EVERY * 2) + keys_below(10, CHECK_EVERY);
        assert_eq!(hot, expected_hot);
        assert!(
            report
                .hot_keys
                .iter()
                .all(|h| u64::from(h.rank) == h.key && h.key < 10)
        );
        assert!(report.pair_counts.is_empty(), "pairs only in collect mode");
        assert!(workers.iter().all(|&w| w < 4));
    }

    #[test]
    fn collect_mode_reports_pair_counts_and_leaves_the_behaviour_policy_alone() {
        let (mut r, clock, mut rx) = router("collect", "dalton-offline");
        route_n(&mut r, CHECK_EVERY);
        r.shared.slot.publish(Table {
            step: 0,
            model_version: 0,
            action: vec![1.0; 3],
        });
        clock.advance(INTERVAL);
        route_n(&mut r, CHECK_EVERY);
        let report = router_report(&mut rx);
        let mask = params("collect").router_config().hot_keys.mask(4).unwrap();
        assert_eq!(report.pair_counts.len(), mask.action_dim());
        // dalton-offline sends every true hot key's record inside its range: all are counted.
        let true_hot = mask.true_hot_keys() as u32;
        let expected = 2 * keys_below(true_hot, CHECK_EVERY);
        assert_eq!(report.pair_counts.iter().sum::<u64>(), expected);
        assert_eq!(r.status().tables_applied, 0);
        assert_eq!(r.active_name(), "dalton-offline");
    }

    /// Issue #14 item 4: with online hot keys (the default) the behaviour policy of a collecting job finds
    /// the stream's hot key whatever its id, and the link reports its pairs under the detector's rank.
    #[test]
    fn collect_mode_counts_the_pairs_of_online_hot_keys() {
        let yaml = format!(
            "task: wordcount\npartitioner: dalton-offline\nworkers: 4\nrouters: 2\nrecords: 10\n\
             agent:\n  address: http://127.0.0.1:1\n  mode: collect\n  interval_ms: {INTERVAL}\n"
        );
        let p = Params::parse(&yaml, "t").unwrap();
        let (mut r, clock, mut rx) = router_of(&p, "dalton-offline");
        // Half the records are one key far from the static ranks, the rest distinct keys.
        const HOT: u64 = 1 << 40;
        let records = 20_000u64;
        for i in 0..records {
            r.route(if i % 2 == 0 { HOT } else { HOT + 1 + i }, 0);
        }
        clock.advance(INTERVAL);
        route_n(&mut r, CHECK_EVERY);
        let report = router_report(&mut rx);
        // Found at the detector's first revision (record 16 384), then counted under rank 0.
        let after_detection = (records - 16_384) / 2;
        let stat = report
            .hot_keys
            .iter()
            .find(|h| h.key == HOT)
            .expect("the hot key's statistics");
        assert_eq!(stat.rank, 0);
        assert!(stat.count >= after_detection, "{stat:?}");
        let mask = p.router_config().hot_keys.mask(4).unwrap();
        assert_eq!(report.pair_counts.len(), mask.action_dim());
        let pairs: u64 = report.pair_counts[..mask.ranges()[0].len()].iter().sum();
        assert!(pairs >= after_detection, "{:?}", report.pair_counts);
    }

    #[test]
    fn a_partitioner_that_cannot_take_tables_is_refused_in_serve_mode() {
        let e = Parts::new(&params("serve"), "pkg", 0).err().unwrap().to_string();
        assert!(e.contains("`partitioner` = pkg") && e.contains("collect"), "{e}");
        let e = Parts::new(&params("serve"), "saspartitioner", 2)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("`router index` = 2"), "{e}");
        assert!(Parts::new(&params("collect"), "pkg", 0).is_ok());
    }

    #[test]
    fn tables_are_applied_and_the_fallback_routes_while_the_agent_is_away() {
        let (mut r, clock, _rx) = router("serve", "saspartitioner");
        // Connected, a table: applied.
        r.shared.status.set_connected(true);
        let mask = params("serve").router_config().hot_keys.mask(4).unwrap();
        let mut action = vec![0.0; mask.action_dim()];
        action[0] = 1.0;
        r.shared.slot.publish(Table {
            step: 1,
            model_version: 2,
            action,
        });
        route_n(&mut r, CHECK_EVERY);
        assert_eq!(r.status().tables_applied, 1);
        // Hot key 0 now goes to the first worker of its range only.
        let first = mask.ranges()[0].start as u32;
        let hot0: Vec<u32> = (0..CHECK_EVERY).map(|_| r.route(0, 0)).collect();
        assert!(hot0.iter().all(|&w| w == first), "{hot0:?}");

        // The agent goes away: the last table stays until the timeout.
        r.shared.status.set_connected(false);
        route_n(&mut r, CHECK_EVERY);
        clock.advance(AFTER - 1);
        route_n(&mut r, CHECK_EVERY);
        assert!(!r.status().fallback_active);
        assert_eq!(r.active_name(), "saspartitioner");
        clock.advance(1);
        route_n(&mut r, CHECK_EVERY);
        assert!(r.status().fallback_active);
        assert_eq!(r.active_name(), "hash");
        // The fallback routes exactly like a fresh `hash`.
        let mut hash = build("hash", &params("serve").router_config()).unwrap();
        for key in 0..CHECK_EVERY as u64 - 1 {
            assert_eq!(r.route(key, 0), hash.route(key, 0));
        }

        // Reconnected: still the fallback until a table arrives, then the primary again.
        r.shared.status.set_connected(true);
        route_n(&mut r, CHECK_EVERY);
        assert!(r.status().fallback_active);
        r.shared.slot.publish(Table::default());
        route_n(&mut r, CHECK_EVERY);
        let s = r.status();
        assert!(!s.fallback_active);
        assert_eq!(r.active_name(), "saspartitioner");
        // An empty action is refused by the decoder and the previous table stays.
        assert_eq!(s.tables_applied, 1);
    }

    /// Issue "Nothing a client sends takes it down", item 3: `agentStatus` (the JVM's metrics thread)
    /// used to read `using_fallback` and `tables_applied` through a pointer to the router while `route`
    /// (the task thread) wrote them. A [`StatusReader`] shares only atomics with the router: this test
    /// reads it on another thread while the router flips between primary and fallback and applies tables,
    /// and checks that every state the router published is seen and none goes back.
    #[test]
    fn status_is_read_on_another_thread_while_the_router_routes() {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        fn send_sync<T: Send + Sync + 'static>(_: &T) {}

        const ROUNDS: u64 = 100;
        let (mut r, clock, _rx) = router("serve", "saspartitioner");
        let reader = r.status_reader();
        send_sync(&reader);
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicU64::new(0));
        let thread = std::thread::spawn({
            let (stop, reads) = (Arc::clone(&stop), Arc::clone(&reads));
            move || {
                let (mut fallback, mut primary, mut applied) = (0u64, 0u64, 0u64);
                while !stop.load(Ordering::Acquire) {
                    let s = reader.snapshot();
                    assert!(s.tables_applied >= applied, "tables_applied went back: {s:?}");
                    applied = s.tables_applied;
                    if s.fallback_active {
                        fallback += 1;
                    } else {
                        primary += 1;
                    }
                    reads.fetch_add(1, Ordering::Release);
                }
                (fallback, primary, reader.snapshot())
            }
        });
        // Returns once the reader has read after the router's last change.
        let await_a_read = || {
            let seen = reads.load(Ordering::Acquire);
            while reads.load(Ordering::Acquire) < seen + 2 {
                std::thread::yield_now();
            }
        };
        let dim = params("serve")
            .router_config()
            .hot_keys
            .mask(4)
            .unwrap()
            .action_dim();
        for round in 1..=ROUNDS {
            // Seen down at one check, fallen back at the first check `AFTER` ms later.
            r.shared.status.set_connected(false);
            route_n(&mut r, CHECK_EVERY);
            clock.advance(AFTER);
            route_n(&mut r, CHECK_EVERY);
            assert!(r.status().fallback_active, "round {round}");
            await_a_read();
            r.shared.status.set_connected(true);
            r.shared.slot.publish(Table {
                step: round,
                model_version: 1,
                action: vec![1.0; dim],
            });
            route_n(&mut r, CHECK_EVERY);
            assert!(!r.status().fallback_active, "round {round}");
            assert_eq!(r.status().tables_applied, round);
            await_a_read();
        }
        stop.store(true, Ordering::Release);
        let (fallback, primary, last) = thread.join().expect("the reader thread");
        assert!(
            fallback >= ROUNDS && primary >= ROUNDS,
            "{fallback} fallback, {primary} primary reads"
        );
        assert_eq!(last, r.status());
        assert_eq!(last.tables_applied, ROUNDS);
    }

    fn saved(r: &LinkedRouter<ManualClock>) -> Vec<u8> {
        let mut bytes = Vec::new();
        r.save_state(&mut bytes);
        bytes
    }

    /// Issue #13 item 6, "Routing state survives failover": a restored router has the table its
    /// predecessor had applied and its fallback's state, so both route on as they would have; a state
    /// without a fallback part is refused and changes nothing.
    #[test]
    fn a_restored_router_resumes_with_its_table_and_its_fallback() {
        let p = params_with("serve", "pkg");
        let (mut before, clock, _rx) = router_of(&p, "saspartitioner");
        before.shared.status.set_connected(true);
        let dim = p.router_config().hot_keys.mask(4).unwrap().action_dim();
        let action: Vec<f64> = (0..dim).map(|a| (a % 3) as f64 + 0.5).collect();
        before.shared.slot.publish(Table {
            step: 1,
            model_version: 1,
            action,
        });
        route_n(&mut before, CHECK_EVERY);
        assert_eq!(before.status().tables_applied, 1);
        // The agent goes away: the fallback (PKG, whose counts are state) routes for a while.
        before.shared.status.set_connected(false);
        route_n(&mut before, CHECK_EVERY);
        clock.advance(AFTER);
        route_n(&mut before, CHECK_EVERY * 3);
        assert_eq!(before.active_name(), "pkg");
        let bytes = saved(&before);

        let (mut after, _, _) = router_of(&p, "saspartitioner");
        let fresh = saved(&after);
        assert_ne!(fresh, bytes, "the saved router has learned something");
        after.restore_state(&bytes).unwrap();
        assert_eq!(saved(&after), bytes);
        for key in 0..2_000 {
            assert_eq!(
                after.primary.route(key % 50, 0),
                before.primary.route(key % 50, 0),
                "primary, key {key}"
            );
            assert_eq!(
                after.fallback.route(key % 50, 0),
                before.fallback.route(key % 50, 0),
                "fallback, key {key}"
            );
        }

        let (mut other, _, _) = router_of(&p, "saspartitioner");
        let mut plain = Vec::new();
        build("saspartitioner", &p.router_config())
            .unwrap()
            .save_state(&mut plain);
        let e = other.restore_state(&plain).unwrap_err();
        assert_eq!(
            e.to_string(),
            "router state does not fit this router: the fallback of the agent link is absent (saved by a \
             router without an agent link) in the state, `pkg` here"
        );
        let mut damaged_fallback = bytes.clone();
        let last = damaged_fallback.len() - 1;
        damaged_fallback[last] ^= 1;
        assert_eq!(other.restore_state(&damaged_fallback), Err(StateError::Checksum));
        assert_eq!(saved(&other), fresh, "a refused state changes nothing");
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_blocking() {
        let p = params("serve");
        let (link, _rx) = Link::detached(1);
        let clock = ManualClock::new(T0);
        let parts = Parts::new(&p, "saspartitioner", 0).unwrap();
        let mut r = LinkedRouter::assemble(&p, parts, LinkRef::detached(link), clock.clone());
        for _ in 0..3 {
            clock.advance(INTERVAL);
            route_n(&mut r, CHECK_EVERY);
        }
        assert_eq!(r.status().reports_dropped, 2);
    }
}
