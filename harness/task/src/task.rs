//! What a task plugs into the engine. A task names itself, its metrics and its hyperparameter
//! presets; given resolved hyperparameters it loads its data once ([`Task::prepare`]) into a
//! [`Problem`], which builds fresh networks ([`Problem::build`]) that the engine trains, masks,
//! rewinds and checkpoints. A task says what may be pruned (its network's parameters by role,
//! its presets' [`PruningPolicy`]) and never touches masks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Tensor};

use lottery_results::{MetricSpec, TicketKind};

use crate::{OptimizerSpec, Step, TaskError};

/// A named set of defaults: `smoke` for tests (seconds), `quick` for a laptop (minutes), `paper`
/// for the published setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    Smoke,
    Quick,
    Paper,
}

impl Preset {
    pub const ALL: [Preset; 3] = [Preset::Smoke, Preset::Quick, Preset::Paper];

    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Smoke => "smoke",
            Preset::Quick => "quick",
            Preset::Paper => "paper",
        }
    }
}

impl std::str::FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Preset::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| format!("unknown preset `{s}`; use smoke, quick or paper"))
    }
}

/// How a preset prunes each [`Role`] of parameter: a multiplier of `--rate` for the roles it
/// prunes; roles it does not name stay dense. The one table `--prune-embeddings`, `--ignore` and
/// `--layer-rate` act on (OpenLTH's split: models name their prunable layers and roles, the
/// pruning settings own what is pruned).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PruningPolicy(BTreeMap<String, f64>);

impl PruningPolicy {
    pub fn new(rules: &[(Role, f64)]) -> Self {
        PruningPolicy(rules.iter().map(|(role, m)| (role.as_str().to_string(), *m)).collect())
    }

    /// The rate multiplier of `role`, or `None` when the role stays dense.
    pub fn multiplier(&self, role: Role) -> Option<f64> {
        self.0.get(role.as_str()).copied()
    }

    /// Prunes `role` at `multiplier` times `--rate`.
    pub fn prune(&mut self, role: Role, multiplier: f64) {
        self.0.insert(role.as_str().to_string(), multiplier);
    }

    /// Every role with its rule (`None`: dense).
    pub fn rules(&self) -> impl Iterator<Item = (Role, Option<f64>)> + '_ {
        Role::ALL.into_iter().map(|role| (role, self.multiplier(role)))
    }
}

/// A task's defaults under one preset.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// Task hyperparameters; users override them with `--set key=value`.
    pub hparams: toml::Table,
    /// The rewind point used when `--rewind` is not given.
    pub rewind: Step,
    /// The tickets trained at each level when `--controls` is not given.
    pub controls: Vec<TicketKind>,
    /// Which roles of parameter are pruned, and at what multiple of `--rate`.
    pub pruning: PruningPolicy,
    /// The final sparsity when `--prune` is not given (`None`: the harness's 0.9).
    pub prune: Option<f64>,
    /// The preset's revision: bumped whenever its defaults change, so runs of old and new
    /// defaults get different folders (it is part of the run's identity from 2 on).
    pub revision: u32,
}

/// Yu et al.'s RL and LSTM target: twenty levels at 20% each, "density 0.8^20, about 1.2%".
/// Exactly 1.2%: nineteen levels at 20% and a twentieth landing on 1.2% (0.8^20 itself would
/// leave a few weights of per-level rounding to a twenty-first level).
pub const TWENTY_LEVELS: f64 = 0.988;

/// Where a task finds its inputs.
#[derive(Debug, Clone)]
pub struct TaskEnv {
    pub data_dir: PathBuf,
    pub device: Device,
    /// Where Atari ROMs are looked for first (`--rom-dir`).
    pub rom_dir: Option<PathBuf>,
}

/// Which held-out data an evaluation uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Val,
    Test,
}

impl Split {
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

/// A registered task.
pub trait Task: Send + Sync {
    /// `family/name`, e.g. `image/mnist-lenet`.
    fn name(&self) -> &str;
    fn description(&self) -> &str;
    /// Metrics every evaluation reports. The first one chooses the evaluation step on
    /// validation data.
    fn metrics(&self) -> Vec<MetricSpec>;
    fn defaults(&self, preset: Preset) -> Defaults;
    /// Loads the data and checks the hyperparameters.
    fn prepare(&self, hparams: &toml::Table, env: &TaskEnv) -> Result<Box<dyn Problem>, TaskError>;
    /// A remark for `harness list` on whether what the task needs is at hand (a ROM, say).
    fn availability(&self) -> Option<String> {
        None
    }
    /// Whether `harness list` gives the task a line of its own; the others are named together in
    /// one line per family.
    fn listed_in_full(&self) -> bool {
        true
    }
    /// The libtorch CPU threads the task trains fastest with when the user does not say
    /// (`--threads`); `None`: libtorch's default, one per core. A task whose network is too small
    /// to split (classic control) says 1: more threads only fork, join and spin around each
    /// small call, and the results are the same at any count.
    fn cpu_threads(&self) -> Option<usize> {
        None
    }
}

/// The training budget and optimizer of a prepared task.
#[derive(Debug, Clone)]
pub struct Training {
    pub iterations_per_epoch: u64,
    /// Set by tasks whose epochs are a number of finished training episodes (Yu et al.'s
    /// classic control: an epoch is M games): `steps`, `eval_every` and the rewind point then
    /// count epochs in episodes ([`Training::point`]), and the network reports its episodes
    /// ([`Network::episodes`]). `iterations_per_epoch` is unused then.
    pub episodes_per_epoch: Option<u64>,
    pub steps: Step,
    pub eval_every: Step,
    pub optimizer: OptimizerSpec,
}

/// A [`Step`] resolved for one task's training: after a number of iterations, or at the end of
/// the iteration in which a number of training episodes have finished (an episode ends inside an
/// iteration's rollout, so the iteration it ends in is the well-defined point).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    Iteration(u64),
    Episodes(u64),
}

impl Point {
    /// Whether training at iteration `step`, with `episodes` finished, has reached this point.
    pub fn reached(self, step: u64, episodes: u64) -> bool {
        match self {
            Point::Iteration(end) => step >= end,
            Point::Episodes(end) => episodes >= end,
        }
    }

    pub fn count(self) -> u64 {
        match self {
            Point::Iteration(n) | Point::Episodes(n) => n,
        }
    }
}

impl std::fmt::Display for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Point::Iteration(n) => write!(f, "iteration {n}"),
            Point::Episodes(n) => write!(f, "{n} episodes"),
        }
    }
}

impl Training {
    /// Where `step` falls: epochs are episodes for a task that counts them so, iterations
    /// otherwise; a count of iterations is always iterations. Mixing the two (`1ep5it` in
    /// episodes) has no meaning and is refused with the forms that work.
    pub fn point(&self, step: Step) -> Result<Point, String> {
        match self.episodes_per_epoch {
            Some(per_epoch) if step.epochs > 0 => {
                if step.iterations > 0 {
                    return Err(format!(
                        "`{step}` mixes epochs of {per_epoch} episodes with iterations; write whole epochs (`{}ep`) or iterations (`500it`)",
                        step.epochs
                    ));
                }
                Ok(Point::Episodes(step.epochs * per_epoch))
            }
            _ => Ok(Point::Iteration(step.iterations(self.iterations_per_epoch))),
        }
    }
}

/// A parameter pruning may mask, by its variable name, with its role in the network.
pub use lottery_models::Prunable as PrunableParam;
pub use lottery_models::Role;

/// A task with its data loaded.
pub trait Problem {
    fn training(&self) -> &Training;
    /// Builds a freshly initialized network into `root` (the engine seeds the initialization).
    /// `data_seed` orders the training data.
    fn build<'a>(&'a self, root: &nn::Path, data_seed: u64) -> Result<Box<dyn Network + 'a>, TaskError>;
    /// Files the run folder keeps beside the results (a vocabulary's `tokenizer.json`, say), by
    /// file name. They must depend only on the task's data and hyperparameters.
    fn artifacts(&self) -> Vec<(String, Vec<u8>)> {
        vec![]
    }
    /// The input files the run depends on that settings do not name (an Atari ROM, say), with
    /// what identifies them, as `key = value` lines for `config.toml`'s `[inputs]`.
    fn inputs(&self) -> Vec<(String, String)> {
        vec![]
    }
}

/// `loss` after autograd has put its gradient in the variables' `grad`s (what
/// [`Network::loss_and_gradients`] does by default).
pub fn with_gradients(loss: Tensor) -> Tensor {
    loss.backward();
    loss
}

/// A network bound to its data.
pub trait Network {
    /// Every parameter pruning may mask, with its role; the preset's [`PruningPolicy`] and the
    /// user's `--ignore`/`--layer-rate` decide which are pruned and how fast.
    fn prunable(&self) -> Vec<PrunableParam>;
    /// The training loss of iteration `step`, with its autograd graph (the default
    /// [`Network::loss_and_gradients`] runs its backward; the engine then runs the optimizer).
    fn loss(&mut self, step: u64) -> Tensor;
    /// The training loss of iteration `step` with its gradient in the variables' `grad`s (zeroed
    /// by the engine before), what the engine trains with. Autograd over [`Network::loss`]
    /// unless a network derives its gradient by hand where autograd's bookkeeping costs more
    /// than the arithmetic (the classic-control MLP on the CPU); such a network's `loss` stays
    /// the autograd reference its gradient is tested against.
    fn loss_and_gradients(&mut self, step: u64) -> Tensor {
        with_gradients(self.loss(step))
    }
    /// Metrics on a held-out split, by the names of [`Task::metrics`].
    fn evaluate(&mut self, split: Split) -> BTreeMap<String, f64>;
    /// Training episodes finished since the network was built (counted on from a checkpoint's
    /// extra state); what a budget in episodes ([`Training::episodes_per_epoch`]) counts. A task
    /// that sets that must count here, or its training never ends.
    fn episodes(&self) -> u64 {
        0
    }
    /// State besides the variables that a checkpoint must keep (environment states, say).
    fn extra_state(&self) -> Vec<(String, Tensor)> {
        vec![]
    }
    fn load_extra_state(&mut self, _state: &BTreeMap<String, Tensor>) -> Result<(), TaskError> {
        Ok(())
    }
    /// Files written into the ticket's folder when it finishes (a translation task's test
    /// translations, say), by file name; called after the final evaluation.
    fn outputs(&mut self) -> Vec<(String, Vec<u8>)> {
        vec![]
    }
}
