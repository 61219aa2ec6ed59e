//! `--emit shell`: a script that runs every unit on this machine, `jobs` at a time (`xargs -P`,
//! as GNU parallel would), each unit's output in `units/<N>/shell.log`. It exits 0 only if every
//! unit did; `harness sweep status` then says which did not.

use crate::manifest::{shell_quote, Manifest};

pub const SCRIPT_FILE: &str = "sweep.sh";

pub fn script(manifest: &Manifest, harness: &str, jobs: u32) -> String {
    let results = manifest.results.display().to_string();
    format!(
        r#"#!/usr/bin/env bash
# Written by `harness sweep --emit shell`: runs the {count} units of {manifest_path}, {jobs} at a
# time (JOBS=N overrides), on this machine. A unit already done is skipped quickly; a stopped one
# resumes from its checkpoint.
set -u
harness=${{LOTTERY_HARNESS:-{harness}}}
manifest={manifest}
results={results}
jobs=${{JOBS:-{jobs}}}
seq 0 {last} | xargs -P "$jobs" -I UNIT sh -c '"$0" sweep run-unit "$1" UNIT >>"$2/units/UNIT/shell.log" 2>&1' "$harness" "$manifest" "$results"
status=$?
"$harness" sweep status "$results"
exit $status
"#,
        count = manifest.units.len(),
        manifest_path = manifest.path().display(),
        harness = shell_quote(harness),
        manifest = shell_quote(&manifest.path().display().to_string()),
        results = shell_quote(&results),
        last = manifest.units.len().saturating_sub(1),
    )
}
