//! The stop flag in a process of its own: a signal raised here would stop any training that
//! shares the process.

#[cfg(unix)]
#[test]
fn a_signal_is_recorded_by_name_and_the_process_keeps_running() {
    use lottery_engine::stop;
    stop::install().unwrap();
    stop::install().unwrap();
    assert_eq!(stop::requested(), None);
    // SAFETY: raise(3) sends a signal to this process, whose handler only sets flags.
    assert_eq!(unsafe { libc::raise(libc::SIGUSR1) }, 0);
    assert_eq!(stop::requested(), Some("SIGUSR1"));
}
