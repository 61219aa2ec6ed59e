//! `sweep.json`: the sweep expanded, unit by unit. A unit is one replicate of one run; the
//! manifest gives each its exact `harness run` arguments and run folder, so any machine that
//! sees the results folder can run unit N with `harness sweep run-unit sweep.json N`.
//!
//! ```text
//! <results>/sweep.json              this manifest
//! <results>/runs/<run>/             the run folders (several units write each)
//! <results>/units/<N>/state.json    unit N's attempts (see `unit`); .lock while it runs
//! <results>/sweep.sbatch | sweep.sh | sweep.k8s.yaml   what --emit wrote
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::spec::{ExpandedRun, SweepFile};
use crate::SweepError;

pub const MANIFEST_FILE: &str = "sweep.json";
/// The manifest's format; a reader refuses others.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: u32,
    pub name: String,
    /// The sweep file it was expanded from.
    pub sweep_file: PathBuf,
    /// The results folder (absolute): every path below is in it.
    pub results: PathBuf,
    pub runs: Vec<ManifestRun>,
    pub units: Vec<ManifestUnit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestRun {
    pub task: String,
    /// The grid point (empty without a grid).
    pub label: String,
    pub dir: PathBuf,
    pub replicates: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestUnit {
    pub index: usize,
    /// Index into `runs`.
    pub run: usize,
    pub replicate: u32,
    /// `harness` arguments, `run` first.
    pub args: Vec<String>,
    /// The same as one shell line, to read or paste.
    pub command: String,
}

/// Where and how every unit runs: the `harness run` options that are not the run's settings.
#[derive(Debug, Clone)]
pub struct Machine {
    pub device: String,
    pub threads: Option<u16>,
    pub data_dir: PathBuf,
    pub rom_dir: Option<PathBuf>,
}

/// The `harness` arguments of one replicate of `run`, writing under `results`.
pub fn unit_args(run: &ExpandedRun, replicate: u32, machine: &Machine, results: &Path) -> Vec<String> {
    let mut args = vec!["run".to_string(), run.task.clone()];
    args.extend(run.args.iter().cloned());
    args.extend(["--replicates".into(), run.replicates.to_string(), "--replicate".into(), replicate.to_string()]);
    args.extend(["--out".into(), runs_dir(results).display().to_string(), "--device".into(), machine.device.clone()]);
    if let Some(threads) = machine.threads {
        args.extend(["--threads".into(), threads.to_string()]);
    }
    args.extend(["--data-dir".into(), machine.data_dir.display().to_string()]);
    if let Some(rom_dir) = &machine.rom_dir {
        args.extend(["--rom-dir".into(), rom_dir.display().to_string()]);
    }
    args.push("--quiet".into());
    args
}

/// The parent of a sweep's run folders.
pub fn runs_dir(results: &Path) -> PathBuf {
    results.join("runs")
}

/// Unit N's folder: its state and lock.
pub fn unit_dir(results: &Path, index: usize) -> PathBuf {
    results.join("units").join(index.to_string())
}

/// `args` as one shell command line, each argument quoted where the shell would split it.
pub fn shell_line(program: &str, args: &[String]) -> String {
    std::iter::once(program.to_string()).chain(args.iter().map(|a| shell_quote(a))).collect::<Vec<_>>().join(" ")
}

pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

impl Manifest {
    /// The manifest of `runs` (each expanded run with its folder), every replicate a unit.
    pub fn new(sweep: &SweepFile, runs: Vec<(ExpandedRun, PathBuf)>, machine: &Machine, results: &Path) -> Manifest {
        let mut manifest = Manifest { schema: SCHEMA, name: sweep.name.clone(), sweep_file: sweep.path.clone(), results: results.to_path_buf(), runs: vec![], units: vec![] };
        for (i, (run, dir)) in runs.into_iter().enumerate() {
            for replicate in 0..run.replicates {
                let args = unit_args(&run, replicate, machine, results);
                let command = shell_line("harness", &args);
                manifest.units.push(ManifestUnit { index: manifest.units.len(), run: i, replicate, args, command });
            }
            manifest.runs.push(ManifestRun { task: run.task, label: run.label, dir, replicates: run.replicates });
        }
        manifest
    }

    pub fn path(&self) -> PathBuf {
        self.results.join(MANIFEST_FILE)
    }

    /// Writes `sweep.json` and the units' folders; a results folder that already holds a
    /// manifest must hold this one (the same units), so units never change under a running job.
    pub fn write(&self) -> Result<(), SweepError> {
        let path = self.path();
        if path.exists() {
            let old = Manifest::read(&path)?;
            if old.units != self.units {
                let reason = match old.units.iter().zip(&self.units).find(|(a, b)| a != b) {
                    Some((a, b)) => format!("its unit {} is `{}`, this sweep's `{}`", a.index, a.command, b.command),
                    None => format!("it has {} units, this sweep {}", old.units.len(), self.units.len()),
                };
                return Err(SweepError::OtherSweep { dir: self.results.clone(), reason });
            }
        }
        for unit in &self.units {
            let dir = unit_dir(&self.results, unit.index);
            std::fs::create_dir_all(&dir).map_err(SweepError::io(&dir))?;
        }
        let json = serde_json::to_string_pretty(self).expect("a manifest serializes");
        lottery_results::write_atomic(&path, json.as_bytes())?;
        Ok(())
    }

    /// Reads a manifest: `path` is `sweep.json` or the results folder holding it.
    pub fn read(path: &Path) -> Result<Manifest, SweepError> {
        let path = if path.is_dir() { path.join(MANIFEST_FILE) } else { path.to_path_buf() };
        let bad = |reason: String| SweepError::BadManifest { path: path.clone(), reason };
        let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if manifest.schema != SCHEMA {
            return Err(bad(format!("schema {} where this harness reads {SCHEMA}", manifest.schema)));
        }
        Ok(manifest)
    }

    pub fn unit(&self, index: usize) -> Result<&ManifestUnit, SweepError> {
        self.units.get(index).ok_or_else(|| SweepError::NoSuchUnit { manifest: self.path(), index, count: self.units.len() })
    }

    pub fn unit_dir(&self, index: usize) -> PathBuf {
        unit_dir(&self.results, index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_the_shell_would_split_are_quoted() {
        assert_eq!(shell_quote("--set"), "--set");
        assert_eq!(shell_quote("lr=0.01"), "lr=0.01");
        assert_eq!(shell_quote("/data dir"), "'/data dir'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn every_replicate_is_a_unit_and_a_changed_sweep_is_refused_in_the_same_folder() {
        let dir = tempfile::tempdir().unwrap();
        let sweep = SweepFile::parse(Path::new("s.toml"), "name = \"t\"\nreplicates = 2\n[[runs]]\ntask = \"a\"\n[runs.grid]\nprune = [0.5, 0.9]\n").unwrap();
        let machine = Machine { device: "cpu".into(), threads: Some(1), data_dir: "/data".into(), rom_dir: None };
        let runs: Vec<_> = sweep.expand().into_iter().enumerate().map(|(i, r)| (r, dir.path().join(format!("runs/r{i}")))).collect();
        let manifest = Manifest::new(&sweep, runs.clone(), &machine, dir.path());
        assert_eq!(manifest.units.len(), 4);
        assert_eq!((manifest.units[3].run, manifest.units[3].replicate), (1, 1));
        assert!(manifest.units[3].command.contains("--prune 0.9 --replicates 2 --replicate 1 --out"), "{}", manifest.units[3].command);
        manifest.write().unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), manifest);
        assert!(dir.path().join("units/3").is_dir());
        manifest.write().unwrap();
        let other = Manifest::new(&sweep, runs, &Machine { threads: Some(2), ..machine }, dir.path());
        let err = other.write().unwrap_err().to_string();
        assert!(err.contains("holds another sweep") && err.contains("--threads 2"), "{err}");
    }
}
