//! Figures of run folders for `harness plot`: each ticket kind's metric against density (the
//! dense network as a reference line), several runs overlaid, and the training curves of the
//! tickets of one level. Read from the tables a run writes (`comparison.csv` or `transfer.csv`,
//! `curves.csv`) and its `config.toml`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::matrix::settings;
use crate::plot::{Figure, Line, Style, XAxis};
use crate::{ResultsError, RunLayout};

/// A CSV table: its header in file order, and its rows as column -> text.
fn read_table(path: &Path) -> Result<(Vec<String>, Vec<BTreeMap<String, String>>), ResultsError> {
    let corrupt = |e: csv::Error| ResultsError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
        remedy: "rerun the command that made the folder: it rewrites the tables from the finished tickets".into(),
    };
    let mut reader = csv::Reader::from_path(path).map_err(corrupt)?;
    let headers = reader.headers().map_err(corrupt)?.clone();
    let rows = reader
        .records()
        .map(|r| r.map(|r| headers.iter().zip(r.iter()).map(|(h, v)| (h.to_string(), v.to_string())).collect()).map_err(corrupt))
        .collect::<Result<_, _>>()?;
    Ok((headers.iter().map(String::from).collect(), rows))
}

/// `task settings` from a folder's `config.toml` (empty where it cannot be read).
fn run_label(dir: &Path) -> String {
    let config: toml::Table = std::fs::read_to_string(RunLayout::new(dir).config()).ok().and_then(|t| t.parse().ok()).unwrap_or_default();
    let task = config.get("task").and_then(|v| v.as_str()).unwrap_or_default();
    let identity = config.get("identity").and_then(|v| v.as_str()).unwrap_or_default();
    let settings = settings(identity, &["source", "task", "preset"]);
    let target = if settings.is_empty() { task.to_string() } else { format!("{task} {settings}") };
    match config.get("source").and_then(|v| v.as_str()) {
        Some(source) => format!("tickets of {source} on {target}"),
        None => target,
    }
}

fn no_metric(metric: &str, available: Vec<String>) -> ResultsError {
    ResultsError::NoMetric { metric: metric.to_string(), available }
}

/// Each ticket kind's `metric` (default: the table's first) against density, for `runs` (the
/// first one's dense value as the reference line). Labels carry the run's settings when there
/// are several.
pub fn comparison_figure(runs: &[&Path], metric: Option<&str>) -> Result<Figure, ResultsError> {
    let mut lines = vec![];
    let mut reference = None;
    let mut chosen = String::new();
    let mut replicates = 0u32;
    for (r, dir) in runs.iter().enumerate() {
        let layout = RunLayout::new(*dir);
        let path = ["comparison", "transfer"].iter().map(|t| layout.table(t, "csv")).find(|p| p.is_file());
        let path = path.ok_or_else(|| ResultsError::NotARun { dir: dir.to_path_buf(), file: "comparison.csv" })?;
        let (headers, rows) = read_table(&path)?;
        let mut metrics: Vec<String> = vec![];
        for row in &rows {
            if !metrics.contains(&row["metric"]) {
                metrics.push(row["metric"].clone());
            }
        }
        if r == 0 {
            chosen = match metric {
                Some(m) => m.to_string(),
                None => metrics.first().cloned().ok_or_else(|| no_metric("(any)", vec![]))?,
            };
        }
        if !metrics.contains(&chosen) {
            return Err(no_metric(&chosen, metrics));
        }
        let corrupt = || ResultsError::Corrupt { path: path.clone(), reason: "no `*_mean` column".into(), remedy: "rerun the command that made the folder".into() };
        let (subject, controls) = crate::kinds_in_header(headers.iter().map(String::as_str)).ok_or_else(corrupt)?;
        let kinds: Vec<String> = std::iter::once(subject.clone()).chain(controls).collect();
        let at_metric: Vec<&BTreeMap<String, String>> = rows.iter().filter(|row| row["metric"] == chosen).collect();
        let prefix = if runs.len() > 1 { format!("{}: ", run_label(dir)) } else { String::new() };
        for kind in &kinds {
            let mut points: Vec<(f64, f64, f64)> = at_metric
                .iter()
                .filter_map(|row| {
                    let density = row["density"].parse::<f64>().ok()?;
                    let mean = row.get(&format!("{kind}_mean"))?.parse::<f64>().ok()?;
                    Some((density, mean, row[&format!("{kind}_std")].parse().unwrap_or(0.0)))
                })
                .collect();
            points.sort_by(|a, b| b.0.total_cmp(&a.0));
            if points.is_empty() {
                continue;
            }
            if kind == &subject && r == 0 {
                reference = at_metric.iter().find(|row| row["level"] == "0").and_then(|row| row[&format!("{kind}_mean")].parse::<f64>().ok()).map(|v| ("dense network (level 0)".to_string(), v));
            }
            replicates = replicates.max(at_metric.iter().filter_map(|row| row["replicates"].parse().ok()).max().unwrap_or(0));
            let style = Style::Series(lines.len());
            lines.push(Line { label: format!("{prefix}{kind}"), points, style });
        }
    }
    let title = if runs.len() > 1 { format!("{} and {} other run(s)", run_label(runs[0]), runs.len() - 1) } else { run_label(runs[0]) };
    Ok(Figure { title, y_label: format!("{chosen} (mean ± std, up to {replicates} replicate(s))"), x: XAxis::Density, lines, reference })
}

/// The training curves of every ticket at `level`: `metric` as `SPLIT_NAME` (`test_accuracy`,
/// `val_return`, `train_loss`; default: the test split of the run's first metric) against the
/// iteration, mean ± std over replicates.
pub fn curves_figure(run: &Path, level: u32, metric: Option<&str>) -> Result<Figure, ResultsError> {
    let path = RunLayout::new(run).table("curves", "csv");
    if !path.is_file() {
        return Err(ResultsError::NotARun { dir: run.to_path_buf(), file: "curves.csv" });
    }
    let (_, rows) = read_table(&path)?;
    let mut available: Vec<String> = vec![];
    for row in &rows {
        let name = format!("{}_{}", row["split"], row["metric"]);
        if !available.contains(&name) {
            available.push(name);
        }
    }
    let chosen = match metric {
        Some(m) => m.to_string(),
        None => available.iter().find(|m| m.starts_with("test_")).cloned().ok_or_else(|| no_metric("test_*", available.clone()))?,
    };
    let Some((split, name)) = chosen.split_once('_').filter(|_| available.contains(&chosen)) else {
        return Err(no_metric(&chosen, available));
    };
    let mut kinds: Vec<String> = vec![];
    // (kind, step) -> values over replicates.
    let mut values: BTreeMap<(usize, u64), Vec<f64>> = BTreeMap::new();
    for row in rows.iter().filter(|row| row["level"] == level.to_string() && row["split"] == split && row["metric"] == name) {
        let kind = match kinds.iter().position(|k| *k == row["ticket"]) {
            Some(i) => i,
            None => {
                kinds.push(row["ticket"].clone());
                kinds.len() - 1
            }
        };
        if let (Ok(step), Ok(value)) = (row["step"].parse::<u64>(), row["value"].parse::<f64>()) {
            values.entry((kind, step)).or_default().push(value);
        }
    }
    if kinds.is_empty() {
        return Err(ResultsError::NoLevel { dir: run.to_path_buf(), level });
    }
    let mut replicates = 0;
    let lines = kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let points = values
                .iter()
                .filter(|((k, _), _)| *k == i)
                .map(|((_, step), v)| {
                    replicates = replicates.max(v.len());
                    let mean = v.iter().sum::<f64>() / v.len() as f64;
                    let std = if v.len() > 1 { (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt() } else { 0.0 };
                    (*step as f64, mean, std)
                })
                .collect();
            Line { label: kind.clone(), points, style: Style::Series(i) }
        })
        .collect();
    Ok(Figure {
        title: format!("{}: level {level}", run_label(run)),
        y_label: format!("{chosen} (mean ± std, up to {replicates} replicate(s))"),
        x: XAxis::Steps,
        lines,
        reference: None,
    })
}
