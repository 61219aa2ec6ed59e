//! The sweep file (TOML): what to run, and what each unit asks of a scheduler.
//!
//! ```toml
//! name = "smoke"                # the job's name on the cluster
//! replicates = 3                # replicates of every run; one unit each (default 1)
//! device = "cpu"                # auto, cpu, cuda or cuda:N (default auto); cuda asks for a GPU
//! threads = 1                   # libtorch threads per unit (default: resources.cpus)
//!
//! [resources]                   # per unit
//! cpus = 1
//! memory = "4G"
//! time = "00:30:00"
//!
//! [slurm]
//! partition = "gpu"
//! account = "my-lab"
//! parallel = 8                  # at most 8 units at once (--array=0-N%8)
//!
//! [[runs]]                      # one task; every option of `harness run`
//! task = "image/mnist-lenet"
//! preset = "smoke"
//! prune = 0.36
//! set = { lr = 0.01 }
//! [runs.grid]                   # every combination of these values is a run
//! rate = [0.2, 0.4]
//! "set.batch_size" = [32, 64]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::SweepError;

/// `device` of a sweep: what every unit trains on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Device {
    Auto,
    Cpu,
    Cuda(Option<usize>),
}

impl Device {
    fn parse(s: &str) -> Option<Device> {
        match s {
            "auto" => Some(Device::Auto),
            "cpu" => Some(Device::Cpu),
            "cuda" => Some(Device::Cuda(None)),
            _ => s.strip_prefix("cuda:").and_then(|n| n.parse().ok()).map(|n| Device::Cuda(Some(n))),
        }
    }

    /// The `--device` value.
    pub fn flag(&self) -> String {
        match self {
            Device::Auto => "auto".into(),
            Device::Cpu => "cpu".into(),
            Device::Cuda(None) => "cuda".into(),
            Device::Cuda(Some(n)) => format!("cuda:{n}"),
        }
    }
}

/// What one unit asks of the scheduler.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPU cores (Slurm `--cpus-per-task`, a Kubernetes CPU request) [default: threads, else 1].
    pub cpus: Option<u32>,
    /// Memory, e.g. "4G" [default: the scheduler's].
    pub memory: Option<String>,
    /// Wall-clock limit, e.g. "02:00:00" [default: the partition's].
    pub time: Option<String>,
    /// GPUs [default: 1 when device is cuda, else 0].
    pub gpus: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSettings {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// At most this many units run at once (`--array=0-N%P`) [default: no limit].
    pub parallel: Option<u32>,
    /// Seconds before the time limit at which Slurm sends SIGUSR1 (`--signal=B:USR1@N`), so the
    /// unit checkpoints and is requeued [default: 120].
    pub signal_seconds: Option<u32>,
    /// The harness binary on the compute nodes [default: this one's path].
    pub harness: Option<String>,
    /// More `#SBATCH` options, verbatim (e.g. "--constraint=a100").
    #[serde(default)]
    pub extra: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellSettings {
    /// Units at once [default: the machine's cores divided by threads].
    pub jobs: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K8sSettings {
    /// The container image, with `harness` on its PATH (needed for `--emit k8s`).
    pub image: Option<String>,
    pub namespace: Option<String>,
    /// The PersistentVolumeClaim holding the results folder, mounted at the same path in every
    /// pod (needed for `--emit k8s`).
    pub claim: Option<String>,
    /// A claim holding the data folder, mounted at --data-dir's path.
    pub data_claim: Option<String>,
    /// At most this many pods at once [default: every unit].
    pub parallel: Option<u32>,
    /// The harness binary in the image [default: harness].
    pub harness: Option<String>,
}

/// A sweep file, read and checked.
#[derive(Debug, Clone)]
pub struct SweepFile {
    pub path: PathBuf,
    pub name: String,
    pub replicates: u32,
    pub device: Device,
    pub threads: Option<u16>,
    pub resources: Resources,
    pub slurm: SlurmSettings,
    pub shell: ShellSettings,
    pub k8s: K8sSettings,
    pub runs: Vec<RunEntry>,
}

/// One `[[runs]]` entry: a task, its options, and a grid of options.
#[derive(Debug, Clone)]
pub struct RunEntry {
    pub task: String,
    pub options: BTreeMap<String, toml::Value>,
    /// Axes in file order of their keys (sorted), each with its values.
    pub grid: Vec<(String, Vec<toml::Value>)>,
}

/// One run of the sweep: a task with one combination of settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpandedRun {
    pub task: String,
    /// `harness run` options besides the task and the machine's (device, threads, folders).
    pub args: Vec<String>,
    /// The grid point, e.g. `rate=0.2 set.lr=0.01` (empty without a grid).
    pub label: String,
    pub replicates: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: String,
    #[serde(default)]
    replicates: Option<toml::Value>,
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    threads: Option<toml::Value>,
    #[serde(default)]
    resources: Resources,
    #[serde(default)]
    slurm: SlurmSettings,
    #[serde(default)]
    shell: ShellSettings,
    #[serde(default)]
    k8s: K8sSettings,
    #[serde(default)]
    runs: Vec<toml::Table>,
}

/// The options of `harness run` a run entry may give, in the order they become flags.
const OPTIONS: [&str; 13] = ["preset", "prune", "rate", "rewind", "seed", "strategy", "schedule", "controls", "ignore", "layer_rate", "prune_embeddings", "set", "replicates"];

/// The most replicates a run may have (as `harness run --replicates`).
const MAX_REPLICATES: i64 = 1000;

impl SweepFile {
    pub fn read(path: &Path) -> Result<SweepFile, SweepError> {
        let text = std::fs::read_to_string(path).map_err(SweepError::io(path))?;
        SweepFile::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<SweepFile, SweepError> {
        let bad = |message: String| SweepError::Malformed { path: path.to_path_buf(), message };
        let raw: Raw = toml::from_str(text).map_err(|e| bad(e.to_string().trim_end().replace('\n', " ")))?;
        let replicates = match raw.replicates {
            None => 1,
            Some(v) => whole(&v, 1, MAX_REPLICATES).ok_or_else(|| bad(format!("replicates = {v}: use a whole number from 1 to {MAX_REPLICATES}")))? as u32,
        };
        let device = match raw.device.as_deref() {
            None => Device::Auto,
            Some(d) => Device::parse(d).ok_or_else(|| bad(format!("device = \"{d}\": use auto, cpu, cuda or cuda:N")))?,
        };
        let threads = match raw.threads {
            None => None,
            Some(v) => Some(whole(&v, 1, u16::MAX as i64).ok_or_else(|| bad(format!("threads = {v}: use a whole number from 1")))? as u16),
        };
        if raw.name.is_empty() || !raw.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(bad(format!("name = \"{}\": use letters, digits, '-', '_' and '.' (it names the cluster job)", raw.name)));
        }
        if raw.runs.is_empty() {
            return Err(bad("no [[runs]]: add at least one, e.g.\n[[runs]]\ntask = \"control/cartpole\"\npreset = \"smoke\"".into()));
        }
        let mut runs = vec![];
        for (i, table) in raw.runs.into_iter().enumerate() {
            runs.push(RunEntry::from_table(i, table).map_err(&bad)?);
        }
        Ok(SweepFile {
            path: path.to_path_buf(),
            name: raw.name,
            replicates,
            device,
            threads,
            resources: raw.resources,
            slurm: raw.slurm,
            shell: raw.shell,
            k8s: raw.k8s,
            runs,
        })
    }

    /// Every run: each entry's grid expanded (the last axis varies fastest).
    pub fn expand(&self) -> Vec<ExpandedRun> {
        let mut out = vec![];
        for entry in &self.runs {
            let mut points: Vec<Vec<(String, toml::Value)>> = vec![vec![]];
            for (axis, values) in &entry.grid {
                points = points.into_iter().flat_map(|p| values.iter().map(move |v| [p.clone(), vec![(axis.clone(), v.clone())]].concat())).collect();
            }
            for point in points {
                let mut options = entry.options.clone();
                for (key, value) in &point {
                    match key.split_once('.') {
                        Some((table, inner)) => {
                            let t = options.entry(table.to_string()).or_insert_with(|| toml::Value::Table(Default::default()));
                            if let toml::Value::Table(t) = t {
                                t.insert(inner.to_string(), value.clone());
                            }
                        }
                        None => {
                            options.insert(key.clone(), value.clone());
                        }
                    }
                }
                let replicates = options.get("replicates").and_then(|v| v.as_integer()).map_or(self.replicates, |n| n as u32);
                let label = point.iter().map(|(k, v)| format!("{k}={}", scalar(v))).collect::<Vec<_>>().join(" ");
                out.push(ExpandedRun { task: entry.task.clone(), args: flags(&options), label, replicates });
            }
        }
        out
    }

    /// GPUs per unit: as asked, else 1 on CUDA.
    pub fn gpus(&self) -> u32 {
        self.resources.gpus.unwrap_or(if matches!(self.device, Device::Cuda(_)) { 1 } else { 0 })
    }

    /// CPU cores per unit: as asked, else the threads, else 1.
    pub fn cpus(&self) -> u32 {
        self.resources.cpus.or(self.threads.map(u32::from)).unwrap_or(1)
    }
}

impl RunEntry {
    fn from_table(i: usize, mut table: toml::Table) -> Result<RunEntry, String> {
        let at = format!("runs[{i}]");
        let task = match table.remove("task") {
            Some(toml::Value::String(task)) => task,
            Some(v) => return Err(format!("{at}.task = {v}: give the task's name as a string, e.g. \"control/cartpole\"")),
            None => return Err(format!("{at} has no task: add task = \"...\" (see `harness list`)")),
        };
        let grid = match table.remove("grid") {
            None => vec![],
            Some(toml::Value::Table(grid)) => {
                let mut axes = vec![];
                for (key, values) in grid {
                    let name = format!("{at}.grid.{key}");
                    let values = match values {
                        toml::Value::Array(values) if !values.is_empty() => values,
                        v => return Err(format!("{name} = {v}: a grid axis is a non-empty list of values, e.g. [0.1, 0.2]")),
                    };
                    let (option, inner) = match key.split_once('.') {
                        Some((table, inner)) => (table, Some(inner)),
                        None => (key.as_str(), None),
                    };
                    for v in &values {
                        match inner {
                            Some(_) if option == "set" || option == "layer_rate" => check_inner(&name, option, v)?,
                            Some(_) => return Err(format!("{name}: only set.KEY and layer_rate.NAME have a dot; the other axes are preset, prune, rate, rewind, seed, strategy, schedule, controls, ignore and prune_embeddings")),
                            None if option == "set" || option == "layer_rate" || option == "replicates" => {
                                return Err(format!("{name}: sweep {option} values one at a time, as \"{option}.NAME\" = [...]"))
                            }
                            None => check_option(&name, option, v)?,
                        }
                    }
                    axes.push((key, values));
                }
                axes
            }
            Some(v) => return Err(format!("{at}.grid = {v}: the grid is a table of lists, e.g. [runs.grid] rate = [0.2, 0.4]")),
        };
        for (key, value) in &table {
            let name = format!("{at}.{key}");
            if !OPTIONS.contains(&key.as_str()) {
                return Err(format!("{name}: unknown option; a run takes task, grid and {}", OPTIONS.join(", ")));
            }
            match (key.as_str(), value) {
                ("set" | "layer_rate", toml::Value::Table(t)) => {
                    for v in t.values() {
                        check_inner(&name, key, v)?;
                    }
                }
                ("set" | "layer_rate", v) => return Err(format!("{name} = {v}: give a table, e.g. {key} = {{ lr = 0.01 }}")),
                _ => check_option(&name, key, value)?,
            }
        }
        Ok(RunEntry { task, options: table.into_iter().collect(), grid })
    }
}

/// Checks one value of a plain option: what the option takes, and whether `v` is that.
fn check_option(name: &str, option: &str, v: &toml::Value) -> Result<(), String> {
    let (ok, wanted) = match option {
        "preset" | "strategy" | "schedule" => (v.is_str(), "a string"),
        "prune" | "rate" => (v.is_float() || v.is_integer(), "a number"),
        "rewind" => (v.is_str() || v.as_integer().is_some_and(|n| n >= 0), "a step such as \"500it\" or \"2ep\""),
        "seed" => (v.as_integer().is_some_and(|n| n >= 0), "a whole number from 0"),
        "controls" | "ignore" => (v.is_str() || v.as_array().is_some_and(|a| a.iter().all(|x| x.is_str())), "a list of names"),
        "prune_embeddings" => (v.is_bool(), "true or false"),
        _ => (whole(v, 1, MAX_REPLICATES).is_some(), "a whole number of replicates from 1"),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{name} = {v}: {option} takes {wanted}"))
    }
}

/// Checks a value of `set` (a hyperparameter) or `layer_rate` (a number).
fn check_inner(name: &str, option: &str, v: &toml::Value) -> Result<(), String> {
    match (option, v) {
        ("layer_rate", v) if v.is_float() || v.is_integer() => Ok(()),
        ("set", toml::Value::String(_) | toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_)) => Ok(()),
        _ => Err(format!("{name}: {v} is not a value of {option} (a {})", if option == "set" { "string, number or boolean" } else { "number" })),
    }
}

fn whole(v: &toml::Value, min: i64, max: i64) -> Option<i64> {
    v.as_integer().filter(|n| (min..=max).contains(n))
}

/// A value as it goes on the command line.
fn scalar(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(a) => a.iter().map(scalar).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// `harness run` flags for resolved options (without `replicates`, which the units add).
fn flags(options: &BTreeMap<String, toml::Value>) -> Vec<String> {
    let mut args = vec![];
    for key in OPTIONS {
        let Some(value) = options.get(key) else { continue };
        let flag = format!("--{}", key.replace('_', "-"));
        match (key, value) {
            ("replicates", _) => {}
            ("prune_embeddings", v) => {
                if v.as_bool() == Some(true) {
                    args.push(flag);
                }
            }
            ("ignore", toml::Value::Array(names)) => {
                for n in names {
                    args.extend([flag.clone(), scalar(n)]);
                }
            }
            ("set" | "layer_rate", toml::Value::Table(t)) => {
                for (k, v) in t {
                    args.extend([flag.clone(), format!("{k}={}", scalar(v))]);
                }
            }
            (_, v) => args.extend([flag, scalar(v)]),
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SweepFile, SweepError> {
        SweepFile::parse(Path::new("s.toml"), text)
    }

    #[test]
    fn a_grid_expands_into_every_combination_with_the_options_as_flags() {
        let sweep = parse(
            r#"
name = "t"
replicates = 3
[[runs]]
task = "image/mnist-lenet"
preset = "smoke"
prune = 0.36
set = { lr = 0.01 }
controls = ["reinit", "shuffle"]
[runs.grid]
rate = [0.2, 0.4]
"set.batch_size" = [32, 64]
[[runs]]
task = "control/cartpole"
preset = "smoke"
replicates = 1
"#,
        )
        .unwrap();
        let runs = sweep.expand();
        assert_eq!(runs.len(), 5);
        assert_eq!(runs[0].label, "rate=0.2 set.batch_size=32");
        assert_eq!(runs[1].label, "rate=0.2 set.batch_size=64");
        assert_eq!(runs[3].label, "rate=0.4 set.batch_size=64");
        assert_eq!(
            runs[3].args,
            ["--preset", "smoke", "--prune", "0.36", "--rate", "0.4", "--controls", "reinit,shuffle", "--set", "batch_size=64", "--set", "lr=0.01"]
        );
        assert_eq!(runs[0].replicates, 3);
        assert_eq!(runs[4], ExpandedRun { task: "control/cartpole".into(), args: vec!["--preset".into(), "smoke".into()], label: String::new(), replicates: 1 });
    }

    #[test]
    fn mistakes_are_named_with_their_key_and_a_fix() {
        let cases = [
            ("name = \"t\"\n", "no [[runs]]"),
            ("name = \"t\"\n[[runs]]\npreset = \"smoke\"\n", "runs[0] has no task"),
            ("name = \"t\"\n[[runs]]\ntask = \"a\"\nprnue = 0.5\n", "runs[0].prnue: unknown option"),
            ("name = \"t\"\n[[runs]]\ntask = \"a\"\n[runs.grid]\nrate = 0.2\n", "runs[0].grid.rate = 0.2: a grid axis is a non-empty list"),
            ("name = \"t\"\n[[runs]]\ntask = \"a\"\nprune = \"lots\"\n", "runs[0].prune = \"lots\": prune takes a number"),
            ("name = \"t\"\ndevice = \"gpu\"\n[[runs]]\ntask = \"a\"\n", "device = \"gpu\": use auto, cpu, cuda"),
            ("name = \"t\"\nreplicates = 0\n[[runs]]\ntask = \"a\"\n", "replicates = 0"),
            ("name = \"t t\"\n[[runs]]\ntask = \"a\"\n", "it names the cluster job"),
            ("name = \"t\"\n[slurm]\npartiton = \"gpu\"\n[[runs]]\ntask = \"a\"\n", "partiton"),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?} -> {err}");
            assert!(err.starts_with("s.toml: "), "{err}");
        }
    }

    #[test]
    fn cuda_asks_for_a_gpu_and_cpus_default_to_threads() {
        let sweep = parse("name = \"t\"\ndevice = \"cuda\"\nthreads = 4\n[[runs]]\ntask = \"a\"\n").unwrap();
        assert_eq!((sweep.gpus(), sweep.cpus(), sweep.device.flag()), (1, 4, "cuda".to_string()));
        let sweep = parse("name = \"t\"\ndevice = \"cpu\"\n[[runs]]\ntask = \"a\"\n").unwrap();
        assert_eq!((sweep.gpus(), sweep.cpus()), (0, 1));
    }
}
