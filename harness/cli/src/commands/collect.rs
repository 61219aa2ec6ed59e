//! `harness collect DIR...`: rebuilds a run's tables from its finished tickets, as the last of
//! several writers of the folder does on finishing; for a sweep's results folder, every run in
//! it. Says which replicates are unfinished and which are being written now.

use std::path::{Path, PathBuf};

use clap::Args;

use lottery_engine::run::{comparison_metrics, write_tables};
use lottery_engine::tickets::TicketSources;
use lottery_results::{FolderLock, RunLayout, TicketKind};

use crate::error::CliError;

#[derive(Args)]
pub struct CollectArgs {
    /// Run folders, or the results folder of a sweep (every run in its sweep.json).
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
}

pub fn collect(args: CollectArgs) -> Result<(), CliError> {
    let registry = lottery_tasks::builtin();
    let tickets = TicketSources::builtin();
    let mut runs = vec![];
    for dir in &args.dirs {
        if dir.join(lottery_sweep::manifest::MANIFEST_FILE).is_file() {
            runs.extend(lottery_sweep::Manifest::read(dir)?.runs.into_iter().map(|r| r.dir));
        } else {
            runs.push(dir.clone());
        }
    }
    for dir in runs {
        collect_run(&dir, &registry, &tickets)?;
    }
    Ok(())
}

fn collect_run(dir: &Path, registry: &lottery_task::Registry, tickets: &TicketSources) -> Result<(), CliError> {
    let layout = RunLayout::new(dir);
    let Some(config) = layout.read_config()? else {
        println!("{}: not started (no {})", dir.display(), lottery_results::CONFIG_FILE);
        return Ok(());
    };
    let Some(task_name) = config.get("task").and_then(|t| t.as_str()) else {
        return Err(lottery_results::ResultsError::NotARun { dir: dir.to_path_buf(), file: "config.toml with a task (a transfer folder is collected by its `harness transfer`)" }.into());
    };
    let task = registry.get(task_name)?;
    let kinds = tickets.kinds();
    let finished = layout.finished(&kinds)?;
    let replicates = config.get("replicates").and_then(|v| v.as_integer()).unwrap_or(1) as u32;
    // Per replicate: finished tickets and the deepest level whose winning ticket is done.
    let mut lines = vec![];
    for rep in 0..replicates {
        let done: Vec<_> = finished.iter().filter(|r| r.replicate == rep).collect();
        let level = done.iter().filter(|r| r.ticket == TicketKind::WINNING).map(|r| r.level).max();
        let writer = FolderLock::holder(&layout.replicate(rep))?;
        let state = match (&writer, level) {
            (Some(holder), _) => format!("being written ({holder})"),
            (None, None) => "not started".to_string(),
            (None, Some(level)) => format!("winning ticket through level {level}"),
        };
        lines.push(format!("  replicate {rep}: {} tickets finished, {state}", done.len()));
    }
    if finished.is_empty() {
        println!("{}: no finished ticket yet", dir.display());
    } else {
        write_tables(&layout, &comparison_metrics(task), &kinds)?;
        println!("{}: tables rebuilt from {} finished tickets (`harness show` prints them)", dir.display(), finished.len());
    }
    for line in lines {
        println!("{line}");
    }
    Ok(())
}
