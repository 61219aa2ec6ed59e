//! A unit's record on the shared filesystem: `units/<N>/state.json` lists its attempts (where,
//! when, how each ended, the error of a failed one), written atomically; `units/<N>/.lock` is
//! held while an attempt runs. `harness sweep status` reads only these, no scheduler.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use lottery_results::provenance::utc_now;
use lottery_results::{FolderLock, Locked};

use crate::SweepError;

pub const STATE_FILE: &str = "state.json";

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every ticket of the replicate is trained.
    Done,
    /// Stopped by a signal with a checkpoint; rerunning (requeueing) resumes it.
    Stopped,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub host: String,
    pub pid: u32,
    pub started: String,
    /// The scheduler's name for this attempt, e.g. `slurm job 12_3 (restart 1)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    /// None while running, or when the attempt was killed before it could say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UnitState {
    pub attempts: Vec<Attempt>,
}

impl UnitState {
    /// A unit's state; a unit never attempted has none.
    pub fn read(dir: &Path) -> Result<UnitState, SweepError> {
        let path = dir.join(STATE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                SweepError::Results(lottery_results::ResultsError::Corrupt {
                    path: path.clone(),
                    reason: e.to_string(),
                    remedy: "delete it: it only records the unit's attempts, and the next attempt starts a new one".into(),
                })
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UnitState::default()),
            Err(e) => Err(SweepError::io(path)(e)),
        }
    }

    fn write(&self, dir: &Path) -> Result<(), SweepError> {
        let json = serde_json::to_string_pretty(self).expect("a unit state serializes");
        lottery_results::write_atomic(dir.join(STATE_FILE), json.as_bytes())?;
        Ok(())
    }
}

/// An attempt in progress: holds the unit's lock; [`UnitAttempt::end`] records how it ended.
pub struct UnitAttempt {
    dir: PathBuf,
    state: UnitState,
    _lock: FolderLock,
}

impl UnitAttempt {
    /// Starts an attempt of the unit whose folder is `dir`, or says who runs it already.
    pub fn begin(dir: &Path, scheduler: Option<String>) -> Result<Result<UnitAttempt, Locked>, SweepError> {
        std::fs::create_dir_all(dir).map_err(SweepError::io(dir))?;
        let lock = match FolderLock::try_acquire(dir)? {
            Ok(lock) => lock,
            Err(locked) => return Ok(Err(locked)),
        };
        let mut state = UnitState::read(dir)?;
        state.attempts.push(Attempt {
            host: lottery_results::host(),
            pid: std::process::id(),
            started: utc_now(),
            scheduler,
            ended: None,
            outcome: None,
            exit: None,
            error: None,
        });
        state.write(dir)?;
        Ok(Ok(UnitAttempt { dir: dir.to_path_buf(), state, _lock: lock }))
    }

    pub fn end(mut self, outcome: Outcome, exit: u8, error: Option<String>) -> Result<(), SweepError> {
        let last = self.state.attempts.last_mut().expect("begin pushed an attempt");
        last.ended = Some(utc_now());
        last.outcome = Some(outcome);
        last.exit = Some(exit);
        last.error = error;
        self.state.write(&self.dir)
    }
}

/// What the environment says about the scheduler running this process, if any.
pub fn scheduler_from_env() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(job) = var("SLURM_JOB_ID") {
        let id = match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
            (Some(array), Some(task)) => format!("{array}_{task}"),
            _ => job,
        };
        let restart = var("SLURM_RESTART_COUNT").map(|n| format!(" (restart {n})")).unwrap_or_default();
        return Some(format!("slurm job {id}{restart}"));
    }
    if let Some(index) = var("JOB_COMPLETION_INDEX") {
        return Some(format!("kubernetes index {index} in pod {}", var("HOSTNAME").unwrap_or_else(|| "?".into())));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_accumulate_and_one_runs_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = UnitAttempt::begin(dir.path(), Some("slurm job 1_0".into())).unwrap().unwrap();
        assert!(UnitAttempt::begin(dir.path(), None).unwrap().is_err(), "a second attempt while one runs");
        assert_eq!(UnitState::read(dir.path()).unwrap().attempts[0].outcome, None);
        first.end(Outcome::Stopped, 75, None).unwrap();
        let second = UnitAttempt::begin(dir.path(), None).unwrap().unwrap();
        second.end(Outcome::Failed, 1, Some("error: boom".into())).unwrap();
        let state = UnitState::read(dir.path()).unwrap();
        let outcomes: Vec<_> = state.attempts.iter().map(|a| (a.outcome, a.exit)).collect();
        assert_eq!(outcomes, vec![(Some(Outcome::Stopped), Some(75)), (Some(Outcome::Failed), Some(1))]);
        assert_eq!(state.attempts[0].scheduler.as_deref(), Some("slurm job 1_0"));
    }
}
