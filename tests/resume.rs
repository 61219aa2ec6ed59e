//! A run killed with SIGKILL at any moment and run again finishes with the same results as an
//! uninterrupted run, and a finished run is never recomputed. The random-kill loop is a nightly
//! test (ignored by `./lottery test`): `./lottery test --test resume -- --ignored`.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use common::*;

fn args<'a>(data: &'a str, out: &'a str) -> Vec<&'a str> {
    lenet_interrupt_args(data, out)
}

#[test]
fn sigkill_then_rerun_gives_the_uninterrupted_results() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = mnist_folder(data.path());
    let data_dir = data_dir.to_str().unwrap();

    let clean = tempfile::tempdir().unwrap();
    run_ok(&args(data_dir, clean.path().to_str().unwrap()));
    let clean_run = run_dir(clean.path());

    let killed = tempfile::tempdir().unwrap();
    let out = killed.path().to_str().unwrap();
    // Kill at several moments: early (level 0, before or after the rewind snapshot), and later.
    for delay_ms in [700, 1900, 3100, 4700] {
        let mut child = harness().args(args(data_dir, out)).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL on Unix
        child.wait().unwrap();
    }
    run_ok(&args(data_dir, out));
    let resumed_run = run_dir(killed.path());
    assert_eq!(clean_run.file_name(), resumed_run.file_name());
    for file in ["comparison.csv", "curves.csv"] {
        let a = std::fs::read_to_string(clean_run.join(file)).unwrap();
        let b = std::fs::read_to_string(resumed_run.join(file)).unwrap();
        assert!(a == b, "{file} differs after SIGKILL and resume");
    }

    // Nothing half-written is left behind: no temporary files, no checkpoints of finished tickets.
    let mut stack = vec![resumed_run.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(!name.contains(".tmp.") && !name.starts_with("checkpoint"), "left behind: {}", path.display());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }

    // A second process on the same run folder is refused while the first one runs.
    let busy = killed.path().join("busy");
    let busy = busy.to_str().unwrap();
    let mut first = harness().args(args(data_dir, busy)).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let second = harness().args(args(data_dir, busy)).output().unwrap();
    let _ = first.kill();
    first.wait().unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("is being written by another harness process"));

    // Running again recomputes nothing.
    let result = resumed_run.join("rep-0/level-03/winning/final.safetensors");
    let before = modified(&result);
    run_ok(&args(data_dir, out));
    assert_eq!(modified(&result), before);
}

/// A process killed after writing its last ticket's result and before the tables leaves the
/// tables a level behind; the rerun trains nothing and must still bring them up to date (CI
/// caught the window once: a resumed CartPole run's comparison lacked its last level). Tables
/// already up to date are left alone.
#[test]
fn a_rerun_that_trains_nothing_brings_tables_a_kill_left_behind_up_to_date() {
    let out = tempfile::tempdir().unwrap();
    let args = ["run", "control/cartpole", "--preset", "smoke", "--device", "cpu", "--quiet", "--prune", "0.36", "--out", out.path().to_str().unwrap()];
    run_ok(&args);
    let run = run_dir(out.path());
    let tables = ["comparison.csv", "comparison.arrow", "curves.csv", "curves.arrow"];
    let levels = csv_rows(&run.join("comparison.csv")).into_iter().map(|r| r["level"].clone()).collect::<std::collections::BTreeSet<_>>();
    assert!(levels.len() >= 3, "the run has levels 0 to 2 at least: {levels:?}");

    let before = modified(&run.join("comparison.csv"));
    run_ok(&args);
    assert_eq!(modified(&run.join("comparison.csv")), before, "an up-to-date table was rewritten");

    let written = leave_tables_a_level_behind(&run, &tables, &last_level(&run.join("comparison.csv")));
    run_ok(&args);
    for (table, bytes) in tables.iter().zip(&written) {
        assert!(&std::fs::read(run.join(table)).unwrap() == bytes, "{table} was left behind the finished tickets");
    }
}

/// What fixed kill moments miss. Nightly, not in `./lottery test` (about 40 s here): a CartPole
/// smoke run to three levels killed twice at random moments within an uninterrupted run's time,
/// then run to the end, `LOTTERY_KILL_TRIES` times (default 30); each must end with the
/// uninterrupted run's tables. The moments come from `LOTTERY_KILL_SEED` (default: the clock),
/// printed, so a failure replays with the same seed. A window of a few milliseconds is hit about
/// once in a hundred tries (the one between a ticket's result and the tables took about 30 tries
/// of such kills to show, and 60 tries missed it once it was put back on purpose): this finds
/// windows over nights; each one found gets a deterministic test, as that one has above.
#[test]
#[ignore = "nightly: random kills for about 40 s (./lottery test --test resume -- --ignored)"]
fn killed_at_random_moments_again_and_again_resumes_to_the_uninterrupted_results() {
    let run_args = |out: &std::path::Path| ["run", "control/cartpole", "--preset", "smoke", "--device", "cpu", "--quiet", "--prune", "0.36", "--out", out.to_str().unwrap()].map(String::from);
    let clean = tempfile::tempdir().unwrap();
    let started = Instant::now();
    run_ok(&run_args(clean.path()).each_ref().map(String::as_str));
    let whole_ms = started.elapsed().as_millis() as u64;
    let clean_run = run_dir(clean.path());

    let env_u64 = |name: &str| std::env::var(name).ok().map(|v| v.parse::<u64>().unwrap_or_else(|_| panic!("{name} is a whole number")));
    let seed = env_u64("LOTTERY_KILL_SEED").unwrap_or_else(|| SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos() as u64);
    let tries = env_u64("LOTTERY_KILL_TRIES").unwrap_or(30);
    eprintln!("random kills: seed {seed} (LOTTERY_KILL_SEED={seed} replays them), {tries} tries, kills within {whole_ms} ms");
    // splitmix64: enough to spread kill moments, and the same on every platform.
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for attempt in 0..tries {
        let killed = tempfile::tempdir().unwrap();
        let delays: Vec<u64> = (0..2).map(|_| 20 + next() % whole_ms.max(1)).collect();
        kill_repeatedly_then_finish(&run_args(killed.path()).each_ref().map(String::as_str), &delays);
        for file in ["comparison.csv", "curves.csv", "comparison.arrow", "curves.arrow"] {
            let a = std::fs::read(clean_run.join(file)).unwrap();
            let b = std::fs::read(run_dir(killed.path()).join(file)).unwrap();
            assert!(a == b, "try {attempt}: {file} differs after kills at {delays:?} ms and a rerun (LOTTERY_KILL_SEED={seed})");
        }
    }
}
