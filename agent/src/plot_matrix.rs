//! `sas-agent plot-matrix`: the chart and the table of a scenario matrix (`bin/scenario-matrix.sh`), from
//! its `matrix.csv`: one row per (scenario, partitioner, repeat), columns exactly [`COLUMNS`]
//! (docs/modes.md). Rows are grouped into one [`MatrixCell`] per (scenario, partitioner) holding medians
//! over the repeats and the spread of `of_capacity`; the chart has one panel per scenario, a horizontal bar
//! per partitioner (median `of_capacity`, a min–max whisker) and a line at 1.0, the physical capacity.

use crate::plot::{self, PlotCsvError, PlotError};
use crate::table;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// The columns of `matrix.csv`, in order (`bin/scenario-matrix.sh` writes them).
pub const COLUMNS: [&str; 10] = [
    "scenario",
    "partitioner",
    "repeat",
    "max_rate",
    "of_capacity",
    "p50_ms",
    "p99_ms",
    "imbalance",
    "hot_fragmentation",
    "peak_partial_states",
];

/// One run's row. Empty cells (nothing measured, or a field the run's `throughput.json` did not have) are
/// NaN.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixRow {
    /// Scenario name (the stem of its params file).
    pub scenario: String,
    /// Partitioner name.
    pub partitioner: String,
    /// Repeat number, from 1.
    pub repeat: u32,
    /// Maximum sustained rate, records/s.
    pub max_rate: f64,
    /// `max_rate` over the physical capacity Σ Cᵢ (time-averaged where it changes).
    pub of_capacity: f64,
    /// Median end-to-end latency of the latency stage, ms.
    pub p50_ms: f64,
    /// 99th percentile of the same, ms.
    pub p99_ms: f64,
    /// λ of per-worker record counts in the latency stage.
    pub imbalance: f64,
    /// Mean number of workers a hot key reached per window.
    pub hot_fragmentation: f64,
    /// Peak number of (key, worker) partial states.
    pub peak_partial_states: f64,
}

/// One (scenario, partitioner) of the matrix: its repeats summarised. Medians are over the repeats that
/// measured the value (NaN when none did).
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixCell {
    /// Scenario name.
    pub scenario: String,
    /// Partitioner name.
    pub partitioner: String,
    /// Rows (repeats) in the cell.
    pub runs: usize,
    /// Median `of_capacity`.
    pub of_capacity: f64,
    /// Lowest `of_capacity`.
    pub of_capacity_min: f64,
    /// Highest `of_capacity`.
    pub of_capacity_max: f64,
    /// (max − min) / median of `of_capacity`, in % (0 for one run; NaN when the median is 0).
    pub spread_percent: f64,
    /// Median `max_rate`, records/s.
    pub max_rate: f64,
    /// Median `p99_ms`.
    pub p99_ms: f64,
    /// Median λ (`imbalance`).
    pub imbalance: f64,
}

/// Reads `matrix.csv`.
///
/// # Errors
/// [`PlotCsvError`] naming the file and line of a wrong header, a row of the wrong width, an empty
/// name, a repeat that is not a positive integer, a cell that is not a number, or a (scenario, partitioner,
/// repeat) seen twice.
pub fn read_matrix(path: &Path) -> Result<Vec<MatrixRow>, PlotCsvError> {
    let text = plot::read_csv(path)?;
    let format = |line: usize, message: String| PlotCsvError::format(path, line, message);
    let mut rows: Vec<MatrixRow> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (line_no, cells) in plot::csv_rows(path, &text, &COLUMNS)? {
        if cells[0].is_empty() || cells[1].is_empty() {
            return Err(format(line_no, "empty `scenario` or `partitioner`".into()));
        }
        let repeat: u32 = cells[2].parse().ok().filter(|r| *r > 0).ok_or_else(|| {
            format(
                line_no,
                format!("`repeat` = {:?} is not a positive integer", cells[2]),
            )
        })?;
        let numbers: [f64; 7] = plot::csv_numbers(path, line_no, &cells[3..], &COLUMNS[3..])?;
        let key = (cells[0].to_string(), cells[1].to_string(), repeat);
        if let Some(first) = seen.insert(key, line_no) {
            return Err(format(
                line_no,
                format!(
                    "repeat {repeat} of ({}, {}) is already on line {first}",
                    cells[0], cells[1]
                ),
            ));
        }
        let [
            max_rate,
            of_capacity,
            p50_ms,
            p99_ms,
            imbalance,
            hot_fragmentation,
            peak_partial_states,
        ] = numbers;
        rows.push(MatrixRow {
            scenario: cells[0].to_string(),
            partitioner: cells[1].to_string(),
            repeat,
            max_rate,
            of_capacity,
            p50_ms,
            p99_ms,
            imbalance,
            hot_fragmentation,
            peak_partial_states,
        });
    }
    Ok(rows)
}

/// The median of the finite values (the mean of the middle two for an even count); NaN when none is.
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Names in the order of their first appearance.
fn first_seen<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        if !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    out
}

/// Groups `rows` into one cell per (scenario, partitioner): scenarios in the order they first appear in
/// the CSV, partitioners within each in the order they first appear anywhere (so every panel and every
/// scenario's block of the table has the same order).
pub fn cells(rows: &[MatrixRow]) -> Vec<MatrixCell> {
    let scenarios = first_seen(rows.iter().map(|r| r.scenario.as_str()));
    let partitioners = first_seen(rows.iter().map(|r| r.partitioner.as_str()));
    let mut out = Vec::new();
    for scenario in &scenarios {
        for partitioner in &partitioners {
            let group: Vec<&MatrixRow> = rows
                .iter()
                .filter(|r| &r.scenario == scenario && &r.partitioner == partitioner)
                .collect();
            if group.is_empty() {
                continue;
            }
            let of: Vec<f64> = group
                .iter()
                .map(|r| r.of_capacity)
                .filter(|v| v.is_finite())
                .collect();
            let of_capacity = median(of.iter().copied());
            let (lo, hi) = of
                .iter()
                .fold((f64::NAN, f64::NAN), |(lo, hi), &v| (v.min(lo), v.max(hi)));
            let spread_percent = if of_capacity > 0.0 {
                (hi - lo) / of_capacity * 100.0
            } else {
                f64::NAN
            };
            out.push(MatrixCell {
                scenario: scenario.clone(),
                partitioner: partitioner.clone(),
                runs: group.len(),
                of_capacity,
                of_capacity_min: lo,
                of_capacity_max: hi,
                spread_percent,
                max_rate: median(group.iter().map(|r| r.max_rate)),
                p99_ms: median(group.iter().map(|r| r.p99_ms)),
                imbalance: median(group.iter().map(|r| r.imbalance)),
            });
        }
    }
    out
}

/// The cells as a terminal table: one line per (scenario, partitioner).
pub fn render(cells: &[MatrixCell]) -> String {
    let cell = |v: f64, digits: usize| {
        if v.is_finite() {
            format!("{v:.digits$}")
        } else {
            "-".into()
        }
    };
    // table::render right-aligns every column but the first: names padded to one width read left-aligned.
    let name_width = cells
        .iter()
        .map(|c| c.partitioner.chars().count())
        .fold("partitioner".len(), usize::max);
    let rows: Vec<Vec<String>> = cells
        .iter()
        .map(|c| {
            vec![
                c.scenario.clone(),
                format!("{:<name_width$}", c.partitioner),
                c.runs.to_string(),
                cell(c.of_capacity, 3),
                cell(c.spread_percent, 1),
                cell(c.max_rate, 0),
                cell(c.p99_ms, 2),
                cell(c.imbalance, 4),
            ]
        })
        .collect();
    table::render(
        &[
            "scenario",
            "partitioner",
            "runs",
            "of_capacity",
            "spread_%",
            "max_rate",
            "p99_ms",
            "λ",
        ],
        &rows,
    )
}

/// Reads `csv`, draws its chart into `out` and returns the table for the terminal.
///
/// # Errors
/// [`PlotCsvError`] when the CSV cannot be read, has no row, or the chart cannot be drawn.
pub fn run(csv: &Path, out: &Path) -> Result<String, PlotCsvError> {
    let rows = read_matrix(csv)?;
    if rows.is_empty() {
        return Err(PlotCsvError::format(csv, 2, "no row after the header".into()));
    }
    let cells = cells(&rows);
    draw(out, &cells)?;
    Ok(render(&cells))
}

/// Panel size in pixels: wide enough for the longest partitioner names beside the bars, 34 px per bar.
const PANEL_WIDTH: u32 = 640;
/// Height of the figure's title strip.
const TITLE_HEIGHT: u32 = 64;
/// The bars' colour (as crate::plot's).
const BAR: RGBColor = RGBColor(70, 130, 180);

/// Draws one panel per scenario (up to three side by side), partitioners top to bottom in the cells'
/// order: a bar of the median `of_capacity`, a min–max whisker when the repeats differ, the median's
/// value, and a red line at 1.0. Every panel has the same x scale.
///
/// # Errors
/// [`PlotError`] naming the file when there is no cell or the file cannot be written.
pub fn draw(path: &Path, cells: &[MatrixCell]) -> Result<(), PlotError> {
    let err = |message: String| PlotError::new(path, message);
    if cells.is_empty() {
        return Err(err("no cells".into()));
    }
    plot::register_font();
    let scenarios = first_seen(cells.iter().map(|c| c.scenario.as_str()));
    let partitioners = first_seen(cells.iter().map(|c| c.partitioner.as_str()));
    let bars = partitioners.len();
    let cols = scenarios.len().min(3);
    let rows = scenarios.len().div_ceil(cols);
    let panel_height = (34 * bars as u32 + 100).max(260);
    // At least 1000 px wide: the title's width, whatever the number of panels.
    let size = (
        (PANEL_WIDTH * cols as u32).max(1000),
        TITLE_HEIGHT + panel_height * rows as u32,
    );
    // One x scale for all panels, so bars compare across scenarios; room right of the longest whisker
    // for its value.
    let x_max = cells
        .iter()
        .map(|c| c.of_capacity_max)
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max)
        * 1.18;

    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let (title, grid) = root.split_vertically(TITLE_HEIGHT);
    let centre = (size.0 as i32 / 2, 0);
    title
        .draw(&Text::new(
            "Scenario matrix: maximum sustained rate / physical capacity Σ Cᵢ",
            (centre.0, 8),
            TextStyle::from(("sans-serif", 24)).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(|e| err(e.to_string()))?;
    title
        .draw(&Text::new(
            "bar: median over repeats · whisker: min–max · red line: 1.0 = Σ Cᵢ",
            (centre.0, 38),
            TextStyle::from(("sans-serif", 16)).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(|e| err(e.to_string()))?;

    for (scenario, area) in scenarios.iter().zip(grid.split_evenly((rows, cols))) {
        // Segment j holds partitioner bars-1-j: the first partitioner at the top. A discrete range holds
        // both ends, so 0..bars-1 is `bars` segments; one bar gets an empty second segment.
        let segment = |i: usize| bars - 1 - i;
        let mut chart = ChartBuilder::on(&area)
            .caption(scenario, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(130)
            .build_cartesian_2d(0.0..x_max, (0..(bars - 1).max(1)).into_segmented())
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .y_labels(bars.max(2))
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(j) if *j < bars => partitioners[segment(*j)].clone(),
                _ => String::new(),
            })
            .x_label_formatter(&|v| format!("{v:.1}"))
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| err(e.to_string()))?;
        // The capacity line goes under the bars (as in crate::plot), so a bar that reaches it stays whole.
        chart
            .draw_series(LineSeries::new(
                [(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Last)],
                RED.stroke_width(2),
            ))
            .map_err(|e| err(e.to_string()))?;
        for (i, partitioner) in partitioners.iter().enumerate() {
            let j = segment(i);
            let centre = SegmentValue::CenterOf(j);
            let small = TextStyle::from(("sans-serif", 13)).pos(Pos::new(HPos::Left, VPos::Center));
            let Some(c) = cells
                .iter()
                .find(|c| &c.scenario == scenario && &c.partitioner == partitioner)
            else {
                chart
                    .draw_series([EmptyElement::at((0.0, centre)) + Text::new("not run", (6, 0), small)])
                    .map_err(|e| err(e.to_string()))?;
                continue;
            };
            if !c.of_capacity.is_finite() {
                chart
                    .draw_series([EmptyElement::at((0.0, centre)) + Text::new("no result", (6, 0), small)])
                    .map_err(|e| err(e.to_string()))?;
                continue;
            }
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(j)),
                    (c.of_capacity, SegmentValue::Exact(j + 1)),
                ],
                BAR.filled(),
            );
            bar.set_margin(7, 7, 0, 0);
            chart.draw_series([bar]).map_err(|e| err(e.to_string()))?;
            if c.of_capacity_max > c.of_capacity_min {
                let whisker = BLACK.stroke_width(2);
                let cap = |x: f64| {
                    EmptyElement::at((x, centre.clone())) + PathElement::new(vec![(0, -7), (0, 7)], whisker)
                };
                chart
                    .draw_series([PathElement::new(
                        vec![
                            (c.of_capacity_min, centre.clone()),
                            (c.of_capacity_max, centre.clone()),
                        ],
                        whisker,
                    )])
                    .map_err(|e| err(e.to_string()))?;
                chart
                    .draw_series([cap(c.of_capacity_min), cap(c.of_capacity_max)])
                    .map_err(|e| err(e.to_string()))?;
            }
            let end = c.of_capacity_max.max(c.of_capacity);
            chart
                .draw_series([EmptyElement::at((end, centre))
                    + Text::new(format!("{:.2}", c.of_capacity), (6, 0), small)])
                .map_err(|e| err(e.to_string()))?;
        }
    }
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::tests::Image;
    use std::path::PathBuf;

    const MATRIX: &str = "scenario,partitioner,repeat,max_rate,of_capacity,p50_ms,p99_ms,imbalance,hot_fragmentation,peak_partial_states\n\
                          equal,hash,1,2000,0.1667,9.5,19.0,5.30,1.00,\n\
                          equal,hash,2,2100,0.1750,9.4,21.0,5.40,1.00,\n\
                          equal,hash,3,1900,0.1583,9.6,,5.20,1.00,\n\
                          equal,w-choices,1,11800,0.9833,10.1,20.0,0.0030,14.5,160000\n\
                          heterogeneous,w-choices,1,6000,0.5714,10.0,30.0,0.50,14.0,150000\n\
                          heterogeneous,w-choices,2,6400,0.6095,10.0,32.0,0.40,14.0,150000\n\
                          equal,w-choices,2,11600,0.9667,10.2,24.0,0.0050,14.6,161000\n\
                          heterogeneous,hash,1,1800,0.1714,9.0,18.0,5.0,1.0,\n";

    fn matrix_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("matrix.csv");
        std::fs::write(&csv, text).unwrap();
        (dir, csv)
    }

    #[test]
    fn the_median_of_an_odd_and_an_even_count_and_of_nothing() {
        assert_eq!(median([3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median([4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median([f64::NAN, 5.0]), 5.0, "empty cells are left out");
        assert!(median([f64::NAN]).is_nan());
    }

    #[test]
    fn rows_group_into_cells_with_medians_and_spread() {
        let (_dir, csv) = matrix_file(MATRIX);
        let rows = read_matrix(&csv).unwrap();
        assert_eq!(rows.len(), 8);
        assert!(rows[0].peak_partial_states.is_nan(), "an empty cell is NaN");
        assert_eq!(rows[3].peak_partial_states, 160000.0);

        let cells = cells(&rows);
        // Scenarios in order of first appearance, partitioners likewise for every scenario, although
        // heterogeneous's hash row comes last in the file.
        let order: Vec<(&str, &str, usize)> = cells
            .iter()
            .map(|c| (c.scenario.as_str(), c.partitioner.as_str(), c.runs))
            .collect();
        assert_eq!(
            order,
            [
                ("equal", "hash", 3),
                ("equal", "w-choices", 2),
                ("heterogeneous", "hash", 1),
                ("heterogeneous", "w-choices", 2),
            ]
        );
        let hash = &cells[0];
        assert_eq!(hash.of_capacity, 0.1667);
        assert_eq!((hash.of_capacity_min, hash.of_capacity_max), (0.1583, 0.1750));
        assert!((hash.spread_percent - (0.1750 - 0.1583) / 0.1667 * 100.0).abs() < 1e-9);
        assert_eq!(hash.max_rate, 2000.0);
        assert_eq!(hash.p99_ms, 20.0, "the median of the two runs that measured p99");
        assert_eq!(hash.imbalance, 5.30);
        let w = &cells[1];
        assert!(
            (w.of_capacity - 0.975).abs() < 1e-12,
            "mean of the middle two: {}",
            w.of_capacity
        );
        assert_eq!(w.max_rate, 11700.0);
        assert_eq!(cells[2].spread_percent, 0.0, "one run has no spread");

        let table = render(&cells);
        let hash_line = table
            .lines()
            .find(|l| l.starts_with("equal") && l.contains("hash"))
            .unwrap();
        assert!(
            hash_line.contains("0.167") && hash_line.contains("10.0"),
            "{table}"
        );
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let (_dir, csv) = matrix_file(MATRIX);
        // The error reading `text` as matrix.csv names `at` (file:line) and says `what`.
        let error_of = |text: &str, at: &str, what: &str| {
            std::fs::write(&csv, text).unwrap();
            let e = read_matrix(&csv).unwrap_err().to_string();
            assert!(e.contains(at) && e.contains(what), "{e}");
        };
        error_of(&MATRIX.replace("11600", "fast"), "matrix.csv:8", "`max_rate`");
        error_of(
            &MATRIX.replace("equal,hash,3,", "equal,hash,"),
            "matrix.csv:4",
            "9 cells, expected 10",
        );
        error_of(
            &MATRIX.replace("equal,hash,3,", "equal,hash,0,"),
            "matrix.csv:4",
            "`repeat`",
        );
        error_of(
            &MATRIX.replace("equal,hash,3,", "equal,hash,1,"),
            "matrix.csv:4",
            "already on line 2",
        );
        error_of(
            "partitioner,max_rate\nhash,1\n",
            "matrix.csv:1",
            "expected the header",
        );

        std::fs::write(&csv, format!("{}\n", COLUMNS.join(","))).unwrap();
        let e = run(&csv, &csv.with_extension("png")).unwrap_err().to_string();
        assert!(e.contains("matrix.csv:2") && e.contains("no row"), "{e}");
    }

    #[test]
    fn each_scenario_gets_a_panel_with_bars_in_proportion_and_the_capacity_line() {
        let (dir, csv) = matrix_file(MATRIX);
        let png = dir.path().join("matrix.png");
        run(&csv, &png).unwrap();
        let image = Image::read(&png);
        assert_eq!((image.width, image.height), (2 * PANEL_WIDTH as usize, 324));

        // Left panel (equal): the bars, top to bottom, as runs of rows holding the bar colour; each
        // bar's length in pixels against its median, and the red line at 1.0 on the same scale.
        let half = image.width / 2;
        let mut rows: Vec<Option<(usize, usize)>> = vec![None; image.height];
        for (x, y) in image.pixels_of((70, 130, 180)) {
            if x < half {
                let r = rows[y].get_or_insert((x, x));
                *r = (r.0.min(x), r.1.max(x));
            }
        }
        // (leftmost, rightmost) of each run of rows holding the colour: a whisker across a bar's middle
        // row shortens that row, so the widest row is the bar.
        let mut lengths: Vec<(usize, usize)> = Vec::new();
        for (y, row) in rows.iter().enumerate() {
            let Some((l, r)) = *row else { continue };
            match lengths.last_mut() {
                Some(bar) if y > 0 && rows[y - 1].is_some() => *bar = (bar.0.min(l), bar.1.max(r)),
                _ => lengths.push((l, r)),
            }
        }
        assert_eq!(lengths.len(), 2, "two bars in the equal panel: {lengths:?}");
        let (hash, w) = (lengths[0], lengths[1]);
        assert_eq!(hash.0, w.0, "one baseline");
        let per_unit = (w.1 - w.0) as f64 / 0.975;
        let expected = 0.1667 * per_unit;
        assert!(
            ((hash.1 - hash.0) as f64 - expected).abs() <= 3.0,
            "hash bar {hash:?}, expected {expected:.0} px"
        );
        let red: Vec<usize> = image
            .pixels_of((255, 0, 0))
            .into_iter()
            .filter(|&(x, _)| x < half)
            .map(|(x, _)| x)
            .collect();
        let red_x = crate::plot_matrix::median(red.iter().map(|&x| x as f64));
        assert!(
            (red_x - (w.0 as f64 + per_unit)).abs() <= 3.0,
            "capacity line at x {red_x}, expected {:.0}",
            w.0 as f64 + per_unit
        );
    }
}
