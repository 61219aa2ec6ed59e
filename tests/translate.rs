//! Transformer translation tickets on the real Multi30k files, driven through the binary.

mod common;

use common::*;

#[test]
fn multi30k_smoke_run_writes_bleu_translations_and_its_vocabulary() {
    let data_root = tempfile::tempdir().unwrap();
    // A private copy of the data folder: the joint BPE vocabulary is cached beside the data.
    let data = data_root.path().join("data");
    std::fs::create_dir_all(data.join("multi30k")).unwrap();
    for entry in std::fs::read_dir(shared_data().join("multi30k")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, data.join("multi30k").join(path.file_name().unwrap())).unwrap();
    }
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
