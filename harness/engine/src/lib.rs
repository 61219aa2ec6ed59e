//! The lottery engine: iterative magnitude pruning with rewinding (IMP), run the same way for
//! every task, with random-ticket controls at every level. It knows no command line and no
//! particular task: tasks come in through `lottery-task`'s traits.
//!
//! - [`run`]: the IMP driver (levels, controls, replicates, resume), built on [`train`] (one
//!   ticket's training with masks and checkpoints), [`prune`], [`mask`] and [`optim`];
//!   [`tickets`]: the registries of ticket kinds (how each gets its mask and initial weights).
//! - [`transfer`]: a finished run's tickets trained on another task or optimizer, against
//!   random tickets and the target's own winning ticket.
//! - [`config`]: resolved settings, validated before anything is written, and the run's identity.
//! - [`checkpoint`]: tensor files and a ticket's checkpoint; [`seeds`]: a replicate's seeds;
//!   [`device`]: `--device`; [`progress`]: progress bars or log lines; [`stop`]: graceful stops
//!   on SIGTERM, SIGUSR1 and SIGINT.

pub mod checkpoint;
pub mod config;
pub mod device;
mod folder;
pub mod malloc;
pub mod mask;
pub mod optim;
pub mod progress;
pub mod prune;
pub mod run;
pub mod seeds;
pub mod stop;
pub mod tickets;
pub mod train;
pub mod transfer;

use std::path::PathBuf;

pub use lottery_task::{Point, Step, TaskError};

/// Errors of the engine. [`EngineError::is_usage`] says which ones are the user's input (exit
/// status 2) rather than a failure while running (1).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{flag} {value} is out of range: {meaning} (e.g. {example})")]
    OutOfRange { flag: String, value: String, meaning: &'static str, example: String },
    #[error("`{name}` is not a prunable parameter of {task}; prunable (closest first): {}", choices.join(", "))]
    UnknownParameter { task: String, name: String, choices: Vec<String> },
    #[error("--ignore {name} and --layer-rate {name}={rate} contradict each other: an ignored parameter stays dense; drop one of the two")]
    IgnoredAndRated { name: String, rate: f64 },
    #[error("{0}")]
    NothingToPrune(String),
    #[error("--prune-embeddings: {task} has no embedding matrix to prune; drop the flag")]
    NoEmbeddings { task: String },
    #[error("--rewind {rewind} is {at}, not before the end of training at {end} ({steps} at {per_epoch} per epoch); rewind to an earlier step")]
    RewindTooLate { rewind: Step, at: Point, end: Point, steps: Step, per_epoch: String },
    #[error("--rewind {rewind} is {at}, which a budget of {end} (`steps = {steps}`) may never reach: a rewind point in episodes needs a budget in episodes; rewind to a count of iterations, or set steps in epochs")]
    RewindUnreachable { rewind: Step, at: Point, end: Point, steps: Step },
    #[error("the training budget `steps = {steps}` is {end} ({per_epoch} per epoch); set a budget of at least one iteration with --set steps=...")]
    NoTraining { steps: Step, end: Point, per_epoch: String },
    #[error("`eval_every = {every}` is 0 iterations ({per_epoch} per epoch); evaluate at least every iteration, e.g. --set eval_every=100it")]
    NoEvaluation { every: Step, per_epoch: String },
    #[error("`{key}`: {reason}")]
    BadStep { key: &'static str, reason: String },
    #[error("unknown ticket kind `{kind}`; known: {}", known.join(", "))]
    UnknownTicketKind { kind: String, known: Vec<String> },
    #[error("--replicates {given}: use 1 to {max}")]
    Replicates { given: u64, max: u32 },
    #[error("--device cuda:{index} asked for, but libtorch sees {count} CUDA device(s); {remedy}")]
    NoSuchDevice { index: usize, count: usize, remedy: String },
    #[error("{dir} holds a different run: {}; use another --out, or remove that folder", differences.join("; "))]
    DifferentRun { dir: PathBuf, differences: Vec<String> },
    #[error("--target-run {dir}: {reason}")]
    TargetRun { dir: PathBuf, reason: String },
    #[error("--controls target_winning needs --target-run DIR, the folder of a `harness run` of the target task")]
    NeedsTargetRun,
    #[error("{dir} cannot be a transfer source: {reason}")]
    TransferSource { dir: PathBuf, reason: String },
    #[error("the source run {dir} does not fit {task}: {reason}; transfer between tasks whose networks differ at most in the shapes of their input and output layers")]
    ArchitectureMismatch { dir: PathBuf, task: String, reason: String },
    #[error("--levels {asked}: the source run has levels {}; use all or some of those", available.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(","))]
    NoSuchLevel { asked: String, available: Vec<u32> },
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error(transparent)]
    Results(#[from] lottery_results::ResultsError),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is unreadable ({reason}); {remedy}")]
    Corrupt { path: PathBuf, reason: String, remedy: String },
    #[error("{path} does not fit this run: {reason}; {remedy}")]
    Mismatch { path: PathBuf, reason: String, remedy: String },
    #[error("training diverged: {0}; lower the learning rate (--set lr=...) or check the data")]
    Diverged(String),
    /// The task's network disagrees with itself (a prunable name that is not a variable): a bug.
    #[error("the task's network is inconsistent: {0}")]
    Inconsistent(String),
    #[error(transparent)]
    Busy(#[from] lottery_results::Locked),
    /// A graceful stop ([`stop`]): the work is saved, and rerunning the command resumes it.
    #[error("stopped by {signal} {at}; rerun the same command to resume")]
    Stopped { signal: &'static str, at: String },
    #[error("--replicate {replicate}: this run has {replicates} replicate(s), numbered 0 to {}; ask for more with --replicates {}", replicates - 1, replicate + 1)]
    NoSuchReplicate { replicate: u32, replicates: u32 },
}

impl EngineError {
    pub fn is_usage(&self) -> bool {
        match self {
            EngineError::OutOfRange { .. }
            | EngineError::UnknownParameter { .. }
            | EngineError::IgnoredAndRated { .. }
            | EngineError::NothingToPrune(_)
            | EngineError::NoEmbeddings { .. }
            | EngineError::RewindTooLate { .. }
            | EngineError::RewindUnreachable { .. }
            | EngineError::BadStep { .. }
            | EngineError::NoTraining { .. }
            | EngineError::NoEvaluation { .. }
            | EngineError::Replicates { .. }
            | EngineError::UnknownTicketKind { .. }
            | EngineError::NoSuchDevice { .. }
            | EngineError::DifferentRun { .. }
            | EngineError::TargetRun { .. }
            | EngineError::NeedsTargetRun
            | EngineError::TransferSource { .. }
            | EngineError::ArchitectureMismatch { .. }
            | EngineError::NoSuchLevel { .. }
            | EngineError::NoSuchReplicate { .. } => true,
            EngineError::Task(e) => e.is_usage(),
            _ => false,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> EngineError {
        let path = path.into();
        move |source| EngineError::Io { path, source }
    }

    /// A file that cannot be read, with the generic remedy; callers that know what recomputes
    /// the file replace it with [`EngineError::remedy`].
    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl ToString) -> EngineError {
        EngineError::Corrupt { path: path.into(), reason: reason.to_string(), remedy: "delete it and rerun".into() }
    }

    /// Replaces the remedy of a corrupt-file error with one that is known to work.
    pub(crate) fn remedy(self, remedy: impl Into<String>) -> EngineError {
        match self {
            EngineError::Corrupt { path, reason, .. } => EngineError::Corrupt { path, reason, remedy: remedy.into() },
            EngineError::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
                EngineError::Corrupt { path, reason: "missing".into(), remedy: remedy.into() }
            }
            other => other,
        }
    }
}
