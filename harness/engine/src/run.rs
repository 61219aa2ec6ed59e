//! The IMP driver: for each level, the winning ticket and its controls, for each replicate, with
//! everything on disk ([`RunLayout`]) so a rerun skips what is finished and resumes what is not.
//!
//! A run is validated whole before anything is written: the task prepares its data and checks
//! its hyperparameters, and the plan checks `--ignore`, `--layer-rate`, `--rewind` and the
//! budget. Only then is the folder made, locked and `config.toml` written, so a refused request
//! leaves nothing behind.

use std::collections::BTreeMap;

use tch::{nn, Device};

use lottery_results::{comparison_table, curves_table, write_atomic, MetricSpec, RunLayout, TicketKind, TicketLayout, TicketResult};
use lottery_task::{Problem, Task, TaskEnv, Training};

use crate::config::RunConfig;
use crate::mask::Mask;
use crate::progress::Reporter;
use crate::prune::{self, Schedule};
use crate::seeds::ReplicateSeeds;
use crate::tickets::{Level, TicketSource, TicketSources, Winning};
use crate::train::{self, Init, TicketSpec};
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
    pub rewind: u64,
    pub end: u64,
}

fn plan(config: &RunConfig, problem: &dyn Problem, training: &Training) -> Result<Plan, EngineError> {
    let per_epoch = training.iterations_per_epoch;
    let end = training.steps.iterations(per_epoch);
    if end == 0 {
        return Err(EngineError::NoTraining { steps: training.steps, end, per_epoch });
    }
    if training.eval_every.iterations(per_epoch) == 0 {
        return Err(EngineError::NoEvaluation { every: training.eval_every, per_epoch });
    }
    let rewind = config.imp.rewind.iterations(per_epoch);
    if rewind >= end {
        return Err(EngineError::RewindTooLate { rewind: config.imp.rewind, at: rewind, end, steps: training.steps, per_epoch });
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
    let schedule = prune::schedule(groups, &sizes, config.imp.prune)?;
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
}

/// The keys of the resolved settings (`task`, `preset`, `imp.*`, `hparams.*`) whose values in
/// `old` (a folder's `config.toml`) differ from `new`. Keys only one side has are skipped: an
/// option added later with its default does not make an old run another run.
fn differing_settings(old: &toml::Table, new: &toml::Table) -> Vec<String> {
    let mut out = vec![];
    for key in ["task", "preset"] {
        if let (Some(a), Some(b)) = (old.get(key), new.get(key)) {
            if a != b {
                out.push(format!("{key}: the folder has {a}, this run {b}"));
            }
        }
    }
    for section in ["imp", "hparams"] {
        let (Some(a), Some(b)) = (old.get(section).and_then(|v| v.as_table()), new.get(section).and_then(|v| v.as_table())) else { continue };
        for (key, va) in a {
            if let Some(vb) = b.get(key) {
                if va != vb {
                    out.push(format!("{section}.{key}: the folder has {va}, this run {vb}"));
                }
            }
        }
    }
    out
}

/// Checks that the folder's `config.toml`, if any, holds the same run, and writes the current one
/// (replicates and controls are the union of the folder's and this invocation's).
fn write_or_check_config(layout: &RunLayout, config: &RunConfig, canonical: &str, device: Device, inputs: BTreeMap<String, String>) -> Result<(), EngineError> {
    let path = layout.config();
    let mut merged = config.clone();
    let render = |config: &RunConfig| {
        let on_disk = OnDisk {
            identity: canonical,
            device: format!("{device:?}").to_lowercase(),
            config,
            inputs: inputs.clone(),
            replicate_seeds: (0..config.replicates).map(|r| ReplicateSeeds::new(config.imp.seed, r)).collect(),
        };
        toml::to_string(&on_disk).expect("a resolved config serializes")
    };
    if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(EngineError::io(&path))?;
        let old: toml::Table = text.parse().map_err(|e: toml::de::Error| EngineError::Corrupt {
            path: path.clone(),
            reason: e.message().to_string(),
            remedy: "delete it: the next run writes it again from its settings".into(),
        })?;
        let new: toml::Table = render(config).parse().expect("rendered TOML parses");
        let mut differences = differing_settings(&old, &new);
        if differences.is_empty() && old.get("identity").and_then(|v| v.as_str()) != Some(canonical) {
            differences.push("its identity (the non-default settings) differs from this run's".into());
        }
        if !differences.is_empty() {
            return Err(EngineError::DifferentRun { dir: layout.root().to_path_buf(), differences });
        }
        if let Some(n) = old.get("replicates").and_then(|v| v.as_integer()) {
            merged.replicates = merged.replicates.max(n.clamp(0, u32::MAX as i64) as u32);
        }
        if let Some(kinds) = old.get("controls").and_then(|v| v.as_array()) {
            for kind in kinds.iter().filter_map(|v| v.as_str()).map(|s| TicketKind::from(s.to_string())) {
                if !merged.controls.contains(&kind) {
                    merged.controls.push(kind);
                }
            }
        }
    }
    let mut text = render(&merged);
    text.insert_str(0, "# Resolved configuration of this run. `identity` is the text its folder name hashes.\n");
    write_atomic(&path, text.as_bytes())?;
    Ok(())
}

/// Writes the curves and comparison tables from every finished ticket in the run folder; `kinds`
/// (the registry's, `winning` first) order the rows and give the controls' columns.
pub fn write_tables(layout: &RunLayout, metrics: &[MetricSpec], kinds: &[TicketKind]) -> Result<Vec<TicketResult>, EngineError> {
    let results = layout.finished(kinds)?;
    let controls: Vec<TicketKind> = kinds.iter().filter(|k| !k.is_winning()).cloned().collect();
    curves_table(&results).write(layout.root(), "curves")?;
    comparison_table(&results, metrics, &controls).write(layout.root(), "comparison")?;
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

        std::fs::create_dir_all(&self.dir).map_err(EngineError::io(&self.dir))?;
        let _lock = lottery_results::RunLock::acquire(&self.dir)??;
        // Safe now that this process is the folder's only writer.
        lottery_results::remove_stale_temporaries(&self.dir);
        write_or_check_config(&layout, config, &canonical, self.env.device, problem.inputs().into_iter().collect())?;
        for (name, bytes) in problem.artifacts() {
            write_atomic(self.dir.join(name), &bytes)?;
        }

        let metrics = self.task.metrics();
        let comparison = comparison_metrics(self.task);
        let levels = plan.schedule.levels();
        let kinds = self.tickets.kinds();
        let controls: Vec<&dyn TicketSource> =
            self.tickets.ordered(&config.controls).iter().filter(|k| !k.is_winning()).filter_map(|k| self.tickets.get(k)).collect();
        let total = config.replicates as u64 * (1 + levels as u64 * (1 + controls.len() as u64));
        let reporter = Reporter::new(total, quiet);
        reporter.note(&format!(
            "{}: {levels} pruning levels to density {:.4}, rewind to iteration {}, {} iterations per ticket, {} replicate(s), controls: {}",
            config.task,
            plan.schedule.density(levels),
            plan.rewind,
            plan.end,
            config.replicates,
            if controls.is_empty() { "none".to_string() } else { controls.iter().map(|c| c.kind().to_string()).collect::<Vec<_>>().join(", ") }
        ));
        reporter.note(&format!("results: {}", self.dir.display()));

        // Tables are rewritten only when this invocation finished a ticket (or they are missing),
        // so a rerun that fails early never rewrites them.
        let trained = std::cell::Cell::new(false);
        for level in 0..=levels {
            for rep in 0..config.replicates {
                let seeds = ReplicateSeeds::new(config.imp.seed, rep);
                let rewind_path = layout.rewind(rep);
                let mask = self.level_mask(&layout, &plan, rep, level)?;
                let ticket = |kind: TicketKind, mask: &Mask, init: Init<'_>, start: u64, snapshot: Option<(u64, std::path::PathBuf)>| {
                    let spec = TicketSpec {
                        ticket: layout.ticket(rep, level, &kind),
                        kind,
                        replicate: rep,
                        level,
                        mask,
                        init,
                        data_seed: seeds.data,
                        seeds: seeds.as_map(),
                        start,
                        end: plan.end,
                        snapshot,
                    };
                    let fresh = !spec.ticket.result().exists();
                    let r = train::train_ticket(problem.as_ref(), training, &metrics, self.env.device, spec, &reporter)
                        .map_err(|e| self.explain(e, &layout, rep))?;
                    trained.set(trained.get() || fresh);
                    reporter.ticket_done(&describe(&r, &metrics));
                    Ok::<_, EngineError>(r)
                };
                if level == 0 {
                    // The dense network: fresh weights, no mask, the rewind snapshot on the way.
                    ticket(TicketKind::WINNING, &mask, Init::Fresh(seeds.init), 0, Some((plan.rewind, rewind_path)))?;
                    continue;
                }
                let at = Level { layout: &layout, replicate: rep, level, imp_mask: &mask, seeds: &seeds, rewind: &rewind_path };
                for source in std::iter::once(&Winning as &dyn TicketSource).chain(controls.iter().copied()) {
                    let made = source.ticket(&at).map_err(|e| self.explain(e, &layout, rep))?;
                    ticket(source.kind(), &made.mask, made.init, plan.rewind, None)?;
                }
            }
            if trained.get() {
                write_tables(&layout, &comparison, &kinds)?;
            }
        }
        reporter.finish();
        let missing = lottery_results::TABLES.iter().any(|t| ["arrow", "csv"].iter().any(|ext| !layout.table(t, ext).is_file()));
        if trained.get() || missing {
            return write_tables(&layout, &comparison, &kinds);
        }
        Ok(layout.finished(&kinds)?)
    }

    /// Replaces the remedy of an unreadable file the engine knows how to recompute with the
    /// steps that recompute it, so following the message works.
    fn explain(&self, e: EngineError, layout: &RunLayout, rep: u32) -> EngineError {
        let path = match &e {
            EngineError::Corrupt { path, .. } | EngineError::Io { path, .. } => path.clone(),
            _ => return e,
        };
        if path == layout.rewind(rep) {
            let dense = layout.ticket(rep, 0, &TicketKind::WINNING);
            return e.remedy(format!(
                "delete it and the folder {} to train the dense network again, which writes it again (later levels are kept)",
                dense.dir().display()
            ));
        }
        let ticket = TicketLayout::at(path.parent().unwrap_or(&path));
        if ticket.is_checkpoint_file(&path) {
            return e.remedy(format!("delete {} to restart this ticket from its beginning", ticket.checkpoint().display()));
        }
        if path == ticket.final_weights() || path == ticket.result() {
            return e.remedy(format!("delete the folder {} to train that ticket again", ticket.dir().display()));
        }
        e
    }

    /// The IMP mask of a level: dense at level 0; otherwise loaded (and checked against the
    /// schedule), or computed once from the previous level's trained winning ticket and saved.
    fn level_mask(&self, layout: &RunLayout, plan: &Plan, rep: u32, level: u32) -> Result<Mask, EngineError> {
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
        let previous = self.level_mask(layout, plan, rep, level - 1)?;
        let weights_path = layout.ticket(rep, level - 1, &TicketKind::WINNING).final_weights();
        let weights: BTreeMap<String, tch::Tensor> =
            crate::checkpoint::read_safetensors(&weights_path).map_err(|e| self.explain(e, layout, rep))?.into_iter().collect();
        let mask = prune::magnitude_prune(&previous, &weights, &plan.schedule.groups, &plan.schedule.survivors[level as usize])?;
        mask.save(&path)?;
        Ok(mask)
    }
}

fn describe(r: &TicketResult, metrics: &[MetricSpec]) -> String {
    let shown: Vec<String> = metrics
        .iter()
        .filter_map(|m| r.metrics.get(&format!("test_{}", m.name)).map(|v| format!("test {} {v:.4}", m.name)))
        .collect();
    format!("level {:>2} rep {} {:<7} density {:.4}  {}", r.level, r.replicate, r.ticket.as_str(), r.density, shown.join("  "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differing_settings_name_the_keys_and_skip_keys_only_one_side_has() {
        let old: toml::Table = "task = \"a\"\n[imp]\nrate = 0.2\n[hparams]\nlr = 0.1\nold_key = 1\n".parse().unwrap();
        let new: toml::Table = "task = \"a\"\n[imp]\nrate = 0.2\n[hparams]\nlr = 0.2\nnew_key = 2\n".parse().unwrap();
        assert_eq!(differing_settings(&old, &new), vec!["hparams.lr: the folder has 0.1, this run 0.2".to_string()]);
        assert!(differing_settings(&old, &old).is_empty());
    }
}
