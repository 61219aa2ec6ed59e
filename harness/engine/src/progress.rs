//! Progress for people: bars on a terminal, plain log lines otherwise (or with `--quiet`).

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Reports the run's progress: tickets overall, and iterations of the ticket in training.
pub struct Reporter {
    bars: Option<(MultiProgress, ProgressBar)>,
    started: Instant,
}

impl Reporter {
    /// Bars on a terminal; with `quiet`, or when output goes to a file or pipe, a plain log line
    /// per finished ticket instead (on stderr, so stdout holds only the table).
    pub fn new(total_tickets: u64, quiet: bool) -> Self {
        let terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        let bars = (!quiet && terminal).then(|| {
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
        Reporter { bars, started: Instant::now() }
    }

    /// A bar for one ticket's training, counting iterations or episodes (`unit`), hidden when not
    /// on a terminal.
    pub fn ticket_bar(&self, label: &str, start: u64, end: u64, unit: &str) -> ProgressBar {
        match &self.bars {
            Some((multi, _)) => {
                let bar = multi.add(ProgressBar::new(end));
                bar.set_style(
                    ProgressStyle::with_template(&format!("{{prefix:>8}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{per_sec}} {{msg}}"))
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
            None => eprintln!("[{:>7.1}s] {line}", self.started.elapsed().as_secs_f64()),
        }
    }

    pub fn note(&self, line: &str) {
        match &self.bars {
            Some((multi, _)) => {
                let _ = multi.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Some((_, overall)) = &self.bars {
            overall.finish_and_clear();
        }
    }
}
