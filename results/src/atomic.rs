//! Atomic file writes: a reader, or a run killed at any instant, sees the old file or the new one,
//! never a torn one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::ResultsError;

/// A file being written under a temporary name in its final folder (`tempfile`'s
/// [`tempfile::NamedTempFile`]); [`AtomicFile::commit`] syncs it, renames it into place and syncs
/// the folder. Dropped without commit, the temporary file is removed.
pub struct AtomicFile {
    tmp: NamedTempFile,
    dest: PathBuf,
}

impl AtomicFile {
    pub fn create(dest: impl AsRef<Path>) -> Result<Self, ResultsError> {
        let dest = dest.as_ref().to_path_buf();
        let io_err = |source| ResultsError::Io { path: dest.clone(), source };
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(io_err)?;
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = tempfile::Builder::new().prefix(&format!(".{name}{TEMPORARY_MARK}")).tempfile_in(&parent).map_err(io_err)?;
        Ok(Self { tmp, dest })
    }

    /// The temporary path, for writers that need a path rather than a `Write` (e.g. libtorch).
    pub fn tmp_path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn commit(self) -> Result<(), ResultsError> {
        let io_err = |source| ResultsError::Io { path: self.dest.clone(), source };
        // Reopen so writes made through `tmp_path` by another writer are synced too.
        File::options().write(true).open(self.tmp.path()).and_then(|f| f.sync_all()).map_err(io_err)?;
        self.tmp.persist(&self.dest).map_err(|e| io_err(e.error))?;
        if let Some(parent) = self.dest.parent() {
            // Persist the rename itself; failure to open a directory is not fatal on every OS.
            if let Ok(dir) = File::open(if parent.as_os_str().is_empty() { Path::new(".") } else { parent }) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

/// What marks a temporary file's name: `.<final name>.tmp.<random>`.
const TEMPORARY_MARK: &str = ".tmp.";

/// Whether `name` is a temporary file of [`AtomicFile`].
fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.rsplit_once(TEMPORARY_MARK).is_some_and(|(_, tail)| !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Removes, below `dir`, the temporary files that writers killed mid-write left behind. Call it
/// only when no other process writes there (hold the [`crate::FolderLock`] that guards it all).
pub fn remove_stale_temporaries(dir: &Path) {
    remove_temporaries(dir, true);
}

/// Removes the temporary files left in `dir` itself, not in its subfolders: for a run folder's
/// own files, whose lock does not guard the replicates below it.
pub fn remove_stale_temporaries_here(dir: &Path) {
    remove_temporaries(dir, false);
}

fn remove_temporaries(dir: &Path, recursive: bool) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if recursive {
                remove_temporaries(&path, true);
            }
        } else if is_temporary(&entry.file_name().to_string_lossy()) {
            let _ = fs::remove_file(path);
        }
    }
}

/// Writes `bytes` to `dest` atomically.
pub fn write_atomic(dest: impl AsRef<Path>, bytes: &[u8]) -> Result<(), ResultsError> {
    let dest = dest.as_ref();
    let mut file = AtomicFile::create(dest)?;
    file.write_all(bytes).map_err(|source| ResultsError::Io { path: dest.to_path_buf(), source })?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_atomic(&path, b"first version, longer").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn stale_temporaries_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a");
        fs::create_dir_all(&sub).unwrap();
        for name in [".x.csv.tmp.123", "keep.csv", ".hidden", "y.tmp.5"] {
            fs::write(sub.join(name), b"").unwrap();
        }
        fs::write(dir.path().join(".top.csv.tmp.9"), b"").unwrap();
        remove_stale_temporaries_here(dir.path());
        assert!(!dir.path().join(".top.csv.tmp.9").exists());
        assert!(sub.join(".x.csv.tmp.123").exists(), "subfolders are not this lock's");
        remove_stale_temporaries(dir.path());
        let mut left: Vec<String> = fs::read_dir(&sub).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, vec![".hidden", "keep.csv", "y.tmp.5"]);
    }

    #[test]
    fn uncommitted_write_leaves_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_atomic(&path, b"old").unwrap();
        {
            let mut f = AtomicFile::create(&path).unwrap();
            f.write_all(b"new but abandoned").unwrap();
        }
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
