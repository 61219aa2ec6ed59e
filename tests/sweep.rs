//! Scale-out without a cluster: one run folder written by several processes at once (one
//! replicate each), graceful stops on SIGUSR1, and sweeps run with `--emit shell`, their status,
//! collection and Kubernetes manifest, driven through the `harness` binary. The same sweeps on a
//! real Slurm are in tests/slurm.rs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

fn lenet<'a>(data: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "image/mnist-lenet", "--preset", "smoke", "--prune", "0.36", "--controls", "reinit,shuffle", "--device", "cpu", "--threads", "1", "--quiet", "--data-dir", data, "--out", out];
    args.extend_from_slice(extra);
    args
}

fn assert_same_tables(a: &Path, b: &Path) {
    for file in ["comparison.csv", "curves.csv", "comparison.arrow", "curves.arrow"] {
        let x = std::fs::read(a.join(file)).unwrap_or_else(|e| panic!("{}: {e}", a.join(file).display()));
        let y = std::fs::read(b.join(file)).unwrap_or_else(|e| panic!("{}: {e}", b.join(file).display()));
        assert!(x == y, "{file} differs between {} and {}", a.display(), b.display());
    }
}

#[test]
fn two_processes_training_different_replicates_of_one_folder_write_the_tables_of_one_process() {
    two_writers_of_one_folder("flock");
}

/// The same with the pid-file locks of filesystems without `flock`.
#[test]
fn two_writers_of_one_folder_agree_with_pid_file_locks_too() {
    two_writers_of_one_folder("pidfile");
}

fn two_writers_of_one_folder(lock: &str) {
    let data = tempfile::tempdir().unwrap();
    let data_dir = mnist_folder(data.path());
    let data_dir = data_dir.to_str().unwrap();
    let one = tempfile::tempdir().unwrap();
    run_ok(&lenet(data_dir, one.path().to_str().unwrap(), &["--replicates", "2"]));

    let two = tempfile::tempdir().unwrap();
    let out = two.path().to_str().unwrap();
    let children: Vec<_> = ["0", "1"]
        .iter()
        .map(|r| {
            let args = lenet(data_dir, out, &["--replicates", "2", "--replicate", r]);
            harness().args(args).env("LOTTERY_LOCK", lock).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    for child in children {
        let done = child.wait_with_output().unwrap();
        assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    }
    assert_same_tables(&run_dir(one.path()), &run_dir(two.path()));
    let config = std::fs::read_to_string(run_dir(two.path()).join("config.toml")).unwrap();
    assert!(config.contains("replicates = 2"), "{config}");
    // Pid-file locks are released (removed) by their holders.
    let left: Vec<_> = snapshot(two.path()).into_keys().filter(|p| p.file_name().is_some_and(|n| n == ".lock.pid")).collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_replicate_beyond_the_runs_replicates_is_refused_with_the_fix() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = mnist_folder(data.path());
    let out = tempfile::tempdir().unwrap();
    let args = lenet(data_dir.to_str().unwrap(), out.path().to_str().unwrap(), &["--replicates", "2", "--replicate", "2"]);
    refused(&args, 2, &["--replicate 2", "numbered 0 to 1", "--replicates 3"], out.path());
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "a refused run writes nothing");
}

/// Every `checkpoint.json` under `dir`.
fn checkpoints(dir: &Path) -> Vec<PathBuf> {
    snapshot(dir).into_keys().filter(|p| p.file_name().is_some_and(|n| n == "checkpoint.json")).collect()
}

#[test]
fn sigusr1_stops_a_run_with_a_checkpoint_between_evaluations_and_exit_75_and_the_rerun_finishes_it_unchanged() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = mnist_folder(data.path());
    let data_dir = data_dir.to_str().unwrap();
    // No periodic checkpoint (one evaluation at the end): any checkpoint is the stop's.
    let extra = ["--set", "eval_every=1000it"];
    let clean = tempfile::tempdir().unwrap();
    run_ok(&lenet(data_dir, clean.path().to_str().unwrap(), &extra));

    // A signal can land between two tickets (a stop without a checkpoint, also exit 75); try
    // again until one lands inside a ticket, as nearly every one does.
    for attempt in 0..5 {
        let stopped = tempfile::tempdir().unwrap();
        let out = stopped.path().to_str().unwrap();
        let child = harness().args(lenet(data_dir, out, &extra)).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stopped.path().read_dir().unwrap().flatten().any(|run| run.path().join("rep-0/level-01/winning").is_dir()) {
            assert!(Instant::now() < deadline, "the run never reached level 1");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(30 * attempt as u64));
        // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGUSR1) }, 0);
        let done = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert_eq!(done.status.code(), Some(75), "{stderr}");
        assert!(stderr.contains("stopped by SIGUSR1") && stderr.contains("rerun the same command to resume"), "{stderr}");
        let Some(checkpoint) = checkpoints(stopped.path()).pop() else { continue };
        let progress: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&checkpoint).unwrap()).unwrap();
        assert!(progress["loss_count"].as_u64().unwrap() > 0, "the stop checkpoint is between evaluations: {progress}");
        // The stopped process released its locks: the rerun is not refused, and resumes.
        run_ok(&lenet(data_dir, out, &extra));
        assert!(checkpoints(stopped.path()).is_empty());
        assert_same_tables(&run_dir(clean.path()), &run_dir(stopped.path()));
        return;
    }
    panic!("no SIGUSR1 of 5 landed inside a ticket");
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const SWEEP: &str = r#"
name = "tiny"
replicates = 2
device = "cpu"
threads = 1
[[runs]]
task = "image/mnist-lenet"
preset = "smoke"
prune = 0.2
controls = ["reinit"]
[[runs]]
task = "control/cartpole"
preset = "smoke"
prune = 0.2
replicates = 1
"#;

fn status(results: &Path) -> serde_json::Value {
    let out = run_ok(&["sweep", "status", results.to_str().unwrap(), "--json"]);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_sweep_runs_on_this_machine_and_its_status_names_a_failed_unit_with_its_error() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = mnist_folder(data.path());
    let work = tempfile::tempdir().unwrap();
    let file = write(work.path(), "tiny.toml", SWEEP);
    let results = work.path().join("results");
    let (file_s, results_s, data_s) = (file.to_str().unwrap(), results.to_str().unwrap(), data_dir.to_str().unwrap());

    let out = run_ok(&["sweep", file_s, "--out", results_s, "--emit", "shell", "--jobs", "2", "--data-dir", data_s, "--submit"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("tiny: 2 runs, 3 units"), "{stdout}");
    assert!(stdout.contains("3 units: 3 done, 0 running, 0 failed, 0 pending"), "{stdout}");
    let report = status(&results);
    assert_eq!((report["done"].as_u64(), report["failed"].as_u64()), (Some(3), Some(0)));
    // The lenet run's two replicates, written by two units, are both in its table.
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(results.join("sweep.json")).unwrap()).unwrap();
    let lenet_dir = PathBuf::from(manifest["runs"][0]["dir"].as_str().unwrap());
    let rows = csv_rows(&lenet_dir.join("comparison.csv"));
    assert!(rows.iter().all(|r| r["replicates"] == "2"), "{rows:?}");
    // Units already done are not trained again.
    let before = snapshot(&lenet_dir.join("rep-0"));
    run_ok(&["sweep", "run-unit", results.join("sweep.json").to_str().unwrap(), "0"]);
    assert_eq!(snapshot(&lenet_dir.join("rep-0")), before);
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(results.join("units/0/state.json")).unwrap()).unwrap();
    assert_eq!(state["attempts"].as_array().unwrap().len(), 2);

    // A unit whose data went missing after the sweep was written fails; the status says which
    // and why, and the other units keep their state.
    let broken = work.path().join("broken");
    let moved = work.path().join("moved-data");
    run_ok(&["sweep", file_s, "--out", broken.to_str().unwrap(), "--emit", "shell", "--data-dir", data_s]);
    std::fs::rename(&data_dir, &moved).unwrap();
    let failed = harness().args(["sweep", "run-unit", broken.to_str().unwrap(), "1"]).output().unwrap();
    std::fs::rename(&moved, &data_dir).unwrap();
    assert_eq!(failed.status.code(), Some(1), "{}", String::from_utf8_lossy(&failed.stderr));
    let report = status(&broken);
    assert_eq!((report["failed"].as_u64(), report["pending"].as_u64()), (Some(1), Some(2)));
    let text = String::from_utf8_lossy(&run_ok(&["sweep", "status", broken.to_str().unwrap()]).stdout).into_owned();
    assert!(text.contains("failed   unit   1") && text.contains("mnist"), "{text}");
    // Rerunning the unit once the data is back finishes it.
    run_ok(&["sweep", "run-unit", broken.to_str().unwrap(), "1"]);
    assert_eq!(status(&broken)["done"].as_u64(), Some(1));

    // `harness collect` rebuilds every run's tables from the finished tickets.
    let comparison = std::fs::read(lenet_dir.join("comparison.csv")).unwrap();
    std::fs::remove_file(lenet_dir.join("comparison.csv")).unwrap();
    let out = run_ok(&["collect", results_s]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("tables rebuilt from") && stdout.contains("replicate 1:"), "{stdout}");
    assert_eq!(std::fs::read(lenet_dir.join("comparison.csv")).unwrap(), comparison);
}

#[test]
fn the_kubernetes_job_is_an_indexed_job_with_one_pod_per_unit() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = mnist_folder(data.path());
    let work = tempfile::tempdir().unwrap();
    let text = SWEEP.replace("device = \"cpu\"", "device = \"cuda\"")
        + "[resources]\nmemory = \"4Gi\"\n[k8s]\nimage = \"ghcr.io/lab/lottery:1\"\nclaim = \"results\"\ndata_claim = \"datasets\"\nparallel = 2\n";
    let file = write(work.path(), "k8s.toml", &text);
    let results = work.path().join("results");
    // Written on a machine without a GPU or kubectl (an empty PATH): the job is written and the
    // line that applies it printed.
    let no_tools = tempfile::tempdir().unwrap();
    let args = ["sweep", file.to_str().unwrap(), "--out", results.to_str().unwrap(), "--emit", "k8s", "--data-dir", data_dir.to_str().unwrap(), "--submit"];
    let out = harness().args(args).env("PATH", no_tools.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("kubectl not found") && stdout.contains(&format!("kubectl apply -f {}", results.join("sweep.k8s.yaml").display())), "{stdout}");
    let yaml = results.join("sweep.k8s.yaml");
    let script = r#"
import json, sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
job = docs[0]
spec = job["spec"]
pod = spec["template"]["spec"]
c = pod["containers"][0]
print(json.dumps({
    "docs": len(docs), "kind": job["kind"], "api": job["apiVersion"], "mode": spec["completionMode"],
    "completions": spec["completions"], "parallelism": spec["parallelism"], "restart": pod["restartPolicy"],
    "command": c["command"], "gpu": c["resources"]["limits"]["nvidia.com/gpu"], "memory": c["resources"]["requests"]["memory"],
    "mounts": {m["name"]: m["mountPath"] for m in c["volumeMounts"]},
    "claims": {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]},
    "index_env": [e["name"] for e in c["env"]],
}))
"#;
    let Some(parsed) = python_with(&["yaml"], script, &[&yaml]) else { return };
    let job: serde_json::Value = serde_json::from_str(&parsed).unwrap();
    assert_eq!(job["docs"], 1);
    assert_eq!((job["kind"].as_str(), job["api"].as_str(), job["mode"].as_str()), (Some("Job"), Some("batch/v1"), Some("Indexed")));
    assert_eq!((job["completions"].as_u64(), job["parallelism"].as_u64(), job["restart"].as_str()), (Some(3), Some(2), Some("Never")));
    let manifest = results.join("sweep.json");
    assert_eq!(job["command"], serde_json::json!(["harness", "sweep", "run-unit", manifest.to_str().unwrap(), "$(JOB_COMPLETION_INDEX)"]));
    assert_eq!(job["index_env"], serde_json::json!(["JOB_COMPLETION_INDEX"]));
    assert_eq!((job["gpu"].as_u64(), job["memory"].as_str()), (Some(1), Some("4Gi")));
    assert_eq!(job["mounts"]["results"].as_str(), Some(results.to_str().unwrap()));
    assert_eq!(job["mounts"]["data"].as_str(), Some(data_dir.to_str().unwrap()));
    assert_eq!((job["claims"]["results"].as_str(), job["claims"]["data"].as_str()), (Some("results"), Some("datasets")));
    // Each unit of a CUDA sweep trains on CUDA.
    let units: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert!(units["units"][0]["command"].as_str().unwrap().contains("--device cuda"));
}

#[test]
fn malformed_sweeps_and_units_are_refused_with_what_to_change() {
    let work = tempfile::tempdir().unwrap();
    let results = work.path().join("results");
    let r = results.to_str().unwrap();
    let cases: [(&str, &[&str]); 4] = [
        ("name = \"x\"\n[[runs]]\ntask = \"image/mnist-lenet\"\nprnue = 0.5\n", &["runs[0].prnue: unknown option", "prune"]),
        ("name = \"x\"\n[[runs]]\ntask = \"image/mnist-lenett\"\n", &["sweep run image/mnist-lenett", "image/mnist-lenet"]),
        ("name = \"x\"\n[[runs]]\ntask = \"control/cartpole\"\n[runs.grid]\nrate = [0.2, 1.5]\n", &["sweep run control/cartpole (rate=1.5)", "--rate"]),
        ("name = \"x\"\n[[runs]]\ntask = \"control/cartpole\"\n[[runs]]\ntask = \"control/cartpole\"\npreset = \"quick\"\n", &["the same run as control/cartpole"]),
    ];
    for (text, needles) in cases {
        let file = write(work.path(), "bad.toml", text);
        refused(&["sweep", file.to_str().unwrap(), "--out", r, "--emit", "shell"], 2, needles, work.path());
        assert!(!results.exists(), "a refused sweep writes nothing");
    }
    let file = write(work.path(), "ok.toml", "name = \"x\"\n[[runs]]\ntask = \"control/cartpole\"\npreset = \"smoke\"\n");
    refused(&["sweep", file.to_str().unwrap(), "--out", r, "--emit", "k8s"], 2, &["[k8s] image"], work.path());
    run_ok(&["sweep", file.to_str().unwrap(), "--out", r, "--emit", "shell"]);
    refused(&["sweep", "run-unit", r, "7"], 2, &["unit 7 is not in", "units 0 to 0"], work.path());
    refused(&["sweep", "status", work.path().to_str().unwrap()], 2, &["is not a sweep manifest"], work.path());
    // Another sweep into the same results folder would change units under a running job.
    let other = write(work.path(), "other.toml", "name = \"x\"\n[[runs]]\ntask = \"control/cartpole\"\npreset = \"smoke\"\nprune = 0.5\n");
    refused(&["sweep", other.to_str().unwrap(), "--out", r, "--emit", "shell"], 2, &["holds another sweep", "another --out"], work.path());
}

#[test]
fn every_shipped_sweep_expands_into_runs_harness_run_accepts() {
    let sweeps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sweeps");
    let data = tempfile::tempdir().unwrap();
    let data_dir = mnist_folder(data.path());
    let mut checked = 0;
    for entry in std::fs::read_dir(&sweeps).unwrap() {
        let file = entry.unwrap().path();
        if file.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let out = tempfile::tempdir().unwrap();
        let run = harness()
            .args(["sweep", file.to_str().unwrap(), "--out", out.path().to_str().unwrap(), "--emit", "slurm", "--data-dir", data_dir.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        // Data this machine lacks (WikiText-2 here) is the one acceptable refusal.
        let missing_data = stderr.contains("dataset `") && stderr.contains("is missing");
        assert!(run.status.success() || missing_data, "{}: {stderr}", file.display());
        if run.status.success() {
            let script = std::fs::read_to_string(out.path().join("sweep.sbatch")).unwrap();
            assert!(script.contains("#SBATCH --array=0-"), "{script}");
        }
        checked += 1;
    }
    assert!(checked >= 4, "sweeps/ holds the smoke sweep and the paper figures");
}
