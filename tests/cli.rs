//! Bad input gets a clear error naming the problem and the fix, and a non-zero exit.

mod common;

use common::*;

fn fails(args: &[&str], code: i32, needles: &[&str]) {
    let out = harness().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "harness {args:?}: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "harness {args:?}: expected `{needle}` in:\n{stderr}");
    }
}

#[test]
fn list_shows_every_image_task_with_metrics_and_presets() {
    let out = run_ok(&["list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for task in ["image/mnist-lenet", "image/fashion-mnist-lenet", "image/cifar10-conv2", "image/cifar10-conv4", "image/cifar10-conv6"] {
        assert!(text.contains(task), "{task} missing from:\n{text}");
    }
    assert!(text.contains("accuracy(↑)") && text.contains("smoke,quick,paper"), "{text}");

    let out = run_ok(&["list", "image/mnist-lenet"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[paper]  revision 1, prune 0.9, rewind 0, tickets winning,reinit,shuffle; pruning by role: conv x1, hidden x1, output x0.5, embedding dense, bias dense"), "{text}");
    assert!(text.contains("steps = \"50000it\"") && text.contains("lr = 0.0012"), "{text}");
    fails(&["list", "image/mnist"], 2, &["(closest first): image/mnist-lenet"]);
}

#[test]
fn unknown_task_names_the_closest_valid_one_first() {
    fails(&["run", "image/mnist-lenett"], 2, &["unknown task `image/mnist-lenett`", "(closest first): image/mnist-lenet,"]);
}

#[test]
fn malformed_options_exit_2_with_the_accepted_forms() {
    fails(&["run", "image/mnist-lenet", "--rewind", "500"], 2, &["invalid step `500`", "`500it`", "`2ep`"]);
    fails(&["run", "image/mnist-lenet", "--prune", "1.2"], 2, &["--prune 1.2 is out of range"]);
    fails(&["run", "image/mnist-lenet", "--rate", "0"], 2, &["--rate 0 is out of range"]);
    fails(&["run", "image/mnist-lenet", "--controls", "winning,random"], 2, &["random", "reinit", "shuffle"]);
    fails(&["run", "image/mnist-lenet", "--set", "lrr=0.1"], 2, &["unknown hyperparameter `lrr`", "lr"]);
    fails(&["run", "image/mnist-lenet", "--device", "gpu"], 2, &["invalid device `gpu`"]);
    fails(&["run", "image/mnist-lenet", "--preset", "fast"], 2, &["smoke", "quick", "paper"]);
}

#[test]
fn missing_data_names_the_fetch_command() {
    let empty = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    fails(
        &["run", "image/mnist-lenet", "--preset", "smoke", "--data-dir", empty.path().to_str().unwrap(), "--out", out.path().to_str().unwrap()],
        1,
        &["harness data fetch mnist", "train-images-idx3-ubyte.gz"],
    );
}

#[test]
fn rewind_at_or_after_the_end_of_training_is_rejected() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let data_dir = mnist_folder(data.path());
    fails(
        &["run", "image/mnist-lenet", "--preset", "smoke", "--rewind", "300it", "--data-dir", data_dir.to_str().unwrap(), "--out", out.path().to_str().unwrap()],
        2,
        &["--rewind 300it", "not before the end of training at iteration 300"],
    );
    fails(
        &["run", "image/mnist-lenet", "--preset", "smoke", "--ignore", "fc9.weight", "--data-dir", data_dir.to_str().unwrap(), "--out", out.path().to_str().unwrap()],
        2,
        &["`fc9.weight` is not a prunable parameter", "fc1.weight"],
    );
}

#[test]
fn show_of_a_folder_that_is_not_a_run_says_what_to_give() {
    let empty = tempfile::tempdir().unwrap();
    fails(&["show", empty.path().to_str().unwrap()], 2, &["has no comparison.csv", "give the folder of a run"]);
}

#[test]
fn runs_go_to_runs_and_a_run_begun_under_the_old_default_results_is_resumed_there() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = mnist_folder(data.path());
    let cwd = tempfile::tempdir().unwrap();
    let args = |out: Option<&str>| {
        let mut a = vec!["run", "image/mnist-lenet", "--preset", "smoke", "--prune", "0.2", "--controls", "winning", "--quiet", "--data-dir", data_dir.to_str().unwrap()];
        if let Some(out) = out {
            a.extend(["--out", out]);
        }
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| harness().args(a).current_dir(cwd.path()).output().unwrap();
    // A run that the previous default put under results/ ...
    let old = run(args(Some("results")));
    assert!(old.status.success(), "{}", String::from_utf8_lossy(&old.stderr));
    // ... is resumed there without --out (nothing is retrained, nothing goes to runs/).
    let again = run(args(None));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success() && stderr.contains("note: resuming results/"), "{stderr}");
    assert!(!cwd.path().join("runs").exists());
    // A new run goes to runs/.
    let mut fresh = args(None);
    fresh.extend(["--seed".to_string(), "1".to_string()]);
    assert!(run(fresh).status.success());
    assert_eq!(std::fs::read_dir(cwd.path().join("runs")).unwrap().count(), 1);
}
