//! Graceful stops: SIGTERM and SIGUSR1 (what Slurm sends before it kills a preempted or
//! timed-out job, e.g. with `#SBATCH --signal=B:USR1@120`) and SIGINT (Ctrl-C) ask the engine to
//! stop; the training loop finishes its optimizer step, writes a checkpoint at that step and
//! returns [`crate::EngineError::Stopped`], so locks are released on the way out and a rerun (or
//! a requeued job) continues from exactly there. A second Ctrl-C while stopping exits at once
//! (every file is written atomically, so that loses only the work since the last checkpoint).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The exit status of a command stopped by a signal with its work saved: `EX_TEMPFAIL` from
/// sysexits.h, "try again later". A Slurm batch script requeues on it (see `harness sweep`).
pub const EXIT_STOPPED: u8 = 75;

/// The signals that ask for a graceful stop, with their names.
#[cfg(unix)]
const SIGNALS: [(i32, &str); 3] =
    [(signal_hook::consts::SIGTERM, "SIGTERM"), (signal_hook::consts::SIGUSR1, "SIGUSR1"), (signal_hook::consts::SIGINT, "SIGINT")];

struct Flags {
    /// The signal number received first, 0 while none.
    signal: Arc<AtomicUsize>,
    /// Set by the first signal: a second SIGINT then exits at once.
    stopping: Arc<AtomicBool>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// Installs the handlers (once per process; later calls do nothing). Without it, the signals
/// keep their default action (the process dies and resumes from its last periodic checkpoint).
pub fn install() -> std::io::Result<()> {
    if FLAGS.get().is_some() {
        return Ok(());
    }
    let flags = Flags { signal: Arc::new(AtomicUsize::new(0)), stopping: Arc::new(AtomicBool::new(false)) };
    #[cfg(unix)]
    for (signal, _) in SIGNALS {
        // A second Ctrl-C exits at once (registered first, so it sees the flag the first one
        // set). Repeated SIGTERM and SIGUSR1 do not: a preempted Slurm job gets SIGTERM from
        // Slurm and SIGUSR1 from its batch script, and must still stop gracefully.
        if signal == signal_hook::consts::SIGINT {
            signal_hook::flag::register_conditional_shutdown(signal, 128 + signal, flags.stopping.clone())?;
        }
        // The first signal's number is kept.
        let first = flags.signal.clone();
        // SAFETY: the handler only does a lock-free atomic compare-exchange (async-signal-safe).
        unsafe {
            signal_hook::low_level::register(signal, move || {
                let _ = first.compare_exchange(0, signal as usize, Ordering::Relaxed, Ordering::Relaxed);
            })?;
        }
        signal_hook::flag::register(signal, flags.stopping.clone())?;
    }
    let _ = FLAGS.set(flags);
    Ok(())
}

/// The name of the signal that asked for a stop, if one did.
pub fn requested() -> Option<&'static str> {
    let signal = FLAGS.get()?.signal.load(Ordering::Relaxed);
    if signal == 0 {
        return None;
    }
    #[cfg(unix)]
    {
        SIGNALS.iter().find(|(s, _)| *s as usize == signal).map(|(_, name)| *name)
    }
    #[cfg(not(unix))]
    Some("a stop signal")
}
