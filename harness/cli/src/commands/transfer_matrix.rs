//! `harness transfer-matrix TRANSFER_DIR... --out DIR`: finished transfers in one table
//! (`matrix.arrow`, `matrix.csv`) and, per target, a figure of the metric against density.

use std::path::PathBuf;

use clap::Args;

use lottery_results::matrix::{figures, matrix_table, TransferFolder};
use lottery_results::plot::write_figure;

use crate::error::CliError;

#[derive(Args)]
pub struct MatrixArgs {
    /// Folders made by `harness transfer`.
    #[arg(required = true, value_name = "TRANSFER_DIR")]
    transfers: Vec<PathBuf>,
    /// Where matrix.arrow, matrix.csv and figures/ go.
    #[arg(long)]
    out: PathBuf,
    /// The metric the figures show [default: the tables' first, e.g. test_accuracy].
    #[arg(long)]
    metric: Option<String>,
}

pub fn transfer_matrix(args: MatrixArgs) -> Result<(), CliError> {
    let folders = args.transfers.iter().map(|dir| TransferFolder::read(dir)).collect::<Result<Vec<_>, _>>()?;
    let metrics = folders[0].metrics();
    let metric = args.metric.unwrap_or_else(|| metrics[0].clone());
    if !metrics.contains(&metric) {
        return Err(CliError::BadValue { flag: "--metric", value: metric, requirement: format!("the transfer tables hold {}", metrics.join(", ")) });
    }
    std::fs::create_dir_all(args.out.join("figures")).map_err(|source| lottery_results::ResultsError::Io { path: args.out.clone(), source })?;
    matrix_table(&folders).write(&args.out, "matrix")?;
    println!("{} transfer(s), {} target(s)", folders.len(), figures(&folders, &metric).len());
    println!("  {}", args.out.join("matrix.arrow").display());
    println!("  {}", args.out.join("matrix.csv").display());
    for (stem, figure) in figures(&folders, &metric) {
        for path in write_figure(&figure, &args.out.join("figures").join(stem))? {
            println!("  {}", path.display());
        }
    }
    Ok(())
}
