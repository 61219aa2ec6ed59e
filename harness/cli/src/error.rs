//! The command line's errors, and the one place that turns them into exit statuses.

use lottery_datasets::DataError;
use lottery_engine::EngineError;
use lottery_envs::EnvError;
use lottery_results::ResultsError;
use lottery_suite::SuiteError;
use lottery_task::TaskError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Suite(#[from] SuiteError),
    #[error(transparent)]
    Sweep(#[from] lottery_sweep::SweepError),
    #[error(transparent)]
    Busy(#[from] lottery_results::Locked),
    /// A run of a sweep that `harness run` would refuse.
    #[error("sweep run {run}: {reason}")]
    SweepRun { run: String, reason: String },
    #[error("{command}: {reason}")]
    Submit { command: String, reason: String },
    /// A suite ran and a check failed: a regression, an expectation, or a run.
    #[error("{failures} of {checks} checks failed; see {}", report.display())]
    SuiteFailed { failures: usize, checks: usize, report: std::path::PathBuf },
    /// A command-line value that parses but cannot be used.
    #[error("{flag} {value}: {requirement}")]
    BadValue { flag: &'static str, value: String, requirement: String },
    #[error("cannot write to standard output: {0}")]
    Stdout(#[source] std::io::Error),
}

/// 2: the input was wrong (the message says what to change); 1: a failure while running;
/// 75 (`EX_TEMPFAIL`): stopped by a signal with the work saved, to be rerun (or requeued).
pub fn exit_status(e: &CliError) -> u8 {
    if let CliError::Engine(EngineError::Stopped { .. }) = e {
        return lottery_engine::stop::EXIT_STOPPED;
    }
    let usage = match e {
        CliError::Engine(e) => e.is_usage(),
        CliError::Task(e) => e.is_usage(),
        CliError::Results(e) => e.is_usage(),
        CliError::Data(e) => e.is_usage(),
        CliError::Suite(e) => e.is_usage(),
        CliError::Sweep(e) => e.is_usage(),
        CliError::SweepRun { .. } => true,
        CliError::Busy(_) | CliError::Submit { .. } => false,
        CliError::Env(_) | CliError::BadValue { .. } => true,
        CliError::Stdout(_) | CliError::SuiteFailed { .. } => false,
    };
    if usage {
        2
    } else {
        1
    }
}
