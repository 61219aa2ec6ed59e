//! The IDX format of MNIST and Fashion-MNIST (gzip-compressed or raw).

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use crate::{io_err, DataError};

/// An unsigned-byte IDX array: its shape and its values in row-major order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads a file, decompressing it if it starts with the gzip magic bytes.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let mut raw = vec![];
    File::open(path).and_then(|mut f| f.read_to_end(&mut raw)).map_err(io_err(path))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = vec![];
        GzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(|e| DataError::Format {
            path: path.to_path_buf(),
            format: "gzip",
            reason: e.to_string(),
        })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Reads an IDX file of unsigned bytes (type code 0x08), the only type MNIST-style data uses.
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    let bytes = read_maybe_gz(path)?;
    let bad = |reason: String| DataError::Format { path: path.to_path_buf(), format: "IDX", reason };
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad("missing the 0x0000 magic prefix".into()));
    }
    if bytes[2] != 0x08 {
        return Err(bad(format!("element type 0x{:02x} is not unsigned byte (0x08)", bytes[2])));
    }
    let ndim = bytes[3] as usize;
    let header = 4 + 4 * ndim;
    if ndim == 0 || bytes.len() < header {
        return Err(bad(format!("truncated header for {ndim} dimensions")));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let expected: usize = dims.iter().product();
    let data = bytes[header..].to_vec();
    if data.len() != expected {
        return Err(bad(format!("dimensions {dims:?} need {expected} bytes of data, found {}", data.len())));
    }
    Ok(IdxArray { dims, data })
}

/// Writes an unsigned-byte IDX array, gzip-compressed: the format `harness data fetch` stores.
pub fn write_idx_gz(path: &Path, array: &IdxArray) -> Result<(), DataError> {
    assert_eq!(array.dims.iter().product::<usize>(), array.data.len(), "dims must match data");
    let file = File::create(path).map_err(io_err(path))?;
    let mut gz = GzEncoder::new(file, flate2::Compression::default());
    let mut header = vec![0u8, 0, 0x08, array.dims.len() as u8];
    for &d in &array.dims {
        header.extend_from_slice(&(d as u32).to_be_bytes());
    }
    gz.write_all(&header)
        .and_then(|_| gz.write_all(&array.data))
        .and_then(|_| gz.finish().map(|_| ()))
        .map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_gzip_and_reads_raw() {
        let dir = tempfile::tempdir().unwrap();
        let array = IdxArray { dims: vec![2, 2, 3], data: (0..12).collect() };
        let gz = dir.path().join("a.gz");
        write_idx_gz(&gz, &array).unwrap();
        assert_eq!(read_idx(&gz).unwrap(), array);

        let raw = dir.path().join("a");
        std::fs::write(&raw, read_maybe_gz(&gz).unwrap()).unwrap();
        assert_eq!(read_idx(&raw).unwrap(), array);
    }

    #[test]
    fn rejects_truncated_data_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad-idx1-ubyte");
        std::fs::write(&path, [0, 0, 8, 1, 0, 0, 0, 5, 1, 2]).unwrap();
        let err = read_idx(&path).unwrap_err().to_string();
        assert!(err.contains("bad-idx1-ubyte") && err.contains("need 5 bytes"), "{err}");
    }

    #[test]
    fn reads_the_real_mnist_test_labels() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/mnist/t10k-labels-idx1-ubyte.gz");
        if !path.exists() {
            eprintln!("skipped: {} not present", path.display());
            return;
        }
        let labels = read_idx(&path).unwrap();
        assert_eq!(labels.dims, vec![10_000]);
        // The first test digits are 7, 2, 1, 0, 4.
        assert_eq!(&labels.data[..5], &[7, 2, 1, 0, 4]);
    }
}
