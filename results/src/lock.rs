//! Folder locks: one writer per run folder's shared files, per replicate and per ticket, across
//! processes and machines.
//!
//! The lock is an advisory `flock` (through `fs4`) on a `.lock` file in the folder. The kernel
//! releases it when the holder exits in any way (SIGKILL included), so no stale lock can block a
//! rerun. On NFS (v4, or v3 with lockd) Linux turns `flock` into a byte-range lock the server
//! arbitrates, so it excludes processes on other machines; Lustre does the same when mounted with
//! `-o flock`. The file keeps the holder's pid and host for the message a second writer gets; it
//! is left in place (removing it would race with a process that just opened it).
//!
//! Where `flock` is refused (`ENOSYS`, `EOPNOTSUPP`: Lustre without `-o flock`; `ENOLCK`: NFS
//! without a lock manager) or cannot be trusted (NFS mounted `nolock` or `local_lock=all`, where
//! it only excludes processes on the same machine: set `LOTTERY_LOCK=pidfile`), the lock is a
//! `.lock.pid` file created exclusively (`O_EXCL`), holding `pid N on HOST`. The holder removes it
//! when it releases the lock. A killed holder leaves it behind: on the same host a dead pid makes
//! it stale and it is taken over; from another host it cannot be checked, and the error names the
//! file to delete once that job is gone.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs4::{FileExt, TryLockError};

use crate::ResultsError;

/// The lock file of the `flock` method.
pub const LOCK_FILE: &str = ".lock";
/// The lock file of the pid-file method.
pub const PID_LOCK_FILE: &str = ".lock.pid";

/// Held while a process writes what a folder lock guards; the lock goes with the value.
#[derive(Debug)]
pub struct FolderLock {
    held: Held,
}

#[derive(Debug)]
enum Held {
    Flock(#[allow(dead_code)] File),
    PidFile { path: PathBuf, owner: String },
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        if let Held::PidFile { path, owner } = &self.held {
            // Remove it only if it is still ours (someone may have deleted a lock they judged
            // stale and taken it since).
            if std::fs::read_to_string(path).is_ok_and(|text| text.trim() == owner) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{dir} is being written by another harness process ({holder}); wait for it to finish or stop it (the lock is released the moment it exits){}", stale_hint(.pid_file))]
pub struct Locked {
    pub dir: PathBuf,
    /// `pid N on HOST`, as the holder wrote it.
    pub holder: String,
    /// The pid-file lock, when that method holds it: it outlives a killed holder.
    pub pid_file: Option<PathBuf>,
}

fn stale_hint(pid_file: &Option<PathBuf>) -> String {
    match pid_file {
        Some(path) => format!("; if that process is gone (killed, or its node lost), delete {}", path.display()),
        None => String::new(),
    }
}

/// How folders are locked: `flock`, unless `LOTTERY_LOCK=pidfile` asks for pid files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMethod {
    Flock,
    PidFile,
}

impl LockMethod {
    /// From `LOTTERY_LOCK` (`flock`, the default, or `pidfile`).
    pub fn from_env() -> Result<Self, ResultsError> {
        match std::env::var("LOTTERY_LOCK").as_deref() {
            Err(_) | Ok("") | Ok("flock") => Ok(LockMethod::Flock),
            Ok("pidfile") => Ok(LockMethod::PidFile),
            Ok(other) => Err(ResultsError::BadLockMethod(other.to_string())),
        }
    }
}

/// This machine's host name.
pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "this host".into())
}

fn owner() -> String {
    format!("pid {} on {}", std::process::id(), host())
}

/// Whether `flock` is unavailable on this filesystem (rather than held by someone).
fn flock_unsupported(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(code) if code == 37 /* ENOLCK */ || code == 38 /* ENOSYS */ || code == 95 /* EOPNOTSUPP */)
}

impl FolderLock {
    /// Takes the lock of `dir` if it is free, or says which process holds it.
    pub fn try_acquire(dir: &Path) -> Result<Result<Self, Locked>, ResultsError> {
        match LockMethod::from_env()? {
            LockMethod::Flock => match Self::try_flock(dir)? {
                Some(result) => Ok(result),
                None => Self::try_pid_file(dir),
            },
            LockMethod::PidFile => Self::try_pid_file(dir),
        }
    }

    /// Waits for the lock of `dir`: for short sections (a run's `config.toml` and tables) that
    /// several writers of one folder take in turn. Gives up after `patience`.
    pub fn acquire(dir: &Path, patience: Duration) -> Result<Result<Self, Locked>, ResultsError> {
        let started = Instant::now();
        loop {
            match Self::try_acquire(dir)? {
                Ok(lock) => return Ok(Ok(lock)),
                Err(locked) if started.elapsed() >= patience => return Ok(Err(locked)),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Who holds the lock of `dir` now, if anyone: probes without keeping it, for status
    /// reports. (A writer starting at that instant retries: see [`FolderLock::acquire`].)
    pub fn holder(dir: &Path) -> Result<Option<String>, ResultsError> {
        if !dir.is_dir() {
            return Ok(None);
        }
        match Self::try_acquire(dir)? {
            Ok(_released_on_drop) => Ok(None),
            Err(locked) => Ok(Some(locked.holder)),
        }
    }

    /// `None` when `flock` is not supported here.
    fn try_flock(dir: &Path) -> Result<Option<Result<Self, Locked>>, ResultsError> {
        let path = dir.join(LOCK_FILE);
        let io_err = |source| ResultsError::Io { path: path.clone(), source };
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io_err)?;
        match FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(TryLockError::Error(e)) if flock_unsupported(&e) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = if holder.trim().is_empty() { "a process that is starting".to_string() } else { holder.trim().to_string() };
                return Ok(Some(Err(Locked { dir: dir.to_path_buf(), holder, pid_file: None })));
            }
        }
        file.set_len(0).map_err(io_err)?;
        file.rewind().map_err(io_err)?;
        write!(file, "{}", owner()).map_err(io_err)?;
        Ok(Some(Ok(FolderLock { held: Held::Flock(file) })))
    }

    fn try_pid_file(dir: &Path) -> Result<Result<Self, Locked>, ResultsError> {
        let path = dir.join(PID_LOCK_FILE);
        let io_err = |source| ResultsError::Io { path: path.clone(), source };
        let me = owner();
        // Twice at most: once more after removing a stale file.
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    file.write_all(me.as_bytes()).and_then(|_| file.sync_all()).map_err(io_err)?;
                    return Ok(Ok(FolderLock { held: Held::PidFile { path, owner: me } }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default().trim().to_string();
                    if holder_is_dead_here(&holder) {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    let holder = if holder.is_empty() { "a process that is starting".to_string() } else { holder };
                    return Ok(Err(Locked { dir: dir.to_path_buf(), holder, pid_file: Some(path) }));
                }
                Err(e) => return Err(io_err(e)),
            }
        }
        let holder = std::fs::read_to_string(&path).unwrap_or_default().trim().to_string();
        Ok(Err(Locked { dir: dir.to_path_buf(), holder, pid_file: Some(path) }))
    }
}

/// Whether `pid N on HOST` names this host and a process that no longer exists.
fn holder_is_dead_here(holder: &str) -> bool {
    let Some((pid, on)) = holder.strip_prefix("pid ").and_then(|rest| rest.split_once(" on ")) else { return false };
    let Ok(pid) = pid.parse::<u32>() else { return false };
    on == host() && Path::new("/proc").is_dir() && !Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_a_dropped_lock_is_free_again() {
        let dir = tempfile::tempdir().unwrap();
        let lock = FolderLock::try_flock(dir.path()).unwrap().unwrap().unwrap();
        let err = FolderLock::try_flock(dir.path()).unwrap().unwrap().unwrap_err();
        assert!(err.holder.contains(&format!("pid {}", std::process::id())), "{}", err.holder);
        assert!(err.to_string().contains("another harness process"));
        assert_eq!(FolderLock::holder(dir.path()).unwrap(), Some(owner()));
        drop(lock);
        assert_eq!(FolderLock::holder(dir.path()).unwrap(), None);
        // A lock file left by a dead process (its pid reused or not) does not block.
        std::fs::write(dir.path().join(LOCK_FILE), "pid 1 on elsewhere").unwrap();
        let _lock = FolderLock::try_flock(dir.path()).unwrap().unwrap().unwrap();
    }

    #[test]
    fn pid_file_lock_excludes_releases_and_takes_over_a_dead_local_holder_only() {
        let dir = tempfile::tempdir().unwrap();
        let lock = FolderLock::try_pid_file(dir.path()).unwrap().unwrap();
        let err = FolderLock::try_pid_file(dir.path()).unwrap().unwrap_err();
        assert!(err.to_string().contains(PID_LOCK_FILE), "{err}");
        drop(lock);
        assert!(!dir.path().join(PID_LOCK_FILE).exists(), "released by removing the file");

        // A holder on this host whose pid is gone is stale; u32::MAX is never a live pid.
        std::fs::write(dir.path().join(PID_LOCK_FILE), format!("pid {} on {}", u32::MAX, host())).unwrap();
        let lock = FolderLock::try_pid_file(dir.path()).unwrap().unwrap();
        drop(lock);
        // One on another host cannot be checked: it blocks, and the message names the file.
        std::fs::write(dir.path().join(PID_LOCK_FILE), "pid 1 on node-elsewhere").unwrap();
        let err = FolderLock::try_pid_file(dir.path()).unwrap().unwrap_err();
        assert_eq!(err.holder, "pid 1 on node-elsewhere");
        assert!(err.to_string().contains("delete"), "{err}");
    }
}
