//! Reinforcement-learning environments in Rust, with no Python anywhere: Gymnasium 1.x's classic
//! control tasks with the same dynamics, observations, rewards, termination, truncation and reset
//! distribution, LunarLander on a Rust port of Box2D, and a vectorized batch that steps many
//! copies in lockstep.
//!
//! The environments are written here rather than taken from `gym-rs` (0.3): that crate panics on
//! an invalid action where we need an error, links SDL2 for rendering, and has no Acrobot.
//! Agreement with Gymnasium is checked against trajectories recorded from it
//! (`fixtures/record_gymnasium.py`).

#[cfg(feature = "ale")]
pub mod atari;
mod acrobot;
mod cartpole;
mod env;
mod lunar_lander;
mod mountain_car;
mod rng;
mod vec_env;

pub use env::{Dynamics, Env, EnvError, EnvSpec, Transition, SPECS};
pub use rng::Rng;
pub use vec_env::{EpisodeStats, VecEnv, VecStep};
