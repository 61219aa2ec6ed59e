//! `harness leaderboard export`: one row per run folder and metric, over any number of results
//! folders, in a fixed and versioned schema ([`SCHEMA_VERSION`], columns in [`COLUMNS`]) that a
//! website, a paper table or a spreadsheet takes as it is. Written as CSV and Arrow from the same
//! rows. The curve arithmetic is [`crate::summary`]'s.

use std::path::{Path, PathBuf};

use crate::provenance::{utc_rfc3339, Provenance};
use crate::summary::RunSummary;
use crate::{Column, ResultsError, RunLayout, Table, TicketKind};

/// Bumped whenever a column changes meaning, is renamed or removed (adding one at the end is not).
pub const SCHEMA_VERSION: u32 = 1;

/// The densities the differences against the controls are reported at, and their column suffix.
pub const DENSITIES: [(f64, &str); 5] = [(0.8, "d80"), (0.5, "d50"), (0.2, "d20"), (0.1, "d10"), (0.05, "d05")];

/// The controls whose differences have columns.
pub const CONTROLS: [&str; 2] = ["reinit", "shuffle"];

/// Every column, in order, with what it holds (the README's table is this list).
pub const COLUMNS: [(&str, &str); 23] = [
    ("schema_version", "this schema's version"),
    ("task", "registered task name"),
    ("preset", "smoke, quick or paper"),
    ("run", "the run folder's name: the task, then the identity hash"),
    ("identity", "the identity hash (hash of the task, preset and non-default settings)"),
    ("settings", "the non-default settings, `key=value` separated by `; ` (empty: all defaults)"),
    ("metric", "the comparison metric: `test_M` at the end of training, `test_M@val` at the evaluation chosen on validation data"),
    ("direction", "higher or lower is better"),
    ("replicates", "replicates of the dense network"),
    ("dense_mean", "the dense network's metric (level 0), mean over replicates"),
    ("dense_std", "its sample standard deviation (null for one replicate)"),
    ("matching_density", "sparsest density where the winning ticket still matches the dense value, interpolated on log density"),
    ("matching_tolerance", "half-width of the matching band: max(dense_std, margin x |dense_mean|)"),
    ("matching_censored", "true when no level left the band: matching_density is then the sparsest density reached, an upper bound"),
    ("auc_log_density", "area under the winning curve over log10 density, from the sparsest density to 1"),
    ("sparsest_density", "the sparsest density the run reached"),
    ("levels", "pruning levels after the dense one"),
    ("winning_minus_C_at_dNN", "10 columns: for C in reinit, shuffle and NN in 80, 50, 20, 10, 05: winning minus control mean at density NN%, interpolated on log density; null outside the control's levels or where it was not run"),
    ("train_seconds", "wall-clock seconds of training summed over the run's tickets (null for tickets from before this was recorded)"),
    ("device", "where the run's latest invocation trained"),
    ("harness_version", "the harness version of the run's first invocation (`unknown` for runs from before this was recorded)"),
    ("source_commit", "the source commit that harness was built from (`unknown` likewise)"),
    ("date", "when the run started (UTC, RFC 3339); for older runs, when its config.toml was last written"),
];

/// Options of an export.
#[derive(Debug, Clone, Copy)]
pub struct ExportOptions {
    /// Relative margin of the matching band (fraction of the dense value).
    pub margin: f64,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions { margin: 0.01 }
    }
}

/// Every run folder (a folder with `config.toml` and `comparison.csv`) under `roots`,
/// recursively, sorted; a run's own subfolders are not searched. Transfer folders have
/// `transfer.csv` instead and are left out.
pub fn find_runs(roots: &[PathBuf]) -> Result<Vec<PathBuf>, ResultsError> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ResultsError> {
        let layout = RunLayout::new(dir);
        if layout.config().is_file() && layout.table("comparison", "csv").is_file() {
            out.push(dir.to_path_buf());
            return Ok(());
        }
        let entries = std::fs::read_dir(dir).map_err(|source| ResultsError::Io { path: dir.to_path_buf(), source })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&path, out)?;
            }
        }
        Ok(())
    }
    let mut runs = vec![];
    for root in roots {
        if !root.is_dir() {
            return Err(ResultsError::NotARun { dir: root.clone(), file: "config.toml" });
        }
        walk(root, &mut runs)?;
    }
    runs.sort();
    runs.dedup();
    Ok(runs)
}

/// Training seconds summed over the run's finished tickets; `None` if any lacks them.
fn train_seconds(dir: &Path) -> Result<Option<f64>, ResultsError> {
    let results = RunLayout::new(dir).finished(&[TicketKind::WINNING])?;
    Ok(results.iter().map(|r| r.seconds).sum())
}

/// The settings lines of an identity text, `key=value; ...`, without the task and preset.
fn settings(identity: &str) -> String {
    identity
        .lines()
        .filter_map(|l| l.split_once(" = "))
        .filter(|(k, _)| !["task", "preset"].contains(k))
        .map(|(k, v)| format!("{k}={}", v.trim_matches('"')))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One leaderboard row.
struct Row {
    task: String,
    preset: String,
    run: String,
    identity: String,
    settings: String,
    metric: String,
    direction: String,
    replicates: u32,
    dense_mean: Option<f64>,
    dense_std: Option<f64>,
    matching_density: Option<f64>,
    matching_tolerance: Option<f64>,
    matching_censored: bool,
    auc_log_density: Option<f64>,
    sparsest_density: Option<f64>,
    levels: u32,
    /// Indexed like `CONTROLS x DENSITIES`, row-major.
    differences: Vec<Option<f64>>,
    train_seconds: Option<f64>,
    device: String,
    harness_version: String,
    source_commit: String,
    date: String,
}

/// The rows of one run folder: one per metric.
fn rows(dir: &Path, options: ExportOptions) -> Result<Vec<Row>, ResultsError> {
    let run = RunSummary::read(dir)?;
    let identity = run.config_str("identity").unwrap_or_default().to_string();
    let provenance = Provenance::from_config(&run.config);
    let date = provenance.as_ref().map(|p| p.started.clone()).unwrap_or_else(|| {
        let modified = std::fs::metadata(RunLayout::new(dir).config()).and_then(|m| m.modified()).ok();
        utc_rfc3339(modified.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs()))
    });
    let train_seconds = train_seconds(dir)?;
    let text = |key: &str| run.config_str(key).unwrap_or_default().to_string();
    Ok(run
        .metrics
        .iter()
        .map(|m| {
            let dense = m.dense();
            let matching = m.matching_density(options.margin);
            Row {
                task: text("task"),
                preset: text("preset"),
                run: dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(),
                identity: crate::run_id(&identity),
                settings: settings(&identity),
                metric: m.metric.clone(),
                direction: m.direction.as_str().to_string(),
                replicates: dense.map_or(0, |d| d.n),
                dense_mean: dense.map(|d| d.mean),
                dense_std: dense.and_then(|d| d.std),
                matching_density: matching.map(|x| x.density),
                matching_tolerance: matching.map(|x| x.tolerance),
                matching_censored: matching.is_some_and(|x| x.censored),
                auc_log_density: m.auc_log_density(&m.subject),
                sparsest_density: m.sparsest_density(),
                levels: m.points.iter().map(|p| p.level).max().unwrap_or(0),
                differences: CONTROLS.iter().flat_map(|c| DENSITIES.iter().map(move |(d, _)| m.difference_at(&m.subject, c, *d))).collect(),
                train_seconds,
                device: run.config_str("device").unwrap_or("unknown").to_string(),
                harness_version: provenance.as_ref().map_or("unknown".into(), |p| p.version.clone()),
                source_commit: provenance.as_ref().map_or("unknown".into(), |p| p.commit.clone()),
                date: date.clone(),
            }
        })
        .collect())
}

/// The leaderboard of `runs` (folders from [`find_runs`]), columns as [`COLUMNS`] lists them.
pub fn leaderboard(runs: &[PathBuf], options: ExportOptions) -> Result<Table, ResultsError> {
    let mut all = vec![];
    for dir in runs {
        all.extend(rows(dir, options)?);
    }
    let text = |f: fn(&Row) -> &String| Column::Str(all.iter().map(|r| f(r).clone()).collect());
    let number = |f: fn(&Row) -> Option<f64>| Column::F64(all.iter().map(f).collect());
    let mut table = Table::new()
        .with("schema_version", Column::U32(vec![SCHEMA_VERSION; all.len()]))
        .with("task", text(|r| &r.task))
        .with("preset", text(|r| &r.preset))
        .with("run", text(|r| &r.run))
        .with("identity", text(|r| &r.identity))
        .with("settings", text(|r| &r.settings))
        .with("metric", text(|r| &r.metric))
        .with("direction", text(|r| &r.direction))
        .with("replicates", Column::U32(all.iter().map(|r| r.replicates).collect()))
        .with("dense_mean", number(|r| r.dense_mean))
        .with("dense_std", number(|r| r.dense_std))
        .with("matching_density", number(|r| r.matching_density))
        .with("matching_tolerance", number(|r| r.matching_tolerance))
        .with("matching_censored", Column::Bool(all.iter().map(|r| r.matching_censored).collect()))
        .with("auc_log_density", number(|r| r.auc_log_density))
        .with("sparsest_density", number(|r| r.sparsest_density))
        .with("levels", Column::U32(all.iter().map(|r| r.levels).collect()));
    for (c, control) in CONTROLS.iter().enumerate() {
        for (d, (_, suffix)) in DENSITIES.iter().enumerate() {
            let values = all.iter().map(|r| r.differences[c * DENSITIES.len() + d]).collect();
            table = table.with(&format!("winning_minus_{control}_at_{suffix}"), Column::F64(values));
        }
    }
    Ok(table
        .with("train_seconds", number(|r| r.train_seconds))
        .with("device", text(|r| &r.device))
        .with("harness_version", text(|r| &r.harness_version))
        .with("source_commit", text(|r| &r.source_commit))
        .with("date", text(|r| &r.date)))
}
