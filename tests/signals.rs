//! A run stopped by SIGKILL, SIGTERM or SIGINT at any moment and run again finishes with tables
//! byte-identical to an uninterrupted run's: every file is written atomically, the run lock goes
//! with the process, and each ticket resumes from its last checkpoint.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;

fn args<'a>(data: &'a str, out: &'a str) -> Vec<&'a str> {
    lenet_interrupt_args(data, out)
}

#[test]
fn twenty_stops_by_kill_term_and_int_at_random_moments_change_no_result() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = mnist_folder(data.path());
    let data_dir = data_dir.to_str().unwrap();
    let clean = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    run_ok(&args(data_dir, clean.path().to_str().unwrap()));
    // Moments drawn over the length of a whole run, so stops land in every phase.
    let whole_ms = started.elapsed().as_millis() as u64;

    let stopped = tempfile::tempdir().unwrap();
    let out = stopped.path().to_str().unwrap();
    let mut rng = lottery_envs::Rng::new(20);
    for i in 0..20 {
        let signal = [libc::SIGKILL, libc::SIGTERM, libc::SIGINT][i % 3];
        let delay = 150 + rng.below(whole_ms.max(300));
        let mut child = harness().args(args(data_dir, out)).stderr(Stdio::null()).stdout(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
        let sent = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        assert!(sent == 0 || child.try_wait().unwrap().is_some(), "signal {signal} was not sent");
        child.wait().unwrap();
    }
    run_ok(&args(data_dir, out));
    for file in ["comparison.csv", "curves.csv", "comparison.arrow", "curves.arrow"] {
        let a = std::fs::read(run_dir(clean.path()).join(file)).unwrap();
        let b = std::fs::read(run_dir(stopped.path()).join(file)).unwrap();
        assert!(a == b, "{file} differs after 20 stops and a resume");
    }
}
