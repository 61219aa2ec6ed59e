//! `harness transfer SOURCE_RUN --to TASK`: train a run's tickets on another task or optimizer,
//! against random tickets and (with `--target-run`) the target's own winning ticket.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Args;

use lottery_engine::transfer::{self, SourceRun, Transfer, TransferConfig, TransferRequest};
use lottery_results::TicketKind;
use lottery_task::Preset;

use super::run::{parse_key_value, parse_replicates, parse_seed, preset_parser, print_outputs, MachineArgs, DEFAULT_OUT};
use crate::error::CliError;

/// The source levels to transfer: every one, or a list.
#[derive(Debug, Clone, PartialEq)]
struct Levels(Option<Vec<u32>>);

fn parse_levels(s: &str) -> Result<Levels, String> {
    if s == "all" {
        return Ok(Levels(None));
    }
    let levels: Result<Vec<u32>, _> = s.split(',').map(|l| l.trim().parse::<u32>()).collect();
    match levels {
        Ok(levels) if !levels.is_empty() => Ok(Levels(Some(levels))),
        _ => Err(format!("`{s}`: use all, or level numbers separated by commas, like 1,3,5 (0 is the dense network)")),
    }
}

#[derive(Args)]
pub struct TransferArgs {
    /// The folder of a `harness run` (the source) whose tickets to transfer.
    source: PathBuf,
    /// The target task, e.g. image/mnist-lenet (see `harness list`).
    #[arg(long, value_name = "TASK")]
    to: String,
    /// The folder of a `harness run` of the target task: its winning ticket at the nearest density
    /// is trained as `target_winning`, the reference a transferred ticket is judged against.
    #[arg(long, value_name = "DIR")]
    target_run: Option<PathBuf>,
    /// Source levels to transfer: all, or a list like 1,3,5 (0 is the dense network) [default: all].
    #[arg(long, value_parser = parse_levels)]
    levels: Option<Levels>,
    /// Tickets to train besides `transferred` [default: reinit,random, and target_winning with
    /// --target-run].
    #[arg(long, value_delimiter = ',', value_parser = PossibleValuesParser::new(transfer::kinds().into_iter().map(|k| k.to_string())).map(TicketKind::from))]
    controls: Option<Vec<TicketKind>>,
    /// The target's preset [default: the source run's].
    #[arg(long, value_parser = preset_parser())]
    preset: Option<Preset>,
    /// Target task hyperparameter (repeatable), e.g. classes=5-9 or optimizer=sgd.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value, allow_hyphen_values = true)]
    set: Vec<(String, String)>,
    /// Replicates; replicate R trains the source's replicate R's tickets [default: the source's].
    #[arg(long, allow_negative_numbers = true, value_parser = parse_replicates)]
    replicates: Option<u32>,
    /// Base seed of fresh weights, data order and random masks [default: 0].
    #[arg(long, allow_negative_numbers = true, value_parser = parse_seed)]
    seed: Option<u64>,
    #[command(flatten)]
    machine: MachineArgs,
}

pub fn transfer(args: TransferArgs) -> Result<(), CliError> {
    let registry = lottery_tasks::builtin();
    let task = registry.get(&args.to)?;
    let source = SourceRun::open(&args.source)?;
    let request = TransferRequest {
        preset: args.preset,
        set: args.set,
        seed: args.seed,
        replicates: args.replicates,
        levels: args.levels.and_then(|l| l.0),
        controls: args.controls,
        target_run: args.target_run.clone(),
    };
    let config = TransferConfig::resolve(task, &source, request)?;
    let env = args.machine.task_env(task)?;
    let dir = args.machine.out.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_OUT)).join(config.run_name(task));
    let transfer = Transfer { dir: dir.clone(), config, source, task, env, target_run: args.target_run };
    transfer.execute(args.machine.quiet)?;
    print_outputs(&dir, &transfer::TABLES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_all_or_a_list() {
        assert_eq!(parse_levels("all").unwrap(), Levels(None));
        assert_eq!(parse_levels("1, 3,5").unwrap(), Levels(Some(vec![1, 3, 5])));
        for bad in ["", "1,,2", "x", "-1"] {
            assert!(parse_levels(bad).unwrap_err().contains("use all, or level numbers"), "{bad}");
        }
    }
}
