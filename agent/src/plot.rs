//! Charts as PNG files a person can open: line charts (learning curves), bar charts (throughput sweeps).

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};
use std::sync::Once;

/// A named series of (x, y) points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Points, in x order.
    pub points: Vec<(f64, f64)>,
}

/// One bar of a [`bar_chart`].
#[derive(Debug, Clone)]
pub struct Bar {
    /// Label under the bar.
    pub label: String,
    /// Height; a value that is not finite draws no bar.
    pub value: f64,
}

/// A horizontal line across a [`bar_chart`], e.g. a capacity the bars are measured against.
#[derive(Debug, Clone)]
pub struct Reference {
    /// Legend label.
    pub label: String,
    /// Height of the line.
    pub value: f64,
}

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw {path}: {message}")]
pub struct PlotError {
    path: String,
    message: String,
}

impl PlotError {
    /// The chart at `path` could not be drawn, for the reason `message`.
    pub(crate) fn new(path: &Path, message: String) -> Self {
        Self {
            path: path.display().to_string(),
            message,
        }
    }
}

/// Why a results CSV (a sweep's `summary.csv`, the scenario matrix's `matrix.csv`) could not be read or its
/// chart drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotCsvError {
    /// The CSV could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The CSV is not what the tool that writes it writes.
    #[error("{path}:{line}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The chart could not be drawn.
    #[error(transparent)]
    Plot(#[from] PlotError),
}

impl PlotCsvError {
    /// What is wrong on line `line` (1-based) of `path`.
    pub(crate) fn format(path: &Path, line: usize, message: String) -> Self {
        Self::Format {
            path: path.to_path_buf(),
            line,
            message,
        }
    }
}

/// The text of the CSV at `path`.
///
/// # Errors
/// [`PlotCsvError::Read`] naming the file when it cannot be read.
pub(crate) fn read_csv(path: &Path) -> Result<String, PlotCsvError> {
    std::fs::read_to_string(path).map_err(|source| PlotCsvError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The data rows of the CSV `text` read from `path`, as (1-based line, trimmed cells), blank lines
/// skipped, once its first non-blank line is the header `columns` and every row has one cell per column.
pub(crate) fn csv_rows<'t>(
    path: &Path,
    text: &'t str,
    columns: &[&str],
) -> Result<Vec<(usize, Vec<&'t str>)>, PlotCsvError> {
    let header = columns.join(",");
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, line)) if line.trim() == header => {}
        other => {
            return Err(PlotCsvError::format(
                path,
                other.map_or(1, |(i, _)| i + 1),
                format!("expected the header `{header}`, got {:?}", other.map(|(_, l)| l)),
            ));
        }
    }
    lines
        .map(|(i, line)| {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if cells.len() != columns.len() {
                return Err(PlotCsvError::format(
                    path,
                    i + 1,
                    format!("{} cells, expected {}", cells.len(), columns.len()),
                ));
            }
            Ok((i + 1, cells))
        })
        .collect()
}

/// The numbers of `cells` (line `line` of `path`), one per column name of `names`; NaN for an empty cell.
pub(crate) fn csv_numbers<const N: usize>(
    path: &Path,
    line: usize,
    cells: &[&str],
    names: &[&str],
) -> Result<[f64; N], PlotCsvError> {
    let mut numbers = [f64::NAN; N];
    for (n, (cell, name)) in numbers.iter_mut().zip(cells.iter().zip(names)) {
        if !cell.is_empty() {
            *n = cell.parse().map_err(|_| {
                PlotCsvError::format(path, line, format!("`{name}` = {cell:?} is not a number"))
            })?;
        }
    }
    Ok(numbers)
}

// The font ships with the crate (DejaVu Sans, Bitstream Vera licence in assets/), so charts have text on a
// machine without fonts.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Draws `series` as lines into a 1000×600 PNG at `path`.
///
/// # Errors
/// [`PlotError`] naming the file when there is nothing to draw or the file cannot be written.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<(), PlotError> {
    let err = |message: String| PlotError::new(path, message);
    register_font();
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    if all.is_empty() {
        return Err(err("no finite points".into()));
    }
    let (x0, x1) = bounds(all.iter().map(|p| p.0));
    let (y0, y1) = bounds(all.iter().map(|p| p.1));
    let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// Draws one bar per entry of `bars`, each labelled with its name below and its value at its top, and the
/// `reference` line across them, into a PNG at `path` (600 px high, at least 1000 px wide, 130 px per bar).
///
/// # Errors
/// [`PlotError`] naming the file when there is no bar or the file cannot be written.
pub fn bar_chart(
    path: &Path,
    title: &str,
    y_label: &str,
    bars: &[Bar],
    reference: Option<&Reference>,
) -> Result<(), PlotError> {
    let err = |message: String| PlotError::new(path, message);
    if bars.is_empty() {
        return Err(err("no bars".into()));
    }
    register_font();
    let top = bars
        .iter()
        .map(|b| b.value)
        .chain(reference.map(|r| r.value))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let top = if top > 0.0 { top * 1.12 } else { 1.0 };
    let width = (130 * bars.len() as u32).max(1000);
    let root = BitMapBackend::new(path, (width, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(80)
        // A discrete range holds both ends: 0..n-1 is n segments. One bar gets an empty second segment
        // (a range of one value has no width to map).
        .build_cartesian_2d((0..(bars.len() - 1).max(1)).into_segmented(), 0.0..top)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len())
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => bars.get(*i).map_or(String::new(), |b| b.label.clone()),
            _ => String::new(),
        })
        .y_label_formatter(&|v| format!("{v:.0}"))
        .y_desc(y_label)
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    // The reference line goes under the bars: where a bar reaches it, the bar's value stays readable.
    if let Some(r) = reference {
        let line = RED.stroke_width(2);
        chart
            .draw_series(LineSeries::new(
                [(SegmentValue::Exact(0), r.value), (SegmentValue::Last, r.value)],
                line,
            ))
            .map_err(|e| err(e.to_string()))?
            .label(r.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line));
    }
    let fill = RGBColor(70, 130, 180);
    chart
        .draw_series(
            bars.iter()
                .enumerate()
                .filter(|(_, b)| b.value.is_finite())
                .map(|(i, b)| {
                    let mut bar = Rectangle::new(
                        [
                            (SegmentValue::Exact(i), 0.0),
                            (SegmentValue::Exact(i + 1), b.value),
                        ],
                        fill.filled(),
                    );
                    bar.set_margin(0, 0, 12, 12);
                    bar
                }),
        )
        .map_err(|e| err(e.to_string()))?;
    // Values sit inside the top of a tall bar, above a short one.
    let inside = ("sans-serif", 14)
        .into_font()
        .color(&WHITE)
        .pos(Pos::new(HPos::Center, VPos::Top));
    let above = TextStyle::from(("sans-serif", 14)).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart
        .draw_series(
            bars.iter()
                .enumerate()
                .filter(|(_, b)| b.value.is_finite())
                .map(|(i, b)| {
                    let style = if b.value > 0.15 * top {
                        inside.clone()
                    } else {
                        above.clone()
                    };
                    Text::new(
                        format!("{:.0}", b.value),
                        (SegmentValue::CenterOf(i), b.value),
                        style,
                    )
                }),
        )
        .map_err(|e| err(e.to_string()))?;
    if reference.is_some() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()
            .map_err(|e| err(e.to_string()))?;
    }
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// Registers the bundled font once per process (every chart of the crate draws with it).
pub(crate) fn register_font() {
    REGISTER.call_once(|| {
        // The bytes are a valid TTF compiled into the binary; registration cannot fail for them.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// A padded range around the values (never empty).
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let pad = ((hi - lo) * 0.05).max(1e-9);
    (lo - pad, hi + pad)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A decoded chart: 8-bit RGB, row-major, `y` growing downwards.
    pub(crate) struct Image {
        pub(crate) width: usize,
        pub(crate) height: usize,
        rgb: Vec<u8>,
    }

    impl Image {
        /// Decodes the PNG at `path`, checking it is what the chart functions write (8-bit RGB).
        pub(crate) fn read(path: &Path) -> Self {
            let file = std::fs::File::open(path).unwrap();
            let mut reader = png::Decoder::new(file).read_info().unwrap();
            let mut rgb = vec![0; reader.output_buffer_size()];
            let info = reader.next_frame(&mut rgb).unwrap();
            assert_eq!(
                (info.color_type, info.bit_depth),
                (png::ColorType::Rgb, png::BitDepth::Eight)
            );
            rgb.truncate(info.buffer_size());
            Self {
                width: info.width as usize,
                height: info.height as usize,
                rgb,
            }
        }

        /// Every pixel of exactly `color`, as `(x, y)`.
        pub(crate) fn pixels_of(&self, color: (u8, u8, u8)) -> Vec<(usize, usize)> {
            let (r, g, b) = color;
            self.rgb
                .chunks_exact(3)
                .enumerate()
                .filter(|(_, p)| p == &[r, g, b])
                .map(|(i, _)| (i % self.width, i / self.width))
                .collect()
        }
    }

    /// A block of one colour: a run of adjacent columns holding it, and the rows it spans.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Block {
        pub(crate) left: usize,
        pub(crate) right: usize,
        pub(crate) top: usize,
        pub(crate) bottom: usize,
    }

    impl Block {
        pub(crate) fn height(&self) -> usize {
            self.bottom - self.top + 1
        }
    }

    /// The blocks of `color` in `image`, left to right (the bars of a bar chart).
    pub(crate) fn blocks_of(image: &Image, color: (u8, u8, u8)) -> Vec<Block> {
        let mut rows: Vec<Option<(usize, usize)>> = vec![None; image.width];
        for (x, y) in image.pixels_of(color) {
            let r = rows[x].get_or_insert((y, y));
            *r = (r.0.min(y), r.1.max(y));
        }
        let mut blocks: Vec<Block> = Vec::new();
        for (x, r) in rows.iter().enumerate() {
            let Some((top, bottom)) = *r else { continue };
            match blocks.last_mut() {
                Some(b) if b.right + 1 == x => {
                    b.right = x;
                    b.top = b.top.min(top);
                    b.bottom = b.bottom.max(bottom);
                }
                _ => blocks.push(Block {
                    left: x,
                    right: x,
                    top,
                    bottom,
                }),
            }
        }
        blocks
    }

    /// The row holding the most pixels of `color` (a horizontal line of that colour).
    pub(crate) fn fullest_row(image: &Image, color: (u8, u8, u8)) -> (usize, usize) {
        let mut per_row = vec![0; image.height];
        for (_, y) in image.pixels_of(color) {
            per_row[y] += 1;
        }
        let (row, &count) = per_row
            .iter()
            .enumerate()
            .max_by_key(|&(y, c)| (*c, std::cmp::Reverse(y)))
            .unwrap();
        (row, count)
    }

    fn median(mut v: Vec<usize>) -> usize {
        v.sort_unstable();
        v[v.len() / 2]
    }

    #[test]
    fn a_line_chart_draws_each_series_where_its_data_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curve.png");
        let rising = Series {
            label: "rising".into(),
            points: (0..50).map(|i| (i as f64, i as f64)).collect(),
        };
        let falling = Series {
            label: "falling".into(),
            points: (0..50).map(|i| (i as f64, 49.0 - i as f64)).collect(),
        };
        line_chart(&path, "test", "step", "value", &[rising, falling]).unwrap();
        let image = Image::read(&path);
        assert_eq!((image.width, image.height), (1000, 600));
        for (i, rises) in [(0, true), (1, false)] {
            let pixels = image.pixels_of(Palette99::pick(i).rgb());
            // A line across the plot, not just its legend sample (20 px).
            let xs: Vec<usize> = pixels.iter().map(|p| p.0).collect();
            let (left, right) = (*xs.iter().min().unwrap(), *xs.iter().max().unwrap());
            assert!(
                right - left > image.width / 2 && pixels.len() > 500,
                "series {i}: {} pixels over columns {left}..={right}",
                pixels.len()
            );
            // Its shape: the median row of its leftmost quarter against that of its rightmost quarter
            // (rows grow downwards, so a rising series ends higher up, at a smaller row).
            let quarter = (right - left) / 4;
            let rows_in = |lo: usize, hi: usize| {
                median(
                    pixels
                        .iter()
                        .filter(|p| (lo..=hi).contains(&p.0))
                        .map(|p| p.1)
                        .collect(),
                )
            };
            let (start, end) = (rows_in(left, left + quarter), rows_in(right - quarter, right));
            let climb = start as f64 - end as f64;
            let expected = if rises { 1.0 } else { -1.0 };
            assert!(
                climb * expected > image.height as f64 / 4.0,
                "series {i} ({}): from row {start} to row {end}",
                if rises { "rising" } else { "falling" }
            );
        }
        // A colour no series has is nowhere: the counts above come from the series.
        assert!(image.pixels_of(Palette99::pick(2).rgb()).is_empty());

        let empty = line_chart(&path, "t", "x", "y", &[]).unwrap_err();
        assert!(empty.to_string().contains("curve.png"), "{empty}");
    }

    #[test]
    fn a_bar_chart_draws_bars_in_proportion_under_the_reference() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bars.png");
        let bars: Vec<Bar> = [("hash", 2000.0), ("shuffle", 11000.0), ("none", f64::NAN)]
            .iter()
            .map(|(label, value)| Bar {
                label: label.to_string(),
                value: *value,
            })
            .collect();
        let capacity = Reference {
            label: "total capacity".into(),
            value: 12000.0,
        };
        bar_chart(&path, "test", "records/s", &bars, Some(&capacity)).unwrap();
        let image = Image::read(&path);
        let drawn = blocks_of(&image, (70, 130, 180));
        check_bars(&image, &drawn, &[2000.0, 11000.0], 12000.0);

        let empty = bar_chart(&path, "t", "y", &[], None).unwrap_err();
        assert!(empty.to_string().contains("bars.png"), "{empty}");
    }

    /// Checks that `drawn` are bars of `values` (left to right, on one baseline, heights in proportion)
    /// and that the red reference line sits at `reference` on the same scale.
    pub(crate) fn check_bars(image: &Image, drawn: &[Block], values: &[f64], reference: f64) {
        assert_eq!(drawn.len(), values.len(), "bars: {drawn:?}");
        let (tallest, value) = drawn
            .iter()
            .zip(values)
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap();
        let per_unit = tallest.height() as f64 / value;
        for (bar, value) in drawn.iter().zip(values) {
            assert!(
                bar.bottom.abs_diff(tallest.bottom) <= 1,
                "one baseline: {drawn:?}"
            );
            let expected = value * per_unit;
            assert!(
                (bar.height() as f64 - expected).abs() <= 0.03 * tallest.height() as f64 + 2.0,
                "bar of {value}: {} px, expected {expected:.0} ({drawn:?})",
                bar.height()
            );
        }
        let (row, count) = fullest_row(image, (255, 0, 0));
        assert!(count > image.width / 2, "a reference line across the chart");
        let above_baseline = (tallest.bottom - row) as f64;
        let expected = reference * per_unit;
        assert!(
            (above_baseline - expected).abs() <= 0.03 * expected + 2.0,
            "reference at {above_baseline} px above the baseline, expected {expected:.0}"
        );
    }
}
