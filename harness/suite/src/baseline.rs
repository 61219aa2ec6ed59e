//! A baseline folder: per entry, the `config.toml` and `comparison.csv` of the run it was made
//! from, under the entry's name (`BASELINE/<entry>/`). Small text files, so a baseline lives in
//! the repository and a refresh shows in review as a diff of numbers.

use std::path::{Path, PathBuf};

use lottery_results::summary::RunSummary;
use lottery_results::{write_atomic, RunLayout, CONFIG_FILE};

use crate::spec::Entry;
use crate::SuiteError;

/// The files a baseline keeps of a run.
pub const FILES: [&str; 2] = [CONFIG_FILE, "comparison.csv"];

/// The entry's folder in a baseline.
pub fn entry_dir(baseline: &Path, entry: &Entry) -> PathBuf {
    baseline.join(entry.slug())
}

/// Copies the run's files into the entry's baseline folder, each atomically.
pub fn write(baseline: &Path, entry: &Entry, run_dir: &Path) -> Result<(), SuiteError> {
    let dir = entry_dir(baseline, entry);
    std::fs::create_dir_all(&dir).map_err(SuiteError::io(&dir))?;
    for file in FILES {
        let from = RunLayout::new(run_dir).root().join(file);
        let bytes = std::fs::read(&from).map_err(SuiteError::io(&from))?;
        write_atomic(dir.join(file), &bytes)?;
    }
    Ok(())
}

/// The entry's baseline, read like a run.
pub fn read(baseline: &Path, entry: &Entry) -> Result<RunSummary, SuiteError> {
    let dir = entry_dir(baseline, entry);
    if !dir.join("comparison.csv").is_file() {
        return Err(SuiteError::Baseline {
            dir: baseline.to_path_buf(),
            reason: format!("no baseline for entry `{}` ({} is missing); write one on purpose with --update-baseline {}", entry.name, dir.join("comparison.csv").display(), baseline.display()),
        });
    }
    Ok(RunSummary::read(&dir)?)
}
