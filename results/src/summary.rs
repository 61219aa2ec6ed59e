//! A run folder read back as numbers: its `config.toml`, and per metric each ticket kind's mean,
//! spread and replicate count at each level (from `comparison.csv`). Suites judge these and
//! leaderboards export them, so the curve arithmetic both need lives here, computed one way:
//!
//! - values between levels are interpolated linearly in log density (levels are geometric in
//!   density, so log density is the axis they are evenly spaced on);
//! - the **matching density** is where the winning curve first leaves the dense value's band
//!   (the dense replicates' standard deviation, or a relative margin when that is larger), going
//!   from dense to sparse, interpolated between the last level inside the band and the first
//!   outside; a run that never leaves the band reports its sparsest density, flagged censored;
//! - the **area under the curve** is the trapezoidal integral of a kind's mean over log10
//!   density, from the sparsest density to 1: its unit is the metric times decades of density.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{Direction, ResultsError, RunLayout};

/// Mean, sample standard deviation (absent for one replicate) and replicate count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub mean: f64,
    pub std: Option<f64>,
    pub n: u32,
}

/// One level of one metric: the subject's density and each kind's statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelPoint {
    pub level: u32,
    pub density: f64,
    pub kinds: BTreeMap<String, Stat>,
}

/// One metric of a run, level by level (densest first).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricCurves {
    pub metric: String,
    pub direction: Direction,
    /// `winning` in an IMP run.
    pub subject: String,
    pub points: Vec<LevelPoint>,
}

/// Where the winning curve stops matching the dense network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Matching {
    pub density: f64,
    /// The band's half-width around the dense value.
    pub tolerance: f64,
    /// True when no level left the band: the matching density is at most `density`, the
    /// sparsest the run reached.
    pub censored: bool,
}

/// A run folder's settings and comparison.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub dir: PathBuf,
    pub config: toml::Table,
    pub subject: String,
    /// The control kinds the table has columns for, in its order.
    pub controls: Vec<String>,
    pub metrics: Vec<MetricCurves>,
}

fn corrupt(path: &Path, reason: impl ToString) -> ResultsError {
    ResultsError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.to_string(),
        remedy: "rerun the command that made the folder: it rewrites the tables and config from the finished tickets".into(),
    }
}

impl RunSummary {
    /// Reads `dir/config.toml` and `dir/comparison.csv`.
    pub fn read(dir: &Path) -> Result<Self, ResultsError> {
        let layout = RunLayout::new(dir);
        let config_path = layout.config();
        let table_path = layout.table("comparison", "csv");
        if !table_path.is_file() {
            return Err(ResultsError::NotARun { dir: dir.to_path_buf(), file: "comparison.csv" });
        }
        if !config_path.is_file() {
            return Err(ResultsError::NotARun { dir: dir.to_path_buf(), file: "config.toml" });
        }
        let text = std::fs::read_to_string(&config_path).map_err(|source| ResultsError::Io { path: config_path.clone(), source })?;
        let config: toml::Table = text.parse().map_err(|e: toml::de::Error| corrupt(&config_path, e.message()))?;

        let mut reader = csv::Reader::from_path(&table_path).map_err(|e| corrupt(&table_path, e))?;
        let headers: Vec<String> = reader.headers().map_err(|e| corrupt(&table_path, e))?.iter().map(String::from).collect();
        let (subject, controls) = crate::kinds_in_header(headers.iter().map(String::as_str)).ok_or_else(|| corrupt(&table_path, "no `*_mean` column"))?;
        let kinds: Vec<String> = std::iter::once(subject.clone()).chain(controls.iter().cloned()).collect();
        let mut metrics: Vec<MetricCurves> = vec![];
        for record in reader.records() {
            let record = record.map_err(|e| corrupt(&table_path, e))?;
            let row: BTreeMap<&str, &str> = headers.iter().map(String::as_str).zip(record.iter()).collect();
            let field = |name: &str| row.get(name).copied().ok_or_else(|| corrupt(&table_path, format!("no column `{name}`")));
            let number = |name: &str| -> Result<Option<f64>, ResultsError> {
                let text = field(name)?;
                if text.is_empty() {
                    return Ok(None);
                }
                text.parse().map(Some).map_err(|_| corrupt(&table_path, format!("`{text}` in column `{name}` is not a number")))
            };
            let level: u32 = field("level")?.parse().map_err(|_| corrupt(&table_path, "a level that is not a whole number"))?;
            let density = number("density")?.ok_or_else(|| corrupt(&table_path, "a row without a density"))?;
            let metric = field("metric")?.to_string();
            let direction = if field("direction")? == "lower" { Direction::Lower } else { Direction::Higher };
            let mut stats = BTreeMap::new();
            for kind in &kinds {
                let Some(mean) = number(&format!("{kind}_mean"))? else { continue };
                let n_column = if *kind == subject { "replicates".to_string() } else { format!("{kind}_replicates") };
                let n = field(&n_column)?.parse().unwrap_or(0);
                stats.insert(kind.clone(), Stat { mean, std: number(&format!("{kind}_std"))?, n });
            }
            let curves = match metrics.iter_mut().position(|m| m.metric == metric) {
                Some(i) => &mut metrics[i],
                None => {
                    metrics.push(MetricCurves { metric, direction, subject: subject.clone(), points: vec![] });
                    metrics.last_mut().expect("just pushed")
                }
            };
            curves.points.push(LevelPoint { level, density, kinds: stats });
        }
        for m in &mut metrics {
            m.points.sort_by_key(|p| p.level);
        }
        Ok(RunSummary { dir: dir.to_path_buf(), config, subject, controls, metrics })
    }

    pub fn metric(&self, name: &str) -> Option<&MetricCurves> {
        self.metrics.iter().find(|m| m.metric == name)
    }

    /// A top-level string of `config.toml`.
    pub fn config_str(&self, key: &str) -> Option<&str> {
        self.config.get(key).and_then(|v| v.as_str())
    }
}

impl MetricCurves {
    /// The subject at level 0: the dense network.
    pub fn dense(&self) -> Option<Stat> {
        self.points.iter().find(|p| p.level == 0).and_then(|p| p.kinds.get(&self.subject)).copied()
    }

    /// `(density, mean)` of `kind` at every level it has, densest first.
    pub fn series(&self, kind: &str) -> Vec<(f64, f64)> {
        let mut series: Vec<(f64, f64)> = self.points.iter().filter_map(|p| p.kinds.get(kind).map(|s| (p.density, s.mean))).collect();
        series.sort_by(|a, b| b.0.total_cmp(&a.0));
        series
    }

    /// The sparsest density of any level.
    pub fn sparsest_density(&self) -> Option<f64> {
        self.points.iter().map(|p| p.density).min_by(f64::total_cmp)
    }

    /// `kind`'s mean at `density`, interpolated linearly in log density between the levels
    /// around it; `None` outside the densities `kind` was trained at.
    pub fn at_density(&self, kind: &str, density: f64) -> Option<f64> {
        interpolate_log(&self.series(kind), density)
    }

    /// `a - b` at `density` (each interpolated), e.g. winning minus reinit.
    pub fn difference_at(&self, a: &str, b: &str, density: f64) -> Option<f64> {
        Some(self.at_density(a, density)? - self.at_density(b, density)?)
    }

    /// Whether `value` is at least as good as `threshold` in this metric's direction.
    fn no_worse(&self, value: f64, threshold: f64) -> bool {
        match self.direction {
            Direction::Higher => value >= threshold,
            Direction::Lower => value <= threshold,
        }
    }

    /// The matching density of the subject (see the module's documentation), with the band's
    /// half-width `max(dense std, margin x |dense mean|)`; `None` without a dense level.
    pub fn matching_density(&self, margin: f64) -> Option<Matching> {
        let dense = self.dense()?;
        let tolerance = dense.std.unwrap_or(0.0).max(margin * dense.mean.abs());
        let threshold = match self.direction {
            Direction::Higher => dense.mean - tolerance,
            Direction::Lower => dense.mean + tolerance,
        };
        let series = self.series(&self.subject);
        for pair in series.windows(2) {
            let ((d0, v0), (d1, v1)) = (pair[0], pair[1]);
            if !self.no_worse(v1, threshold) {
                // v0 is inside the band (or it would have stopped the scan), v1 outside: the
                // crossing lies between them.
                let t = if v1 == v0 { 0.0 } else { ((threshold - v0) / (v1 - v0)).clamp(0.0, 1.0) };
                let log_d = d0.log10() + t * (d1.log10() - d0.log10());
                return Some(Matching { density: 10f64.powf(log_d), tolerance, censored: false });
            }
        }
        let sparsest = series.last().map_or(1.0, |(d, _)| *d);
        Some(Matching { density: sparsest, tolerance, censored: true })
    }

    /// The area under `kind`'s mean over log10 density, from its sparsest level to its densest;
    /// `None` with fewer than two levels.
    pub fn auc_log_density(&self, kind: &str) -> Option<f64> {
        let series = self.series(kind);
        if series.len() < 2 {
            return None;
        }
        Some(series.windows(2).map(|w| (w[0].0.log10() - w[1].0.log10()) * (w[0].1 + w[1].1) / 2.0).sum())
    }
}

/// Linear interpolation in log density over `series` (densest first); `None` outside its range.
/// A density within a relative 1e-9 of a level's counts as that level (densities written to
/// CSV and read back are not bit-exact products of the rate).
pub fn interpolate_log(series: &[(f64, f64)], density: f64) -> Option<f64> {
    if density <= 0.0 {
        return None;
    }
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
    if let Some((_, v)) = series.iter().find(|(d, _)| close(*d, density)) {
        return Some(*v);
    }
    series.windows(2).find(|w| w[0].0 > density && density > w[1].0).map(|w| {
        let ((d0, v0), (d1, v1)) = (w[0], w[1]);
        let t = (density.log10() - d0.log10()) / (d1.log10() - d0.log10());
        v0 + t * (v1 - v0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(mean: f64, std: Option<f64>) -> Stat {
        Stat { mean, std, n: if std.is_some() { 3 } else { 1 } }
    }

    /// Levels at densities 1, 0.5, 0.25, 0.125 (rate 0.5) with the given winning and reinit means.
    fn curves(direction: Direction, winning: &[f64], reinit: &[f64], dense_std: Option<f64>) -> MetricCurves {
        let points = winning
            .iter()
            .enumerate()
            .map(|(level, &w)| {
                let mut kinds = BTreeMap::from([("winning".to_string(), stat(w, if level == 0 { dense_std } else { None }))]);
                if level > 0 {
                    kinds.insert("reinit".into(), stat(reinit[level - 1], None));
                }
                LevelPoint { level: level as u32, density: 0.5f64.powi(level as i32), kinds }
            })
            .collect();
        MetricCurves { metric: "test_accuracy".into(), direction, subject: "winning".into(), points }
    }

    #[test]
    fn interpolation_is_linear_in_log_density_and_absent_outside_the_range() {
        let series = [(1.0, 0.9), (0.1, 0.7), (0.01, 0.1)];
        // sqrt(0.1) is halfway between 1 and 0.1 in log density.
        assert!((interpolate_log(&series, 0.1f64.sqrt()).unwrap() - 0.8).abs() < 1e-12);
        assert_eq!(interpolate_log(&series, 0.1), Some(0.7));
        assert!((interpolate_log(&series, 0.001f64.sqrt()).unwrap() - 0.4).abs() < 1e-9, "halfway between 0.1 and 0.01");
        assert_eq!(interpolate_log(&series, 0.005), None);
        assert_eq!(interpolate_log(&series, 1.5), None);
        assert_eq!(interpolate_log(&[], 0.5), None);
    }

    #[test]
    fn matching_density_interpolates_where_the_winning_curve_leaves_the_band() {
        // Dense 0.90 ± 0.01. Inside the band at 0.5 (0.905) and 0.25 (0.895); at 0.125 it is
        // 0.86, outside. The threshold 0.89 is crossed at t = (0.89 - 0.895) / (0.86 - 0.895)
        // = 1/7 of the way from 0.25 to 0.125 in log density.
        let c = curves(Direction::Higher, &[0.90, 0.905, 0.895, 0.86], &[0.9, 0.85, 0.7], Some(0.01));
        let m = c.matching_density(0.0).unwrap();
        assert!(!m.censored);
        assert!((m.tolerance - 0.01).abs() < 1e-12);
        let expected = 10f64.powf(0.25f64.log10() + (1.0 / 7.0) * (0.125f64.log10() - 0.25f64.log10()));
        assert!((m.density - expected).abs() < 1e-12, "{} vs {expected}", m.density);
        // A margin of 5% of the dense value (0.045) is wider than the spread: never left.
        let wide = c.matching_density(0.05).unwrap();
        assert!(wide.censored);
        assert_eq!(wide.density, 0.125);
        assert!((wide.tolerance - 0.045).abs() < 1e-12);
    }

    #[test]
    fn matching_density_follows_the_direction_of_the_metric() {
        // Perplexity: lower is better. Dense 100, margin 2% -> band up to 102. 101 at 0.5 is
        // inside, 110 at 0.25 outside: t = (102 - 101) / (110 - 101) = 1/9.
        let c = curves(Direction::Lower, &[100.0, 101.0, 110.0, 130.0], &[105.0, 120.0, 150.0], None);
        let m = c.matching_density(0.02).unwrap();
        let expected = 10f64.powf(0.5f64.log10() + (1.0 / 9.0) * (0.25f64.log10() - 0.5f64.log10()));
        assert!((m.density - expected).abs() < 1e-12);
        assert!(!m.censored);
        // The first pruned level already outside a band up to 105: the crossing is a quarter of
        // the way from 1 to 0.5 in log density.
        let early = curves(Direction::Lower, &[100.0, 120.0, 130.0, 140.0], &[1.0, 1.0, 1.0], None).matching_density(0.05).unwrap();
        assert!((early.density - 0.5f64.powf(0.25)).abs() < 1e-12);
    }

    #[test]
    fn area_under_the_curve_is_over_decades_of_density() {
        // A constant 0.8 over densities 1 .. 0.125 (log10 width 3 x log10 2) has area 0.8 x width.
        let c = curves(Direction::Higher, &[0.8, 0.8, 0.8, 0.8], &[0.5, 0.5, 0.5], None);
        let width = 3.0 * 2f64.log10();
        assert!((c.auc_log_density("winning").unwrap() - 0.8 * width).abs() < 1e-12);
        // A straight line from 1.0 at density 1 to 0.0 at 0.125 in log density: half of 1 x width.
        let line = curves(Direction::Higher, &[1.0, 2.0 / 3.0, 1.0 / 3.0, 0.0], &[0.0, 0.0, 0.0], None);
        assert!((line.auc_log_density("winning").unwrap() - 0.5 * width).abs() < 1e-12);
        // Reinit has levels 1..3 only: its area spans 0.5 .. 0.125.
        assert!((c.auc_log_density("reinit").unwrap() - 0.5 * 2.0 * 2f64.log10()).abs() < 1e-12);
        assert_eq!(curves(Direction::Higher, &[0.8], &[], None).auc_log_density("winning"), None);
    }

    #[test]
    fn differences_are_interpolated_and_null_outside_the_controls_levels() {
        let c = curves(Direction::Higher, &[0.9, 0.9, 0.8, 0.7], &[0.8, 0.6, 0.3], None);
        assert!((c.difference_at("winning", "reinit", 0.5).unwrap() - 0.1).abs() < 1e-12);
        // Halfway between 0.25 and 0.125 in log density: winning 0.75, reinit 0.45.
        let mid = (0.25f64 * 0.125).sqrt();
        assert!((c.difference_at("winning", "reinit", mid).unwrap() - 0.3).abs() < 1e-12);
        // Reinit starts at level 1 (density 0.5): nothing at 0.8, nor below the sparsest level.
        assert_eq!(c.difference_at("winning", "reinit", 0.8), None);
        assert_eq!(c.difference_at("winning", "reinit", 0.05), None);
    }
}
