//! `harness run TASK`: resolve the run against the task's preset, then run (or resume) it.

use std::path::{Path, PathBuf};

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Args;

use lottery_engine::config::{Overrides, RunConfig};
use lottery_engine::device::DeviceChoice;
use lottery_engine::prune::{PruneSchedule, Strategy};
use lottery_engine::run::Run;
use lottery_engine::tickets::TicketSources;
use lottery_engine::Step;
use lottery_results::TicketKind;
use lottery_task::{Preset, Task, TaskEnv};

use crate::error::CliError;

/// Where run folders go without `--out`.
pub const DEFAULT_OUT: &str = "runs";
/// Where run folders went before `runs/` (inside the `results` crate's source folder); a run
/// found there is still resumed there.
const OLD_DEFAULT_OUT: &str = "results";

pub fn preset_parser() -> impl TypedValueParser<Value = Preset> {
    PossibleValuesParser::new(Preset::ALL.map(|p| p.as_str())).map(|s| s.parse::<Preset>().expect("a listed preset"))
}

fn schedule_parser() -> impl TypedValueParser<Value = PruneSchedule> {
    PossibleValuesParser::new(PruneSchedule::ALL.map(|s| s.as_str())).map(|s| s.parse::<PruneSchedule>().expect("a listed schedule"))
}

fn strategy_parser() -> impl TypedValueParser<Value = Strategy> {
    PossibleValuesParser::new(Strategy::ALL.map(|s| s.as_str())).map(|s| s.parse::<Strategy>().expect("a listed strategy"))
}

/// `--controls` takes the kinds of the ticket registry, whatever it holds.
fn control_parser(tickets: &TicketSources) -> impl TypedValueParser<Value = TicketKind> {
    PossibleValuesParser::new(tickets.kinds().into_iter().map(|k| k.to_string())).map(TicketKind::from)
}

#[derive(Args)]
pub struct RunArgs {
    /// Task name, e.g. image/mnist-lenet (see `harness list`).
    task: String,
    /// Final sparsity: fraction of prunable weights removed at the last level [default: the
    /// preset's (`harness list TASK`): 0.9, or 20 levels of 20% for Yu et al.'s RL and LSTM].
    #[arg(long, allow_negative_numbers = true)]
    prune: Option<f64>,
    /// Fraction of surviving weights removed per level [default: 0.2].
    #[arg(long, allow_negative_numbers = true)]
    rate: Option<f64>,
    /// Rewind point: 0 (initialization), 500it, 2ep [default: the task's].
    #[arg(long)]
    rewind: Option<Step>,
    /// Tickets to train at each level: winning plus any of the controls [default: the task's].
    #[arg(long, value_delimiter = ',', value_parser = control_parser(&TicketSources::builtin()))]
    controls: Option<Vec<TicketKind>>,
    #[arg(long, default_value = "quick", value_parser = preset_parser())]
    preset: Preset,
    /// Independent repetitions with derived seeds [default: 1].
    #[arg(long, allow_negative_numbers = true, value_parser = parse_replicates)]
    replicates: Option<u32>,
    /// Train only replicate R (0 to --replicates minus 1) of the run: one unit of a sweep. Other
    /// processes, on this machine or others sharing the folder, may train the others at once.
    #[arg(long, value_name = "R")]
    replicate: Option<u32>,
    /// Base seed of the replicates' seeds, a whole number 0 to 18446744073709551615 [default: 0].
    #[arg(long, allow_negative_numbers = true, value_parser = parse_seed)]
    seed: Option<u64>,
    /// global (rank all default-rate layers together) or layerwise [default: global].
    #[arg(long, value_parser = strategy_parser())]
    strategy: Option<Strategy>,
    /// iterative (--rate of the survivors per level) or oneshot (one level to the target, each
    /// layer group keeping what the iterative schedule's last level keeps) [default: iterative].
    #[arg(long, value_parser = schedule_parser())]
    schedule: Option<PruneSchedule>,
    /// A prunable parameter to leave dense (repeatable).
    #[arg(long, value_name = "NAME")]
    ignore: Vec<String>,
    /// Per-level rate of one layer, replacing the task's (repeatable), e.g. fc3.weight=0.1.
    #[arg(long, value_name = "NAME=RATE", value_parser = parse_layer_rate)]
    layer_rate: Vec<(String, f64)>,
    /// Prune embedding matrices too, at --rate (tasks with embeddings; the paper's second variant).
    #[arg(long)]
    prune_embeddings: bool,
    /// Task hyperparameter (repeatable), e.g. lr=0.001 or steps=2ep.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value, allow_hyphen_values = true)]
    set: Vec<(String, String)>,
    #[command(flatten)]
    machine: MachineArgs,
}

/// Where and how a command that trains runs: shared by `run` and `transfer`.
#[derive(Args)]
pub struct MachineArgs {
    /// auto (CUDA when present), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    #[arg(long, env = "LOTTERY_DATA", default_value = "data")]
    data_dir: PathBuf,
    /// Parent folder of run folders [default: runs; a run begun under the old default results/
    /// is resumed there].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Folder of Atari ROMs (`<game>.bin`), searched before ALE_ROM_DIR and the ale-py package.
    #[arg(long)]
    rom_dir: Option<PathBuf>,
    /// CPU threads for libtorch [default: libtorch's, one per core]. Use 1 per process when
    /// running several jobs at once: oversubscribed threads spin against each other.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Plain log lines instead of progress bars.
    #[arg(long)]
    pub quiet: bool,
}

impl MachineArgs {
    /// Sets libtorch's threads (`--threads`, else the task's choice on the CPU, else libtorch's
    /// default) and resolves the device into `task`'s environment.
    pub fn task_env(&self, task: &dyn Task) -> Result<TaskEnv, CliError> {
        let device = self.device.resolve()?;
        match (self.threads, task.cpu_threads()) {
            (Some(threads), _) => tch::set_num_threads(threads.into()),
            (None, Some(threads)) if device == tch::Device::Cpu => {
                tch::set_num_threads(threads as i32);
                eprintln!("note: {} trains on {} CPU thread(s), its fastest; --threads N overrides", task.name(), tch::get_num_threads());
            }
            _ => {}
        }
        Ok(TaskEnv { data_dir: self.data_dir.clone(), device, rom_dir: self.rom_dir.clone() })
    }
}

/// Prints the comparison of a finished folder and the paths of its tables.
pub fn print_outputs(dir: &Path, tables: &[&str]) -> Result<(), CliError> {
    print!("{}", lottery_results::show::render(dir)?);
    println!("results: {}", dir.display());
    let layout = lottery_results::RunLayout::new(dir);
    for table in tables {
        for ext in ["arrow", "csv"] {
            println!("  {}", layout.table(table, ext).display());
        }
    }
    println!("  {}", layout.config().display());
    Ok(())
}

pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

fn parse_layer_rate(s: &str) -> Result<(String, f64), String> {
    let (name, rate) = parse_key_value(s)?;
    let rate = rate.parse().map_err(|_| format!("`{s}`: the rate after `=` must be a number, like fc3.weight=0.1"))?;
    Ok((name, rate))
}

pub fn parse_seed(s: &str) -> Result<u64, String> {
    s.parse().map_err(|_| format!("`{s}` is not a seed: seeds are whole numbers from 0 to {}", u64::MAX))
}

pub fn parse_replicates(s: &str) -> Result<u32, String> {
    let max = lottery_engine::config::MAX_REPLICATES;
    match s.parse::<u64>() {
        Ok(n) if (1..=max as u64).contains(&n) => Ok(n as u32),
        _ => Err(format!("`{s}`: use a whole number of replicates from 1 to {max}")),
    }
}

/// The run `args` ask for, resolved against the task's preset, with its folder; nothing written.
pub fn prepare<'a>(args: RunArgs, registry: &'a lottery_task::Registry, tickets: &'a TicketSources) -> Result<Run<'a>, CliError> {
    let task = registry.get(&args.task)?;
    let overrides = Overrides {
        prune: args.prune,
        rate: args.rate,
        rewind: args.rewind,
        strategy: args.strategy,
        schedule: args.schedule,
        seed: args.seed,
        ignore: args.ignore,
        layer_rates: args.layer_rate,
        prune_embeddings: args.prune_embeddings,
        set: args.set,
        replicates: args.replicates,
        controls: args.controls,
    };
    let config = RunConfig::resolve(task, args.preset, overrides, tickets)?;
    let env = args.machine.task_env(task)?;
    let name = config.run_name(task);
    let dir = match args.machine.out {
        Some(out) => out.join(&name),
        None => {
            let old = PathBuf::from(OLD_DEFAULT_OUT).join(&name);
            if old.join(lottery_results::CONFIG_FILE).is_file() && !PathBuf::from(DEFAULT_OUT).join(&name).exists() {
                eprintln!("note: resuming {} (under the old default --out results/; new runs go to runs/)", old.display());
                old
            } else {
                PathBuf::from(DEFAULT_OUT).join(&name)
            }
        }
    };
    Ok(Run { dir, config, task, env, tickets, replicate: args.replicate })
}

pub fn run(args: RunArgs) -> Result<(), CliError> {
    let registry = lottery_tasks::builtin();
    let tickets = TicketSources::builtin();
    let quiet = args.machine.quiet;
    let run = prepare(args, &registry, &tickets)?;
    run.execute(quiet)?;
    print_outputs(&run.dir, &lottery_results::TABLES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lottery_engine::tickets::{Level, Ticket, TicketSource};

    struct Extra;

    impl TicketSource for Extra {
        fn kind(&self) -> TicketKind {
            TicketKind::named("extra")
        }
        fn description(&self) -> &'static str {
            "a kind known only to this test"
        }
        fn ticket<'a>(&self, _: &Level<'a>) -> Result<Ticket<'a>, lottery_engine::EngineError> {
            unreachable!("only parsed here")
        }
    }

    #[test]
    fn controls_take_every_registered_kind_and_only_those() {
        let mut tickets = TicketSources::builtin();
        tickets.register(Box::new(Extra));
        let parse = |registry: &TicketSources, value: &str| {
            let command = clap::Command::new("harness");
            let arg = clap::Arg::new("controls");
            control_parser(registry).parse_ref(&command, Some(&arg), std::ffi::OsStr::new(value))
        };
        assert_eq!(parse(&tickets, "extra").unwrap(), TicketKind::named("extra"));
        assert_eq!(parse(&tickets, "shuffle").unwrap(), TicketKind::SHUFFLE);
        assert!(parse(&TicketSources::builtin(), "extra").is_err());
    }
}
