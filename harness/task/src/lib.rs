//! What a task plugs into the lottery engine, and nothing else.
//!
//! A task ([`Task`]) names itself, its metrics and its presets; prepared with resolved
//! hyperparameters it becomes a [`Problem`] that builds [`Network`]s. The engine trains, masks,
//! prunes, rewinds and checkpoints them. This crate has no masks and no pruning, and the task
//! crate depends on it alone (not on the engine), so the compiler keeps tasks away from both.
//!
//! - [`task`]: the traits, presets and splits; [`hparams`]: typed hyperparameters and checks.
//! - [`registry`]: tasks by name; [`step`]: `500it` / `2ep` points in training;
//!   [`optimizer`]: optimizer specifications; [`seeds`]: derived random streams.

pub mod hparams;
pub mod optimizer;
pub mod registry;
pub mod seeds;
pub mod step;
pub mod task;

pub use optimizer::{LrSchedule, OptimizerSpec, Rule};
pub use registry::{closest_first, Registry};
pub use step::Step;
pub use task::{Defaults, Network, Point, TWENTY_LEVELS, Preset, Problem, PrunableParam, PruningPolicy, Role, Split, Task, TaskEnv, Training, with_gradients};

/// Errors of tasks: bad hyperparameters, missing or malformed inputs, and failures while running.
/// [`TaskError::is_usage`] says which ones are the user's input.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("unknown task `{name}`; valid tasks (closest first): {}", choices.join(", "))]
    UnknownTask { name: String, choices: Vec<String> },
    #[error("unknown hyperparameter `{key}` for {task}; valid keys (closest first): {}", choices.join(", "))]
    UnknownHyperparameter { task: String, key: String, choices: Vec<String> },
    #[error("--set {key}={value}: expected {expected}, like the default {default}")]
    HyperparameterType { key: String, value: String, expected: &'static str, default: String },
    #[error("{task}: {message}")]
    Hyperparameters { task: String, message: String },
    #[error("--set {key}={value}: {requirement}")]
    InvalidHyperparameter { key: String, value: String, requirement: String },
    /// Something the task needs that the user must provide (an Atari ROM, say).
    #[error("{0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Data(#[from] lottery_datasets::DataError),
    #[error(transparent)]
    Env(#[from] lottery_envs::EnvError),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A checkpoint lacks state the task saved into it.
    #[error("the checkpoint has no task state `{0}`")]
    MissingState(String),
    #[error("{context}: {source}")]
    Failed { context: String, #[source] source: Box<dyn std::error::Error + Send + Sync> },
}

impl TaskError {
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            TaskError::UnknownTask { .. }
                | TaskError::UnknownHyperparameter { .. }
                | TaskError::HyperparameterType { .. }
                | TaskError::Hyperparameters { .. }
                | TaskError::InvalidHyperparameter { .. }
                | TaskError::Unavailable(_)
        ) || matches!(self, TaskError::Data(e) if e.is_usage())
    }

    /// A failure with what was being done.
    pub fn failed(context: impl Into<String>, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        TaskError::Failed { context: context.into(), source: source.into() }
    }
}
