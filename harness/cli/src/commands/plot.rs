//! `harness plot RUN_DIR`: a run's tickets against density (or, with `--curves`, the training
//! curves of one level) as PNG and SVG.

use std::path::PathBuf;

use clap::Args;

use lottery_results::plot::{write_figure, write_png, write_svg};
use lottery_results::run_figures::{comparison_figure, curves_figure};

use crate::error::CliError;

#[derive(Args)]
pub struct PlotArgs {
    /// A run (or transfer) folder.
    run: PathBuf,
    /// The metric: a comparison metric (test_accuracy, test_accuracy@val, ...) or, with
    /// --curves, SPLIT_METRIC (test_accuracy, val_return, train_loss) [default: the first].
    #[arg(long)]
    metric: Option<String>,
    /// The file to write, .png or .svg [default: RUN_DIR/figures/<metric>.png and .svg].
    #[arg(long)]
    out: Option<PathBuf>,
    /// More run folders to overlay (e.g. the same task with another rewind point).
    #[arg(long, num_args = 1.., value_name = "RUN_DIR", conflicts_with = "curves")]
    compare: Vec<PathBuf>,
    /// Draw the training curves of the tickets of one level instead.
    #[arg(long)]
    curves: bool,
    /// The level whose training curves --curves draws.
    #[arg(long, default_value_t = 0, requires = "curves")]
    level: u32,
}

pub fn plot(args: PlotArgs) -> Result<(), CliError> {
    let (figure, name) = if args.curves {
        let figure = curves_figure(&args.run, args.level, args.metric.as_deref())?;
        let metric = figure.y_label.split_whitespace().next().unwrap_or("curves").to_string();
        (figure, format!("curves-level-{:02}-{metric}", args.level))
    } else {
        let runs: Vec<&std::path::Path> = std::iter::once(args.run.as_path()).chain(args.compare.iter().map(|p| p.as_path())).collect();
        let figure = comparison_figure(&runs, args.metric.as_deref())?;
        let metric = figure.y_label.split_whitespace().next().unwrap_or("metric").to_string();
        (figure, metric)
    };
    let written = match &args.out {
        Some(path) => {
            match path.extension().and_then(|e| e.to_str()) {
                Some("png") => write_png(&figure, path)?,
                Some("svg") => write_svg(&figure, path)?,
                _ => return Err(CliError::BadValue { flag: "--out", value: path.display().to_string(), requirement: "name a .png or .svg file".into() }),
            }
            vec![path.clone()]
        }
        None => {
            let dir = args.run.join("figures");
            std::fs::create_dir_all(&dir).map_err(|source| lottery_results::ResultsError::Io { path: dir.clone(), source })?;
            write_figure(&figure, &dir.join(name.replace('@', "-at-")))?
        }
    };
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}
