//! Expectations: claims about one run that a suite checks, one per string.
//!
//! ```text
//! QUANTITY [METRIC] OP NUMBER [at every level | at sparsest N | at level L]
//! ```
//!
//! - `QUANTITY`: `dense` (the dense network, level 0), a ticket kind (`winning`, `reinit`, ...),
//!   a difference of two kinds (`winning_minus_reinit`), or one of the run's figures
//!   `matching_density` (margin 1% of the dense value, as in leaderboards), `auc` (area under the
//!   winning curve over log10 density) and `sparsest_density`;
//! - `METRIC`: a comparison metric (`test_accuracy`, `test_return@val`, ...); default: the task's
//!   first;
//! - `OP`: `>=`, `<=`, `>` or `<`;
//! - the scope, for kinds and differences only: every level that has the values (the default),
//!   the N sparsest such levels, or one level. Each level's mean must satisfy the comparison.

use std::fmt;
use std::str::FromStr;

use lottery_results::summary::MetricCurves;

/// The matching band's margin for `matching_density` expectations (fraction of the dense value).
pub const MATCHING_MARGIN: f64 = 0.01;

#[derive(Debug, Clone, PartialEq)]
pub enum Quantity {
    Dense,
    Kind(String),
    Minus(String, String),
    MatchingDensity,
    Auc,
    SparsestDensity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    AtLeast,
    AtMost,
    Above,
    Below,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Every,
    Sparsest(usize),
    Level(u32),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub quantity: Quantity,
    pub metric: Option<String>,
    pub op: Op,
    pub bound: f64,
    pub scope: Scope,
    text: String,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            ">=" => Op::AtLeast,
            "<=" => Op::AtMost,
            ">" => Op::Above,
            "<" => Op::Below,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Op::AtLeast => ">=",
            Op::AtMost => "<=",
            Op::Above => ">",
            Op::Below => "<",
        }
    }

    pub fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            Op::AtLeast => value >= bound,
            Op::AtMost => value <= bound,
            Op::Above => value > bound,
            Op::Below => value < bound,
        }
    }
}

fn kind_name(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` is not a quantity: use dense, a ticket kind (winning, reinit, shuffle, ...), KIND_minus_KIND, matching_density, auc or sparsest_density"))
    }
}

impl FromStr for Expectation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let usage = "write QUANTITY [METRIC] OP NUMBER [at every level | at sparsest N | at level L], e.g. `winning_minus_reinit test_accuracy >= 0 at sparsest 2`";
        let Some(&first) = tokens.first() else { return Err(format!("empty; {usage}")) };
        let quantity = match first {
            "dense" => Quantity::Dense,
            "matching_density" => Quantity::MatchingDensity,
            "auc" => Quantity::Auc,
            "sparsest_density" => Quantity::SparsestDensity,
            other => match other.split_once("_minus_") {
                Some((a, b)) => Quantity::Minus(kind_name(a)?, kind_name(b)?),
                None => Quantity::Kind(kind_name(other)?),
            },
        };
        let looks_like_op = |t: &str| t.chars().all(|c| "<>=!".contains(c));
        let (metric, rest) = match tokens.get(1).copied().filter(|t| looks_like_op(t)) {
            Some(_) => (None, &tokens[1..]),
            None => match tokens.get(1) {
                Some(m) => (Some(m.to_string()), &tokens[2..]),
                None => return Err(format!("no comparison; {usage}")),
            },
        };
        let op_text = rest.first().ok_or_else(|| format!("no comparison; {usage}"))?;
        let op = Op::parse(op_text).ok_or_else(|| format!("`{op_text}` is not a comparison: use >=, <=, > or <"))?;
        let bound_text = rest.get(1).ok_or_else(|| format!("no number after {op_text}; {usage}"))?;
        let bound: f64 = bound_text.parse().ok().filter(|v: &f64| v.is_finite()).ok_or_else(|| format!("`{bound_text}` is not a number"))?;
        let scope = match &rest[2..] {
            [] => Scope::Every,
            ["at", "every", "level"] => Scope::Every,
            ["at", "sparsest", n] => Scope::Sparsest(n.parse().ok().filter(|&n: &usize| n > 0).ok_or_else(|| format!("`at sparsest {n}`: use a whole number of levels >= 1"))?),
            ["at", "level", l] => Scope::Level(l.parse().map_err(|_| format!("`at level {l}`: use a level number"))?),
            other => return Err(format!("`{}` is not a scope: use at every level, at sparsest N or at level L", other.join(" "))),
        };
        if scope != Scope::Every && !matches!(quantity, Quantity::Kind(_) | Quantity::Minus(..)) {
            return Err(format!("`{first}` is one number per run: it takes no `at ...`"));
        }
        Ok(Expectation { quantity, metric, op, bound, scope, text: tokens.join(" ") })
    }
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What an expectation measured: the value shown (the worst level's, for a scope of levels),
/// whether it held, and a sentence with the numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub value: Option<f64>,
    pub passed: bool,
    pub detail: String,
}

impl Expectation {
    /// The ticket kinds the expectation reads (the run must train them).
    pub fn kinds(&self) -> Vec<&str> {
        match &self.quantity {
            Quantity::Kind(k) => vec![k],
            Quantity::Minus(a, b) => vec![a, b],
            _ => vec![],
        }
    }

    /// Judges the expectation on one metric's curves.
    pub fn judge(&self, curves: &MetricCurves) -> Judged {
        let bound = format!("{} {}", self.op.as_str(), self.bound);
        let scalar = |value: Option<f64>, what: &str| match value {
            Some(v) => {
                let passed = self.op.holds(v, self.bound);
                Judged { value: Some(v), passed, detail: format!("{what} is {v:.6}, expected {bound}") }
            }
            None => Judged { value: None, passed: false, detail: format!("no value: the run has no {what} for this metric") },
        };
        let level_values = |f: &dyn Fn(&lottery_results::summary::LevelPoint) -> Option<f64>| -> Vec<(u32, f64, f64)> {
            curves.points.iter().filter_map(|p| f(p).map(|v| (p.level, p.density, v))).collect()
        };
        let (values, what) = match &self.quantity {
            Quantity::Dense => return scalar(curves.dense().map(|d| d.mean), "the dense network (level 0)"),
            Quantity::MatchingDensity => {
                let matching = curves.matching_density(MATCHING_MARGIN);
                let mut judged = scalar(matching.map(|m| m.density), "matching density");
                if matching.is_some_and(|m| m.censored) {
                    judged.detail.push_str(" (censored: no level left the band, so it is at most this)");
                }
                return judged;
            }
            Quantity::Auc => return scalar(curves.auc_log_density(&curves.subject), "area under the winning curve"),
            Quantity::SparsestDensity => return scalar(curves.sparsest_density(), "sparsest density"),
            Quantity::Kind(k) => (level_values(&|p| p.kinds.get(k).map(|s| s.mean)), k.clone()),
            Quantity::Minus(a, b) => (level_values(&|p| Some(p.kinds.get(a)?.mean - p.kinds.get(b)?.mean)), format!("{a} - {b}")),
        };
        let in_scope: Vec<(u32, f64, f64)> = match self.scope {
            Scope::Every => values,
            Scope::Sparsest(n) => values[values.len().saturating_sub(n)..].to_vec(),
            Scope::Level(l) => values.into_iter().filter(|(level, _, _)| *level == l).collect(),
        };
        if in_scope.is_empty() {
            return Judged { value: None, passed: false, detail: format!("no level has {what} in scope (was every kind it reads trained?)") };
        }
        let failing: Vec<&(u32, f64, f64)> = in_scope.iter().filter(|(_, _, v)| !self.op.holds(*v, self.bound)).collect();
        let worst = in_scope
            .iter()
            .min_by(|a, b| {
                let key = |v: f64| if matches!(self.op, Op::AtLeast | Op::Above) { v } else { -v };
                key(a.2).total_cmp(&key(b.2))
            })
            .expect("not empty");
        let levels = |list: &[&(u32, f64, f64)]| list.iter().map(|(l, d, v)| format!("level {l} (density {d:.4}): {v:.6}")).collect::<Vec<_>>().join(", ");
        let all: Vec<&(u32, f64, f64)> = in_scope.iter().collect();
        if failing.is_empty() {
            Judged { value: Some(worst.2), passed: true, detail: format!("{what} {bound} at {}", levels(&all)) }
        } else {
            Judged { value: Some(worst.2), passed: false, detail: format!("{what} expected {bound}, but {}", levels(&failing)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lottery_results::summary::{LevelPoint, Stat};
    use lottery_results::Direction;
    use std::collections::BTreeMap;

    fn curves() -> MetricCurves {
        let stat = |mean| Stat { mean, std: None, n: 1 };
        let point = |level: u32, w: f64, r: Option<f64>| {
            let mut kinds = BTreeMap::from([("winning".to_string(), stat(w))]);
            if let Some(r) = r {
                kinds.insert("reinit".into(), stat(r));
            }
            LevelPoint { level, density: 0.8f64.powi(level as i32), kinds }
        };
        let points = vec![point(0, 0.95, None), point(1, 0.96, Some(0.97)), point(2, 0.95, Some(0.93)), point(3, 0.94, Some(0.90))];
        MetricCurves { metric: "test_accuracy".into(), direction: Direction::Higher, subject: "winning".into(), points }
    }

    fn judge(text: &str) -> Judged {
        text.parse::<Expectation>().unwrap().judge(&curves())
    }

    #[test]
    fn parses_the_documented_forms() {
        let e: Expectation = "winning_minus_reinit test_accuracy >= 0 at sparsest 2".parse().unwrap();
        assert_eq!(e.quantity, Quantity::Minus("winning".into(), "reinit".into()));
        assert_eq!((e.metric.as_deref(), e.op, e.bound, e.scope), (Some("test_accuracy"), Op::AtLeast, 0.0, Scope::Sparsest(2)));
        assert_eq!(e.kinds(), ["winning", "reinit"]);
        let d: Expectation = "dense  >= 0.95".parse().unwrap();
        assert_eq!((&d.quantity, &d.metric, d.scope), (&Quantity::Dense, &None, Scope::Every));
        assert_eq!(d.to_string(), "dense >= 0.95");
        assert_eq!("reinit < 1 at level 3".parse::<Expectation>().unwrap().scope, Scope::Level(3));
        for (bad, says) in [
            ("dense => 1", "`=>` is not a comparison"),
            ("dense >= high", "`high` is not a number"),
            ("auc >= 1 at sparsest 2", "takes no `at ...`"),
            ("winning >= 1 at sparsest 0", "whole number of levels"),
            ("winning >= 1 somewhere", "is not a scope"),
            ("Winning >= 1", "is not a quantity"),
            ("dense", "no comparison"),
        ] {
            let err = bad.parse::<Expectation>().unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn each_level_in_scope_must_hold_and_the_worst_is_reported() {
        let every = judge("winning_minus_reinit >= 0");
        assert!(!every.passed);
        assert!(every.detail.contains("level 1 (density 0.8000): -0.010000"), "{}", every.detail);
        assert!((every.value.unwrap() + 0.01).abs() < 1e-12);
        let sparsest = judge("winning_minus_reinit >= 0 at sparsest 2");
        assert!(sparsest.passed, "{}", sparsest.detail);
        assert!((sparsest.value.unwrap() - 0.02).abs() < 1e-12);
        assert!(judge("winning <= 0.95 at level 2").passed);
        assert!(!judge("winning < 0.95 at level 2").passed);
        assert!(!judge("shuffle >= 0").passed, "a kind the run lacks fails");
        assert!(judge("dense >= 0.95").passed);
        assert!(!judge("dense > 0.95").passed);
        assert!(judge("sparsest_density <= 0.52").passed);
    }
}
