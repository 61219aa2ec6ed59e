//! `harness sweep status`: each unit done, running, failed or pending, from the units' records
//! and locks on the shared filesystem (no scheduler query), with the failed units' errors.

use serde::Serialize;

use lottery_results::FolderLock;

use crate::manifest::Manifest;
use crate::unit::{Outcome, UnitState};
use crate::SweepError;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum UnitStatus {
    Done,
    /// An attempt holds the unit's lock now.
    Running { holder: String },
    /// The last attempt failed, or died without recording how it ended (SIGKILL, out of memory,
    /// a lost node).
    Failed { error: String },
    /// Never attempted, or stopped by a signal with a checkpoint (waiting for a requeue).
    Pending { stopped: bool },
}

#[derive(Debug, Clone, Serialize)]
pub struct UnitReport {
    pub index: usize,
    pub run: String,
    pub replicate: u32,
    pub attempts: usize,
    #[serde(flatten)]
    pub status: UnitStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepStatus {
    pub name: String,
    pub results: std::path::PathBuf,
    pub done: usize,
    pub running: usize,
    pub failed: usize,
    pub pending: usize,
    pub units: Vec<UnitReport>,
}

/// How many lines of a failed unit's error the report shows.
const ERROR_LINES: usize = 6;

pub fn status(manifest: &Manifest) -> Result<SweepStatus, SweepError> {
    let mut units = vec![];
    for unit in &manifest.units {
        let dir = manifest.unit_dir(unit.index);
        let state = UnitState::read(&dir)?;
        let status = match FolderLock::holder(&dir)? {
            Some(holder) => UnitStatus::Running { holder },
            None => match state.attempts.last() {
                None => UnitStatus::Pending { stopped: false },
                Some(last) => match last.outcome {
                    Some(Outcome::Done) => UnitStatus::Done,
                    Some(Outcome::Stopped) => UnitStatus::Pending { stopped: true },
                    Some(Outcome::Failed) => UnitStatus::Failed { error: last.error.clone().unwrap_or_else(|| format!("exit status {}", last.exit.unwrap_or(1))) },
                    None => UnitStatus::Failed {
                        error: format!(
                            "the attempt started {} on {} ended without recording how (killed by SIGKILL, out of memory, the time limit or a lost node?); rerun the unit to resume it",
                            last.started, last.host
                        ),
                    },
                },
            },
        };
        let run = &manifest.runs[unit.run];
        let name = run.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        units.push(UnitReport { index: unit.index, run: name, replicate: unit.replicate, attempts: state.attempts.len(), status });
    }
    let count = |f: fn(&UnitStatus) -> bool| units.iter().filter(|u| f(&u.status)).count();
    Ok(SweepStatus {
        name: manifest.name.clone(),
        results: manifest.results.clone(),
        done: count(|s| matches!(s, UnitStatus::Done)),
        running: count(|s| matches!(s, UnitStatus::Running { .. })),
        failed: count(|s| matches!(s, UnitStatus::Failed { .. })),
        pending: count(|s| matches!(s, UnitStatus::Pending { .. })),
        units,
    })
}

impl SweepStatus {
    /// Whether every unit is done.
    pub fn finished(&self) -> bool {
        self.done == self.units.len()
    }

    /// The summary line, then a line per unit that is not done (failed ones with their error).
    pub fn render(&self) -> String {
        let mut out = format!(
            "sweep {} ({}): {} units: {} done, {} running, {} failed, {} pending\n",
            self.name,
            self.results.display(),
            self.units.len(),
            self.done,
            self.running,
            self.failed,
            self.pending
        );
        for u in &self.units {
            let what = format!("unit {:>3}  {} replicate {}", u.index, u.run, u.replicate);
            match &u.status {
                UnitStatus::Done => {}
                UnitStatus::Running { holder } => out.push_str(&format!("  running  {what}  ({holder})\n")),
                UnitStatus::Pending { stopped: true } => out.push_str(&format!("  pending  {what}  (stopped by a signal; resumes from its checkpoint)\n")),
                UnitStatus::Pending { stopped: false } => out.push_str(&format!("  pending  {what}\n")),
                UnitStatus::Failed { error } => {
                    out.push_str(&format!("  failed   {what}  ({} attempt(s))\n", u.attempts));
                    let lines: Vec<&str> = error.lines().collect();
                    for line in &lines[lines.len().saturating_sub(ERROR_LINES)..] {
                        out.push_str(&format!("           {line}\n"));
                    }
                }
            }
        }
        out
    }
}
