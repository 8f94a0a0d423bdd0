//! `sas-agent shift-report`: how a served policy follows a change of skew on Flink. It reads the agent's
//! step log (`step_log`, one line per step) of a `zipf-sequence` job, places each step in its phase by
//! the records routed so far, and reports each phase's steady-state λ (busy time) and how many steps λ
//! took to come back under a threshold after the shift. `bin/shift-test.sh` runs it after the job.

use crate::plot::{self, Series};
use anyhow::{Context, bail, ensure};
use sas_router::params::Params;
use serde::Serialize;
use std::path::Path;

/// One line of the step log.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRow {
    /// Step number in its session.
    pub step: u64,
    /// Records the routers reported for the step.
    pub records: f64,
    /// λ of busy time.
    pub imbalance: f64,
    /// Workers whose report was missing and imputed.
    pub imputed_workers: u64,
}

/// One phase of the stream.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// Phase index in time order (0 = the first).
    pub phase: usize,
    /// Its Zipf exponent.
    pub alpha: f64,
    /// First and last step wholly inside the phase.
    pub first_step: u64,
    /// Last step wholly inside the phase.
    pub last_step: u64,
    /// Mean λ over the phase's steps after `settle_steps`.
    pub steady_imbalance: f64,
    /// Steps that mean is over.
    pub steady_steps: usize,
    /// The step during which the shift into this phase happened (None for the first phase).
    pub shift_step: Option<u64>,
    /// Steps after `shift_step` until the first with λ under the threshold (1 = the very next step);
    /// None for the first phase, or when λ never came back under it.
    pub recovery_steps: Option<u64>,
    /// Highest λ after the shift step, up to the recovery.
    pub peak_imbalance: Option<f64>,
}

/// The `--json` summary, also written as `shift.json`. Field names are the contract.
#[derive(Debug, Clone, Serialize)]
pub struct ShiftReport {
    /// λ threshold of recovery.
    pub threshold: f64,
    /// Steps after a shift (and after the start) left out of the steady state.
    pub settle_steps: u64,
    /// Mean λ over every phase's steady steps.
    pub steady_imbalance: f64,
    /// The slowest recovery over the shifts (None if one never recovered or there was no shift).
    pub max_recovery_steps: Option<u64>,
    /// Per phase.
    pub phases: Vec<PhaseReport>,
}

/// Reads the step log at `path`; with several sessions in it, the one with the most steps.
///
/// # Errors
/// An unreadable file, a header other than the agent's, or a malformed line (named `file:line`).
pub fn read_steps(path: &Path) -> anyhow::Result<Vec<StepRow>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    ensure!(
        header == crate::server::STEP_LOG_HEADER,
        "{}:1: not an agent step log (header `{header}`)",
        path.display()
    );
    let col = |name: &str| header.split(',').position(|c| c == name).unwrap_or(usize::MAX);
    let (session, step, records, imbalance, imputed) = (
        col("session"),
        col("step"),
        col("records"),
        col("imbalance"),
        col("imputed_workers"),
    );
    let mut by_session: std::collections::BTreeMap<String, Vec<StepRow>> = Default::default();
    for (i, line) in lines.enumerate() {
        let at = || format!("{}:{}", path.display(), i + 2);
        let cells: Vec<&str> = line.split(',').collect();
        let cell = |c: usize| {
            cells
                .get(c)
                .copied()
                .with_context(|| format!("{}: too few columns", at()))
        };
        let row = StepRow {
            step: cell(step)?.parse().with_context(|| format!("{}: step", at()))?,
            records: cell(records)?
                .parse()
                .with_context(|| format!("{}: records", at()))?,
            imbalance: cell(imbalance)?
                .parse()
                .with_context(|| format!("{}: imbalance", at()))?,
            imputed_workers: cell(imputed)?
                .parse()
                .with_context(|| format!("{}: imputed_workers", at()))?,
        };
        by_session
            .entry(cell(session)?.to_string())
            .or_default()
            .push(row);
    }
    by_session
        .into_values()
        .max_by_key(Vec::len)
        .with_context(|| format!("{}: no steps", path.display()))
}

/// The report of `steps` for a job whose stream is `params`' `zipf-sequence`.
///
/// # Errors
/// Params of another workload, or too few steps to see a phase.
pub fn report(
    steps: &[StepRow],
    params: &Params,
    threshold: f64,
    settle_steps: u64,
) -> anyhow::Result<ShiftReport> {
    let w = &params.workload;
    ensure!(
        w.kind == "zipf-sequence" && !w.phases.is_empty(),
        "workload.kind = {}: shift-report needs a `zipf-sequence` with phases",
        w.kind
    );
    ensure!(
        params.routers == 1,
        "routers = {}: the phases are counted for one source",
        params.routers
    );
    // Records of event time per phase: the source stamps record i at i·1000/rate ms.
    let per_phase = w.shift_interval_ms as f64 * w.rate as f64 / 1000.0;
    // The last step is cut short by the end of the job; imputed steps (start-up) measure nobody.
    let usable = &steps[..steps.len().saturating_sub(1)];
    let mut phases: Vec<PhaseReport> = Vec::new();
    let mut routed = 0.0;
    let mut shift_step: Option<u64> = None;
    let mut since_shift = 0u64;
    let mut sums: Vec<(f64, usize)> = Vec::new();
    for row in usable {
        let (start, end) = (routed, routed + row.records);
        routed = end;
        let phase = (start / per_phase).floor() as usize;
        if (end / per_phase).ceil() as usize > phase + 1 && end > start {
            // The shift happened during this step: it belongs to no phase.
            shift_step = Some(row.step);
            continue;
        }
        if phases.len() <= phase {
            while phases.len() <= phase {
                let p = phases.len();
                phases.push(PhaseReport {
                    phase: p,
                    alpha: w.phases[p % w.phases.len()].alpha,
                    first_step: row.step,
                    last_step: row.step,
                    steady_imbalance: f64::NAN,
                    steady_steps: 0,
                    shift_step: if p == 0 { None } else { shift_step },
                    recovery_steps: None,
                    peak_imbalance: None,
                });
                sums.push((0.0, 0));
            }
            since_shift = 0;
        }
        since_shift += 1;
        let current = phases.last_mut().expect("pushed above");
        current.last_step = row.step;
        if let Some(at) = current.shift_step
            && current.recovery_steps.is_none()
        {
            let peak = current.peak_imbalance.unwrap_or(0.0).max(row.imbalance);
            current.peak_imbalance = Some(peak);
            if row.imbalance < threshold {
                current.recovery_steps = Some(row.step - at);
            }
        }
        if since_shift > settle_steps && row.imputed_workers == 0 {
            let s = &mut sums[phase];
            s.0 += row.imbalance;
            s.1 += 1;
        }
    }
    if phases.is_empty() {
        bail!(
            "no step lies wholly inside a phase: the log has {} steps",
            steps.len()
        );
    }
    let (mut total, mut n) = (0.0, 0usize);
    for (p, (sum, count)) in phases.iter_mut().zip(&sums) {
        p.steady_steps = *count;
        p.steady_imbalance = if *count > 0 { sum / *count as f64 } else { f64::NAN };
        total += sum;
        n += count;
    }
    let shifted: Vec<&PhaseReport> = phases.iter().filter(|p| p.shift_step.is_some()).collect();
    let max_recovery_steps = if shifted.is_empty() || shifted.iter().any(|p| p.recovery_steps.is_none()) {
        None
    } else {
        shifted.iter().filter_map(|p| p.recovery_steps).max()
    };
    Ok(ShiftReport {
        threshold,
        settle_steps,
        steady_imbalance: if n > 0 { total / n as f64 } else { f64::NAN },
        max_recovery_steps,
        phases,
    })
}

/// λ per step (the first `settle_steps` and imputed steps left out) with the threshold and the shifts,
/// as a PNG.
///
/// # Errors
/// The file cannot be written.
pub fn plot(path: &Path, steps: &[StepRow], report: &ShiftReport) -> anyhow::Result<()> {
    // The start-up steps (workers starting one by one, some imputed) would set the scale.
    let lambda: Vec<(f64, f64)> = steps
        .iter()
        .skip(report.settle_steps as usize)
        .filter(|r| r.imputed_workers == 0)
        .map(|r| (r.step as f64, r.imbalance))
        .collect();
    let top = lambda.iter().map(|p| p.1).fold(report.threshold, f64::max);
    let (first, last) = (
        lambda.first().map_or(0.0, |p| p.0),
        lambda.last().map_or(1.0, |p| p.0),
    );
    let mut series = vec![
        Series {
            label: "λ (busy time)".into(),
            points: lambda,
        },
        Series {
            label: format!("threshold {}", report.threshold),
            points: vec![(first, report.threshold), (last, report.threshold)],
        },
    ];
    for p in &report.phases {
        if let Some(at) = p.shift_step {
            series.push(Series {
                label: format!("shift to α {}", p.alpha),
                points: vec![(at as f64, 0.0), (at as f64, top)],
            });
        }
    }
    plot::line_chart(
        path,
        "λ per agent step across α shifts",
        "agent step",
        "λ",
        &series,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params::parse(
            "task: wordcount\npartitioner: saspartitioner\nworkers: 4\nrecords: 1\nrouters: 1\n\
             workload: {kind: zipf-sequence, rate: 1000, shift_interval_ms: 10000, \
             phases: [{alpha: 1.5, keys: 100}, {alpha: 1.2, keys: 100}]}\n",
            "test.yaml",
        )
        .unwrap()
    }

    fn row(step: u64, records: f64, imbalance: f64) -> StepRow {
        StepRow {
            step,
            records,
            imbalance,
            imputed_workers: 0,
        }
    }

    #[test]
    fn phases_recovery_and_steady_state_from_a_log() {
        // 1000 records per step, 10 000 per phase: steps 1-10 are phase 0, step 11 straddles the
        // shift (records 9 500-10 500), then phase 1 from step 12.
        let mut steps: Vec<StepRow> = (1..=10).map(|s| row(s, 1000.0, 0.04)).collect();
        steps[9].records = 500.0;
        steps.push(row(11, 1000.0, 0.5));
        steps.push(row(12, 1000.0, 0.3));
        steps.push(row(13, 1000.0, 0.08));
        steps.extend((14..=19).map(|s| row(s, 1000.0, 0.02)));
        steps.push(row(20, 10.0, 0.9)); // cut short by the end of the job: left out
        let r = report(&steps, &params(), 0.1, 2).unwrap();
        assert_eq!(r.phases.len(), 2);
        let (a, b) = (&r.phases[0], &r.phases[1]);
        assert_eq!((a.first_step, a.last_step, a.shift_step), (1, 10, None));
        assert!((a.steady_imbalance - 0.04).abs() < 1e-12);
        assert_eq!(a.steady_steps, 8);
        assert_eq!((b.first_step, b.last_step, b.shift_step), (12, 19, Some(11)));
        assert_eq!(b.steady_steps, 6);
        assert_eq!(b.alpha, 1.2);
        assert_eq!(b.recovery_steps, Some(2), "step 13 is the first under 0.1");
        assert_eq!(b.peak_imbalance, Some(0.3));
        assert!(
            (b.steady_imbalance - 0.02).abs() < 1e-12,
            "{}",
            b.steady_imbalance
        );
        assert_eq!(r.max_recovery_steps, Some(2));
    }

    #[test]
    fn a_phase_that_never_recovers_has_no_recovery() {
        let mut steps: Vec<StepRow> = (1..=9).map(|s| row(s, 1000.0, 0.04)).collect();
        steps.push(row(10, 2000.0, 0.5));
        steps.extend((11..=15).map(|s| row(s, 1000.0, 0.3)));
        let r = report(&steps, &params(), 0.1, 0).unwrap();
        assert_eq!(r.phases[1].recovery_steps, None);
        assert_eq!(r.max_recovery_steps, None);
    }

    #[test]
    fn a_log_of_another_file_or_workload_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("steps.csv");
        std::fs::write(&path, "a,b\n1,2\n").unwrap();
        let e = read_steps(&path).unwrap_err().to_string();
        assert!(e.contains("steps.csv:1: not an agent step log"), "{e}");
        std::fs::write(
            &path,
            format!("{}\n1,s1,1,0,x,0.1,0.1,0,0,1\n", crate::server::STEP_LOG_HEADER),
        )
        .unwrap();
        let e = format!("{:#}", read_steps(&path).unwrap_err());
        assert!(e.contains("steps.csv:2: records"), "{e}");
        let mut p = params();
        p.workload.kind = "zipf".into();
        let e = report(&[row(1, 1.0, 0.0)], &p, 0.1, 0).unwrap_err().to_string();
        assert!(e.contains("workload.kind = zipf"), "{e}");
    }
}
