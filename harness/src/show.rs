//! `harness show RUN_DIR`: the comparison table of a run, one block per metric.

use std::fmt::Write;
use std::path::Path;

use crate::EngineError;

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
pub fn render(run_dir: &Path) -> Result<String, EngineError> {
    let path = run_dir.join("comparison.csv");
    if !path.exists() {
        return Err(EngineError::Usage(format!(
            "{} has no comparison.csv: give the folder of a run (under --out, default results/) that has finished at least one level",
            run_dir.display()
        )));
    }
    let corrupt = |e: csv::Error| EngineError::Corrupt(path.clone(), e.to_string());
    let mut reader = csv::Reader::from_path(&path).map_err(corrupt)?;
    let headers = reader.headers().map_err(corrupt)?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name).ok_or_else(|| EngineError::Corrupt(path.clone(), format!("no column `{name}`")));
    let idx = |names: &[&str]| names.iter().map(|n| col(n)).collect::<Result<Vec<_>, _>>();
    let [level, density, metric, direction, reps, wm, ws, rm, rs, rd, sm, ss, sd] = idx(&[
        "level", "density", "metric", "direction", "replicates", "winning_mean", "winning_std", "reinit_mean", "reinit_std",
        "winning_minus_reinit", "shuffle_mean", "shuffle_std", "winning_minus_shuffle",
    ])?[..] else {
        unreachable!()
    };
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
        let _ = writeln!(
            out,
            "{:>5} {:>8} {:>4}  {:>17}  {:>17} {:>8}  {:>17} {:>8}",
            "level", "density", "n", "winning", "reinit", "w-r", "shuffle", "w-s"
        );
        for r in block {
            let _ = writeln!(
                out,
                "{:>5} {:>8.4} {:>4}  {:>17}  {:>17} {:>8}  {:>17} {:>8}",
                &r[level],
                r[density].parse::<f64>().unwrap_or(f64::NAN),
                &r[reps],
                cell(&r[wm], &r[ws]),
                cell(&r[rm], &r[rs]),
                signed(&r[rd]),
                cell(&r[sm], &r[ss]),
                signed(&r[sd]),
            );
        }
        out.push('\n');
    }
    Ok(out)
}
