//! One writer per run folder: a lock file holding the writer's process id. A lock left by a
//! process that no longer exists (killed with SIGKILL, say) is taken over.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::ResultsError;

/// Held while a process writes a run folder; removed on drop.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

/// Whether a process with this id is running (Linux: it has a `/proc` entry).
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[derive(Debug, thiserror::Error)]
#[error("{dir} is being written by another harness process (pid {pid}); wait for it to finish, or delete {lock} if that process is gone")]
pub struct Locked {
    pub dir: PathBuf,
    pub pid: u32,
    pub lock: PathBuf,
}

impl RunLock {
    /// Takes the lock of `dir`, or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<Result<Self, Locked>, ResultsError> {
        let path = dir.join(".lock");
        let io_err = |source| ResultsError::Io { path: path.clone(), source };
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    write!(file, "{}", std::process::id()).map_err(io_err)?;
                    return Ok(Ok(RunLock { path }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = fs::read_to_string(&path).ok().and_then(|s| s.trim().parse::<u32>().ok());
                    match holder {
                        Some(pid) if alive(pid) => return Ok(Err(Locked { dir: dir.to_path_buf(), pid, lock: path })),
                        // Stale (or half-written by a killed process): take it over.
                        _ => fs::remove_file(&path).map_err(io_err)?,
                    }
                }
                Err(e) => return Err(io_err(e)),
            }
        }
        Err(io_err(std::io::Error::other("the lock file keeps reappearing")))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_stale_locks_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap().unwrap();
        let err = RunLock::acquire(dir.path()).unwrap().unwrap_err();
        assert_eq!(err.pid, std::process::id());
        assert!(err.to_string().contains("another harness process"));
        drop(lock);
        // A process id far above Linux's pid_max is never alive.
        fs::write(dir.path().join(".lock"), "4294967290").unwrap();
        let _lock = RunLock::acquire(dir.path()).unwrap().unwrap();
        assert_eq!(fs::read_to_string(dir.path().join(".lock")).unwrap(), std::process::id().to_string());
    }
}
