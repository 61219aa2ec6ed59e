//! Progress for people: bars on a terminal, plain log lines otherwise (or with `--quiet`).

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Reports the run's progress: tickets overall, and iterations of the ticket in training.
pub struct Reporter {
    bars: Option<(MultiProgress, ProgressBar)>,
    quiet: bool,
    started: Instant,
}

impl Reporter {
    /// Bars when stderr is a terminal and not `quiet`; log lines when not a terminal; nothing
    /// but errors and the final table with `quiet`.
    pub fn new(total_tickets: u64, quiet: bool) -> Self {
        let bars = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let multi = MultiProgress::new();
            let overall = multi.add(ProgressBar::new(total_tickets));
            overall.set_style(
                ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} tickets {elapsed_precise} {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            overall.set_prefix("IMP");
            (multi, overall)
        });
        Reporter { bars, quiet, started: Instant::now() }
    }

    /// A bar for one ticket's training iterations (hidden when not on a terminal).
    pub fn ticket_bar(&self, label: &str, start: u64, end: u64) -> ProgressBar {
        match &self.bars {
            Some((multi, _)) => {
                let bar = multi.add(ProgressBar::new(end));
                bar.set_style(
                    ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} it {per_sec} {msg}")
                        .expect("valid template")
                        .progress_chars("=> "),
                );
                bar.set_prefix("train");
                bar.set_message(label.to_string());
                bar.set_position(start);
                bar
            }
            None => ProgressBar::hidden(),
        }
    }

    /// A ticket finished (or was found finished on disk).
    pub fn ticket_done(&self, line: &str) {
        match &self.bars {
            Some((multi, overall)) => {
                overall.inc(1);
                let _ = multi.println(line);
            }
            None if !self.quiet => eprintln!("[{:>7.1}s] {line}", self.started.elapsed().as_secs_f64()),
            None => {}
        }
    }

    pub fn note(&self, line: &str) {
        match &self.bars {
            Some((multi, _)) => {
                let _ = multi.println(line);
            }
            None if !self.quiet => eprintln!("{line}"),
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some((_, overall)) = &self.bars {
            overall.finish_and_clear();
        }
    }
}
