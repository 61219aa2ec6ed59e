//! `harness show RUN_DIR`: the comparison table of a run, one block per metric, with a column
//! pair (mean ± std, difference from winning) per control kind.

use std::fmt::Write;
use std::path::Path;

use comfy_table::{CellAlignment, ContentArrangement, Table};

use crate::{ResultsError, RunLayout};

fn cell(mean: &str, std: &str) -> String {
    match (mean.parse::<f64>(), std.parse::<f64>()) {
        (Ok(m), Ok(s)) => format!("{m:.4} ± {s:.4}"),
        (Ok(m), Err(_)) => format!("{m:.4}"),
        _ => "-".to_string(),
    }
}

fn signed(diff: &str) -> String {
    diff.parse::<f64>().map(|d| format!("{d:+.4}")).unwrap_or_else(|_| "-".into())
}

/// Renders `comparison.csv` of a run folder as text.
pub fn render(run_dir: &Path) -> Result<String, ResultsError> {
    let path = RunLayout::new(run_dir).table("comparison", "csv");
    if !path.is_file() {
        return Err(ResultsError::NotARun { dir: run_dir.to_path_buf(), file: "comparison.csv" });
    }
    let remedy = "rerun the same `harness run` command: it rewrites the tables from the finished tickets";
    let corrupt = |e: csv::Error| ResultsError::Corrupt { path: path.clone(), reason: e.to_string(), remedy: remedy.into() };
    let mut reader = csv::Reader::from_path(&path).map_err(corrupt)?;
    let headers = reader.headers().map_err(corrupt)?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| ResultsError::Corrupt { path: path.clone(), reason: format!("no column `{name}`"), remedy: remedy.into() })
    };
    let level = col("level")?;
    let density = col("density")?;
    let metric = col("metric")?;
    let direction = col("direction")?;
    let reps = col("replicates")?;
    let winning = (col("winning_mean")?, col("winning_std")?);
    // One mean ± std column and one difference column per control kind the table holds, in its
    // order (the engine's ticket registry decides which kinds there are).
    let mut controls = vec![];
    for kind in headers.iter().filter_map(|h| h.strip_prefix("winning_minus_")) {
        controls.push((kind.to_string(), col(&format!("{kind}_mean"))?, col(&format!("{kind}_std"))?, col(&format!("winning_minus_{kind}"))?));
    }
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().map_err(corrupt)?;
    let mut metrics: Vec<String> = vec![];
    for r in &rows {
        if !metrics.iter().any(|m| m == &r[metric]) {
            metrics.push(r[metric].to_string());
        }
    }
    let mut out = String::new();
    for m in &metrics {
        let block: Vec<&csv::StringRecord> = rows.iter().filter(|r| &r[metric] == m).collect();
        let dir = block.first().map(|r| r[direction].to_string()).unwrap_or_default();
        let _ = writeln!(out, "{m} ({dir} is better; mean ± std over replicates)");
        let mut table = Table::new();
        table.load_preset(comfy_table::presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
        let mut header = vec!["level".to_string(), "density".into(), "n".into(), "winning".into()];
        for (k, ..) in &controls {
            header.push(k.to_string());
            // "winning - kind": the full name, so kinds sharing an initial stay apart.
            header.push(format!("w-{k}"));
        }
        table.set_header(header);
        for r in block {
            let mut row = vec![
                r[level].to_string(),
                r[density].parse::<f64>().map(|d| format!("{d:.4}")).unwrap_or_else(|_| "-".into()),
                r[reps].to_string(),
                cell(&r[winning.0], &r[winning.1]),
            ];
            for (_, mean, std, diff) in &controls {
                row.push(cell(&r[*mean], &r[*std]));
                row.push(signed(&r[*diff]));
            }
            table.add_row(row);
        }
        for i in 0..table.column_count() {
            if let Some(column) = table.column_mut(i) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        for line in table.to_string().lines() {
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out.push('\n');
    }
    Ok(out)
}
