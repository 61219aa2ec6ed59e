//! Figures of a metric against density, written as PNG and SVG (plotters). The DejaVu Sans font
//! is compiled in (`results/assets/`, with its license), so a PNG has its text on a machine with
//! no fonts installed.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::{write_atomic, AtomicFile, ResultsError};

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const SIZE: (u32, u32) = (900, 600);

/// How a line is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Style {
    /// The n-th of the figure's main lines (a palette color, with its ± std band).
    Series(usize),
    /// A reference: solid black.
    Reference,
    /// A baseline: dashed gray.
    Baseline,
}

/// One line: (density, mean, std) points, drawn with a band of ± std.
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64, f64)>,
    pub style: Style,
}

/// A metric against density (log axis), one line per series.
#[derive(Debug, Clone)]
pub struct Figure {
    pub title: String,
    pub y_label: String,
    pub lines: Vec<Line>,
}

fn color(style: Style) -> RGBColor {
    match style {
        Style::Series(i) => {
            let palette = [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(214, 39, 40), RGBColor(148, 103, 189), RGBColor(140, 86, 75)];
            palette[i % palette.len()]
        }
        Style::Reference => BLACK,
        Style::Baseline => RGBColor(128, 128, 128),
    }
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_err() {
            panic!("the compiled-in DejaVu Sans font does not parse");
        }
    });
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, figure: &Figure) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let points = figure.lines.iter().flat_map(|l| l.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, m, s) in points {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(m - s), y1.max(m + s));
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.1, 1.0, 0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.05).max(1e-6);
    // A tick at every density a line has (a log axis over less than a decade gets few of its own).
    let mut ticks: Vec<f64> = figure.lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)).collect();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup_by(|a, b| (*a / *b - 1.0).abs() < 0.12);
    let mut chart = ChartBuilder::on(&root)
        .caption(&figure.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((x0 * 0.9..x1 * 1.05).log_scale().with_key_points(ticks), (y0 - pad)..(y1 + pad))?;
    chart
        .configure_mesh()
        .x_desc("density: fraction of weights remaining (log scale)")
        .y_desc(&figure.y_label)
        .x_label_formatter(&|x| format!("{x:.3}"))
        .draw()?;
    for line in &figure.lines {
        let c = color(line.style);
        // The ± std band first, under the lines.
        if line.points.iter().any(|p| p.2 > 0.0) {
            let mut band: Vec<(f64, f64)> = line.points.iter().map(|&(x, m, s)| (x, m + s)).collect();
            band.extend(line.points.iter().rev().map(|&(x, m, s)| (x, m - s)));
            chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.15))))?;
        }
        let xy: Vec<(f64, f64)> = line.points.iter().map(|&(x, m, _)| (x, m)).collect();
        let stroke = c.stroke_width(if line.style == Style::Reference { 3 } else { 2 });
        let legend = move |(x, y): (i32, i32)| PathElement::new(vec![(x, y), (x + 20, y)], stroke);
        match line.style {
            Style::Baseline => chart.draw_series(DashedLineSeries::new(xy.clone(), 8, 5, stroke))?.label(&line.label).legend(legend),
            _ => chart.draw_series(LineSeries::new(xy.clone(), stroke))?.label(&line.label).legend(legend),
        };
        chart.draw_series(xy.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK).position(SeriesLabelPosition::LowerRight).draw()?;
    root.present()
}

/// Writes `figure` to `<stem>.png` and `<stem>.svg`, each atomically; returns their paths.
pub fn write_figure(figure: &Figure, stem: &Path) -> Result<Vec<PathBuf>, ResultsError> {
    register_font();
    // Appended, not `with_extension`: a stem may hold a dot (`lr=0.05`).
    let with = |ext: &str| PathBuf::from(format!("{}.{ext}", stem.display()));
    let (png, svg) = (with("png"), with("svg"));
    let failed = |path: &Path, e: String| ResultsError::Plot { path: path.to_path_buf(), reason: e };

    let mut text = String::new();
    draw(SVGBackend::with_string(&mut text, SIZE).into_drawing_area(), figure).map_err(|e| failed(&svg, e.to_string()))?;
    write_atomic(&svg, text.as_bytes())?;

    let mut pixels = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    draw(BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area(), figure).map_err(|e| failed(&png, e.to_string()))?;
    let mut file = AtomicFile::create(&png)?;
    let mut encoder = ::png::Encoder::new(&mut file, SIZE.0, SIZE.1);
    encoder.set_color(::png::ColorType::Rgb);
    encoder.set_depth(::png::BitDepth::Eight);
    let encoded = encoder.write_header().and_then(|mut writer| {
        writer.write_image_data(&pixels)?;
        writer.finish()
    });
    encoded.map_err(|e| failed(&png, e.to_string()))?;
    file.commit()?;
    Ok(vec![png, svg])
}
