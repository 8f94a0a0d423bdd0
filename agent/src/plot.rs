//! Charts as PNG files a person can open: line charts (learning curves), bar charts (throughput sweeps).

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;
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
    let err = |message: String| PlotError {
        path: path.display().to_string(),
        message,
    };
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
    let err = |message: String| PlotError {
        path: path.display().to_string(),
        message,
    };
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

fn register_font() {
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
mod tests {
    use super::*;

    #[test]
    fn draws_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curve.png");
        let s = Series {
            label: "loss".into(),
            points: (0..50).map(|i| (i as f64, 1.0 / (1.0 + i as f64))).collect(),
        };
        line_chart(&path, "test", "step", "loss", &[s]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let empty = line_chart(&path, "t", "x", "y", &[]).unwrap_err();
        assert!(empty.to_string().contains("curve.png"), "{empty}");
    }

    #[test]
    fn draws_a_bar_chart() {
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
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let empty = bar_chart(&path, "t", "y", &[], None).unwrap_err();
        assert!(empty.to_string().contains("bars.png"), "{empty}");
    }
}
