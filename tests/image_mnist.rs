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

/// Surviving weights per layer of a mask file.
fn kept_per_layer(path: &std::path::Path) -> std::collections::BTreeMap<String, i64> {
    tch::Tensor::read_safetensors(path).unwrap().into_iter().map(|(name, m)| (name, m.sum(tch::Kind::Int64).int64_value(&[]))).collect()
}

#[test]
fn oneshot_prunes_to_the_target_in_one_level_keeping_the_iterative_runs_per_group_counts() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = mnist_folder(data.path());
    let (iterative, oneshot) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = |out: &std::path::Path, extra: &[&'static str]| -> Vec<String> {
        let mut args: Vec<String> = ["run", "image/mnist-lenet", "--prune", "0.5", "--preset", "smoke", "--controls", "reinit", "--device", "cpu", "--quiet"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(["--data-dir".into(), data_dir.display().to_string(), "--out".into(), out.display().to_string()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    for run in [args(iterative.path(), &[]), args(oneshot.path(), &["--schedule", "oneshot"])] {
        run_ok(&run.iter().map(String::as_str).collect::<Vec<_>>());
    }

    let levels = |dir: &std::path::Path| -> Vec<(String, String)> {
        csv_rows(&run_dir(dir).join("comparison.csv")).into_iter().filter(|r| r["metric"] == "test_accuracy").map(|r| (r["level"].clone(), r["density"].clone())).collect()
    };
    let (many, one) = (levels(iterative.path()), levels(oneshot.path()));
    assert!(many.len() > 2, "{many:?}");
    assert_eq!(one.len(), 2, "the dense level and one pruned level: {one:?}");
    assert_eq!(one[1].1, many.last().unwrap().1, "the same final density");
    // The same count per pruning group: the hidden layers ranked together (at the default rate),
    // the output layer on its own (at half rate); within the pool, magnitudes decide.
    let last = format!("rep-0/level-{:02}/mask.safetensors", many.len() - 1);
    let groups = |kept: std::collections::BTreeMap<String, i64>| (kept["fc1.weight"] + kept["fc2.weight"], kept["fc3.weight"]);
    let one_kept = kept_per_layer(&run_dir(oneshot.path()).join("rep-0/level-01/mask.safetensors"));
    assert_eq!(one_kept.len(), 3, "{one_kept:?}");
    assert_eq!(groups(one_kept), groups(kept_per_layer(&run_dir(iterative.path()).join(last))));
    let config = std::fs::read_to_string(run_dir(oneshot.path()).join("config.toml")).unwrap();
    assert!(config.contains("imp.schedule = \"oneshot\""), "the schedule is part of the identity:\n{config}");
}
