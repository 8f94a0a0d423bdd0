//! `sas-agent soak` in miniature: a few sessions against an in-process agent on the wall clock; every
//! session gets every step's table and the report's fields hold together. Bounded: the run is 1.5 s of
//! 100 ms intervals, the whole test under a 30 s limit.

use sas_agent::server::InitialTableFactory;
use sas_agent::soak::{self, SoakConfig, Target};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_session_gets_every_table() {
    let config = SoakConfig {
        sessions: 3,
        workers: 8,
        interval_ms: 100,
        duration: Duration::from_millis(1500),
        warmup: Duration::from_millis(300),
        rss_every: Duration::from_millis(500),
        spread: false,
        unary: false,
    };
    let target = Target::InProcess(Arc::new(InitialTableFactory::new(None)));
    let report = tokio::time::timeout(Duration::from_secs(30), soak::run(&config, target))
        .await
        .expect("the soak ends in time")
        .unwrap();

    assert_eq!(report.sessions, 3);
    assert_eq!(report.steps_per_session, 15);
    assert_eq!(report.warmup_steps, 3);
    assert_eq!(report.tables_expected, 45);
    // The stream keeps only the newest table: if a stall makes two steps close at once, the older
    // table is skipped, which is the designed behaviour, not a loss. Every step must close and every
    // table be received or skipped.
    assert_eq!(report.tables_received + report.tables_skipped, 45, "{report:#?}");
    assert!(report.tables_received >= 40, "{report:#?}");
    // A session misses a table only where one was skipped.
    assert!(report.sessions_lost as u64 <= report.tables_skipped, "{report:#?}");
    assert_eq!(report.intervals_refused, 0, "{report:#?}");
    assert_eq!((report.reports_rejected, report.rpc_errors), (0, 0));
    assert_eq!(report.steps_closed_min, 15);
    assert!(report.reply_samples > 0 && report.reply_samples <= 3 * 12, "{report:#?}");
    assert!(0.0 < report.reply_p50_us, "{report:#?}");
    assert!(report.reply_p50_us <= report.reply_p99_us && report.reply_p99_us <= report.reply_max_us);
    assert!(0.0 <= report.report_lag_p50_ms && report.report_lag_p50_ms <= report.report_lag_p99_ms);
    assert!(report.report_lag_p99_ms <= report.report_lag_max_ms);
    // Samples at 0, 0.5, 1.0 s and at the end (1.5 s and the last tables' drain).
    assert!(report.rss.len() >= 4, "{:?}", report.rss);
    assert!(report.rss.windows(2).all(|w| w[0].t_s <= w[1].t_s));
    assert!(report.rss_warm_kib.is_some_and(|kib| kib > 0));
    assert!(report.rss_growth_pct.is_some_and(f64::is_finite));
    let text = report.render();
    assert!(
        text.contains("tables received") && text.contains(&format!("{} / 45", report.tables_received)),
        "{text}"
    );
}
