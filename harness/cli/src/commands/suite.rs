//! `harness suite run SUITE.toml --out DIR`: every entry of a suite run (or resumed) as its own
//! `harness run` process, `--jobs` at a time with the cores split between them, then judged
//! against its expectations and a baseline, with JUnit, Markdown and JSON reports.
//!
//! Everything that can refuse the suite (its syntax, tasks, presets, settings, each entry's plan,
//! metrics, the kinds its expectations read, a missing baseline) is checked before the first run
//! starts.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use clap::{Args, Subcommand};

use lottery_engine::config::{Overrides, RunConfig};
use lottery_engine::device::DeviceChoice;
use lottery_engine::run::{comparison_metrics, Run};
use lottery_engine::tickets::TicketSources;
use lottery_engine::Step;
use lottery_results::provenance::{utc_now, SOURCE_COMMIT, VERSION};
use lottery_results::summary::RunSummary;
use lottery_results::TicketKind;
use lottery_suite::report::SuiteReport;
use lottery_suite::{baseline, judge, Check, CheckKind, Entry, EntryOutcome, Suite, SuiteError, Verdict};
use lottery_task::{Preset, TaskEnv};

use crate::error::CliError;

#[derive(Subcommand)]
pub enum SuiteCommand {
    /// Run (or resume) every entry of a suite file, then judge each against its expectations and,
    /// with --baseline, against a baseline. Exit status 0: all pass; 1: a regression, a failed
    /// expectation or a failed run; 2: a malformed suite.
    Run(SuiteRunArgs),
}

#[derive(Args)]
pub struct SuiteRunArgs {
    /// The suite file (TOML; see suites/smoke.toml).
    suite: PathBuf,
    /// Folder of the suite's runs (runs/<entry>/), logs (logs/<entry>.log) and reports
    /// (suite.json, junit.xml, summary.md). Rerunning with the same folder resumes.
    #[arg(long)]
    out: PathBuf,
    /// A baseline folder to compare with (written by --update-baseline).
    #[arg(long, conflicts_with = "update_baseline")]
    baseline: Option<PathBuf>,
    /// Write (or refresh) this baseline folder from the runs, on purpose.
    #[arg(long, value_name = "BASELINE_DIR")]
    update_baseline: Option<PathBuf>,
    /// JUnit XML report [default: OUT/junit.xml].
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Markdown summary [default: OUT/summary.md].
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Entries run side by side; each gets cores / N libtorch threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: u16,
    /// libtorch threads per entry, instead of cores / --jobs.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// auto (CUDA when present), cpu, cuda or cuda:N, for every entry.
    #[arg(long, default_value = "auto", value_parser = parse_device)]
    device: String,
    #[arg(long, env = "LOTTERY_DATA", default_value = "data")]
    data_dir: PathBuf,
    /// Folder of Atari ROMs, for Atari entries.
    #[arg(long)]
    rom_dir: Option<PathBuf>,
}

fn parse_device(s: &str) -> Result<String, String> {
    s.parse::<DeviceChoice>().map(|_| s.to_string())
}

pub fn suite(command: SuiteCommand) -> Result<(), CliError> {
    match command {
        SuiteCommand::Run(args) => run(args),
    }
}

/// An entry checked against the registry: where its run folder will be.
struct Planned<'s> {
    entry: &'s Entry,
    run_dir: PathBuf,
    log: PathBuf,
}

fn malformed(suite: &Suite, line: usize, message: impl ToString) -> SuiteError {
    SuiteError::Malformed { path: suite.path.clone(), line, message: message.to_string() }
}

/// Resolves an entry like `harness run` would, so a bad one is refused before anything runs.
fn plan<'s>(suite: &'s Suite, entry: &'s Entry, out: &Path, env: &TaskEnv) -> Result<Planned<'s>, SuiteError> {
    let registry = lottery_tasks::builtin();
    let at_entry = |message: String| malformed(suite, entry.line, format!("entry `{}`: {message}", entry.name));
    let task = registry.get(&entry.task).map_err(|e| malformed(suite, entry.task_line, e))?;
    let preset: Preset = entry.preset.parse().map_err(|e: String| at_entry(e))?;
    let rewind = match &entry.rewind {
        Some(r) => Some(r.parse::<Step>().map_err(|e| at_entry(format!("rewind = {r}: {e}")))?),
        None => None,
    };
    let tickets = TicketSources::builtin();
    let overrides = Overrides {
        prune: entry.prune,
        rate: entry.rate,
        rewind,
        seed: entry.seed,
        set: entry.set.clone(),
        replicates: entry.replicates,
        controls: entry.controls.as_ref().map(|c| c.iter().cloned().map(TicketKind::from).collect()),
        ..Default::default()
    };
    let config = RunConfig::resolve(task, preset, overrides, &tickets).map_err(|e| at_entry(e.to_string()))?;
    let metrics: Vec<String> = comparison_metrics(task).into_iter().map(|m| m.name).collect();
    let unknown_metric = |m: &str| format!("no metric `{m}` for {}; it reports {}", entry.task, metrics.join(", "));
    for m in entry.metrics.iter().flatten() {
        if !metrics.contains(m) {
            return Err(malformed(suite, entry.metrics_line, unknown_metric(m)));
        }
    }
    for (expectation, line) in &entry.expect {
        if let Some(m) = expectation.metric.as_deref().filter(|m| !metrics.iter().any(|x| x == m)) {
            return Err(malformed(suite, *line, format!("expectation `{expectation}`: {}", unknown_metric(m))));
        }
        for kind in expectation.kinds() {
            if !config.controls.iter().any(|c| c.as_str() == kind) {
                let trained: Vec<&str> = config.controls.iter().map(|c| c.as_str()).collect();
                return Err(malformed(
                    suite,
                    *line,
                    format!("expectation `{expectation}` reads `{kind}`, which entry `{}` does not train ({}); add it to the entry's controls", entry.name, trained.join(", ")),
                ));
            }
        }
    }
    let run_dir = out.join("runs").join(entry.slug()).join(config.run_name(task));
    // The whole plan, as `harness run` checks it before writing (a rewind point after the end of
    // the budget, say). A failure that is not the entry's fault (data not there yet) is left to
    // the entry's run, where it is reported without stopping the others.
    let run = Run { dir: run_dir.clone(), config, task, env: env.clone(), tickets: &tickets, replicate: None };
    match run.check() {
        Err(e) if e.is_usage() => return Err(at_entry(e.to_string())),
        _ => {}
    }
    Ok(Planned { entry, run_dir, log: out.join("logs").join(format!("{}.log", entry.slug())) })
}

/// The last lines of a log, for a failed run's message.
fn tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn run(args: SuiteRunArgs) -> Result<(), CliError> {
    let started_at = utc_now();
    let started = Instant::now();
    let suite = Suite::read(&args.suite)?;
    let device = args.device.parse::<DeviceChoice>().map_err(|requirement| CliError::BadValue { flag: "--device", value: args.device.clone(), requirement })?;
    let env = TaskEnv { data_dir: args.data_dir.clone(), device: device.resolve()?, rom_dir: args.rom_dir.clone() };
    eprintln!("suite {}: checking {} entries", suite.name, suite.entries.len());
    let planned: Vec<Planned> = suite.entries.iter().map(|e| plan(&suite, e, &args.out, &env)).collect::<Result<_, _>>()?;
    if let Some(dir) = &args.baseline {
        if !dir.is_dir() {
            return Err(SuiteError::Baseline { dir: dir.clone(), reason: format!("no such folder; write a baseline on purpose with --update-baseline {}", dir.display()) }.into());
        }
        for p in &planned {
            baseline::read(dir, p.entry)?;
        }
    }
    let logs = args.out.join("logs");
    std::fs::create_dir_all(&logs).map_err(SuiteError::io(&logs))?;

    let jobs = usize::from(args.jobs).min(planned.len());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = args.threads.map_or((cores / jobs).max(1), usize::from);
    // Each entry is this same binary's `harness run`, in a process of its own.
    let exe = std::env::current_exe().map_err(SuiteError::io("the harness executable"))?;
    eprintln!("suite {}: {} entries, {jobs} at a time, {threads} libtorch thread(s) each; logs in {}", suite.name, planned.len(), logs.display());
    let queue = Mutex::new((0..planned.len()).collect::<VecDeque<usize>>());
    let results: Mutex<Vec<Option<(bool, f64, String)>>> = Mutex::new(vec![None; planned.len()]);
    let total = planned.len();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let Some(i) = queue.lock().expect("queue").pop_front() else { break };
                let p = &planned[i];
                eprintln!("[{}/{total}] {}: {} --preset {}", i + 1, p.entry.name, p.entry.task, p.entry.preset);
                let begin = Instant::now();
                let outcome = run_entry(&exe, p, &args, threads);
                let seconds = begin.elapsed().as_secs_f64();
                let (ok, status) = match outcome {
                    Ok(status) if status.success() => (true, "finished".to_string()),
                    Ok(status) => (false, format!("harness run failed ({status})")),
                    Err(e) => (false, format!("harness run could not start: {e}")),
                };
                eprintln!("[{}/{total}] {}: {status} in {seconds:.0} s", i + 1, p.entry.name);
                results.lock().expect("results")[i] = Some((ok, seconds, status));
            });
        }
    });
    let results = results.into_inner().expect("results");

    let mut entries = vec![];
    for (p, result) in planned.iter().zip(results) {
        let (ok, seconds, status) = result.expect("every entry ran");
        let mut outcome = EntryOutcome {
            name: p.entry.name.clone(),
            task: p.entry.task.clone(),
            preset: p.entry.preset.clone(),
            run_dir: p.run_dir.clone(),
            log: p.log.clone(),
            seconds,
            checks: vec![],
        };
        let run_check = |verdict, message: String| Check {
            kind: CheckKind::Run,
            name: "harness run".into(),
            metric: None,
            level: None,
            expected: None,
            now: None,
            difference: None,
            tolerance: None,
            verdict,
            message,
        };
        let summary = if ok { RunSummary::read(&p.run_dir).map_err(|e| e.to_string()) } else { Err(String::new()) };
        match summary {
            Ok(summary) => {
                let mut check = run_check(Verdict::Pass, format!("{status} in {seconds:.1} s: {}", p.run_dir.display()));
                check.now = Some(format!("{status} in {seconds:.0} s"));
                outcome.checks.push(check);
                outcome.checks.extend(judge::expectations(p.entry, &summary));
                if let Some(dir) = &args.baseline {
                    outcome.checks.extend(judge::against_baseline(p.entry, &summary, &baseline::read(dir, p.entry)?));
                }
                if let Some(dir) = &args.update_baseline {
                    baseline::write(dir, p.entry, &p.run_dir)?;
                }
            }
            Err(reason) => {
                let why = if ok { format!("its results are unreadable: {reason}") } else { status };
                outcome.checks.push(run_check(Verdict::Error, format!("{why}; log {}:\n{}", p.log.display(), tail(&p.log, 8))));
            }
        }
        entries.push(outcome);
    }

    let report = SuiteReport {
        suite: suite.name.clone(),
        file: args.suite.clone(),
        baseline: args.baseline.clone(),
        started: started_at,
        seconds: started.elapsed().as_secs_f64(),
        jobs,
        harness_version: VERSION.into(),
        source_commit: SOURCE_COMMIT.into(),
        entries,
    };
    let json = args.out.join("suite.json");
    let junit = args.junit.clone().unwrap_or_else(|| args.out.join("junit.xml"));
    let markdown = args.markdown.clone().unwrap_or_else(|| args.out.join("summary.md"));
    report.write_json(&json)?;
    report.write_junit(&junit)?;
    report.write_markdown(&markdown)?;

    for e in &report.entries {
        for c in e.checks.iter().filter(|c| !c.verdict.is_ok()) {
            println!("{} {}: {}: {}", c.verdict.as_str(), e.name, c.name, c.message);
        }
    }
    let improved = report.entries.iter().flat_map(|e| &e.checks).filter(|c| c.verdict == Verdict::Improved).count();
    println!(
        "suite {}: {} entries, {} checks, {} failed{} in {:.0} s",
        report.suite,
        report.entries.len(),
        report.checks(),
        report.failures(),
        if improved > 0 { format!(", {improved} better than the baseline beyond its tolerance") } else { String::new() },
        report.seconds
    );
    if let Some(dir) = &args.update_baseline {
        println!("baseline written: {}", dir.display());
    }
    println!("reports: {} {} {}", markdown.display(), junit.display(), json.display());
    if report.passed() {
        Ok(())
    } else {
        Err(CliError::SuiteFailed { failures: report.failures(), checks: report.checks(), report: markdown })
    }
}

/// One entry's `harness run`, its output to the entry's log.
fn run_entry(exe: &Path, p: &Planned, args: &SuiteRunArgs, threads: usize) -> std::io::Result<std::process::ExitStatus> {
    let log = std::fs::File::create(&p.log)?;
    let parent = p.run_dir.parent().expect("runs/<entry>/<run>");
    let mut command = Command::new(exe);
    command
        .args(p.entry.run_args())
        .arg("--out")
        .arg(parent)
        .args(["--threads", &threads.to_string(), "--quiet", "--device", &args.device])
        .arg("--data-dir")
        .arg(&args.data_dir)
        .env("OMP_NUM_THREADS", threads.to_string())
        .env("MKL_NUM_THREADS", threads.to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    if let Some(rom_dir) = &args.rom_dir {
        command.arg("--rom-dir").arg(rom_dir);
    }
    command.status()
}
