//! `harness show RUN_DIR`: the comparison table of a run (`comparison.csv`) or of a transfer
//! (`transfer.csv`), one block per metric, with a column pair (mean ± std, difference from the
//! subject: `winning` or `transferred`) per control kind.

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

/// Renders `comparison.csv` of a run folder, or `transfer.csv` of a transfer folder, as text.
pub fn render(run_dir: &Path) -> Result<String, ResultsError> {
    let layout = RunLayout::new(run_dir);
    let Some(path) = ["comparison", "transfer"].iter().map(|t| layout.table(t, "csv")).find(|p| p.is_file()) else {
        return Err(ResultsError::NotARun { dir: run_dir.to_path_buf(), file: "comparison.csv" });
    };
    let remedy = "rerun the same `harness run` or `harness transfer` command: it rewrites the tables from the finished tickets";
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
    let (subject, kinds) = crate::kinds_in_header(headers.iter()).ok_or_else(|| ResultsError::Corrupt {
        path: path.clone(),
        reason: "no `*_mean` column".into(),
        remedy: remedy.into(),
    })?;
    let subject_cols = (col(&format!("{subject}_mean"))?, col(&format!("{subject}_std"))?);
    // One mean ± std column and one difference column per control kind the table holds, in its
    // order (the engine's ticket registry decides which kinds there are).
    let mut controls = vec![];
    for kind in kinds {
        let (mean, std, diff) = (col(&format!("{kind}_mean"))?, col(&format!("{kind}_std"))?, col(&format!("{subject}_minus_{kind}"))?);
        controls.push((kind, mean, std, diff));
    }
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().map_err(corrupt)?;
    let mut out = String::new();
    // A transfer says where its tickets came from.
    if let (Ok(source), Ok(target)) = (col("source_run"), col("target_task")) {
        if let Some(r) = rows.first() {
            let _ = writeln!(out, "tickets of {} trained on {}\n", &r[source], &r[target]);
        }
    }
    let mut metrics: Vec<String> = vec![];
    for r in &rows {
        if !metrics.iter().any(|m| m == &r[metric]) {
            metrics.push(r[metric].to_string());
        }
    }
    // "winning - kind" is headed w-kind: the subject's initial, the kind's full name.
    let initial = subject.chars().next().unwrap_or('s');
    for m in &metrics {
        let block: Vec<&csv::StringRecord> = rows.iter().filter(|r| &r[metric] == m).collect();
        let dir = block.first().map(|r| r[direction].to_string()).unwrap_or_default();
        let _ = writeln!(out, "{m} ({dir} is better; mean ± std over replicates)");
        let mut table = Table::new();
        table.load_preset(comfy_table::presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
        let mut header = vec!["level".to_string(), "density".into(), "n".into(), subject.clone()];
        for (k, ..) in &controls {
            header.push(k.to_string());
            header.push(format!("{initial}-{k}"));
        }
        table.set_header(header);
        for r in block {
            let mut row = vec![
                r[level].to_string(),
                r[density].parse::<f64>().map(|d| format!("{d:.4}")).unwrap_or_else(|_| "-".into()),
                r[reps].to_string(),
                cell(&r[subject_cols.0], &r[subject_cols.1]),
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
    if subject == "winning" {
        let columns = Columns { level, density, metric, reps, mean: subject_cols.0, std: subject_cols.1 };
        out.push_str(&references_block(&layout, &rows, &columns));
    }
    Ok(out)
}

/// Where a comparison table's columns are.
struct Columns {
    level: usize,
    density: usize,
    metric: usize,
    reps: usize,
    mean: usize,
    std: usize,
}

/// For a run whose `config.toml` names a task and preset with references: each reference beside
/// the winning ticket's value at the level nearest its density (empty otherwise).
fn references_block(layout: &RunLayout, rows: &[csv::StringRecord], c: &Columns) -> String {
    // A folder without a readable config simply has no references to show.
    let Ok(Some(config)) = layout.read_config() else { return String::new() };
    let text = |k: &str| config.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let references = crate::references::for_run(&text("task"), &text("preset"));
    if references.is_empty() {
        return String::new();
    }
    let mut out = format!("references ({} preset; results/references.toml):\n", text("preset"));
    for r in references {
        let block: Vec<&csv::StringRecord> = rows.iter().filter(|row| row[c.metric] == r.metric).collect();
        let densities: Vec<f64> = block.iter().map(|row| row[c.density].parse().unwrap_or(f64::NAN)).collect();
        let run = match crate::references::nearest(&densities, r.density) {
            Some(i) => {
                let row = block[i];
                format!("this run {} (winning, level {}, density {:.4}, {} replicate(s))", cell(&row[c.mean], &row[c.std]), &row[c.level], densities[i], &row[c.reps])
            }
            None => format!("this run has no {}", r.metric),
        };
        let _ = writeln!(out, "  {} at density {:.4}: paper {} ({}, {}); {run}", r.metric, r.density, r.value, r.paper, r.place);
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_folder(preset: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), format!("task = \"translate/wmt14-en-de-big\"\npreset = \"{preset}\"\n")).unwrap();
        let mut csv = String::from("level,density,metric,direction,replicates,winning_mean,winning_std,reinit_mean,reinit_std,reinit_replicates,winning_minus_reinit\n");
        for (level, density) in [1.0f64, 0.8, 0.64, 0.512, 0.4096, 0.32768].iter().enumerate() {
            let bleu = 28.0 - level as f64 * 0.1;
            csv.push_str(&format!("{level},{density},test_bleu_tok,higher,3,{bleu},0.2,,,0,\n"));
        }
        std::fs::write(dir.path().join("comparison.csv"), csv).unwrap();
        dir
    }

    #[test]
    fn a_paper_preset_run_shows_each_reference_beside_its_nearest_level() {
        let text = render(run_folder("paper").path()).unwrap();
        assert!(text.contains("references (paper preset"), "{text}");
        assert!(
            text.contains("test_bleu_tok at density 1.0000: paper 29.3 (Yu et al. 2020") && text.contains("this run 28.0000 ± 0.2000 (winning, level 0, density 1.0000, 3 replicate(s))"),
            "{text}"
        );
        assert!(text.contains("at density 0.3300: paper 28.9") && text.contains("this run 27.5000 ± 0.2000 (winning, level 5, density 0.3277"), "{text}");
        // Other presets are other settings: no reference applies.
        assert!(!render(run_folder("quick").path()).unwrap().contains("references"));
    }
}
