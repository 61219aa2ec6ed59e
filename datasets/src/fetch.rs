//! Downloads with SHA-256 verification. A file is streamed to a temporary file beside its
//! destination (the one atomic writer, `lottery_results::AtomicFile`), hashed, and moved into
//! place only when the hash matches.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use lottery_results::AtomicFile;
use sha2::{Digest, Sha256};

use crate::{io_err, manual_source, source, DataError, RemoteFile, Unpack, MANUAL_SOURCES, SOURCES};

/// What a fetch did, file by file.
#[derive(Debug, Default)]
pub struct FetchReport {
    pub downloaded: Vec<PathBuf>,
    /// Files already present with the right checksum.
    pub verified: Vec<PathBuf>,
}

/// The SHA-256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        match file.read(&mut chunk).map_err(io_err(path))? {
            0 => break,
            n => hasher.update(&chunk[..n]),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Streams `url` into a temporary file beside `dest` and moves it into place only when its
/// SHA-256 is `expected`; on any failure the temporary file is removed and `dest` untouched.
fn download(url: &str, dest: &Path, dataset: &str, expected: &str) -> Result<(), DataError> {
    let download_err = |reason: String| DataError::Download { url: url.to_string(), reason };
    let response = ureq::get(url).call().map_err(|e| download_err(e.to_string()))?;
    let mut reader = response.into_body().into_reader();
    let mut file = AtomicFile::create(dest)?;
    io::copy(&mut reader, &mut file).map_err(|e| download_err(e.to_string()))?;
    file.flush().map_err(io_err(dest))?;
    let actual = sha256_file(file.tmp_path())?;
    if actual != expected {
        return Err(DataError::Checksum { dataset: dataset.to_string(), path: dest.to_path_buf(), expected: expected.to_string(), actual });
    }
    Ok(file.commit()?)
}

fn unpack_tar_gz(archive: &Path, into: &Path) -> Result<(), DataError> {
    let file = File::open(archive).map_err(io_err(archive))?;
    tar::Archive::new(flate2::read::GzDecoder::new(file)).unpack(into).map_err(io_err(archive))
}

/// Unpacks a zip whose entries share one top folder into `into`, without that folder.
pub fn unpack_zip_strip_top(archive: &Path, into: &Path) -> Result<(), DataError> {
    let format_err = |reason: String| DataError::Format { path: archive.to_path_buf(), format: "zip", reason };
    let file = File::open(archive).map_err(io_err(archive))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| format_err(e.to_string()))?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| format_err(e.to_string()))?;
        // enclosed_name rejects absolute paths and `..`, so nothing lands outside `into`.
        let Some(name) = entry.enclosed_name() else {
            return Err(format_err(format!("entry `{}` escapes the archive", entry.name_raw().escape_ascii())));
        };
        let inner: PathBuf = name.components().skip(1).collect();
        if inner.as_os_str().is_empty() || entry.is_dir() {
            continue;
        }
        let dest = into.join(inner);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        let mut out = File::create(&dest).map_err(io_err(&dest))?;
        std::io::copy(&mut entry, &mut out).map_err(io_err(&dest))?;
    }
    Ok(())
}

fn fetch_file(
    dataset: &str,
    file: &RemoteFile,
    dir: &Path,
    mirror: Option<&str>,
    report: &mut FetchReport,
) -> Result<(), DataError> {
    let dest = dir.join(file.name);
    if dest.is_file() && sha256_file(&dest)? == file.sha256 {
        report.verified.push(dest);
        return Ok(());
    }
    let url = match mirror {
        Some(base) => format!("{}/{}", base.trim_end_matches('/'), file.name),
        None => file.url.to_string(),
    };
    download(&url, &dest, dataset, file.sha256)?;
    match file.unpack {
        Unpack::No => {}
        Unpack::TarGz => unpack_tar_gz(&dest, dir)?,
        Unpack::ZipStripTop => unpack_zip_strip_top(&dest, dir)?,
    }
    report.downloaded.push(dest);
    Ok(())
}

/// Fetches every file of dataset `name` into `<data_dir>/<folder>/`, from `mirror` (a base URL
/// holding the files under their canonical names) when given, else from the canonical URLs.
/// Files already present with the right checksum are not downloaded again; all files are tried
/// even when one fails, and the first failure is returned.
pub fn fetch(name: &str, data_dir: &Path, mirror: Option<&str>) -> Result<FetchReport, DataError> {
    if let Some(manual) = manual_source(name) {
        return Err(DataError::NoVerifiedDownload { dataset: name.into(), folder: data_dir.join(manual.folder), how: manual.how.into() });
    }
    let src = source(name).ok_or_else(|| DataError::UnknownDataset {
        name: name.to_string(),
        known: SOURCES.iter().map(|s| s.name).chain(MANUAL_SOURCES.iter().map(|s| s.name)).collect::<Vec<_>>().join(", "),
    })?;
    let dir = data_dir.join(src.folder);
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let mut report = FetchReport::default();
    let mut first_error = None;
    for file in src.files {
        if let Err(e) = fetch_file(name, file, &dir, mirror, &mut report) {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_known_string() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn unknown_dataset_lists_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let err = fetch("mnistt", dir.path(), None).unwrap_err().to_string();
        assert!(err.contains("mnist, fashion-mnist, cifar10, cifar100, svhn, ptb, wikitext2, multi30k"), "{err}");
    }

    #[test]
    fn zip_unpacks_without_its_top_folder() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.zip");
        let mut zip = zip::ZipWriter::new(File::create(&archive).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        zip.add_directory("wikitext-2/", options).unwrap();
        zip.start_file("wikitext-2/wiki.test.tokens", options).unwrap();
        zip.write_all(b" = Title = \n").unwrap();
        zip.finish().unwrap();
        let out = dir.path().join("out");
        unpack_zip_strip_top(&archive, &out).unwrap();
        assert_eq!(fs::read_to_string(out.join("wiki.test.tokens")).unwrap(), " = Title = \n");
    }
}
