//! LSTM language-model training throughput (tokens/s) with and without masks, as ratios measured
//! in one run: dense and masked blocks alternate, and each ratio is the median of the per-round
//! ratios, so load from other processes falls on both alike. Vocabulary 10,000 (PTB), Adam with
//! gradient clipping, truncated BPTT with the state carried between updates.
//!
//! Against PyTorch's word_language_model example in eager mode (`peers/word_lm.py`: same sizes,
//! optimizer, clipping and batch), dense, alternating blocks.
//!
//! `cargo bench --bench lm_tokens` (or `./lottery bench`). `LM_BENCH_SIZES=64,650` picks the
//! embedding/hidden sizes (default: the quick preset's 64 and the paper's 650);
//! `LOTTERY_BENCH_THREADS` sets the threads of both sides (default 1), `LOTTERY_BENCH_DEVICE`
//! their device (cpu, cuda; default cpu).

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use lottery_engine::mask::{BoundMask, Mask};
use lottery_engine::optim::{LrSchedule, Optimizer, OptimizerSpec, Rule};
use lottery_engine::train::training_step;
use lottery_models::{LstmLm, LstmLmConfig, LstmState};
use tch::nn;
use tch::{Device, Kind, Tensor};

const VOCAB: i64 = 10_000;
const ROUNDS: usize = 7;

struct Setup {
    lm: LstmLm,
    optimizer: Optimizer,
    mask: Option<BoundMask>,
    data: Tensor,
    state: LstmState,
    batch: i64,
    bptt: i64,
    device: Device,
    _vs: nn::VarStore,
}

fn setup(size: i64, batch: i64, bptt: i64, density: Option<f64>, device: Device) -> Setup {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(device);
    let config = LstmLmConfig { vocab: VOCAB, embedding: size, hidden: size, layers: 2, dropout: 0.5, tie_weights: false };
    let lm = LstmLm::new(&vs.root(), config).expect("valid config");
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let mask = density.map(|d| {
        let layers = lm.prunable().iter().filter(|p| p.role != lottery_models::Role::Embedding).map(|p| (p.name.clone(), vars[&p.name].rand_like().lt(d).to_kind(Kind::Float))).collect();
        BoundMask::bind(&Mask::from_layers(layers), &vars, device).expect("mask binds")
    });
    let spec = OptimizerSpec { rule: Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-3 }, lr: 1e-3, weight_decay: 0.0, schedule: LrSchedule::Constant, grad_clip: Some(0.25) };
    let optimizer = Optimizer::new(spec, vars.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect());
    let data = Tensor::randint(VOCAB, [bptt + 1, batch], (Kind::Int64, device));
    let state = lm.zero_state(batch, device);
    Setup { lm, optimizer, mask, data, state, batch, bptt, device, _vs: vs }
}

/// Tokens per second over `steps` updates.
fn block(s: &mut Setup, steps: u64) -> f64 {
    let start = Instant::now();
    for step in 0..steps {
        let input = s.data.narrow(0, 0, s.bptt);
        let target = s.data.narrow(0, 1, s.bptt).reshape([-1]);
        let mut next = None;
        let (lm, state) = (&s.lm, &s.state);
        let _ = training_step(
            || {
                let (logits, (h, c)) = lm.forward(&input, state, true);
                next = Some((h.detach(), c.detach()));
                logits.view([-1, VOCAB]).cross_entropy_for_logits(&target)
            },
            &mut s.optimizer,
            s.mask.as_ref(),
            step,
        );
        s.state = next.expect("forward ran");
    }
    common::sync(s.device);
    (steps as i64 * s.batch * s.bptt) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let sizes: Vec<i64> = std::env::var("LM_BENCH_SIZES")
        .unwrap_or_else(|_| "64,650".into())
        .split(',')
        .map(|s| s.trim().parse().expect("LM_BENCH_SIZES is a comma-separated list of sizes"))
        .collect();
    let threads = common::threads();
    let device = common::device();
    let on = common::device_arg(device);
    for size in sizes {
        // The quick preset's batch shape (20 x 20) for small models, the paper's (30 x 50) otherwise.
        let (batch, bptt) = if size <= 256 { (20, 20) } else { (30, 50) };
        let steps = if size <= 256 { 20 } else { 3 };
        let mut dense = setup(size, batch, bptt, None, device);
        let mut masked = setup(size, batch, bptt, Some(0.1), device);
        let tokens = (steps as i64 * batch * bptt) as f64;
        let peer = common::Peer::start("word_lm.py", &["--size", &size.to_string(), "--batch", &batch.to_string(), "--bptt", &bptt.to_string(), "--device", &on], threads);
        common::against_peer(
            &format!("lstm-lm {size}x2, vocab {VOCAB}, batch {batch} x bptt {bptt}, Adam, dense on {on} (peer: PyTorch word_language_model)"),
            common::Measure::Rate("tokens/s"),
            ROUNDS,
            threads,
            peer,
            || block(&mut dense, steps),
            |peer| tokens / peer.block(steps),
        );
        block(&mut dense, 1);
        block(&mut masked, 1);
        let (mut d, mut m, mut ratios) = (vec![], vec![], vec![]);
        for _ in 0..ROUNDS {
            let td = block(&mut dense, steps);
            let tm = block(&mut masked, steps);
            d.push(td);
            m.push(tm);
            ratios.push(tm / td);
        }
        println!(
            "lstm-lm {size}x2, vocab {VOCAB}, batch {batch} x bptt {bptt}, Adam, {} threads: dense {:.0} tokens/s, masked (density 0.1) {:.0} tokens/s, masked/dense throughput ratio {:.3} (median of {ROUNDS} rounds, min {:.3}, max {:.3})",
            tch::get_num_threads(),
            common::median(&d),
            common::median(&m),
            common::median(&ratios),
            ratios.iter().copied().fold(f64::INFINITY, f64::min),
            ratios.iter().copied().fold(0.0, f64::max),
        );
    }
}
