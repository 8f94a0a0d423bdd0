//! `sas-agent soak`: many fake jobs held against one agent for minutes: reply latency, tables lost and
//! resident memory over time.
//!
//! Each session is a job of P workers and one router in SERVE mode, stepping on the wall clock as a real
//! job does: at the end of every interval its reports go out, as one `Report` batch (what the routers'
//! link sends: one call per JVM and interval) or, with [`SoakConfig::unary`], as P concurrent
//! `ReportWorker` calls and then, once they are acknowledged, the `ReportRouter` call that completes the
//! step. The reply latency is the time from sending the report that completes the step (the batch, or
//! the router report) to the step's table arriving on the session's `SubscribeTables` stream. Intervals are
//! numbered from the Unix epoch, so every session's reports arrive together at each interval's end, as a
//! fleet of jobs' would: the agent sees bursts of `sessions × (P + 1)` reports, not an even trickle.
//! [`SoakConfig::spread`] spreads the sessions over the interval instead, to tell the cost of the burst
//! from the cost of the rate.
//!
//! A session sends an interval's reports only once the previous interval's were acknowledged, so a
//! session slowed by an overloaded machine falls behind the clock and catches up only as fast as the
//! agent answers; reports more than 4 intervals behind the agent's clock (or after their interval's
//! deadline closed it) are refused as late, and an interval none of whose reports got in never becomes a
//! step. The report counts those apart from tables the stream skipped.
//!
//! The driver runs in the measuring process. Against an in-process agent ([`Target::InProcess`]) it
//! shares the runtime and the cores with the server, so the latencies include the client's own work and
//! the resident memory is the whole process's (server and client).

use crate::bench_cmd::quantile;
use crate::fake_job::{self, LocalAgent};
use crate::pb::{self, SessionMode, agent_client::AgentClient};
use crate::server::{PolicyFactory, ServeConfig};
use sas_router::limits::{MAX_INTERVAL_MS, MAX_SESSIONS, MAX_WORKERS, MIN_INTERVAL_MS};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tonic::transport::Channel;

/// What a soak runs: how many jobs, of what shape, for how long, and when it samples memory.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// Concurrent job sessions, in `1..=`[`MAX_SESSIONS`].
    pub sessions: usize,
    /// Workers P of each session (one router each).
    pub workers: u32,
    /// Reporting interval (ms): each session takes one step per interval.
    pub interval_ms: u64,
    /// How long the sessions step; `duration / interval` steps each.
    pub duration: Duration,
    /// Steps of this first stretch are left out of the latencies, and memory growth is counted from its
    /// end: connections, buffers and the allocator settle first.
    pub warmup: Duration,
    /// Resident memory is sampled this often (and once more at the end).
    pub rss_every: Duration,
    /// Session i reports `i / sessions` of an interval after each interval's end (inside the agent's
    /// clock window), instead of every session at the end: the same rate without the burst.
    pub spread: bool,
    /// One call per report (P `ReportWorker` calls, then a `ReportRouter`) instead of one `Report` batch
    /// per session and interval: the protocol before batches, to compare.
    pub unary: bool,
}

impl SoakConfig {
    /// Steps each session takes.
    pub fn steps(&self) -> u64 {
        self.duration.as_millis() as u64 / self.interval_ms
    }

    /// Steps of the warm-up (rounded up).
    fn warmup_steps(&self) -> u64 {
        (self.warmup.as_millis() as u64).div_ceil(self.interval_ms)
    }

    fn validate(&self) -> Result<(), SoakError> {
        let invalid =
            |key: &'static str, value: String, reason: String| Err(SoakError::Invalid { key, value, reason });
        if !(1..=MAX_SESSIONS).contains(&self.sessions) {
            return invalid(
                "sessions",
                self.sessions.to_string(),
                format!("must be in 1..={MAX_SESSIONS}"),
            );
        }
        if !(1..=MAX_WORKERS).contains(&self.workers) {
            return invalid(
                "workers",
                self.workers.to_string(),
                format!("must be in 1..={MAX_WORKERS}"),
            );
        }
        if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&self.interval_ms) {
            let reason = format!("must be in {MIN_INTERVAL_MS}..={MAX_INTERVAL_MS}");
            return invalid("interval_ms", self.interval_ms.to_string(), reason);
        }
        if self.steps() == 0 {
            return invalid(
                "duration",
                format!("{:?}", self.duration),
                "must hold one interval".into(),
            );
        }
        if self.warmup_steps() >= self.steps() {
            return invalid(
                "warmup",
                format!("{:?}", self.warmup),
                "must be shorter than duration".into(),
            );
        }
        if self.rss_every.is_zero() {
            return invalid("rss_every", "0".into(), "must be > 0".into());
        }
        Ok(())
    }
}

/// The agent a soak drives.
#[derive(Debug)]
pub enum Target {
    /// An agent started in this process on loopback ([`LocalAgent`], wall clock, `max_sessions` raised to
    /// the soak's sessions), serving with these policies; this process's memory is sampled.
    InProcess(Arc<dyn PolicyFactory>),
    /// A running agent at `uri` (its `max_sessions` must allow the soak's sessions); the memory of
    /// process `pid` is sampled, or none without it.
    Remote {
        /// e.g. `http://127.0.0.1:50051`.
        uri: String,
        /// The agent's process id.
        pid: Option<u32>,
    },
}

/// Why a soak could not run. Reports refused or lost during the run are not errors: they are counted in
/// the [`SoakReport`].
#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    /// A setting is out of range.
    #[error("invalid `{key}` = {value}: {reason}")]
    Invalid {
        /// The setting.
        key: &'static str,
        /// Its value.
        value: String,
        /// What is allowed.
        reason: String,
    },
    /// The in-process agent could not start.
    #[error("cannot start the agent: {0}")]
    Start(#[from] std::io::Error),
    /// The agent cannot be reached.
    #[error("cannot connect to the agent: {0}")]
    Connect(#[from] tonic::transport::Error),
    /// A session could not be opened or subscribed to.
    #[error("session {session}: {status}")]
    Setup {
        /// Index of the session (0-based).
        session: usize,
        /// What the agent answered.
        status: tonic::Status,
    },
    /// The in-process agent failed or did not stop.
    #[error("the agent failed: {0}")]
    Agent(String),
}

/// One sample of resident memory.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RssSample {
    /// Seconds since the first interval started.
    pub t_s: f64,
    /// VmRSS (KiB).
    pub kib: u64,
}

/// What a soak measured.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    /// The agent driven: `in-process (loopback)` or its URI.
    pub agent: String,
    /// Whether the sessions' reports were spread over the interval ([`SoakConfig::spread`]).
    pub spread: bool,
    /// Whether each report was its own call ([`SoakConfig::unary`]) instead of one batch per interval.
    pub unary: bool,
    /// Concurrent sessions.
    pub sessions: usize,
    /// Workers P per session.
    pub workers: u32,
    /// Reporting interval (ms).
    pub interval_ms: u64,
    /// Steps each session was driven through.
    pub steps_per_session: u64,
    /// Leading steps of each session left out of the latencies.
    pub warmup_steps: u64,
    /// Tables due: sessions × steps.
    pub tables_expected: u64,
    /// Steps whose table arrived on the session's stream (at any time before the session closed).
    pub tables_received: u64,
    /// Steps without a table: `tables_expected − tables_received`, the sum of the next two.
    pub tables_missing: u64,
    /// Steps whose every report the agent refused as late (more than 4 intervals behind its clock, or
    /// after the interval's deadline closed it): the driver fell behind, the interval never opened.
    pub intervals_refused: u64,
    /// Steps whose interval opened but whose table never came. When several steps close at once (an
    /// older interval's deadline releasing the complete ones behind it), the table stream keeps only the
    /// newest (`SubscribeTables`: a subscriber that falls behind skips to it); a table the agent lost
    /// would count here too.
    pub tables_skipped: u64,
    /// Received tables that came before the step's router report was accepted: the step closed at its
    /// deadline, with reports imputed; no reply latency.
    pub deadline_tables: u64,
    /// Sessions missing at least one table.
    pub sessions_lost: usize,
    /// Fewest steps the agent counted for a session when it was closed.
    pub steps_closed_min: u64,
    /// Reports acknowledged with `accepted = false` (too late for their interval).
    pub reports_rejected: u64,
    /// Report RPCs that failed.
    pub rpc_errors: u64,
    /// Steps after the warm-up whose latency was measured.
    pub reply_samples: usize,
    /// Reply latency (µs): last report sent → the step's table received; median.
    pub reply_p50_us: f64,
    /// 99th percentile.
    pub reply_p99_us: f64,
    /// Largest.
    pub reply_max_us: f64,
    /// Interval end → the router report sent (ms), every step after the warm-up: how far behind the
    /// driver was (a session sends an interval's reports once the previous ones were acknowledged) plus
    /// how long the P worker reports took to go out and be acknowledged in the burst; median.
    pub report_lag_p50_ms: f64,
    /// 99th percentile.
    pub report_lag_p99_ms: f64,
    /// Largest.
    pub report_lag_max_ms: f64,
    /// Resident memory over the run (none when not sampled).
    pub rss: Vec<RssSample>,
    /// The first sample at or after the warm-up (KiB).
    pub rss_warm_kib: Option<u64>,
    /// The last sample (KiB).
    pub rss_end_kib: Option<u64>,
    /// `(end − warm) / warm`, in percent.
    pub rss_growth_pct: Option<f64>,
    /// CPU time of the sampled process over the run, in percent of one core.
    pub cpu_pct: Option<f64>,
    /// The machine's 1-minute load average at the start and at the end.
    pub load_avg: [Option<f64>; 2],
}

impl SoakReport {
    /// The report as text: a header line, the targets of the issue ("Load held") checked, the memory
    /// samples.
    pub fn render(&self) -> String {
        let opt = |v: Option<f64>, unit: &str| v.map_or("-".to_string(), |v| format!("{v:.1}{unit}"));
        let mut out = format!(
            "soak: {} sessions of P = {}, interval {} ms, {} steps each ({} of warm-up), reports {} {}, agent {}\n\n",
            self.sessions,
            self.workers,
            self.interval_ms,
            self.steps_per_session,
            self.warmup_steps,
            if self.unary {
                "one call each"
            } else {
                "batched per interval"
            },
            if self.spread {
                "spread over the interval"
            } else {
                "at each interval's end"
            },
            self.agent
        );
        let met = |ok: bool| if ok { "met" } else { "MISSED" }.to_string();
        let rows = vec![
            vec![
                "reply p50 / p99 / max".into(),
                format!(
                    "{:.0} / {:.0} / {:.0} µs",
                    self.reply_p50_us, self.reply_p99_us, self.reply_max_us
                ),
                "p99 ≤ 5000 µs".into(),
                met(self.reply_p99_us <= 5000.0),
            ],
            vec![
                "tables received".into(),
                format!("{} / {}", self.tables_received, self.tables_expected),
                "all".into(),
                met(self.tables_missing == 0),
            ],
            vec![
                "sessions lost".into(),
                self.sessions_lost.to_string(),
                "0".into(),
                met(self.sessions_lost == 0),
            ],
            vec![
                "RSS after warm-up → end".into(),
                match (self.rss_warm_kib, self.rss_end_kib) {
                    (Some(w), Some(e)) => format!(
                        "{:.1} → {:.1} MiB ({})",
                        w as f64 / 1024.0,
                        e as f64 / 1024.0,
                        self.rss_growth_pct.map_or("-".into(), |g| format!("{g:+.1} %"))
                    ),
                    _ => "not sampled".into(),
                },
                "≤ +10 %".into(),
                self.rss_growth_pct.map_or("-".into(), |g| met(g <= 10.0)),
            ],
        ];
        out.push_str(&crate::table::render(&["measure", "value", "target", ""], &rows));
        out.push_str(&format!(
            "\nreply samples {} (after warm-up)   tables missing {} = {} intervals refused as late + {} skipped \
             by the stream   tables after a deadline {}\nsteps closed per session ≥ {}   reports rejected {}   \
             rpc errors {}\nreport lag (interval end → router report sent) p50 {:.1} ms  p99 {:.1} ms  max \
             {:.1} ms\nCPU of the measured process {} of one core   load average {} → {}\n",
            self.reply_samples,
            self.tables_missing,
            self.intervals_refused,
            self.tables_skipped,
            self.deadline_tables,
            self.steps_closed_min,
            self.reports_rejected,
            self.rpc_errors,
            self.report_lag_p50_ms,
            self.report_lag_p99_ms,
            self.report_lag_max_ms,
            opt(self.cpu_pct, " %"),
            opt(self.load_avg[0], ""),
            opt(self.load_avg[1], ""),
        ));
        if !self.rss.is_empty() {
            let samples: Vec<String> = self
                .rss
                .iter()
                .map(|s| format!("{:.0}s {:.1}", s.t_s, s.kib as f64 / 1024.0))
                .collect();
            out.push_str(&format!("RSS (MiB): {}\n", samples.join(", ")));
        }
        out
    }
}

/// Runs the soak against `target` and reports what it measured.
///
/// # Errors
/// A setting is out of range, the agent cannot be started or reached, or a session cannot be opened.
/// Reports refused or tables lost during the run are counted, not errors.
pub async fn run(config: &SoakConfig, target: Target) -> Result<SoakReport, SoakError> {
    config.validate()?;
    let (local, uri, pid, agent) = match target {
        Target::InProcess(policies) => {
            let serve = ServeConfig {
                max_sessions: config.sessions.max(ServeConfig::default().max_sessions),
                ..ServeConfig::default()
            };
            let local = LocalAgent::start(serve, policies).await?;
            let uri = local.uri();
            (Some(local), uri, None, "in-process (loopback)".to_string())
        }
        Target::Remote { uri, pid } => (None, uri.clone(), pid, uri),
    };
    let measured = match pid {
        Some(pid) => format!("/proc/{pid}"),
        None if local.is_some() => "/proc/self".to_string(),
        None => String::new(),
    };
    let mut jobs = Vec::with_capacity(config.sessions);
    for index in 0..config.sessions {
        jobs.push(Job::open(index, &uri, config).await?);
    }

    // Every session starts at the same interval, the next one to begin.
    let first = wall_us() / 1000 / config.interval_ms + 1;
    let start_ms = first * config.interval_ms;
    let load_start = load_avg();
    let (stop_sampler, stopped) = oneshot::channel();
    let sampler = tokio::spawn(sample_rss(measured.clone(), start_ms, config.clone(), stopped));
    let cpu_start = (cpu_seconds(&measured), Instant::now());
    let mut drivers = JoinSet::new();
    for job in jobs {
        drivers.spawn(job.drive(first, config.clone()));
    }
    let mut outcomes = Vec::with_capacity(config.sessions);
    while let Some(outcome) = drivers.join_next().await {
        outcomes.push(outcome.map_err(|e| SoakError::Agent(format!("a session's driver failed: {e}")))?);
    }
    let _ = stop_sampler.send(());
    let rss = sampler.await.unwrap_or_default();
    let cpu_pct = match (cpu_start.0, cpu_seconds(&measured)) {
        (Some(a), Some(b)) => Some((b - a) / cpu_start.1.elapsed().as_secs_f64() * 100.0),
        _ => None,
    };
    let load_end = load_avg();
    if let Some(local) = local {
        tokio::time::timeout(Duration::from_secs(30), local.stop())
            .await
            .map_err(|_| SoakError::Agent("did not stop within 30 s".into()))?
            .map_err(|e| SoakError::Agent(format!("{e:#}")))?;
    }
    Ok(summarise(
        config,
        agent,
        &outcomes,
        rss,
        cpu_pct,
        [load_start, load_end],
    ))
}

/// One fake job: its connection, its session and the reader of its table stream.
struct Job {
    /// Index of the session (0-based).
    index: usize,
    client: AgentClient<Channel>,
    session: String,
    /// Each table received after the initial one: (step, when), allocated for the whole run up front so
    /// the driver's own memory stays flat.
    arrivals: Arc<Mutex<Vec<(u64, Instant)>>>,
    /// The last step received, so the driver can wait for its last tables.
    last_step: watch::Receiver<u64>,
    reader: tokio::task::JoinHandle<()>,
}

impl Job {
    /// Connects (one HTTP/2 connection per job), opens a SERVE session of P workers and one router with
    /// the default mask, subscribes to its tables and reads the initial one.
    async fn open(index: usize, uri: &str, config: &SoakConfig) -> Result<Self, SoakError> {
        let setup = |status| SoakError::Setup {
            session: index,
            status,
        };
        let mut client = AgentClient::connect(uri.to_string()).await?;
        let request = pb::OpenSessionRequest {
            interval_ms: config.interval_ms as u32,
            ..fake_job::open_request(&format!("soak-{index}"), config.workers, SessionMode::Serve)
        };
        let session = client
            .open_session(request)
            .await
            .map_err(setup)?
            .into_inner()
            .session_id;
        let mut tables = fake_job::subscribe(&mut client, &session).await.map_err(setup)?;
        match tokio::time::timeout(Duration::from_secs(10), tables.message()).await {
            Ok(Ok(Some(_))) => {}
            Ok(Err(status)) => return Err(setup(status)),
            _ => {
                return Err(setup(tonic::Status::deadline_exceeded(
                    "no initial table within 10 s",
                )));
            }
        }
        let arrivals = Arc::new(Mutex::new(Vec::with_capacity(config.steps() as usize + 16)));
        let (seen, last_step) = watch::channel(0);
        let log = arrivals.clone();
        let reader = tokio::spawn(async move {
            while let Ok(Some(table)) = tables.message().await {
                let at = Instant::now();
                log.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((table.step, at));
                seen.send_replace(table.step);
            }
        });
        Ok(Self {
            index,
            client,
            session,
            arrivals,
            last_step,
            reader,
        })
    }

    /// One interval's reports as one call each: the P worker reports concurrently, then the router's.
    /// Whether any was accepted (the interval opened).
    async fn send_unary(
        &mut self,
        loads: Vec<pb::WorkerReport>,
        router: pb::RouterReport,
        due_us: u64,
        out: &mut Outcome,
    ) -> bool {
        let mut opened = false;
        let mut workers = JoinSet::new();
        for report in loads {
            let mut client = self.client.clone();
            workers.spawn(async move { client.report_worker(report).await });
        }
        while let Some(ack) = workers.join_next().await {
            match ack {
                Ok(Ok(ack)) if ack.get_ref().accepted => opened = true,
                Ok(Ok(_)) => out.rejected += 1,
                Ok(Err(_)) | Err(_) => out.errors += 1,
            }
        }
        out.lag_ms.push(wall_us().saturating_sub(due_us) as f64 / 1000.0);
        let started = Instant::now();
        match self.client.report_router(router).await {
            Ok(ack) if ack.get_ref().accepted => {
                out.sent.push(Some(started));
                true
            }
            Ok(_) => {
                out.rejected += 1;
                out.sent.push(None);
                opened
            }
            Err(_) => {
                out.errors += 1;
                out.sent.push(None);
                opened
            }
        }
    }

    /// Reports intervals `first..first + steps` each just after its end, waits for the last tables,
    /// closes the session.
    async fn drive(mut self, first: u64, config: SoakConfig) -> Outcome {
        let steps = config.steps();
        let p = config.workers;
        let interval_ms = config.interval_ms as f64;
        let offset_us = if config.spread {
            self.index as u64 * config.interval_ms * 1000 / config.sessions as u64
        } else {
            0
        };
        let mut out = Outcome {
            sent: Vec::with_capacity(steps as usize),
            opened: Vec::with_capacity(steps as usize),
            lag_ms: Vec::with_capacity(steps as usize),
            arrivals: Vec::new(),
            rejected: 0,
            errors: 0,
            closed_steps: 0,
        };
        for k in 0..steps {
            let interval = first + k;
            let due_us = (interval + 1) * config.interval_ms * 1000 + offset_us;
            let now = wall_us();
            if due_us > now {
                tokio::time::sleep(Duration::from_micros(due_us - now)).await;
            }
            let loads: Vec<pb::WorkerReport> = (0..p)
                .map(|w| {
                    // Loads vary with worker and step, so every step's observation differs.
                    let busy_ms = interval_ms * (0.4 + f64::from((w + k as u32) % 50) / 100.0);
                    pb::WorkerReport {
                        interval_ms,
                        ..fake_job::worker_report(&self.session, interval, w, busy_ms)
                    }
                })
                .collect();
            let counts = (0..u64::from(p)).map(|w| 1000 + 10 * w).collect();
            let router = fake_job::router_report(&self.session, interval, counts);
            let opened = if config.unary {
                self.send_unary(loads, router, due_us, &mut out).await
            } else {
                let batch = pb::ReportBatch {
                    session_id: self.session.clone(),
                    workers: loads,
                    routers: vec![router],
                };
                out.lag_ms.push(wall_us().saturating_sub(due_us) as f64 / 1000.0);
                let started = Instant::now();
                match self.client.report(batch).await {
                    Ok(ack) => {
                        let ack = ack.into_inner();
                        out.rejected += u64::from(ack.late + ack.ahead);
                        // The step's table may come only when the router report was stored.
                        let complete = ack.stored == p + 1;
                        out.sent.push(complete.then_some(started));
                        ack.stored > 0
                    }
                    Err(_) => {
                        out.errors += 1;
                        out.sent.push(None);
                        false
                    }
                }
            };
            out.opened.push(opened);
        }
        // The last steps' tables: an incomplete interval closes at its deadline (2 intervals by default).
        let due = out.opened.iter().filter(|&&o| o).count() as u64;
        let drain = Duration::from_millis(3 * config.interval_ms) + Duration::from_secs(2);
        let _ = tokio::time::timeout(drain, self.last_step.wait_for(|&s| s >= due)).await;
        let close = pb::CloseSessionRequest {
            session_id: self.session.clone(),
        };
        match tokio::time::timeout(Duration::from_secs(10), self.client.close_session(close)).await {
            Ok(Ok(reply)) => out.closed_steps = reply.into_inner().steps,
            _ => out.errors += 1,
        }
        self.reader.abort();
        out.arrivals = std::mem::take(&mut *self.arrivals.lock().unwrap_or_else(|e| e.into_inner()));
        out
    }
}

/// What one session's driver saw.
struct Outcome {
    /// Per step: when its router report was sent, if it was accepted.
    sent: Vec<Option<Instant>>,
    /// Per step: whether any of its reports was accepted, i.e. its interval opened and will close.
    opened: Vec<bool>,
    /// Per step: interval end (plus the session's offset) → router report sent (ms).
    lag_ms: Vec<f64>,
    /// Tables received after the initial one: (step, when).
    arrivals: Vec<(u64, Instant)>,
    rejected: u64,
    errors: u64,
    /// Steps the agent counted when the session closed.
    closed_steps: u64,
}

/// Matches each session's tables to its steps and puts the numbers together. The agent numbers a
/// session's closed intervals 1, 2, …, so the n-th interval that opened is step n.
fn summarise(
    config: &SoakConfig,
    agent: String,
    outcomes: &[Outcome],
    rss: Vec<RssSample>,
    cpu_pct: Option<f64>,
    load_avg: [Option<f64>; 2],
) -> SoakReport {
    let steps = config.steps();
    let warmup_steps = config.warmup_steps();
    let mut latencies_us = Vec::with_capacity(outcomes.len() * steps as usize);
    let mut lags_ms = Vec::with_capacity(outcomes.len() * steps as usize);
    let (mut received, mut refused, mut skipped, mut deadline, mut sessions_lost) = (0, 0, 0, 0, 0);
    for o in outcomes {
        let mut arrived = vec![None; steps as usize + 1];
        for &(step, at) in &o.arrivals {
            if let Some(slot) = arrived.get_mut(step as usize) {
                slot.get_or_insert(at);
            }
        }
        let mut step = 0;
        let mut missing = 0;
        for (k, (&opened, sent)) in o.opened.iter().zip(&o.sent).enumerate() {
            if k as u64 >= warmup_steps {
                lags_ms.push(o.lag_ms[k]);
            }
            if !opened {
                refused += 1;
                missing += 1;
                continue;
            }
            step += 1;
            let Some(at) = arrived[step] else {
                skipped += 1;
                missing += 1;
                continue;
            };
            received += 1;
            // A table before its router report was accepted closed at its deadline: no reply latency.
            match sent.and_then(|sent| at.checked_duration_since(sent)) {
                Some(latency) if k as u64 >= warmup_steps => latencies_us.push(latency.as_secs_f64() * 1e6),
                Some(_) => {}
                None => deadline += 1,
            }
        }
        missing += steps as usize - o.opened.len();
        if missing > 0 {
            sessions_lost += 1;
        }
    }
    latencies_us.sort_by(f64::total_cmp);
    lags_ms.sort_by(f64::total_cmp);
    let warm_from = warmup_steps as f64 * config.interval_ms as f64 / 1000.0;
    // A sample due at the warm-up's end may read a hair early on the wall clock.
    let rss_warm_kib = rss.iter().find(|s| s.t_s >= warm_from - 0.1).map(|s| s.kib);
    let rss_end_kib = rss.last().map(|s| s.kib);
    let expected = outcomes.len() as u64 * steps;
    SoakReport {
        agent,
        spread: config.spread,
        unary: config.unary,
        sessions: outcomes.len(),
        workers: config.workers,
        interval_ms: config.interval_ms,
        steps_per_session: steps,
        warmup_steps,
        tables_expected: expected,
        tables_received: received,
        tables_missing: expected - received,
        intervals_refused: refused,
        tables_skipped: skipped,
        deadline_tables: deadline,
        sessions_lost,
        steps_closed_min: outcomes.iter().map(|o| o.closed_steps).min().unwrap_or(0),
        reports_rejected: outcomes.iter().map(|o| o.rejected).sum(),
        rpc_errors: outcomes.iter().map(|o| o.errors).sum(),
        reply_samples: latencies_us.len(),
        reply_p50_us: quantile(&latencies_us, 0.5),
        reply_p99_us: quantile(&latencies_us, 0.99),
        reply_max_us: latencies_us.last().copied().unwrap_or(f64::NAN),
        report_lag_p50_ms: quantile(&lags_ms, 0.5),
        report_lag_p99_ms: quantile(&lags_ms, 0.99),
        report_lag_max_ms: lags_ms.last().copied().unwrap_or(f64::NAN),
        rss_growth_pct: rss_warm_kib
            .zip(rss_end_kib)
            .map(|(w, e)| (e as f64 - w as f64) / w as f64 * 100.0),
        rss,
        rss_warm_kib,
        rss_end_kib,
        cpu_pct,
        load_avg,
    }
}

/// Samples `<proc>/status` VmRSS every `rss_every` from `start_ms` (wall clock) until `stop`, and once
/// more then. Nothing when `proc` is empty or unreadable (not Linux).
async fn sample_rss(
    proc: String,
    start_ms: u64,
    config: SoakConfig,
    mut stop: oneshot::Receiver<()>,
) -> Vec<RssSample> {
    let mut samples =
        Vec::with_capacity((config.duration.as_secs_f64() / config.rss_every.as_secs_f64()) as usize + 4);
    if proc.is_empty() {
        return samples;
    }
    let now = wall_us();
    if start_ms * 1000 > now {
        tokio::time::sleep(Duration::from_micros(start_ms * 1000 - now)).await;
    }
    let mut ticks = tokio::time::interval(config.rss_every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let t_s = || (wall_us() as f64 / 1000.0 - start_ms as f64) / 1000.0;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = &mut stop => break,
        }
        if let Some(kib) = rss_kib(&proc) {
            samples.push(RssSample { t_s: t_s(), kib });
        }
    }
    if let Some(kib) = rss_kib(&proc) {
        samples.push(RssSample { t_s: t_s(), kib });
    }
    samples
}

/// VmRSS of `/proc/<pid>` (KiB).
fn rss_kib(proc: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("{proc}/status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

/// User + system CPU time of `/proc/<pid>` (s).
fn cpu_seconds(proc: &str) -> Option<f64> {
    if proc.is_empty() {
        return None;
    }
    let stat = std::fs::read_to_string(format!("{proc}/stat")).ok()?;
    // Fields after the command name, which may hold spaces and ends at the last ')': state is field 3,
    // utime and stime fields 14 and 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf reads a constant of the system and has no preconditions.
    let per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_s > 0).then(|| ticks / per_s as f64)
}

/// The 1-minute load average.
fn load_avg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Microseconds since the Unix epoch: the clock the agent numbers intervals by.
fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        assert!(rss_kib("/proc/self").is_some_and(|kib| kib > 0));
        assert!(cpu_seconds("/proc/self").is_some_and(|s| s >= 0.0));
        assert_eq!(cpu_seconds(""), None);
    }

    #[test]
    fn refuses_a_warmup_as_long_as_the_run() {
        let config = SoakConfig {
            sessions: 1,
            workers: 4,
            interval_ms: 100,
            duration: Duration::from_secs(1),
            warmup: Duration::from_secs(1),
            rss_every: Duration::from_secs(1),
            spread: false,
            unary: false,
        };
        assert!(matches!(
            config.validate(),
            Err(SoakError::Invalid { key: "warmup", .. })
        ));
    }
}
