//! The IMP driver: for each level, the winning ticket and its controls, for each replicate, with
//! everything on disk so a rerun skips what is finished and resumes what is not.
//!
//! Run folder layout (`<out>/<task>-<hash>/`):
//! ```text
//! config.toml                         resolved config (the identity's canonical text included)
//! <artifacts>                         the task's own files, e.g. tokenizer.json of a text task
//! curves.{arrow,csv}  comparison.{arrow,csv}
//! rep-R/rewind.safetensors            all variables at the rewind step of the dense run
//! rep-R/level-LL/mask.safetensors     the IMP mask of level L (uint8 0/1)
//! rep-R/level-LL/<ticket>/            result.json, final.safetensors, checkpoint while training;
//!                                     shuffle/ also holds its own mask.safetensors
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tch::{nn, Device};

use lottery_results::{comparison_table, curves_table, write_atomic, MetricSpec, TicketKind, TicketResult};

use crate::config::RunConfig;
use crate::mask::Mask;
use crate::progress::Reporter;
use crate::prune::{self, Schedule};
use crate::seeds::{derive, ReplicateSeeds};
use crate::task::{Problem, Task, TaskEnv, Training};
use crate::train::{self, Init, TicketSpec, FINAL_WEIGHTS};
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
    // Build once on the CPU to learn the prunable parameters and their shapes.
    let vs = nn::VarStore::new(Device::Cpu);
    let net = problem.build(&vs.root(), 0)?;
    let vars = vs.variables();
    let prunable = net.prunable();
    for name in config.imp.ignore.iter().chain(config.imp.layer_rates.keys()) {
        if !prunable.iter().any(|p| &p.name == name) {
            let names: Vec<&str> = prunable.iter().map(|p| p.name.as_str()).collect();
            return Err(EngineError::Usage(format!(
                "`{name}` is not a prunable parameter of {}; prunable (closest first): {}",
                config.task,
                crate::registry::closest_first(name, names).join(", ")
            )));
        }
    }
    let mut layers = vec![];
    let mut rates = vec![];
    for p in prunable.iter().filter(|p| !config.imp.ignore.contains(&p.name)) {
        let shape = vars.get(&p.name).ok_or_else(|| EngineError::Task(format!("prunable `{}` is not a variable", p.name)))?.size();
        let rate = config.imp.layer_rates.get(&p.name).copied().unwrap_or(config.imp.rate * p.rate_multiplier);
        layers.push((p.name.clone(), shape));
        rates.push((p.name.clone(), rate));
    }
    if layers.is_empty() {
        return Err(EngineError::Usage("no prunable parameters left after --ignore".into()));
    }
    let groups = prune::groups(&rates, config.imp.rate, config.imp.strategy);
    let size = |name: &str| layers.iter().find(|(n, _)| n == name).map_or(0, |(_, s)| s.iter().product::<i64>() as u64);
    let sizes: Vec<u64> = groups.iter().map(|g| g.layers.iter().map(|n| size(n)).sum()).collect();
    let schedule = prune::schedule(groups, &sizes, config.imp.prune)?;
    let per_epoch = training.iterations_per_epoch;
    let end = training.steps.iterations(per_epoch);
    let rewind = config.imp.rewind.iterations(per_epoch);
    if rewind >= end {
        return Err(EngineError::Usage(format!(
            "--rewind {} is iteration {rewind}, not before the end of training at iteration {end} ({} at {per_epoch} iterations per epoch); rewind to an earlier step",
            config.imp.rewind, training.steps
        )));
    }
    Ok(Plan { layers, schedule, rewind, end })
}

/// A run in progress: its folder, config, task and prepared problem.
pub struct Run<'a> {
    pub dir: PathBuf,
    pub config: RunConfig,
    pub task: &'a dyn Task,
    pub env: TaskEnv,
}

fn level_dir(dir: &Path, rep: u32, level: u32) -> PathBuf {
    dir.join(format!("rep-{rep}")).join(format!("level-{level:02}"))
}

/// Writes `config.toml`, or checks that the folder's existing one is the same run.
fn write_or_check_config(dir: &Path, config: &RunConfig, canonical: &str, device: Device) -> Result<(), EngineError> {
    let path = dir.join("config.toml");
    #[derive(serde::Serialize)]
    struct OnDisk<'a> {
        identity: &'a str,
        /// Where the latest invocation trained (not part of the identity).
        device: String,
        #[serde(flatten)]
        config: &'a RunConfig,
        /// The seeds of each replicate, derived from `imp.seed`.
        replicate_seeds: Vec<ReplicateSeeds>,
    }
    let on_disk = OnDisk {
        identity: canonical,
        device: format!("{device:?}").to_lowercase(),
        config,
        replicate_seeds: (0..config.replicates).map(|r| ReplicateSeeds::new(config.imp.seed, r)).collect(),
    };
    let mut text = toml::to_string(&on_disk).map_err(|e| EngineError::Task(e.to_string()))?;
    text.insert_str(0, "# Resolved configuration of this run. `identity` is the text its folder name hashes.\n");
    if path.exists() {
        let old = std::fs::read_to_string(&path).map_err(|e| EngineError::Io(path.clone(), e))?;
        let old: toml::Table = old.parse().map_err(|e: toml::de::Error| EngineError::Corrupt(path.clone(), e.to_string()))?;
        if old.get("identity").and_then(|v| v.as_str()) != Some(canonical) {
            return Err(EngineError::Config(format!(
                "{} holds a different run (its config.toml has another identity); use another --out or remove the folder",
                dir.display()
            )));
        }
    }
    // Rewritten each time: replicates and controls may have grown.
    write_atomic(&path, text.as_bytes())?;
    Ok(())
}

/// Writes the curves and comparison tables from every finished ticket of this run.
pub fn write_tables(dir: &Path, results: &[TicketResult], metrics: &[MetricSpec]) -> Result<(), EngineError> {
    let mut sorted = results.to_vec();
    sorted.sort_by_key(|r| (r.level, r.ticket, r.replicate));
    curves_table(&sorted).write(dir, "curves")?;
    comparison_table(&sorted, metrics).write(dir, "comparison")?;
    Ok(())
}

impl<'a> Run<'a> {
    /// Runs (or resumes) every level, replicate and control; returns all ticket results.
    pub fn execute(&self, quiet: bool) -> Result<Vec<TicketResult>, EngineError> {
        let config = &self.config;
        let canonical = config.canonical(self.task);
        std::fs::create_dir_all(&self.dir).map_err(|e| EngineError::Io(self.dir.clone(), e))?;
        let _lock = lottery_results::RunLock::acquire(&self.dir)??;
        // Safe now that this process is the folder's only writer.
        lottery_results::remove_stale_temporaries(&self.dir);
        write_or_check_config(&self.dir, config, &canonical, self.env.device)?;

        let problem = self.task.prepare(&config.hparams, &self.env)?;
        for (name, bytes) in problem.artifacts() {
            write_atomic(self.dir.join(name), &bytes)?;
        }
        let training = problem.training();
        let plan = plan(config, problem.as_ref(), &training)?;
        let metrics = self.task.metrics();
        let comparison = comparison_metrics(self.task);
        let levels = plan.schedule.levels();
        let controls: Vec<TicketKind> = config.controls.iter().copied().filter(|k| *k != TicketKind::Winning).collect();
        let total = config.replicates as u64 * (1 + levels as u64 * (1 + controls.len() as u64));
        let reporter = Reporter::new(total, quiet);
        reporter.note(&format!(
            "{}: {levels} pruning levels to density {:.4}, rewind to iteration {}, {} iterations per ticket, {} replicate(s), controls: {}",
            config.task,
            plan.schedule.density(levels),
            plan.rewind,
            plan.end,
            config.replicates,
            if controls.is_empty() { "none".to_string() } else { controls.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ") }
        ));
        reporter.note(&format!("results: {}", self.dir.display()));

        let mut results = vec![];
        for level in 0..=levels {
            for rep in 0..config.replicates {
                let seeds = ReplicateSeeds::new(config.imp.seed, rep);
                let rep_dir = self.dir.join(format!("rep-{rep}"));
                let rewind_path = rep_dir.join("rewind.safetensors");
                let dir = level_dir(&self.dir, rep, level);
                let mask = self.level_mask(&plan, rep, level)?;
                let ticket = |kind: TicketKind, mask: &Mask, init: Init<'_>, start: u64, snapshot: Option<(u64, PathBuf)>| {
                    let spec = TicketSpec {
                        kind,
                        replicate: rep,
                        level,
                        dir: dir.join(kind.as_str()),
                        mask,
                        init,
                        data_seed: seeds.data,
                        seeds: seeds.as_map(),
                        start,
                        end: plan.end,
                        snapshot,
                    };
                    let r = train::train_ticket(problem.as_ref(), &training, &metrics, self.env.device, spec, &reporter)?;
                    reporter.ticket_done(&describe(&r, &metrics));
                    Ok::<_, EngineError>(r)
                };
                if level == 0 {
                    results.push(ticket(TicketKind::Winning, &mask, Init::Fresh(seeds.init), 0, Some((plan.rewind, rewind_path)))?);
                    continue;
                }
                let rewound = Init::Rewound { seed: seeds.init, path: &rewind_path };
                results.push(ticket(TicketKind::Winning, &mask, rewound, plan.rewind, None)?);
                for &kind in &controls {
                    let r = match kind {
                        TicketKind::Reinit => {
                            ticket(kind, &mask, Init::Fresh(derive(seeds.reinit, "level", level as u64)), plan.rewind, None)?
                        }
                        TicketKind::Shuffle => {
                            let path = dir.join("shuffle").join("mask.safetensors");
                            let shuffled = if path.exists() {
                                Mask::load(&path)?
                            } else {
                                let m = prune::shuffled(&mask, seeds.mask, level);
                                m.save(&path)?;
                                m
                            };
                            let rewound = Init::Rewound { seed: seeds.init, path: &rewind_path };
                            ticket(kind, &shuffled, rewound, plan.rewind, None)?
                        }
                        TicketKind::Winning => unreachable!("winning is not a control"),
                    };
                    results.push(r);
                }
            }
            write_tables(&self.dir, &results, &comparison)?;
        }
        reporter.finish();
        Ok(results)
    }

    /// The IMP mask of a level: dense at level 0; otherwise loaded, or computed once from the
    /// previous level's trained winning ticket and saved.
    fn level_mask(&self, plan: &Plan, rep: u32, level: u32) -> Result<Mask, EngineError> {
        if level == 0 {
            return Ok(Mask::dense(&plan.layers.iter().cloned().collect()));
        }
        let path = level_dir(&self.dir, rep, level).join("mask.safetensors");
        if path.exists() {
            return Mask::load(&path);
        }
        let previous = self.level_mask(plan, rep, level - 1)?;
        let weights_path = level_dir(&self.dir, rep, level - 1).join(TicketKind::Winning.as_str()).join(FINAL_WEIGHTS);
        let weights: BTreeMap<String, tch::Tensor> = crate::checkpoint::read_safetensors(&weights_path)?.into_iter().collect();
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
