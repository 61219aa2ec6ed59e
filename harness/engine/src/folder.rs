//! Writing a results folder, the part an IMP run ([`crate::run`]) and a transfer
//! ([`crate::transfer`]) share: opening and locking it (a transfer has one writer; a run one per
//! replicate, each ticket locked while it trains, the folder's own files locked while written;
//! stale temporaries cleared under the lock that guards them), checking
//! that its `config.toml` holds the same settings, and training its tickets with progress lines
//! and recovery messages that name what to delete.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tch::Device;

use lottery_results::{FolderLock, MetricSpec, RunLayout, TicketKind, TicketLayout, TicketResult};
use lottery_task::{Point, Problem, Training};

use crate::mask::Mask;
use crate::progress::Reporter;
use crate::seeds::ReplicateSeeds;
use crate::train::{self, Init, RewindPoint, TicketSpec};
use crate::EngineError;

/// Makes and locks the whole folder for one writer (a transfer), then clears temporaries a
/// killed writer left (safe now that this process is its only writer). The lock is held until
/// the returned value is dropped.
pub(crate) fn open(dir: &Path) -> Result<FolderLock, EngineError> {
    std::fs::create_dir_all(dir).map_err(EngineError::io(dir))?;
    let lock = FolderLock::try_acquire(dir)??;
    lottery_results::remove_stale_temporaries(dir);
    Ok(lock)
}

/// How long a writer waits for the lock of a run folder's own files (`config.toml`, the tables),
/// which other writers of the folder hold only while they write them.
const SHARED_FILES_PATIENCE: Duration = Duration::from_secs(600);

/// Makes a run folder that several processes write at once (each its own replicates) and takes
/// the lock of its own files, waiting for another writer to finish with them; clears the
/// temporaries a killed writer left among them (not below: the replicates have their own locks).
pub(crate) fn lock_shared_files(dir: &Path) -> Result<FolderLock, EngineError> {
    std::fs::create_dir_all(dir).map_err(EngineError::io(dir))?;
    let lock = FolderLock::acquire(dir, SHARED_FILES_PATIENCE)??;
    lottery_results::remove_stale_temporaries_here(dir);
    Ok(lock)
}

/// Claims one replicate of a run folder for this process (refusing if another holds it) and
/// clears the temporaries a killed writer of it left.
pub(crate) fn claim_replicate(layout: &RunLayout, rep: u32) -> Result<FolderLock, EngineError> {
    let dir = layout.replicate(rep);
    std::fs::create_dir_all(&dir).map_err(EngineError::io(&dir))?;
    let lock = FolderLock::try_acquire(&dir)??;
    lottery_results::remove_stale_temporaries(&dir);
    Ok(lock)
}

/// The settings (top-level keys other than `invocation`, and the keys of their tables) whose
/// values in `old` (a folder's `config.toml`) differ from `new`. Keys only one side has are
/// skipped: an option added later with its default does not make an old run another run.
/// `invocation` names what may vary between invocations of one run (replicates, device, ...).
pub(crate) fn differing_settings(old: &toml::Table, new: &toml::Table, invocation: &[&str]) -> Vec<String> {
    let mut out = vec![];
    for (key, a) in old.iter().filter(|(k, _)| !invocation.contains(&k.as_str())) {
        let Some(b) = new.get(key) else { continue };
        match (a.as_table(), b.as_table()) {
            (Some(a), Some(b)) => {
                for (inner, va) in a {
                    if let Some(vb) = b.get(inner) {
                        if va != vb {
                            out.push(format!("{key}.{inner}: the folder has {va}, this run {vb}"));
                        }
                    }
                }
            }
            _ if a != b => out.push(format!("{key}: the folder has {a}, this run {b}")),
            _ => {}
        }
    }
    out
}

/// Refuses a folder whose `config.toml` (`old`) holds another run than `new` (this invocation's
/// rendered config, whose `identity` is `canonical`).
pub(crate) fn check_same_run(layout: &RunLayout, old: &toml::Table, new: &toml::Table, canonical: &str, invocation: &[&str]) -> Result<(), EngineError> {
    let mut differences = differing_settings(old, new, invocation);
    if differences.is_empty() && old.get("identity").and_then(|v| v.as_str()) != Some(canonical) {
        differences.push("its identity (the non-default settings) differs from this run's".into());
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(EngineError::DifferentRun { dir: layout.root().to_path_buf(), differences })
    }
}

/// What a folder accumulates over invocations: the most replicates asked, and every ticket kind
/// asked (recorded in `old`, added to this invocation's, which keeps its order).
pub(crate) fn accumulate(old: &toml::Table, replicates: &mut u32, controls: &mut Vec<TicketKind>) {
    if let Some(n) = old.get("replicates").and_then(|v| v.as_integer()) {
        *replicates = (*replicates).max(n.clamp(0, u32::MAX as i64) as u32);
    }
    if let Some(kinds) = old.get("controls").and_then(|v| v.as_array()) {
        for kind in kinds.iter().filter_map(|v| v.as_str()).map(|s| TicketKind::from(s.to_string())) {
            if !controls.contains(&kind) {
                controls.push(kind);
            }
        }
    }
}

/// Trains the tickets of one folder: everything a ticket needs besides its own mask, initial
/// weights and place.
pub(crate) struct TicketTrainer<'a> {
    pub problem: &'a dyn Problem,
    pub training: &'a Training,
    pub metrics: &'a [MetricSpec],
    pub device: Device,
    pub layout: &'a RunLayout,
    pub reporter: &'a Reporter,
    /// The point every ticket trains to: an iteration, or a number of episodes counted from the
    /// beginning of training (a ticket started at a rewind point plays the rest).
    pub end: Point,
    /// What recomputes a replicate's `rewind.safetensors` when it is unreadable.
    pub rewind_remedy: &'a dyn Fn(u32) -> String,
    /// Whether this invocation finished a ticket (so the tables must be rewritten).
    pub trained: Cell<bool>,
}

/// One ticket for [`TicketTrainer::train`].
pub(crate) struct TicketJob<'m> {
    pub kind: TicketKind,
    pub replicate: u32,
    pub level: u32,
    pub seeds: &'m ReplicateSeeds,
    pub mask: &'m Mask,
    pub init: Init,
    /// Where training starts: the beginning, or the rewind point.
    pub start: RewindPoint,
    /// Save the weights at this point to this file (the dense run's rewind point).
    pub snapshot: Option<(Point, PathBuf)>,
}

impl TicketTrainer<'_> {
    /// Trains (or resumes, or reads the finished result of) one ticket.
    pub fn train(&self, job: TicketJob<'_>) -> Result<TicketResult, EngineError> {
        let (rep, level) = (job.replicate, job.level);
        let spec = TicketSpec {
            ticket: self.layout.ticket(rep, level, &job.kind),
            kind: job.kind,
            replicate: rep,
            level,
            mask: job.mask,
            init: job.init,
            data_seed: job.seeds.data,
            seeds: job.seeds.as_map(),
            start: job.start,
            end: self.end,
            snapshot: job.snapshot,
        };
        let fresh = !spec.ticket.result().exists();
        // Held while the ticket trains: another writer of the folder must never train it too.
        let _lock = if fresh {
            if let Some(signal) = crate::stop::requested() {
                return Err(EngineError::Stopped { signal, at: format!("before level {level} rep {rep} {} (every ticket before it is saved)", spec.kind) });
            }
            std::fs::create_dir_all(spec.ticket.dir()).map_err(EngineError::io(spec.ticket.dir()))?;
            Some(FolderLock::try_acquire(spec.ticket.dir())??)
        } else {
            None
        };
        let result = train::train_ticket(self.problem, self.training, self.metrics, self.device, spec, self.reporter).map_err(|e| self.explain(e, rep))?;
        self.trained.set(self.trained.get() || fresh);
        self.reporter.ticket_done(&describe(&result, self.metrics));
        Ok(result)
    }

    /// Replaces the remedy of an unreadable file the engine knows how to recompute with the
    /// steps that recompute it, so following the message works.
    pub fn explain(&self, e: EngineError, rep: u32) -> EngineError {
        let path = match &e {
            EngineError::Corrupt { path, .. } | EngineError::Io { path, .. } => path.clone(),
            _ => return e,
        };
        if path == self.layout.rewind(rep) {
            return e.remedy((self.rewind_remedy)(rep));
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
        let old: toml::Table = "task = \"a\"\nreplicates = 1\n[imp]\nrate = 0.2\n[hparams]\nlr = 0.1\nold_key = 1\n".parse().unwrap();
        let new: toml::Table = "task = \"a\"\nreplicates = 3\n[imp]\nrate = 0.2\n[hparams]\nlr = 0.2\nnew_key = 2\n".parse().unwrap();
        assert_eq!(differing_settings(&old, &new, &["replicates"]), vec!["hparams.lr: the folder has 0.1, this run 0.2".to_string()]);
        assert!(differing_settings(&old, &old, &[]).is_empty());
        assert_eq!(differing_settings(&old, &new, &[]).len(), 2, "replicates count when not an invocation key");
    }
}
