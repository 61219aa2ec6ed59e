//! Ticket transfer (Morcos, Yu, Paganini & Tian 2019, "One ticket to win them all"): the tickets
//! of an IMP run (the *source*) trained on another task, dataset subset or optimizer (the
//! *target*), against random tickets and the target's own winning ticket.
//!
//! For each chosen level of the source and each replicate R (paired with the source's replicate
//! R), the kinds of [`TicketSources::transfer`] are trained on the target: `transferred` (the
//! source's mask at that level, survivors at the source's rewound weights) and the controls
//! asked for — `reinit`, `shuffle`, `random` and, with a target run, `target_winning`. Level 0
//! (dense) trains `transferred` (the source's rewound weights, no mask) and `reinit` (fresh
//! weights: the target's own dense network) only; the other kinds would repeat them. Every
//! ticket trains the target's whole budget from iteration 0.
//!
//! Parameters whose shapes differ between source and target are not transferred; that is
//! allowed only for the network's input and output layers (other channels, other classes). They
//! get fresh weights and, where the source prunes them, a random mask at the source layer's
//! density; `config.toml` lists which parameters were transferred and which are fresh.
//!
//! The folder is laid out as a run's ([`RunLayout`]): `rep-R/rewind.safetensors` holds the
//! transferred initial weights (every target variable), `rep-R/level-LL/mask.safetensors` the
//! transferred mask; the tables are `transfer` and `curves`. Its identity hashes the source run's
//! identity, the target task, preset, seed and non-default hyperparameters; replicates, levels
//! and controls extend it.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tch::{nn, Device, Tensor};

use lottery_results::provenance::Provenance;
use lottery_results::{comparison_table, curves_table, run_id, write_atomic, Column, MetricSpec, RunLayout, Table, TicketKind, TicketResult};
use lottery_task::{Preset, Problem, PrunableParam, Role, Task, TaskEnv};

use crate::checkpoint::{read_safetensors, write_safetensors_atomic};
use crate::config::{check_replicates, non_default_hparams, resolve_hparams};
use crate::folder::{self, TicketJob, TicketTrainer};
use crate::mask::Mask;
use crate::progress::Reporter;
use crate::prune;
use crate::run::{budget, comparison_metrics};
use crate::seeds::{derive, ReplicateSeeds};
use crate::tickets::{Level, Random, TargetWinning, TicketSource, TicketSources};
use crate::train::RewindPoint;
use crate::EngineError;

/// The tables of a transfer folder.
pub const TABLES: [&str; 2] = ["transfer", "curves"];

/// Every kind a transfer's tables have columns for, in order (`target_winning` whether or not
/// this invocation has a target run, so the schema is the same for every transfer).
pub fn kinds() -> Vec<TicketKind> {
    let mut kinds = TicketSources::transfer().kinds();
    kinds.push(TargetWinning::KIND);
    kinds
}

/// A finished (or finishing) IMP run, read from its folder.
#[derive(Debug, Clone)]
pub struct SourceRun {
    pub dir: PathBuf,
    pub task: String,
    pub preset: Preset,
    /// `<task>-<hash of its identity>`: its folder name where `harness run` put it; it names the
    /// source wherever the folder has been moved.
    pub name: String,
    /// Replicates 0..n with rewound weights on disk.
    pub replicates: u32,
    /// Its identity text (its non-default settings) and resolved hyperparameters, recorded in
    /// the transfer's config so tables over many transfers can name the source.
    pub identity: String,
    pub hparams: toml::Table,
    layout: RunLayout,
}

impl SourceRun {
    pub fn open(dir: &Path) -> Result<Self, EngineError> {
        let refuse = |reason: String| EngineError::TransferSource { dir: dir.to_path_buf(), reason };
        let layout = RunLayout::new(dir);
        let config = layout.read_config()?
            .ok_or_else(|| refuse("it has no config.toml; give the folder of a `harness run` (its path is printed at the end of the run, under runs/)".into()))?;
        if config.contains_key("source") {
            return Err(refuse("it is a transfer; give the folder of the `harness run` its tickets came from".into()));
        }
        let text = |key: &str| config.get(key).and_then(|v| v.as_str()).map(String::from).ok_or_else(|| refuse(format!("its config.toml has no `{key}`")));
        let (task, identity) = (text("task")?, text("identity")?);
        let preset = text("preset")?.parse::<Preset>().map_err(|_| refuse("its config.toml has an unknown preset".into()))?;
        let replicates = (0..).take_while(|&r| layout.rewind(r).is_file()).count() as u32;
        if replicates == 0 {
            return Err(refuse(format!("{} is missing: its dense level has not passed the rewind point; let the run go on", layout.rewind(0).display())));
        }
        let name = format!("{}-{}", task.replace('/', "-"), run_id(&identity));
        let hparams = config.get("hparams").and_then(|v| v.as_table()).cloned().unwrap_or_default();
        Ok(SourceRun { dir: dir.to_path_buf(), task, preset, name, replicates, identity, hparams, layout })
    }

    /// The levels whose masks replicates 0..`replicates` all have: 0 (dense), then 1, 2, ...
    pub fn levels(&self, replicates: u32) -> Vec<u32> {
        (0..).take_while(|&l| l == 0 || (0..replicates).all(|r| self.layout.level_mask(r, l).is_file())).collect()
    }
}

/// What `harness transfer` was asked; `None` means the default.
#[derive(Debug, Clone, Default)]
pub struct TransferRequest {
    /// Default: the source run's preset.
    pub preset: Option<Preset>,
    pub set: Vec<(String, String)>,
    pub seed: Option<u64>,
    /// Default: every replicate of the source.
    pub replicates: Option<u32>,
    /// Default: every level of the source.
    pub levels: Option<Vec<u32>>,
    /// Default: `reinit`, `random`, and `target_winning` with a target run.
    pub controls: Option<Vec<TicketKind>>,
    pub target_run: Option<PathBuf>,
}

/// Everything `harness transfer` resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferConfig {
    /// The source run's name (task and identity hash).
    pub source: String,
    pub source_task: String,
    /// The source run's identity text.
    pub source_identity: String,
    /// The target task.
    pub task: String,
    pub preset: Preset,
    /// Base seed of the replicates' seeds (fresh weights, data order, random masks).
    pub seed: u64,
    /// The target's name when a target run gives `target_winning` (checked on resume; not part
    /// of the identity).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_run: Option<String>,
    /// Not part of the identity.
    pub replicates: u32,
    /// Not part of the identity.
    pub levels: Vec<u32>,
    /// Not part of the identity. Always contains `transferred`.
    pub controls: Vec<TicketKind>,
    pub hparams: toml::Table,
    /// The source run's resolved hyperparameters.
    pub source_hparams: toml::Table,
}

fn run_name_of(dir: &Path) -> Result<(String, String), EngineError> {
    let refuse = |reason: String| EngineError::TargetRun { dir: dir.to_path_buf(), reason };
    let config = RunLayout::new(dir).read_config()?.ok_or_else(|| refuse("it has no config.toml; give the folder of a `harness run` of the target task".into()))?;
    if config.contains_key("source") {
        return Err(refuse("it is a transfer; give the folder of a `harness run` of the target task".into()));
    }
    let text = |key: &str| config.get(key).and_then(|v| v.as_str()).map(String::from).ok_or_else(|| refuse(format!("its config.toml has no `{key}`")));
    let task = text("task")?;
    Ok((task.clone(), format!("{}-{}", task.replace('/', "-"), run_id(&text("identity")?))))
}

impl TransferConfig {
    /// Resolves the request against the target task and the source run; refuses what cannot be
    /// run (levels or replicates the source lacks, unknown kinds, a target run of another task).
    pub fn resolve(task: &dyn Task, source: &SourceRun, r: TransferRequest) -> Result<Self, EngineError> {
        let preset = r.preset.unwrap_or(source.preset);
        let hparams = resolve_hparams(task, preset, &r.set)?;
        let replicates = check_replicates(r.replicates.unwrap_or(source.replicates))?;
        if replicates > source.replicates {
            return Err(EngineError::TransferSource {
                dir: source.dir.clone(),
                reason: format!("it has {} replicate(s) with rewound weights, fewer than --replicates {replicates}; ask for at most {0}, or run more replicates of the source", source.replicates),
            });
        }
        let available = source.levels(replicates);
        if available.len() < 2 {
            return Err(EngineError::TransferSource {
                dir: source.dir.clone(),
                reason: format!("none of its first {replicates} replicate(s) has a pruned level yet (rep-0/level-01/mask.safetensors); let the run finish level 0"),
            });
        }
        let mut levels = match r.levels {
            None => available.clone(),
            Some(asked) => {
                if let Some(missing) = asked.iter().find(|l| !available.contains(l)) {
                    return Err(EngineError::NoSuchLevel { asked: missing.to_string(), available });
                }
                asked
            }
        };
        levels.sort_unstable();
        levels.dedup();

        let target_run = match &r.target_run {
            None => None,
            Some(dir) => {
                let (target_task, name) = run_name_of(dir)?;
                if target_task != task.name() {
                    return Err(EngineError::TargetRun { dir: dir.clone(), reason: format!("it is a run of {target_task}, not of the target task {}; give a run of {0}", task.name()) });
                }
                Some(name)
            }
        };
        let mut known = TicketSources::transfer().kinds();
        if target_run.is_some() {
            known.push(TargetWinning::KIND);
        }
        let mut asked = r.controls.unwrap_or_else(|| {
            let mut default = vec![TicketKind::REINIT, Random::KIND];
            default.extend(target_run.as_ref().map(|_| TargetWinning::KIND));
            default
        });
        asked.push(known[0].clone());
        if let Some(unknown) = asked.iter().find(|k| !known.contains(k)) {
            if *unknown == TargetWinning::KIND {
                return Err(EngineError::NeedsTargetRun);
            }
            return Err(EngineError::UnknownTicketKind { kind: unknown.to_string(), known: known.iter().map(|k| k.to_string()).collect() });
        }
        let controls = known.into_iter().filter(|k| asked.contains(k)).collect();
        Ok(TransferConfig {
            source: source.name.clone(),
            source_task: source.task.clone(),
            source_identity: source.identity.clone(),
            task: task.name().to_string(),
            preset,
            seed: r.seed.unwrap_or(0),
            target_run,
            replicates,
            levels,
            controls,
            hparams,
            source_hparams: source.hparams.clone(),
        })
    }

    /// The text the folder's identity hashes: the source run, the target task and preset, then
    /// the non-default settings as sorted `key = value` lines.
    pub fn canonical(&self, task: &dyn Task) -> String {
        let mut text = format!("source = \"{}\"\ntask = \"{}\"\npreset = \"{}\"\n", self.source, self.task, self.preset.as_str());
        let mut lines: BTreeMap<String, String> = non_default_hparams(task, self.preset, &self.hparams).into_iter().collect();
        if self.seed != 0 {
            lines.insert("seed".into(), self.seed.to_string());
        }
        // As for runs: a target preset whose defaults changed is another transfer.
        let revision = task.defaults(self.preset).revision;
        if revision != 1 {
            lines.insert("preset_revision".into(), revision.to_string());
        }
        for (k, v) in lines {
            text.push_str(&format!("{k} = {v}\n"));
        }
        text
    }

    /// `<source run>-to-<target task>-<identity hash>`.
    pub fn run_name(&self, task: &dyn Task) -> String {
        format!("{}-to-{}-{}", self.source, self.task.replace('/', "-"), run_id(&self.canonical(task)))
    }
}

/// How the source network maps onto the target's.
struct Fit {
    /// Variables carried over from the source's rewound weights.
    transferred: Vec<String>,
    /// Variables whose shapes differ (input or output layers): fresh on the target.
    fresh: Vec<String>,
    /// The layers the source masks, with the target's shapes.
    masked: BTreeMap<String, Vec<i64>>,
}

/// The module a parameter belongs to (`fc3` of `fc3.weight`).
fn module(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(m, _)| m)
}

impl Fit {
    /// Matches the source's variables (`source`: name -> shape; `masked`: the layers its masks
    /// cover) with the target's. The reason for a refusal names the first parameter that does
    /// not fit.
    fn new(source: &BTreeMap<String, Vec<i64>>, masked: Vec<String>, target: &BTreeMap<String, Vec<i64>>, prunable: &[PrunableParam]) -> Result<Self, String> {
        if let Some(name) = source.keys().chain(target.keys()).find(|n| source.contains_key(*n) != target.contains_key(*n)) {
            let side = if source.contains_key(name) { "the source's network only" } else { "the target's network only" };
            return Err(format!("`{name}` is a parameter of {side}"));
        }
        // Input and output layers may differ in shape (other channels, other classes).
        let mut edges: Vec<&str> = prunable.iter().filter(|p| p.role == Role::Output).map(|p| module(&p.name)).collect();
        edges.extend(prunable.first().map(|p| module(&p.name)));
        let (mut transferred, mut fresh) = (vec![], vec![]);
        for (name, shape) in target {
            if &source[name] == shape {
                transferred.push(name.clone());
            } else if edges.contains(&module(name)) {
                fresh.push(name.clone());
            } else {
                return Err(format!("`{name}` has shape {:?} there and {shape:?} here, and only input and output layers may differ", source[name]));
            }
        }
        let masked = masked.into_iter().map(|n| (n.clone(), target[&n].clone())).collect();
        Ok(Fit { transferred, fresh, masked })
    }

    /// [`Fit::new`] for a source run's folder (shapes from replicate 0's files).
    fn of_run(source: &SourceRun, target: &BTreeMap<String, Vec<i64>>, prunable: &[PrunableParam], task: &str) -> Result<Self, EngineError> {
        let shapes = |path: &Path| -> Result<BTreeMap<String, Vec<i64>>, EngineError> {
            Ok(read_safetensors(path)?.into_iter().map(|(n, t)| (n, t.size())).collect())
        };
        let masked = shapes(&source.layout.level_mask(0, 1))?.into_keys().collect();
        Fit::new(&shapes(&source.layout.rewind(0))?, masked, target, prunable)
            .map_err(|reason| EngineError::ArchitectureMismatch { dir: source.dir.clone(), task: task.to_string(), reason })
    }

    /// The transferred mask of a level: the source's, with a random mask at the source layer's
    /// density for each fresh layer (drawn from the replicate's mask seed).
    fn mask(&self, source: &SourceRun, rep: u32, level: u32, seeds: &ReplicateSeeds) -> Result<Mask, EngineError> {
        if level == 0 {
            return Ok(Mask::dense(&self.masked));
        }
        let path = source.layout.level_mask(rep, level);
        let mut layers: BTreeMap<String, Tensor> = Mask::load(&path)?.layers().iter().map(|(n, m)| (n.clone(), m.shallow_clone())).collect();
        let mut prefixes = BTreeMap::new();
        for name in self.fresh.iter().filter(|n| layers.contains_key(*n)) {
            let m = &layers[name];
            let density = m.sum(tch::Kind::Float).double_value(&[]) / m.numel() as f64;
            let shape = &self.masked[name];
            let numel: i64 = shape.iter().product();
            let kept = (density * numel as f64).round() as i64;
            let ones = Tensor::ones([kept], (tch::Kind::Float, Device::Cpu));
            let prefix = Tensor::cat(&[ones, Tensor::zeros([numel - kept], (tch::Kind::Float, Device::Cpu))], 0).reshape(shape.as_slice());
            prefixes.insert(name.clone(), prefix);
        }
        let drawn = prune::shuffled(&Mask::from_layers(prefixes), derive(seeds.mask, "fresh layers", 0), level);
        for (name, m) in drawn.layers() {
            layers.insert(name.clone(), m.shallow_clone());
        }
        Ok(Mask::from_layers(layers))
    }

    /// The transferred initial weights: the target network built from the replicate's init seed,
    /// with every transferred variable replaced by the source's rewound value.
    fn initial_weights(&self, problem: &dyn Problem, source: &SourceRun, rep: u32, seeds: &ReplicateSeeds) -> Result<Vec<(String, Tensor)>, EngineError> {
        let saved: BTreeMap<String, Tensor> = read_safetensors(&source.layout.rewind(rep))?.into_iter().collect();
        tch::manual_seed(seeds.init as i64);
        let vs = nn::VarStore::new(Device::Cpu);
        let _net = problem.build(&vs.root(), seeds.data)?;
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, var) in &mut vars {
            if self.transferred.contains(name) {
                *var = saved[name.as_str()].shallow_clone();
            } else {
                *var = var.detach();
            }
        }
        Ok(vars)
    }
}

/// `config.toml` of a transfer folder.
#[derive(Serialize)]
struct OnDisk<'a> {
    identity: &'a str,
    device: String,
    /// Where the source run was read from (not part of the identity: the folder may move).
    source_dir: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_run_dir: Option<String>,
    #[serde(flatten)]
    config: &'a TransferConfig,
    parameters: Parameters<'a>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    inputs: BTreeMap<String, String>,
    replicate_seeds: Vec<ReplicateSeeds>,
    /// The harness version and commit of the transfer's first invocation, and when it started.
    provenance: Provenance,
}

#[derive(Serialize)]
struct Parameters<'a> {
    transferred: &'a [String],
    fresh: &'a [String],
}

const INVOCATION_KEYS: [&str; 10] = ["identity", "device", "source_dir", "target_run_dir", "replicates", "levels", "controls", "inputs", "replicate_seeds", "provenance"];

/// A transfer to execute.
pub struct Transfer<'a> {
    pub dir: PathBuf,
    pub config: TransferConfig,
    pub source: SourceRun,
    pub task: &'a dyn Task,
    pub env: TaskEnv,
    /// The target run giving `target_winning`.
    pub target_run: Option<PathBuf>,
}

/// Writes the curves and transfer tables from every finished ticket in the folder.
pub fn write_tables(layout: &RunLayout, metrics: &[MetricSpec], config: &TransferConfig) -> Result<Vec<TicketResult>, EngineError> {
    let kinds = kinds();
    let results = layout.finished(&kinds)?;
    curves_table(&results).write(layout.root(), "curves")?;
    let comparison = comparison_table(&results, metrics, &kinds[0], &kinds[1..]);
    let n = comparison.num_rows();
    let repeat = |text: &str| Column::Str(vec![text.to_string(); n]);
    Table::new()
        .with("source_task", repeat(&config.source_task))
        .with("source_run", repeat(&config.source))
        .with("target_task", repeat(&config.task))
        .then(comparison)
        .write(layout.root(), "transfer")?;
    Ok(results)
}

impl Transfer<'_> {
    /// Trains (or resumes) every asked level, replicate and kind; returns every finished
    /// ticket's result in the folder.
    pub fn execute(&self, quiet: bool) -> Result<Vec<TicketResult>, EngineError> {
        let config = &self.config;
        let layout = RunLayout::new(&self.dir);
        // Everything that can refuse the request happens before the first write.
        let problem = self.task.prepare(&config.hparams, &self.env)?;
        let training = problem.training();
        let end = budget(training)?;
        let vs = nn::VarStore::new(Device::Cpu);
        let net = problem.build(&vs.root(), 0)?;
        let target: BTreeMap<String, Vec<i64>> = vs.variables().into_iter().map(|(n, t)| (n, t.size())).collect();
        let fit = Fit::of_run(&self.source, &target, &net.prunable(), &config.task)?;
        drop(net);
        let mut tickets = TicketSources::transfer();
        if let Some(dir) = &self.target_run {
            tickets.register(Box::new(TargetWinning::open(dir, config.replicates, &fit.masked)?));
        }
        let canonical = config.canonical(self.task);

        let _lock = folder::open(&self.dir)?;
        self.write_or_check_config(&layout, &canonical, &fit, problem.inputs().into_iter().collect())?;
        for (name, bytes) in problem.artifacts() {
            write_atomic(self.dir.join(name), &bytes)?;
        }

        let metrics = self.task.metrics();
        let comparison = comparison_metrics(self.task);
        let subject = tickets.subject();
        let sources: Vec<&dyn TicketSource> = config.controls.iter().filter_map(|k| tickets.get(k)).collect();
        let at_level = |level: u32| -> Vec<&dyn TicketSource> {
            sources.iter().copied().filter(|s| level > 0 || s.kind() == subject || s.kind() == TicketKind::REINIT).collect()
        };
        let per_replicate: usize = config.levels.iter().map(|&l| at_level(l).len()).sum();
        let reporter = Reporter::new(config.replicates as u64 * per_replicate as u64, quiet);
        reporter.note(&format!(
            "{} -> {}: levels {:?}, {} per ticket, {} replicate(s), kinds: {}; fresh on the target: {}",
            self.source.name,
            config.task,
            config.levels,
            end,
            config.replicates,
            sources.iter().map(|s| s.kind().to_string()).collect::<Vec<_>>().join(", "),
            if fit.fresh.is_empty() { "none".to_string() } else { fit.fresh.join(", ") }
        ));
        reporter.note(&format!("results: {}", self.dir.display()));

        let rewind_remedy = |_| "delete it: the next run makes it again from the source run".to_string();
        let trainer = TicketTrainer {
            problem: problem.as_ref(),
            training,
            metrics: &metrics,
            device: self.env.device,
            layout: &layout,
            reporter: &reporter,
            end,
            rewind_remedy: &rewind_remedy,
            trained: Cell::new(false),
        };
        for &level in &config.levels {
            for rep in 0..config.replicates {
                let seeds = ReplicateSeeds::new(config.seed, rep);
                let rewind = layout.rewind(rep);
                if !rewind.is_file() {
                    write_safetensors_atomic(&rewind, &fit.initial_weights(problem.as_ref(), &self.source, rep, &seeds)?)?;
                }
                let mask = self.level_mask(&fit, &layout, rep, level, &seeds)?;
                let at = Level { layout: &layout, replicate: rep, level, mask: &mask, seeds: &seeds, rewind: &rewind };
                for source in at_level(level) {
                    let made = source.ticket(&at).map_err(|e| trainer.explain(e, rep))?;
                    let job = TicketJob { kind: source.kind(), replicate: rep, level, seeds: &seeds, mask: &made.mask, init: made.init, start: RewindPoint::START, snapshot: None };
                    trainer.train(job)?;
                }
            }
            if trainer.trained.get() {
                write_tables(&layout, &comparison, config)?;
            }
        }
        reporter.finish();
        // Every pass that reaches the end writes the tables from every finished ticket, even one
        // that trained nothing: a process killed after its last result and before the tables
        // leaves them behind the results. Files already up to date are left alone.
        write_tables(&layout, &comparison, config)
    }

    /// The transferred mask of a level, computed from the source; saved the first time, and
    /// compared with the saved one after that (a source whose masks changed is refused).
    fn level_mask(&self, fit: &Fit, layout: &RunLayout, rep: u32, level: u32, seeds: &ReplicateSeeds) -> Result<Mask, EngineError> {
        let mask = fit.mask(&self.source, rep, level, seeds)?;
        let path = layout.level_mask(rep, level);
        if !path.exists() {
            mask.save(&path)?;
            return Ok(mask);
        }
        let remedy = format!("delete the folder {} to fit the source's mask again and retrain that level's tickets", layout.level(rep, level).display());
        let saved = Mask::load(&path).map_err(|e| e.remedy(remedy.clone()))?;
        let same = saved.layers().len() == mask.layers().len()
            && mask.layers().iter().all(|(n, m)| saved.layers().get(n).is_some_and(|s| s.size() == m.size() && s.equal(m)));
        if !same {
            let reason = format!("it is not the source run's mask at level {level} (read from {})", self.source.layout.level_mask(rep, level).display());
            return Err(EngineError::Mismatch { path, reason, remedy });
        }
        Ok(saved)
    }

    fn write_or_check_config(&self, layout: &RunLayout, canonical: &str, fit: &Fit, inputs: BTreeMap<String, String>) -> Result<(), EngineError> {
        let mut merged = self.config.clone();
        let old = layout.read_config()?;
        let provenance = old.as_ref().and_then(Provenance::from_config).unwrap_or_else(Provenance::now);
        let render = |config: &TransferConfig| {
            let on_disk = OnDisk {
                identity: canonical,
                device: format!("{:?}", self.env.device).to_lowercase(),
                source_dir: self.source.dir.display().to_string(),
                target_run_dir: self.target_run.as_ref().map(|d| d.display().to_string()),
                config,
                parameters: Parameters { transferred: &fit.transferred, fresh: &fit.fresh },
                inputs: inputs.clone(),
                replicate_seeds: (0..config.replicates).map(|r| ReplicateSeeds::new(config.seed, r)).collect(),
                provenance: provenance.clone(),
            };
            toml::to_string(&on_disk).expect("a resolved transfer config serializes")
        };
        if let Some(old) = old {
            let new: toml::Table = render(&self.config).parse().expect("rendered TOML parses");
            folder::check_same_run(layout, &old, &new, canonical, &INVOCATION_KEYS)?;
            folder::accumulate(&old, &mut merged.replicates, &mut merged.controls);
            if let Some(levels) = old.get("levels").and_then(|v| v.as_array()) {
                merged.levels.extend(levels.iter().filter_map(|v| v.as_integer()).filter_map(|l| u32::try_from(l).ok()));
                merged.levels.sort_unstable();
                merged.levels.dedup();
            }
            if merged.target_run.is_none() {
                merged.target_run = old.get("target_run").and_then(|v| v.as_str()).map(String::from);
            }
        }
        let mut text = render(&merged);
        text.insert_str(0, "# Resolved configuration of this transfer. `identity` is the text its folder name hashes.\n");
        write_atomic(layout.config(), text.as_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes(items: &[(&str, &[i64])]) -> BTreeMap<String, Vec<i64>> {
        items.iter().map(|(n, s)| (n.to_string(), s.to_vec())).collect()
    }

    fn lenet(inputs: i64, classes: i64) -> BTreeMap<String, Vec<i64>> {
        shapes(&[("fc1.weight", &[300, inputs]), ("fc1.bias", &[300]), ("fc2.weight", &[100, 300]), ("fc2.bias", &[100]), ("fc3.weight", &[classes, 100]), ("fc3.bias", &[classes])])
    }

    fn prunable() -> Vec<PrunableParam> {
        [("fc1.weight", Role::Hidden), ("fc2.weight", Role::Hidden), ("fc3.weight", Role::Output)].map(|(n, role)| PrunableParam { name: n.into(), role }).to_vec()
    }

    fn masked() -> Vec<String> {
        ["fc1.weight", "fc2.weight", "fc3.weight"].map(String::from).to_vec()
    }

    #[test]
    fn input_and_output_layers_may_differ_and_are_fresh_the_rest_is_transferred() {
        let fit = Fit::new(&lenet(784, 10), masked(), &lenet(3072, 100), &prunable()).unwrap();
        assert_eq!(fit.fresh, ["fc1.weight", "fc3.bias", "fc3.weight"]);
        assert_eq!(fit.transferred, ["fc1.bias", "fc2.bias", "fc2.weight"]);
        assert_eq!(fit.masked["fc1.weight"], [300, 3072], "masks take the target's shapes");
        let same = Fit::new(&lenet(784, 10), masked(), &lenet(784, 10), &prunable()).unwrap();
        assert!(same.fresh.is_empty() && same.transferred.len() == 6);
    }

    #[test]
    fn other_parameters_or_hidden_shapes_are_refused_by_name() {
        let mut wider = lenet(784, 10);
        wider.insert("fc2.weight".into(), vec![200, 300]);
        let err = Fit::new(&lenet(784, 10), masked(), &wider, &prunable()).err().unwrap();
        assert!(err.contains("`fc2.weight` has shape [100, 300] there and [200, 300] here"), "{err}");
        let mut extra = lenet(784, 10);
        extra.insert("fc4.weight".into(), vec![10, 10]);
        let err = Fit::new(&lenet(784, 10), masked(), &extra, &prunable()).err().unwrap();
        assert!(err.contains("`fc4.weight` is a parameter of the target's network only"), "{err}");
    }

    #[test]
    fn fresh_layers_get_a_random_mask_at_the_source_layers_density() {
        let fit = Fit::new(&lenet(784, 10), masked(), &lenet(3072, 100), &prunable()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let layout = RunLayout::new(dir.path());
        // A source level-1 mask keeping 30% of fc1, 50% of fc2, 80% of fc3.
        let keep = |shape: &[i64], fraction: f64| Tensor::rand(shape, (tch::Kind::Float, Device::Cpu)).lt(fraction).to_kind(tch::Kind::Float);
        tch::manual_seed(0);
        let source_mask = Mask::from_layers(BTreeMap::from([
            ("fc1.weight".to_string(), keep(&[300, 784], 0.3)),
            ("fc2.weight".to_string(), keep(&[100, 300], 0.5)),
            ("fc3.weight".to_string(), keep(&[10, 100], 0.8)),
        ]));
        std::fs::create_dir_all(layout.level(0, 1)).unwrap();
        source_mask.save(&layout.level_mask(0, 1)).unwrap();
        let source = SourceRun {
            dir: dir.path().into(),
            task: "t".into(),
            preset: Preset::Smoke,
            name: "t-0".into(),
            replicates: 1,
            identity: String::new(),
            hparams: Default::default(),
            layout,
        };
        let seeds = ReplicateSeeds::new(0, 0);
        let mask = fit.mask(&source, 0, 1, &seeds).unwrap();
        let density = |m: &Tensor| m.mean(tch::Kind::Float).double_value(&[]);
        let source_layers = source_mask.layers();
        assert!(mask.layers()["fc2.weight"].equal(&source_layers["fc2.weight"]), "a transferred layer keeps the source's mask");
        for name in ["fc1.weight", "fc3.weight"] {
            let (got, want) = (density(&mask.layers()[name]), density(&source_layers[name]));
            assert_eq!(mask.layers()[name].size(), fit.masked[name]);
            assert!((got - want).abs() < 1e-3, "{name}: density {got}, the source layer's {want}");
        }
        assert!(fit.mask(&source, 0, 1, &seeds).unwrap().layers()["fc1.weight"].equal(&mask.layers()["fc1.weight"]), "drawn from the seed");
        assert_eq!(fit.mask(&source, 0, 0, &seeds).unwrap().density(), 1.0);
    }
}
