//! `harness`: the command line of the lottery harness. A thin layer over the library: it parses
//! arguments, resolves the run, and maps errors to exit statuses (2 for bad input, 1 for
//! failures).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use lottery_harness::config::{Overrides, RunConfig};
use lottery_harness::device::DeviceChoice;
use lottery_harness::engine::Run;
use lottery_harness::prune::Strategy;
use lottery_harness::registry::Registry;
use lottery_harness::task::{Preset, TaskEnv};
use lottery_harness::{rollout, show, EngineError, Step};
use lottery_results::TicketKind;

#[derive(Parser)]
#[command(name = "harness", version, about = "Lottery-ticket experiments: iterative magnitude pruning with rewinding, against random tickets")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the registered tasks; with a task name, its defaults and hyperparameters per preset.
    List {
        /// Show this task's hyperparameters (the keys `--set` takes).
        task: Option<String>,
    },
    /// Run (or resume) IMP with rewinding on a task and compare winning tickets with controls.
    Run(RunArgs),
    /// Print the comparison table of a run folder.
    Show {
        /// A run folder, e.g. results/image-mnist-lenet-1a2b3c4d5e.
        run_dir: PathBuf,
    },
    /// Environments: inspect them.
    Env {
        #[command(subcommand)]
        command: EnvCommand,
    },
    /// Datasets: download and verify.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Download a dataset into the data folder and verify every file's SHA-256.
    Fetch {
        /// mnist, fashion-mnist or cifar10.
        name: String,
        #[arg(long, env = "LOTTERY_DATA", default_value = "data")]
        data_dir: PathBuf,
        /// Base URL of a mirror that holds the files under their canonical names.
        #[arg(long)]
        mirror: Option<String>,
    },
    /// List the datasets `fetch` knows.
    List,
}

#[derive(Subcommand)]
enum EnvCommand {
    /// Print one episode as CSV: step, action, observation, reward, terminated, truncated.
    Rollout {
        /// Environment id, e.g. CartPole-v1 (see `harness env list`).
        env: String,
        /// Seed of the reset (and of random actions).
        #[arg(long, default_value_t = 0, conflicts_with = "state")]
        seed: u64,
        /// Start from this internal state instead, e.g. 0.01,0,-0.02,0 for CartPole.
        #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
        state: Option<Vec<f64>>,
        /// The actions to take, e.g. 0,1,1,0.
        #[arg(long, value_delimiter = ',', conflicts_with = "policy")]
        actions: Option<Vec<usize>>,
        /// Take uniformly random actions (the default without --actions).
        #[arg(long, value_enum)]
        policy: Option<Policy>,
        /// Stop after this many steps even if the episode goes on.
        #[arg(long)]
        steps: Option<u32>,
    },
    /// List the environments.
    List,
}

#[derive(Clone, Copy, ValueEnum)]
enum Policy {
    Random,
}

#[derive(Clone, Copy, ValueEnum)]
enum Control {
    Winning,
    Reinit,
    Shuffle,
}

#[derive(Args)]
struct RunArgs {
    /// Task name, e.g. image/mnist-lenet (see `harness list`).
    task: String,
    /// Final sparsity: fraction of prunable weights removed at the last level [default: 0.9].
    #[arg(long)]
    prune: Option<f64>,
    /// Fraction of surviving weights removed per level [default: 0.2].
    #[arg(long)]
    rate: Option<f64>,
    /// Rewind point: 0 (initialization), 500it, 2ep [default: the task's].
    #[arg(long)]
    rewind: Option<Step>,
    /// Tickets to train at each level: winning plus any of reinit, shuffle [default: the task's].
    #[arg(long, value_enum, value_delimiter = ',')]
    controls: Option<Vec<Control>>,
    #[arg(long, value_enum, default_value = "quick")]
    preset: Preset,
    /// Independent repetitions with derived seeds [default: 1].
    #[arg(long)]
    replicates: Option<u32>,
    /// Base seed of the replicates' seeds [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// global (rank all default-rate layers together) or layerwise [default: global].
    #[arg(long, value_enum)]
    strategy: Option<Strategy>,
    /// A prunable parameter to leave dense (repeatable).
    #[arg(long, value_name = "NAME")]
    ignore: Vec<String>,
    /// Per-level rate of one layer, replacing the task's (repeatable), e.g. fc3.weight=0.1.
    #[arg(long, value_name = "NAME=RATE", value_parser = parse_layer_rate)]
    layer_rate: Vec<(String, f64)>,
    /// Prune embedding matrices too (tasks with embeddings; the same as --set prune_embeddings=true).
    #[arg(long)]
    prune_embeddings: bool,
    /// Task hyperparameter (repeatable), e.g. lr=0.001 or steps=2ep.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    set: Vec<(String, String)>,
    /// auto (CUDA when present), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    #[arg(long, env = "LOTTERY_DATA", default_value = "data")]
    data_dir: PathBuf,
    /// Parent folder of run folders.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Folder of Atari ROMs (`<game>.bin`), searched before ALE_ROM_DIR and the ale-py package.
    #[arg(long)]
    rom_dir: Option<PathBuf>,
    /// CPU threads for libtorch [default: libtorch's, one per core]. Use 1 per process when
    /// running several jobs at once: oversubscribed threads spin against each other.
    #[arg(long)]
    threads: Option<u16>,
    /// Plain log lines instead of progress bars.
    #[arg(long)]
    quiet: bool,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
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

fn list(registry: &Registry) {
    println!("{:<34} {:<22} {:<19} description", "task", "metrics", "presets");
    let presets: Vec<&str> = Preset::ALL.iter().map(|p| p.as_str()).collect();
    let line = |task: &dyn lottery_harness::task::Task, note: &str| {
        let metrics: Vec<String> = task.metrics().iter().map(|m| format!("{}({})", m.name, if m.direction == lottery_results::Direction::Higher { "↑" } else { "↓" })).collect();
        println!("{:<34} {:<22} {:<19} {}{note}", task.name(), metrics.join(" "), presets.join(","), task.description());
    };
    // Tasks listed in full, then per family the names of the others (e.g. Atari's 66 games
    // beyond the paper's ten), with how many of those have what they need.
    let mut grouped: std::collections::BTreeMap<&str, Vec<&dyn lottery_harness::task::Task>> = Default::default();
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
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in remarks {
        *counts.entry(r.as_str()).or_default() += 1;
    }
    counts.iter().map(|(r, n)| format!("{n} {r}")).collect::<Vec<_>>().join(", ")
}

fn describe_task(task: &dyn lottery_harness::task::Task) {
    println!("{}: {}", task.name(), task.description());
    for preset in Preset::ALL {
        let d = task.defaults(preset);
        let controls: Vec<&str> = d.controls.iter().map(|c| c.as_str()).collect();
        println!("\n[{}]  rewind {}, tickets {}", preset.as_str(), d.rewind, controls.join(","));
        print!("{}", toml::to_string(&d.hparams).unwrap_or_default());
    }
}

fn run(registry: &Registry, args: RunArgs) -> Result<(), EngineError> {
    let task = registry.get(&args.task)?;
    let mut set = args.set;
    if args.prune_embeddings {
        if !task.defaults(args.preset).hparams.contains_key("prune_embeddings") {
            return Err(EngineError::Usage(format!("--prune-embeddings: {} has no embedding matrix to prune; drop the flag", task.name())));
        }
        set.push(("prune_embeddings".into(), "true".into()));
    }
    let overrides = Overrides {
        prune: args.prune,
        rate: args.rate,
        rewind: args.rewind,
        strategy: args.strategy,
        seed: args.seed,
        ignore: args.ignore,
        layer_rates: args.layer_rate,
        set,
        replicates: args.replicates,
        controls: args.controls.map(|cs| {
            cs.into_iter()
                .map(|c| match c {
                    Control::Winning => TicketKind::Winning,
                    Control::Reinit => TicketKind::Reinit,
                    Control::Shuffle => TicketKind::Shuffle,
                })
                .collect()
        }),
    };
    if let Some(threads) = args.threads {
        if threads == 0 {
            return Err(EngineError::Usage("--threads 0: use at least 1".into()));
        }
        tch::set_num_threads(threads.into());
    }
    let config = RunConfig::resolve(task, args.preset, overrides)?;
    let device = args.device.resolve()?;
    let dir = args.out.join(config.run_name(task));
    let run = Run { dir: dir.clone(), config, task, env: TaskEnv { data_dir: args.data_dir, device, rom_dir: args.rom_dir } };
    run.execute(args.quiet)?;
    print!("{}", show::render(&dir)?);
    println!("results: {}", dir.display());
    for file in ["comparison.arrow", "comparison.csv", "curves.arrow", "curves.csv", "config.toml"] {
        println!("  {}", dir.join(file).display());
    }
    Ok(())
}

fn main() -> ExitCode {
    lottery_harness::malloc::keep_freed_memory();
    let cli = Cli::parse();
    let registry = Registry::builtin();
    let result = match cli.command {
        Command::List { task: None } => {
            list(&registry);
            Ok(())
        }
        Command::List { task: Some(name) } => registry.get(&name).map(describe_task),
        Command::Run(args) => run(&registry, args),
        Command::Show { run_dir } => show::render(&run_dir).map(|text| print!("{text}")),
        Command::Env { command: EnvCommand::List } => {
            for spec in lottery_envs::SPECS {
                println!("{:<16} observations {}, actions {}, time limit {} (state: {})", spec.name, spec.observation_size, spec.actions, spec.max_episode_steps, spec.state_names);
            }
            Ok(())
        }
        Command::Env { command: EnvCommand::Rollout { env, seed, state, actions, policy: _, steps } } => {
            let actions = match actions {
                Some(list) => rollout::Actions::Given(list),
                None => rollout::Actions::Random(seed.wrapping_add(1)),
            };
            rollout::rollout(&env, seed, state.as_deref(), actions, steps, &mut std::io::stdout().lock())
        }
        Command::Data { command: DataCommand::List } => {
            for s in lottery_datasets::SOURCES {
                println!("{:<14} {}", s.name, s.description);
            }
            for s in lottery_datasets::MANUAL_SOURCES {
                println!("{:<14} (placed by hand, no verified download) {}", s.name, s.how);
            }
            Ok(())
        }
        Command::Data { command: DataCommand::Fetch { name, data_dir, mirror } } => {
            lottery_datasets::fetch(&name, &data_dir, mirror.as_deref()).map_err(EngineError::from).map(|report| {
                for path in report.downloaded {
                    println!("downloaded and verified {}", path.display());
                }
                for path in report.verified {
                    println!("already present, verified {}", path.display());
                }
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let unknown_dataset = matches!(e, EngineError::Data(lottery_datasets::DataError::UnknownDataset { .. } | lottery_datasets::DataError::NoVerifiedDownload { .. }));
            ExitCode::from(if e.is_usage() || unknown_dataset { 2 } else { 1 })
        }
    }
}
