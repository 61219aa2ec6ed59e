//! Everything a lottery run writes to disk: atomic file writes, the run's identity hash, and the
//! two result tables, `curves` and `comparison`, each written as Arrow IPC and CSV from the same
//! rows.
//!
//! This crate knows nothing about tensors or tasks: the engine hands it finished ticket results
//! ([`TicketResult`]) and it turns them into tables. What only reads run folders ([`show`], and
//! the commands that summarize many runs) depends on this crate alone, not on libtorch.
//! [`RunLayout`] is the folder's layout; [`FolderLock`] the lock of one writer of a folder (the run's shared files, a replicate, a ticket). [`matrix`] gathers
//! transfer folders into one table, [`run_figures`] turns run folders into figures and [`plot`]
//! draws them. [`summary`] reads a run back as numbers (matching density, area under the
//! curve) for suites and [`leaderboard`] exports; [`provenance`] is which build made a run; [`references`] are the
//! papers' stated results, shown beside runs of the `paper` preset.

mod atomic;
mod comparison;
mod layout;
pub mod leaderboard;
mod lock;
pub mod matrix;
pub mod plot;
pub mod provenance;
pub mod references;
pub mod run_figures;
mod run_id;
pub mod show;
pub mod summary;
mod table;
mod ticket;

pub use atomic::{remove_stale_temporaries, remove_stale_temporaries_here, write_atomic, AtomicFile};
pub use comparison::{comparison_table, kinds_in_header, Direction, MetricSpec};
pub use layout::{RunLayout, TicketLayout, CONFIG_FILE, TABLES};
pub use lock::{host, FolderLock, LockMethod, Locked, LOCK_FILE, PID_LOCK_FILE};
pub use run_id::run_id;
pub use table::{Column, Table};
pub use ticket::{curves_table, CurvePoint, TicketKind, TicketResult};

/// Errors from writing or reading result files.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("cannot write {path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot encode {path} as Arrow: {source}")]
    Arrow { path: std::path::PathBuf, source: arrow_schema::ArrowError },
    #[error("cannot encode {path} as CSV: {source}")]
    Csv { path: std::path::PathBuf, source: csv::Error },
    #[error("{path} is unreadable ({reason}); {remedy}")]
    Corrupt { path: std::path::PathBuf, reason: String, remedy: String },
    #[error("{dir} has no {file}: give the folder of a run (under --out, default runs/) that has finished at least one level")]
    NotARun { dir: std::path::PathBuf, file: &'static str },
    #[error("{dir} is not a transfer folder (it has no transfer.csv or no config.toml naming a source): give folders made by `harness transfer`")]
    NotATransfer { dir: std::path::PathBuf },
    #[error("cannot draw {path}: {reason}")]
    Plot { path: std::path::PathBuf, reason: String },
    #[error("no metric `{metric}` in the tables; they hold: {}", available.join(", "))]
    NoMetric { metric: String, available: Vec<String> },
    #[error("LOTTERY_LOCK={0} is not a lock method: use flock (the default) or pidfile")]
    BadLockMethod(String),
    #[error("{dir} has no finished ticket at level {level}; pick a level its curves.csv holds")]
    NoLevel { dir: std::path::PathBuf, level: u32 },
}

impl ResultsError {
    /// Whether the user pointed at the wrong thing (exit status 2) rather than a failure (1).
    pub fn is_usage(&self) -> bool {
        matches!(self, ResultsError::NotARun { .. } | ResultsError::BadLockMethod(_) | ResultsError::NotATransfer { .. } | ResultsError::NoMetric { .. } | ResultsError::NoLevel { .. })
    }
}
