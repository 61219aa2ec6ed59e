//! The short hash that names a run folder.

use sha2::{Digest, Sha256};

/// First 10 hex digits of the SHA-256 of a run's canonical config text.
///
/// The caller builds the canonical text so that options left at their defaults are absent: adding
/// a new option with a default must not rename existing runs.
pub fn run_id(canonical: &str) -> String {
    let digest = Sha256::digest(canonical.as_bytes());
    digest.iter().take(5).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_id_is_pinned() {
        // Changing this breaks every existing results folder's name: don't, without a migration.
        assert_eq!(run_id("task = \"image/mnist-lenet\"\n"), run_id("task = \"image/mnist-lenet\"\n"));
        assert_eq!(run_id(""), "e3b0c44298");
        assert_ne!(run_id("a"), run_id("b"));
    }
}
