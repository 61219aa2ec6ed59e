//! Figures written as PNG and SVG (plotters): a metric against density (log axis, densest on the
//! left as in the papers) or against training steps, one line per series with a ± std band. The
//! DejaVu Sans font is compiled in (`results/assets/`, with its license), so a PNG has its text
//! on a machine with no fonts installed.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::{write_atomic, AtomicFile, ResultsError};

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// Width and height of every figure, in pixels (PNG) or user units (SVG).
pub const SIZE: (u32, u32) = (900, 600);

/// How a line is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Style {
    /// The n-th of the figure's main lines (a palette color, with its ± std band).
    Series(usize),
    /// A reference: solid black.
    Reference,
    /// A baseline: dashed gray.
    Baseline,
    /// The n-th of the figure's point clouds: dots only (a scatter plot; the std is ignored).
    Points(usize),
}

/// One line: (x, mean, std) points, drawn with a band of ± std.
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64, f64)>,
    pub style: Style,
}

/// What the x axis shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum XAxis {
    /// Fraction of weights remaining, on a log scale, densest on the left.
    Density,
    /// Training iterations.
    Steps,
    /// Any other quantity, on a linear scale, with this label.
    Named(&'static str),
}

/// A metric against density or steps, one line per series, and an optional horizontal
/// reference (e.g. the dense network's value).
#[derive(Debug, Clone)]
pub struct Figure {
    pub title: String,
    pub y_label: String,
    pub x: XAxis,
    pub lines: Vec<Line>,
    pub reference: Option<(String, f64)>,
}

fn color(style: Style) -> RGBColor {
    match style {
        Style::Series(i) | Style::Points(i) => {
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

/// Density is drawn at `-log10(density)`, so the axis is logarithmic with the densest on the left.
fn to_axis(x: XAxis, value: f64) -> f64 {
    match x {
        XAxis::Density => -value.log10(),
        XAxis::Steps | XAxis::Named(_) => value,
    }
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, figure: &Figure) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let at = |v: f64| to_axis(figure.x, v);
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, m, s) in figure.lines.iter().flat_map(|l| l.points.iter()) {
        (x0, x1, y0, y1) = (x0.min(at(x)), x1.max(at(x)), y0.min(m - s), y1.max(m + s));
    }
    if let Some((_, r)) = figure.reference {
        (y0, y1) = (y0.min(r), y1.max(r));
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    let (xpad, ypad) = (((x1 - x0) * 0.03).max(1e-3), ((y1 - y0) * 0.05).max(1e-6));
    let mut chart = ChartBuilder::on(&root)
        .caption(&figure.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((x0 - xpad)..(x1 + xpad), (y0 - ypad)..(y1 + ypad))?;
    let (x_desc, x_label): (&str, Box<dyn Fn(&f64) -> String>) = match figure.x {
        XAxis::Density => ("density: fraction of weights remaining (log scale)", Box::new(|x: &f64| format!("{:.3}", 10f64.powf(-x)))),
        XAxis::Steps => ("training iteration", Box::new(|x: &f64| format!("{x:.0}"))),
        XAxis::Named(label) => (label, Box::new(|x: &f64| format!("{x:.2}"))),
    };
    chart.configure_mesh().x_labels(10).x_desc(x_desc).y_desc(&figure.y_label).x_label_formatter(&x_label).draw()?;
    if let Some((label, value)) = &figure.reference {
        let style = RGBColor(90, 90, 90).stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(vec![(x0 - xpad, *value), (x1 + xpad, *value)], 3, 4, style))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    for line in &figure.lines {
        let c = color(line.style);
        if let Style::Points(_) = line.style {
            let dot = c.mix(0.6).filled();
            chart
                .draw_series(line.points.iter().map(|&(x, y, _)| Circle::new((at(x), y), 3, dot)))?
                .label(&line.label)
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, dot));
            continue;
        }
        // The ± std band first, under the lines.
        if line.points.iter().any(|p| p.2 > 0.0) {
            let mut band: Vec<(f64, f64)> = line.points.iter().map(|&(x, m, s)| (at(x), m + s)).collect();
            band.extend(line.points.iter().rev().map(|&(x, m, s)| (at(x), m - s)));
            chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.15))))?;
        }
        let xy: Vec<(f64, f64)> = line.points.iter().map(|&(x, m, _)| (at(x), m)).collect();
        let stroke = c.stroke_width(if line.style == Style::Reference { 3 } else { 2 });
        let legend = move |(x, y): (i32, i32)| PathElement::new(vec![(x, y), (x + 20, y)], stroke);
        match line.style {
            Style::Baseline => chart.draw_series(DashedLineSeries::new(xy.clone(), 8, 5, stroke))?.label(&line.label).legend(legend),
            _ => chart.draw_series(LineSeries::new(xy.clone(), stroke))?.label(&line.label).legend(legend),
        };
        if xy.len() <= 40 {
            chart.draw_series(xy.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
        }
    }
    // Curves fall to the right, so their lower left is free; point clouds of correlations
    // leave the middle right free instead.
    let scatter = !figure.lines.is_empty() && figure.lines.iter().all(|l| matches!(l.style, Style::Points(_)));
    let legend = if scatter { SeriesLabelPosition::MiddleRight } else { SeriesLabelPosition::LowerLeft };
    chart.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK).position(legend).draw()?;
    root.present()
}

fn failed(path: &Path, reason: String) -> ResultsError {
    ResultsError::Plot { path: path.to_path_buf(), reason }
}

/// Writes `figure` as SVG to `path`, atomically.
pub fn write_svg(figure: &Figure, path: &Path) -> Result<(), ResultsError> {
    register_font();
    let mut text = String::new();
    draw(SVGBackend::with_string(&mut text, SIZE).into_drawing_area(), figure).map_err(|e| failed(path, e.to_string()))?;
    write_atomic(path, text.as_bytes())
}

/// Writes `figure` as PNG to `path`, atomically.
pub fn write_png(figure: &Figure, path: &Path) -> Result<(), ResultsError> {
    register_font();
    let mut pixels = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    draw(BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area(), figure).map_err(|e| failed(path, e.to_string()))?;
    let mut file = AtomicFile::create(path)?;
    let mut encoder = ::png::Encoder::new(&mut file, SIZE.0, SIZE.1);
    encoder.set_color(::png::ColorType::Rgb);
    encoder.set_depth(::png::BitDepth::Eight);
    encoder.set_compression(::png::Compression::Best);
    let encoded = encoder.write_header().and_then(|mut writer| {
        writer.write_image_data(&pixels)?;
        writer.finish()
    });
    encoded.map_err(|e| failed(path, e.to_string()))?;
    file.commit()
}

/// Writes `figure` to `<stem>.png` and `<stem>.svg`; returns their paths.
pub fn write_figure(figure: &Figure, stem: &Path) -> Result<Vec<PathBuf>, ResultsError> {
    // Appended, not `with_extension`: a stem may hold a dot (`lr=0.05`).
    let with = |ext: &str| PathBuf::from(format!("{}.{ext}", stem.display()));
    let (png, svg) = (with("png"), with("svg"));
    write_png(figure, &png)?;
    write_svg(figure, &svg)?;
    Ok(vec![png, svg])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(x: XAxis) -> Figure {
        let line = |i: usize, shift: f64| Line {
            label: format!("kind{i}"),
            points: [1.0, 0.8, 0.64, 0.512].iter().map(|&d| (if x == XAxis::Steps { d * 100.0 } else { d }, 0.9 - shift * (1.0 - d), 0.01)).collect(),
            style: Style::Series(i),
        };
        Figure { title: "t".into(), y_label: "y".into(), x, lines: vec![line(0, 0.1), line(1, 0.3), line(2, 0.2)], reference: Some(("dense".into(), 0.9)) }
    }

    /// `<polyline>` elements whose stroke is the color of `style`.
    fn polylines(svg: &str, style: Style) -> usize {
        let RGBColor(r, g, b) = color(style);
        svg.matches(&format!("<polyline fill=\"none\" opacity=\"1\" stroke=\"#{r:02X}{g:02X}{b:02X}\"")).count()
    }

    #[test]
    fn each_line_is_one_svg_path_plus_its_legend_and_the_png_is_drawn_at_the_stated_size() {
        for x in [XAxis::Density, XAxis::Steps] {
            let dir = tempfile::tempdir().unwrap();
            let paths = write_figure(&figure(x), &dir.path().join("f")).unwrap();
            let svg = std::fs::read_to_string(&paths[1]).unwrap();
            for i in 0..3 {
                assert_eq!(polylines(&svg, Style::Series(i)), 2, "line {i} and its legend sample");
            }
            assert!(svg.contains(">\nkind2\n<") && svg.contains(">\ndense\n<"), "labels");
            let decoder = ::png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&paths[0]).unwrap()));
            let mut reader = decoder.read_info().unwrap();
            let mut pixels = vec![0; reader.output_buffer_size()];
            let info = reader.next_frame(&mut pixels).unwrap();
            assert_eq!((info.width, info.height), SIZE);
            let colors: std::collections::BTreeSet<&[u8]> = pixels.chunks_exact(3).collect();
            assert!(colors.len() > 20, "not blank: {} colors", colors.len());
        }
    }
}
