//! `sas-agent plot-sweep`: the chart and the table of a baseline sweep (`bin/sweep-baselines.sh`), from
//! its `summary.csv`: one row per partitioner, columns exactly [`COLUMNS`] (docs/modes.md). The chart is a
//! bar of the maximum sustained rate per partitioner with the total emulated capacity across them.

use crate::plot::{self, Bar, PlotCsvError, Reference};
use crate::table;
use std::path::{Path, PathBuf};

/// The columns of `summary.csv`, in order (the throughput test writes them).
pub const COLUMNS: [&str; 7] = [
    "partitioner",
    "max_rate",
    "p50_ms",
    "p99_ms",
    "imbalance",
    "nmad",
    "hot_fragmentation",
];

/// One partitioner's row. Empty cells (nothing measured, e.g. no latency without a sustained rate) are NaN.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRow {
    /// Partitioner name.
    pub partitioner: String,
    /// Maximum sustained rate, records/s.
    pub max_rate: f64,
    /// Median end-to-end latency at 80 % of the maximum rate, ms.
    pub p50_ms: f64,
    /// 99th percentile of the same, ms.
    pub p99_ms: f64,
    /// λ of per-worker record counts in the latency stage.
    pub imbalance: f64,
    /// NMAD of the same.
    pub nmad: f64,
    /// Mean number of workers a hot key reached per window.
    pub hot_fragmentation: f64,
}

/// Reads `summary.csv`.
///
/// # Errors
/// [`PlotCsvError`] naming the file and line of a wrong header, a row of the wrong width or a cell
/// that is not a number.
pub fn read_summary(path: &Path) -> Result<Vec<SweepRow>, PlotCsvError> {
    let text = plot::read_csv(path)?;
    plot::csv_rows(path, &text, &COLUMNS)?
        .into_iter()
        .map(|(line, cells)| {
            let [max_rate, p50_ms, p99_ms, imbalance, nmad, hot_fragmentation] =
                plot::csv_numbers(path, line, &cells[1..], &COLUMNS[1..])?;
            Ok(SweepRow {
                partitioner: cells[0].to_string(),
                max_rate,
                p50_ms,
                p99_ms,
                imbalance,
                nmad,
                hot_fragmentation,
            })
        })
        .collect()
}

/// The total emulated capacity of the sweep: `total_capacity` of the first `*/throughput.json` beside the
/// summary that has one (every run of a sweep has the same params).
pub fn total_capacity_beside(summary: &Path) -> Option<f64> {
    let dir = summary
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut runs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("throughput.json")))
        .filter(|p| p.is_file())
        .collect();
    runs.sort();
    runs.iter().find_map(|p| {
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
        json.get("total_capacity")?.as_f64()
    })
}

/// Draws the sweep's chart into `out` and returns the table for the terminal.
///
/// # Errors
/// [`PlotCsvError`] when the summary cannot be read or the chart cannot be drawn.
pub fn run(summary: &Path, out: &Path, capacity: Option<f64>) -> Result<String, PlotCsvError> {
    let rows = read_summary(summary)?;
    let bars: Vec<Bar> = rows
        .iter()
        .map(|r| Bar {
            label: r.partitioner.clone(),
            value: r.max_rate,
        })
        .collect();
    let reference = capacity
        .or_else(|| total_capacity_beside(summary))
        .map(|value| Reference {
            label: format!("total emulated capacity ({value:.0}/s)"),
            value,
        });
    plot::bar_chart(
        out,
        "Maximum sustained rate per partitioner",
        "records/s",
        &bars,
        reference.as_ref(),
    )?;
    Ok(render(&rows, reference.map(|r| r.value)))
}

/// The summary as a terminal table, with the maximum rate as a share of the capacity when known.
pub fn render(rows: &[SweepRow], capacity: Option<f64>) -> String {
    let cell = |v: f64, digits: usize| {
        if v.is_finite() {
            format!("{v:.digits$}")
        } else {
            "-".into()
        }
    };
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.partitioner.clone(),
                cell(r.max_rate, 0),
                capacity.map_or("-".into(), |c| cell(r.max_rate / c, 3)),
                cell(r.p50_ms, 2),
                cell(r.p99_ms, 2),
                cell(r.imbalance, 4),
                cell(r.nmad, 4),
                cell(r.hot_fragmentation, 2),
            ]
        })
        .collect();
    table::render(
        &[
            "partitioner",
            "max_rate",
            "of_capacity",
            "p50_ms",
            "p99_ms",
            "imbalance",
            "nmad",
            "hot_frag",
        ],
        &table_rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::tests::{Block, Image, blocks_of, check_bars};

    const SUMMARY: &str = "partitioner,max_rate,p50_ms,p99_ms,imbalance,nmad,hot_fragmentation\n\
                           hash,1900,12.50,80.00,1.6000,0.4000,1.00\n\
                           shuffle,11000,5.10,20.30,0.0500,0.0200,16.00\n\
                           dalton-original,0,,,0.0000,0.0000,0.00\n";

    #[test]
    fn reads_the_summary_and_draws_it_against_the_capacity_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let summary = dir.path().join("summary.csv");
        std::fs::write(&summary, SUMMARY).unwrap();
        std::fs::create_dir(dir.path().join("hash")).unwrap();
        std::fs::write(
            dir.path().join("hash/throughput.json"),
            r#"{"partitioner": "hash", "total_capacity": 12000.0}"#,
        )
        .unwrap();

        let rows = read_summary(&summary).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].partitioner, "shuffle");
        assert_eq!(rows[1].max_rate, 11000.0);
        assert!(rows[2].p50_ms.is_nan(), "an empty cell is NaN");
        assert_eq!(total_capacity_beside(&summary), Some(12000.0));

        let png = dir.path().join("throughput.png");
        let table = run(&summary, &png, None).unwrap();
        assert!(table.contains("0.917"), "shuffle at 11000/12000:\n{table}");
        // The chart: one bar per measured rate, in summary order and in proportion, under the capacity
        // read beside the summary. dalton-original's rate 0 draws at most a hairline.
        let image = Image::read(&png);
        let (bars, hairlines): (Vec<Block>, Vec<Block>) = blocks_of(&image, (70, 130, 180))
            .into_iter()
            .partition(|b| b.height() > 2);
        assert!(hairlines.len() <= 1, "{hairlines:?}");
        check_bars(&image, &bars, &[1900.0, 11000.0], 12000.0);
        assert!(
            hairlines.iter().all(|h| h.left > bars[1].right),
            "the zero bar is the last: {hairlines:?}"
        );
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let summary = dir.path().join("summary.csv");
        std::fs::write(&summary, SUMMARY.replace("1900", "fast")).unwrap();
        let e = read_summary(&summary).unwrap_err().to_string();
        assert!(e.contains("summary.csv:2") && e.contains("`max_rate`"), "{e}");
        std::fs::write(&summary, "partitioner,max_rate\nhash,1\n").unwrap();
        let e = read_summary(&summary).unwrap_err().to_string();
        assert!(
            e.contains("summary.csv:1") && e.contains("expected the header"),
            "{e}"
        );
    }
}
