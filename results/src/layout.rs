//! The run folder, as one type: every path the engine writes and the commands read.
//!
//! ```text
//! <run>/config.toml                         resolved configuration (identity included)
//! <run>/{comparison,curves}.{arrow,csv}     the result tables
//! <run>/.lock                               held while config.toml or the tables are written
//! <run>/rep-R/.lock                         held by the process training replicate R
//! <run>/rep-R/rewind.safetensors            all variables at the rewind step of the dense run
//! <run>/rep-R/level-LL/mask.safetensors     the IMP mask of level L (uint8 0/1)
//! <run>/rep-R/level-LL/<ticket>/            result.json, final.safetensors; checkpoint.json +
//!                                           checkpoint-N.safetensors and .lock while training; a ticket
//!                                           with its own mask (shuffle) keeps mask.safetensors
//! ```

use std::path::{Path, PathBuf};

use crate::{ResultsError, TicketKind, TicketResult};

/// A run folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLayout {
    root: PathBuf,
}

/// One ticket's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketLayout {
    dir: PathBuf,
}

pub const CONFIG_FILE: &str = "config.toml";
/// The result tables' names; each is written as `<name>.arrow` and `<name>.csv`.
pub const TABLES: [&str; 2] = ["comparison", "curves"];

impl RunLayout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunLayout { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    /// `config.toml` parsed, or `None` when the folder has none (yet).
    pub fn read_config(&self) -> Result<Option<toml::Table>, ResultsError> {
        let path = self.config();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ResultsError::Io { path, source }),
        };
        let table = text.parse().map_err(|e: toml::de::Error| ResultsError::Corrupt {
            path: path.clone(),
            reason: e.message().to_string(),
            remedy: "delete it: rerunning the command that made the folder writes it again from its settings".into(),
        })?;
        Ok(Some(table))
    }

    /// `<name>.<ext>` of a result table, e.g. `table("comparison", "csv")`.
    pub fn table(&self, name: &str, ext: &str) -> PathBuf {
        self.root.join(format!("{name}.{ext}"))
    }

    pub fn replicate(&self, rep: u32) -> PathBuf {
        self.root.join(format!("rep-{rep}"))
    }

    pub fn rewind(&self, rep: u32) -> PathBuf {
        self.replicate(rep).join("rewind.safetensors")
    }

    pub fn level(&self, rep: u32, level: u32) -> PathBuf {
        self.replicate(rep).join(format!("level-{level:02}"))
    }

    pub fn level_mask(&self, rep: u32, level: u32) -> PathBuf {
        self.level(rep, level).join("mask.safetensors")
    }

    pub fn ticket(&self, rep: u32, level: u32, kind: &TicketKind) -> TicketLayout {
        TicketLayout { dir: self.level(rep, level).join(kind.as_str()) }
    }

    /// Every finished ticket's result in the folder, whatever the current invocation asked for,
    /// ordered by level, ticket kind (in the order of `kinds`; others after them, by name) and
    /// replicate: the tables summarize what is on disk, so a rerun with fewer replicates or
    /// controls never drops finished work from them.
    pub fn finished(&self, kinds: &[TicketKind]) -> Result<Vec<TicketResult>, ResultsError> {
        let mut results = vec![];
        for rep in numbered(&self.root, "rep-")? {
            for level in numbered(&self.replicate(rep), "level-")? {
                for dir in subfolders(&self.level(rep, level))? {
                    if let Some(result) = TicketLayout::at(dir).read_result()? {
                        results.push(result);
                    }
                }
            }
        }
        let rank = |kind: &TicketKind| kinds.iter().position(|k| k == kind).unwrap_or(kinds.len());
        results.sort_by(|a, b| {
            (a.level, rank(&a.ticket), a.ticket.as_str(), a.replicate).cmp(&(b.level, rank(&b.ticket), b.ticket.as_str(), b.replicate))
        });
        Ok(results)
    }
}

/// The subfolders of `dir` (none if it does not exist).
fn subfolders(dir: &Path) -> Result<Vec<PathBuf>, ResultsError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vec![]),
        Err(source) => Err(ResultsError::Io { path: dir.to_path_buf(), source }),
    }
}

/// The numbers `N` of the subfolders `<prefix>N` of `dir`, ascending.
fn numbered(dir: &Path, prefix: &str) -> Result<Vec<u32>, ResultsError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(source) => return Err(ResultsError::Io { path: dir.to_path_buf(), source }),
    };
    let mut numbers: Vec<u32> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_prefix(prefix)).and_then(|n| n.parse().ok()))
        .collect();
    numbers.sort_unstable();
    Ok(numbers)
}

impl TicketLayout {
    /// The ticket folder `dir` (e.g. the parent of a file an error names).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        TicketLayout { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn result(&self) -> PathBuf {
        self.dir.join("result.json")
    }

    pub fn final_weights(&self) -> PathBuf {
        self.dir.join("final.safetensors")
    }

    /// The mask of a ticket that has its own (the `shuffle` control).
    pub fn own_mask(&self) -> PathBuf {
        self.dir.join("mask.safetensors")
    }

    pub fn checkpoint(&self) -> PathBuf {
        self.dir.join("checkpoint.json")
    }

    /// The tensor file of the checkpoint at `step`, by file name (`checkpoint.json` names it).
    pub fn checkpoint_tensors_name(step: u64) -> String {
        format!("checkpoint-{step}.safetensors")
    }

    /// Whether `name` is a checkpoint tensor file's name.
    pub fn is_checkpoint_tensors(name: &str) -> bool {
        name.strip_prefix("checkpoint-").and_then(|n| n.strip_suffix(".safetensors")).is_some_and(|n| n.parse::<u64>().is_ok())
    }

    /// Whether `path` is part of this ticket's checkpoint (`checkpoint.json` or a tensor file).
    pub fn is_checkpoint_file(&self, path: &Path) -> bool {
        path == self.checkpoint()
            || (path.parent() == Some(self.dir.as_path())
                && path.file_name().and_then(|n| n.to_str()).is_some_and(Self::is_checkpoint_tensors))
    }

    /// The finished ticket's result, if it has one.
    pub fn read_result(&self) -> Result<Option<TicketResult>, ResultsError> {
        let path = self.result();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ResultsError::Io { path, source }),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| ResultsError::Corrupt {
            path,
            reason: e.to_string(),
            remedy: format!("delete the folder {} to train this ticket again", self.dir.display()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_the_documented_ones() {
        let run = RunLayout::new("runs/x");
        assert_eq!(run.level_mask(1, 3), Path::new("runs/x/rep-1/level-03/mask.safetensors"));
        assert_eq!(run.ticket(0, 12, &TicketKind::SHUFFLE).own_mask(), Path::new("runs/x/rep-0/level-12/shuffle/mask.safetensors"));
        assert_eq!(run.rewind(2), Path::new("runs/x/rep-2/rewind.safetensors"));
        assert_eq!(run.table("curves", "arrow"), Path::new("runs/x/curves.arrow"));
    }

    #[test]
    fn finished_lists_every_result_on_disk_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunLayout::new(dir.path());
        let other = TicketKind::named("other");
        for (rep, level, kind) in [(1, 0, TicketKind::WINNING), (0, 1, other.clone()), (0, 1, TicketKind::REINIT), (0, 0, TicketKind::WINNING), (0, 1, TicketKind::WINNING)] {
            let t = run.ticket(rep, level, &kind);
            std::fs::create_dir_all(t.dir()).unwrap();
            let r = TicketResult { ticket: kind, replicate: rep, level, density: 1.0, seeds: Default::default(), metrics: Default::default(), curve: vec![], seconds: None };
            std::fs::write(t.result(), serde_json::to_string(&r).unwrap()).unwrap();
        }
        // A ticket still training has no result.
        std::fs::create_dir_all(run.ticket(1, 1, &TicketKind::WINNING).dir()).unwrap();
        let kinds = [TicketKind::WINNING, TicketKind::REINIT, TicketKind::SHUFFLE];
        let order: Vec<(u32, TicketKind, u32)> = run.finished(&kinds).unwrap().into_iter().map(|r| (r.level, r.ticket, r.replicate)).collect();
        // A kind the caller does not know (one registered by another build) still counts, last.
        assert_eq!(
            order,
            vec![(0, TicketKind::WINNING, 0), (0, TicketKind::WINNING, 1), (1, TicketKind::WINNING, 0), (1, TicketKind::REINIT, 0), (1, other, 0)]
        );
    }
}
