//! `harness suite run`: a suite's entries run through the engine, judged against expectations
//! and a baseline, with reports a real JUnit consumer (the `junitparser` package) reads.

mod common;

use std::path::{Path, PathBuf};

use common::{harness, python_with, refused};

/// Two smoke entries of seconds each.
const SUITE: &str = r#"
name = "t"

[tolerance]
sigmas = 3.0
relative = 0.02

[[entry]]
task = "control/cartpole"
preset = "smoke"
prune = 0.36
replicates = 2
expect = ["dense test_return > 0", "sparsest_density <= 0.65"]

[[entry]]
name = "mountaincar"
task = "control/mountaincar"
preset = "smoke"
prune = 0.2
expect = ["dense test_return >= -200"]
"#;

fn write_suite(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("suite.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn suite_run(suite: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = vec!["suite".into(), "run".into(), suite.display().to_string(), "--out".into(), out.display().to_string()];
    args.extend(["--threads", "1", "--device", "cpu"].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    harness().args(&args).output().unwrap()
}

/// (tests, failures, errors, [(testcase name, failure or error message)]) as junitparser reads
/// the file.
fn junit(path: &Path) -> Option<(usize, usize, usize, Vec<(String, String)>)> {
    let script = r#"
import sys, json
from junitparser import JUnitXml, Failure, Error
xml = JUnitXml.fromfile(sys.argv[1])
tests = failures = errors = 0
bad = []
for suite in xml:
    tests += suite.tests; failures += suite.failures; errors += suite.errors
    for case in suite:
        for r in case.result:
            if isinstance(r, (Failure, Error)):
                bad.append([case.name, r.message])
print(json.dumps([tests, failures, errors, bad]))
"#;
    let out = python_with(&["junitparser"], script, &[path])?;
    let (tests, failures, errors, bad): (usize, usize, usize, Vec<(String, String)>) = serde_json::from_str(out.trim()).unwrap();
    Some((tests, failures, errors, bad))
}

#[test]
fn a_suite_passes_against_its_own_baseline_and_a_perturbed_baseline_fails_with_the_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let suite = write_suite(dir.path(), SUITE);
    let out = dir.path().join("out");
    let baseline = dir.path().join("baseline");

    // Two jobs side by side write the runs and, on purpose, the baseline.
    let first = suite_run(&suite, &out, &["--jobs", "2", "--update-baseline", baseline.to_str().unwrap()]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stdout));
    for entry in ["control-cartpole", "mountaincar"] {
        for file in ["config.toml", "comparison.csv"] {
            assert!(baseline.join(entry).join(file).is_file(), "baseline lacks {entry}/{file}");
        }
        assert!(out.join("logs").join(format!("{entry}.log")).is_file());
    }

    // Against it, a rerun (which resumes the finished runs) passes every check.
    let second = suite_run(&suite, &out, &["--baseline", baseline.to_str().unwrap()]);
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stdout));
    if let Some((tests, failures, errors, _)) = junit(&out.join("junit.xml")) {
        // 2 runs + 3 expectations + a check per (metric, level, kind) of the baselines.
        assert!(tests > 5 + 2 * 2, "{tests} testcases");
        assert_eq!((failures, errors), (0, 0));
    }

    // The baseline says the winning ticket at level 1 scored 1000 (CartPole-v1 ends at 500): the
    // run is now worse by far more than any tolerance, a regression.
    let csv = baseline.join("control-cartpole/comparison.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let column = header.iter().position(|h| *h == "winning_mean").unwrap();
    let row = lines.iter().position(|l| l.starts_with("1,") && l.contains(",test_return,")).unwrap();
    let mut cells: Vec<String> = lines[row].split(',').map(String::from).collect();
    let now = cells[column].parse::<f64>().unwrap();
    cells[column] = "1000".into();
    lines[row] = cells.join(",");
    std::fs::write(&csv, lines.join("\n") + "\n").unwrap();

    let junit_path = dir.path().join("ci/junit.xml");
    std::fs::create_dir_all(junit_path.parent().unwrap()).unwrap();
    let third = suite_run(&suite, &out, &["--baseline", baseline.to_str().unwrap(), "--junit", junit_path.to_str().unwrap()]);
    assert_eq!(third.status.code(), Some(1), "{}", String::from_utf8_lossy(&third.stderr));
    let stdout = String::from_utf8_lossy(&third.stdout);
    assert!(stdout.contains("FAIL control/cartpole: winning test_return at level 1"), "{stdout}");
    if let Some((_, failures, errors, bad)) = junit(&junit_path) {
        assert_eq!((failures, errors), (1, 0), "{bad:?}");
        let (name, message) = &bad[0];
        assert!(name.contains("winning test_return at level 1"), "{name}");
        for needle in ["control/cartpole", "winning test_return at level 1", "baseline 1000.000000", &format!("now {now:.6}"), "worse by"] {
            assert!(message.contains(needle), "`{needle}` not in the failure message: {message}");
        }
    }
    let markdown = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(markdown.starts_with("## Suite `t`: FAILED"), "{markdown}");
    assert!(markdown.contains("| control/cartpole | winning test_return at level 1"), "{markdown}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("suite.json")).unwrap()).unwrap();
    let failed: Vec<&serde_json::Value> = json["entries"].as_array().unwrap().iter().flat_map(|e| e["checks"].as_array().unwrap()).filter(|c| c["verdict"] == "fail").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["level"], 1);
    assert_eq!(failed[0]["metric"], "test_return");
}

#[test]
fn a_failed_expectation_and_a_failed_run_exit_1_and_the_other_entries_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let suite = write_suite(
        dir.path(),
        "[[entry]]\ntask = \"control/cartpole\"\npreset = \"smoke\"\nprune = 0.2\nexpect = [\"dense test_return > 100000\"]\n\n\
         [[entry]]\ntask = \"image/mnist-lenet\"\npreset = \"smoke\"\nprune = 0.2\n",
    );
    let out = dir.path().join("out");
    // No MNIST under this data folder: that entry's run fails; the CartPole one runs.
    let output = suite_run(&suite, &out, &["--data-dir", dir.path().join("no-data").to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("FAIL control/cartpole: dense test_return > 100000"), "{stdout}");
    assert!(stdout.contains("ERROR image/mnist-lenet: harness run: harness run failed"), "{stdout}");
    assert!(out.join("runs/control-cartpole").is_dir());
    if let Some((_, failures, errors, bad)) = junit(&out.join("junit.xml")) {
        assert_eq!((failures, errors), (1, 1), "{bad:?}");
        let error = &bad.iter().find(|(name, _)| name.starts_with("run:")).unwrap().1;
        assert!(error.contains("mnist"), "the run's error names what is missing: {error}");
    }
}

#[test]
fn malformed_suites_exit_2_naming_the_line_and_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cases: [(&str, &[&str]); 6] = [
        ("[[entry]]\ntask = \"control/cartpol\"\n", &["suite.toml:2: unknown task `control/cartpol`; valid tasks (closest first): control/cartpole"]),
        ("[[entry]]\ntask = \"control/cartpole\"\nreplicate = 2\n", &["suite.toml:3: unknown field `replicate`, expected one of", "`replicates`"]),
        ("[[entry]]\ntask = \"control/cartpole\"\n\nreplicates = \"two\"\n", &["suite.toml:4:"]),
        ("[[entry]]\ntask = \"control/cartpole\"\ncontrols = [\"reinit\"]\nexpect = [\n  \"winning_minus_shuffle >= 0\",\n]\n", &["suite.toml:5:", "reads `shuffle`", "add it to the entry's controls"]),
        ("[[entry]]\ntask = \"control/cartpole\"\nset = { lrr = 0.1 }\n", &["suite.toml:1: entry `control/cartpole`: unknown hyperparameter `lrr`", "lr"]),
        // The plan is checked too: the smoke budget is 60 updates.
        ("[[entry]]\ntask = \"control/cartpole\"\npreset = \"smoke\"\nrewind = \"100it\"\n", &["suite.toml:1: entry `control/cartpole`: --rewind 100it is iteration 100, not before the end of training"]),
    ];
    for (text, needles) in cases {
        let suite = write_suite(dir.path(), text);
        let args = ["suite", "run", suite.to_str().unwrap(), "--out", out.to_str().unwrap()];
        refused(&args, 2, needles, dir.path());
        assert!(!out.exists(), "a refused suite made {}", out.display());
    }
    // A baseline folder without the entry is refused before anything runs, too.
    let suite = write_suite(dir.path(), "[[entry]]\ntask = \"control/cartpole\"\npreset = \"smoke\"\n");
    let empty = dir.path().join("empty-baseline");
    std::fs::create_dir_all(&empty).unwrap();
    let args = ["suite", "run", suite.to_str().unwrap(), "--out", out.to_str().unwrap(), "--baseline", empty.to_str().unwrap()];
    refused(&args, 2, &["no baseline for entry `control/cartpole`", "--update-baseline"], dir.path());
}
