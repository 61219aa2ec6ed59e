//! LeNet-300-100 training step (batch 60, Adam) with and without masks, as a ratio measured in
//! one run: dense and masked blocks alternate, and the ratio is the median of the per-round
//! ratios, so load from other processes falls on both alike.
//!
//! `cargo bench --bench masked_step` (or `./lottery bench`).

use std::collections::BTreeMap;
use std::time::Instant;

use lottery_engine::mask::{BoundMask, Mask};
use lottery_engine::optim::{LrSchedule, Optimizer, OptimizerSpec, Rule};
use lottery_engine::train::training_step;
use lottery_models::{Classifier, Lenet};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

const STEPS_PER_BLOCK: u64 = 200;
const ROUNDS: usize = 15;

struct Setup {
    net: Lenet,
    optimizer: Optimizer,
    mask: Option<BoundMask>,
    x: Tensor,
    y: Tensor,
    _vs: nn::VarStore,
}

fn setup(density: Option<f64>) -> Setup {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Lenet::lenet_300_100(&vs.root());
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let mask = density.map(|d| {
        let layers = net.prunable().iter().map(|p| (p.name.clone(), vars[&p.name].rand_like().lt(d).to_kind(Kind::Float))).collect();
        BoundMask::bind(&Mask::from_layers(layers), &vars, Device::Cpu).expect("mask binds")
    });
    let spec = OptimizerSpec { rule: Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, lr: 1.2e-3, weight_decay: 0.0, schedule: LrSchedule::Constant, grad_clip: None };
    let optimizer = Optimizer::new(spec, vars.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect());
    let x = Tensor::randn([60, 1, 28, 28], (Kind::Float, Device::Cpu));
    let y = Tensor::randint(10, [60], (Kind::Int64, Device::Cpu));
    Setup { net, optimizer, mask, x, y, _vs: vs }
}

/// Seconds per step over one block.
fn block(s: &mut Setup) -> f64 {
    let start = Instant::now();
    for step in 0..STEPS_PER_BLOCK {
        let (net, x, y) = (&s.net, &s.x, &s.y);
        let _ = training_step(|| net.forward_t(x, true).cross_entropy_for_logits(y), &mut s.optimizer, s.mask.as_ref(), step);
    }
    start.elapsed().as_secs_f64() / STEPS_PER_BLOCK as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut dense = setup(None);
    let mut masked = setup(Some(0.1));
    block(&mut dense);
    block(&mut masked);
    let (mut d, mut m, mut ratios) = (vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        let td = block(&mut dense);
        let tm = block(&mut masked);
        d.push(td);
        m.push(tm);
        ratios.push(tm / td);
    }
    println!(
        "lenet-300-100 train step, batch 60, Adam, {} threads: dense {:.3} ms, masked (density 0.1) {:.3} ms, masked/dense ratio {:.3} (median of {ROUNDS} rounds, min {:.3}, max {:.3})",
        tch::get_num_threads(),
        median(d) * 1e3,
        median(m) * 1e3,
        median(ratios.clone()),
        ratios.iter().copied().fold(f64::INFINITY, f64::min),
        ratios.iter().copied().fold(0.0, f64::max),
    );
}
