//! Training one ticket: a masked network from given initial weights, from iteration `start` to
//! `end` (an iteration, or a number of finished episodes), with evaluations, checkpoints, and (for
//! the dense level) the rewind snapshot.
//!
//! Pruned weights stay exactly zero: their gradients are zeroed before every optimizer step (so
//! no momentum or Adam state builds up for them) and the weights are masked again after it.
//! Everything that varies with the step is a function of the step (data order, learning rate, the
//! seed of per-step randomness such as dropout), so training resumed from a checkpoint computes
//! exactly what uninterrupted training would have.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tch::{nn, Device, Kind, Tensor};

use lottery_results::{write_atomic, CurvePoint, Direction, MetricSpec, TicketKind, TicketLayout, TicketResult};
use lottery_task::{Point, Problem, Split, Training};

use crate::checkpoint::{read_safetensors, write_safetensors_atomic, Checkpoint, Progress};
use crate::mask::{BoundMask, Mask};
use crate::optim::Optimizer;
use crate::progress::Reporter;
use crate::seeds::derive;
use crate::EngineError;

/// Where a ticket's weights come from before masking.
pub enum Init {
    /// A fresh initialization from this seed.
    Fresh(u64),
    /// The weights in this file (a rewind snapshot); `seed` still seeds the construction.
    Rewound { seed: u64, path: PathBuf },
}

/// One ticket to train.
pub struct TicketSpec<'a> {
    pub kind: TicketKind,
    pub replicate: u32,
    pub level: u32,
    pub ticket: TicketLayout,
    pub mask: &'a Mask,
    pub init: Init,
    pub data_seed: u64,
    pub seeds: BTreeMap<String, u64>,
    /// Where training starts: the iteration, and the run's episodes played by then (a ticket
    /// started at a rewind point in episodes counts on from them).
    pub start: RewindPoint,
    /// Where training ends, episodes counted from the run's beginning, as every episode count
    /// here is: epochs of episodes end where the run's do.
    pub end: Point,
    /// Save the weights at this point to this file (the rewind point of the dense run); for a
    /// point in episodes, the iteration it fell on is recorded beside it ([`RewindPoint`]).
    pub snapshot: Option<(Point, PathBuf)>,
}

/// The iteration a rewind snapshot was taken at and the training episodes finished by then:
/// where the tickets of later levels start, and how much of an episode budget they have left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RewindPoint {
    pub iteration: u64,
    pub episodes: u64,
}

impl RewindPoint {
    pub const START: RewindPoint = RewindPoint { iteration: 0, episodes: 0 };

    /// The file beside the snapshot `weights` that records where it was taken.
    pub fn file(weights: &Path) -> PathBuf {
        weights.with_extension("toml")
    }

    /// The point the snapshot `weights` was taken at, as recorded beside it.
    pub fn read(weights: &Path) -> Result<RewindPoint, EngineError> {
        let path = Self::file(weights);
        let text = std::fs::read_to_string(&path).map_err(EngineError::io(&path))?;
        toml::from_str(&text).map_err(|e| EngineError::corrupt(&path, e.message()))
    }

    fn write(&self, weights: &Path) -> Result<(), EngineError> {
        let text = format!("# Where the rewind snapshot beside this file was taken.\n{}", toml::to_string(self).expect("two integers serialize"));
        Ok(write_atomic(Self::file(weights), text.as_bytes())?)
    }
}

fn sorted_vars(vs: &nn::VarStore) -> BTreeMap<String, Tensor> {
    vs.variables().into_iter().collect()
}

fn load_into(vars: &BTreeMap<String, Tensor>, tensors: &BTreeMap<String, Tensor>, what: &Path) -> Result<(), EngineError> {
    for (name, var) in vars {
        let saved = tensors.get(name).ok_or_else(|| EngineError::corrupt(what, format!("no tensor `{name}`")))?;
        if saved.size() != var.size() {
            return Err(EngineError::corrupt(what, format!("`{name}` has shape {:?}, expected {:?}", saved.size(), var.size())));
        }
        tch::no_grad(|| var.shallow_clone().copy_(saved));
    }
    Ok(())
}

fn weights_of(vars: &BTreeMap<String, Tensor>) -> Vec<(String, Tensor)> {
    vars.iter().map(|(n, t)| (n.clone(), t.detach())).collect()
}

/// Summary metrics from a curve: for each task metric `m`, `val_m` and `test_m` at the end of
/// training, and `test_m@val` at the evaluation where the first metric was best on validation
/// data (the earliest such evaluation on ties). The best test value is never reported.
pub fn summarize(curve: &[CurvePoint], metrics: &[MetricSpec]) -> BTreeMap<String, f64> {
    let at = |step: u64, split: &str, metric: &str| {
        curve.iter().find(|p| p.step == step && p.split == split && p.metric == metric).map(|p| p.value)
    };
    let mut out = BTreeMap::new();
    let Some(primary) = metrics.first() else { return out };
    // Candidates are the evaluations that have the test metric too (an RL ticket has no finished
    // training episode to report at its first evaluation).
    let evals: Vec<(u64, f64)> = curve
        .iter()
        .filter(|p| p.split == "val" && p.metric == primary.name && p.value.is_finite())
        .filter(|p| at(p.step, "test", &primary.name).is_some())
        .map(|p| (p.step, p.value))
        .collect();
    let end = curve.iter().map(|p| p.step).max();
    let chosen = evals.iter().copied().reduce(|best, e| {
        let better = match primary.direction {
            Direction::Higher => e.1 > best.1,
            Direction::Lower => e.1 < best.1,
        };
        if better { e } else { best }
    });
    for m in metrics {
        if let Some(end) = end {
            if let Some(v) = at(end, "val", &m.name) {
                out.insert(format!("val_{}", m.name), v);
            }
            if let Some(v) = at(end, "test", &m.name) {
                out.insert(format!("test_{}", m.name), v);
            }
        }
        if let Some((step, _)) = chosen {
            if let Some(v) = at(step, "test", &m.name) {
                out.insert(format!("test_{}@val", m.name), v);
            }
        }
    }
    if let Some((step, _)) = chosen {
        out.insert("step@val".into(), step as f64);
    }
    out
}

fn evaluate(net: &mut dyn lottery_task::Network, step: u64, curve: &mut Vec<CurvePoint>) {
    for split in [Split::Val, Split::Test] {
        for (metric, value) in net.evaluate(split) {
            curve.push(CurvePoint { step, split: split.as_str().into(), metric, value });
        }
    }
}

/// One optimizer update on the loss `loss` computes, keeping pruned weights at zero (the
/// optimizer zeroes their gradients, so their update is zero). Returns the detached loss.
pub fn training_step(loss: impl FnOnce() -> Tensor, optimizer: &mut Optimizer, mask: Option<&BoundMask>, step: u64) -> Tensor {
    training_step_with_gradients(|| lottery_task::with_gradients(loss()), optimizer, mask, step)
}

/// [`training_step`] for a `loss` that leaves its gradient in the variables' `grad`s itself
/// ([`lottery_task::Network::loss_and_gradients`]).
pub fn training_step_with_gradients(loss: impl FnOnce() -> Tensor, optimizer: &mut Optimizer, mask: Option<&BoundMask>, step: u64) -> Tensor {
    optimizer.zero_grad();
    let loss = loss();
    optimizer.step(step, mask);
    loss.detach()
}

/// Trains one ticket, resuming from its checkpoint if there is one; returns at once if it is
/// already finished.
pub fn train_ticket(
    problem: &dyn Problem,
    training: &Training,
    metrics: &[MetricSpec],
    device: Device,
    spec: TicketSpec<'_>,
    reporter: &Reporter,
) -> Result<TicketResult, EngineError> {
    if let Some(done) = spec.ticket.read_result()? {
        return Ok(done);
    }
    let dir = spec.ticket.dir().to_path_buf();
    std::fs::create_dir_all(&dir).map_err(EngineError::io(&dir))?;
    let eval_every = crate::run::point(training, "eval_every", training.eval_every)?;

    let seed = match spec.init {
        Init::Fresh(seed) | Init::Rewound { seed, .. } => seed,
    };
    let mut seeds = spec.seeds.clone();
    // The seed this ticket's variables were constructed from (a reinit ticket's fresh weights).
    seeds.insert("ticket_init".into(), seed);
    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(device);
    let mut net = problem.build(&vs.root(), spec.data_seed)?;
    let vars = sorted_vars(&vs);
    if let Init::Rewound { path, .. } = &spec.init {
        let saved: BTreeMap<String, Tensor> = read_safetensors(path)?.into_iter().collect();
        load_into(&vars, &saved, path)?;
    }
    let bound = BoundMask::bind(spec.mask, &vars, device)?;
    bound.apply_to_weights();
    let params = vars.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect();
    let mut optimizer = Optimizer::new(training.optimizer.clone(), params);

    let checkpoint = Checkpoint::new(&spec.ticket);
    let started = std::time::Instant::now();
    let (mut step, mut curve, seconds_before, loss_before) = match checkpoint.load()? {
        Some((progress, tensors)) => {
            let tensors: BTreeMap<String, Tensor> = tensors.into_iter().map(|(n, t)| (n, t.to_device(device))).collect();
            let weights: BTreeMap<String, Tensor> = tensors.iter().filter_map(|(n, t)| n.strip_prefix("var.").map(|n| (n.to_string(), t.shallow_clone()))).collect();
            load_into(&vars, &weights, &dir.join(&progress.tensors))?;
            optimizer.load_state(&tensors)?;
            let extra: BTreeMap<String, Tensor> = tensors.iter().filter_map(|(n, t)| n.strip_prefix("extra.").map(|n| (n.to_string(), t.shallow_clone()))).collect();
            net.load_extra_state(&extra)?;
            (progress.step, progress.curve, progress.seconds, (progress.loss_sum, progress.loss_count))
        }
        None => {
            let mut curve = vec![];
            evaluate(net.as_mut(), spec.start.iteration, &mut curve);
            (spec.start.iteration, curve, 0.0, (0.0, 0))
        }
    };

    let label = format!("level {} rep {} {}", spec.level, spec.replicate, spec.kind);
    let played = |net: &dyn lottery_task::Network| spec.start.episodes + net.episodes();
    let mut episodes = played(net.as_ref());
    // The bar counts what the budget counts.
    let progress = |step: u64, episodes: u64| match spec.end {
        Point::Iteration(_) => step,
        Point::Episodes(_) => episodes,
    };
    let unit = match spec.end {
        Point::Iteration(_) => "it",
        Point::Episodes(_) => "episodes",
    };
    let bar = reporter.ticket_bar(&label, progress(step, episodes), spec.end.count(), unit);
    // Summed in double precision on the device; a checkpoint carries the sum as an f64, exactly.
    let mut loss_sum = Tensor::full([], loss_before.0, (Kind::Double, device));
    let mut loss_count = loss_before.1;
    // Everything training needs to continue from `step`, for the periodic and the stop checkpoint.
    let save = |step: u64, curve: &[CurvePoint], loss_sum: &Tensor, loss_count: u64, net: &dyn lottery_task::Network, optimizer: &Optimizer| {
        let mut tensors: Vec<(String, Tensor)> = weights_of(&vars).into_iter().map(|(n, t)| (format!("var.{n}"), t)).collect();
        tensors.extend(optimizer.state_tensors());
        tensors.extend(net.extra_state().into_iter().map(|(n, t)| (format!("extra.{n}"), t)));
        let progress = Progress {
            step,
            tensors: String::new(),
            curve: curve.to_vec(),
            seconds: seconds_before + started.elapsed().as_secs_f64(),
            loss_sum: loss_sum.double_value(&[]),
            loss_count,
        };
        checkpoint.save(progress, &tensors)
    };
    // The snapshot is taken before the first iteration at or past its point; the point it fell
    // on is recorded first, so a snapshot file never lacks it.
    let take_snapshot = |step: u64, episodes: u64| -> Result<(), EngineError> {
        if let Some((at, path)) = &spec.snapshot {
            let due = match *at {
                Point::Iteration(at) => at == step,
                Point::Episodes(at) => episodes >= at,
            };
            let in_episodes = matches!(at, Point::Episodes(_));
            // A dense ticket retrained because the recorded point was lost writes both again.
            if due && (!path.exists() || (in_episodes && !RewindPoint::file(path).exists())) {
                if in_episodes {
                    RewindPoint { iteration: step, episodes }.write(path)?;
                }
                write_safetensors_atomic(path, &weights_of(&vars))?;
            }
        }
        Ok(())
    };
    while !spec.end.reached(step, episodes) {
        take_snapshot(step, episodes)?;
        tch::manual_seed(derive(spec.data_seed, "step", step) as i64);
        let loss = training_step_with_gradients(|| net.loss_and_gradients(step), &mut optimizer, Some(&bound), step);
        loss_sum += loss.to_kind(Kind::Double);
        loss_count += 1;
        step += 1;
        let before = episodes;
        episodes = played(net.as_ref());
        bar.set_position(progress(step, episodes));
        let finished = spec.end.reached(step, episodes);
        let due = match eval_every {
            Point::Iteration(every) => step % every.max(1) == 0,
            Point::Episodes(every) => episodes / every.max(1) > before / every.max(1),
        };

        if due || finished {
            let mean_loss = loss_sum.double_value(&[]) / loss_count as f64;
            if !mean_loss.is_finite() {
                return Err(EngineError::Diverged(format!("{label}: training loss is {mean_loss} at iteration {step}")));
            }
            curve.push(CurvePoint { step, split: "train".into(), metric: "loss".into(), value: mean_loss });
            loss_sum = Tensor::zeros([], (Kind::Double, device));
            loss_count = 0;
            evaluate(net.as_mut(), step, &mut curve);
            if !finished {
                save(step, &curve, &loss_sum, loss_count, net.as_ref(), &optimizer)?;
            }
        }
        if !finished {
            if let Some(signal) = crate::stop::requested() {
                bar.finish_and_clear();
                // The periodic checkpoint above may already be at this step.
                if !due {
                    save(step, &curve, &loss_sum, loss_count, net.as_ref(), &optimizer)?;
                }
                let of = match spec.end {
                    Point::Iteration(end) => format!("of {end}"),
                    Point::Episodes(end) => format!("({episodes} of {end} episodes)"),
                };
                return Err(EngineError::Stopped { signal, at: format!("in {label} at iteration {step} {of}, with a checkpoint there") });
            }
        }
    }
    // A snapshot point the last iteration reached (an episode budget can end there too).
    take_snapshot(step, episodes)?;
    bar.finish_and_clear();

    write_safetensors_atomic(&spec.ticket.final_weights(), &weights_of(&vars))?;
    for (name, bytes) in net.outputs() {
        write_atomic(dir.join(name), &bytes)?;
    }
    let result = TicketResult {
        ticket: spec.kind,
        replicate: spec.replicate,
        level: spec.level,
        density: spec.mask.density(),
        seeds,
        metrics: summarize(&curve, metrics),
        curve,
        seconds: Some(seconds_before + started.elapsed().as_secs_f64()),
    };
    let json = serde_json::to_string_pretty(&result).expect("results serialize");
    write_atomic(spec.ticket.result(), json.as_bytes())?;
    checkpoint.clear();
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::{LrSchedule, OptimizerSpec, Rule};
    use lottery_models::{Classifier, Lenet};
    use tch::nn::ModuleT;

    #[test]
    fn pruned_weights_and_their_optimizer_state_stay_exactly_zero() {
        for rule in [Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, Rule::Sgd { momentum: 0.9, nesterov: true }] {
            tch::manual_seed(1);
            let vs = nn::VarStore::new(Device::Cpu);
            let net = Lenet::new(&vs.root(), 20, &[16], 4);
            let vars = sorted_vars(&vs);
            let layers = net
                .prunable()
                .iter()
                .map(|p| (p.name.clone(), vars[&p.name].rand_like().ge(0.7).to_kind(Kind::Float)))
                .collect();
            let mask = Mask::from_layers(layers);
            let bound = BoundMask::bind(&mask, &vars, Device::Cpu).unwrap();
            bound.apply_to_weights();
            let spec = OptimizerSpec { rule, lr: 0.05, weight_decay: 1e-3, schedule: LrSchedule::Constant, grad_clip: Some(1.0) };
            let mut opt = Optimizer::new(spec, vars.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect());
            let x = Tensor::randn([32, 20], (Kind::Float, Device::Cpu));
            let y = Tensor::randint(4, [32], (Kind::Int64, Device::Cpu));
            let first = training_step(|| net.forward_t(&x, true).cross_entropy_for_logits(&y), &mut opt, Some(&bound), 0).double_value(&[]);
            let mut last = first;
            for step in 1..50 {
                last = training_step(|| net.forward_t(&x, true).cross_entropy_for_logits(&y), &mut opt, Some(&bound), step).double_value(&[]);
            }
            assert!(last < first, "{rule:?} did not train: {first} -> {last}");
            let state: BTreeMap<String, Tensor> = opt.state_tensors().into_iter().collect();
            for (name, m) in mask.layers() {
                let pruned = m.eq(0.0);
                let w = vars[name].masked_select(&pruned);
                assert_eq!(w.abs().sum(Kind::Float).double_value(&[]), 0.0, "{name} pruned weights moved");
                assert!(vars[name].masked_select(&m.eq(1.0)).abs().sum(Kind::Float).double_value(&[]) > 0.0);
                for (key, t) in state.iter().filter(|(k, _)| k.ends_with(name.as_str())) {
                    assert_eq!(t.masked_select(&pruned).abs().sum(Kind::Float).double_value(&[]), 0.0, "{key}");
                }
            }
        }
    }

    fn p(step: u64, split: &str, metric: &str, value: f64) -> CurvePoint {
        CurvePoint { step, split: split.into(), metric: metric.into(), value }
    }

    #[test]
    fn test_metric_is_taken_at_the_step_chosen_on_validation_never_the_best_test() {
        let curve = vec![
            p(100, "val", "accuracy", 0.90),
            p(100, "test", "accuracy", 0.99),
            p(200, "val", "accuracy", 0.95),
            p(200, "test", "accuracy", 0.91),
            p(300, "val", "accuracy", 0.95),
            p(300, "test", "accuracy", 0.93),
        ];
        let specs = [MetricSpec { name: "accuracy".into(), direction: Direction::Higher }];
        let s = summarize(&curve, &specs);
        assert_eq!(s["test_accuracy@val"], 0.91); // earliest of the tied best val steps
        assert_eq!(s["test_accuracy"], 0.93); // at the end
        assert_eq!(s["step@val"], 200.0);
    }
}
