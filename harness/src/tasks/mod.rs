//! The built-in tasks. A new task family is a module here and one line in [`register_all`];
//! nothing in the engine changes.

mod a2c;
#[cfg(feature = "ale")]
pub mod atari;
pub mod control;
pub mod image;
pub mod lm;
pub mod translate;

use crate::registry::Registry;

pub fn register_all(registry: &mut Registry) {
    #[cfg(feature = "ale")]
    atari::register(registry);
    control::register(registry);
    image::register(registry);
    lm::register(registry);
    translate::register(registry);
}
