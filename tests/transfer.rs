//! `harness transfer`, driven like a user: a ticket found on some MNIST digits trained on the
//! others against every control and the target's own winning ticket; optimizer transfer killed
//! and resumed; bad requests refused before anything is written.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A LeNet smoke IMP run to density 0.64 (levels 0-2, the second landing on 0.64) with `extra`
/// settings; returns its folder.
fn imp_run(data: &str, out: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec!["run", "image/mnist-lenet", "--preset", "smoke", "--prune", "0.36", "--controls", "winning", "--device", "cpu", "--quiet", "--data-dir", data];
    let out_arg = out.to_str().unwrap();
    args.extend(["--out", out_arg]);
    args.extend(extra);
    results_dir(&run_ok(&args).stdout)
}

/// MNIST in a temporary folder and a LeNet IMP run on it (`imp_run` with no settings): what the
/// transfer tests with one source start from. The folders live as long as this value.
struct MnistSource {
    _data_dir: tempfile::TempDir,
    data: String,
    sources: tempfile::TempDir,
    run: PathBuf,
}

fn mnist_source() -> MnistSource {
    let data_dir = tempfile::tempdir().unwrap();
    let data = mnist_folder(data_dir.path()).to_str().unwrap().to_string();
    let sources = tempfile::tempdir().unwrap();
    let run = imp_run(&data, sources.path(), &[]);
    MnistSource { _data_dir: data_dir, data, sources, run }
}

/// `column` of the `test_accuracy` rows of a CSV table, by level.
fn accuracy(table: &Path, column: &str) -> Vec<(String, String)> {
    csv_rows(table).into_iter().filter(|r| r["metric"] == "test_accuracy").map(|r| (r["level"].clone(), r[column].clone())).collect()
}

#[test]
fn class_disjoint_transfer_trains_every_kind_and_its_reference_is_the_target_runs_ticket() {
    let data = tempfile::tempdir().unwrap();
    let data = mnist_folder(data.path());
    let data = data.to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let source = imp_run(data, out.path(), &["--set", "classes=0-4", "--replicates", "2"]);
    let target = imp_run(data, out.path(), &["--set", "classes=5-9", "--replicates", "2"]);

    let stdout = run_ok(&[
        "transfer", source.to_str().unwrap(), "--to", "image/mnist-lenet", "--set", "classes=5-9", "--target-run", target.to_str().unwrap(),
        "--controls", "reinit,shuffle,random,target_winning", "--device", "cpu", "--quiet", "--data-dir", data, "--out", out.path().to_str().unwrap(),
    ])
    .stdout;
    let stdout = String::from_utf8(stdout).unwrap();
    let dir = results_dir(stdout.as_bytes());
    let source_name = source.file_name().unwrap().to_str().unwrap();
    assert!(dir.file_name().unwrap().to_str().unwrap().starts_with(&format!("{source_name}-to-image-mnist-lenet-")), "{}", dir.display());
    assert!(stdout.contains(&format!("tickets of {source_name} trained on image/mnist-lenet")), "{stdout}");

    let table = dir.join("transfer.csv");
    let rows = csv_rows(&table);
    assert_eq!(rows.len(), 3 * 4, "levels 0-2, four metrics");
    assert!(rows.iter().all(|r| r["source_task"] == "image/mnist-lenet" && r["source_run"] == source_name && r["target_task"] == "image/mnist-lenet"));
    for r in rows.iter().filter(|r| r["metric"] == "test_accuracy") {
        let n = |kind: &str| r[&format!("{kind}_replicates")].clone();
        assert_eq!(r["replicates"], "2");
        // Level 0 is dense: only the source's weights and fresh ones differ there.
        let expected = if r["level"] == "0" { ["2", "0", "0", "0"] } else { ["2", "2", "2", "2"] };
        assert_eq!([n("reinit"), n("shuffle"), n("random"), n("target_winning")], expected, "level {}", r["level"]);
        assert!(!r["transferred_std"].is_empty(), "two replicates give a spread");
    }

    // The transferred ticket is the source's: its density and its mask.
    let source_density = accuracy(&source.join("comparison.csv"), "density");
    assert_eq!(accuracy(&table, "density"), source_density);
    for rep in 0..2 {
        let mask = format!("rep-{rep}/level-02/mask.safetensors");
        assert_eq!(std::fs::read(source.join(&mask)).unwrap(), std::fs::read(dir.join(&mask)).unwrap(), "{mask}");
    }
    // Same seeds and settings, so the reference reproduces the target run's winning tickets
    // exactly, and the source's rewound weights (iteration 0, same init seed) are the target's
    // dense initialization: the dense transferred ticket is the target run's dense network.
    let target_winning = accuracy(&target.join("comparison.csv"), "winning_mean");
    let reference = accuracy(&table, "target_winning_mean");
    assert_eq!(reference[1..], target_winning[1..], "target_winning at levels 1-2");
    assert_eq!(accuracy(&table, "transferred_mean")[0], target_winning[0], "dense transferred ticket");

    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    for needle in [
        &format!("source = \"{source_name}\"") as &str,
        "classes = \"5-9\"",
        "fresh = []",
        "transferred = [\"fc1.bias\"",
        &format!("target_run = \"{}\"", target.file_name().unwrap().to_str().unwrap()),
    ] {
        assert!(config.contains(needle), "{needle} missing from\n{config}");
    }

    let shown = String::from_utf8(run_ok(&["show", dir.to_str().unwrap()]).stdout).unwrap();
    assert!(shown.lines().any(|l| l.contains("transferred") && l.contains("target_winning") && l.contains("t-random")), "{shown}");

    let script = r#"
import sys, csv, pyarrow.ipc as ipc
t = ipc.open_file(sys.argv[1]).read_all()
rows = list(csv.DictReader(open(sys.argv[2])))
assert t.num_rows == len(rows), (t.num_rows, len(rows))
assert t.column("transferred_mean").to_pylist() == [float(r["transferred_mean"]) for r in rows]
print(t.schema.field("transferred_minus_target_winning").type)
"#;
    if let Some(out) = python(script, &[&dir.join("transfer.arrow"), &table]) {
        assert_eq!(out.trim(), "double");
    }

    // The reverse transfer (5-9 -> 0-4) at two levels, then both in one matrix.
    let reverse = run_ok(&[
        "transfer", target.to_str().unwrap(), "--to", "image/mnist-lenet", "--set", "classes=0-4", "--levels", "0,2", "--controls", "random",
        "--device", "cpu", "--quiet", "--data-dir", data, "--out", out.path().to_str().unwrap(),
    ]);
    let reverse = results_dir(&reverse.stdout);
    let matrix = out.path().join("matrix");
    run_ok(&["transfer-matrix", dir.to_str().unwrap(), reverse.to_str().unwrap(), "--out", matrix.to_str().unwrap()]);
    let rows = csv_rows(&matrix.join("matrix.csv"));
    assert_eq!(rows.len(), 12 + 2 * 4);
    let forward = &rows[0];
    assert_eq!(
        [&forward["source_settings"], &forward["target_settings"], &forward["source_optimizer"], &forward["target_optimizer"]],
        ["classes=0-4 prune=0.36", "classes=5-9", "adam", "adam"]
    );
    assert_eq!(rows[12]["source_settings"], "classes=5-9 prune=0.36");
    assert!(rows[12..].iter().all(|r| r["target_winning_mean"].is_empty() && r["transfer_run"] == reverse.file_name().unwrap().to_str().unwrap()));
    let figures = matrix.join("figures");
    for target in ["classes=5-9", "classes=0-4"] {
        let stem = figures.join(format!("image-mnist-lenet-{target}-test_accuracy"));
        let png = std::fs::read(stem.with_extension("png")).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!((u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap())), (900, 600));
        let svg = std::fs::read_to_string(stem.with_extension("svg")).unwrap();
        assert!(svg.contains("random ticket (random mask, fresh weights)"), "{target}");
        let reference = svg.contains("the target&apos;s own winning ticket") || svg.contains("the target's own winning ticket");
        assert_eq!(reference, target == "classes=5-9", "only the forward transfer has a target run");
    }
    let svg = std::fs::read_to_string(figures.join("image-mnist-lenet-classes=5-9-test_accuracy.svg")).unwrap();
    assert!(svg.contains("ticket of image/mnist-lenet classes=0-4 prune=0.36"), "the source's line is labeled");
    let script = r#"
import sys, pyarrow.ipc as ipc
t = ipc.open_file(sys.argv[1]).read_all()
print(t.num_rows, t.schema.field("level").type, t.schema.field("transferred_minus_random").type, t.column("source_task")[0])
"#;
    if let Some(out) = python(script, &[&matrix.join("matrix.arrow")]) {
        assert_eq!(out.trim(), "20 uint32 double image/mnist-lenet");
    }

    let no_matrix = out.path().join("refused");
    refused(&["transfer-matrix", target.to_str().unwrap(), "--out", no_matrix.to_str().unwrap()], 2, &["is not a transfer folder"], out.path());
    refused(&["transfer-matrix", dir.to_str().unwrap(), "--out", no_matrix.to_str().unwrap(), "--metric", "bleu"], 2, &["--metric bleu", "test_accuracy@val"], out.path());
}

#[test]
fn optimizer_transfer_killed_at_any_moment_resumes_to_the_uninterrupted_results() {
    let mnist = mnist_source();
    let (data, source) = (mnist.data.as_str(), &mnist.run);
    let args = |out: &Path| -> Vec<String> {
        [
            "transfer", source.to_str().unwrap(), "--to", "image/mnist-lenet", "--set", "optimizer=sgd", "--set", "lr=0.05", "--set", "lr_milestones=200it",
            "--controls", "reinit,shuffle", "--set", "eval_every=50it", "--device", "cpu", "--quiet", "--data-dir", data, "--out", out.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    };
    let clean = tempfile::tempdir().unwrap();
    let clean_args = args(clean.path());
    run_ok(&clean_args.iter().map(String::as_str).collect::<Vec<_>>());
    let config = std::fs::read_to_string(run_dir(clean.path()).join("config.toml")).unwrap();
    assert!(config.contains("optimizer = \"sgd\"") && config.contains("lr_milestones = \"200it\""), "{config}");

    let killed = tempfile::tempdir().unwrap();
    let killed_args = args(killed.path());
    kill_repeatedly_then_finish(&killed_args.iter().map(String::as_str).collect::<Vec<_>>(), &[500, 1700, 3300, 5200]);
    for file in ["transfer.csv", "curves.csv"] {
        let a = std::fs::read_to_string(run_dir(clean.path()).join(file)).unwrap();
        let b = std::fs::read_to_string(run_dir(killed.path()).join(file)).unwrap();
        assert!(a == b, "{file} differs after SIGKILL and resume");
    }
}

/// A transfer killed after its last ticket's result and before its tables leaves them a level
/// behind; the rerun trains nothing and must still bring them up to date (the window CI once
/// caught in `harness run`, which transfer's end of pass shares). Tables already up to date are
/// left alone.
#[test]
fn a_transfer_rerun_that_trains_nothing_brings_tables_a_kill_left_behind_up_to_date() {
    let mnist = mnist_source();
    let (data, source) = (mnist.data.as_str(), &mnist.run);
    let out = tempfile::tempdir().unwrap();
    let args = ["transfer", source.to_str().unwrap(), "--to", "image/mnist-lenet", "--controls", "reinit", "--device", "cpu", "--quiet", "--data-dir", data, "--out", out.path().to_str().unwrap()];
    let dir = results_dir(&run_ok(&args).stdout);
    let tables = ["transfer.csv", "transfer.arrow", "curves.csv", "curves.arrow"];
    let last = last_level(&dir.join("transfer.csv"));
    assert_ne!(last, "0", "the transfer trains levels beyond 0");

    let before = modified(&dir.join("transfer.csv"));
    run_ok(&args);
    assert_eq!(modified(&dir.join("transfer.csv")), before, "an up-to-date table was rewritten");

    let written = leave_tables_a_level_behind(&dir, &tables, &last);
    let tickets = snapshot(&dir.join("rep-0"));
    assert!(tickets.keys().any(|p| p.ends_with("result.json")), "the finished tickets are under rep-0: {tickets:?}");
    run_ok(&args);
    for (table, bytes) in tables.iter().zip(&written) {
        assert!(&std::fs::read(dir.join(table)).unwrap() == bytes, "{table} was left behind the finished tickets");
    }
    assert_eq!(snapshot(&dir.join("rep-0")), tickets, "the rerun trained a finished ticket again");
}

#[test]
fn bad_transfer_requests_are_refused_with_exit_2_before_any_write() {
    let mnist = mnist_source();
    let (data, source, sources) = (mnist.data.as_str(), &mnist.run, &mnist.sources);
    let other_task = imp_run(data, sources.path(), &["--set", "classes=0-4"]);
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let s = source.to_str().unwrap();
    let transfer = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = ["transfer", s, "--to", "image/mnist-lenet", "--device", "cpu", "--quiet", "--data-dir", data, "--out", o].map(String::from).to_vec();
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    };
    let check = |args: Vec<String>, needles: &[&str]| {
        refused(&args.iter().map(String::as_str).collect::<Vec<_>>(), 2, needles, sources.path());
        assert!(std::fs::read_dir(out.path()).unwrap().next().is_none(), "{args:?} wrote into --out");
    };
    check(transfer(&["--levels", "1,7"]), &["--levels 7: the source run has levels 0,1,2"]);
    check(transfer(&["--replicates", "2"]), &["1 replicate(s) with rewound weights, fewer than --replicates 2"]);
    check(transfer(&["--controls", "target_winning"]), &["needs --target-run DIR"]);
    check(transfer(&["--controls", "winning"]), &["invalid value 'winning'", "transferred"]);
    check(transfer(&["--set", "clases=5-9"]), &["clases", "classes"]);

    // A source that is not a run, and a run of another task as the target's reference.
    let empty = tempfile::tempdir().unwrap();
    let mut args = transfer(&[]);
    args[1] = empty.path().to_str().unwrap().to_string();
    check(args, &["cannot be a transfer source", "has no config.toml"]);
    let mut args = transfer(&["--target-run", other_task.to_str().unwrap()]);
    args[3] = "image/fashion-mnist-lenet".into();
    // (Fashion-MNIST's files are absent, but the target run is checked first.)
    check(args, &["--target-run", "is a run of image/mnist-lenet, not of the target task image/fashion-mnist-lenet"]);

    // Another architecture: the Conv-2 target has none of LeNet's parameters (small CIFAR files
    // in the real format, so the data loads and the networks are compared).
    let cifar = tempfile::tempdir().unwrap();
    let batches = cifar.path().join("cifar10/cifar-10-batches-bin");
    std::fs::create_dir_all(&batches).unwrap();
    let split = |n: usize| lottery_datasets::ImageSplit {
        n,
        channels: 3,
        height: 32,
        width: 32,
        pixels: (0..n * 3072).map(|i| (i % 251) as u8).collect(),
        labels: (0..n).map(|i| (i % 10) as u8).collect(),
    };
    for name in ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"] {
        lottery_datasets::write_cifar_batch(&batches.join(name), &split(70)).unwrap();
    }
    let mut args = transfer(&[]);
    args[3] = "image/cifar10-conv2".into();
    args[8] = cifar.path().to_str().unwrap().to_string();
    check(args, &["does not fit image/cifar10-conv2", "is a parameter of the", "input and output layers"]);

    // A transfer is not a source, nor a target run.
    run_ok(&transfer(&["--levels", "0,1", "--controls", "reinit"]).iter().map(String::as_str).collect::<Vec<_>>());
    let made = run_dir(out.path());
    let before = snapshot(out.path());
    let mut args = transfer(&[]);
    args[1] = made.to_str().unwrap().to_string();
    refused(&args.iter().map(String::as_str).collect::<Vec<_>>(), 2, &["it is a transfer; give the folder of the `harness run`"], out.path());
    refused(
        &transfer(&["--target-run", made.to_str().unwrap()]).iter().map(String::as_str).collect::<Vec<_>>(),
        2,
        &["it is a transfer; give the folder of a `harness run` of the target task"],
        out.path(),
    );
    assert_eq!(snapshot(out.path()), before);
}
