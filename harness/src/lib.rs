//! The lottery harness: iterative magnitude pruning with rewinding (IMP), run the same way for
//! every registered task, with random-ticket controls at every level.
//!
//! - [`task`]: what a task plugs in (metrics, presets, data, networks).
//! - [`registry`]: the tasks by name; [`tasks`] registers the built-in ones.
//! - [`engine`]: the IMP driver (levels, controls, replicates, resume), built on [`train`] (one
//!   ticket's training with masks and checkpoints), [`prune`], [`mask`] and [`optim`].
//! - [`config`]: resolved settings and the run's identity hash.
//! - [`bleu`]: corpus BLEU exactly as sacreBLEU computes it, for the translation tasks.

pub mod bleu;
pub mod checkpoint;
pub mod config;
pub mod device;
pub mod engine;
pub mod malloc;
pub mod mask;
pub mod optim;
pub mod progress;
pub mod prune;
pub mod registry;
pub mod rollout;
pub mod seeds;
pub mod show;
pub mod step;
pub mod task;
pub mod tasks;
pub mod train;

pub use step::Step;

use std::path::PathBuf;

/// Errors of the engine and the tasks. [`EngineError::is_usage`] tells the command line which
/// ones are the user's input (exit status 2) rather than a failure while running (1).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Data(#[from] lottery_datasets::DataError),
    #[error(transparent)]
    Results(#[from] lottery_results::ResultsError),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0} is unreadable ({1}); delete it and rerun to recompute it")]
    Corrupt(PathBuf, String),
    #[error("training diverged: {0}; lower the learning rate (--set lr=...) or check the data")]
    Diverged(String),
    #[error("task error: {0}")]
    Task(String),
    #[error(transparent)]
    Busy(#[from] lottery_results::Locked),
}

impl EngineError {
    pub fn is_usage(&self) -> bool {
        matches!(self, EngineError::Usage(_) | EngineError::Config(_))
    }
}
