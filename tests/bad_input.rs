//! Bad input, tried as a hostile new user would: every case ends with the right exit status
//! (2 for bad usage, 1 for bad data or a failure), a message naming the problem and the fix, no
//! panic, no NaN in any results file, and (where the input is refused) the output folder exactly
//! as it was. Corrupt run folders are also recovered by following the message, to the same tables
//! as an untouched run.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::*;
use lottery_datasets::{read_idx, write_idx_gz, IdxArray};

struct Fixture {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    out: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let data = mnist_folder(&tmp.path().join("data"));
        let out = tmp.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        Fixture { _tmp: tmp, data, out }
    }

    /// `harness run image/mnist-lenet --preset smoke` with `extra`, on this data and out.
    fn lenet<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["run", "image/mnist-lenet", "--quiet"];
        if !extra.contains(&"--preset") {
            args.extend(["--preset", "smoke"]);
        }
        if !extra.contains(&"--device") {
            args.extend(["--device", "cpu"]);
        }
        args.extend_from_slice(extra);
        args.extend(["--data-dir", self.data.to_str().unwrap(), "--out", self.out.to_str().unwrap()]);
        args
    }
}

#[test]
fn command_line_values_are_refused_with_exit_2_before_any_write() {
    let f = Fixture::new();
    let cases: &[(&[&str], &[&str])] = &[
        (&["--rewind", "500"], &["invalid step `500`", "`500it`"]),
        (&["--prune", "1.2"], &["--prune 1.2 is out of range", "0 <= x < 1"]),
        (&["--prune", "-0.1"], &["--prune -0.1 is out of range"]),
        (&["--rate", "0"], &["--rate 0 is out of range", "--rate 0.2"]),
        (&["--rate", "1"], &["--rate 1 is out of range"]),
        (&["--controls", "winning,random"], &["random", "reinit", "shuffle"]),
        (&["--set", "lrr=0.1"], &["unknown hyperparameter `lrr`", "(closest first): lr"]),
        (&["--set", "lr=fast"], &["--set lr=fast: expected a finite number", "like the default"]),
        (&["--set", "lr=nan"], &["--set lr=nan: expected a finite number"]),
        (&["--set", "lr=inf"], &["--set lr=inf: expected a finite number"]),
        (&["--set", "lr=0"], &["--set lr=0", "finite number above 0"]),
        (&["--set", "lr=-1"], &["--set lr=-1", "above 0"]),
        (&["--set", "lr"], &["`lr` is not KEY=VALUE"]),
        (&["--set", "steps=abc"], &["invalid step `abc`"]),
        (&["--set", "eval_every=0"], &["eval_every = 0", "--set eval_every="]),
        (&["--set", "steps=0"], &["training budget `steps = 0`", "--set steps="]),
        (&["--set", "batch_size=0"], &["--set batch_size=0", "1 or more"]),
        (&["--set", "batch_size=100000"], &["--set batch_size=100000", "exceeds the"]),
        (&["--set", "optimizer=rmsprop"], &["--set optimizer=rmsprop", "adam, sgd"]),
        (&["--set", "val_fraction=1.5"], &["--set val_fraction=1.5"]),
        (&["--set", "momentum=2"], &["--set momentum=2"]),
        (&["--set", "classes=0-10"], &["--set classes=0-10", "e.g. 0-4 or 5,7,9"]),
        (&["--device", "gpu"], &["invalid device `gpu`", "cpu"]),
        (&["--device", "cuda:3"], &["--device cuda:3", "--device cpu"]),
        (&["--preset", "fast"], &["smoke", "quick", "paper"]),
        (&["--replicates", "0"], &["from 1 to 1000"]),
        (&["--replicates", "1000000000"], &["from 1 to 1000"]),
        (&["--seed", "-1"], &["`-1` is not a seed", "whole numbers from 0"]),
        (&["--threads", "0"], &["--threads", "0"]),
        (&["--strategy", "random"], &["global", "layerwise"]),
        (&["--ignore", "fc9.weight"], &["`fc9.weight` is not a prunable parameter", "(closest first): fc1.weight"]),
        (&["--layer-rate", "fc9.weight=0.1"], &["`fc9.weight` is not a prunable parameter"]),
        (&["--layer-rate", "fc1.weight=abc"], &["must be a number", "fc3.weight=0.1"]),
        (&["--layer-rate", "fc1.weight=1.5"], &["--layer-rate fc1.weight= 1.5 is out of range"]),
        (&["--ignore", "fc1.weight", "--layer-rate", "fc1.weight=0.3"], &["contradict each other", "drop one"]),
        (&["--layer-rate", "fc1.weight=0", "--layer-rate", "fc2.weight=0", "--layer-rate", "fc3.weight=0"], &["per-level rate of 0", "positive rate"]),
        (&["--ignore", "fc1.weight", "--ignore", "fc2.weight", "--ignore", "fc3.weight"], &["leaves no prunable parameter"]),
        (&["--rewind", "300it"], &["--rewind 300it", "not before the end of training at iteration 300", "earlier step"]),
        (&["--prune-embeddings"], &["has no embedding matrix", "drop the flag"]),
        (&["--bogus"], &["unexpected argument '--bogus'"]),
    ];
    for (extra, needles) in cases {
        refused(&f.lenet(extra), 2, needles, &f.out);
        // Nothing was created: validation comes before the run folder.
        assert_eq!(std::fs::read_dir(&f.out).unwrap().count(), 0, "{extra:?} left something in --out");
    }
}

#[test]
fn other_commands_refuse_bad_input_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    refused(&["run", "image/mnist-lenett"], 2, &["unknown task `image/mnist-lenett`", "(closest first): image/mnist-lenet"], w);
    refused(&["list", "image/mnist"], 2, &["(closest first): image/mnist-lenet"], w);
    refused(&["show", w.to_str().unwrap()], 2, &["has no comparison.csv", "give the folder of a run"], w);
    refused(&["data", "fetch", "nosuch", "--data-dir", w.to_str().unwrap()], 2, &["unknown dataset `nosuch`", "mnist"], w);
    refused(&["data", "fetch", "wmt14-en-de", "--data-dir", w.to_str().unwrap()], 2, &["no checksum-verified download", "place"], w);
    refused(&["env", "rollout", "NoSuchEnv-v0"], 2, &["unknown environment `NoSuchEnv-v0`", "CartPole-v1"], w);
    let (stdout, _) = refused(&["env", "rollout", "CartPole-v1", "--state", "nan,0,0,0"], 2, &["--state NaN,0,0,0", "finite"], w);
    assert!(stdout.is_empty(), "{stdout}");
    refused(&["env", "rollout", "CartPole-v1", "--state", "0,0"], 2, &["a state has 4 values", "got 2"], w);
    // A bad action comes after valid ones: no partial CSV on stdout.
    let (stdout, _) = refused(&["env", "rollout", "CartPole-v1", "--actions", "0,1,5"], 2, &["action 5 is invalid", "0..2"], w);
    assert!(stdout.is_empty(), "partial CSV printed: {stdout}");
    refused(&["run", "lm/ptb-lstm", "--preset", "smoke", "--set", "dropout=1", "--data-dir", w.to_str().unwrap()], 2, &["--set dropout=1", "probability"], w);
    refused(&["run", "control/cartpole", "--preset", "smoke", "--set", "env=Pong", "--out", w.to_str().unwrap()], 2, &["--set env=Pong", "CartPole-v1"], w);
    refused(&["run", "control/cartpole", "--preset", "smoke", "--set", "gamma=1.5", "--out", w.to_str().unwrap()], 2, &["--set gamma=1.5", "discount"], w);
    refused(&["run", "translate/multi30k-transformer", "--preset", "smoke", "--set", "label_smoothing=-0.1", "--data-dir", w.to_str().unwrap()], 2, &["--set label_smoothing=-0.1"], w);
}

fn write_labels(path: &Path, labels: Vec<u8>) {
    write_idx_gz(path, &IdxArray { dims: vec![labels.len()], data: labels }).unwrap();
}

#[test]
fn malformed_image_data_fails_with_exit_1_naming_the_file() {
    let f = Fixture::new();
    let mnist = f.data.join("mnist");
    let labels_path = mnist.join("t10k-labels-idx1-ubyte.gz");
    let images_path = mnist.join("t10k-images-idx3-ubyte.gz");
    let labels = read_idx(&labels_path).unwrap();
    let images = read_idx(&images_path).unwrap();
    let restore = || {
        write_idx_gz(&labels_path, &labels).unwrap();
        write_idx_gz(&images_path, &images).unwrap();
    };

    // A label byte of 200 (the file is well-formed IDX).
    let mut bad = labels.data.clone();
    bad[17] = 200;
    write_labels(&labels_path, bad);
    refused(&f.lenet(&[]), 1, &["t10k-labels-idx1-ubyte.gz", "label 200 of example 17", "outside 0..10"], &f.out);
    restore();

    // Test images 32x32 while the training images are 28x28.
    let n = images.dims[0];
    write_idx_gz(&images_path, &IdxArray { dims: vec![n, 32, 32], data: vec![0; n * 32 * 32] }).unwrap();
    refused(&f.lenet(&[]), 1, &["t10k-images-idx3-ubyte.gz", "test images are 32x32, the training images 28x28"], &f.out);
    restore();

    // An empty test split.
    write_idx_gz(&images_path, &IdxArray { dims: vec![0, 28, 28], data: vec![] }).unwrap();
    write_labels(&labels_path, vec![]);
    refused(&f.lenet(&[]), 1, &["t10k-images-idx3-ubyte.gz", "holds no examples"], &f.out);
    restore();

    // A truncated gzip file, and bytes that are not IDX at all.
    let bytes = std::fs::read(&images_path).unwrap();
    std::fs::write(&images_path, &bytes[..bytes.len() / 2]).unwrap();
    refused(&f.lenet(&[]), 1, &["t10k-images-idx3-ubyte.gz", "harness data fetch"], &f.out);
    std::fs::write(&labels_path, b"this is not an IDX file").unwrap();
    write_idx_gz(&images_path, &images).unwrap();
    refused(&f.lenet(&[]), 1, &["t10k-labels-idx1-ubyte.gz"], &f.out);
    restore();

    // Missing data names the fetch command.
    std::fs::remove_file(mnist.join("train-images-idx3-ubyte.gz")).unwrap();
    refused(&f.lenet(&[]), 1, &["harness data fetch mnist", "train-images-idx3-ubyte.gz"], &f.out);
    assert_eq!(std::fs::read_dir(&f.out).unwrap().count(), 0);
}

#[test]
fn malformed_cifar_and_text_data_fail_with_exit_1_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let o = out.to_str().unwrap();

    // CIFAR-10: a truncated batch, then a label of 11.
    let batches = tmp.path().join("cifar/cifar10/cifar-10-batches-bin");
    std::fs::create_dir_all(&batches).unwrap();
    let record = |label: u8| -> Vec<u8> { std::iter::once(label).chain(std::iter::repeat_n(7u8, 3072)).collect() };
    for stem in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"] {
        let bytes: Vec<u8> = (0..20).flat_map(|i| record(i % 10)).collect();
        std::fs::write(batches.join(format!("{stem}.bin")), bytes).unwrap();
    }
    let cifar = tmp.path().join("cifar");
    let cifar_args = ["run", "image/cifar10-conv2", "--preset", "smoke", "--quiet", "--data-dir", cifar.to_str().unwrap(), "--out", o];
    std::fs::write(batches.join("test_batch.bin"), vec![0u8; 3000]).unwrap();
    refused(&cifar_args, 1, &["test_batch.bin"], &out);
    let mut bytes: Vec<u8> = (0..20).flat_map(|i| record(i % 10)).collect();
    bytes[3 * 3073] = 11;
    std::fs::write(batches.join("test_batch.bin"), bytes).unwrap();
    refused(&cifar_args, 1, &["test_batch.bin", "label 11 in record 3"], &out);

    // Penn Treebank: an empty test file, an empty train file, a missing folder.
    let ptb = tmp.path().join("text/ptb");
    std::fs::create_dir_all(&ptb).unwrap();
    for name in ["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"] {
        std::fs::copy(shared_data().join("ptb").join(name), ptb.join(name)).unwrap();
    }
    let text = tmp.path().join("text");
    let lm_args = ["run", "lm/ptb-lstm", "--preset", "smoke", "--quiet", "--data-dir", text.to_str().unwrap(), "--out", o];
    std::fs::write(ptb.join("ptb.test.txt"), "").unwrap();
    refused(&lm_args, 1, &["ptb.test.txt", "holds no words"], &out);
    std::fs::write(ptb.join("ptb.train.txt"), "\n\n").unwrap();
    refused(&lm_args, 1, &["ptb.train.txt", "holds no words"], &out);
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    refused(&["run", "lm/ptb-lstm", "--preset", "smoke", "--data-dir", empty.to_str().unwrap(), "--out", o], 1, &["harness data fetch ptb"], &out);

    // Multi30k: misaligned sides.
    let m = tmp.path().join("par/multi30k");
    std::fs::create_dir_all(&m).unwrap();
    for (stem, n) in [("train", 50), ("val", 10), ("test_2016_flickr", 10)] {
        std::fs::write(m.join(format!("{stem}.en")), "a b c\n".repeat(n)).unwrap();
        std::fs::write(m.join(format!("{stem}.de")), "x y z\n".repeat(n)).unwrap();
    }
    std::fs::write(m.join("val.de"), "x y z\n".repeat(9)).unwrap();
    let par = tmp.path().join("par");
    refused(&["run", "translate/multi30k-transformer", "--preset", "smoke", "--data-dir", par.to_str().unwrap(), "--out", o], 1, &["val.de", "line-aligned"], &out);
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}

/// The ROM folder the tests can use, if the ale-py package's ROMs are installed.
fn ale_py_rom(game: &str) -> Option<PathBuf> {
    let cache = std::env::var_os("LOTTERY_CACHE").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/lottery")))?;
    let path = cache.join("ale-py/ale_py/roms").join(format!("{game}.bin"));
    path.is_file().then_some(path)
}

#[test]
fn bad_atari_roms_are_refused_with_exit_2_before_the_emulator_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let roms = tmp.path().join("roms");
    std::fs::create_dir_all(&roms).unwrap();
    let o = out.to_str().unwrap();
    let pong = |dir: &Path| -> Vec<String> {
        ["run", "atari/pong", "--preset", "smoke", "--quiet", "--rom-dir", dir.to_str().unwrap(), "--out", o].map(String::from).to_vec()
    };
    let args = |v: &Vec<String>| v.clone();
    let strs = |v: &Vec<String>| v.iter().map(String::as_str).collect::<Vec<_>>().join("\u{0}");
    let _ = strs;
    let run = |v: Vec<String>, code, needles: &[&str]| {
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        refused(&refs, code, needles, &out);
    };
    run(args(&pong(&tmp.path().join("nowhere"))), 2, &["--rom-dir", "not a folder"]);
    run(args(&pong(&roms)), 2, &["--rom-dir", "has no pong.bin"]);
    // Random bytes of a cartridge's size: ALE would spin on illegal instructions.
    let mut rng = lottery_envs::Rng::new(5);
    std::fs::write(roms.join("pong.bin"), (0..2048).map(|_| rng.below(256) as u8).collect::<Vec<u8>>()).unwrap();
    run(args(&pong(&roms)), 2, &["pong.bin", "not a ROM ALE supports", "MD5"]);
    std::fs::write(roms.join("pong.bin"), b"short").unwrap();
    run(args(&pong(&roms)), 2, &["pong.bin", "not an Atari 2600 ROM"]);
    let Some(breakout) = ale_py_rom("breakout") else {
        assert!(std::env::var("LOTTERY_REQUIRE_PYTHON").as_deref() != Ok("1"), "the ale-py ROMs are missing");
        return;
    };
    std::fs::copy(breakout, roms.join("pong.bin")).unwrap();
    run(args(&pong(&roms)), 2, &["it is the ROM of `breakout`", "not of `pong`"]);
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}

/// A finished two-level smoke run (winning, reinit, shuffle), and a copy of its tables.
struct FinishedRun {
    f: Fixture,
    run: PathBuf,
    tables: BTreeMap<&'static str, String>,
}

const RUN_ARGS: &[&str] = &["--prune", "0.36", "--controls", "reinit,shuffle", "--set", "eval_every=100it"];

impl FinishedRun {
    fn new() -> Self {
        let f = Fixture::new();
        run_ok(&f.lenet(RUN_ARGS));
        let run = run_dir(&f.out);
        let tables = ["comparison.csv", "curves.csv"].into_iter().map(|t| (t, std::fs::read_to_string(run.join(t)).unwrap())).collect();
        FinishedRun { f, run, tables }
    }

    fn args(&self) -> Vec<&str> {
        self.f.lenet(RUN_ARGS)
    }

    fn assert_tables_unchanged(&self) {
        for (name, text) in &self.tables {
            assert_eq!(&std::fs::read_to_string(self.run.join(name)).unwrap(), text, "{name} changed");
        }
    }

    /// Deletes what the message's remedy says to delete, as a user would, then reruns and
    /// expects the untouched run's tables.
    fn follow(&self, stderr: &str) {
        let line = stderr.lines().find(|l| l.starts_with("error: ")).expect("an error line");
        let (_, remedy) = line.rsplit_once("; ").expect("the message has a remedy");
        assert!(remedy.contains("delete"), "{remedy}");
        let mut paths: Vec<PathBuf> = remedy.split_whitespace().filter(|w| w.starts_with('/')).map(|w| PathBuf::from(w.trim_end_matches([',', ';', ')']))).collect();
        if remedy.contains("delete it") {
            paths.push(PathBuf::from(line.trim_start_matches("error: ").split_whitespace().next().unwrap()));
        }
        assert!(!paths.is_empty(), "{remedy}");
        for path in paths {
            assert!(path.starts_with(&self.run), "the remedy points outside the run: {}", path.display());
            if path.is_dir() {
                std::fs::remove_dir_all(&path).unwrap();
            } else {
                std::fs::remove_file(&path).unwrap();
            }
        }
        run_ok(&self.args());
        self.assert_tables_unchanged();
    }
}

fn truncate(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 3]).unwrap();
}

#[test]
fn corrupt_run_folders_fail_with_advice_that_works_and_tables_never_shrink() {
    let r = FinishedRun::new();
    let level = |l: u32| r.run.join(format!("rep-0/level-{l:02}"));

    // A truncated final.safetensors, needed for the next level's mask.
    std::fs::remove_dir_all(level(2)).unwrap();
    truncate(&level(1).join("winning/final.safetensors"));
    let (_, stderr) = refused(&r.args(), 1, &["final.safetensors", "is unreadable", "delete the folder"], &r.run.join("rep-0/level-01"));
    r.assert_tables_unchanged();
    r.follow(&stderr);

    // A truncated rewind point, needed by every rewound ticket.
    std::fs::remove_dir_all(level(2)).unwrap();
    truncate(&r.run.join("rep-0/rewind.safetensors"));
    let (_, stderr) = refused(&r.args(), 1, &["rewind.safetensors", "level-00/winning"], &level(1));
    r.assert_tables_unchanged();
    r.follow(&stderr);

    // A ticket's checkpoint that cannot be read.
    std::fs::remove_dir_all(level(2).join("reinit")).unwrap();
    let reinit = level(2).join("reinit");
    std::fs::create_dir_all(&reinit).unwrap();
    std::fs::write(reinit.join("checkpoint-100.safetensors"), b"garbage").unwrap();
    std::fs::write(reinit.join("checkpoint.json"), r#"{"step":100,"tensors":"checkpoint-100.safetensors","curve":[]}"#).unwrap();
    let (_, stderr) = refused(&r.args(), 1, &["checkpoint-100.safetensors", "checkpoint.json", "restart this ticket"], &level(2));
    r.follow(&stderr);

    // A level's mask replaced by another level's.
    std::fs::copy(level(1).join("mask.safetensors"), level(2).join("mask.safetensors")).unwrap();
    let (_, stderr) = refused(&r.args(), 1, &["level-02/mask.safetensors does not fit this run", "keeps", "delete the folder"], &r.run);
    r.follow(&stderr);

    // A shuffle mask with other per-layer counts.
    std::fs::copy(level(1).join("mask.safetensors"), level(2).join("shuffle/mask.safetensors")).unwrap();
    let (_, stderr) = refused(&r.args(), 1, &["shuffle/mask.safetensors does not fit this run"], &r.run);
    r.follow(&stderr);

    // A corrupt result.json.
    std::fs::write(level(1).join("reinit/result.json"), "{").unwrap();
    let (_, stderr) = refused(&r.args(), 1, &["result.json is unreadable", "delete the folder"], &level(1));
    r.follow(&stderr);

    // A corrupt config.toml.
    std::fs::write(r.run.join("config.toml"), "identity = [").unwrap();
    let (_, stderr) = refused(&r.args(), 1, &["config.toml is unreadable", "delete it"], &r.run.join("rep-0"));
    r.follow(&stderr);

    // A config.toml of the same identity but other resolved values (a changed preset default).
    let config = std::fs::read_to_string(r.run.join("config.toml")).unwrap();
    let changed = config.replace("lr = 0.0012", "lr = 0.005");
    assert_ne!(changed, config);
    std::fs::write(r.run.join("config.toml"), changed).unwrap();
    refused(&r.args(), 2, &["holds a different run", "hparams.lr: the folder has 0.005, this run 0.0012", "another --out"], &r.run);
    std::fs::write(r.run.join("config.toml"), config).unwrap();

    // A narrower rerun (one control) keeps every finished ticket in the tables.
    let narrow: Vec<&str> = r.f.lenet(&["--prune", "0.36", "--controls", "reinit", "--set", "eval_every=100it"]);
    run_ok(&narrow);
    r.assert_tables_unchanged();
}

#[test]
fn a_held_replicate_lock_refuses_a_second_writer_and_a_stale_lock_file_does_not() {
    let r = FinishedRun::new();
    let lock = r.run.join("rep-0/.lock");
    // Lock files left by a process that is gone (its pid reused or not) block nothing.
    std::fs::write(&lock, "pid 1 on elsewhere").unwrap();
    std::fs::write(r.run.join(".lock"), "pid 1 on elsewhere").unwrap();
    run_ok(&r.args());
    // A live holder of the replicate's lock (flock(1) holding it while its child sleeps) refuses
    // a second writer of that replicate; killing the holder frees it.
    let mut holder = std::process::Command::new("flock").arg("-o").arg(&lock).args(["sleep", "30"]).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = harness().args(r.args()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(1) && stderr.contains("being written by another harness process") {
            assert!(stderr.contains("released the moment it exits"), "{stderr}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the lock was never seen as held: {stderr}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    holder.kill().unwrap();
    holder.wait().unwrap();
    run_ok(&r.args());
    r.assert_tables_unchanged();
    let _ = std::io::stdout().flush();
}

/// A folder made under an older revision of a preset is never resumed with the new defaults:
/// the revision is part of the identity, and config.toml records it for the check.
#[test]
fn a_folder_of_an_older_preset_revision_is_refused_by_name() {
    let out = tempfile::tempdir().unwrap();
    let args = ["run", "control/cartpole", "--preset", "paper", "--device", "cpu", "--quiet", "--out", out.path().to_str().unwrap()];
    // Start the (long) paper run only until it has written its config.toml.
    let mut child = harness().args(args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let config = loop {
        if let Some(run) = std::fs::read_dir(out.path()).unwrap().flatten().map(|e| e.path().join("config.toml")).find(|p| p.is_file()) {
            break run;
        }
        assert!(std::time::Instant::now() < deadline, "no config.toml written");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let _ = child.kill();
    child.wait().unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("preset_revision = 3"), "{text}");
    std::fs::write(&config, text.replace("preset_revision = 3", "preset_revision = 2")).unwrap();
    refused(&args, 2, &["holds a different run", "preset_revision: the folder has 2, this run 3"], out.path());
}
