//! The built-in tasks and what only they use. A new task family is a module here and one line
//! in [`register_all`]; nothing in the engine changes. This crate depends on `lottery-task`
//! alone of the harness's crates: tasks build networks and name their prunable parameters, and
//! cannot reach masks or pruning.
//!
//! - [`control`] and [`atari`]: A2C on classic control and on Atari games ([`a2c`] is their
//!   shared update); [`image`]: image classifiers; [`lm`]: LSTM language models;
//!   [`translate`]: Transformer translation, scored with [`bleu`]; [`teacher_student`]: a ReLU
//!   student mimicking a fixed teacher, with the specialization of its nodes; [`epoch_order`]:
//!   seeded minibatch order for tasks with a fixed training set; [`blas_threads`]: MKL's matrix
//!   products on the calling thread alone, for tasks whose products are too small to split.

pub mod a2c;
pub mod blas_threads;
pub mod bleu;
#[cfg(feature = "ale")]
pub mod atari;
pub mod control;
pub mod epoch_order;
pub mod image;
pub mod lm;
pub mod teacher_student;
pub mod translate;

use lottery_task::Registry;

pub fn register_all(registry: &mut Registry) {
    #[cfg(feature = "ale")]
    atari::register(registry);
    control::register(registry);
    image::register(registry);
    lm::register(registry);
    teacher_student::register(registry);
    translate::register(registry);
}

/// Every task that ships with the harness.
pub fn builtin() -> Registry {
    let mut registry = Registry::empty();
    register_all(&mut registry);
    registry
}
