//! Image classification: LeNet-300-100 on MNIST and Fashion-MNIST, Conv-2/4/6 on CIFAR-10, with
//! the settings of Frankle & Carbin (2019), "The Lottery Ticket Hypothesis"; and VGG-19 and
//! ResNet-20 on MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100 and SVHN at one 32x32x3 input, the setting of
//! Morcos et al. (2019), "One ticket to win them all", where tickets move between datasets.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::nn;
use tch::{Device, Kind, Tensor};

use lottery_datasets::{load_cifar10, load_cifar100, load_image_folder, load_mnist_like, load_svhn, ImageSplit, CIFAR100_CLASSES, CLASSES};
use lottery_models::{CifarResnet, Classifier, ConvNet, Lenet, Vgg};
use lottery_results::{Direction, MetricSpec, TicketKind};
use lottery_task::{Defaults, LrSchedule, Network, OptimizerSpec, Preset, Problem, PrunableParam, PruningPolicy, Registry, Role, Rule, Split, Step, Task, TaskEnv, TaskError, Training};
use crate::epoch_order::EpochOrder;
use lottery_task::hparams::{self, from_table, to_table};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Dataset {
    Mnist,
    FashionMnist,
    Cifar10,
    Cifar100,
    Svhn,
    /// `<data-dir>/<folder>/{train,test}/<class>/<image>`, `--set folder=NAME`.
    Folder,
}

impl Dataset {
    fn name(self) -> &'static str {
        match self {
            Dataset::Mnist => "mnist",
            Dataset::FashionMnist => "fashion-mnist",
            Dataset::Cifar10 => "cifar10",
            Dataset::Cifar100 => "cifar100",
            Dataset::Svhn => "svhn",
            Dataset::Folder => "imagefolder",
        }
    }

    /// Whether a mirrored image is still an image of its class (not for digits).
    fn flips(self) -> bool {
        matches!(self, Dataset::Cifar10 | Dataset::Cifar100 | Dataset::Folder)
    }

    /// Per-channel mean and standard deviation of the training images (pixels scaled to 0-1).
    fn normalization(self) -> (&'static [f64], &'static [f64]) {
        match self {
            Dataset::Mnist => (&[0.1307], &[0.3081]),
            Dataset::FashionMnist => (&[0.2860], &[0.3530]),
            Dataset::Cifar10 => (&[0.4914, 0.4822, 0.4465], &[0.2470, 0.2435, 0.2616]),
            Dataset::Cifar100 => (&[0.5071, 0.4865, 0.4409], &[0.2673, 0.2564, 0.2762]),
            Dataset::Svhn => (&[0.4377, 0.4438, 0.4728], &[0.1980, 0.2010, 0.1970]),
            // ImageNet's, the usual choice for natural images.
            Dataset::Folder => (&[0.485, 0.456, 0.406], &[0.229, 0.224, 0.225]),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Arch {
    Lenet300100,
    /// Conv-2, Conv-4 or Conv-6: the number of convolution pairs.
    Conv(usize),
    Vgg19,
    Resnet20,
    Resnet50,
}

impl Arch {
    /// The architectures of Morcos et al.: batch norm, 32x32x3 input (digits padded and
    /// repeated), normalization from the training split, augmentation, SGD with step decay.
    fn transfer_family(self) -> bool {
        matches!(self, Arch::Vgg19 | Arch::Resnet20 | Arch::Resnet50)
    }
}

/// One image task: a dataset, an architecture and the paper's training settings.
struct ImageTask {
    name: Cow<'static, str>,
    description: Cow<'static, str>,
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
    /// VGG-19 and ResNet-20: channels of the first stage (64 and 16 in the paper).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    width: Option<i64>,
    /// VGG-19 and ResNet-20: random crops of the 4-pixel-padded image, and horizontal flips
    /// where the dataset allows them, seeded from the data seed and the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    augment: Option<bool>,
    /// Image-folder tasks: the dataset's folder under the data directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    folder: Option<String>,
    /// Train and evaluate on these classes only, e.g. `0-4` or `5,7,9` (empty: all). Labels keep
    /// their values, so the output layer keeps its size and a ticket found on some classes can
    /// be trained on others (class-disjoint transfer).
    classes: String,
}

impl ImageTask {
    fn hparams(&self, preset: Preset) -> ImageHparams {
        if self.arch.transfer_family() {
            return self.transfer_family_hparams(preset);
        }
        let (steps, eval_every) = match (preset, self.arch) {
            (Preset::Paper, _) => (Step::iters(self.paper_iterations), Step::iters(1000)),
            (Preset::Quick, Arch::Lenet300100) => (Step::epochs(2), Step::iters(500)),
            (Preset::Quick, Arch::Conv(_)) => (Step::epochs(1), Step::iters(250)),
            (Preset::Smoke, Arch::Lenet300100) => (Step::iters(300), Step::iters(100)),
            (Preset::Smoke, Arch::Conv(_)) => (Step::iters(30), Step::iters(10)),
            (_, Arch::Vgg19 | Arch::Resnet20 | Arch::Resnet50) => unreachable!("handled above"),
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
            width: None,
            augment: None,
            folder: None,
            // The paper holds out 5,000 training examples (of 60,000 for MNIST, 50,000 for CIFAR).
            val_fraction: if self.dataset == Dataset::Cifar10 { 0.1 } else { 1.0 / 12.0 },
            classes: String::new(),
        }
    }

    /// `paper`: SGD with momentum 0.9, lr 0.1 divided by 10 at epochs 80 and 120 of 160, weight
    /// decay 1e-4, batch 128 (ResNets, as OpenLTH) or 512 (VGG-19, as Morcos et al.), full
    /// width. `quick`: half (ResNet-20) or a quarter (VGG-19, ResNet-50) of the width, 4 epochs.
    /// `smoke`: a few iterations of a narrow network.
    fn transfer_family_hparams(&self, preset: Preset) -> ImageHparams {
        let (paper_width, quick_width) = match self.arch {
            Arch::Resnet20 => (16, 8),
            _ => (64, 16),
        };
        let (steps, eval_every, batch_size, milestones, width) = match preset {
            Preset::Paper => (Step::epochs(160), Step::epochs(1), if self.arch == Arch::Vgg19 { 512 } else { 128 }, "80ep,120ep", paper_width),
            Preset::Quick => (Step::epochs(4), Step::epochs(1), 128, "3ep", quick_width),
            Preset::Smoke => (Step::iters(20), Step::iters(10), 32, "", 4),
        };
        ImageHparams {
            steps,
            eval_every,
            batch_size,
            optimizer: "sgd".into(),
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 1e-4,
            lr_milestones: milestones.into(),
            val_fraction: 0.1,
            width: Some(width),
            augment: Some(true),
            folder: (self.dataset == Dataset::Folder).then(|| "imagefolder".to_string()),
            classes: String::new(),
        }
    }

    /// Where survivors are rewound to: late rewinding for the deep networks, which do not train
    /// from their initialization once sparse (Frankle et al. 2019; Morcos et al. reset to an
    /// early iteration too).
    fn rewind(&self, preset: Preset) -> Step {
        match (self.arch.transfer_family(), preset) {
            (false, _) => Step::ZERO,
            (true, Preset::Paper) => Step::epochs(2),
            (true, Preset::Quick) => Step::iters(100),
            (true, Preset::Smoke) => Step::iters(5),
        }
    }
}

impl Task for ImageTask {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn metrics(&self) -> Vec<MetricSpec> {
        vec![
            MetricSpec { name: "accuracy".into(), direction: Direction::Higher },
            MetricSpec { name: "loss".into(), direction: Direction::Lower },
        ]
    }

    fn defaults(&self, preset: Preset) -> Defaults {
        let hparams = to_table(&self.hparams(preset));
        let pruning = if self.arch.transfer_family() {
            // Morcos et al.: every convolution and the classifier ranked together (global).
            PruningPolicy::new(&[(Role::Conv, 1.0), (Role::Output, 1.0)])
        } else {
            // The LTH paper prunes output layers at half the rate of the others, and
            // convolutions at a per-architecture rate.
            PruningPolicy::new(&[(Role::Conv, self.conv_rate_multiplier), (Role::Hidden, 1.0), (Role::Output, 0.5)])
        };
        Defaults { hparams, rewind: self.rewind(preset), controls: vec![TicketKind::WINNING, TicketKind::REINIT, TicketKind::SHUFFLE], pruning, prune: None, revision: 1 }
    }

    fn prepare(&self, hparams: &toml::Table, env: &TaskEnv) -> Result<Box<dyn Problem>, TaskError> {
        let hp: ImageHparams = from_table(&self.name, hparams)?;
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
        let width = hp.width.unwrap_or(1);
        hparams::at_least_one("width", width)?;
        let (mut splits, class_count) = match self.dataset {
            Dataset::Mnist | Dataset::FashionMnist => (load_mnist_like(self.dataset.name(), &env.data_dir)?, CLASSES),
            Dataset::Cifar10 => (load_cifar10(&env.data_dir)?, CLASSES),
            Dataset::Cifar100 => (load_cifar100(&env.data_dir)?, CIFAR100_CLASSES),
            Dataset::Svhn => (load_svhn(&env.data_dir)?, CLASSES),
            Dataset::Folder => {
                let folder = hp.folder.as_deref().unwrap_or_default();
                hparams::require(!folder.is_empty() && !folder.contains(['/', '\\']), "folder", folder, "name a folder under --data-dir, e.g. imagenet-subset")?;
                let (splits, names) = load_image_folder(&env.data_dir, folder, 32)?;
                (splits, names.len() as u8)
            }
        };
        let classes = parse_classes(&hp.classes, class_count)?;
        if let Some(classes) = &classes {
            splits.train = splits.train.select(classes);
            splits.test = splits.test.select(classes);
            let empty = if splits.train.n == 0 { Some("training") } else if splits.test.n == 0 { Some("test") } else { None };
            if let Some(split) = empty {
                return Err(hparams::invalid("classes", &hp.classes, &format!("the {split} split has no example of these classes")));
            }
        }
        let data = ImageData::new(self.dataset, self.arch, splits.train, splits.test, hp.val_fraction, env.device, &env.data_dir)?;
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
            width,
            classes: class_count as i64,
            augment: hp.augment.unwrap_or(false).then_some(self.dataset.flips()),
            data,
            training: Training { iterations_per_epoch: per_epoch as u64, episodes_per_epoch: None, steps: hp.steps, eval_every: hp.eval_every, optimizer },
            batch_size: hp.batch_size,
        }))
    }
}

/// `0-4`, `5,7,9` or `0-2,7` as a sorted list of labels below `count`; empty: every class.
fn parse_classes(text: &str, count: u8) -> Result<Option<Vec<u8>>, TaskError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let bad = || hparams::invalid("classes", text, &format!("use labels 0 to {} as a list and ranges, e.g. 0-4 or 5,7,9", count - 1));
    let label = |s: &str| s.trim().parse::<u8>().ok().filter(|&l| l < count).ok_or_else(bad);
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

/// Pixels scaled to 0-1 and labels; for the transfer family, digits are zero-padded to 32x32 and
/// repeated to three channels, so every dataset fits one network.
fn to_tensors(split: &ImageSplit, arch: Arch) -> (Tensor, Tensor) {
    let shape = [split.n as i64, split.channels as i64, split.height as i64, split.width as i64];
    let mut x = Tensor::from_slice(&split.pixels).view(shape).to_kind(Kind::Float) / 255.0;
    if arch.transfer_family() {
        let (h, w) = (shape[2], shape[3]);
        if h < 32 && w < 32 {
            let (top, left) = ((32 - h) / 2, (32 - w) / 2);
            x = x.constant_pad_nd([left, 32 - w - left, top, 32 - h - top]);
        }
        if shape[1] == 1 {
            x = x.repeat([1, 3, 1, 1]);
        }
    }
    (x, Tensor::from_slice(&split.labels).to_kind(Kind::Int64))
}

impl ImageData {
    #[allow(clippy::too_many_arguments)]
    fn new(dataset: Dataset, arch: Arch, train: ImageSplit, test: ImageSplit, val_fraction: f64, device: Device, data_dir: &Path) -> Result<Self, TaskError> {
        let n = train.n as i64;
        let val_n = ((n as f64) * val_fraction).round() as i64;
        if val_n < 1 || val_n >= n {
            return Err(TaskError::InvalidHyperparameter {
                key: "val_fraction".into(),
                value: val_fraction.to_string(),
                requirement: format!("{} in {} has {n} training examples, too few to hold out this fraction for validation", dataset.name(), data_dir.display()),
            });
        }
        let (x, y) = to_tensors(&train, arch);
        let (test_x, test_y) = to_tensors(&test, arch);
        let train_n = n - val_n;
        // Per-channel mean and spread: the published ones for the LTH paper's tasks, those of
        // the training examples (validation excluded) for the transfer family.
        let (mean, std) = if arch.transfer_family() {
            let train_part = x.narrow(0, 0, train_n);
            // A channel with one value throughout (a blank image folder) must not divide by zero.
            (train_part.mean_dim(&[0i64, 2, 3][..], true, Kind::Float), train_part.std_dim(&[0i64, 2, 3][..], true, true).clamp_min(1e-6))
        } else {
            let (mean, std) = dataset.normalization();
            (Tensor::from_slice(mean).to_kind(Kind::Float).view([1, -1, 1, 1]), Tensor::from_slice(std).to_kind(Kind::Float).view([1, -1, 1, 1]))
        };
        let normalize = |t: Tensor| ((t - &mean) / &std).to_device(device);
        let (x, test_x) = (normalize(x), normalize(test_x));
        let (y, test_y) = (y.to_device(device), test_y.to_device(device));
        Ok(ImageData {
            train_x: x.narrow(0, 0, train_n),
            train_y: y.narrow(0, 0, train_n),
            val_x: x.narrow(0, train_n, val_n),
            val_y: y.narrow(0, train_n, val_n),
            train_n,
            test_x,
            test_y,
            channels: x.size()[1],
            side: x.size()[2],
        })
    }
}

struct ImageProblem {
    arch: Arch,
    /// First-stage channels of VGG-19 and ResNet-20.
    width: i64,
    classes: i64,
    /// Augment training batches; `Some(flip)` says whether with horizontal flips.
    augment: Option<bool>,
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
            Arch::Lenet300100 => Box::new(Lenet::new(root, self.data.channels * self.data.side * self.data.side, &[300, 100], self.classes)),
            Arch::Conv(blocks) => Box::new(ConvNet::new(root, blocks, self.data.channels, self.data.side, self.classes)),
            Arch::Vgg19 => Box::new(Vgg::vgg19(root, self.width, self.data.channels, self.classes)),
            Arch::Resnet20 => Box::new(CifarResnet::new(root, 20, self.width, self.data.channels, self.classes)),
            Arch::Resnet50 => Box::new(CifarResnet::resnet50(root, self.width, self.data.channels, self.classes)),
        };
        let batches = EpochOrder::new(data_seed, self.data.train_n as usize, self.batch_size, self.training.iterations_per_epoch);
        Ok(Box::new(ImageNetwork { problem: self, model, batches }))
    }
}

struct ImageNetwork<'a> {
    problem: &'a ImageProblem,
    model: Box<dyn Classifier>,
    batches: EpochOrder,
}

/// The standard CIFAR augmentation: each image shifted by up to 4 pixels (a random 32x32 crop of
/// the zero-padded image; zero is the mean after normalization) and, if `flip`, mirrored with
/// probability 1/2. Drawn from libtorch's generator, which the engine seeds from the data seed
/// and the step, so resumed training draws the same.
fn augment(x: &Tensor, flip: bool) -> Tensor {
    let (n, h, w) = (x.size()[0], x.size()[2], x.size()[3]);
    let padded = x.constant_pad_nd([4, 4, 4, 4]);
    let offsets = Vec::<i64>::try_from(Tensor::randint(9, [n * 2], (Kind::Int64, Device::Cpu))).expect("int64 offsets");
    let flips = Vec::<f32>::try_from(Tensor::rand([n], (Kind::Float, Device::Cpu))).expect("float draws");
    let crops: Vec<Tensor> = (0..n as usize)
        .map(|i| {
            let crop = padded.get(i as i64).narrow(1, offsets[2 * i], h).narrow(2, offsets[2 * i + 1], w);
            if flip && flips[i] < 0.5 { crop.flip([2]) } else { crop }
        })
        .collect();
    Tensor::stack(&crops, 0)
}

/// Examples per forward pass during evaluation.
const EVAL_BATCH: i64 = 1000;

impl Network for ImageNetwork<'_> {
    fn prunable(&self) -> Vec<PrunableParam> {
        self.model.prunable()
    }

    fn loss(&mut self, step: u64) -> Tensor {
        let data = &self.problem.data;
        let idx = self.batches.batch(step, data.train_x.device());
        let mut x = data.train_x.index_select(0, &idx);
        let y = data.train_y.index_select(0, &idx);
        if let Some(flip) = self.problem.augment {
            x = augment(&x, flip);
        }
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
    let lenet = |name: &'static str, description: &'static str, dataset| ImageTask {
        name: name.into(),
        description: description.into(),
        dataset,
        arch: Arch::Lenet300100,
        paper_lr: 1.2e-3,
        paper_iterations: 50_000,
        conv_rate_multiplier: 1.0,
    };
    registry.register(Box::new(lenet("image/mnist-lenet", "LeNet-300-100 on MNIST (Adam 1.2e-3, batch 60; hidden layers 20%, output 10% per level)", Dataset::Mnist)));
    registry.register(Box::new(lenet("image/fashion-mnist-lenet", "LeNet-300-100 on Fashion-MNIST, MNIST settings", Dataset::FashionMnist)));
    let conv = |name: &'static str, description: &'static str, blocks, paper_lr, paper_iterations, conv_rate_multiplier| ImageTask {
        name: name.into(),
        description: description.into(),
        dataset: Dataset::Cifar10,
        arch: Arch::Conv(blocks),
        paper_lr,
        paper_iterations,
        conv_rate_multiplier,
    };
    registry.register(Box::new(conv("image/cifar10-conv2", "Conv-2 on CIFAR-10 (Adam 2e-4; conv 10%, fc 20%, output 10% per level)", 1, 2e-4, 20_000, 0.5)));
    registry.register(Box::new(conv("image/cifar10-conv4", "Conv-4 on CIFAR-10 (Adam 3e-4; conv 10%, fc 20%, output 10% per level)", 2, 3e-4, 25_000, 0.5)));
    registry.register(Box::new(conv("image/cifar10-conv6", "Conv-6 on CIFAR-10 (Adam 3e-4; conv 15%, fc 20%, output 10% per level)", 3, 3e-4, 30_000, 0.75)));
    // Morcos et al.'s networks on every dataset at 32x32x3, so tickets move between them.
    let datasets = [
        ("cifar10", "CIFAR-10", Dataset::Cifar10),
        ("cifar100", "CIFAR-100", Dataset::Cifar100),
        ("svhn", "SVHN cropped digits", Dataset::Svhn),
        ("fashion-mnist", "Fashion-MNIST padded to 32x32x3", Dataset::FashionMnist),
        ("mnist", "MNIST padded to 32x32x3", Dataset::Mnist),
        ("folder", "an image folder (--set folder=NAME: <data-dir>/NAME/{train,test}/<class>/*.png|jpg, resized to 32x32)", Dataset::Folder),
    ];
    let archs = [("vgg19", "VGG-19 (batch norm)", Arch::Vgg19), ("resnet20", "ResNet-20", Arch::Resnet20), ("resnet50", "ResNet-50 (bottleneck)", Arch::Resnet50)];
    for (data_name, data_text, dataset) in datasets {
        for (arch_name, arch_text, arch) in archs {
            let name = format!("image/{data_name}-{arch_name}").into();
            let description = format!("{arch_text} on {data_text}").into();
            // The LTH paper's Adam settings do not apply: the presets set SGD (transfer_family_hparams).
            registry.register(Box::new(ImageTask { name, description, dataset, arch, paper_lr: 0.1, paper_iterations: 0, conv_rate_multiplier: 1.0 }));
        }
    }
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
        assert_eq!(parse_classes("", 10).unwrap(), None);
        assert_eq!(parse_classes("0-4", 10).unwrap(), Some(vec![0, 1, 2, 3, 4]));
        assert_eq!(parse_classes("9, 5-6,5", 10).unwrap(), Some(vec![5, 6, 9]));
        assert_eq!(parse_classes("50-51", 100).unwrap(), Some(vec![50, 51]));
        for bad in ["0-10", "4-2", "x", "1,,2", "-3"] {
            let err = parse_classes(bad, 10).unwrap_err();
            assert!(err.is_usage() && err.to_string().contains(&format!("--set classes={bad}")), "{bad}: {err}");
        }
    }
}
