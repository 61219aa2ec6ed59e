//! `harness list [TASK]`: the registered tasks, or one task's defaults per preset.

use std::collections::BTreeMap;

use clap::Args;

use lottery_results::Direction;
use lottery_task::{Preset, Registry, Task};

use crate::error::CliError;

#[derive(Args)]
pub struct ListArgs {
    /// Show this task's hyperparameters (the keys `--set` takes).
    task: Option<String>,
}

pub fn list(args: ListArgs) -> Result<(), CliError> {
    let registry = lottery_tasks::builtin();
    match args.task {
        None => list_all(&registry),
        Some(name) => describe_task(registry.get(&name)?),
    }
    Ok(())
}

fn list_all(registry: &Registry) {
    println!("{:<34} {:<22} {:<19} description", "task", "metrics", "presets");
    let presets: Vec<&str> = Preset::ALL.iter().map(|p| p.as_str()).collect();
    let line = |task: &dyn Task, note: &str| {
        let metrics: Vec<String> = task
            .metrics()
            .iter()
            .map(|m| format!("{}({})", m.name, if m.direction == Direction::Higher { "↑" } else { "↓" }))
            .collect();
        println!("{:<34} {:<22} {:<19} {}{note}", task.name(), metrics.join(" "), presets.join(","), task.description());
    };
    // Tasks listed in full, then per family the names of the others (e.g. Atari's 66 games
    // beyond the paper's ten), with how many of those have what they need.
    let mut grouped: BTreeMap<&str, Vec<&dyn Task>> = Default::default();
    for task in registry.tasks() {
        if task.listed_in_full() {
            line(task, &task.availability().map(|a| format!(" [{a}]")).unwrap_or_default());
        } else {
            grouped.entry(task.name().split('/').next().unwrap_or_default()).or_default().push(task);
        }
    }
    for (family, tasks) in grouped {
        let names: Vec<&str> = tasks.iter().map(|t| t.name().split_once('/').map_or(t.name(), |(_, n)| n)).collect();
        let noted: Vec<String> = tasks.iter().filter_map(|t| t.availability()).collect();
        let summary = if noted.is_empty() { String::new() } else { format!(", {}", summarize(&noted)) };
        println!("{:<34} {} more{summary}: {}", format!("{family}/<name>"), tasks.len(), names.join(", "));
    }
}

/// `["ROM found", "ROM found", "no ROM ..."]` -> "2 ROM found, 1 no ROM ...".
fn summarize(remarks: &[String]) -> String {
    let mut counts: BTreeMap<&str, usize> = Default::default();
    for r in remarks {
        *counts.entry(r.as_str()).or_default() += 1;
    }
    counts.iter().map(|(r, n)| format!("{n} {r}")).collect::<Vec<_>>().join(", ")
}

fn describe_task(task: &dyn Task) {
    println!("{}: {}", task.name(), task.description());
    for preset in Preset::ALL {
        let d = task.defaults(preset);
        let controls: Vec<&str> = d.controls.iter().map(|c| c.as_str()).collect();
        let roles: Vec<String> = d
            .pruning
            .rules()
            .map(|(role, rule)| format!("{} {}", role.as_str(), rule.map_or("dense".to_string(), |m| format!("x{m}"))))
            .collect();
        let prune = d.prune.unwrap_or(lottery_engine::config::DEFAULT_PRUNE);
        println!(
            "\n[{}]  revision {}, prune {prune}, rewind {}, tickets {}; pruning by role: {}",
            preset.as_str(),
            d.revision,
            d.rewind,
            controls.join(","),
            roles.join(", ")
        );
        print!("{}", toml::to_string(&d.hparams).unwrap_or_default());
    }
}
