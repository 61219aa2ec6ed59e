//! Regression suites over lottery runs: the things a lab's nightly job checks.
//!
//! - [`spec`]: the suite file (TOML): entries, each a `harness run` and its expectations, and
//!   the tolerance against a baseline; malformed files are refused with the line at fault.
//! - [`expectation`]: `winning_minus_reinit >= 0 at sparsest 2` and the like, parsed and judged.
//! - [`judge`]: a finished entry's run folder against its expectations and its baseline.
//! - [`baseline`]: what a baseline folder holds and how `--update-baseline` writes it.
//! - [`report`]: JUnit XML, a Markdown summary and `suite.json`.
//!
//! Running the entries is the command line's job (`harness suite run`); this crate reads the
//! folders they leave, so it needs no libtorch.

pub mod baseline;
pub mod expectation;
pub mod judge;
pub mod report;
pub mod spec;

use std::path::PathBuf;

pub use expectation::Expectation;
pub use judge::{Check, CheckKind, EntryOutcome, Verdict};
pub use spec::{Entry, Suite, Tolerance};

/// Errors of reading suites and baselines and writing reports.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The suite file is wrong: the message names the line and what would be valid.
    #[error("{path}:{line}: {message}")]
    Malformed { path: PathBuf, line: usize, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("--baseline {dir}: {reason}")]
    Baseline { dir: PathBuf, reason: String },
    #[error(transparent)]
    Results(#[from] lottery_results::ResultsError),
}

impl SuiteError {
    /// Whether the user's input is at fault (exit status 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, SuiteError::Malformed { .. } | SuiteError::Baseline { .. })
    }

    /// Maps an I/O error to [`SuiteError::Io`] at `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SuiteError {
        let path = path.into();
        move |source| SuiteError::Io { path, source }
    }
}
