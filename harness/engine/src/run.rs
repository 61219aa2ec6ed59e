//! The IMP driver: for each level, the winning ticket and its controls, for each replicate, with
//! everything on disk ([`RunLayout`]) so a rerun skips what is finished and resumes what is not.
//!
//! A run is validated whole before anything is written: the task prepares its data and checks
//! its hyperparameters, and the plan checks `--ignore`, `--layer-rate`, `--rewind` and the
//! budget. Only then is the folder made and `config.toml` written, so a refused request leaves
//! nothing behind.
//!
//! Several processes (on several machines, over a shared filesystem) may write one run folder at
//! once, each training its own replicates (`--replicate R`): a replicate is claimed by one
//! process for the whole invocation, a ticket is locked while it trains, and `config.toml` and
//! the tables are written under the lock of the folder's own files, the tables from every
//! finished ticket on disk, so the last writer to finish leaves them complete.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::PathBuf;

use tch::{nn, Device};

use lottery_results::provenance::Provenance;
use lottery_results::{comparison_table, curves_table, write_atomic, MetricSpec, RunLayout, TicketKind, TicketResult};
use lottery_task::{Point, Problem, Step, Task, TaskEnv, Training};

use crate::config::RunConfig;
use crate::folder::{self, TicketJob, TicketTrainer};
use crate::mask::Mask;
use crate::progress::Reporter;
use crate::prune::{self, Schedule};
use crate::seeds::ReplicateSeeds;
use crate::tickets::{Level, TicketSource, TicketSources, Winning};
use crate::train::{Init, RewindPoint};
use crate::EngineError;

/// The metrics the comparison reports for a task: `test_m` and `test_m@val` for each metric.
pub fn comparison_metrics(task: &dyn Task) -> Vec<MetricSpec> {
    task.metrics()
        .into_iter()
        .flat_map(|m| {
            [
                MetricSpec { name: format!("test_{}", m.name), direction: m.direction },
                MetricSpec { name: format!("test_{}@val", m.name), direction: m.direction },
            ]
        })
        .collect()
}

/// The prunable layers of the task's network, their sizes, and the level schedule.
pub struct Plan {
    pub layers: Vec<(String, Vec<i64>)>,
    pub schedule: Schedule,
    pub rewind: Point,
    pub end: Point,
}

/// How an epoch of `training` is counted, for messages.
fn epoch_unit(training: &Training) -> String {
    match training.episodes_per_epoch {
        Some(n) => format!("{n} episodes"),
        None => format!("{} iterations", training.iterations_per_epoch),
    }
}

/// Where `step` falls in `training`; `key` names the setting in the error.
pub(crate) fn point(training: &Training, key: &'static str, step: Step) -> Result<Point, EngineError> {
    training.point(step).map_err(|reason| EngineError::BadStep { key, reason })
}

/// The point a ticket trains to, once the budget and evaluation interval are checked.
pub(crate) fn budget(training: &Training) -> Result<Point, EngineError> {
    let end = point(training, "steps", training.steps)?;
    if end.count() == 0 {
        return Err(EngineError::NoTraining { steps: training.steps, end, per_epoch: epoch_unit(training) });
    }
    if point(training, "eval_every", training.eval_every)?.count() == 0 {
        return Err(EngineError::NoEvaluation { every: training.eval_every, per_epoch: epoch_unit(training) });
    }
    Ok(end)
}

fn plan(config: &RunConfig, problem: &dyn Problem, training: &Training) -> Result<Plan, EngineError> {
    let end = budget(training)?;
    let rewind = point(training, "--rewind", config.imp.rewind)?;
    let steps = training.steps;
    match (rewind, end) {
        (Point::Episodes(_), Point::Iteration(_)) => return Err(EngineError::RewindUnreachable { rewind: config.imp.rewind, at: rewind, end, steps }),
        (Point::Iteration(at), Point::Iteration(last)) | (Point::Episodes(at), Point::Episodes(last)) if at >= last => {
            return Err(EngineError::RewindTooLate { rewind: config.imp.rewind, at: rewind, end, steps, per_epoch: epoch_unit(training) });
        }
        _ => {}
    }
    // Build once on the CPU to learn the prunable parameters and their shapes.
    let vs = nn::VarStore::new(Device::Cpu);
    let net = problem.build(&vs.root(), 0)?;
    let vars = vs.variables();
    let prunable = net.prunable();
    for name in config.imp.ignore.iter().chain(config.imp.layer_rates.keys()) {
        if !prunable.iter().any(|p| &p.name == name) {
            return Err(EngineError::UnknownParameter {
                task: config.task.clone(),
                name: name.clone(),
                choices: lottery_task::closest_first(name, prunable.iter().map(|p| p.name.as_str())).into_iter().map(String::from).collect(),
            });
        }
    }
    // No preset prunes embeddings by default, so a rule for them is --prune-embeddings.
    let embeddings_asked = config.imp.roles.multiplier(lottery_task::Role::Embedding).is_some();
    if embeddings_asked && !prunable.iter().any(|p| p.role == lottery_task::Role::Embedding) {
        return Err(EngineError::NoEmbeddings { task: config.task.clone() });
    }
    // The one table: an explicit --layer-rate, else the role's rule; --ignore wins over both.
    let mut layers = vec![];
    let mut rates = vec![];
    for p in prunable.iter().filter(|p| !config.imp.ignore.contains(&p.name)) {
        let rate = match config.imp.layer_rates.get(&p.name) {
            Some(&rate) => rate,
            None => match config.imp.roles.multiplier(p.role) {
                Some(multiplier) => config.imp.rate * multiplier,
                None => continue,
            },
        };
        let shape = vars.get(&p.name).ok_or_else(|| EngineError::Inconsistent(format!("prunable `{}` is not a variable", p.name)))?.size();
        layers.push((p.name.clone(), shape));
        rates.push((p.name.clone(), rate));
    }
    if layers.is_empty() {
        return Err(EngineError::NothingToPrune("--ignore leaves no prunable parameter; ignore fewer".into()));
    }
    if config.imp.prune > 0.0 && rates.iter().all(|(_, r)| *r == 0.0) {
        return Err(EngineError::NothingToPrune(
            "every prunable parameter has a per-level rate of 0 (--layer-rate NAME=0), so no level can prune; give at least one a positive rate".into(),
        ));
    }
    let groups = prune::groups(&rates, config.imp.rate, config.imp.strategy);
    let size = |name: &str| layers.iter().find(|(n, _)| n == name).map_or(0, |(_, s)| s.iter().product::<i64>() as u64);
    let sizes: Vec<u64> = groups.iter().map(|g| g.layers.iter().map(|n| size(n)).sum()).collect();
    let schedule = prune::schedule(groups, &sizes, config.imp.prune, config.imp.schedule)?;
    Ok(Plan { layers, schedule, rewind, end })
}

/// A run to execute: its folder, config, task, where the task finds its inputs, and the ticket
/// kinds it can train.
pub struct Run<'a> {
    pub dir: std::path::PathBuf,
    pub config: RunConfig,
    pub task: &'a dyn Task,
    pub env: TaskEnv,
    pub tickets: &'a TicketSources,
    /// Train only this replicate (`--replicate`): one unit of a sweep. Replicates are
    /// independent, so processes on several machines can each train one in the same folder.
    pub replicate: Option<u32>,
}

/// `config.toml` as written: the resolved config, the identity, the device and every replicate's
/// seeds.
#[derive(serde::Serialize)]
struct OnDisk<'a> {
    identity: &'a str,
    /// Where the latest invocation trained (not part of the identity).
    device: String,
    #[serde(flatten)]
    config: &'a RunConfig,
    /// Input files the settings do not name (an Atari ROM and its MD5, say).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    inputs: BTreeMap<String, String>,
    /// The seeds of each replicate, derived from `imp.seed`.
    replicate_seeds: Vec<ReplicateSeeds>,
    /// The harness version and commit of the run's first invocation, and when it started.
    provenance: Provenance,
}

/// Keys of `config.toml` that may change between invocations of one run.
const INVOCATION_KEYS: [&str; 7] = ["identity", "device", "replicates", "controls", "inputs", "replicate_seeds", "provenance"];

/// Checks that the folder's `config.toml`, if any, holds the same run, and writes the current one
/// (replicates and controls are the union of the folder's and this invocation's).
fn write_or_check_config(layout: &RunLayout, config: &RunConfig, canonical: &str, device: Device, inputs: BTreeMap<String, String>) -> Result<(), EngineError> {
    let mut merged = config.clone();
    let old = layout.read_config()?;
    // Kept from the first invocation: a resume by a later build does not rewrite who started it.
    let provenance = old.as_ref().and_then(Provenance::from_config).unwrap_or_else(Provenance::now);
    let render = |config: &RunConfig| {
        let on_disk = OnDisk {
            identity: canonical,
            device: format!("{device:?}").to_lowercase(),
            config,
            inputs: inputs.clone(),
            replicate_seeds: (0..config.replicates).map(|r| ReplicateSeeds::new(config.imp.seed, r)).collect(),
            provenance: provenance.clone(),
        };
        toml::to_string(&on_disk).expect("a resolved config serializes")
    };
    if let Some(old) = old {
        let new: toml::Table = render(config).parse().expect("rendered TOML parses");
        folder::check_same_run(layout, &old, &new, canonical, &INVOCATION_KEYS)?;
        folder::accumulate(&old, &mut merged.replicates, &mut merged.controls);
    }
    let mut text = render(&merged);
    text.insert_str(0, "# Resolved configuration of this run. `identity` is the text its folder name hashes.\n");
    write_atomic(layout.config(), text.as_bytes())?;
    Ok(())
}

/// Writes the curves and comparison tables from every finished ticket in the run folder; `kinds`
/// (the registry's, the subject first) order the rows and give the controls' columns. Takes the
/// lock of the folder's own files, so among writers that each finished tickets, the last one to
/// write the tables has read every result.
pub fn write_tables(layout: &RunLayout, metrics: &[MetricSpec], kinds: &[TicketKind]) -> Result<Vec<TicketResult>, EngineError> {
    let _lock = folder::lock_shared_files(layout.root())?;
    let results = layout.finished(kinds)?;
    curves_table(&results).write(layout.root(), "curves")?;
    comparison_table(&results, metrics, &kinds[0], &kinds[1..]).write(layout.root(), "comparison")?;
    Ok(results)
}

/// Checks a mask read from disk against the plan: the same layers and shapes, and per group the
/// surviving count the schedule gives `level`.
fn check_level_mask(mask: &Mask, plan: &Plan, level: u32) -> Result<(), String> {
    let layers = mask.layers();
    for (name, shape) in &plan.layers {
        match layers.get(name) {
            None => return Err(format!("it has no layer `{name}`")),
            Some(m) if &m.size() != shape => return Err(format!("layer `{name}` has shape {:?}, the network {shape:?}", m.size())),
            _ => {}
        }
    }
    if let Some(extra) = layers.keys().find(|n| !plan.layers.iter().any(|(l, _)| l == *n)) {
        return Err(format!("it masks `{extra}`, which this run does not prune"));
    }
    let counts = mask.counts();
    for (group, &expected) in plan.schedule.groups.iter().zip(&plan.schedule.survivors[level as usize]) {
        let kept: u64 = group.layers.iter().map(|n| counts[n].0).sum();
        if kept != expected {
            return Err(format!("it keeps {kept} weights of {}, where level {level} of the schedule keeps {expected}", group.layers.join(", ")));
        }
    }
    Ok(())
}

impl<'a> Run<'a> {
    /// Everything [`Run::execute`] checks before it writes (the task's data and hyperparameters,
    /// the plan: `--ignore`, `--layer-rate`, `--rewind`, the budget), without writing anything:
    /// what a suite checks of every entry before the first one runs.
    pub fn check(&self) -> Result<(), EngineError> {
        self.replicates()?;
        let problem = self.task.prepare(&self.config.hparams, &self.env)?;
        plan(&self.config, problem.as_ref(), problem.training())?;
        Ok(())
    }

    /// The replicates this invocation trains: all, or the one `--replicate` names.
    fn replicates(&self) -> Result<Vec<u32>, EngineError> {
        match self.replicate {
            None => Ok((0..self.config.replicates).collect()),
            Some(replicate) if replicate < self.config.replicates => Ok(vec![replicate]),
            Some(replicate) => Err(EngineError::NoSuchReplicate { replicate, replicates: self.config.replicates }),
        }
    }

    /// Runs (or resumes) every level, replicate and control; returns every finished ticket's
    /// result in the folder.
    pub fn execute(&self, quiet: bool) -> Result<Vec<TicketResult>, EngineError> {
        let config = &self.config;
        let layout = RunLayout::new(&self.dir);
        // Everything that can refuse the request happens before the first write.
        let problem = self.task.prepare(&config.hparams, &self.env)?;
        let training = problem.training();
        let plan = plan(config, problem.as_ref(), training)?;
        let canonical = config.canonical(self.task);
        let replicates = self.replicates()?;

        {
            let _lock = folder::lock_shared_files(&self.dir)?;
            write_or_check_config(&layout, config, &canonical, self.env.device, problem.inputs().into_iter().collect())?;
            for (name, bytes) in problem.artifacts() {
                write_atomic(self.dir.join(name), &bytes)?;
            }
        }
        // Held until this invocation ends: one writer per replicate.
        let _claims = replicates.iter().map(|&rep| folder::claim_replicate(&layout, rep)).collect::<Result<Vec<_>, _>>()?;

        let metrics = self.task.metrics();
        let comparison = comparison_metrics(self.task);
        let levels = plan.schedule.levels();
        let kinds = self.tickets.kinds();
        let controls: Vec<&dyn TicketSource> =
            self.tickets.ordered(&config.controls).iter().filter(|k| !k.is_winning()).filter_map(|k| self.tickets.get(k)).collect();
        let total = replicates.len() as u64 * (1 + levels as u64 * (1 + controls.len() as u64));
        let reporter = Reporter::new(total, quiet);
        reporter.note(&format!(
            "{}: {levels} pruning levels to density {:.4}, rewind to {}, {} per ticket, {}, controls: {}",
            config.task,
            plan.schedule.density(levels),
            plan.rewind,
            plan.end,
            match self.replicate {
                Some(rep) => format!("replicate {rep} of {}", config.replicates),
                None => format!("{} replicate(s)", config.replicates),
            },
            if controls.is_empty() { "none".to_string() } else { controls.iter().map(|c| c.kind().to_string()).collect::<Vec<_>>().join(", ") }
        ));
        reporter.note(&format!("results: {}", self.dir.display()));

        let rewind_remedy = |rep: u32| {
            let dense = layout.ticket(rep, 0, &TicketKind::WINNING);
            format!("delete it and the folder {} to train the dense network again, which writes it again (later levels are kept)", dense.dir().display())
        };
        // After a level, the tables are written if this invocation finished one of its tickets;
        // at the end, always (below). A rerun that fails early never rewrites them.
        let trainer = TicketTrainer {
            problem: problem.as_ref(),
            training,
            metrics: &metrics,
            device: self.env.device,
            layout: &layout,
            reporter: &reporter,
            end: plan.end,
            rewind_remedy: &rewind_remedy,
            trained: Cell::new(false),
        };
        for level in 0..=levels {
            for &rep in &replicates {
                let seeds = ReplicateSeeds::new(config.imp.seed, rep);
                let rewind_path = layout.rewind(rep);
                let mask = self.level_mask(&trainer, &plan, rep, level)?;
                let job = |kind: TicketKind, init: Init, start: RewindPoint, snapshot: Option<(Point, PathBuf)>| TicketJob {
                    kind,
                    replicate: rep,
                    level,
                    seeds: &seeds,
                    mask: &mask,
                    init,
                    start,
                    snapshot,
                };
                if level == 0 {
                    // The dense network: fresh weights, no mask, the rewind snapshot on the way.
                    trainer.train(job(TicketKind::WINNING, Init::Fresh(seeds.init), RewindPoint::START, Some((plan.rewind, rewind_path.clone()))))?;
                    continue;
                }
                // Every later ticket starts where the dense network was rewound to: known in
                // advance for a point in iterations, recorded beside the snapshot for one in
                // episodes.
                let start = match plan.rewind {
                    Point::Iteration(iteration) => RewindPoint { iteration, episodes: 0 },
                    Point::Episodes(_) => RewindPoint::read(&rewind_path).map_err(|e| e.remedy(rewind_remedy(rep)))?,
                };
                let at = Level { layout: &layout, replicate: rep, level, mask: &mask, seeds: &seeds, rewind: &rewind_path };
                for source in std::iter::once(&Winning as &dyn TicketSource).chain(controls.iter().copied()) {
                    let made = source.ticket(&at).map_err(|e| trainer.explain(e, rep))?;
                    trainer.train(TicketJob { mask: &made.mask, ..job(source.kind(), made.init, start, None) })?;
                }
            }
            if trainer.trained.get() {
                write_tables(&layout, &comparison, &kinds)?;
            }
        }
        reporter.finish();
        // Every pass that reaches the end writes the tables from every finished ticket, even one
        // that trained nothing: a process killed after its last result and before the tables
        // leaves them behind the results. Files already up to date are left alone.
        write_tables(&layout, &comparison, &kinds)
    }

    /// The IMP mask of a level: dense at level 0; otherwise loaded (and checked against the
    /// schedule), or computed once from the previous level's trained winning ticket and saved.
    fn level_mask(&self, trainer: &TicketTrainer<'_>, plan: &Plan, rep: u32, level: u32) -> Result<Mask, EngineError> {
        let layout = trainer.layout;
        if level == 0 {
            return Ok(Mask::dense(&plan.layers.iter().cloned().collect()));
        }
        let path = layout.level_mask(rep, level);
        let level_dir = layout.level(rep, level);
        let remedy = format!("delete the folder {} to compute the mask again and retrain that level's tickets", level_dir.display());
        if path.exists() {
            let mask = Mask::load(&path).map_err(|e| e.remedy(remedy.clone()))?;
            check_level_mask(&mask, plan, level).map_err(|reason| EngineError::Mismatch { path: path.clone(), reason, remedy })?;
            return Ok(mask);
        }
        let previous = self.level_mask(trainer, plan, rep, level - 1)?;
        let weights_path = layout.ticket(rep, level - 1, &TicketKind::WINNING).final_weights();
        let weights: BTreeMap<String, tch::Tensor> =
            crate::checkpoint::read_safetensors(&weights_path).map_err(|e| trainer.explain(e, rep))?.into_iter().collect();
        let mask = prune::magnitude_prune(&previous, &weights, &plan.schedule.groups, &plan.schedule.survivors[level as usize])?;
        mask.save(&path)?;
        Ok(mask)
    }
}
