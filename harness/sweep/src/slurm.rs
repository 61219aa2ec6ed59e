//! `--emit slurm`: an `sbatch` job array, one array task per unit.
//!
//! Each array task runs `harness sweep run-unit MANIFEST $SLURM_ARRAY_TASK_ID` in the
//! background and forwards SIGUSR1 and SIGTERM to it: Slurm sends SIGUSR1 to the batch shell
//! `signal_seconds` before the time limit (`--signal=B:USR1@N`), and SIGTERM to the job when it
//! is preempted or cancelled. The unit then finishes its optimizer step, writes a checkpoint and
//! exits with status 75, on which the script requeues its own array task (`--requeue`); the
//! requeued task resumes from the checkpoint. The output of each attempt is appended to
//! `units/<N>/slurm-<jobid>.out`.

use crate::manifest::{shell_quote, Manifest};
use crate::spec::SweepFile;

pub const SCRIPT_FILE: &str = "sweep.sbatch";
/// Seconds before the time limit at which Slurm asks a unit to stop.
pub const DEFAULT_SIGNAL_SECONDS: u32 = 120;

/// The batch script. `harness` is the binary's path on the compute nodes; `parallel` caps how
/// many units run at once.
pub fn script(sweep: &SweepFile, manifest: &Manifest, harness: &str, parallel: Option<u32>) -> String {
    let results = manifest.results.display().to_string();
    let last = manifest.units.len().saturating_sub(1);
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!("# Written by `harness sweep {} --emit slurm`: {} units, one array task each.", sweep.path.display(), manifest.units.len()),
        "# Submit it with `sbatch` (or `harness sweep ... --submit`); follow it with".to_string(),
        format!("# `harness sweep status {}` and collect with `harness collect {}`.", shell_quote(&results), shell_quote(&results)),
        format!("#SBATCH --job-name={}", sweep.name),
        format!("#SBATCH --array=0-{last}{}", parallel.map(|p| format!("%{p}")).unwrap_or_default()),
        format!("#SBATCH --output={results}/units/%a/slurm-%A.out"),
        "#SBATCH --open-mode=append".to_string(),
        "#SBATCH --ntasks=1".to_string(),
        format!("#SBATCH --cpus-per-task={}", sweep.cpus()),
    ];
    if let Some(memory) = &sweep.resources.memory {
        lines.push(format!("#SBATCH --mem={memory}"));
    }
    if let Some(time) = &sweep.resources.time {
        lines.push(format!("#SBATCH --time={time}"));
    }
    if sweep.gpus() > 0 {
        lines.push(format!("#SBATCH --gres=gpu:{}", sweep.gpus()));
    }
    for (flag, value) in [("partition", &sweep.slurm.partition), ("account", &sweep.slurm.account), ("qos", &sweep.slurm.qos)] {
        if let Some(value) = value {
            lines.push(format!("#SBATCH --{flag}={value}"));
        }
    }
    lines.push("#SBATCH --requeue".to_string());
    lines.push(format!("#SBATCH --signal=B:USR1@{}", sweep.slurm.signal_seconds.unwrap_or(DEFAULT_SIGNAL_SECONDS)));
    for extra in &sweep.slurm.extra {
        lines.push(format!("#SBATCH {extra}"));
    }
    lines.push(String::new());
    lines.push(format!(
        r#"set -u
harness=${{LOTTERY_HARNESS:-{harness}}}
manifest={manifest}
echo "unit $SLURM_ARRAY_TASK_ID: job ${{SLURM_ARRAY_JOB_ID}}_$SLURM_ARRAY_TASK_ID, restart ${{SLURM_RESTART_COUNT:-0}}, on $(hostname), $(date -u +%FT%TZ)"
"$harness" sweep run-unit "$manifest" "$SLURM_ARRAY_TASK_ID" &
unit=$!
# Ask the unit to checkpoint and stop: before the time limit (USR1), on preemption (TERM).
trap 'kill -USR1 "$unit" 2>/dev/null' USR1 TERM
# `wait` returns early when a trapped signal arrives; wait again until the unit has exited.
while :; do
  wait "$unit"
  status=$?
  kill -0 "$unit" 2>/dev/null || break
done
if [ "$status" -eq 75 ]; then
  echo "unit $SLURM_ARRAY_TASK_ID stopped with a checkpoint; requeueing it"
  scontrol requeue "${{SLURM_ARRAY_JOB_ID}}_$SLURM_ARRAY_TASK_ID"
fi
exit "$status""#,
        harness = shell_quote(harness),
        manifest = shell_quote(&manifest.path().display().to_string()),
    ));
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Machine;
    use std::path::Path;

    #[test]
    fn resources_become_sbatch_options_and_cuda_asks_for_a_gpu() {
        let text = "name = \"fig\"\nreplicates = 3\ndevice = \"cuda\"\n[resources]\ncpus = 4\nmemory = \"16G\"\ntime = \"02:00:00\"\n[slurm]\npartition = \"gpu\"\naccount = \"lab\"\nextra = [\"--constraint=a100\"]\n[[runs]]\ntask = \"a\"\n[runs.grid]\nseed = [0, 1]\n";
        let sweep = SweepFile::parse(Path::new("fig.toml"), text).unwrap();
        let machine = Machine { device: "cuda".into(), threads: None, data_dir: "/data".into(), rom_dir: None };
        let runs = sweep.expand().into_iter().enumerate().map(|(i, r)| (r, format!("/r/runs/{i}").into())).collect();
        let manifest = Manifest::new(&sweep, runs, &machine, Path::new("/r"));
        let text = script(&sweep, &manifest, "/opt/harness", Some(4));
        for line in [
            "#SBATCH --array=0-5%4",
            "#SBATCH --cpus-per-task=4",
            "#SBATCH --mem=16G",
            "#SBATCH --time=02:00:00",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --partition=gpu",
            "#SBATCH --account=lab",
            "#SBATCH --requeue",
            "#SBATCH --signal=B:USR1@120",
            "#SBATCH --constraint=a100",
            "#SBATCH --output=/r/units/%a/slurm-%A.out",
            "harness=${LOTTERY_HARNESS:-/opt/harness}",
            "manifest=/r/sweep.json",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
        assert!(!SweepFile::parse(Path::new("c.toml"), "name = \"c\"\n[[runs]]\ntask = \"a\"\n").map(|s| script(&s, &manifest, "h", None)).unwrap().contains("--gres"));
    }
}
