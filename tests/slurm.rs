//! Sweeps on a real Slurm: `harness sweep --emit slurm --submit` against a single-node cluster
//! (slurmctld and slurmd from Debian's packages, started by `scripts/slurm-cluster.sh start`,
//! as `.ci/run` does). Results must equal the same sweep run serially with `--emit shell`, and a
//! unit signalled mid-ticket (`scancel --batch --signal=USR1`) must checkpoint, requeue itself and
//! finish with the same tables.
//!
//! Without a reachable cluster these tests say so and pass, unless LOTTERY_REQUIRE_SLURM=1.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Whether a Slurm cluster answers with an idle or busy node; panics under LOTTERY_REQUIRE_SLURM=1.
fn cluster() -> bool {
    let up = Command::new("sinfo").args(["-h", "-o", "%T"]).output().is_ok_and(|o| {
        o.status.success() && String::from_utf8_lossy(&o.stdout).lines().any(|s| ["idle", "mixed", "allocated"].contains(&s.trim()))
    });
    if !up {
        let msg = "no Slurm cluster answers (start one with `scripts/slurm-cluster.sh start` and export the SLURM_CONF it prints)";
        assert!(std::env::var("LOTTERY_REQUIRE_SLURM").as_deref() != Ok("1"), "{msg}");
        eprintln!("skipped: {msg}");
    }
    up
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn status(results: &Path) -> serde_json::Value {
    let out = run_ok(&["sweep", "status", results.to_str().unwrap(), "--json"]);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Waits until no unit is running or pending (a stopped unit waiting for its requeue is
/// pending), and returns the last status.
fn wait_for(results: &Path, limit: Duration) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    loop {
        let report = status(results);
        if report["running"] == 0 && report["pending"] == 0 {
            return report;
        }
        assert!(Instant::now() < deadline, "the sweep did not finish in {limit:?}: {report}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn submitted_job(stdout: &[u8]) -> String {
    let stdout = String::from_utf8_lossy(stdout);
    stdout.lines().find_map(|l| l.strip_prefix("submitted job ")).unwrap_or_else(|| panic!("no job id in:\n{stdout}")).trim().to_string()
}

fn runs(results: &Path) -> Vec<PathBuf> {
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(results.join("sweep.json")).unwrap()).unwrap();
    manifest["runs"].as_array().unwrap().iter().map(|r| PathBuf::from(r["dir"].as_str().unwrap())).collect()
}

/// Every run of `a` has the comparison and curves of the run of the same name in `b`.
fn assert_same_runs(a: &Path, b: &Path) {
    let (ra, rb) = (runs(a), runs(b));
    assert_eq!(ra.iter().map(|r| r.file_name()).collect::<Vec<_>>(), rb.iter().map(|r| r.file_name()).collect::<Vec<_>>());
    for (x, y) in ra.iter().zip(&rb) {
        for file in ["comparison.csv", "curves.csv"] {
            let (p, q) = (std::fs::read(x.join(file)).unwrap(), std::fs::read(y.join(file)).unwrap());
            assert!(p == q, "{file} of {} differs between the Slurm and the serial sweep", x.display());
        }
    }
}

#[test]
fn a_sweep_submitted_to_slurm_writes_the_tables_of_the_same_sweep_run_serially() {
    if !cluster() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let data_dir = mnist_folder(data.path());
    let data_dir = data_dir.to_str().unwrap();
    let sweep = repo().join("sweeps/smoke.toml");
    let work = tempfile::tempdir().unwrap();
    let (on_slurm, serial) = (work.path().join("slurm"), work.path().join("serial"));

    let out = run_ok(&["sweep", sweep.to_str().unwrap(), "--out", on_slurm.to_str().unwrap(), "--emit", "slurm", "--data-dir", data_dir, "--submit"]);
    let job = submitted_job(&out.stdout);
    run_ok(&["sweep", sweep.to_str().unwrap(), "--out", serial.to_str().unwrap(), "--emit", "shell", "--jobs", "1", "--data-dir", data_dir, "--submit"]);
    let report = wait_for(&on_slurm, Duration::from_secs(900));
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["done"], 7, "{report}");
    assert_same_runs(&on_slurm, &serial);
    // Each unit ran as its array task: its output is in the unit's folder, named by the job.
    for unit in 0..7 {
        let log = on_slurm.join(format!("units/{unit}/slurm-{job}.out"));
        let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        assert!(text.contains(&format!("job {job}_{unit}")), "{text}");
        let state = std::fs::read_to_string(on_slurm.join(format!("units/{unit}/state.json"))).unwrap();
        assert!(state.contains(&format!("slurm job {job}_{unit}")), "{state}");
    }
}

const LONG: &str = r#"
name = "requeue"
replicates = 1
device = "cpu"
threads = 1
[resources]
cpus = 1
memory = "2G"
[[runs]]
task = "image/mnist-lenet"
preset = "smoke"
prune = 0.74
controls = ["reinit"]
set = { eval_every = "20it" }
"#;

#[test]
fn a_unit_signalled_mid_ticket_checkpoints_requeues_itself_and_finishes_with_the_same_tables() {
    if !cluster() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let data_dir = mnist_folder(data.path());
    let data_dir = data_dir.to_str().unwrap();
    let work = tempfile::tempdir().unwrap();
    let sweep = work.path().join("requeue.toml");
    std::fs::write(&sweep, LONG).unwrap();
    let (on_slurm, serial) = (work.path().join("slurm"), work.path().join("serial"));

    let out = run_ok(&["sweep", sweep.to_str().unwrap(), "--out", on_slurm.to_str().unwrap(), "--emit", "slurm", "--data-dir", data_dir, "--submit"]);
    let job = submitted_job(&out.stdout);
    // Mid-ticket: once the first level-1 ticket has written a checkpoint.
    let run = runs(&on_slurm).remove(0);
    let deadline = Instant::now() + Duration::from_secs(300);
    while !run.join("rep-0/level-01/winning/checkpoint.json").is_file() {
        assert!(Instant::now() < deadline, "the unit never reached level 1: {}", status(&on_slurm));
        std::thread::sleep(Duration::from_millis(20));
    }
    let scancel = Command::new("scancel").args(["--batch", "--signal=USR1", &format!("{job}_0")]).output().unwrap();
    assert!(scancel.status.success(), "{}", String::from_utf8_lossy(&scancel.stderr));

    run_ok(&["sweep", sweep.to_str().unwrap(), "--out", serial.to_str().unwrap(), "--emit", "shell", "--data-dir", data_dir, "--submit"]);
    let report = wait_for(&on_slurm, Duration::from_secs(600));
    assert_eq!(report["done"], 1, "{report}");
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(on_slurm.join("units/0/state.json")).unwrap()).unwrap();
    let attempts = state["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 2, "{state}");
    assert_eq!((attempts[0]["outcome"].as_str(), attempts[0]["exit"].as_u64()), (Some("stopped"), Some(75)), "{state}");
    assert!(attempts[0]["error"].as_str().unwrap().contains("stopped by SIGUSR1"), "{state}");
    assert_eq!(attempts.last().unwrap()["outcome"].as_str(), Some("done"), "{state}");
    assert!(attempts.last().unwrap()["scheduler"].as_str().unwrap().contains("(restart 1)"), "{state}");
    let log = std::fs::read_to_string(on_slurm.join(format!("units/0/slurm-{job}.out"))).unwrap();
    assert!(log.contains("requeueing it") && log.contains("restart 1"), "{log}");
    assert_same_runs(&on_slurm, &serial);
}
