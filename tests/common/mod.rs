//! Helpers shared by the end-to-end tests, which drive the `harness` binary like a user.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lottery_datasets::{read_idx, write_idx_gz, IdxArray};

/// The `harness` binary, one libtorch thread per process: the tests of a file run in parallel,
/// and oversubscribed OpenMP threads spin against each other on a small machine.
pub fn harness() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_harness"));
    command.env("OMP_NUM_THREADS", "1").env("MKL_NUM_THREADS", "1");
    command
}

pub fn run_ok(args: &[&str]) -> Output {
    let out = harness().args(args).output().expect("harness starts");
    assert!(
        out.status.success(),
        "harness {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `../shared/data`, the real benchmark files beside the checkout.
pub fn shared_data() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    assert!(dir.join("mnist").is_dir(), "real test data expected at {}", dir.display());
    dir
}

fn slice(a: &IdxArray, from: usize, to: usize) -> IdxArray {
    let item: usize = a.dims[1..].iter().product();
    let mut dims = a.dims.clone();
    dims[0] = to - from;
    IdxArray { dims, data: a.data[from * item..to * item].to_vec() }
}

/// A standard MNIST data folder made from the real test split: its first 8,000 images as the
/// train files, the last 2,000 as the test files, in the same gzip IDX format.
pub fn mnist_folder(root: &Path) -> PathBuf {
    let src = shared_data().join("mnist");
    let images = read_idx(&src.join("t10k-images-idx3-ubyte.gz")).unwrap();
    let labels = read_idx(&src.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let dir = root.join("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    for (prefix, from, to) in [("train", 0, 8000), ("t10k", 8000, 10_000)] {
        write_idx_gz(&dir.join(format!("{prefix}-images-idx3-ubyte.gz")), &slice(&images, from, to)).unwrap();
        write_idx_gz(&dir.join(format!("{prefix}-labels-idx1-ubyte.gz")), &slice(&labels, from, to)).unwrap();
    }
    root.to_path_buf()
}

/// A short LeNet smoke run with both controls and frequent checkpoints (every 50 iterations): the
/// run the interruption tests stop and resume.
pub fn lenet_interrupt_args<'a>(data: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "run", "image/mnist-lenet", "--prune", "0.5", "--preset", "smoke", "--controls", "reinit,shuffle",
        "--set", "eval_every=50it", "--device", "cpu", "--quiet", "--data-dir", data, "--out", out,
    ]
}

/// The folder a `harness run` or `harness transfer` printed (its `results: DIR` line).
pub fn results_dir(stdout: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(stdout).lines().find_map(|l| l.strip_prefix("results: ")).expect("the command prints its folder"))
}

/// The one run folder under `out`.
pub fn run_dir(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    assert_eq!(dirs.len(), 1, "expected one run folder in {}: {dirs:?}", out.display());
    dirs[0].clone()
}

/// Rows of a CSV file as maps from column name to text.
pub fn csv_rows(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| headers.iter().zip(r.unwrap().iter()).map(|(h, v)| (h.to_string(), v.to_string())).collect())
        .collect()
}

/// Runs a Python script with `args`; `None` (after saying why) when Python lacks pyarrow,
/// safetensors, numpy or tokenizers, unless LOTTERY_REQUIRE_PYTHON=1 (as `./lottery test` sets), which makes
/// that a failure.
pub fn python(script: &str, args: &[&Path]) -> Option<String> {
    python_with(&["pyarrow", "safetensors", "numpy", "tokenizers"], script, args)
}

/// [`python`] with the modules the script needs (e.g. `junitparser`, `pandas`, `duckdb`).
pub fn python_with(modules: &[&str], script: &str, args: &[&Path]) -> Option<String> {
    let probe = Command::new("python3").args(["-c", &format!("import {}", modules.join(", "))]).output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        let msg = format!("python3 with {} is needed (./lottery test installs them)", modules.join(", "));
        assert!(std::env::var("LOTTERY_REQUIRE_PYTHON").as_deref() != Ok("1"), "{msg}");
        eprintln!("skipped the Python half of this test: {msg}");
        return None;
    }
    let out = Command::new("python3").arg("-c").arg(script).args(args).output().unwrap();
    assert!(out.status.success(), "python failed:\n{}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Starts `harness args` and SIGKILLs it after each of `delays_ms` (each a fresh start, which
/// resumes the previous one), then runs it to the end.
pub fn kill_repeatedly_then_finish(args: &[&str], delays_ms: &[u64]) {
    for &delay in delays_ms {
        let mut child = harness().args(args).stderr(std::process::Stdio::null()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = child.kill(); // SIGKILL on Unix
        child.wait().unwrap();
    }
    run_ok(args);
}

/// The run folders under `a` and `b` hold byte-identical comparisons and curves.
pub fn assert_same_results(a: &Path, b: &Path) {
    for file in ["comparison.csv", "curves.csv"] {
        let x = std::fs::read_to_string(run_dir(a).join(file)).unwrap();
        let y = std::fs::read_to_string(run_dir(b).join(file)).unwrap();
        assert!(x == y, "{file} differs between the two runs");
    }
}

/// The last level of the CSV table at `path` (its `level` column).
pub fn last_level(path: &Path) -> String {
    csv_rows(path).into_iter().map(|r| r["level"].clone()).max_by_key(|l| l.parse::<u32>().unwrap()).expect("the table has rows")
}

/// Leaves the tables `names` under `dir` as a process killed after the results of `level` and
/// before its tables would: `level`'s rows gone from the CSV files (by their `level` column),
/// the Arrow files cut short. Returns each table's bytes from before.
pub fn leave_tables_a_level_behind(dir: &Path, names: &[&str], level: &str) -> Vec<Vec<u8>> {
    names
        .iter()
        .map(|name| {
            let path = dir.join(name);
            let bytes = std::fs::read(&path).unwrap();
            let stale: Vec<u8> = if name.ends_with(".csv") {
                let text = String::from_utf8(bytes.clone()).unwrap();
                let mut lines = text.lines();
                let header = lines.next().unwrap();
                let column = header.split(',').position(|c| c == "level").unwrap_or_else(|| panic!("{name} has a level column"));
                std::iter::once(header).chain(lines.filter(|l| l.split(',').nth(column) != Some(level))).map(|l| format!("{l}\n")).collect::<String>().into_bytes()
            } else {
                bytes[..bytes.len() / 2].to_vec()
            };
            assert!(stale != bytes, "{name}: the stale copy differs");
            std::fs::write(&path, stale).unwrap();
            bytes
        })
        .collect()
}

/// When the file at `path` was last written.
pub fn modified(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

/// Every file under `dir` (but `.lock`) with a hash of its bytes: "unchanged" means this map is
/// equal.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, u64> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, u64>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.file_name().is_some_and(|n| n == ".lock") {
                // The lock file records its latest holder; the lock itself is the kernel's.
            } else {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&p).unwrap_or_default().hash(&mut h);
                out.insert(p, h.finish());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &mut out);
    out
}

pub fn no_nan_in_results(dir: &Path) {
    for path in snapshot(dir).keys().filter(|p| p.extension().is_some_and(|e| e == "csv" || e == "json")) {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        assert!(!text.contains("NaN") && !text.contains(",nan"), "NaN in {}", path.display());
    }
}

/// Runs `harness args`, expects exit status `code` and every needle in stderr, no panic, and
/// `watched` unchanged. Returns stdout and stderr.
pub fn refused(args: &[&str], code: i32, needles: &[&str], watched: &Path) -> (String, String) {
    let before = snapshot(watched);
    let out = harness().args(args).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert_eq!(out.status.code(), Some(code), "harness {args:?}:\n{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "harness {args:?} panicked:\n{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "harness {args:?}: expected `{needle}` in:\n{stderr}");
    }
    assert_eq!(snapshot(watched), before, "harness {args:?} changed {}", watched.display());
    no_nan_in_results(watched);
    (stdout, stderr)
}
