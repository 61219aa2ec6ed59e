//! Atari 2600 games through the Arcade Learning Environment (ALE 0.6, vendored and built by the
//! `ale-sys` crate; GPL-2.0, so behind this crate's default feature `ale`).
//!
//! - [`Ale`]: one emulator, a safe handle over ALE's C interface.
//! - [`roms`]: where ROMs are found (`--rom-dir`, `ALE_ROM_DIR`, the `ale-py` wheel's copies).
//! - [`preprocess`]: the DeepMind preprocessing, one small function or type per step.
//! - [`AtariEnv`]: an emulator with that preprocessing; [`AtariVec`]: a batch of them stepped on
//!   worker threads.
//! - [`watchdog`]: reports an emulator call that never returns.

mod ale;
pub mod preprocess;
pub mod roms;
mod vector;
pub mod watchdog;

pub use ale::{Ale, AtariError};
pub use preprocess::{AtariConfig, AtariEnv, AtariStep, FRAME, STACK};
pub use vector::{AtariVec, AtariVecStep};
