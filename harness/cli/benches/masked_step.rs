//! One image-classification training step (forward, cross-entropy, backward, Adam) with and
//! without masks, against PyTorch eager doing the same (dense, and masked the way OpenLTH masks:
//! weights multiplied by the mask before each forward): LeNet-300-100 on batches of 60 MNIST-shaped
//! images, Conv-6 on batches of 60 CIFAR-shaped ones. Harness and peer blocks alternate; each
//! ratio is the median of the per-round ratios (see `common`).
//!
//! `cargo bench --bench masked_step` (or `./lottery bench`). `LOTTERY_BENCH_THREADS` sets the
//! threads of both sides (default 1), `LOTTERY_BENCH_DEVICE` their device (cpu, cuda;
//! default cpu); `MASKED_STEP_MODELS=lenet,conv6` picks the models.

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use common::{against_peer, alternate, median, Measure, Peer};
use lottery_engine::mask::{BoundMask, Mask};
use lottery_engine::optim::{LrSchedule, Optimizer, OptimizerSpec, Rule};
use lottery_engine::train::training_step;
use lottery_models::{Classifier, ConvNet, Lenet};
use tch::nn;
use tch::{Device, Kind, Tensor};

const DENSITY: f64 = 0.1;

#[derive(Clone, Copy)]
enum Model {
    Lenet,
    Conv6,
}

impl Model {
    fn name(self) -> &'static str {
        match self {
            Model::Lenet => "lenet",
            Model::Conv6 => "conv6",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Model::Lenet => "lenet-300-100 train step (batch 60, Adam)",
            Model::Conv6 => "conv-6 train step (batch 60 of 3x32x32, Adam)",
        }
    }

    /// Steps per timed block (about a second each) and measured rounds.
    fn block_and_rounds(self) -> (u64, usize) {
        match self {
            Model::Lenet => (200, 11),
            Model::Conv6 => (2, 5),
        }
    }
}

struct Setup {
    net: Box<dyn Classifier>,
    optimizer: Optimizer,
    mask: Option<BoundMask>,
    x: Tensor,
    y: Tensor,
    device: Device,
    _vs: nn::VarStore,
}

fn setup(model: Model, density: Option<f64>, device: Device) -> Setup {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(device);
    let (net, shape, lr): (Box<dyn Classifier>, [i64; 4], f64) = match model {
        Model::Lenet => (Box::new(Lenet::lenet_300_100(&vs.root())), [60, 1, 28, 28], 1.2e-3),
        Model::Conv6 => (Box::new(ConvNet::new(&vs.root(), 3, 3, 32, 10)), [60, 3, 32, 32], 3e-4),
    };
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let mask = density.map(|d| {
        let layers = net.prunable().iter().map(|p| (p.name.clone(), vars[&p.name].rand_like().lt(d).to_kind(Kind::Float))).collect();
        let bound = BoundMask::bind(&Mask::from_layers(layers), &vars, device).expect("mask binds");
        bound.apply_to_weights();
        bound
    });
    let spec = OptimizerSpec { rule: Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, lr, weight_decay: 0.0, schedule: LrSchedule::Constant, grad_clip: None };
    let optimizer = Optimizer::new(spec, vars.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect());
    let x = Tensor::randn(shape, (Kind::Float, device));
    let y = Tensor::randint(10, [60], (Kind::Int64, device));
    Setup { net, optimizer, mask, x, y, device, _vs: vs }
}

/// Seconds per step over a block of `steps`.
fn block(s: &mut Setup, steps: u64) -> f64 {
    let start = Instant::now();
    for step in 0..steps {
        let (net, x, y) = (&s.net, &s.x, &s.y);
        let _ = training_step(|| net.forward_t(x, true).cross_entropy_for_logits(y), &mut s.optimizer, s.mask.as_ref(), step);
    }
    common::sync(s.device);
    start.elapsed().as_secs_f64() / steps as f64
}

fn main() {
    let threads = common::threads();
    let device = common::device();
    let on = common::device_arg(device);
    let models = std::env::var("MASKED_STEP_MODELS").unwrap_or_else(|_| "lenet,conv6".into());
    for model in [Model::Lenet, Model::Conv6].into_iter().filter(|m| models.split(',').any(|n| n.trim() == m.name())) {
        let (steps, rounds) = model.block_and_rounds();
        let mut dense = setup(model, None, device);
        let mut masked = setup(model, Some(DENSITY), device);
        let per_step = |peer: &mut Peer| peer.block(steps) / steps as f64;
        let density = DENSITY.to_string();
        against_peer(&format!("{} dense on {on}", model.title()), Measure::Millis, rounds, threads, Peer::start("masked_step.py", &[model.name(), "--device", &on], threads), || block(&mut dense, steps), per_step);
        against_peer(
            &format!("{} masked (density {DENSITY}; peer masks like OpenLTH) on {on}", model.title()),
            Measure::Millis,
            rounds,
            threads,
            Peer::start("masked_step.py", &[model.name(), "--density", &density, "--device", &on], threads),
            || block(&mut masked, steps),
            per_step,
        );
        // What a researcher swapping tools gets: a sparse ticket here against dense PyTorch.
        against_peer(
            &format!("{} masked here (density {DENSITY}) vs dense in PyTorch, on {on}", model.title()),
            Measure::Millis,
            rounds,
            threads,
            Peer::start("masked_step.py", &[model.name(), "--device", &on], threads),
            || block(&mut masked, steps),
            per_step,
        );
        // Three times the rounds: a few percent is the target here, and one round's noise on a
        // shared machine is more than that.
        let r = alternate(3 * rounds, || block(&mut dense, steps), || block(&mut masked, steps));
        println!(
            "{} masked/dense time in the harness: {:.3} ({}; dense {:.3} ms, masked {:.3} ms)",
            model.title(),
            r.ratio(),
            r.spread(),
            median(&r.a) * 1e3,
            median(&r.b) * 1e3
        );
    }
}
