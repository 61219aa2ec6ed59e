//! Conv-2 on a small CIFAR-10 folder in the real binary format: the run completes through the
//! engine and prunes each layer at the paper's rate (conv 10%, fc 20%, output 10% per level).

mod common;

use common::*;
use lottery_datasets::{write_cifar_batch, ImageSplit};

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
