//! Transformer translation tickets on the real Multi30k files, driven through the binary.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A private copy of the shared Multi30k files under `root/data/<folder>/`, renamed by `rename`
/// (the joint BPE vocabulary is cached beside the data, so tests do not share a data folder).
fn private_multi30k(root: &Path, folder: &str, rename: impl Fn(&str) -> String) -> PathBuf {
    let data = root.join("data");
    std::fs::create_dir_all(data.join(folder)).unwrap();
    for entry in std::fs::read_dir(shared_data().join("multi30k")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap();
        std::fs::copy(&path, data.join(folder).join(rename(name))).unwrap();
    }
    data
}

fn smoke_args<'a>(task: &'a str, data: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", task, "--preset", "smoke", "--device", "cpu", "--quiet", "--data-dir", data, "--out", out];
    args.extend_from_slice(extra);
    args
}

#[test]
fn multi30k_smoke_run_writes_bleu_translations_and_its_vocabulary() {
    let data_root = tempfile::tempdir().unwrap();
    let data = private_multi30k(data_root.path(), "multi30k", str::to_string);
    let out = tempfile::tempdir().unwrap();
    let args = ["run", "translate/multi30k-transformer", "--preset", "smoke", "--prune", "0.2", "--device", "cpu", "--quiet", "--data-dir", data.to_str().unwrap(), "--out", out.path().to_str().unwrap()];
    run_ok(&args);
    let dir = run_dir(out.path());

    let rows = csv_rows(&dir.join("comparison.csv"));
    let bleu: Vec<_> = rows.iter().filter(|r| r["metric"] == "test_bleu").collect();
    assert_eq!(bleu.len(), 2, "{rows:?}");
    for row in &bleu {
        let v: f64 = row["winning_mean"].parse().unwrap();
        assert!((0.0..=100.0).contains(&v), "{row:?}");
    }
    assert!(rows.iter().any(|r| r["metric"] == "test_loss@val"));
    // Tokenized BLEU (no smoothing) beside sacreBLEU, for every level.
    let tokenized: Vec<_> = rows.iter().filter(|r| r["metric"] == "test_bleu_tok").collect();
    assert_eq!(tokenized.len(), 2, "{rows:?}");
    for row in &tokenized {
        let v: f64 = row["winning_mean"].parse().unwrap();
        assert!((0.0..=100.0).contains(&v), "{row:?}");
    }
    assert!(!bleu[1]["reinit_mean"].is_empty(), "the smoke preset trains a reinit control");

    // Every ticket writes one detokenized translation per test sentence (smoke: the first 40).
    for ticket in ["level-00/winning", "level-01/winning", "level-01/reinit"] {
        let text = std::fs::read_to_string(dir.join("rep-0").join(ticket).join("translations.test.txt")).unwrap();
        assert_eq!(text.lines().count(), 40, "{ticket}");
        assert!(!text.contains('▁') && !text.contains("<pad>"), "{ticket}: not detokenized:\n{text}");
    }
    let tokenizer = std::fs::read_to_string(dir.join("tokenizer.json")).unwrap();
    assert!(tokenizer.contains("\"BPE\"") && tokenizer.contains("</s>"));
    // The vocabulary is cached beside the data, and a rerun of a finished run recomputes nothing.
    assert_eq!(std::fs::read_dir(data.join(".vocab")).unwrap().count(), 1);
    let before = std::fs::read_to_string(dir.join("comparison.csv")).unwrap();
    run_ok(&args);
    assert_eq!(std::fs::read_to_string(dir.join("comparison.csv")).unwrap(), before);
}

/// Averaging the last checkpoints changes what is evaluated, never what is trained; the
/// snapshots are part of each checkpoint, so a run killed and resumed reproduces the
/// uninterrupted one.
#[test]
fn checkpoint_averaging_changes_only_evaluation_and_survives_a_kill() {
    let data_root = tempfile::tempdir().unwrap();
    let data = private_multi30k(data_root.path(), "multi30k", str::to_string);
    let data = data.to_str().unwrap();
    let task = "translate/multi30k-transformer";
    let plain = ["--prune", "0.2", "--controls", "winning", "--set", "eval_every=10it"];
    let averaged = [&plain[..], &["--set", "average_checkpoints=2"]].concat();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_ok(&smoke_args(task, data, a.path().to_str().unwrap(), &plain));
    run_ok(&smoke_args(task, data, b.path().to_str().unwrap(), &averaged));
    let ticket = |dir: &Path, file: &str| std::fs::read(run_dir(dir).join("rep-0/level-01/winning").join(file)).unwrap();
    assert!(ticket(a.path(), "final.safetensors") == ticket(b.path(), "final.safetensors"), "averaging changed the trained weights");
    let metrics = |dir: &Path| serde_json::from_slice::<serde_json::Value>(&ticket(dir, "result.json")).unwrap()["metrics"].clone();
    let (ma, mb) = (metrics(a.path()), metrics(b.path()));
    assert_ne!(ma["test_loss"], mb["test_loss"], "averaging the last two checkpoints did not change the evaluated network");

    let killed = tempfile::tempdir().unwrap();
    kill_repeatedly_then_finish(&smoke_args(task, data, killed.path().to_str().unwrap(), &averaged), &[2500, 5000]);
    assert_same_results(b.path(), killed.path());
}

/// WMT'14 has no checksum-verified download: fetch refuses and says what to place, a run on a
/// folder without it says the same, and a run on placed files trains (here Multi30k's files
/// stand in under WMT'14's names).
#[test]
fn wmt14_reads_hand_placed_files_and_says_how_to_place_them() {
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().to_str().unwrap();
    let out = harness().args(["data", "fetch", "wmt14-en-de", "--data-dir", dir]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no checksum-verified download") && err.contains("newstest2014.en"), "{err}");
    let out = harness().args(smoke_args("translate/wmt14-en-de-big", dir, dir, &[])).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("train.en") && err.contains("newstest2013") && err.contains("wmt14-en-de"), "{err}");

    let data_root = tempfile::tempdir().unwrap();
    let stems = [("val", "newstest2013"), ("test_2016_flickr", "newstest2014")];
    let data = private_multi30k(data_root.path(), "wmt14-en-de", |name| stems.iter().fold(name.to_string(), |n, (from, to)| n.replace(from, to)));
    let out = tempfile::tempdir().unwrap();
    run_ok(&smoke_args("translate/wmt14-en-de-base", data.to_str().unwrap(), out.path().to_str().unwrap(), &["--prune", "0.2", "--controls", "winning"]));
    let text = std::fs::read_to_string(run_dir(out.path()).join("rep-0/level-01/winning/translations.test.txt")).unwrap();
    assert_eq!(text.lines().count(), 40);
}
