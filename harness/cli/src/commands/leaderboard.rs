//! `harness leaderboard export RESULTS_DIR... --out FILE`: one row per run and metric over every
//! run folder found under the given folders, as CSV and Arrow (schema: `lottery_results::leaderboard`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use lottery_results::leaderboard::{find_runs, leaderboard, ExportOptions};

use crate::error::CliError;

#[derive(Subcommand)]
pub enum LeaderboardCommand {
    /// Scan folders for runs (recursively) and write the leaderboard as FILE.csv and FILE.arrow.
    Export(ExportArgs),
}

#[derive(Args)]
pub struct ExportArgs {
    /// Folders to scan: run folders, or folders holding them at any depth (a suite's --out).
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// The file to write; both FILE.csv and FILE.arrow are written, whichever extension is given.
    #[arg(long)]
    out: PathBuf,
    /// Margin of the matching band, as a fraction of the dense value; the band is the larger of
    /// this and the dense replicates' standard deviation.
    #[arg(long, default_value_t = ExportOptions::default().margin)]
    margin: f64,
}

pub fn leaderboard_command(command: LeaderboardCommand) -> Result<(), CliError> {
    match command {
        LeaderboardCommand::Export(args) => export(args),
    }
}

fn export(args: ExportArgs) -> Result<(), CliError> {
    if !(args.margin.is_finite() && args.margin >= 0.0) {
        return Err(CliError::BadValue { flag: "--margin", value: args.margin.to_string(), requirement: "use a fraction >= 0, e.g. 0.01".into() });
    }
    let runs = find_runs(&args.dirs)?;
    if runs.is_empty() {
        let dirs: Vec<String> = args.dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(CliError::BadValue { flag: "RESULTS_DIR", value: dirs.join(" "), requirement: "no run folder (config.toml and comparison.csv) under it; give folders `harness run` or `harness suite run` wrote".into() });
    }
    let table = leaderboard(&runs, ExportOptions { margin: args.margin })?;
    let stem = args.out.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "leaderboard".into());
    let stem = stem.trim_end_matches(".csv").trim_end_matches(".arrow").to_string();
    let dir = args.out.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), PathBuf::from);
    std::fs::create_dir_all(&dir).map_err(|source| lottery_results::ResultsError::Io { path: dir.clone(), source })?;
    table.write(&dir, &stem)?;
    println!("leaderboard: {} rows from {} runs (schema version {})", table.num_rows(), runs.len(), lottery_results::leaderboard::SCHEMA_VERSION);
    for ext in ["csv", "arrow"] {
        println!("  {}", dir.join(format!("{stem}.{ext}")).display());
    }
    Ok(())
}
