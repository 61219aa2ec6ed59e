//! `synthetic/teacher-student` through `harness run`: the specialization metrics in the tables,
//! read by pyarrow, and the same numbers from the same seeds.

mod common;

use std::collections::BTreeMap;

use common::{csv_rows, no_nan_in_results, python, refused, results_dir, run_ok};
use lottery_engine::checkpoint::read_safetensors;
use lottery_task::TaskEnv;
use lottery_tasks::teacher_student::Analysis;

fn smoke(out: &str, extra: &[&str]) -> std::path::PathBuf {
    let mut args = vec!["run", "synthetic/teacher-student", "--preset", "smoke", "--prune", "0.5", "--device", "cpu", "--quiet", "--out", out];
    args.extend_from_slice(extra);
    results_dir(&run_ok(&args).stdout)
}

#[test]
fn teacher_student_smoke_run_reports_specialization_reproducibly() {
    let dir = tempfile::tempdir().unwrap();
    let run = smoke(dir.path().join("a").to_str().unwrap(), &[]);
    no_nan_in_results(&run);
    let rows = csv_rows(&run.join("comparison.csv"));
    let value = |metric: &str, level: &str, kind: &str| -> f64 {
        let row = rows.iter().find(|r| r["metric"] == metric && r["level"] == level).unwrap_or_else(|| panic!("no {metric} at level {level}"));
        row[&format!("{kind}_mean")].parse().unwrap()
    };
    for kind in ["winning", "reinit", "shuffle"] {
        let specialization = value("test_specialization", "4", kind);
        assert!((-1.0..=1.0).contains(&specialization), "{kind}: {specialization}");
        let recovered = value("test_recovered", "4", kind);
        assert!((0.0..=10.0).contains(&recovered) && recovered.fract() == 0.0, "{kind}: {recovered}");
        assert!(value("test_mse", "4", kind) > 0.0);
    }
    // Training moves the student towards the teacher: the dense network's correlations beat
    // those of its initialization, recorded as the first evaluation of its curve.
    let curves = csv_rows(&run.join("curves.csv"));
    let dense: Vec<f64> = curves
        .iter()
        .filter(|r| r["level"] == "0" && r["split"] == "test" && r["metric"] == "specialization")
        .map(|r| r["value"].parse().unwrap())
        .collect();
    assert!(dense.last().unwrap() > dense.first().unwrap(), "{dense:?}");

    // The same seeds give the same numbers; another teacher gives others.
    let again = smoke(dir.path().join("b").to_str().unwrap(), &[]);
    assert_eq!(std::fs::read(run.join("comparison.csv")).unwrap(), std::fs::read(again.join("comparison.csv")).unwrap());
    let other = smoke(dir.path().join("c").to_str().unwrap(), &["--set", "teacher_seed=1"]);
    assert_ne!(std::fs::read(run.join("comparison.csv")).unwrap(), std::fs::read(other.join("comparison.csv")).unwrap());

    let script = r#"
import sys, pyarrow.ipc
t = pyarrow.ipc.open_file(sys.argv[1]).read_all()
metrics = sorted(set(t.column("metric").to_pylist()))
print(",".join(metrics))
"#;
    if let Some(out) = python(script, &[&run.join("comparison.arrow")]) {
        assert_eq!(out.trim(), "test_mse,test_mse@val,test_recovered,test_recovered@val,test_specialization,test_specialization@val");
    }
}

#[test]
fn specialization_analysis_reads_every_node_of_every_ticket_from_the_weights_it_started_from() {
    let dir = tempfile::tempdir().unwrap();
    let run = smoke(dir.path().to_str().unwrap(), &["--replicates", "2"]);
    let out = run_ok(&["specialization", run.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("share of them specialized"), "{stdout}");
    for name in ["lshape", "luck", "survival"] {
        for ext in ["png", "svg"] {
            assert!(run.join(format!("figures/specialization-{name}.{ext}")).is_file(), "{name}.{ext}");
        }
    }
    let rows = csv_rows(&run.join("specialization.csv"));
    // 2 replicates x (dense + 4 levels x 3 kinds) tickets x 100 student nodes (10 x 10 wide).
    assert_eq!(rows.len(), 2 * 13 * 100);
    for row in &rows {
        for column in ["correlation_init", "correlation_end"] {
            let c: f64 = row[column].parse().unwrap();
            assert!((-1.0..=1.0).contains(&c), "{column} {c}");
        }
        assert!(row["best_teacher"].parse::<u32>().unwrap() < 10);
    }
    // Dense students keep every node; pruned ones lose some only where a node loses all of its
    // fan-in or fan-out weights, which 50% global pruning of 100 x 30 and 50 x 100 layers may do.
    assert!(rows.iter().filter(|r| r["level"] == "0").all(|r| r["survives"] == "true"));

    // The initialization the analysis rebuilds from a ticket's recorded seed is the one the
    // engine trained from: the dense ticket's weights at step 0 are the replicate's rewind point.
    let config: toml::Table = std::fs::read_to_string(run.join("config.toml")).unwrap().parse().unwrap();
    let analysis = Analysis::prepare(config["hparams"].as_table().unwrap(), &TaskEnv { data_dir: "".into(), device: tch::Device::Cpu, rom_dir: None }).unwrap();
    let result: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("rep-1/level-00/winning/result.json")).unwrap()).unwrap();
    let rebuilt = analysis.initial_weights(result["seeds"]["ticket_init"].as_u64().unwrap(), tch::Device::Cpu);
    let rewind: BTreeMap<String, tch::Tensor> = read_safetensors(&run.join("rep-1/rewind.safetensors")).unwrap().into_iter().collect();
    assert_eq!(rebuilt.keys().collect::<Vec<_>>(), rewind.keys().collect::<Vec<_>>());
    for (name, tensor) in &rebuilt {
        assert!(tensor.equal(&rewind[name]), "{name} differs from the rewind point");
    }

    let script = r#"
import sys, pyarrow.ipc
t = pyarrow.ipc.open_file(sys.argv[1]).read_all()
print(t.num_rows, t.schema.field("survives").type, t.schema.field("correlation_end").type)
"#;
    if let Some(out) = python(script, &[&run.join("specialization.arrow")]) {
        assert_eq!(out.trim(), format!("{} bool double", rows.len()));
    }

    // Several runs: recovery against the student's width, and per teacher node.
    let narrow = smoke(dir.path().join("narrow").to_str().unwrap(), &["--set", "width_multiplier=1"]);
    let figures = dir.path().join("sweep");
    let out = run_ok(&["specialization", run.to_str().unwrap(), narrow.to_str().unwrap(), "--out", figures.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("teacher nodes recovered by the dense student"), "{stdout}");
    for name in ["recovery-width", "recovery-strength"] {
        let svg = std::fs::read_to_string(figures.join(format!("{name}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{name}.svg is well-formed at its ends");
    }

    refused(&["specialization", dir.path().to_str().unwrap()], 2, &["config.toml"], dir.path());
}
