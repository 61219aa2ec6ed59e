//! `synthetic/teacher-student`: a wide ReLU student learns to mimic a fixed ReLU teacher on
//! Gaussian inputs (Tian et al. 2019, "Luck matters", arXiv 1905.13405; "Student specialization
//! in deep ReLU networks with finite width and input dimension", arXiv 1909.13458). Besides the
//! MSE, every evaluation measures **specialization**: for each teacher node, the best Pearson
//! correlation of its activations with any student node of the same layer.
//!
//! What is generated, and how (all from the project's SplitMix64, so identical on every machine):
//! - the teacher, from `teacher_seed`: widths `input_dim -> teacher_widths... -> outputs`, weights
//!   N(0, 1) with each node's fan-in vector normalized to unit length; the fan-out of top hidden
//!   node `i` scaled by `(i + 1)^-teacher_strength`; layer by layer, each hidden node's bias set to
//!   minus the median of its pre-activation over 10,000 calibration inputs, so it is active on
//!   about half the inputs (as the reference code's `tune_teacher` does);
//! - the data, from `data_seed`: inputs N(0, `data_std`²), `train_samples` for training and
//!   `eval_samples` each for validation and test, labeled by the teacher's outputs;
//! - the student (seeded by the engine): each hidden layer `width_multiplier` times the teacher's,
//!   weights N(0, `init_std`²), biases zero; trained with MSE by SGD.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use lottery_models::weight_name;
use lottery_results::{Direction, MetricSpec, TicketKind};
use crate::epoch_order::EpochOrder;
use lottery_task::hparams::{self, from_table, to_table};
use lottery_task::seeds::{derive, Rng};
use lottery_task::{Defaults, LrSchedule, Network, OptimizerSpec, Preset, Problem, PrunableParam, PruningPolicy, Registry, Role, Rule, Split, Step, Task, TaskEnv, TaskError, Training};

pub fn register(registry: &mut Registry) {
    registry.register(Box::new(TeacherStudent));
}

struct TeacherStudent;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Hparams {
    steps: Step,
    eval_every: Step,
    batch_size: i64,
    lr: f64,
    input_dim: i64,
    /// The teacher's hidden widths, e.g. `10` (two-layer) or `50,75,100,125`.
    teacher_widths: String,
    outputs: i64,
    /// The teacher's weights and biases are generated from this seed alone.
    teacher_seed: i64,
    /// `p` in the fan-out scale `(i + 1)^-p` of top hidden teacher node `i` (0: all equal).
    teacher_strength: f64,
    width_multiplier: i64,
    init_std: f64,
    data_std: f64,
    train_samples: i64,
    eval_samples: i64,
    /// A teacher node counts as recovered when its best correlation exceeds this.
    recovered_threshold: f64,
}

impl TeacherStudent {
    fn hparams(preset: Preset) -> Hparams {
        let (steps, eval_every, train_samples, eval_samples) = match preset {
            Preset::Smoke => (Step::iters(200), Step::iters(100), 2000, 1000),
            // 30 epochs of 625 batches: about 3 s per ticket on 2 CPU cores, by when the dense
            // student recovers every teacher node of the default teacher.
            Preset::Quick => (Step::epochs(30), Step::epochs(5), 10_000, 10_000),
            // The reference code's 100 epochs.
            Preset::Paper => (Step::epochs(100), Step::epochs(5), 10_000, 10_000),
        };
        Hparams {
            steps,
            eval_every,
            batch_size: 16,
            lr: 0.01,
            input_dim: 30,
            teacher_widths: "10".into(),
            outputs: 50,
            teacher_seed: 0,
            teacher_strength: 0.0,
            width_multiplier: 10,
            init_std: 0.1,
            data_std: 1.5,
            train_samples,
            eval_samples,
            recovered_threshold: 0.95,
        }
    }
}

fn parse_widths(text: &str) -> Result<Vec<i64>, TaskError> {
    let widths: Option<Vec<i64>> = text.split(',').map(|w| w.trim().parse().ok().filter(|&w: &i64| w > 0)).collect();
    widths.filter(|w| !w.is_empty()).ok_or_else(|| hparams::invalid("teacher_widths", text, "use positive hidden widths separated by commas, e.g. 10 or 50,75,100,125"))
}

impl Task for TeacherStudent {
    fn name(&self) -> &str {
        "synthetic/teacher-student"
    }

    fn description(&self) -> &str {
        "A ReLU student (10x wider) mimics a fixed ReLU teacher on Gaussian inputs; reports how many teacher nodes it recovers (Tian et al. 2019)"
    }

    fn metrics(&self) -> Vec<MetricSpec> {
        vec![
            MetricSpec { name: "mse".into(), direction: Direction::Lower },
            MetricSpec { name: "specialization".into(), direction: Direction::Higher },
            MetricSpec { name: "recovered".into(), direction: Direction::Higher },
        ]
    }

    fn defaults(&self, preset: Preset) -> Defaults {
        Defaults {
            hparams: to_table(&Self::hparams(preset)),
            // Rewinding to initialization: the weights whose luck the theory is about.
            rewind: Step::ZERO,
            controls: vec![TicketKind::WINNING, TicketKind::REINIT, TicketKind::SHUFFLE],
            // Fan-in and fan-out alike: an unlucky node's fan-out shrinks, and magnitude pruning
            // should find exactly those.
            pruning: PruningPolicy::new(&[(Role::Hidden, 1.0), (Role::Output, 1.0)]),
            prune: None,
            revision: 1,
        }
    }

    fn prepare(&self, hparams: &toml::Table, env: &TaskEnv) -> Result<Box<dyn Problem>, TaskError> {
        Ok(Box::new(generate(hparams, env)?.0))
    }
}

/// Checks the hyperparameters, then generates the teacher and the data.
fn generate(hparams: &toml::Table, env: &TaskEnv) -> Result<(TeacherStudentProblem, Teacher), TaskError> {
    let hp: Hparams = from_table(TeacherStudent.name(), hparams)?;
    hparams::at_least_one("batch_size", hp.batch_size)?;
    hparams::at_least_one("input_dim", hp.input_dim)?;
    hparams::at_least_one("outputs", hp.outputs)?;
    hparams::at_least_one("width_multiplier", hp.width_multiplier)?;
    hparams::at_least_one("eval_samples", hp.eval_samples)?;
    hparams::require(hp.train_samples >= hp.batch_size, "train_samples", hp.train_samples, "use at least one batch of samples")?;
    hparams::positive("lr", hp.lr)?;
    hparams::positive("data_std", hp.data_std)?;
    hparams::positive("init_std", hp.init_std)?;
    hparams::non_negative("teacher_strength", hp.teacher_strength)?;
    hparams::require(hp.teacher_seed >= 0, "teacher_seed", hp.teacher_seed, "use a seed >= 0")?;
    hparams::require(hp.recovered_threshold.is_finite() && hp.recovered_threshold.abs() <= 1.0, "recovered_threshold", hp.recovered_threshold, "use a correlation, -1 to 1")?;
    let hidden = parse_widths(&hp.teacher_widths)?;
    let teacher = Teacher::generate(hp.input_dim, &hidden, hp.outputs, hp.teacher_seed as u64, hp.teacher_strength, hp.data_std);
    // The data depends on the task's settings only, not on the replicate: every replicate and
    // ticket sees the same examples (in its own order), as the image tasks' files do.
    let data_seed = derive(hp.teacher_seed as u64, "teacher-student data", 0);
    let split = |index: u64, n: i64| Labeled::generate(&teacher, n, hp.data_std, derive(data_seed, "split", index), env.device);
    let (train, val, test) = (split(0, hp.train_samples), split(1, hp.eval_samples), split(2, hp.eval_samples));
    let optimizer = OptimizerSpec { rule: Rule::Sgd { momentum: 0.0, nesterov: false }, lr: hp.lr, weight_decay: 0.0, schedule: LrSchedule::Constant, grad_clip: None };
    let per_epoch = (hp.train_samples / hp.batch_size) as u64;
    let problem = TeacherStudentProblem {
        student_widths: std::iter::once(hp.input_dim).chain(hidden.iter().map(|w| w * hp.width_multiplier)).chain([hp.outputs]).collect(),
        init_std: hp.init_std,
        batch_size: hp.batch_size,
        threshold: hp.recovered_threshold,
        train,
        val,
        test,
        training: Training { iterations_per_epoch: per_epoch, episodes_per_epoch: None, steps: hp.steps, eval_every: hp.eval_every, optimizer },
    };
    Ok((problem, teacher))
}

/// The fixed teacher: per layer, weights `[out, in]` and biases, row-major, in f64.
#[derive(Debug, Clone, PartialEq)]
pub struct Teacher {
    pub layers: Vec<(Vec<Vec<f64>>, Vec<f64>)>,
}

impl Teacher {
    /// Generates the teacher as the module's documentation says.
    pub fn generate(input_dim: i64, hidden: &[i64], outputs: i64, seed: u64, strength: f64, data_std: f64) -> Teacher {
        let widths: Vec<usize> = std::iter::once(input_dim).chain(hidden.iter().copied()).chain([outputs]).map(|w| w as usize).collect();
        let mut rng = Rng::new(derive(seed, "teacher", 0));
        let mut layers = vec![];
        for (l, pair) in widths.windows(2).enumerate() {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            let mut weights: Vec<Vec<f64>> = (0..fan_out)
                .map(|_| {
                    let row: Vec<f64> = (0..fan_in).map(|_| rng.normal()).collect();
                    let norm = row.iter().map(|w| w * w).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
                    row.into_iter().map(|w| w / norm).collect()
                })
                .collect();
            if l == widths.len() - 2 {
                for row in &mut weights {
                    for (i, w) in row.iter_mut().enumerate() {
                        *w *= ((i + 1) as f64).powf(-strength);
                    }
                }
            }
            layers.push((weights, vec![0.0; fan_out]));
        }
        // Biases, layer by layer: each hidden node active on about half the calibration inputs.
        let mut calibration = Rng::new(derive(seed, "teacher calibration", 0));
        let mut inputs: Vec<Vec<f64>> = (0..10_000).map(|_| (0..widths[0]).map(|_| data_std * calibration.normal()).collect()).collect();
        let hidden_layers = layers.len() - 1;
        for layer in layers.iter_mut().take(hidden_layers) {
            let (weights, biases) = layer;
            let pre: Vec<Vec<f64>> = inputs.iter().map(|x| weights.iter().map(|row| dot(row, x)).collect()).collect();
            for (j, bias) in biases.iter_mut().enumerate() {
                let mut column: Vec<f64> = pre.iter().map(|p| p[j]).collect();
                column.sort_by(f64::total_cmp);
                *bias = -column[column.len() / 2];
            }
            inputs = pre.iter().map(|p| p.iter().zip(biases.iter()).map(|(v, b)| (v + b).max(0.0)).collect()).collect();
        }
        Teacher { layers }
    }

    /// The hidden activations (after ReLU) of every hidden layer, and the outputs, for `x`
    /// (`[n, input_dim]`, f64).
    fn forward(&self, x: &Tensor) -> (Vec<Tensor>, Tensor) {
        let mut h = x.shallow_clone();
        let mut hidden = vec![];
        for (l, (weights, biases)) in self.layers.iter().enumerate() {
            let w = Tensor::from_slice(&weights.concat()).view([weights.len() as i64, -1]).to_device(x.device());
            let b = Tensor::from_slice(biases).to_device(x.device());
            h = h.matmul(&w.tr()) + b;
            if l < self.layers.len() - 1 {
                h = h.relu();
                hidden.push(h.shallow_clone());
            }
        }
        (hidden, h)
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Inputs with the teacher's outputs and hidden activations.
struct Labeled {
    x: Tensor,
    y: Tensor,
    /// Per hidden layer, `[n, width]` (f64, for correlations).
    teacher_hidden: Vec<Tensor>,
}

impl Labeled {
    fn generate(teacher: &Teacher, n: i64, std: f64, seed: u64, device: Device) -> Labeled {
        let dim = teacher.layers[0].0[0].len();
        let mut rng = Rng::new(seed);
        let values: Vec<f64> = (0..n as usize * dim).map(|_| std * rng.normal()).collect();
        let x64 = Tensor::from_slice(&values).view([n, dim as i64]).to_device(device);
        let (teacher_hidden, y) = teacher.forward(&x64);
        Labeled { x: x64.to_kind(Kind::Float), y: y.to_kind(Kind::Float), teacher_hidden }
    }
}

struct TeacherStudentProblem {
    student_widths: Vec<i64>,
    init_std: f64,
    batch_size: i64,
    threshold: f64,
    train: Labeled,
    val: Labeled,
    test: Labeled,
    training: Training,
}

impl Problem for TeacherStudentProblem {
    fn training(&self) -> &Training {
        &self.training
    }

    fn build<'a>(&'a self, root: &nn::Path, data_seed: u64) -> Result<Box<dyn Network + 'a>, TaskError> {
        let config = nn::LinearConfig { ws_init: nn::Init::Randn { mean: 0.0, stdev: self.init_std }, bs_init: Some(nn::Init::Const(0.0)), bias: true };
        let mut layers = vec![];
        let mut names = vec![];
        for (i, pair) in self.student_widths.windows(2).enumerate() {
            let name = format!("fc{}", i + 1);
            layers.push(nn::linear(root / name.as_str(), pair[0], pair[1], config));
            names.push(weight_name(root, &name));
        }
        let batches = EpochOrder::new(data_seed, self.train.x.size()[0] as usize, self.batch_size, self.training.iterations_per_epoch);
        Ok(Box::new(Student { problem: self, layers, names, batches }))
    }
}

struct Student<'a> {
    problem: &'a TeacherStudentProblem,
    layers: Vec<nn::Linear>,
    names: Vec<String>,
    batches: EpochOrder,
}

impl Student<'_> {
    /// The hidden activations (after ReLU) and the outputs.
    fn forward(&self, x: &Tensor) -> (Vec<Tensor>, Tensor) {
        let mut h = x.shallow_clone();
        let mut hidden = vec![];
        for (l, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h);
            if l < self.layers.len() - 1 {
                h = h.relu();
                hidden.push(h.shallow_clone());
            }
        }
        (hidden, h)
    }
}

/// For each column of `teacher` (`[n, m]`), the largest Pearson correlation with any column of
/// `student` (`[n, k]`), over the `n` rows. A constant column correlates with nothing: 0, never
/// NaN.
pub fn best_correlations(teacher: &Tensor, student: &Tensor) -> Vec<f64> {
    let best = correlation_matrix(teacher, student).amax(1, false).to_device(Device::Cpu);
    Vec::<f64>::try_from(best).expect("a vector of doubles")
}

/// Pearson correlations `[m, k]` of the columns of `teacher` (`[n, m]`) with those of `student`
/// (`[n, k]`); 0 for a constant column.
fn correlation_matrix(teacher: &Tensor, student: &Tensor) -> Tensor {
    let center = |t: &Tensor| {
        let t = t.to_kind(Kind::Double);
        let centered = &t - t.mean_dim(0, true, Kind::Double);
        let norms = centered.square().sum_dim_intlist(0, true, Kind::Double).sqrt();
        // Zero-variance columns are divided by infinity: their correlations are 0.
        let safe = norms.where_self(&norms.gt(1e-12), &Tensor::from(f64::INFINITY).to_device(t.device()));
        centered / safe
    };
    center(teacher).tr().matmul(&center(student))
}

impl Network for Student<'_> {
    fn prunable(&self) -> Vec<PrunableParam> {
        let last = self.names.len() - 1;
        self.names.iter().enumerate().map(|(i, name)| PrunableParam { name: name.clone(), role: if i == last { Role::Output } else { Role::Hidden } }).collect()
    }

    fn loss(&mut self, step: u64) -> Tensor {
        let data = &self.problem.train;
        let batch = self.batches.batch(step, data.x.device());
        let (_, out) = self.forward(&data.x.index_select(0, &batch));
        out.mse_loss(&data.y.index_select(0, &batch), tch::Reduction::Mean)
    }

    fn evaluate(&mut self, split: Split) -> BTreeMap<String, f64> {
        let data = match split {
            Split::Val => &self.problem.val,
            Split::Test => &self.problem.test,
        };
        let _guard = tch::no_grad_guard();
        let (hidden, out) = self.forward(&data.x);
        let mse = out.mse_loss(&data.y, tch::Reduction::Mean).double_value(&[]);
        let best: Vec<f64> = data.teacher_hidden.iter().zip(&hidden).flat_map(|(t, s)| best_correlations(t, s)).collect();
        let specialization = best.iter().sum::<f64>() / best.len() as f64;
        let recovered = best.iter().filter(|&&c| c > self.problem.threshold).count() as f64;
        BTreeMap::from([("mse".to_string(), mse), ("specialization".to_string(), specialization), ("recovered".to_string(), recovered)])
    }
}

/// One student node after training, for `harness specialization`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    /// Hidden layer, from 1.
    pub layer: u32,
    pub node: u32,
    /// The teacher node of the same layer it correlates with best at the end.
    pub best_teacher: u32,
    /// Its best correlation with any teacher node of the layer, at the end of training...
    pub correlation_end: f64,
    /// ... and with the initial weights (the rewind point, or the reinitialization).
    pub correlation_init: f64,
    /// Norm of its (masked) fan-out weights at the end.
    pub fan_out_norm: f64,
    /// Whether it keeps at least one unpruned fan-in and one unpruned fan-out weight.
    pub survives: bool,
    /// Norm of the fan-out weights of `best_teacher`: how strong a teacher node it matched.
    pub teacher_strength: f64,
}

/// The teacher, the test data and the student's shape of a run's settings, to analyze its
/// tickets node by node.
pub struct Analysis {
    problem: TeacherStudentProblem,
    teacher: Teacher,
}

impl Analysis {
    /// Prepares the task from a run's hyperparameters, as `harness run` did.
    pub fn prepare(hparams: &toml::Table, env: &TaskEnv) -> Result<Analysis, TaskError> {
        let (problem, teacher) = generate(hparams, env)?;
        Ok(Analysis { problem, teacher })
    }

    /// Per hidden layer, each teacher node's strength: the norm of its fan-out weights.
    pub fn teacher_strengths(&self) -> Vec<Vec<f64>> {
        let hidden = self.teacher.layers.len() - 1;
        (0..hidden)
            .map(|l| {
                let next = &self.teacher.layers[l + 1].0;
                (0..self.teacher.layers[l].0.len()).map(|j| next.iter().map(|row| row[j] * row[j]).sum::<f64>().sqrt()).collect()
            })
            .collect()
    }

    /// Where the data and the rebuilt students live.
    pub fn device(&self) -> Device {
        self.problem.test.x.device()
    }

    /// The threshold above which a node counts as specialized (`recovered_threshold`).
    pub fn threshold(&self) -> f64 {
        self.problem.threshold
    }

    /// A student with freshly initialized weights from `seed`, exactly as the engine builds a
    /// ticket (`tch::manual_seed(seed)`, then the network), as variable name -> tensor.
    pub fn initial_weights(&self, seed: u64, device: Device) -> BTreeMap<String, Tensor> {
        tch::manual_seed(seed as i64);
        let vs = nn::VarStore::new(device);
        let _student = self.problem.build(&vs.root(), 0).expect("the student builds");
        vs.variables().into_iter().map(|(name, t)| (name, t.detach())).collect()
    }

    /// Every hidden node of a student with weights `end` (trained) and `init`, under `mask`
    /// (weight name -> 0/1 tensor; a name it lacks is dense).
    /// Fails with the name of a variable the weights lack.
    pub fn nodes(&self, end: &BTreeMap<String, Tensor>, init: &BTreeMap<String, Tensor>, mask: &BTreeMap<String, Tensor>) -> Result<Vec<NodeRow>, String> {
        let device = self.problem.test.x.device();
        let forward = |weights: &BTreeMap<String, Tensor>| -> Result<Vec<Tensor>, String> {
            let count = self.problem.student_widths.len() - 1;
            let mut h = self.problem.test.x.shallow_clone();
            let mut hidden = vec![];
            for l in 0..count {
                let get = |suffix: &str| {
                    let name = format!("fc{}.{suffix}", l + 1);
                    weights.get(&name).map(|t| t.to_device(device).to_kind(Kind::Float)).ok_or_else(|| format!("the saved weights lack `{name}`"))
                };
                let mut w = get("weight")?;
                if let Some(m) = mask.get(&format!("fc{}.weight", l + 1)) {
                    // Not `*=`: `w` may share storage with the caller's tensor.
                    #[allow(clippy::assign_op_pattern)]
                    {
                        w = w * m.to_device(device).to_kind(Kind::Float);
                    }
                }
                h = h.matmul(&w.tr()) + get("bias")?;
                if l + 1 < count {
                    h = h.relu();
                    hidden.push(h.shallow_clone());
                }
            }
            Ok(hidden)
        };
        let _guard = tch::no_grad_guard();
        let (end_hidden, init_hidden) = (forward(end)?, forward(init)?);
        let mut rows = vec![];
        for (l, ((teacher, student_end), student_init)) in self.problem.test.teacher_hidden.iter().zip(&end_hidden).zip(&init_hidden).enumerate() {
            let (best_end, which) = best_matches(teacher, student_end);
            let (best_init, _) = best_matches(teacher, student_init);
            let layer_mask = |n: usize| mask.get(&format!("fc{n}.weight")).map(|m| m.to_device(Device::Cpu).to_kind(Kind::Float));
            let fan_in = layer_mask(l + 1);
            let fan_out = layer_mask(l + 2);
            let mut out_weights = end.get(&format!("fc{}.weight", l + 2)).expect("checked by forward").to_device(Device::Cpu).to_kind(Kind::Double);
            if let Some(m) = &fan_out {
                // Not `*=`: the weights may share storage with the caller's tensor.
                #[allow(clippy::assign_op_pattern)]
                {
                    out_weights = out_weights * m.to_kind(Kind::Double);
                }
            }
            let norms = Vec::<f64>::try_from(out_weights.square().sum_dim_intlist(0, false, Kind::Double).sqrt()).expect("doubles");
            let alive = |m: &Option<Tensor>, dim: i64, n: usize| -> Vec<bool> {
                match m {
                    Some(m) => Vec::<f64>::try_from(m.sum_dim_intlist(dim, false, Kind::Double)).expect("doubles").into_iter().map(|c| c > 0.0).collect(),
                    None => vec![true; n],
                }
            };
            let n = norms.len();
            // Fan-in: the node's row of its own layer; fan-out: its column of the next layer.
            let (has_in, has_out) = (alive(&fan_in, 1, n), alive(&fan_out, 0, n));
            let teacher_out = &self.teacher.layers[l + 1].0;
            let strength = |j: usize| teacher_out.iter().map(|row| row[j] * row[j]).sum::<f64>().sqrt();
            for node in 0..n {
                rows.push(NodeRow {
                    layer: l as u32 + 1,
                    node: node as u32,
                    best_teacher: which[node] as u32,
                    correlation_end: best_end[node],
                    correlation_init: best_init[node],
                    fan_out_norm: norms[node],
                    survives: has_in[node] && has_out[node],
                    teacher_strength: strength(which[node] as usize),
                });
            }
        }
        Ok(rows)
    }
}

/// For each column of `student`, its largest Pearson correlation with a column of `teacher`,
/// and which (constant columns: 0, with teacher node 0).
fn best_matches(teacher: &Tensor, student: &Tensor) -> (Vec<f64>, Vec<i64>) {
    let correlations = correlation_matrix(teacher, student);
    let (best, which) = correlations.max_dim(0, false);
    (Vec::<f64>::try_from(best.to_device(Device::Cpu)).expect("doubles"), Vec::<i64>::try_from(which.to_device(Device::Cpu)).expect("indices"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_matches_hand_computed_values_and_a_constant_column_is_zero() {
        let teacher = Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0]).view([4, 1]);
        let column = |v: [f64; 4]| Tensor::from_slice(&v).view([4, 1]);
        let best = |s: &Tensor| best_correlations(&teacher, s)[0];
        assert!((best(&column([2.0, 4.0, 6.0, 8.0])) - 1.0).abs() < 1e-12);
        assert!((best(&column([4.0, 3.0, 2.0, 1.0])) + 1.0).abs() < 1e-12);
        // (1,2,3,4) against (1,3,2,4): covariance 4, variances 5 and 5: 0.8.
        assert!((best(&column([1.0, 3.0, 2.0, 4.0])) - 0.8).abs() < 1e-12);
        assert_eq!(best(&column([7.0, 7.0, 7.0, 7.0])), 0.0);
        // The best of several students; a constant teacher node matches nothing.
        let students = Tensor::cat(&[column([4.0, 3.0, 2.0, 1.0]), column([1.0, 3.0, 2.0, 4.0]), column([0.0; 4])], 1);
        assert!((best(&students) - 0.8).abs() < 1e-12);
        let constant_teacher = Tensor::cat(&[column([1.0; 4]), teacher.shallow_clone()], 1);
        let both = best_correlations(&constant_teacher, &students);
        assert_eq!(both[0], 0.0);
        assert!(both.iter().all(|c| c.is_finite()));
    }

    #[test]
    fn the_teacher_is_a_function_of_its_seed_and_its_nodes_are_half_active() {
        let a = Teacher::generate(30, &[10], 50, 3, 1.0, 1.5);
        assert_eq!(a, Teacher::generate(30, &[10], 50, 3, 1.0, 1.5));
        assert_ne!(a, Teacher::generate(30, &[10], 50, 4, 1.0, 1.5));
        // Unit fan-in vectors in the first layer; fan-out of node i scaled by (i + 1)^-1.
        for row in &a.layers[0].0 {
            assert!((dot(row, row) - 1.0).abs() < 1e-12);
        }
        let plain = Teacher::generate(30, &[10], 50, 3, 0.0, 1.5);
        assert!((a.layers[1].0[0][4] - plain.layers[1].0[0][4] / 5.0).abs() < 1e-12);
        // On fresh inputs each hidden node is active about half the time, in every layer of a
        // deep teacher too.
        for teacher in [a, Teacher::generate(20, &[15, 12, 8], 5, 1, 0.0, 1.5)] {
            let data = Labeled::generate(&teacher, 4000, 1.5, 99, Device::Cpu);
            assert_eq!(data.teacher_hidden.len(), teacher.layers.len() - 1);
            for layer in &data.teacher_hidden {
                let active = layer.gt(0.0).to_kind(Kind::Double).mean_dim(0, false, Kind::Double);
                for share in Vec::<f64>::try_from(active).unwrap() {
                    assert!((0.4..0.6).contains(&share), "{share}");
                }
            }
        }
    }
}
