//! `harness show RUN_DIR`: the comparison table of a run (reads `comparison.csv`, no libtorch).

use std::path::PathBuf;

use clap::Args;

use crate::error::CliError;

#[derive(Args)]
pub struct ShowArgs {
    /// A run folder, e.g. runs/image-mnist-lenet-1a2b3c4d5e.
    run_dir: PathBuf,
}

pub fn show(args: ShowArgs) -> Result<(), CliError> {
    print!("{}", lottery_results::show::render(&args.run_dir)?);
    Ok(())
}
