//! `harness leaderboard export`: one row per run and metric over nested run folders, read by
//! pandas and DuckDB as they are, with provenance recorded when a run starts.

mod common;

use common::{csv_rows, python_with, refused, results_dir, run_ok};

fn cartpole(out: &str, prune: &str, seed: &str) -> std::path::PathBuf {
    let args = ["run", "control/cartpole", "--preset", "smoke", "--prune", prune, "--seed", seed, "--replicates", "2", "--device", "cpu", "--quiet", "--out", out];
    results_dir(&run_ok(&args).stdout)
}

#[test]
fn leaderboard_has_a_row_per_run_and_metric_that_pandas_and_duckdb_read() {
    let dir = tempfile::tempdir().unwrap();
    // Runs at two depths, as a suite's --out and a plain --out leave them.
    let a = cartpole(dir.path().join("runs").to_str().unwrap(), "0.5", "0");
    let b = cartpole(dir.path().join("suite/runs/entry").to_str().unwrap(), "0.36", "7");

    // Provenance is recorded when the run starts and kept when it is resumed.
    let config = |dir: &std::path::Path| std::fs::read_to_string(dir.join("config.toml")).unwrap().parse::<toml::Table>().unwrap();
    let provenance = config(&a)["provenance"].as_table().unwrap().clone();
    assert_eq!(provenance["version"].as_str(), Some(env!("CARGO_PKG_VERSION")));
    let commit = provenance["commit"].as_str().unwrap();
    assert!(commit == "unknown" || (commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit())), "{commit}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    cartpole(dir.path().join("runs").to_str().unwrap(), "0.5", "0");
    assert_eq!(config(&a)["provenance"].as_table().unwrap(), &provenance, "a resume rewrote the provenance");

    let board = dir.path().join("export/board.csv");
    run_ok(&["leaderboard", "export", dir.path().to_str().unwrap(), "--out", board.to_str().unwrap()]);
    assert!(dir.path().join("export/board.arrow").is_file());
    let rows = csv_rows(&board);
    // Two runs x two metrics (test_return, test_return@val).
    assert_eq!(rows.len(), 4);
    for (run, prune) in [(&a, 0.5), (&b, 0.36)] {
        let name = run.file_name().unwrap().to_str().unwrap();
        let comparison = csv_rows(&run.join("comparison.csv"));
        let row = rows.iter().find(|r| r["run"] == name && r["metric"] == "test_return").unwrap();
        let level0 = comparison.iter().find(|r| r["level"] == "0" && r["metric"] == "test_return").unwrap();
        assert_eq!(row["dense_mean"], level0["winning_mean"]);
        assert_eq!(row["replicates"], "2");
        assert_eq!(row["task"], "control/cartpole");
        assert_eq!(row["schema_version"], "1");
        assert_eq!(row["source_commit"], commit);
        let sparsest: f64 = row["sparsest_density"].parse().unwrap();
        assert!((sparsest - (1.0 - prune)).abs() < 0.01, "{sparsest}");
        let matching: f64 = row["matching_density"].parse().unwrap();
        assert!(matching >= sparsest && matching <= 1.0, "{matching}");
        assert!(row["train_seconds"].parse::<f64>().unwrap() > 0.0);
        assert!(row["settings"].contains(&format!("imp.prune={prune}")), "{}", row["settings"]);
        // Density 0.8 lies between level 1 (0.80112...) and level 2: interpolated; 0.05 is below
        // the sparsest level: null.
        assert!(!row["winning_minus_reinit_at_d80"].is_empty());
        assert_eq!(row["winning_minus_reinit_at_d05"], "");
    }

    let script = r#"
import sys, json, pandas, duckdb, pyarrow.ipc
csv, arrow = sys.argv[1], sys.argv[2]
frame = pandas.read_csv(csv)
board = pyarrow.ipc.open_file(arrow).read_all()
via_arrow = duckdb.sql("SELECT run, metric, matching_density, auc_log_density, matching_censored FROM board ORDER BY run, metric").fetchall()
via_csv = duckdb.sql(f"SELECT run, metric, matching_density, auc_log_density, matching_censored FROM read_csv_auto('{csv}') ORDER BY run, metric").fetchall()
best = duckdb.sql(f"SELECT task, max(auc_log_density) FROM read_csv_auto('{csv}') WHERE metric = 'test_return' GROUP BY task").fetchall()
print(json.dumps({
    "columns": list(frame.columns),
    "rows": len(frame),
    "dtypes": {c: str(frame[c].dtype) for c in ["dense_mean", "matching_censored", "replicates"]},
    "same": via_arrow == via_csv,
    "best": [[t, v] for t, v in best],
}))
"#;
    if let Some(out) = python_with(&["pandas", "duckdb", "pyarrow"], script, &[&board, &dir.path().join("export/board.arrow")]) {
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let expected: Vec<String> = {
            let mut names = vec![];
            for (name, _) in lottery_results::leaderboard::COLUMNS {
                if name == "winning_minus_C_at_dNN" {
                    for control in lottery_results::leaderboard::CONTROLS {
                        for (_, suffix) in lottery_results::leaderboard::DENSITIES {
                            names.push(format!("winning_minus_{control}_at_{suffix}"));
                        }
                    }
                } else {
                    names.push(name.to_string());
                }
            }
            names
        };
        let columns: Vec<String> = serde_json::from_value(v["columns"].clone()).unwrap();
        assert_eq!(columns, expected, "the documented schema, in order");
        assert_eq!(v["rows"], 4);
        assert_eq!(v["dtypes"]["dense_mean"], "float64");
        assert_eq!(v["dtypes"]["matching_censored"], "bool");
        assert_eq!(v["dtypes"]["replicates"], "int64");
        assert_eq!(v["same"], true, "the Arrow and CSV files hold the same rows");
        assert_eq!(v["best"][0][0], "control/cartpole");
    }
}

#[test]
fn leaderboard_of_a_folder_without_runs_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("board.csv");
    refused(&["leaderboard", "export", dir.path().to_str().unwrap(), "--out", out.to_str().unwrap()], 2, &["no run folder"], dir.path());
    refused(&["leaderboard", "export", dir.path().join("nope").to_str().unwrap(), "--out", out.to_str().unwrap()], 2, &["nope"], dir.path());
}
