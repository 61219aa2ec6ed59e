//! The built-in tasks. A new task family is a module here and one line in [`register_all`];
//! nothing in the engine changes.

pub mod control;
pub mod image;
pub mod lm;
pub mod translate;

use crate::registry::Registry;

pub fn register_all(registry: &mut Registry) {
    control::register(registry);
    image::register(registry);
    lm::register(registry);
    translate::register(registry);
}
