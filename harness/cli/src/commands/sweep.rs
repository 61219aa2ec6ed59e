//! `harness sweep`: a sweep file expanded into units (one replicate of one run each), written as
//! a manifest plus a Slurm array, a local shell script or a Kubernetes Indexed Job, and
//! optionally submitted; `run-unit` runs one unit (what those scripts call) and `status` reads
//! where the units stand from the results folder.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{Args, Parser, Subcommand, ValueEnum};

use lottery_engine::tickets::TicketSources;
use lottery_sweep::manifest::{Machine, Manifest};
use lottery_sweep::spec::SweepFile;
use lottery_sweep::unit::{Outcome, UnitAttempt};
use lottery_sweep::{k8s, shell, slurm, status};

use crate::error::{exit_status, CliError};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    command: Option<SweepCommand>,
    #[command(flatten)]
    emit: EmitArgs,
}

#[derive(Subcommand)]
pub enum SweepCommand {
    /// Run one unit of a sweep (what the emitted scripts call on each node): its `harness run`,
    /// recorded in units/INDEX/state.json.
    RunUnit {
        /// The sweep.json that `harness sweep` wrote (or its folder).
        manifest: PathBuf,
        /// The unit's index (Slurm: $SLURM_ARRAY_TASK_ID; Kubernetes: $JOB_COMPLETION_INDEX).
        index: usize,
    },
    /// Units done, running, failed and pending, from the results folder alone (no scheduler
    /// query), with the failed units' errors.
    Status {
        /// The --out folder of `harness sweep`.
        results: PathBuf,
        /// Print JSON instead of the summary.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Emit {
    /// An sbatch array script (sweep.sbatch).
    Slurm,
    /// A script running the units on this machine, --jobs at a time (sweep.sh).
    Shell,
    /// A Kubernetes Indexed Job (sweep.k8s.yaml).
    K8s,
}

#[derive(Args)]
struct EmitArgs {
    /// The sweep file (TOML), e.g. sweeps/smoke.toml.
    #[arg(required = true)]
    sweep: Option<PathBuf>,
    /// The results folder: the manifest, the scripts, the units' records and the run folders.
    #[arg(long, required = true)]
    out: Option<PathBuf>,
    /// What to write.
    #[arg(long, required = true)]
    emit: Option<Emit>,
    /// Submit what was written: sbatch (slurm), run it and wait (shell), kubectl apply (k8s).
    #[arg(long)]
    submit: bool,
    /// Units at once: the array's %P (slurm), the script's concurrency (shell), the Job's
    /// parallelism (k8s) [default: the sweep file's; shell: cores / threads].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
    /// libtorch threads per unit [default: the sweep file's; else the unit's cpus (slurm, k8s)
    /// or cores / jobs (shell)].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// The data folder every unit reads (on a cluster: a path every node sees).
    #[arg(long, env = "LOTTERY_DATA", default_value = "data")]
    data_dir: PathBuf,
    /// Folder of Atari ROMs, for Atari tasks.
    #[arg(long)]
    rom_dir: Option<PathBuf>,
}

impl SweepArgs {
    /// Whether this invocation trains (`run-unit`), and so stops gracefully on signals.
    pub fn runs_a_unit(&self) -> bool {
        matches!(self.command, Some(SweepCommand::RunUnit { .. }))
    }
}

pub fn sweep(args: SweepArgs) -> Result<(), CliError> {
    match args.command {
        Some(SweepCommand::RunUnit { manifest, index }) => run_unit(&manifest, index),
        Some(SweepCommand::Status { results, json }) => {
            let report = status::status(&Manifest::read(&results)?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report).expect("a status serializes"));
            } else {
                print!("{}", report.render());
            }
            Ok(())
        }
        None => emit(args.emit),
    }
}

fn absolute(path: &Path) -> Result<PathBuf, CliError> {
    std::path::absolute(path).map_err(|e| CliError::BadValue { flag: "path", value: path.display().to_string(), requirement: e.to_string() })
}

fn cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

fn emit(args: EmitArgs) -> Result<(), CliError> {
    let (Some(sweep_path), Some(out), Some(emit)) = (args.sweep, args.out, args.emit) else {
        unreachable!("clap requires them without a subcommand")
    };
    let sweep = SweepFile::read(&sweep_path)?;
    let results = absolute(&out)?;
    let jobs = args.jobs.or(match emit {
        Emit::Slurm => sweep.slurm.parallel,
        Emit::Shell => sweep.shell.jobs,
        Emit::K8s => sweep.k8s.parallel,
    });
    let threads = args.threads.or(sweep.threads).or(match emit {
        Emit::Slurm | Emit::K8s => sweep.resources.cpus.map(|c| c.min(u16::MAX as u32) as u16),
        Emit::Shell => jobs.map(|j| (cores() / j).max(1) as u16),
    });
    let machine = Machine { device: sweep.device.flag(), threads, data_dir: absolute(&args.data_dir)?, rom_dir: args.rom_dir.as_deref().map(absolute).transpose()? };

    // Each run is checked the way `harness run` would check it (task, settings, data, plan)
    // before anything is written, and its folder resolved. On the CPU: the machine that writes
    // a sweep for GPU nodes may have none, and neither the checks nor the folder depend on it.
    let registry = lottery_tasks::builtin();
    let tickets = TicketSources::builtin();
    let checking = Machine { device: "cpu".into(), ..machine.clone() };
    let mut runs: Vec<(lottery_sweep::ExpandedRun, PathBuf)> = vec![];
    for run in sweep.expand() {
        let what = format!("{}{}", run.task, if run.label.is_empty() { String::new() } else { format!(" ({})", run.label) });
        let argv = lottery_sweep::manifest::unit_args(&run, 0, &checking, &results);
        let parsed = crate::Cli::try_parse_from(std::iter::once("harness".to_string()).chain(argv)).map_err(|e| CliError::SweepRun { run: what.clone(), reason: e.to_string().trim().to_string() })?;
        let crate::Command::Run(run_args) = parsed.command else { unreachable!("unit arguments start with `run`") };
        let prepared = crate::commands::run::prepare(*run_args, &registry, &tickets).map_err(|e| CliError::SweepRun { run: what.clone(), reason: e.to_string() })?;
        prepared.check().map_err(|e| CliError::SweepRun { run: what.clone(), reason: e.to_string() })?;
        if let Some((other, _)) = runs.iter().find(|(_, dir)| *dir == prepared.dir) {
            return Err(CliError::SweepRun {
                run: what,
                reason: format!("it is the same run as {} {} (folder {}): drop one of them", other.task, other.label, prepared.dir.display()),
            });
        }
        runs.push((run, prepared.dir));
    }
    let manifest = Manifest::new(&sweep, runs, &machine, &results);

    let harness_here = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "harness".into());
    let (file, text) = match emit {
        Emit::Slurm => (slurm::SCRIPT_FILE, slurm::script(&sweep, &manifest, sweep.slurm.harness.as_deref().unwrap_or(&harness_here), jobs)),
        Emit::Shell => {
            let jobs = jobs.unwrap_or_else(|| (cores() / threads.unwrap_or(1) as u32).max(1));
            (shell::SCRIPT_FILE, shell::script(&manifest, &harness_here, jobs))
        }
        Emit::K8s => (k8s::MANIFEST_FILE, k8s::job(&sweep, &manifest, &machine.data_dir).map_err(|e| CliError::BadValue { flag: "--emit", value: "k8s".into(), requirement: e.to_string() })?),
    };
    // Written only now that everything, the script included, could be made.
    manifest.write()?;
    let path = results.join(file);
    lottery_results::write_atomic(&path, text.as_bytes())?;
    if emit != Emit::K8s {
        make_executable(&path)?;
    }
    println!("{}: {} runs, {} units", sweep.name, manifest.runs.len(), manifest.units.len());
    println!("manifest: {}", manifest.path().display());
    println!("{}: {}", if emit == Emit::K8s { "job" } else { "script" }, path.display());
    let submit_line = match emit {
        Emit::Slurm => vec!["sbatch".to_string(), "--parsable".into(), path.display().to_string()],
        Emit::Shell => vec!["bash".to_string(), path.display().to_string()],
        Emit::K8s => vec!["kubectl".to_string(), "apply".into(), "-f".into(), path.display().to_string()],
    };
    if !args.submit {
        println!("submit with: {}", lottery_sweep::manifest::shell_line(&submit_line[0], &submit_line[1..]));
        println!("then: harness sweep status {}", results.display());
        return Ok(());
    }
    submit(emit, &submit_line, &results)
}

fn make_executable(path: &Path) -> Result<(), CliError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|e| lottery_results::ResultsError::Io { path: path.to_path_buf(), source: e })?;
    }
    Ok(())
}

fn submit(emit: Emit, line: &[String], results: &Path) -> Result<(), CliError> {
    let program = &line[0];
    let found = on_path(program);
    if emit == Emit::K8s && !found {
        println!("kubectl not found; apply the job from a machine with cluster access:");
        println!("  {}", lottery_sweep::manifest::shell_line(program, &line[1..]));
        return Ok(());
    }
    if !found {
        return Err(CliError::Submit { command: line.join(" "), reason: format!("{program} is not on the PATH; run this on a Slurm login node, or drop --submit and submit the script there") });
    }
    let mut command = Command::new(program);
    command.args(&line[1..]);
    match emit {
        Emit::Slurm => {
            let output = command.output().map_err(|e| CliError::Submit { command: line.join(" "), reason: e.to_string() })?;
            if !output.status.success() {
                return Err(CliError::Submit { command: line.join(" "), reason: String::from_utf8_lossy(&output.stderr).trim().to_string() });
            }
            let job = String::from_utf8_lossy(&output.stdout).trim().split(';').next().unwrap_or_default().to_string();
            println!("submitted job {job}");
            println!("follow with: harness sweep status {}", results.display());
            Ok(())
        }
        Emit::Shell | Emit::K8s => {
            let status = command.status().map_err(|e| CliError::Submit { command: line.join(" "), reason: e.to_string() })?;
            if status.success() {
                Ok(())
            } else {
                Err(CliError::Submit { command: line.join(" "), reason: format!("it exited with {status}; `harness sweep status {}` names the units that failed", results.display()) })
            }
        }
    }
}

/// Whether `program` is an executable file in a folder of PATH.
fn on_path(program: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else { return false };
    std::env::split_paths(&path).any(|dir| {
        let file = dir.join(program);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        }
        #[cfg(not(unix))]
        file.is_file()
    })
}

/// One unit: its `harness run`, with the attempt recorded whatever its end.
fn run_unit(manifest_path: &Path, index: usize) -> Result<(), CliError> {
    let manifest = lottery_sweep::Manifest::read(manifest_path)?;
    let unit = manifest.unit(index)?;
    let parsed = crate::Cli::try_parse_from(std::iter::once("harness".to_string()).chain(unit.args.iter().cloned()))
        .map_err(|e| lottery_sweep::SweepError::BadManifest { path: manifest.path(), reason: format!("unit {index}: {}", e.to_string().trim()) })?;
    let crate::Command::Run(run_args) = parsed.command else {
        return Err(lottery_sweep::SweepError::BadManifest { path: manifest.path(), reason: format!("unit {index} is not a `harness run`") }.into());
    };
    let attempt = UnitAttempt::begin(&manifest.unit_dir(index), lottery_sweep::unit::scheduler_from_env())??;
    eprintln!("unit {index}: {}", unit.command);
    let result = crate::commands::run::run(*run_args);
    let (outcome, error) = match &result {
        Ok(()) => (Outcome::Done, None),
        Err(CliError::Engine(lottery_engine::EngineError::Stopped { .. })) => (Outcome::Stopped, Some(result.as_ref().unwrap_err().to_string())),
        Err(e) => (Outcome::Failed, Some(format!("error: {e}"))),
    };
    let exit = result.as_ref().err().map_or(0, exit_status);
    attempt.end(outcome, exit, error)?;
    result
}
