//! Conv-2 on a small CIFAR-10 folder in the real binary format: the run completes through the
//! engine and prunes each layer at the paper's rate (conv 10%, fc 20%, output 10% per level).
//! ResNet-20 tickets found on a small CIFAR-100 folder (real binary format) transfer to CIFAR-10
//! with a fresh classifier; ResNet-20 learns real MNIST digits padded to 32x32x3; SVHN (MATLAB
//! v5) and image-folder (PNG and JPEG) datasets run through the engine.

mod common;

use common::*;
use std::path::Path;

use lottery_datasets::{write_cifar100_file, write_cifar_batch, write_svhn_mat, ImageSplit};

fn batch(n: usize, seed: u8) -> ImageSplit {
    ImageSplit {
        n,
        channels: 3,
        height: 32,
        width: 32,
        pixels: (0..n * 3072).map(|i| ((i * 31 + seed as usize * 17) % 251) as u8).collect(),
        labels: (0..n).map(|i| ((i + seed as usize) % 10) as u8).collect(),
    }
}

#[test]
fn cifar10_conv2_prunes_each_layer_at_the_papers_rate() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("cifar10/cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 1..=5 {
        write_cifar_batch(&dir.join(format!("data_batch_{i}.bin")), &batch(40, i)).unwrap();
    }
    write_cifar_batch(&dir.join("test_batch.bin"), &batch(50, 9)).unwrap();
    let out = tempfile::tempdir().unwrap();
    run_ok(&[
        "run", "image/cifar10-conv2", "--preset", "smoke", "--prune", "0.3", "--controls", "reinit", "--set", "steps=6it", "--set", "eval_every=3it",
        "--device", "cpu", "--quiet", "--data-dir", data.path().to_str().unwrap(), "--out", out.path().to_str().unwrap(),
    ]);
    let run = run_dir(out.path());
    let rows = csv_rows(&run.join("comparison.csv"));
    assert!(rows.iter().any(|r| r["metric"] == "test_accuracy@val" && r["level"] == "1" && r["reinit_mean"] != ""));

    // Level 1 of the IMP schedule: conv layers keep 90%, hidden fc layers (pooled) 80%, output 90%.
    let script = r#"
import sys
from safetensors.numpy import load_file
m = load_file(sys.argv[1] + "/rep-0/level-01/mask.safetensors")
for name in sorted(m):
    print(name, m[name].sum() / m[name].size)
"#;
    let level1 = run.join("rep-0/level-01/mask.safetensors");
    assert!(level1.exists());
    if let Some(text) = python(script, &[&run]) {
        let density = |name: &str| -> f64 {
            text.lines().find(|l| l.starts_with(name)).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()
        };
        assert!((density("conv1.weight") - 0.9).abs() < 1e-3, "{text}");
        assert!((density("conv2.weight") - 0.9).abs() < 1e-3, "{text}");
        assert!((density("fc3.weight") - 0.9).abs() < 1e-3, "{text}");
        let fc = (density("fc1.weight") * 4_194_304.0 + density("fc2.weight") * 65_536.0) / (4_194_304.0 + 65_536.0);
        assert!((fc - 0.8).abs() < 1e-4, "{text}");
    }
}

fn cifar_folders(root: &Path) {
    let ten = root.join("cifar10/cifar-10-batches-bin");
    let hundred = root.join("cifar100/cifar-100-binary");
    std::fs::create_dir_all(&ten).unwrap();
    std::fs::create_dir_all(&hundred).unwrap();
    for i in 1..=5 {
        write_cifar_batch(&ten.join(format!("data_batch_{i}.bin")), &batch(40, i)).unwrap();
    }
    write_cifar_batch(&ten.join("test_batch.bin"), &batch(50, 9)).unwrap();
    let with_100_classes = |n: usize, seed: u8| ImageSplit { labels: (0..n).map(|i| ((i * 7 + seed as usize) % 100) as u8).collect(), ..batch(n, seed) };
    write_cifar100_file(&hundred.join("train.bin"), &with_100_classes(200, 3)).unwrap();
    write_cifar100_file(&hundred.join("test.bin"), &with_100_classes(100, 4)).unwrap();
}

#[test]
fn cifar100_resnet20_tickets_transfer_to_cifar10_with_a_fresh_classifier() {
    let data = tempfile::tempdir().unwrap();
    cifar_folders(data.path());
    let (data, out) = (data.path().to_str().unwrap(), tempfile::tempdir().unwrap());
    let out = out.path().to_str().unwrap();
    let common = ["--device", "cpu", "--quiet", "--data-dir", data, "--out", out];
    let mut args = vec!["run", "image/cifar100-resnet20", "--preset", "smoke", "--prune", "0.36", "--controls", "reinit"];
    args.extend(common);
    let source = results_dir(&run_ok(&args).stdout);
    let mut args = vec!["transfer", source.to_str().unwrap(), "--to", "image/cifar10-resnet20"];
    args.extend(common);
    let transfer = results_dir(&run_ok(&args).stdout);

    let config = std::fs::read_to_string(transfer.join("config.toml")).unwrap();
    assert!(config.contains("fresh = [\"fc.bias\", \"fc.weight\"]"), "the 100-way classifier cannot move to 10 classes:\n{config}");
    assert!(config.contains("\"blocks8.conv2.weight\"") && config.contains("\"bn.running_mean\""), "the rest moves, batch-norm state included");
    let rows = csv_rows(&transfer.join("transfer.csv"));
    assert_eq!(rows.iter().filter(|r| r["metric"] == "test_accuracy").count(), 3, "levels 0-2");

    // Convolution masks are the source's; the fresh classifier keeps the source layer's density
    // with a random mask of its own shape; batch norm is never masked.
    let script = r#"
import sys
from safetensors.numpy import load_file
s = load_file(sys.argv[1] + "/rep-0/level-02/mask.safetensors")
t = load_file(sys.argv[2] + "/rep-0/level-02/mask.safetensors")
assert sorted(s) == sorted(t) and not any("bn" in k for k in t), sorted(t)
assert all((s[k] == t[k]).all() for k in s if k != "fc.weight")
print(s["fc.weight"].shape, t["fc.weight"].shape, abs(s["fc.weight"].mean() - t["fc.weight"].mean()) <= 1 / t["fc.weight"].size)
"#;
    if let Some(text) = python(script, &[&source, &transfer]) {
        assert_eq!(text.trim(), "(100, 16) (10, 16) True");
    }
}

#[test]
fn resnet20_learns_real_mnist_digits_padded_to_32x32x3() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = mnist_folder(data.path());
    let out = tempfile::tempdir().unwrap();
    let stdout = run_ok(&[
        "run", "image/mnist-resnet20", "--preset", "smoke", "--prune", "0.2", "--controls", "winning", "--set", "steps=300it", "--set", "eval_every=100it",
        "--set", "width=8", "--device", "cpu", "--quiet", "--data-dir", data_dir.to_str().unwrap(), "--out", out.path().to_str().unwrap(),
    ])
    .stdout;
    let run = results_dir(&stdout);
    let dense = csv_rows(&run.join("comparison.csv")).into_iter().find(|r| r["level"] == "0" && r["metric"] == "test_accuracy").unwrap();
    let accuracy: f64 = dense["winning_mean"].parse().unwrap();
    // Chance is 0.1; 300 noisy SGD steps at lr 0.1 reach 0.74 (one thread) to 0.92 (two) here.
    assert!(accuracy > 0.5, "dense ResNet-20 after 300 iterations: test accuracy {accuracy}");
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains("optimizer = \"sgd\"") && config.contains("augment = true") && config.contains("width = 8"), "{config}");
}

#[test]
fn svhn_mat_files_and_image_folders_train_the_transfer_family() {
    let data = tempfile::tempdir().unwrap();
    let svhn = data.path().join("svhn");
    std::fs::create_dir_all(&svhn).unwrap();
    write_svhn_mat(&svhn.join("train_32x32.mat"), &batch(60, 2)).unwrap();
    write_svhn_mat(&svhn.join("test_32x32.mat"), &batch(20, 5)).unwrap();
    // Three classes of patterns, PNG for training and JPEG for testing, of other sizes than 32x32.
    let pattern = |class: u32, w: u32, h: u32, shift: u32| {
        image::RgbImage::from_fn(w, h, |x, y| {
            let on = match class {
                0 => (y + shift) / 4 % 2 == 0,
                1 => (x + shift) / 4 % 2 == 0,
                _ => ((x + shift) / 4 + y / 4) % 2 == 0,
            };
            image::Rgb(if on { [230, 200, 40] } else { [20, 30, 90] })
        })
    };
    for (class, name) in ["horizontal", "vertical", "checker"].iter().enumerate() {
        for split in ["train", "test"] {
            std::fs::create_dir_all(data.path().join(format!("patterns/{split}/{name}"))).unwrap();
        }
        for i in 0..12 {
            pattern(class as u32, 40, 36, i).save(data.path().join(format!("patterns/train/{name}/{i}.png"))).unwrap();
        }
        for i in 0..4 {
            pattern(class as u32, 28, 28, i).save(data.path().join(format!("patterns/test/{name}/{i}.jpg"))).unwrap();
        }
    }
    let (data, out) = (data.path().to_str().unwrap(), tempfile::tempdir().unwrap());
    let out = out.path().to_str().unwrap();
    for (task, extra) in [("image/svhn-vgg19", vec![]), ("image/folder-resnet20", vec!["--set", "folder=patterns", "--set", "batch_size=8"])] {
        let mut args = vec!["run", task, "--preset", "smoke", "--prune", "0.2", "--controls", "reinit", "--device", "cpu", "--quiet", "--data-dir", data, "--out", out];
        args.extend(extra);
        let run = results_dir(&run_ok(&args).stdout);
        let rows = csv_rows(&run.join("comparison.csv"));
        assert!(rows.iter().any(|r| r["level"] == "1" && r["metric"] == "test_accuracy" && !r["reinit_mean"].is_empty()), "{task}");
        // The classifier has one output per class the data has.
        let script = "import sys\nfrom safetensors.numpy import load_file\nprint(load_file(sys.argv[1] + '/rep-0/rewind.safetensors')['fc.weight'].shape[0])";
        if let Some(classes) = python(script, &[&run]) {
            assert_eq!(classes.trim(), if task.contains("folder") { "3" } else { "10" }, "{task}");
        }
    }
    let mut args = vec!["run", "image/folder-vgg19", "--preset", "smoke", "--device", "cpu", "--quiet", "--data-dir", data, "--out", out, "--set", "folder=nowhere"];
    let stderr = String::from_utf8(harness().args(&args).output().unwrap().stderr).unwrap();
    assert!(stderr.contains("nowhere/train"), "{stderr}");
    args.pop();
    args.push("folder=../patterns");
    let refused = harness().args(&args).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
}
