//! A suite's reports: JUnit XML for CI systems (one testcase per check, failure messages with
//! the numbers), a Markdown summary for a CI job's page, and `suite.json` for programs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use lottery_results::write_atomic;

use crate::judge::{EntryOutcome, Verdict};
use crate::SuiteError;

/// The whole suite's outcome, as `suite.json` holds it.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteReport {
    pub suite: String,
    pub file: PathBuf,
    pub baseline: Option<PathBuf>,
    pub started: String,
    /// Wall-clock seconds of the whole `suite run`.
    pub seconds: f64,
    pub jobs: usize,
    pub harness_version: String,
    pub source_commit: String,
    pub entries: Vec<EntryOutcome>,
}

impl SuiteReport {
    pub fn checks(&self) -> usize {
        self.entries.iter().map(|e| e.checks.len()).sum()
    }

    pub fn failures(&self) -> usize {
        self.entries.iter().map(|e| e.failures()).sum()
    }

    pub fn passed(&self) -> bool {
        self.failures() == 0
    }

    pub fn write_json(&self, path: &Path) -> Result<(), SuiteError> {
        let text = serde_json::to_string_pretty(self).expect("a report serializes");
        Ok(write_atomic(path, text.as_bytes())?)
    }

    pub fn write_junit(&self, path: &Path) -> Result<(), SuiteError> {
        Ok(write_atomic(path, self.junit().as_bytes())?)
    }

    pub fn write_markdown(&self, path: &Path) -> Result<(), SuiteError> {
        Ok(write_atomic(path, self.markdown().as_bytes())?)
    }

    /// JUnit XML: a `<testsuite>` per entry, a `<testcase>` per check; failed checks carry a
    /// `<failure>`, entries whose run failed an `<error>`.
    pub fn junit(&self) -> String {
        let count = |e: &EntryOutcome, v: Verdict| e.checks.iter().filter(|c| c.verdict == v).count();
        let errors: usize = self.entries.iter().map(|e| count(e, Verdict::Error)).sum();
        let failures: usize = self.entries.iter().map(|e| count(e, Verdict::Fail)).sum();
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            xml,
            "<testsuites name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{:.3}\">",
            escape(&self.suite),
            self.checks(),
            self.seconds
        );
        for entry in &self.entries {
            let _ = writeln!(
                xml,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3}\" timestamp=\"{}\">",
                escape(&entry.name),
                entry.checks.len(),
                count(entry, Verdict::Fail),
                count(entry, Verdict::Error),
                entry.seconds,
                escape(self.started.trim_end_matches('Z')),
            );
            let _ = writeln!(
                xml,
                "    <properties><property name=\"task\" value=\"{}\"/><property name=\"preset\" value=\"{}\"/><property name=\"run_dir\" value=\"{}\"/></properties>",
                escape(&entry.task),
                escape(&entry.preset),
                escape(&entry.run_dir.display().to_string())
            );
            let classname = format!("{}.{}", self.suite, entry.name);
            for check in &entry.checks {
                let kind = serde_json::to_value(check.kind).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
                // The run's testcase carries the run's time; judging takes no measurable time.
                let time = if check.kind == crate::CheckKind::Run { entry.seconds } else { 0.0 };
                let _ = write!(xml, "    <testcase classname=\"{}\" name=\"{}: {}\" time=\"{time:.3}\"", escape(&classname), kind, escape(&check.name));
                let message = format!("{}: {}: {}", entry.name, check.name, check.message);
                match check.verdict {
                    Verdict::Pass | Verdict::Improved => {
                        let _ = writeln!(xml, "><system-out>{}</system-out></testcase>", escape(&check.message));
                    }
                    Verdict::Fail => {
                        let _ = writeln!(xml, "><failure message=\"{}\" type=\"{kind}\">{}</failure></testcase>", escape(&message), escape(&message));
                    }
                    Verdict::Error => {
                        let _ = writeln!(xml, "><error message=\"{}\" type=\"run\">{}</error></testcase>", escape(&message), escape(&message));
                    }
                }
            }
            xml.push_str("  </testsuite>\n");
        }
        xml.push_str("</testsuites>\n");
        xml
    }

    /// A Markdown summary: the failures first, then every check in a collapsed table.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let verdict = if self.passed() { "passed" } else { "FAILED" };
        let _ = writeln!(
            md,
            "## Suite `{}`: {verdict}\n\n{} entries, {} checks, {} failed; {:.0} s wall clock with {} job(s); harness {} ({}){}.\n",
            self.suite,
            self.entries.len(),
            self.checks(),
            self.failures(),
            self.seconds,
            self.jobs,
            self.harness_version,
            &self.source_commit[..self.source_commit.len().min(12)],
            self.baseline.as_ref().map_or(String::new(), |b| format!("; baseline {}", b.display())),
        );
        md.push_str("| entry | task | run time | checks | failed |\n|---|---|---:|---:|---:|\n");
        for e in &self.entries {
            let _ = writeln!(md, "| {} | {} ({}) | {:.0} s | {} | {} |", cell(&e.name), cell(&e.task), e.preset, e.seconds, e.checks.len(), e.failures());
        }
        let header = "| entry | check | expected / baseline | now | difference | verdict |\n|---|---|---|---|---:|---|\n";
        let row = |e: &EntryOutcome, c: &crate::Check| {
            format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                cell(&e.name),
                cell(&c.name),
                cell(c.expected.as_deref().unwrap_or("")),
                cell(c.now.as_deref().unwrap_or("")),
                c.difference.map_or(String::new(), |d| format!("{d:+.6}")),
                c.verdict.as_str()
            )
        };
        let failing: Vec<String> = self.entries.iter().flat_map(|e| e.checks.iter().filter(|c| !c.verdict.is_ok()).map(move |c| (e, c))).map(|(e, c)| row(e, c)).collect();
        if !failing.is_empty() {
            md.push_str("\n### Failures\n\n");
            md.push_str(header);
            md.extend(failing);
            md.push_str("\nDetails:\n\n");
            for e in &self.entries {
                for c in e.checks.iter().filter(|c| !c.verdict.is_ok()) {
                    let _ = writeln!(md, "- **{}**, {}: {}", cell(&e.name), cell(&c.name), cell(&c.message));
                }
            }
        }
        let _ = write!(md, "\n<details><summary>All {} checks</summary>\n\n{header}", self.checks());
        for e in &self.entries {
            for c in &e.checks {
                md.push_str(&row(e, c));
            }
        }
        md.push_str("\n</details>\n");
        md
    }
}

/// Text for a Markdown table cell: pipes escaped, lines joined.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// XML character data and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            // Control characters other than tab and newline are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{Check, CheckKind};

    fn report(verdict: Verdict) -> SuiteReport {
        let check = Check {
            kind: CheckKind::Baseline,
            name: "winning test_accuracy at level 1 (density 0.8000)".into(),
            metric: Some("test_accuracy".into()),
            level: Some(1),
            expected: Some("0.95 (n=1)".into()),
            now: Some("0.90 (n=1)".into()),
            difference: Some(-0.05),
            tolerance: Some(0.01),
            verdict,
            message: "baseline 0.95 < & > now 0.90".into(),
        };
        SuiteReport {
            suite: "smoke".into(),
            file: "suites/smoke.toml".into(),
            baseline: None,
            started: "2026-11-28T12:00:00Z".into(),
            seconds: 1.0,
            jobs: 1,
            harness_version: "0.1.0".into(),
            source_commit: "abc".into(),
            entries: vec![EntryOutcome {
                name: "mnist".into(),
                task: "image/mnist-lenet".into(),
                preset: "smoke".into(),
                run_dir: "out/runs/mnist/x".into(),
                log: "out/logs/mnist.log".into(),
                seconds: 1.0,
                checks: vec![check],
            }],
        }
    }

    #[test]
    fn junit_failures_carry_the_entry_check_and_escaped_numbers() {
        let xml = report(Verdict::Fail).junit();
        assert!(xml.contains("<testsuites name=\"smoke\" tests=\"1\" failures=\"1\" errors=\"0\""), "{xml}");
        assert!(xml.contains("<failure message=\"mnist: winning test_accuracy at level 1 (density 0.8000): baseline 0.95 &lt; &amp; &gt; now 0.90\""), "{xml}");
        assert!(!report(Verdict::Pass).junit().contains("<failure"));
    }

    #[test]
    fn markdown_lists_failures_before_the_full_table() {
        let md = report(Verdict::Fail).markdown();
        let failures = md.find("### Failures").unwrap();
        assert!(md[failures..].contains("| mnist | winning test_accuracy at level 1 (density 0.8000) | 0.95 (n=1) | 0.90 (n=1) | -0.050000 | FAIL |"), "{md}");
        assert!(md.starts_with("## Suite `smoke`: FAILED"));
        assert!(!report(Verdict::Pass).markdown().contains("### Failures"));
    }
}
