//! `scripts/gpu-check.sh` on a machine without an NVIDIA GPU (CI's): its syntax, and its CPU
//! half — `--device cuda` refused by name, the CPU/CUDA agreement check run on two CPU runs of
//! the same smoke ticket, exit 0 (1 with `--require-gpu`); and `--prebuilt` refusing what is not
//! a bundle it can run. On a machine with a GPU the script builds the CUDA harness (or takes a
//! bundle of `scripts/gpu-bundle.sh`) and runs benches (many minutes): run it by hand there.

use std::path::Path;
use std::process::Command;

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/gpu-check.sh")
}

fn bundle_script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/gpu-bundle.sh")
}

fn has_gpu() -> bool {
    Command::new("nvidia-smi").arg("-L").output().is_ok_and(|o| o.status.success())
}

#[test]
fn gpu_check_script_parses() {
    let status = Command::new("bash").arg("-n").arg(script()).status().expect("bash runs");
    assert!(status.success(), "scripts/gpu-check.sh has a syntax error");
    let status = Command::new("bash").arg("-n").arg(bundle_script()).status().expect("bash runs");
    assert!(status.success(), "scripts/gpu-bundle.sh has a syntax error");
}

/// A bundle runs only on the libtorch it was compiled against, which `--prebuilt` loads from
/// python3's torch: a folder that is no bundle, or one built for another torch than python3's
/// (or a python3 without torch), is refused before anything runs, naming what to do.
#[test]
fn the_gpu_check_refuses_a_prebuilt_bundle_it_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = |bundle: &Path, out: &str| {
        Command::new("bash")
            .arg(script())
            .args(["--out", dir.path().join(out).to_str().unwrap(), "--prebuilt", bundle.to_str().unwrap()])
            .output()
            .expect("bash runs")
    };
    let missing = run(&dir.path().join("missing"), "missing-out");
    let stdout = String::from_utf8_lossy(&missing.stdout);
    assert_eq!(missing.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("is not a folder (make one with scripts/gpu-bundle.sh)"), "{stdout}");

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let refused = run(&empty, "empty-out");
    let stdout = String::from_utf8_lossy(&refused.stdout);
    assert_eq!(refused.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("is not a bundle of scripts/gpu-bundle.sh"), "{stdout}");

    let other_torch = dir.path().join("other-torch");
    std::fs::create_dir(&other_torch).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_harness"), other_torch.join("harness")).unwrap();
    std::fs::write(other_torch.join("MANIFEST"), "torch=0.0.1\ncommit=unknown\n").unwrap();
    let refused = run(&other_torch, "other-out");
    let stdout = String::from_utf8_lossy(&refused.stdout);
    assert_eq!(refused.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("python3 here has no torch") || stdout.contains("built against torch 0.0.1, python3 here has"),
        "{stdout}"
    );
    assert!(stdout.contains("gpu-bundle.sh --torch") || stdout.contains("without --prebuilt"), "the refusal names the fix: {stdout}");
    assert!(!dir.path().join("other-out/cpu").exists(), "nothing ran");
}

#[test]
fn without_a_gpu_the_gpu_check_runs_its_cpu_half_and_says_the_gpu_checks_did_not_run() {
    if has_gpu() {
        eprintln!("skipped: this machine has an NVIDIA GPU; run scripts/gpu-check.sh by hand");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let run = |extra: &[&str], dir: &str| {
        Command::new("bash")
            .arg(script())
            .args(["--out", out.path().join(dir).to_str().unwrap()])
            .args(extra)
            .env("HARNESS", env!("CARGO_BIN_EXE_harness"))
            .output()
            .expect("bash runs")
    };
    let result = run(&[], "plain");
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(result.status.success(), "exit {:?}\n{stdout}\n{}", result.status, String::from_utf8_lossy(&result.stderr));
    assert!(stdout.contains("no NVIDIA GPU here"), "{stdout}");
    assert!(stdout.contains("--device cuda is refused"), "{stdout}");
    assert!(stdout.contains("two CPU runs of the smoke ticket agree"), "{stdout}");
    assert!(stdout.contains("GPU checks not run"), "{stdout}");
    let summary = std::fs::read_to_string(out.path().join("plain/summary.txt")).unwrap();
    assert_eq!(summary.trim(), stdout.trim(), "the summary file holds what was printed");
    let required = run(&["--require-gpu"], "required");
    assert_eq!(required.status.code(), Some(1), "--require-gpu without a GPU exits 1");
}
