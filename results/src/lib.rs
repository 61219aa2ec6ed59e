//! Everything a lottery run writes to disk: atomic file writes, the run's identity hash, and the
//! two result tables, `curves` and `comparison`, each written as Arrow IPC and CSV from the same
//! rows.
//!
//! This crate knows nothing about tensors or tasks: the engine hands it finished ticket results
//! ([`TicketResult`]) and it turns them into tables.

mod atomic;
mod comparison;
mod lock;
mod run_id;
mod table;
mod ticket;

pub use atomic::{remove_stale_temporaries, write_atomic, AtomicFile};
pub use comparison::{comparison_table, Direction, MetricSpec};
pub use lock::{Locked, RunLock};
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
}
