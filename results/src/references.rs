//! The papers' stated results (`results/references.toml`, compiled in), and the rows of a run
//! nearest to them: what `harness show` prints beside a run of the `paper` preset.

use std::sync::LazyLock;

use serde::Deserialize;

/// The file's format version; a row that changes meaning bumps it.
pub const VERSION: u32 = 1;

/// One number a paper states.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    pub paper: String,
    /// Table, figure or text.
    #[serde(rename = "where")]
    pub place: String,
    pub task: String,
    pub preset: String,
    /// Of the ticket (1.0: the dense network).
    pub density: f64,
    /// A comparison metric: `test_M` or `test_M@val`.
    pub metric: String,
    pub value: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    reference: Vec<Reference>,
}

static ALL: LazyLock<Vec<Reference>> = LazyLock::new(|| {
    let file: File = toml::from_str(include_str!("../references.toml")).expect("references.toml parses (pinned by a test)");
    assert_eq!(file.version, VERSION, "references.toml has the version this build reads");
    file.reference
});

/// Every reference.
pub fn all() -> &'static [Reference] {
    &ALL
}

/// The references for runs of `task` at `preset`.
pub fn for_run(task: &str, preset: &str) -> Vec<&'static Reference> {
    all().iter().filter(|r| r.task == task && r.preset == preset).collect()
}

/// Of `densities`, the index of the one nearest `density` on a log scale (levels are geometric).
pub fn nearest(densities: &[f64], density: f64) -> Option<usize> {
    densities
        .iter()
        .enumerate()
        .filter(|(_, d)| **d > 0.0)
        .min_by(|(_, a), (_, b)| (a.ln() - density.ln()).abs().total_cmp(&(b.ln() - density.ln()).abs()))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_parses_and_names_densities_and_metrics_a_run_has() {
        assert!(!all().is_empty());
        for r in all() {
            assert!(r.density > 0.0 && r.density <= 1.0, "{r:?}");
            assert!(r.metric.starts_with("test_"), "{r:?}: a comparison metric");
            assert!(["smoke", "quick", "paper"].contains(&r.preset.as_str()), "{r:?}");
        }
        assert_eq!(for_run("translate/wmt14-en-de-big", "paper").len(), 2);
        assert!(for_run("translate/wmt14-en-de-big", "quick").is_empty());
    }

    #[test]
    fn the_nearest_level_is_nearest_in_log_density() {
        let levels = [1.0, 0.8, 0.64, 0.512, 0.4096, 0.32768];
        assert_eq!(nearest(&levels, 0.33), Some(5));
        assert_eq!(nearest(&levels, 1.0), Some(0));
        // 0.45 is nearer 0.4096 than 0.512 in log density (and in plain distance too).
        assert_eq!(nearest(&levels, 0.45), Some(4));
        assert_eq!(nearest(&[], 0.5), None);
    }
}
