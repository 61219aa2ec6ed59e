//! `harness`: the command line of the lottery harness. A thin layer over the library crates:
//! each command is a module of [`commands`] that parses its arguments and calls the engine, the
//! tasks or the results; [`exit_status`] is the one place that maps errors to exit statuses
//! (2 for bad input, 1 for failures, a failed suite included).

mod commands;
mod error;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::{exit_status, CliError};

#[derive(Parser)]
#[command(name = "harness", version, about = "Lottery-ticket experiments: iterative magnitude pruning with rewinding, against random tickets")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the registered tasks; with a task name, its defaults and hyperparameters per preset.
    List(commands::list::ListArgs),
    /// Run (or resume) IMP with rewinding on a task and compare winning tickets with controls.
    Run(Box<commands::run::RunArgs>),
    /// Train a run's tickets on another task, dataset or optimizer, against random tickets and
    /// the target's own winning ticket (Morcos et al. 2019).
    Transfer(Box<commands::transfer::TransferArgs>),
    /// Gather transfer folders into one table (matrix.arrow, matrix.csv) and draw, per target,
    /// each source's ticket against the target's own and the random ticket (PNG and SVG).
    TransferMatrix(commands::transfer_matrix::MatrixArgs),
    /// Draw a run: each ticket kind's metric against density (PNG and SVG), or with --curves
    /// the training curves of one level.
    Plot(commands::plot::PlotArgs),
    /// Print the comparison table of a run or transfer folder.
    Show(commands::show::ShowArgs),
    /// A synthetic/teacher-student run node by node: which student nodes specialize to a
    /// teacher node, and which survive pruning (table, summary and figures).
    Specialization(commands::specialization::SpecializationArgs),
    /// Regression suites: run a suite file's entries and judge them against expectations and a
    /// baseline, with JUnit, Markdown and JSON reports.
    Suite {
        #[command(subcommand)]
        command: commands::suite::SuiteCommand,
    },
    /// Sweeps: a sweep file's runs x replicates as units, written as a Slurm array, a local
    /// script or a Kubernetes Indexed Job (and submitted); run one unit; the units' status.
    Sweep(Box<commands::sweep::SweepArgs>),
    /// Rebuild a run's tables from its finished tickets (every run of a sweep's results folder),
    /// and say which replicates are unfinished or being written.
    Collect(commands::collect::CollectArgs),
    /// Leaderboards: one table over many run folders.
    Leaderboard {
        #[command(subcommand)]
        command: commands::leaderboard::LeaderboardCommand,
    },
    /// Environments: inspect them.
    Env {
        #[command(subcommand)]
        command: commands::env::EnvCommand,
    },
    /// Datasets: download and verify.
    Data {
        #[command(subcommand)]
        command: commands::data::DataCommand,
    },
}

fn main() -> ExitCode {
    lottery_engine::malloc::keep_freed_memory();
    let cli = Cli::parse();
    // Commands that train stop gracefully on SIGTERM, SIGUSR1 and SIGINT (a checkpoint at the
    // current step, exit status 75); the others keep the signals' default actions.
    let trains = match &cli.command {
        Command::Run(_) | Command::Transfer(_) => true,
        Command::Sweep(args) => args.runs_a_unit(),
        _ => false,
    };
    if trains {
        if let Err(e) = lottery_engine::stop::install() {
            eprintln!("warning: cannot install the signal handlers ({e}); a signal stops the run at its last checkpoint");
        }
    }
    let result: Result<(), CliError> = match cli.command {
        Command::List(args) => commands::list::list(args),
        Command::Run(args) => commands::run::run(*args),
        Command::Transfer(args) => commands::transfer::transfer(*args),
        Command::TransferMatrix(args) => commands::transfer_matrix::transfer_matrix(args),
        Command::Plot(args) => commands::plot::plot(args),
        Command::Show(args) => commands::show::show(args),
        Command::Specialization(args) => commands::specialization::specialization(args),
        Command::Suite { command } => commands::suite::suite(command),
        Command::Sweep(args) => commands::sweep::sweep(*args),
        Command::Collect(args) => commands::collect::collect(args),
        Command::Leaderboard { command } => commands::leaderboard::leaderboard_command(command),
        Command::Env { command } => commands::env::env(command),
        Command::Data { command } => commands::data::data(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit_status(&e))
        }
    }
}
