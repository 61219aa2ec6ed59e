//! Atari tickets through ALE, driven through the binary. ROMs come from where users get them
//! (the ale-py package `./lottery` installs, or ALE_ROM_DIR); without one the run tests are
//! skipped with a message, unless LOTTERY_REQUIRE_PYTHON=1 (`./lottery test`) makes that a failure.
#![cfg(feature = "ale")]

mod common;

use common::*;

fn have_pong() -> bool {
    match lottery_envs::atari::roms::find("pong", None) {
        Ok(_) => true,
        Err(e) => {
            assert!(std::env::var("LOTTERY_REQUIRE_PYTHON").as_deref() != Ok("1"), "{e}");
            eprintln!("skipped: {e}");
            false
        }
    }
}

fn smoke_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "atari/pong", "--preset", "smoke", "--device", "cpu", "--quiet", "--out", out];
    args.extend_from_slice(extra);
    args
}

#[test]
fn pong_smoke_run_writes_the_comparison_of_game_scores() {
    if !have_pong() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    run_ok(&smoke_args(out.path().to_str().unwrap(), &["--prune", "0.9"]));
    let dir = run_dir(out.path());
    for file in ["comparison.csv", "comparison.arrow", "curves.csv", "curves.arrow", "config.toml"] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    let rows = csv_rows(&dir.join("comparison.csv"));
    let test: Vec<_> = rows.iter().filter(|r| r["metric"] == "test_return").collect();
    assert_eq!(test.len(), 12, "levels 0..11 to density 0.1: {rows:?}");
    for row in &test {
        // Pong scores lie in [-21, 21] (the smoke preset cuts games at 200 frames).
        let v: f64 = row["winning_mean"].parse().unwrap();
        assert!((-21.0..=21.0).contains(&v), "{row:?}");
    }
    assert!(!test[11]["reinit_mean"].is_empty(), "reinit control at the last level");
}

/// The emulators' states (and the record of finished games) are part of each checkpoint: a
/// run killed mid-ticket and resumed reproduces the uninterrupted run exactly.
#[test]
fn atari_run_killed_mid_ticket_resumes_to_the_uninterrupted_results() {
    if !have_pong() {
        return;
    }
    let extra = ["--prune", "0.36", "--set", "steps=40it", "--set", "eval_every=4it", "--controls", "winning"];
    let clean = tempfile::tempdir().unwrap();
    run_ok(&smoke_args(clean.path().to_str().unwrap(), &extra));
    let killed = tempfile::tempdir().unwrap();
    kill_repeatedly_then_finish(&smoke_args(killed.path().to_str().unwrap(), &extra), &[2500, 5000]);
    assert_same_results(clean.path(), killed.path());
}

#[test]
fn a_missing_rom_names_the_three_places_to_put_one() {
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().to_str().unwrap();
    let out = harness()
        .args(["run", "atari/breakout", "--preset", "smoke", "--out", dir])
        .env_remove("ALE_ROM_DIR")
        .env("LOTTERY_CACHE", dir)
        .env("PYTHONPATH", dir)
        .env("PYTHONNOUSERSITE", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("ale-py found by python3") {
        eprintln!("skipped: python3 finds an ale-py installed system-wide: {err}");
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--rom-dir") && err.contains("ALE_ROM_DIR") && err.contains("ale-py") && err.contains("breakout"), "{err}");
    // An explicit --rom-dir without the ROM is an error of its own, not a fallback elsewhere.
    let out = harness().args(["run", "atari/breakout", "--preset", "smoke", "--rom-dir", dir, "--out", dir]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--rom-dir") && err.contains("has no breakout.bin"), "{err}");
}

#[test]
fn list_marks_the_papers_games_that_have_a_rom() {
    if !have_pong() {
        return;
    }
    let out = run_ok(&["list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let pong = text.lines().find(|l| l.starts_with("atari/pong ")).unwrap_or_else(|| panic!("{text}"));
    assert!(pong.contains("[ROM found]"), "{pong}");
    assert!(text.lines().any(|l| l.starts_with("atari/<name>") && l.contains("ms_pacman")), "{text}");
}

fn curve_of(dir: &std::path::Path, split: &str, metric: &str) -> Vec<(String, String)> {
    csv_rows(&dir.join("curves.csv")).into_iter().filter(|r| r["split"] == split && r["metric"] == metric).map(|r| (r["step"].clone(), r["value"].clone())).collect()
}

/// `policy=uniform` scores the random policy under the very protocol a learned one is scored
/// by: its scores do not depend on what training does (here the learning rate), while the
/// critic still trains (the losses differ).
#[test]
fn the_uniform_policys_scores_do_not_depend_on_training() {
    if !have_pong() {
        return;
    }
    let runs: Vec<_> = ["0.001", "0.01"]
        .iter()
        .map(|lr| {
            let out = tempfile::tempdir().unwrap();
            let lr = format!("lr={lr}");
            let extra = ["--prune", "0.2", "--controls", "winning", "--set", "policy=uniform", "--set", &lr, "--set", "steps=24it", "--set", "eval_every=12it"];
            run_ok(&smoke_args(out.path().to_str().unwrap(), &extra));
            let dir = run_dir(out.path());
            assert!(std::fs::read_to_string(dir.join("config.toml")).unwrap().contains("policy = \"uniform\""));
            (out, dir)
        })
        .collect();
    let (a, b) = (&runs[0].1, &runs[1].1);
    for split in ["test", "val"] {
        let curve = curve_of(a, split, "return");
        assert!(curve.len() >= 2, "{split}: {curve:?}");
        assert_eq!(curve, curve_of(b, split, "return"), "{split} returns");
    }
    assert_ne!(curve_of(a, "train", "loss"), curve_of(b, "train", "loss"), "the critic trains at the two rates");
}

#[test]
fn unknown_atari_policy_or_optimizer_is_refused_with_the_choices() {
    if !have_pong() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    refused(&smoke_args(dir, &["--set", "policy=greedy"]), 2, &["policy", "learned, uniform"], out.path());
    refused(&smoke_args(dir, &["--set", "optimizer=sgd"]), 2, &["optimizer", "adam, rmsprop"], out.path());
    refused(&smoke_args(dir, &["--set", "advantage_clip=-1"]), 2, &["advantage_clip", "0 (no clipping)"], out.path());
}
