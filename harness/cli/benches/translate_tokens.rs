//! Transformer translation throughput with and without masks, as ratios measured in one run:
//! training target tokens/s (label-smoothed loss, Adam, masks re-applied every update) and beam-4
//! decoding sentences/s; plus incremental decoding (cached keys/values) against re-running the
//! decoder over the whole prefix at every position. Dense and masked blocks alternate and each
//! ratio is the median of the per-round ratios, so load from other processes falls on both alike.
//!
//! Training is also timed against nn.Transformer in PyTorch eager at the same shape, loss and
//! optimizer (`peers/transformer.py`), dense, alternating blocks.
//!
//! `cargo bench --bench translate_tokens` (or `./lottery bench`). The model is the quick preset's
//! shape on random tokens; decoding runs a fixed number of positions (an untrained model never
//! ends a sentence), so every block does the same work. `LOTTERY_BENCH_THREADS` sets the threads
//! of both sides (default 1), `LOTTERY_BENCH_DEVICE` their device (cpu, cuda; default cpu),
//! `TRANSLATE_BENCH_SHAPE` the model (quick, the default, or base: Transformer base with a
//! 32,000-word vocabulary).

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use lottery_engine::mask::{BoundMask, Mask};
use lottery_engine::optim::{LrSchedule, Optimizer, OptimizerSpec, Rule};
use lottery_engine::train::training_step;
use lottery_models::{Specials, Transformer, TransformerConfig};
use tch::{nn, Device, Kind, Tensor};

const ROUNDS: usize = 5;
const SPECIALS: Specials = Specials { pad: 0, bos: 1, eos: 2 };
/// Sentences per training batch and their source/target length: 3,000 target tokens.
const BATCH: i64 = 200;
const LENGTH: i64 = 15;
/// Sentences decoded together, and positions decoded.
const DECODE_BATCH: i64 = 64;
const DECODE_LEN: i64 = 20;
const DENSITY: f64 = 0.33;

struct Setup {
    model: Transformer,
    optimizer: Optimizer,
    mask: Option<BoundMask>,
    source: Tensor,
    target_in: Tensor,
    target_out: Tensor,
    device: Device,
    _vs: nn::VarStore,
}

/// `TRANSLATE_BENCH_SHAPE`: quick or base.
fn shape() -> String {
    std::env::var("TRANSLATE_BENCH_SHAPE").unwrap_or_else(|_| "quick".into())
}

fn config() -> TransformerConfig {
    match shape().as_str() {
        "quick" => TransformerConfig { vocab: 6_000, d_model: 128, ffn: 512, heads: 4, encoder_layers: 2, decoder_layers: 2, dropout: 0.1, share_embeddings: true, pre_norm: true, max_len: 1024 },
        "base" => TransformerConfig::base(32_000),
        other => panic!("TRANSLATE_BENCH_SHAPE is quick or base, not `{other}`"),
    }
}

fn setup(density: Option<f64>, device: Device) -> Setup {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(device);
    let model = Transformer::new(&vs.root(), config()).expect("valid config");
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let mask = density.map(|d| {
        let layers = model.prunable().iter().filter(|p| p.role != lottery_models::Role::Embedding).map(|p| (p.name.clone(), vars[&p.name].rand_like().lt(d).to_kind(Kind::Float))).collect();
        let bound = BoundMask::bind(&Mask::from_layers(layers), &vars, device).expect("mask binds");
        bound.apply_to_weights();
        bound
    });
    let spec = OptimizerSpec { rule: Rule::Adam { beta1: 0.9, beta2: 0.98, eps: 1e-9 }, lr: 1e-3, weight_decay: 0.0, schedule: LrSchedule::Constant, grad_clip: None };
    let optimizer = Optimizer::new(spec, vars.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect());
    let words = |n: i64| Tensor::randint_low(3, config().vocab, [BATCH, n], (Kind::Int64, device));
    let (source, target) = (words(LENGTH), words(LENGTH + 1));
    Setup { model, optimizer, mask, source, target_in: target.narrow(1, 0, LENGTH).contiguous(), target_out: target.narrow(1, 1, LENGTH).contiguous(), device, _vs: vs }
}

/// Training target tokens per second over `steps` updates.
fn train_block(s: &mut Setup, steps: u64) -> f64 {
    let start = Instant::now();
    for step in 0..steps {
        let (model, source, target_in, target_out) = (&s.model, &s.source, &s.target_in, &s.target_out);
        let _ = training_step(
            || {
                let (memory, mask) = model.encode(source, SPECIALS.pad, true);
                let logits = model.decode(&memory, &mask, target_in, SPECIALS.pad, true);
                logits.view([-1, config().vocab]).cross_entropy_loss::<Tensor>(&target_out.view([-1]), None, tch::Reduction::Mean, SPECIALS.pad, 0.1)
            },
            &mut s.optimizer,
            s.mask.as_ref(),
            step,
        );
    }
    common::sync(s.device);
    (steps as i64 * BATCH * LENGTH) as f64 / start.elapsed().as_secs_f64()
}

/// Beam-4 decoding sentences per second.
fn beam_block(s: &Setup) -> f64 {
    let source = s.source.narrow(0, 0, DECODE_BATCH);
    let start = Instant::now();
    let out = s.model.beam(&source, SPECIALS, DECODE_LEN, 4, 0.6);
    assert_eq!(out.len() as i64, DECODE_BATCH);
    common::sync(s.device);
    DECODE_BATCH as f64 / start.elapsed().as_secs_f64()
}

/// Greedy decoding sentences per second: incremental (the model's) or re-running the decoder
/// over the whole prefix at each position.
fn greedy_block(s: &Setup, incremental: bool) -> f64 {
    let source = s.source.narrow(0, 0, DECODE_BATCH);
    let start = Instant::now();
    tch::no_grad(|| {
        if incremental {
            let _ = s.model.greedy(&source, SPECIALS, DECODE_LEN);
        } else {
            let (memory, mask) = s.model.encode(&source, SPECIALS.pad, false);
            let mut prefix = Tensor::full([DECODE_BATCH, 1], SPECIALS.bos, (Kind::Int64, s.device));
            for _ in 0..DECODE_LEN {
                let next = s.model.decode(&memory, &mask, &prefix, SPECIALS.pad, false).select(1, -1).argmax(-1, true);
                prefix = Tensor::cat(&[prefix, next], 1);
            }
        }
    });
    common::sync(s.device);
    DECODE_BATCH as f64 / start.elapsed().as_secs_f64()
}

/// Runs `a` and `b` alternately; medians of each and of `b / a`.
fn compare(a: impl FnMut() -> f64, b: impl FnMut() -> f64) -> (f64, f64, f64) {
    let r = common::alternate(ROUNDS, a, b);
    (common::median(&r.a), common::median(&r.b), r.ratio())
}

fn main() {
    let threads = common::threads();
    let device = common::device();
    let on = common::device_arg(device);
    let c = config();
    let title = format!("transformer d{} ffn{} {}+{} layers, vocab {}, on {on}, {} threads", c.d_model, c.ffn, c.encoder_layers, c.decoder_layers, c.vocab, tch::get_num_threads());
    let mut dense = setup(None, device);
    let mut masked = setup(Some(DENSITY), device);
    let tokens = (3 * BATCH * LENGTH) as f64;
    common::against_peer(
        &format!("{title}: training dense (peer: nn.Transformer, PyTorch eager)"),
        common::Measure::Rate("target tokens/s"),
        ROUNDS,
        threads,
        common::Peer::start("transformer.py", &["--shape", &shape(), "--device", &on], threads),
        || train_block(&mut dense, 3),
        |peer| tokens / peer.block(3),
    );
    let (d, m, r) = compare(|| train_block(&mut dense, 3), || train_block(&mut masked, 3));
    println!("{title}: training ({BATCH} x {LENGTH} target tokens, Adam): dense {d:.0} tokens/s, masked (density {DENSITY}) {m:.0} tokens/s, masked/dense {r:.3} (median of {ROUNDS} rounds)");
    let (d, m, r) = compare(|| beam_block(&dense), || beam_block(&masked));
    println!("{title}: beam-4 decoding ({DECODE_BATCH} sentences x {DECODE_LEN} positions): dense {d:.1} sentences/s, masked {m:.1} sentences/s, masked/dense {r:.3}");
    let (full, inc, r) = compare(|| greedy_block(&dense, false), || greedy_block(&dense, true));
    println!("{title}: greedy decoding ({DECODE_BATCH} x {DECODE_LEN}): whole-prefix recompute {full:.1} sentences/s, cached keys/values {inc:.1} sentences/s, cached/recompute {r:.2}");
}
