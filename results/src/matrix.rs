//! The transfer matrix: many transfer folders (`harness transfer`) in one table, one row per
//! transfer, level and metric, with the source and target each named by task, settings and
//! optimizer; [`crate::plot`] draws it per target.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::plot::{Figure, Line, Style, XAxis};
use crate::{Column, ResultsError, RunLayout, Table};

/// The columns a matrix row begins with, before the transfer table's own (`level` onward).
pub const IDENTITY_COLUMNS: [&str; 8] =
    ["transfer_run", "source_run", "source_task", "source_settings", "source_optimizer", "target_task", "target_settings", "target_optimizer"];

/// One transfer folder, read.
#[derive(Debug, Clone)]
pub struct TransferFolder {
    pub dir: PathBuf,
    /// The folder's name.
    pub name: String,
    pub source_run: String,
    pub source_task: String,
    /// The source's non-default settings, `key=value` separated by spaces (empty: the defaults).
    pub source_settings: String,
    pub source_optimizer: String,
    pub target_task: String,
    pub target_settings: String,
    pub target_optimizer: String,
    /// `transfer.csv`'s header and rows.
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// `key=value` for each `key = value` line of an identity text but `skip`'s keys, with the
/// section prefix (`hparams.`, `imp.`) and quotes dropped.
pub(crate) fn settings(identity: &str, skip: &[&str]) -> String {
    identity
        .lines()
        .filter_map(|l| l.split_once(" = "))
        .filter(|(k, _)| !skip.contains(k))
        .map(|(k, v)| format!("{}={}", k.rsplit_once('.').map_or(k, |(_, k)| k), v.trim_matches('"')))
        .collect::<Vec<_>>()
        .join(" ")
}

impl TransferFolder {
    pub fn read(dir: &Path) -> Result<Self, ResultsError> {
        let layout = RunLayout::new(dir);
        let not_a_transfer = || ResultsError::NotATransfer { dir: dir.to_path_buf() };
        let config_path = layout.config();
        let table_path = layout.table("transfer", "csv");
        if !table_path.is_file() || !config_path.is_file() {
            return Err(not_a_transfer());
        }
        let corrupt = |path: &Path, reason: String| ResultsError::Corrupt {
            path: path.to_path_buf(),
            reason,
            remedy: "rerun the `harness transfer` command that made the folder: it rewrites its config and tables".into(),
        };
        let text = std::fs::read_to_string(&config_path).map_err(|source| ResultsError::Io { path: config_path.clone(), source })?;
        let config: toml::Table = text.parse().map_err(|e: toml::de::Error| corrupt(&config_path, e.message().to_string()))?;
        let get = |key: &str| config.get(key).and_then(|v| v.as_str()).map(String::from);
        let need = |key: &str| get(key).ok_or_else(|| corrupt(&config_path, format!("no `{key}`")));
        if get("source").is_none() {
            return Err(not_a_transfer());
        }
        let optimizer = |section: &str| {
            config.get(section).and_then(|t| t.get("optimizer")).and_then(|v| v.as_str()).unwrap_or_default().to_string()
        };
        let mut reader = csv::Reader::from_path(&table_path).map_err(|e| corrupt(&table_path, e.to_string()))?;
        let headers = reader.headers().map_err(|e| corrupt(&table_path, e.to_string()))?.iter().map(String::from).collect();
        let rows = reader
            .records()
            .map(|r| r.map(|r| r.iter().map(String::from).collect()))
            .collect::<Result<_, _>>()
            .map_err(|e| corrupt(&table_path, e.to_string()))?;
        Ok(TransferFolder {
            dir: dir.to_path_buf(),
            name: dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            source_run: need("source")?,
            source_task: need("source_task")?,
            source_settings: settings(&get("source_identity").unwrap_or_default(), &["task", "preset"]),
            source_optimizer: optimizer("source_hparams"),
            target_task: need("task")?,
            target_settings: settings(&need("identity")?, &["source", "task", "preset"]),
            target_optimizer: optimizer("hparams"),
            headers,
            rows,
        })
    }

    /// The value of `column` in each row (`None` where the table has no such column).
    pub fn column(&self, column: &str) -> Option<Vec<&str>> {
        let i = self.headers.iter().position(|h| h == column)?;
        Some(self.rows.iter().map(|r| r[i].as_str()).collect())
    }

    /// The metrics the table holds, in its order.
    pub fn metrics(&self) -> Vec<String> {
        let mut out: Vec<String> = vec![];
        for m in self.column("metric").unwrap_or_default() {
            if !out.iter().any(|o| o == m) {
                out.push(m.to_string());
            }
        }
        out
    }

    /// `task settings`, the name of the target in figures.
    pub fn target_label(&self) -> String {
        label(&self.target_task, &self.target_settings)
    }

    /// `task settings`, the name of the source in figures.
    pub fn source_label(&self) -> String {
        label(&self.source_task, &self.source_settings)
    }
}

fn label(task: &str, settings: &str) -> String {
    if settings.is_empty() { task.to_string() } else { format!("{task} {settings}") }
}

/// The type of a transfer-table column, by name.
fn typed(name: &str, values: Vec<&str>) -> Column {
    if name == "level" || name == "replicates" || name.ends_with("_replicates") {
        Column::U32(values.iter().map(|v| v.parse().unwrap_or(0)).collect())
    } else if name == "metric" || name == "direction" {
        Column::Str(values.iter().map(|v| v.to_string()).collect())
    } else {
        Column::F64(values.iter().map(|v| v.parse().ok()).collect())
    }
}

/// The matrix: [`IDENTITY_COLUMNS`], then every column of the transfer tables from `level` on
/// (the first folder's, in its order; null where a folder lacks one).
pub fn matrix_table(folders: &[TransferFolder]) -> Table {
    let Some(first) = folders.first() else { return Table::new() };
    let data_columns: Vec<&String> = first.headers.iter().skip_while(|h| *h != "level").collect();
    let per_row = |f: &TransferFolder, value: &str| vec![value.to_string(); f.rows.len()];
    let identity = |pick: &dyn Fn(&TransferFolder) -> &str| -> Column {
        Column::Str(folders.iter().flat_map(|f| per_row(f, pick(f))).collect())
    };
    let mut table = Table::new()
        .with("transfer_run", identity(&|f| &f.name))
        .with("source_run", identity(&|f| &f.source_run))
        .with("source_task", identity(&|f| &f.source_task))
        .with("source_settings", identity(&|f| &f.source_settings))
        .with("source_optimizer", identity(&|f| &f.source_optimizer))
        .with("target_task", identity(&|f| &f.target_task))
        .with("target_settings", identity(&|f| &f.target_settings))
        .with("target_optimizer", identity(&|f| &f.target_optimizer));
    for name in data_columns {
        let values: Vec<&str> = folders.iter().flat_map(|f| f.column(name).unwrap_or_else(|| vec![""; f.rows.len()])).collect();
        table = table.with(name, typed(name, values));
    }
    table
}

/// Mean and spread of one kind at each level of a folder, for `metric`: (density, mean, std).
pub fn series(folder: &TransferFolder, kind: &str, metric: &str) -> Vec<(f64, f64, f64)> {
    let (Some(metrics), Some(density), Some(mean), Some(std)) =
        (folder.column("metric"), folder.column("density"), folder.column(&format!("{kind}_mean")), folder.column(&format!("{kind}_std")))
    else {
        return vec![];
    };
    let mut points: BTreeMap<u64, (f64, f64, f64)> = BTreeMap::new();
    for i in (0..metrics.len()).filter(|&i| metrics[i] == metric) {
        if let (Ok(d), Ok(m)) = (density[i].parse::<f64>(), mean[i].parse::<f64>()) {
            points.insert(d.to_bits(), (d, m, std[i].parse().unwrap_or(0.0)));
        }
    }
    points.into_values().collect()
}

/// One figure per target (task and settings, in the order first met): `metric` against density
/// for each source's transferred tickets, with the target's own winning ticket and the random
/// ticket (from the first transfer to that target that trained them). Returns (file stem,
/// figure) pairs.
pub fn figures(folders: &[TransferFolder], metric: &str) -> Vec<(String, Figure)> {
    let mut targets: Vec<String> = vec![];
    for f in folders {
        if !targets.contains(&f.target_label()) {
            targets.push(f.target_label());
        }
    }
    targets
        .into_iter()
        .map(|target| {
            let to_target: Vec<&TransferFolder> = folders.iter().filter(|f| f.target_label() == target).collect();
            let mut lines: Vec<Line> = to_target
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let optimizers = if f.source_optimizer != f.target_optimizer && !f.source_optimizer.is_empty() {
                        format!(" ({} -> {})", f.source_optimizer, f.target_optimizer)
                    } else {
                        String::new()
                    };
                    Line { label: format!("ticket of {}{optimizers}", f.source_label()), points: series(f, "transferred", metric), style: Style::Series(i) }
                })
                .collect();
            let first = |kind: &str| to_target.iter().map(|f| series(f, kind, metric)).find(|s| !s.is_empty());
            if let Some(points) = first("target_winning") {
                lines.push(Line { label: "the target's own winning ticket".into(), points, style: Style::Reference });
            }
            if let Some(points) = first("random") {
                lines.push(Line { label: "random ticket (random mask, fresh weights)".into(), points, style: Style::Baseline });
            }
            let n = to_target.iter().filter_map(|f| f.column("replicates")).flatten().filter_map(|r| r.parse::<u32>().ok()).max().unwrap_or(0);
            let figure = Figure {
                title: format!("tickets transferred to {target}"),
                y_label: format!("{metric} (mean ± std, up to {n} replicate(s))"),
                x: XAxis::Density,
                lines,
                reference: None,
            };
            let stem: String = format!("{target}-{metric}").chars().map(|c| if c.is_ascii_alphanumeric() || "=.-_@".contains(c) { c } else { '-' }).collect();
            (stem, figure)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_drop_sections_quotes_and_the_skipped_keys() {
        let identity = "source = \"a-1\"\ntask = \"image/mnist-lenet\"\npreset = \"quick\"\nhparams.classes = \"5-9\"\nhparams.lr = 0.05\nseed = 3\n";
        assert_eq!(settings(identity, &["source", "task", "preset"]), "classes=5-9 lr=0.05 seed=3");
        assert_eq!(settings("task = \"x\"\npreset = \"quick\"\n", &["task", "preset"]), "");
    }
}
