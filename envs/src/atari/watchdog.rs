//! A watchdog on emulation. A call into ALE cannot be interrupted, and a ROM it cannot run (one
//! that got past the MD5 check, say) makes it spin forever after `Illegal Instruction!`. Every
//! call that advances an emulator is bracketed by a [`Call`]; [`watch`] starts one thread that
//! reports when a call is in flight and no call has finished for `limit` (a healthy call takes
//! microseconds).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static STARTED: AtomicU64 = AtomicU64::new(0);
static FINISHED: AtomicU64 = AtomicU64::new(0);

/// Held for the duration of one emulator call.
pub(crate) struct Call;

impl Call {
    pub(crate) fn start() -> Self {
        STARTED.fetch_add(1, Ordering::SeqCst);
        Call
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        FINISHED.fetch_add(1, Ordering::SeqCst);
    }
}

/// Starts the watchdog (once per process; later calls do nothing): `on_stall` runs when a call
/// has been in flight with no call finishing for `limit`. It runs on the watchdog's thread, which
/// cannot stop the stuck call: ending the process is what it is for.
pub fn watch(limit: Duration, on_stall: impl Fn(Duration) + Send + 'static) {
    static STARTED_ONCE: OnceLock<()> = OnceLock::new();
    STARTED_ONCE.get_or_init(|| {
        std::thread::spawn(move || {
            let tick = (limit / 8).max(Duration::from_millis(10));
            let (mut last, mut since) = (FINISHED.load(Ordering::SeqCst), Instant::now());
            loop {
                std::thread::sleep(tick);
                let finished = FINISHED.load(Ordering::SeqCst);
                let in_flight = STARTED.load(Ordering::SeqCst) > finished;
                if finished != last || !in_flight {
                    (last, since) = (finished, Instant::now());
                } else if since.elapsed() >= limit {
                    on_stall(since.elapsed());
                    since = Instant::now();
                }
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn a_call_that_never_finishes_is_reported_and_finished_calls_are_not() {
        let stalled = Arc::new(AtomicBool::new(false));
        let flag = stalled.clone();
        watch(Duration::from_millis(200), move |_| flag.store(true, Ordering::SeqCst));
        for _ in 0..50 {
            drop(Call::start());
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!stalled.load(Ordering::SeqCst), "finished calls were reported");
        let stuck = Call::start();
        std::thread::sleep(Duration::from_millis(800));
        assert!(stalled.load(Ordering::SeqCst), "a stuck call was not reported");
        drop(stuck);
    }
}
