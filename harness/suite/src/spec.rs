//! The suite file.
//!
//! ```toml
//! name = "nightly"                 # default: the file's stem
//! [tolerance]                      # against a baseline; each entry may override any field
//! sigmas = 3.0                     # standard errors of the difference (both runs' spreads)
//! margin = 0.0                     # absolute floor
//! relative = 0.01                  # floor as a fraction of the baseline's |value|
//!
//! [[entry]]
//! name = "mnist"                   # default: the task; unique within the suite
//! task = "image/mnist-lenet"
//! preset = "quick"                 # default: quick
//! prune = 0.9                      # run options: as `harness run`'s flags
//! rate = 0.2
//! rewind = "0"
//! controls = ["reinit", "shuffle"]
//! replicates = 3
//! seed = 0
//! set = { lr = 0.0012 }
//! metrics = ["test_accuracy"]      # compared against the baseline (default: all)
//! expect = ["dense test_accuracy >= 0.95", "winning_minus_reinit >= 0 at sparsest 2"]
//! tolerance = { relative = 0.02 }
//! ```
//!
//! A regression is a (level, ticket kind, metric) whose new mean is worse than the baseline's by
//! more than `max(sigmas x SE, margin, relative x |baseline|)`, with SE the standard error of the
//! difference of the two means, `sqrt(s1²/n1 + s2²/n2)`; where either side has one replicate
//! there is no SE and the floors alone decide (the report says so).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::expectation::Expectation;
use crate::SuiteError;

/// Tolerance against a baseline (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Tolerance {
    pub sigmas: f64,
    pub margin: f64,
    pub relative: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance { sigmas: 3.0, margin: 0.0, relative: 0.0 }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToleranceFile {
    sigmas: Option<Spanned<f64>>,
    margin: Option<Spanned<f64>>,
    relative: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    name: Option<String>,
    #[serde(default)]
    tolerance: ToleranceFile,
    #[serde(default)]
    entry: Vec<Spanned<EntryFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    name: Option<Spanned<String>>,
    task: Spanned<String>,
    preset: Option<Spanned<String>>,
    prune: Option<f64>,
    rate: Option<f64>,
    rewind: Option<Spanned<toml::Value>>,
    controls: Option<Spanned<Vec<String>>>,
    replicates: Option<Spanned<u32>>,
    seed: Option<u64>,
    #[serde(default)]
    set: BTreeMap<String, toml::Value>,
    metrics: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    expect: Vec<Spanned<String>>,
    tolerance: Option<ToleranceFile>,
}

/// One entry: a `harness run` and what is expected of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub name: String,
    /// The line the entry starts on, for messages about it.
    pub line: usize,
    pub task: String,
    /// The line of `task = ...`.
    pub task_line: usize,
    pub preset: String,
    pub prune: Option<f64>,
    pub rate: Option<f64>,
    pub rewind: Option<String>,
    pub controls: Option<Vec<String>>,
    pub replicates: Option<u32>,
    pub seed: Option<u64>,
    /// `--set KEY=VALUE` pairs, values as text.
    pub set: Vec<(String, String)>,
    /// Metrics compared against the baseline; `None`: all of the run's.
    pub metrics: Option<Vec<String>>,
    /// The line of `metrics = ...`.
    pub metrics_line: usize,
    pub expect: Vec<(Expectation, usize)>,
    pub tolerance: Tolerance,
}

/// A parsed suite.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    pub name: String,
    pub path: PathBuf,
    pub entries: Vec<Entry>,
}

/// The line (1-based) of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

impl Entry {
    /// The folder name of the entry's runs and baseline: its name with `/` as `-`.
    pub fn slug(&self) -> String {
        self.name.replace('/', "-")
    }

    /// The `harness run` arguments of the entry's settings (no folders, device or threads).
    pub fn run_args(&self) -> Vec<String> {
        let mut args = vec!["run".to_string(), self.task.clone(), "--preset".into(), self.preset.clone()];
        let mut flag = |name: &str, value: String| {
            args.push(format!("--{name}"));
            args.push(value);
        };
        if let Some(v) = self.prune {
            flag("prune", v.to_string());
        }
        if let Some(v) = self.rate {
            flag("rate", v.to_string());
        }
        if let Some(v) = &self.rewind {
            flag("rewind", v.clone());
        }
        if let Some(v) = &self.controls {
            flag("controls", v.join(","));
        }
        if let Some(v) = self.replicates {
            flag("replicates", v.to_string());
        }
        if let Some(v) = self.seed {
            flag("seed", v.to_string());
        }
        for (key, value) in &self.set {
            flag("set", format!("{key}={value}"));
        }
        args
    }
}

fn tolerance(base: Tolerance, file: &ToleranceFile, path: &Path, text: &str) -> Result<Tolerance, SuiteError> {
    let mut t = base;
    for (field, value, name) in [(&mut t.sigmas, &file.sigmas, "sigmas"), (&mut t.margin, &file.margin, "margin"), (&mut t.relative, &file.relative, "relative")] {
        if let Some(v) = value {
            if !(v.get_ref().is_finite() && *v.get_ref() >= 0.0) {
                return Err(SuiteError::Malformed { path: path.into(), line: line_of(text, v.span().start), message: format!("tolerance {name} = {}: use a number >= 0", v.get_ref()) });
            }
            *field = *v.get_ref();
        }
    }
    Ok(t)
}

impl Suite {
    pub fn read(path: &Path) -> Result<Self, SuiteError> {
        let text = std::fs::read_to_string(path).map_err(SuiteError::io(path))?;
        Self::parse(path, &text)
    }

    /// Parses a suite; `path` only names it in messages and gives the default name.
    pub fn parse(path: &Path, text: &str) -> Result<Self, SuiteError> {
        let malformed = |line: usize, message: String| SuiteError::Malformed { path: path.to_path_buf(), line, message };
        let file: SuiteFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(text, s.start));
            malformed(line, e.message().to_string())
        })?;
        if file.entry.is_empty() {
            return Err(malformed(1, "no [[entry]]: a suite runs at least one task (see suites/smoke.toml)".into()));
        }
        let base = tolerance(Tolerance::default(), &file.tolerance, path, text)?;
        let mut entries: Vec<Entry> = vec![];
        for spanned in &file.entry {
            let line = line_of(text, spanned.span().start);
            let e = spanned.get_ref();
            let (name, name_line) = match &e.name {
                Some(n) => (n.get_ref().clone(), line_of(text, n.span().start)),
                None => (e.task.get_ref().clone(), line_of(text, e.task.span().start)),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) || name.starts_with('.') {
                return Err(malformed(name_line, format!("entry name `{name}`: use letters, digits and - _ . / (it names the entry's folders)")));
            }
            if let Some(other) = entries.iter().find(|o| o.slug() == name.replace('/', "-")) {
                return Err(malformed(
                    name_line,
                    format!("a second entry named `{name}` (the first is on line {}): give each entry of the same task its own `name = \"...\"`", other.line),
                ));
            }
            let mut expect = vec![];
            for x in &e.expect {
                let at = line_of(text, x.span().start);
                let parsed = x.get_ref().parse::<Expectation>().map_err(|reason| malformed(at, format!("expectation `{}`: {reason}", x.get_ref())))?;
                expect.push((parsed, at));
            }
            let rewind = match &e.rewind {
                None => None,
                Some(v) => Some(match v.get_ref() {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(i) => i.to_string(),
                    other => return Err(malformed(line_of(text, v.span().start), format!("rewind = {other}: use a step such as 0, \"500it\" or \"2ep\""))),
                }),
            };
            if let Some(r) = &e.replicates {
                if *r.get_ref() == 0 {
                    return Err(malformed(line_of(text, r.span().start), "replicates = 0: use 1 or more".into()));
                }
            }
            let set = e
                .set
                .iter()
                .map(|(k, v)| {
                    let text = match v {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect();
            entries.push(Entry {
                name,
                line,
                task: e.task.get_ref().clone(),
                task_line: line_of(text, e.task.span().start),
                preset: e.preset.as_ref().map_or("quick".to_string(), |p| p.get_ref().clone()),
                prune: e.prune,
                rate: e.rate,
                rewind,
                controls: e.controls.as_ref().map(|c| c.get_ref().clone()),
                replicates: e.replicates.as_ref().map(|r| *r.get_ref()),
                seed: e.seed,
                set,
                metrics: e.metrics.as_ref().map(|m| m.get_ref().clone()),
                metrics_line: e.metrics.as_ref().map_or(line, |m| line_of(text, m.span().start)),
                expect,
                tolerance: match &e.tolerance {
                    Some(t) => tolerance(base, t, path, text)?,
                    None => base,
                },
            });
        }
        let name = file.name.unwrap_or_else(|| path.file_stem().map_or("suite".into(), |s| s.to_string_lossy().to_string()));
        Ok(Suite { name, path: path.to_path_buf(), entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Suite, String> {
        Suite::parse(Path::new("s.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn entries_take_run_options_expectations_and_tolerances() {
        let suite = parse(
            "[tolerance]\nsigmas = 2.0\nrelative = 0.01\n\n[[entry]]\ntask = \"control/cartpole\"\npreset = \"smoke\"\nreplicates = 2\nrewind = \"10it\"\n\
             set = { lr = 0.001, steps = \"60it\" }\nexpect = [\"dense test_return >= 10\"]\ntolerance = { margin = 5.0 }\n\n\
             [[entry]]\nname = \"ptb\"\ntask = \"lm/ptb-lstm\"\nrewind = 0\n",
        )
        .unwrap();
        assert_eq!(suite.name, "s");
        let a = &suite.entries[0];
        assert_eq!((a.name.as_str(), a.line, a.task_line), ("control/cartpole", 5, 6));
        assert_eq!(a.tolerance, Tolerance { sigmas: 2.0, margin: 5.0, relative: 0.01 });
        assert_eq!(a.expect[0].1, 11);
        assert_eq!(
            a.run_args(),
            ["run", "control/cartpole", "--preset", "smoke", "--rewind", "10it", "--replicates", "2", "--set", "lr=0.001", "--set", "steps=60it"]
        );
        let b = &suite.entries[1];
        assert_eq!((b.preset.as_str(), b.rewind.as_deref(), b.slug()), ("quick", Some("0"), "ptb".to_string()));
        assert_eq!(b.tolerance, Tolerance { sigmas: 2.0, margin: 0.0, relative: 0.01 });
    }

    #[test]
    fn malformed_suites_name_the_line_and_the_valid_choices() {
        let unknown = parse("[[entry]]\ntask = \"control/cartpole\"\nreplicate = 2\n").unwrap_err();
        assert!(unknown.starts_with("s.toml:3: unknown field `replicate`, expected one of"), "{unknown}");
        assert!(unknown.contains("`replicates`"), "{unknown}");
        let wrong_type = parse("[[entry]]\ntask = \"control/cartpole\"\n\nreplicates = \"two\"\n").unwrap_err();
        assert!(wrong_type.starts_with("s.toml:4:"), "{wrong_type}");
        let expectation = parse("[[entry]]\ntask = \"a\"\nexpect = [\n  \"dense >= 1\",\n  \"dense => 1\",\n]\n").unwrap_err();
        assert!(expectation.starts_with("s.toml:5: expectation `dense => 1`:"), "{expectation}");
        let twice = parse("[[entry]]\ntask = \"a\"\n[[entry]]\ntask = \"a\"\n").unwrap_err();
        assert!(twice.contains("s.toml:4: a second entry named `a` (the first is on line 1)"), "{twice}");
        assert!(parse("name = \"x\"\n").unwrap_err().contains("no [[entry]]"));
        assert!(parse("[tolerance]\nsigmas = -1.0\n[[entry]]\ntask = \"a\"\n").unwrap_err().starts_with("s.toml:2: tolerance sigmas = -1"));
    }
}
