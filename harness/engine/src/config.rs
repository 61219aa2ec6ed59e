//! The resolved configuration of a run and its identity.
//!
//! A run is identified by the task, the preset, and every setting whose value differs from what
//! that task and preset default to. Settings left at their defaults are absent from the canonical
//! form, so adding a new option with a default never renames existing runs. Replicates,
//! controls, device and folders are not part of the identity: more replicates or another control
//! extend the same run instead of starting a new one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use lottery_results::TicketKind;
use lottery_task::{closest_first, Preset, PruningPolicy, Role, Task, TaskError};

use crate::prune::{PruneSchedule, Strategy};
use crate::tickets::TicketSources;
use crate::{EngineError, Step};

pub const DEFAULT_PRUNE: f64 = 0.9;
pub const DEFAULT_RATE: f64 = 0.2;
/// More replicates than this is a typo, not a study; refused before anything is allocated.
pub const MAX_REPLICATES: u32 = 1000;

/// Settings of iterative magnitude pruning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImpConfig {
    /// Final sparsity: the fraction of prunable weights removed at the last level.
    pub prune: f64,
    /// Fraction of surviving weights removed per level (before per-layer multipliers).
    pub rate: f64,
    /// The training step survivors are rewound to.
    pub rewind: Step,
    pub strategy: Strategy,
    /// Iterative (IMP) or one-shot; absent from configs written before it existed (iterative).
    #[serde(default)]
    pub schedule: PruneSchedule,
    /// Base seed; each replicate derives its seeds from it.
    pub seed: u64,
    /// Prunable parameters to leave dense.
    pub ignore: Vec<String>,
    /// Per-layer rates that replace `rate x multiplier`.
    pub layer_rates: BTreeMap<String, f64>,
    /// Which roles are pruned and at what multiple of `rate` (the preset's, plus
    /// `--prune-embeddings`); roles not named stay dense.
    pub roles: PruningPolicy,
}

/// Everything `harness run` resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub task: String,
    pub preset: Preset,
    /// The preset's revision ([`lottery_task::Defaults::revision`]); 1 in configs written before
    /// presets had revisions.
    #[serde(default = "first_revision")]
    pub preset_revision: u32,
    pub imp: ImpConfig,
    pub hparams: toml::Table,
    /// Not part of the identity.
    pub replicates: u32,
    /// Not part of the identity. Always contains `winning`.
    pub controls: Vec<TicketKind>,
}

fn first_revision() -> u32 {
    1
}

/// What the user asked for; `None` means "the default".
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub prune: Option<f64>,
    pub rate: Option<f64>,
    pub rewind: Option<Step>,
    pub strategy: Option<Strategy>,
    pub schedule: Option<PruneSchedule>,
    pub seed: Option<u64>,
    pub ignore: Vec<String>,
    pub layer_rates: Vec<(String, f64)>,
    /// Prune embedding matrices too, at `rate`.
    pub prune_embeddings: bool,
    /// `key=value` pairs for task hyperparameters.
    pub set: Vec<(String, String)>,
    pub replicates: Option<u32>,
    pub controls: Option<Vec<TicketKind>>,
}

fn default_imp(task: &dyn Task, preset: Preset) -> ImpConfig {
    ImpConfig {
        prune: task.defaults(preset).prune.unwrap_or(DEFAULT_PRUNE),
        rate: DEFAULT_RATE,
        rewind: task.defaults(preset).rewind,
        strategy: Strategy::Global,
        schedule: PruneSchedule::Iterative,
        seed: 0,
        ignore: vec![],
        layer_rates: BTreeMap::new(),
        roles: task.defaults(preset).pruning,
    }
}

/// Parses a `--set` value with the type of the default it replaces.
fn typed_value(key: &str, text: &str, default: &toml::Value) -> Result<toml::Value, TaskError> {
    let bad = |expected: &'static str| TaskError::HyperparameterType { key: key.into(), value: text.into(), expected, default: default.to_string() };
    Ok(match default {
        toml::Value::Integer(_) => toml::Value::Integer(text.parse().map_err(|_| bad("an integer"))?),
        // No hyperparameter means anything as NaN or infinity.
        toml::Value::Float(_) => toml::Value::Float(text.parse().ok().filter(|v: &f64| v.is_finite()).ok_or_else(|| bad("a finite number"))?),
        toml::Value::Boolean(_) => toml::Value::Boolean(text.parse().map_err(|_| bad("true or false"))?),
        toml::Value::String(_) => toml::Value::String(text.to_string()),
        _ => return Err(bad("a value of the default's type")),
    })
}

fn check_fraction(flag: &str, value: f64, allow_zero: bool, example: &str) -> Result<(), EngineError> {
    let ok = value < 1.0 && (value > 0.0 || (allow_zero && value == 0.0));
    if ok {
        Ok(())
    } else {
        let meaning = if allow_zero { "a fraction of weights, 0 <= x < 1" } else { "a fraction of weights, 0 < x < 1" };
        Err(EngineError::OutOfRange { flag: flag.into(), value: value.to_string(), meaning, example: format!("{flag}{example}") })
    }
}

/// The task's hyperparameters for `preset` with the `--set KEY=VALUE` pairs applied, each parsed
/// with the type of the default it replaces.
pub fn resolve_hparams(task: &dyn Task, preset: Preset, set: &[(String, String)]) -> Result<toml::Table, TaskError> {
    let mut hparams = task.defaults(preset).hparams;
    for (key, text) in set {
        let default = hparams.get(key).ok_or_else(|| TaskError::UnknownHyperparameter {
            task: task.name().into(),
            key: key.clone(),
            choices: closest_first(key, hparams.keys().map(|k| k.as_str())).into_iter().map(String::from).collect(),
        })?;
        let value = typed_value(key, text, default)?;
        hparams.insert(key.clone(), value);
    }
    Ok(hparams)
}

/// `hparams.KEY = VALUE` identity lines of the hyperparameters that differ from the preset's.
pub fn non_default_hparams(task: &dyn Task, preset: Preset, hparams: &toml::Table) -> Vec<(String, String)> {
    let defaults = task.defaults(preset).hparams;
    hparams.iter().filter(|(key, value)| defaults.get(*key) != Some(*value)).map(|(key, value)| (format!("hparams.{key}"), value.to_string())).collect()
}

/// `--replicates`: 1 to [`MAX_REPLICATES`].
pub fn check_replicates(replicates: u32) -> Result<u32, EngineError> {
    if replicates == 0 || replicates > MAX_REPLICATES {
        return Err(EngineError::Replicates { given: replicates.into(), max: MAX_REPLICATES });
    }
    Ok(replicates)
}

/// The asked kinds (the subject added), in registry order; an unknown kind is refused by name.
pub fn resolve_controls(mut asked: Vec<TicketKind>, tickets: &TicketSources) -> Result<Vec<TicketKind>, EngineError> {
    asked.push(tickets.subject());
    if let Some(unknown) = asked.iter().find(|k| tickets.get(k).is_none()) {
        return Err(EngineError::UnknownTicketKind { kind: unknown.to_string(), known: tickets.kinds().iter().map(|k| k.to_string()).collect() });
    }
    Ok(tickets.ordered(&asked))
}

impl RunConfig {
    /// Resolves the user's overrides against the task's defaults for `preset`.
    pub fn resolve(task: &dyn Task, preset: Preset, o: Overrides, tickets: &TicketSources) -> Result<Self, EngineError> {
        let d = default_imp(task, preset);
        let hparams = resolve_hparams(task, preset, &o.set)?;
        let imp = ImpConfig {
            prune: o.prune.unwrap_or(d.prune),
            rate: o.rate.unwrap_or(d.rate),
            rewind: o.rewind.unwrap_or(d.rewind),
            strategy: o.strategy.unwrap_or(d.strategy),
            schedule: o.schedule.unwrap_or(d.schedule),
            seed: o.seed.unwrap_or(d.seed),
            ignore: {
                let mut v = o.ignore.clone();
                v.sort();
                v.dedup();
                v
            },
            layer_rates: o.layer_rates.iter().cloned().collect(),
            roles: {
                let mut roles = d.roles.clone();
                if o.prune_embeddings {
                    roles.prune(Role::Embedding, 1.0);
                }
                roles
            },
        };
        check_fraction("--prune", imp.prune, true, " 0.9")?;
        check_fraction("--rate", imp.rate, false, " 0.2")?;
        for (name, rate) in &imp.layer_rates {
            check_fraction(&format!("--layer-rate {name}="), *rate, true, "0.1")?;
            if imp.ignore.contains(name) {
                return Err(EngineError::IgnoredAndRated { name: name.clone(), rate: *rate });
            }
        }
        let controls = resolve_controls(o.controls.unwrap_or_else(|| task.defaults(preset).controls), tickets)?;
        let replicates = check_replicates(o.replicates.unwrap_or(1))?;
        let preset_revision = task.defaults(preset).revision;
        Ok(RunConfig { task: task.name().to_string(), preset, preset_revision, imp, hparams, replicates, controls })
    }

    /// The canonical text the run's identity hashes: task, preset, then the non-default
    /// settings as sorted `key = value` lines. A preset revision after the first is a setting:
    /// a preset whose defaults changed starts new folders, and older names stay as they were.
    pub fn canonical(&self, task: &dyn Task) -> String {
        let d = default_imp(task, self.preset);
        let mut lines = BTreeMap::new();
        let mut put = |key: String, value: String| {
            lines.insert(key, value);
        };
        if self.imp.prune != d.prune {
            put("imp.prune".into(), toml::Value::Float(self.imp.prune).to_string());
        }
        if self.imp.rate != d.rate {
            put("imp.rate".into(), toml::Value::Float(self.imp.rate).to_string());
        }
        if self.imp.rewind != d.rewind {
            put("imp.rewind".into(), format!("\"{}\"", self.imp.rewind));
        }
        if self.imp.strategy != d.strategy {
            put("imp.strategy".into(), format!("{:?}", self.imp.strategy).to_lowercase());
        }
        if self.imp.schedule != d.schedule {
            put("imp.schedule".into(), format!("\"{}\"", self.imp.schedule.as_str()));
        }
        if self.imp.seed != d.seed {
            put("imp.seed".into(), self.imp.seed.to_string());
        }
        if !self.imp.ignore.is_empty() {
            put("imp.ignore".into(), format!("{:?}", self.imp.ignore));
        }
        for (name, rate) in &self.imp.layer_rates {
            put(format!("imp.layer_rates.{name}"), toml::Value::Float(*rate).to_string());
        }
        for ((role, now), (_, default)) in self.imp.roles.rules().zip(d.roles.rules()) {
            if now != default {
                let rule = now.map_or("\"dense\"".to_string(), |m| toml::Value::Float(m).to_string());
                put(format!("imp.roles.{}", role.as_str()), rule);
            }
        }
        for (key, value) in non_default_hparams(task, self.preset, &self.hparams) {
            put(key, value);
        }
        if self.preset_revision != first_revision() {
            put("preset_revision".into(), self.preset_revision.to_string());
        }
        let mut text = format!("task = \"{}\"\npreset = \"{}\"\n", self.task, self.preset.as_str());
        for (k, v) in lines {
            text.push_str(&format!("{k} = {v}\n"));
        }
        text
    }

    /// `image-mnist-lenet-1a2b3c4d5e`: the task with `/` replaced, then the identity hash.
    pub fn run_name(&self, task: &dyn Task) -> String {
        format!("{}-{}", self.task.replace('/', "-"), lottery_results::run_id(&self.canonical(task)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(o: Overrides) -> String {
        let registry = lottery_tasks::builtin();
        let task = registry.get("image/mnist-lenet").unwrap();
        RunConfig::resolve(task, Preset::Smoke, o, &TicketSources::builtin()).unwrap().run_name(task)
    }

    #[test]
    fn run_folder_names_are_pinned() {
        // These names are how existing results are found again: a change here orphans them.
        assert_eq!(name(Overrides::default()), "image-mnist-lenet-59ca14737c");
        let lr = Overrides { set: vec![("lr".into(), "0.001".into())], ..Default::default() };
        assert_eq!(name(lr), "image-mnist-lenet-3e8bc5f69f");
    }

    #[test]
    fn defaults_replicates_and_controls_do_not_change_the_identity() {
        let base = name(Overrides::default());
        let explicit = Overrides {
            prune: Some(DEFAULT_PRUNE),
            rate: Some(DEFAULT_RATE),
            rewind: Some(Step::ZERO),
            replicates: Some(5),
            controls: Some(vec![TicketKind::REINIT]),
            set: vec![("batch_size".into(), "60".into())],
            ..Default::default()
        };
        assert_eq!(name(explicit), base);
        assert_ne!(name(Overrides { prune: Some(0.5), ..Default::default() }), base);
        assert_ne!(name(Overrides { seed: Some(1), ..Default::default() }), base);
        assert_eq!(name(Overrides { schedule: Some(PruneSchedule::Iterative), ..Default::default() }), base);
        assert_ne!(name(Overrides { schedule: Some(PruneSchedule::Oneshot), ..Default::default() }), base);
    }

    #[test]
    fn bad_settings_name_the_problem() {
        let registry = lottery_tasks::builtin();
        let task = registry.get("image/mnist-lenet").unwrap();
        let err = |o| RunConfig::resolve(task, Preset::Smoke, o, &TicketSources::builtin()).unwrap_err().to_string();
        assert!(err(Overrides { prune: Some(1.5), ..Default::default() }).contains("--prune 1.5 is out of range"));
        assert!(err(Overrides { set: vec![("lrr".into(), "1".into())], ..Default::default() }).contains("valid keys (closest first): lr,"));
        assert!(err(Overrides { set: vec![("lr".into(), "fast".into())], ..Default::default() }).contains("expected a finite number"));
    }
}
