//! Judging one entry's finished run: its expectations, then its baseline.

use std::path::PathBuf;

use serde::Serialize;

use lottery_results::summary::{RunSummary, Stat};
use lottery_results::Direction;

use crate::spec::{Entry, Tolerance};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    /// Better than the baseline beyond the tolerance: passes, but the baseline is stale.
    Improved,
    Fail,
    /// The entry's run did not finish.
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Improved => "improved",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
        }
    }

    pub fn is_ok(self) -> bool {
        matches!(self, Verdict::Pass | Verdict::Improved)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    Run,
    Expectation,
    Baseline,
}

/// One judged claim: a testcase in JUnit, a row in the Markdown table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub kind: CheckKind,
    /// What was checked, e.g. `dense test_accuracy >= 0.95` or `winning test_accuracy at level 3`.
    pub name: String,
    pub metric: Option<String>,
    pub level: Option<u32>,
    /// What it was held against: the bound, or the baseline's mean ± std (n).
    pub expected: Option<String>,
    /// The measured value, as text (mean ± std (n) against a baseline).
    pub now: Option<String>,
    /// now minus baseline (baseline checks).
    pub difference: Option<f64>,
    pub tolerance: Option<f64>,
    pub verdict: Verdict,
    /// A sentence with the numbers.
    pub message: String,
}

/// An entry's run and its checks.
#[derive(Debug, Clone, Serialize)]
pub struct EntryOutcome {
    pub name: String,
    pub task: String,
    pub preset: String,
    pub run_dir: PathBuf,
    pub log: PathBuf,
    /// Wall-clock seconds of this invocation's `harness run` (resuming a finished run is quick).
    pub seconds: f64,
    pub checks: Vec<Check>,
}

impl EntryOutcome {
    pub fn failures(&self) -> usize {
        self.checks.iter().filter(|c| !c.verdict.is_ok()).count()
    }
}

fn stat_text(s: &Stat) -> String {
    match s.std {
        Some(std) => format!("{:.6} ± {std:.6} (n={})", s.mean, s.n),
        None => format!("{:.6} (n={})", s.mean, s.n),
    }
}

/// The entry's expectations on its run.
pub fn expectations(entry: &Entry, run: &RunSummary) -> Vec<Check> {
    let default_metric = run.metrics.first().map(|m| m.metric.clone()).unwrap_or_default();
    entry
        .expect
        .iter()
        .map(|(e, _)| {
            let metric = e.metric.clone().unwrap_or_else(|| default_metric.clone());
            let name = match &e.metric {
                Some(_) => e.to_string(),
                None => format!("{e} ({metric})"),
            };
            let expected = Some(format!("{} {}", e.op.as_str(), e.bound));
            let check = |now: Option<f64>, verdict, message| Check {
                kind: CheckKind::Expectation,
                name: name.clone(),
                metric: Some(metric.clone()),
                level: None,
                expected: expected.clone(),
                now: now.map(|v| format!("{v:.6}")),
                difference: None,
                tolerance: None,
                verdict,
                message,
            };
            match run.metric(&metric) {
                None => {
                    let have: Vec<&str> = run.metrics.iter().map(|m| m.metric.as_str()).collect();
                    check(None, Verdict::Fail, format!("the run has no metric `{metric}`; it has {}", have.join(", ")))
                }
                Some(curves) => {
                    let judged = e.judge(curves);
                    check(judged.value, if judged.passed { Verdict::Pass } else { Verdict::Fail }, judged.detail)
                }
            }
        })
        .collect()
}

/// The entry's run against its baseline: one check per (metric, level, ticket kind) the baseline
/// has, in the baseline's order.
pub fn against_baseline(entry: &Entry, now: &RunSummary, base: &RunSummary) -> Vec<Check> {
    let base_identity = base.config_str("identity").unwrap_or_default();
    let now_identity = now.config_str("identity").unwrap_or_default();
    if base_identity != now_identity {
        return vec![Check {
            kind: CheckKind::Baseline,
            name: "baseline is of this run".into(),
            metric: None,
            level: None,
            expected: Some(base_identity.lines().skip(2).collect::<Vec<_>>().join("; ")),
            now: Some(now_identity.lines().skip(2).collect::<Vec<_>>().join("; ")),
            difference: None,
            tolerance: None,
            verdict: Verdict::Fail,
            message: format!(
                "the baseline {} is of another run (identity `{}`) than this entry's (`{}`): the suite's settings changed; refresh it on purpose with --update-baseline",
                base.dir.display(),
                base_identity.replace('\n', "; "),
                now_identity.replace('\n', "; ")
            ),
        }];
    };
    let mut checks = vec![];
    for base_metric in &base.metrics {
        if entry.metrics.as_ref().is_some_and(|m| !m.contains(&base_metric.metric)) {
            continue;
        }
        let now_metric = now.metric(&base_metric.metric);
        for point in &base_metric.points {
            for (kind, b) in &point.kinds {
                let name = format!("{kind} {} at level {} (density {:.4})", base_metric.metric, point.level, point.density);
                let mut check = Check {
                    kind: CheckKind::Baseline,
                    name,
                    metric: Some(base_metric.metric.clone()),
                    level: Some(point.level),
                    expected: Some(stat_text(b)),
                    now: None,
                    difference: None,
                    tolerance: None,
                    verdict: Verdict::Fail,
                    message: String::new(),
                };
                let n = now_metric.and_then(|m| m.points.iter().find(|p| p.level == point.level)).and_then(|p| p.kinds.get(kind));
                let Some(n) = n else {
                    check.message = format!("the baseline has {kind} {} at level {}, the run has none (did its levels or controls change?)", base_metric.metric, point.level);
                    checks.push(check);
                    continue;
                };
                let (verdict, tolerance, message) = compare(base_metric.direction, b, n, &entry.tolerance);
                check.now = Some(stat_text(n));
                check.difference = Some(n.mean - b.mean);
                check.tolerance = Some(tolerance);
                check.verdict = verdict;
                check.message = message;
                checks.push(check);
            }
        }
    }
    checks
}

/// A new mean against the baseline's: the verdict, the tolerance used and a sentence with the
/// numbers (see [`crate::spec`] for the rule).
pub fn compare(direction: Direction, base: &Stat, now: &Stat, t: &Tolerance) -> (Verdict, f64, String) {
    let worse_by = match direction {
        Direction::Higher => base.mean - now.mean,
        Direction::Lower => now.mean - base.mean,
    };
    let se = match (base.std, now.std) {
        (Some(sb), Some(sn)) if base.n >= 2 && now.n >= 2 => Some((sb * sb / base.n as f64 + sn * sn / now.n as f64).sqrt()),
        _ => None,
    };
    let relative = t.relative * base.mean.abs();
    let tolerance = se.map_or(0.0, |se| t.sigmas * se).max(t.margin).max(relative);
    let rule = match se {
        Some(se) => format!("max({} x SE {se:.6}, margin {}, {} x |baseline| = {relative:.6})", t.sigmas, t.margin, t.relative),
        None => format!("one replicate on a side, so no spread: margins only, max(margin {}, {} x |baseline| = {relative:.6})", t.margin, t.relative),
    };
    let numbers = format!("baseline {}, now {}, difference {:+.6}", stat_text(base), stat_text(now), now.mean - base.mean);
    let verdict = if worse_by > tolerance {
        Verdict::Fail
    } else if -worse_by > tolerance {
        Verdict::Improved
    } else {
        Verdict::Pass
    };
    let judgement = match verdict {
        Verdict::Fail => format!("worse by {worse_by:.6}, beyond the tolerance {tolerance:.6}"),
        Verdict::Improved => format!("better by {:.6}, beyond the tolerance {tolerance:.6}: refresh the baseline if this is meant", -worse_by),
        _ => format!("within the tolerance {tolerance:.6}"),
    };
    (verdict, tolerance, format!("{numbers}: {judgement} = {rule}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(mean: f64, std: Option<f64>, n: u32) -> Stat {
        Stat { mean, std, n }
    }

    #[test]
    fn a_regression_is_worse_than_the_tolerance_in_the_metric_direction() {
        let t = Tolerance { sigmas: 3.0, margin: 0.0, relative: 0.0 };
        // SE = sqrt(0.01²/4 + 0.01²/4) = 0.00707; 3 SE = 0.0212.
        let (v, tol, msg) = compare(Direction::Higher, &stat(0.95, Some(0.01), 4), &stat(0.92, Some(0.01), 4), &t);
        assert_eq!(v, Verdict::Fail, "{msg}");
        assert!((tol - 3.0 * (0.00005f64).sqrt()).abs() < 1e-12);
        assert!(msg.contains("worse by 0.030000"), "{msg}");
        let (v, ..) = compare(Direction::Higher, &stat(0.95, Some(0.01), 4), &stat(0.94, Some(0.01), 4), &t);
        assert_eq!(v, Verdict::Pass);
        // Lower is better: a rise in perplexity is the regression, a fall an improvement.
        let (v, ..) = compare(Direction::Lower, &stat(100.0, Some(1.0), 3), &stat(105.0, Some(1.0), 3), &t);
        assert_eq!(v, Verdict::Fail);
        let (v, ..) = compare(Direction::Lower, &stat(100.0, Some(1.0), 3), &stat(95.0, Some(1.0), 3), &t);
        assert_eq!(v, Verdict::Improved);
    }

    #[test]
    fn one_replicate_falls_back_to_the_margins_and_says_so() {
        let t = Tolerance { sigmas: 3.0, margin: 0.01, relative: 0.02 };
        let (v, tol, msg) = compare(Direction::Higher, &stat(0.5, None, 1), &stat(0.495, Some(0.1), 3), &t);
        assert_eq!(v, Verdict::Pass, "{msg}");
        assert!((tol - 0.01).abs() < 1e-12, "relative 2% of 0.5 = 0.01 ties the margin");
        assert!(msg.contains("margins only"), "{msg}");
        let (v, ..) = compare(Direction::Higher, &stat(0.5, None, 1), &stat(0.48, None, 1), &t);
        assert_eq!(v, Verdict::Fail);
        // Identical results pass even with no tolerance at all.
        let (v, ..) = compare(Direction::Higher, &stat(0.5, None, 1), &stat(0.5, None, 1), &Tolerance { sigmas: 0.0, margin: 0.0, relative: 0.0 });
        assert_eq!(v, Verdict::Pass);
    }
}
