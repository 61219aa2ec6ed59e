//! The foundation's end-to-end run: LeNet-300-100 on a standard MNIST folder built from the real
//! test split, pruned to 90% sparsity with the `smoke` preset, on the CPU.

mod common;

use common::*;

const READ_WITH_PYARROW: &str = r#"
import csv, math, sys
import numpy as np
import pyarrow.ipc as ipc
from safetensors.numpy import load_file

run = sys.argv[1]
for stem in ["comparison", "curves"]:
    table = ipc.open_file(f"{run}/{stem}.arrow").read_all()
    with open(f"{run}/{stem}.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert table.num_rows == len(rows), (stem, table.num_rows, len(rows))
    assert table.column_names == list(rows[0].keys()), stem
    for name in table.column_names:
        for a, c in zip(table.column(name).to_pylist(), (r[name] for r in rows)):
            if a is None:
                assert c == "", (stem, name, c)
            elif isinstance(a, float):
                assert a == float(c), (stem, name, a, c)
            else:
                assert str(a) == c, (stem, name, a, c)

# Masks and weights load in Python; pruned weights are exactly zero.
level = f"{run}/rep-0/level-11"
mask = load_file(f"{level}/mask.safetensors")
weights = load_file(f"{level}/winning/final.safetensors")
kept = sum(int(m.sum()) for m in mask.values())
total = sum(m.size for m in mask.values())
assert abs(kept / total - 0.1) < 1e-4, kept / total
for name, m in mask.items():
    assert m.dtype == np.uint8
    assert np.all(weights[name][m == 0] == 0), name
print("ok", table.num_rows)
"#;

#[test]
fn mnist_lenet_smoke_finds_winning_tickets_above_reinit() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let data_dir = mnist_folder(data.path());
    let output = run_ok(&[
        "run", "image/mnist-lenet", "--prune", "0.9", "--preset", "smoke", "--device", "cpu",
        "--data-dir", data_dir.to_str().unwrap(), "--out", out.path().to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("test_accuracy@val (higher is better"), "{stdout}");

    let run = run_dir(out.path());
    let rows = csv_rows(&run.join("comparison.csv"));
    let metric = |name: &str| -> Vec<_> { rows.iter().filter(|r| r["metric"] == name).collect() };
    let accuracy = metric("test_accuracy@val");
    assert_eq!(accuracy.len(), 12, "levels 0 to 11");
    let last = accuracy.last().unwrap();
    assert!((last["density"].parse::<f64>().unwrap() - 0.1).abs() < 1e-4);

    // The dense network learned, and at the sparsest levels the winning tickets beat reinit.
    assert!(accuracy[0]["winning_mean"].parse::<f64>().unwrap() > 0.9);
    for row in &accuracy[9..] {
        let diff: f64 = row["winning_minus_reinit"].parse().unwrap();
        assert!(diff > 0.0, "level {}: winning - reinit = {diff}", row["level"]);
    }

    // `harness show` prints the same table the run printed.
    let shown = run_ok(&["show", run.to_str().unwrap()]);
    assert!(stdout.starts_with(&*String::from_utf8_lossy(&shown.stdout)));

    if let Some(py) = python(READ_WITH_PYARROW, &[&run]) {
        assert!(py.starts_with("ok"), "{py}");
    }
}

#[test]
fn class_subsets_train_on_those_digits_only_and_are_distinct_runs() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let data_dir = mnist_folder(data.path());
    let run = |classes: &str| {
        run_ok(&[
            "run", "image/mnist-lenet", "--preset", "smoke", "--prune", "0.2", "--controls", "winning", "--quiet", "--set", &format!("classes={classes}"),
            "--data-dir", data_dir.to_str().unwrap(), "--out", out.path().to_str().unwrap(),
        ])
    };
    run("5-9");
    let dir = run_dir(out.path());
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(config.contains("classes = \"5-9\""), "{config}");
    // Five classes are easier than ten: the dense network is well above the 20% of chance.
    let rows = csv_rows(&dir.join("comparison.csv"));
    let dense = rows.iter().find(|r| r["level"] == "0" && r["metric"] == "test_accuracy").unwrap();
    assert!(dense["winning_mean"].parse::<f64>().unwrap() > 0.9, "{dense:?}");
    // The other half is another run, in its own folder.
    run("0-4");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 2);
}
