//! One writer per run folder: an advisory lock (`flock`, through `fs4`) on `.lock`, which the
//! kernel releases when the holder exits in any way (SIGKILL included), so no stale lock can
//! block a rerun and a reused process id means nothing. The file keeps the holder's pid and host
//! for the message a second writer gets; it is left in place (removing it would race with a
//! process that just opened it).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use fs4::{FileExt, TryLockError};

use crate::ResultsError;

/// Held while a process writes a run folder; the lock goes with the open file.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
#[error("{dir} is being written by another harness process ({holder}); wait for it to finish or stop it (the lock is released the moment it exits)")]
pub struct Locked {
    pub dir: PathBuf,
    /// `pid N on HOST`, as the holder wrote it.
    pub holder: String,
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "this host".into())
}

impl RunLock {
    /// Takes the lock of `dir`, or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<Result<Self, Locked>, ResultsError> {
        let path = dir.join(".lock");
        let io_err = |source| ResultsError::Io { path: path.clone(), source };
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io_err)?;
        if let Err(e) = FileExt::try_lock(&file) {
            if let TryLockError::Error(e) = e {
                return Err(io_err(e));
            }
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = if holder.trim().is_empty() { "a process that is starting".to_string() } else { holder.trim().to_string() };
            return Ok(Err(Locked { dir: dir.to_path_buf(), holder }));
        }
        file.set_len(0).map_err(io_err)?;
        file.rewind().map_err(io_err)?;
        write!(file, "pid {} on {}", std::process::id(), host()).map_err(io_err)?;
        Ok(Ok(RunLock { _file: file }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_a_dropped_lock_is_free_again() {
        let dir = tempfile::tempdir().unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap().unwrap();
        let err = RunLock::acquire(dir.path()).unwrap().unwrap_err();
        assert!(err.holder.contains(&format!("pid {}", std::process::id())), "{}", err.holder);
        assert!(err.to_string().contains("another harness process"));
        drop(lock);
        // A lock file left by a dead process (its pid reused or not) does not block.
        std::fs::write(dir.path().join(".lock"), "pid 1 on elsewhere").unwrap();
        let _lock = RunLock::acquire(dir.path()).unwrap().unwrap();
    }
}
