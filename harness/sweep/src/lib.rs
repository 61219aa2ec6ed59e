//! Sweeps: many `harness run` units over a cluster or one machine.
//!
//! A lottery-ticket study is many IMP runs, and within a run the replicates are independent. A
//! sweep file lists tasks with their settings and grids; it expands into runs, and each run into
//! units, one per replicate (`harness run ... --replicates N --replicate R`), which any number of
//! processes on any number of machines can train at once in the run's one folder.
//!
//! - [`spec`]: the sweep file (TOML) and its expansion into runs.
//! - [`manifest`]: `sweep.json`, unit index -> the exact `harness run` arguments and run folder.
//! - [`slurm`], [`shell`], [`k8s`]: the scripts that run the units (an `sbatch` array, a
//!   local script with N at a time, a Kubernetes Indexed Job).
//! - [`unit`]: each unit's attempts (`units/<index>/state.json`) and lock, and [`status`]:
//!   done / running / failed / pending read from them, no scheduler query needed.
//!
//! Resolving a run's folder and running it is the command line's job (`harness sweep`).

pub mod k8s;
pub mod manifest;
pub mod shell;
pub mod slurm;
pub mod spec;
pub mod status;
pub mod unit;

use std::path::PathBuf;

pub use manifest::{Manifest, ManifestRun, ManifestUnit};
pub use spec::{Device, ExpandedRun, SweepFile};

/// Errors of reading sweep files and manifests and writing sweep folders.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The sweep file is wrong: the message names the key and what would be valid.
    #[error("{path}: {message}")]
    Malformed { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a sweep manifest ({reason}); give the sweep.json that `harness sweep SWEEP.toml --out DIR` wrote in DIR")]
    BadManifest { path: PathBuf, reason: String },
    #[error("unit {index} is not in {manifest}: it has units 0 to {}", count.saturating_sub(1))]
    NoSuchUnit { manifest: PathBuf, index: usize, count: usize },
    #[error("{dir} holds another sweep ({reason}); give another --out, or remove that folder")]
    OtherSweep { dir: PathBuf, reason: String },
    #[error(transparent)]
    Results(#[from] lottery_results::ResultsError),
}

impl SweepError {
    /// Whether the user's input is at fault (exit status 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, SweepError::Malformed { .. } | SweepError::BadManifest { .. } | SweepError::NoSuchUnit { .. } | SweepError::OtherSweep { .. })
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SweepError {
        let path = path.into();
        move |source| SweepError::Io { path, source }
    }
}
