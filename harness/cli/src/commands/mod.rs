//! One module per command: its arguments and what it does. A new command is a module here and a
//! variant of `Command` in `main.rs`.

pub mod collect;
pub mod data;
pub mod env;
pub mod leaderboard;
pub mod list;
pub mod plot;
pub mod run;
pub mod show;
pub mod specialization;
pub mod suite;
pub mod sweep;
pub mod transfer;
pub mod transfer_matrix;
