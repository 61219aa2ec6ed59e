//! `harness data fetch|list`: datasets with checksum-verified downloads.

use std::path::PathBuf;

use clap::Subcommand;

use crate::error::CliError;

#[derive(Subcommand)]
pub enum DataCommand {
    /// Download a dataset into the data folder and verify every file's SHA-256.
    Fetch {
        /// A dataset name (see `harness data list`).
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

pub fn data(command: DataCommand) -> Result<(), CliError> {
    match command {
        DataCommand::List => {
            for s in lottery_datasets::SOURCES {
                println!("{:<14} {}", s.name, s.description);
            }
            for s in lottery_datasets::MANUAL_SOURCES {
                println!("{:<14} (placed by hand, no verified download) {}", s.name, s.how);
            }
        }
        DataCommand::Fetch { name, data_dir, mirror } => {
            let report = lottery_datasets::fetch(&name, &data_dir, mirror.as_deref())?;
            for path in report.downloaded {
                println!("downloaded and verified {}", path.display());
            }
            for path in report.verified {
                println!("already present, verified {}", path.display());
            }
        }
    }
    Ok(())
}
