//! LSTM language-model tickets on the real Penn Treebank files, driven through the binary.

mod common;

use common::*;

/// Runs the binary expecting exit `code`; returns its stderr.
fn fails(args: &[&str], code: i32) -> String {
    let out = harness().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    err
}

fn smoke_args<'a>(data: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "lm/ptb-lstm", "--preset", "smoke", "--device", "cpu", "--quiet", "--data-dir", data, "--out", out];
    args.extend_from_slice(extra);
    args
}

#[test]
fn ptb_smoke_run_trains_below_uniform_perplexity_and_writes_its_vocabulary() {
    let data = shared_data();
    let out = tempfile::tempdir().unwrap();
    run_ok(&smoke_args(data.to_str().unwrap(), out.path().to_str().unwrap(), &["--prune", "0.36"]));
    let dir = run_dir(out.path());

    let rows = csv_rows(&dir.join("comparison.csv"));
    let test: Vec<_> = rows.iter().filter(|r| r["metric"] == "test_perplexity").collect();
    let levels: Vec<&str> = test.iter().map(|r| r["level"].as_str()).collect();
    assert_eq!(levels, ["0", "1", "2"], "{rows:?}");
    assert!(rows.iter().any(|r| r["metric"] == "test_perplexity@val"));
    for row in &test {
        let tickets: &[&str] = if row["level"] == "0" { &["winning"] } else { &["winning", "reinit"] };
        for ticket in tickets {
            let ppl: f64 = row[&format!("{ticket}_mean")].parse().unwrap();
            // A 10,000-word vocabulary: a model that learned nothing scores 10,000.
            assert!(ppl.is_finite() && ppl > 1.0 && ppl < 10_000.0, "{row:?}");
        }
    }
    let density: f64 = test[2]["density"].parse().unwrap();
    assert!((density - 0.64).abs() < 1e-3, "{density}");

    let corpus: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("corpus.json")).unwrap()).unwrap();
    assert_eq!(corpus["vocab_size"], 10_000);
    assert_eq!(corpus["tokens"]["test"], 82_430);
    let unigram = corpus["unigram_perplexity"]["test"].as_f64().unwrap();
    assert!((600.0..700.0).contains(&unigram), "{unigram}");

    // The vocabulary loads in Python's `tokenizers` and gives the stream the harness scored:
    // every test line ends in <eos> (id 0), and the total is the published token count.
    let script = r#"
import sys
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
lines = open(sys.argv[2]).read().splitlines()
ids = [e.ids for e in tok.encode_batch(lines)]
assert all(i[-1] == 0 for i in ids)
assert tok.token_to_id("<eos>") == 0 and tok.get_vocab_size() == 10000
assert tok.encode("the zyzzyva").ids[1] == tok.token_to_id("<unk>")
print(sum(len(i) for i in ids))
"#;
    let tokenizer = dir.join("tokenizer.json");
    let test_file = data.join("ptb/ptb.test.txt");
    if let Some(out) = python(script, &[&tokenizer, &test_file]) {
        assert_eq!(out.trim(), "82430");
    }
}

#[test]
fn prune_embeddings_masks_the_embedding_and_is_refused_where_there_is_none() {
    let data = shared_data();
    let out = tempfile::tempdir().unwrap();
    let args = smoke_args(data.to_str().unwrap(), out.path().to_str().unwrap(), &["--prune-embeddings", "--controls", "winning", "--prune", "0.2"]);
    run_ok(&args);
    let dir = run_dir(out.path());
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    let table: toml::Table = config.parse().unwrap();
    assert_eq!(table["imp"]["roles"]["embedding"].as_float(), Some(1.0), "{config}");
    let script = r#"
import sys
from safetensors.numpy import load_file
m = load_file(sys.argv[1])
print(sorted(m), float(m["embedding.weight"].mean()))
"#;
    let mask = dir.join("rep-0/level-01/mask.safetensors");
    if let Some(out) = python(script, &[&mask]) {
        assert!(out.contains("'decoder.weight', 'embedding.weight', 'lstm.weight_hh_l0'"), "{out}");
        let density: f64 = out.trim().rsplit(' ').next().unwrap().parse().unwrap();
        assert!(density < 1.0 && density > 0.5, "{out}");
    }

    let mnist = tempfile::tempdir().unwrap();
    let mnist = mnist_folder(mnist.path());
    let err = fails(&["run", "image/mnist-lenet", "--prune-embeddings", "--preset", "smoke", "--data-dir", mnist.to_str().unwrap(), "--out", out.path().to_str().unwrap()], 2);
    assert!(err.contains("--prune-embeddings") && err.contains("no embedding"), "{err}");
}

/// The LSTM state carried between truncated-BPTT updates is part of each checkpoint: a run
/// killed mid-ticket and resumed reproduces the uninterrupted run exactly.
#[test]
fn lm_run_killed_mid_epoch_resumes_to_the_uninterrupted_results() {
    let data = shared_data();
    let data = data.to_str().unwrap();
    let extra = ["--prune", "0.36", "--set", "eval_every=5it", "--controls", "winning"];
    let clean = tempfile::tempdir().unwrap();
    run_ok(&smoke_args(data, clean.path().to_str().unwrap(), &extra));

    let killed = tempfile::tempdir().unwrap();
    kill_repeatedly_then_finish(&smoke_args(data, killed.path().to_str().unwrap(), &extra), &[3000, 6000, 9000]);
    assert_same_results(clean.path(), killed.path());
}

#[test]
fn missing_corpus_names_the_fetch_command() {
    let empty = tempfile::tempdir().unwrap();
    let err = fails(&["run", "lm/wikitext2-lstm", "--preset", "smoke", "--data-dir", empty.path().to_str().unwrap(), "--out", empty.path().to_str().unwrap()], 1);
    assert!(err.contains("harness data fetch wikitext2") && err.contains("wiki.train.tokens"), "{err}");
}

/// The WikiText-2 train split is not among the shared files, so the real validation split stands
/// in for it; the test split is the real one.
#[test]
fn wikitext2_format_trains_with_its_own_vocabulary() {
    let real = shared_data().join("wikitext-2");
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("wikitext-2");
    std::fs::create_dir(&dir).unwrap();
    let valid = std::fs::read_to_string(real.join("wiki.valid.tokens")).unwrap();
    std::fs::write(dir.join("wiki.train.tokens"), &valid).unwrap();
    let first_lines: String = valid.lines().take(400).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("wiki.valid.tokens"), first_lines).unwrap();
    std::fs::copy(real.join("wiki.test.tokens"), dir.join("wiki.test.tokens")).unwrap();

    let out = tempfile::tempdir().unwrap();
    let args = ["run", "lm/wikitext2-lstm", "--preset", "smoke", "--prune", "0.2", "--controls", "winning", "--quiet", "--data-dir", data.path().to_str().unwrap(), "--out", out.path().to_str().unwrap()];
    run_ok(&args);
    let run = run_dir(out.path());
    let corpus: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run.join("corpus.json")).unwrap()).unwrap();
    // Every distinct word of the train file (<unk> among them) plus <eos>.
    let words: std::collections::BTreeSet<&str> = valid.split_whitespace().collect();
    assert!(words.contains("<unk>"));
    assert_eq!(corpus["vocab_size"].as_u64().unwrap() as usize, words.len() + 1);
    // One <eos> per line, blank lines included (as in the PyTorch word_language_model example).
    let test = std::fs::read_to_string(real.join("wiki.test.tokens")).unwrap();
    assert_eq!(corpus["tokens"]["test"].as_u64().unwrap() as usize, test.split_whitespace().count() + test.lines().count());
    let ppl: Vec<f64> = csv_rows(&run.join("comparison.csv")).iter().filter(|r| r["metric"] == "test_perplexity").map(|r| r["winning_mean"].parse().unwrap()).collect();
    assert_eq!(ppl.len(), 2);
    assert!(ppl.iter().all(|p| p.is_finite() && *p > 1.0), "{ppl:?}");
}
