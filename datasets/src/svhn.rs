//! SVHN (Netzer et al. 2011), cropped digits: `train_32x32.mat` and `test_32x32.mat`, MATLAB v5
//! files holding `X` (uint8, 32x32x3xN in MATLAB's column-major order) and `y` (labels 1-10, 10
//! standing for the digit 0), read with the `matfile` crate. Labels become the digits 0-9.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use matfile::{MatFile, NumericData};

use crate::image::{check_split, find_file};
use crate::{io_err, DataError, ImageSplit, ImageSplits, CLASSES};

const FORMAT: &str = "SVHN MATLAB v5";
const SIDE: usize = 32;

/// Reads one SVHN `.mat` file as channel-major, row-major images.
pub fn read_svhn_mat(path: &Path) -> Result<ImageSplit, DataError> {
    let bad = |reason: String| DataError::Format { path: path.to_path_buf(), format: FORMAT, reason };
    let file = File::open(path).map_err(io_err(path))?;
    let mat = MatFile::parse(std::io::BufReader::new(file)).map_err(|e| bad(format!("{e} ({e:?})")))?;
    let x = mat.find_by_name("X").ok_or_else(|| bad("it has no array `X`".into()))?;
    let y = mat.find_by_name("y").ok_or_else(|| bad("it has no array `y`".into()))?;
    let dims = x.size();
    if dims.len() != 4 || dims[..3] != [SIDE, SIDE, 3] {
        return Err(bad(format!("`X` is {dims:?}, expected [32, 32, 3, N]")));
    }
    let n = dims[3];
    let NumericData::UInt8 { real: pixels, .. } = x.data() else { return Err(bad("`X` is not uint8".into())) };
    let labels: Vec<f64> = match y.data() {
        NumericData::Double { real, .. } => real.clone(),
        NumericData::UInt8 { real, .. } => real.iter().map(|&v| v as f64).collect(),
        _ => return Err(bad("`y` is neither double nor uint8".into())),
    };
    if labels.len() != n {
        return Err(bad(format!("{} labels for {n} images", labels.len())));
    }
    // MATLAB's element (row, column, channel, image) sits at row + 32 column + 1024 channel +
    // 3072 image; ours at channel-major, row-major positions.
    let mut out = vec![0u8; n * 3 * SIDE * SIDE];
    for (i, image) in out.chunks_exact_mut(3 * SIDE * SIDE).enumerate() {
        let src = &pixels[i * 3 * SIDE * SIDE..(i + 1) * 3 * SIDE * SIDE];
        for c in 0..3 {
            for row in 0..SIDE {
                for col in 0..SIDE {
                    image[(c * SIDE + row) * SIDE + col] = src[row + SIDE * col + SIDE * SIDE * c];
                }
            }
        }
    }
    let mut digits = Vec::with_capacity(n);
    for (i, &l) in labels.iter().enumerate() {
        if !(1.0..=10.0).contains(&l) || l.fract() != 0.0 {
            return Err(bad(format!("label {l} of example {i} is not 1-10")));
        }
        digits.push((l as u8) % 10);
    }
    let split = ImageSplit { n, channels: 3, height: SIDE, width: SIDE, pixels: out, labels: digits };
    check_split(&split, path, FORMAT, CLASSES)?;
    Ok(split)
}

/// Loads SVHN from `<data_dir>/svhn/{train,test}_32x32.mat` (the `extra` split is not used).
pub fn load_svhn(data_dir: &Path) -> Result<ImageSplits, DataError> {
    let split = |stem: &str| read_svhn_mat(&find_file("svhn", data_dir, &format!("{stem}_32x32.mat"))?);
    Ok(ImageSplits { train: split("train")?, test: split("test")? })
}

/// Writes images as an uncompressed MATLAB v5 file in SVHN's layout (`X` uint8 32x32x3xN,
/// `y` double, the digit 0 as 10): for tests and for converting other data.
pub fn write_svhn_mat(path: &Path, split: &ImageSplit) -> Result<(), DataError> {
    assert_eq!((split.channels, split.height, split.width), (3, SIDE, SIDE), "SVHN images are 3x32x32");
    let mut x = vec![0u8; split.pixels.len()];
    for (i, image) in split.pixels.chunks_exact(3 * SIDE * SIDE).enumerate() {
        for c in 0..3 {
            for row in 0..SIDE {
                for col in 0..SIDE {
                    x[i * 3 * SIDE * SIDE + row + SIDE * col + SIDE * SIDE * c] = image[(c * SIDE + row) * SIDE + col];
                }
            }
        }
    }
    let y: Vec<u8> = split.labels.iter().flat_map(|&l| f64::from(if l == 0 { 10 } else { l }).to_le_bytes()).collect();
    let mut bytes = Vec::new();
    let mut header = b"MATLAB 5.0 MAT-file, written by lottery-datasets".to_vec();
    header.resize(116, b' ');
    bytes.extend(header);
    bytes.extend([0u8; 8]); // no subsystem data
    bytes.extend(0x0100u16.to_le_bytes());
    bytes.extend(b"IM");
    bytes.extend(matrix("X", MX_UINT8, MI_UINT8, &[SIDE, SIDE, 3, split.n], &x));
    bytes.extend(matrix("y", MX_DOUBLE, MI_DOUBLE, &[split.n, 1], &y));
    File::create(path).and_then(|mut f| f.write_all(&bytes)).map_err(io_err(path))
}

const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_DOUBLE: u32 = 9;
const MI_MATRIX: u32 = 14;
const MX_DOUBLE: u32 = 6;
const MX_UINT8: u32 = 9;

/// A data element: tag (type, byte count), the bytes, zero padding to 8 bytes.
fn element(kind: u32, data: &[u8]) -> Vec<u8> {
    let mut out = kind.to_le_bytes().to_vec();
    out.extend((data.len() as u32).to_le_bytes());
    out.extend(data);
    out.resize(out.len().div_ceil(8) * 8, 0);
    out
}

fn matrix(name: &str, class: u32, kind: u32, dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut body = element(MI_UINT32, &[class.to_le_bytes(), 0u32.to_le_bytes()].concat());
    body.extend(element(MI_INT32, &dims.iter().flat_map(|&d| (d as i32).to_le_bytes()).collect::<Vec<u8>>()));
    body.extend(element(MI_INT8, name.as_bytes()));
    body.extend(element(kind, data));
    element(MI_MATRIX, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_file_reads_back_with_digits_0_to_9_and_images_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let split = ImageSplit {
            n: 3,
            channels: 3,
            height: SIDE,
            width: SIDE,
            pixels: (0..3 * 3072).map(|i| (i * 7 % 251) as u8).collect(),
            labels: vec![0, 9, 4],
        };
        write_svhn_mat(&dir.path().join("train_32x32.mat"), &split).unwrap();
        assert_eq!(read_svhn_mat(&dir.path().join("train_32x32.mat")).unwrap(), split);
    }

    #[test]
    fn bad_files_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test_32x32.mat");
        std::fs::write(&path, b"not a mat file").unwrap();
        let err = read_svhn_mat(&path).unwrap_err().to_string();
        assert!(err.contains("test_32x32.mat is not a valid SVHN MATLAB v5 file"), "{err}");
    }
}
