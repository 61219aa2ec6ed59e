//! Image classification: LeNet-300-100 on MNIST and Fashion-MNIST, Conv-2/4/6 on CIFAR-10, with
//! the settings of Frankle & Carbin (2019), "The Lottery Ticket Hypothesis".

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::nn;
use tch::{Device, Kind, Tensor};

use lottery_datasets::{load_cifar10, load_mnist_like, ImageSplit, CLASSES};
use lottery_models::{Classifier, ConvNet, Lenet};
use lottery_results::{Direction, MetricSpec, TicketKind};
use lottery_task::{Defaults, LrSchedule, Network, OptimizerSpec, Preset, Problem, PrunableParam, PruningPolicy, Registry, Role, Rule, Split, Step, Task, TaskEnv, TaskError, Training};
use lottery_task::seeds::{derive, Rng};
use lottery_task::hparams::{self, from_table, to_table};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Dataset {
    Mnist,
    FashionMnist,
    Cifar10,
}

impl Dataset {
    fn name(self) -> &'static str {
        match self {
            Dataset::Mnist => "mnist",
            Dataset::FashionMnist => "fashion-mnist",
            Dataset::Cifar10 => "cifar10",
        }
    }

    /// Per-channel mean and standard deviation of the training images (pixels scaled to 0-1).
    fn normalization(self) -> (&'static [f64], &'static [f64]) {
        match self {
            Dataset::Mnist => (&[0.1307], &[0.3081]),
            Dataset::FashionMnist => (&[0.2860], &[0.3530]),
            Dataset::Cifar10 => (&[0.4914, 0.4822, 0.4465], &[0.2470, 0.2435, 0.2616]),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Arch {
    Lenet300100,
    /// Conv-2, Conv-4 or Conv-6: the number of convolution pairs.
    Conv(usize),
}

/// One image task: a dataset, an architecture and the paper's training settings.
struct ImageTask {
    name: &'static str,
    description: &'static str,
    dataset: Dataset,
    arch: Arch,
    /// Paper settings: Adam learning rate and training iterations.
    paper_lr: f64,
    paper_iterations: u64,
    /// Per-level pruning rate of convolutions relative to `--rate` (0.1 or 0.15 against 0.2).
    conv_rate_multiplier: f64,
}

/// Hyperparameters of the image tasks (`--set key=value`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageHparams {
    /// Training iterations per ticket (`500it`, `2ep`).
    steps: Step,
    /// Evaluate on validation and test data this often.
    eval_every: Step,
    batch_size: i64,
    /// `adam` or `sgd`.
    optimizer: String,
    lr: f64,
    /// SGD momentum (ignored by Adam).
    momentum: f64,
    weight_decay: f64,
    /// Step decay: the learning rate is divided by 10 at each of these steps, e.g. `80ep,120ep`
    /// (empty: constant).
    lr_milestones: String,
    /// Fraction of the training file held out as validation data (its last examples).
    val_fraction: f64,
    /// Train and evaluate on these classes only, e.g. `0-4` or `5,7,9` (empty: all). Labels keep
    /// their values, so the output layer keeps its size and a ticket found on some classes can
    /// be trained on others (class-disjoint transfer).
    classes: String,
}

impl ImageTask {
    fn hparams(&self, preset: Preset) -> ImageHparams {
        let (steps, eval_every) = match (preset, self.arch) {
            (Preset::Paper, _) => (Step::iters(self.paper_iterations), Step::iters(1000)),
            (Preset::Quick, Arch::Lenet300100) => (Step::epochs(2), Step::iters(500)),
            (Preset::Quick, Arch::Conv(_)) => (Step::epochs(1), Step::iters(250)),
            (Preset::Smoke, Arch::Lenet300100) => (Step::iters(300), Step::iters(100)),
            (Preset::Smoke, Arch::Conv(_)) => (Step::iters(30), Step::iters(10)),
        };
        ImageHparams {
            steps,
            eval_every,
            batch_size: 60,
            optimizer: "adam".into(),
            lr: self.paper_lr,
            momentum: 0.9,
            weight_decay: 0.0,
            lr_milestones: String::new(),
            // The paper holds out 5,000 training examples (of 60,000 for MNIST, 50,000 for CIFAR).
            val_fraction: if self.dataset == Dataset::Cifar10 { 0.1 } else { 1.0 / 12.0 },
            classes: String::new(),
        }
    }
}

impl Task for ImageTask {
    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &'static str {
        self.description
    }

    fn metrics(&self) -> Vec<MetricSpec> {
        vec![
            MetricSpec { name: "accuracy".into(), direction: Direction::Higher },
            MetricSpec { name: "loss".into(), direction: Direction::Lower },
        ]
    }

    fn defaults(&self, preset: Preset) -> Defaults {
        let hparams = to_table(&self.hparams(preset));
        // The paper prunes output layers at half the rate of the others, and convolutions at a
        // per-architecture rate.
        let pruning = PruningPolicy::new(&[(Role::Conv, self.conv_rate_multiplier), (Role::Hidden, 1.0), (Role::Output, 0.5)]);
        Defaults { hparams, rewind: Step::ZERO, controls: vec![TicketKind::WINNING, TicketKind::REINIT, TicketKind::SHUFFLE], pruning }
    }

    fn prepare(&self, hparams: &toml::Table, env: &TaskEnv) -> Result<Box<dyn Problem>, TaskError> {
        let hp: ImageHparams = from_table(self.name, hparams)?;
        let rule = match hp.optimizer.as_str() {
            "adam" => Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
            "sgd" => Rule::Sgd { momentum: hp.momentum, nesterov: false },
            other => return Err(hparams::one_of("optimizer", other, &["adam", "sgd"])),
        };
        hparams::require(hp.val_fraction > 0.0 && hp.val_fraction < 1.0, "val_fraction", hp.val_fraction, "use a fraction, 0 < x < 1")?;
        hparams::at_least_one("batch_size", hp.batch_size)?;
        hparams::positive("lr", hp.lr)?;
        hparams::non_negative("weight_decay", hp.weight_decay)?;
        hparams::require(hp.momentum.is_finite() && (0.0..1.0).contains(&hp.momentum), "momentum", hp.momentum, "use a momentum, 0 <= m < 1")?;
        let classes = parse_classes(&hp.classes)?;
        let mut splits = match self.dataset {
            Dataset::Mnist | Dataset::FashionMnist => load_mnist_like(self.dataset.name(), &env.data_dir)?,
            Dataset::Cifar10 => load_cifar10(&env.data_dir)?,
        };
        if let Some(classes) = &classes {
            splits.train = splits.train.select(classes);
            splits.test = splits.test.select(classes);
            let empty = if splits.train.n == 0 { Some("training") } else if splits.test.n == 0 { Some("test") } else { None };
            if let Some(split) = empty {
                return Err(hparams::invalid("classes", &hp.classes, &format!("the {split} split has no example of these classes")));
            }
        }
        let data = ImageData::new(self.dataset, splits.train, splits.test, hp.val_fraction, env.device, &env.data_dir)?;
        let per_epoch = data.train_n / hp.batch_size;
        if per_epoch == 0 {
            return Err(TaskError::InvalidHyperparameter {
                key: "batch_size".into(),
                value: hp.batch_size.to_string(),
                requirement: format!("it exceeds the {} training examples; use a smaller batch", data.train_n),
            });
        }
        let schedule = match parse_milestones(&hp.lr_milestones, per_epoch as u64)? {
            None => LrSchedule::Constant,
            Some(milestones) => LrSchedule::MultiStep { milestones, gamma: 0.1 },
        };
        let optimizer = OptimizerSpec { rule, lr: hp.lr, weight_decay: hp.weight_decay, schedule, grad_clip: None };
        Ok(Box::new(ImageProblem {
            arch: self.arch,
            data,
            training: Training { iterations_per_epoch: per_epoch as u64, steps: hp.steps, eval_every: hp.eval_every, optimizer },
            batch_size: hp.batch_size,
        }))
    }
}

/// `0-4`, `5,7,9` or `0-2,7` as a sorted list of labels; empty: every class.
fn parse_classes(text: &str) -> Result<Option<Vec<u8>>, TaskError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let bad = || hparams::invalid("classes", text, &format!("use labels 0 to {} as a list and ranges, e.g. 0-4 or 5,7,9", CLASSES - 1));
    let label = |s: &str| s.trim().parse::<u8>().ok().filter(|&l| l < CLASSES).ok_or_else(bad);
    let mut classes = vec![];
    for item in text.split(',') {
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (label(a)?, label(b)?);
                if a > b {
                    return Err(bad());
                }
                classes.extend(a..=b);
            }
            None => classes.push(label(item)?),
        }
    }
    classes.sort_unstable();
    classes.dedup();
    Ok(Some(classes))
}

/// `80ep,120ep` or `500it` as ascending iterations; empty: no decay.
fn parse_milestones(text: &str, per_epoch: u64) -> Result<Option<Vec<u64>>, TaskError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let bad = || hparams::invalid("lr_milestones", text, "use steps separated by commas, like 80ep,120ep or 500it");
    let mut milestones = text.split(',').map(|s| s.trim().parse::<Step>().map(|s| s.iterations(per_epoch)).map_err(|_| bad())).collect::<Result<Vec<u64>, _>>()?;
    milestones.sort_unstable();
    Ok(Some(milestones))
}

/// Normalized images and labels on the training device.
struct ImageData {
    train_x: Tensor,
    train_y: Tensor,
    train_n: i64,
    val_x: Tensor,
    val_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    channels: i64,
    side: i64,
}

fn to_tensors(split: &ImageSplit, dataset: Dataset, device: Device) -> (Tensor, Tensor) {
    let (mean, std) = dataset.normalization();
    let shape = [split.n as i64, split.channels as i64, split.height as i64, split.width as i64];
    let mean = Tensor::from_slice(mean).to_kind(Kind::Float).view([1, -1, 1, 1]);
    let std = Tensor::from_slice(std).to_kind(Kind::Float).view([1, -1, 1, 1]);
    let x = (Tensor::from_slice(&split.pixels).view(shape).to_kind(Kind::Float) / 255.0 - mean) / std;
    let y = Tensor::from_slice(&split.labels).to_kind(Kind::Int64);
    (x.to_device(device), y.to_device(device))
}

impl ImageData {
    fn new(dataset: Dataset, train: ImageSplit, test: ImageSplit, val_fraction: f64, device: Device, data_dir: &Path) -> Result<Self, TaskError> {
        let n = train.n as i64;
        let val_n = ((n as f64) * val_fraction).round() as i64;
        if val_n < 1 || val_n >= n {
            return Err(TaskError::InvalidHyperparameter {
                key: "val_fraction".into(),
                value: val_fraction.to_string(),
                requirement: format!("{} in {} has {n} training examples, too few to hold out this fraction for validation", dataset.name(), data_dir.display()),
            });
        }
        let (x, y) = to_tensors(&train, dataset, device);
        let (test_x, test_y) = to_tensors(&test, dataset, device);
        let train_n = n - val_n;
        Ok(ImageData {
            train_x: x.narrow(0, 0, train_n),
            train_y: y.narrow(0, 0, train_n),
            val_x: x.narrow(0, train_n, val_n),
            val_y: y.narrow(0, train_n, val_n),
            train_n,
            test_x,
            test_y,
            channels: train.channels as i64,
            side: train.height as i64,
        })
    }
}

struct ImageProblem {
    arch: Arch,
    data: ImageData,
    training: Training,
    batch_size: i64,
}

impl Problem for ImageProblem {
    fn training(&self) -> &Training {
        &self.training
    }

    fn build<'a>(&'a self, root: &nn::Path, data_seed: u64) -> Result<Box<dyn Network + 'a>, TaskError> {
        let model: Box<dyn Classifier> = match self.arch {
            Arch::Lenet300100 => Box::new(Lenet::new(root, self.data.channels * self.data.side * self.data.side, &[300, 100], 10)),
            Arch::Conv(blocks) => Box::new(ConvNet::new(root, blocks, self.data.channels, self.data.side, 10)),
        };
        Ok(Box::new(ImageNetwork { problem: self, model, data_seed, epoch_order: None }))
    }
}

struct ImageNetwork<'a> {
    problem: &'a ImageProblem,
    model: Box<dyn Classifier>,
    data_seed: u64,
    /// The permutation of the current epoch's training examples.
    epoch_order: Option<(u64, Tensor)>,
}

/// Examples per forward pass during evaluation.
const EVAL_BATCH: i64 = 1000;

impl Network for ImageNetwork<'_> {
    fn prunable(&self) -> Vec<PrunableParam> {
        self.model.prunable()
    }

    fn loss(&mut self, step: u64) -> Tensor {
        let data = &self.problem.data;
        let per_epoch = self.problem.training.iterations_per_epoch;
        let (epoch, position) = (step / per_epoch, (step % per_epoch) as i64);
        if self.epoch_order.as_ref().map(|(e, _)| *e) != Some(epoch) {
            let order: Vec<i64> = Rng::new(derive(self.data_seed, "epoch", epoch))
                .permutation(data.train_n as usize)
                .into_iter()
                .map(|i| i as i64)
                .collect();
            self.epoch_order = Some((epoch, Tensor::from_slice(&order).to_device(data.train_x.device())));
        }
        let order = &self.epoch_order.as_ref().expect("set above").1;
        let b = self.problem.batch_size;
        let idx = order.narrow(0, position * b, b);
        let x = data.train_x.index_select(0, &idx);
        let y = data.train_y.index_select(0, &idx);
        self.model.forward_t(&x, true).cross_entropy_for_logits(&y)
    }

    fn evaluate(&mut self, split: Split) -> BTreeMap<String, f64> {
        let data = &self.problem.data;
        let (x, y) = match split {
            Split::Val => (&data.val_x, &data.val_y),
            Split::Test => (&data.test_x, &data.test_y),
        };
        let n = x.size()[0];
        let (mut correct, mut loss_sum) = (0f64, 0f64);
        tch::no_grad(|| {
            for start in (0..n).step_by(EVAL_BATCH as usize) {
                let len = EVAL_BATCH.min(n - start);
                let logits = self.model.forward_t(&x.narrow(0, start, len), false);
                let labels = y.narrow(0, start, len);
                correct += logits.argmax(-1, false).eq_tensor(&labels).sum(Kind::Float).double_value(&[]);
                loss_sum += logits.cross_entropy_for_logits(&labels).double_value(&[]) * len as f64;
            }
        });
        BTreeMap::from([("accuracy".to_string(), correct / n as f64), ("loss".to_string(), loss_sum / n as f64)])
    }
}

pub fn register(registry: &mut Registry) {
    let lenet = |name, description, dataset| ImageTask {
        name,
        description,
        dataset,
        arch: Arch::Lenet300100,
        paper_lr: 1.2e-3,
        paper_iterations: 50_000,
        conv_rate_multiplier: 1.0,
    };
    registry.register(Box::new(lenet("image/mnist-lenet", "LeNet-300-100 on MNIST (Adam 1.2e-3, batch 60; hidden layers 20%, output 10% per level)", Dataset::Mnist)));
    registry.register(Box::new(lenet("image/fashion-mnist-lenet", "LeNet-300-100 on Fashion-MNIST, MNIST settings", Dataset::FashionMnist)));
    let conv = |name, description, blocks, paper_lr, paper_iterations, conv_rate_multiplier| ImageTask {
        name,
        description,
        dataset: Dataset::Cifar10,
        arch: Arch::Conv(blocks),
        paper_lr,
        paper_iterations,
        conv_rate_multiplier,
    };
    registry.register(Box::new(conv("image/cifar10-conv2", "Conv-2 on CIFAR-10 (Adam 2e-4; conv 10%, fc 20%, output 10% per level)", 1, 2e-4, 20_000, 0.5)));
    registry.register(Box::new(conv("image/cifar10-conv4", "Conv-4 on CIFAR-10 (Adam 3e-4; conv 10%, fc 20%, output 10% per level)", 2, 3e-4, 25_000, 0.5)));
    registry.register(Box::new(conv("image/cifar10-conv6", "Conv-6 on CIFAR-10 (Adam 3e-4; conv 15%, fc 20%, output 10% per level)", 3, 3e-4, 30_000, 0.75)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lr_milestones_parse_as_steps_and_bad_ones_name_the_key() {
        assert_eq!(parse_milestones("", 100).unwrap(), None);
        assert_eq!(parse_milestones("3ep, 150it", 100).unwrap(), Some(vec![150, 300]));
        let err = parse_milestones("80ep;120ep", 100).unwrap_err();
        assert!(err.is_usage() && err.to_string().contains("--set lr_milestones=80ep;120ep"), "{err}");
    }

    #[test]
    fn classes_parse_as_lists_and_ranges_and_bad_ones_name_the_key() {
        assert_eq!(parse_classes("").unwrap(), None);
        assert_eq!(parse_classes("0-4").unwrap(), Some(vec![0, 1, 2, 3, 4]));
        assert_eq!(parse_classes("9, 5-6,5").unwrap(), Some(vec![5, 6, 9]));
        for bad in ["0-10", "4-2", "x", "1,,2", "-3"] {
            let err = parse_classes(bad).unwrap_err();
            assert!(err.is_usage() && err.to_string().contains(&format!("--set classes={bad}")), "{bad}: {err}");
        }
    }
}
