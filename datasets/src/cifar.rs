//! The CIFAR binary formats: CIFAR-10 records are one label byte and 3072 pixel bytes (1024 red,
//! then 1024 green, then 1024 blue, each 32x32 row-major); CIFAR-100 records have two label bytes
//! (coarse, then fine) before the same pixels.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::image::find_file;
use crate::{io_err, DataError, ImageSplit, ImageSplits};

const SIDE: usize = 32;
const PIXELS: usize = 3 * SIDE * SIDE;
const RECORD: usize = 1 + PIXELS;

/// Reads one CIFAR-10 batch file (`data_batch_1.bin`, `test_batch.bin`, ...).
pub fn read_cifar_batch(path: &Path) -> Result<ImageSplit, DataError> {
    let bytes = crate::idx::read_maybe_gz(path)?;
    if bytes.is_empty() || bytes.len() % RECORD != 0 {
        return Err(DataError::Format {
            path: path.to_path_buf(),
            format: "CIFAR-10 binary",
            reason: format!("{} bytes is not a whole number of {RECORD}-byte records", bytes.len()),
        });
    }
    let n = bytes.len() / RECORD;
    let mut pixels = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n);
    for record in bytes.chunks_exact(RECORD) {
        if record[0] > 9 {
            return Err(DataError::Format {
                path: path.to_path_buf(),
                format: "CIFAR-10 binary",
                reason: format!("label {} in record {} is not a class 0-9", record[0], labels.len()),
            });
        }
        labels.push(record[0]);
        pixels.extend_from_slice(&record[1..]);
    }
    Ok(ImageSplit { n, channels: 3, height: SIDE, width: SIDE, pixels, labels })
}

/// Writes images in the CIFAR-10 binary format (for tests and for converting other data).
pub fn write_cifar_batch(path: &Path, split: &ImageSplit) -> Result<(), DataError> {
    assert_eq!((split.channels, split.height, split.width), (3, SIDE, SIDE), "CIFAR images are 3x32x32");
    let mut file = File::create(path).map_err(io_err(path))?;
    for (label, image) in split.labels.iter().zip(split.pixels.chunks_exact(PIXELS)) {
        file.write_all(&[*label]).and_then(|_| file.write_all(image)).map_err(io_err(path))?;
    }
    Ok(())
}

fn concat(parts: Vec<ImageSplit>) -> ImageSplit {
    let mut all = ImageSplit { n: 0, channels: 3, height: SIDE, width: SIDE, pixels: vec![], labels: vec![] };
    for part in parts {
        all.n += part.n;
        all.pixels.extend(part.pixels);
        all.labels.extend(part.labels);
    }
    all
}

/// Loads CIFAR-10 from `<data_dir>/cifar10/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin`.
pub fn load_cifar10(data_dir: &Path) -> Result<ImageSplits, DataError> {
    let batch = |stem: &str| -> Result<ImageSplit, DataError> {
        let path = find_file("cifar10", data_dir, &format!("cifar-10-batches-bin/{stem}.bin"))?;
        let split = read_cifar_batch(&path)?;
        crate::image::check_split(&split, &path, "CIFAR binary", crate::CLASSES)?;
        Ok(split)
    };
    let train = (1..=5).map(|i| batch(&format!("data_batch_{i}"))).collect::<Result<Vec<_>, _>>()?;
    Ok(ImageSplits { train: concat(train), test: batch("test_batch")? })
}

/// CIFAR-100's classes (its fine labels).
pub const CIFAR100_CLASSES: u8 = 100;
const RECORD_100: usize = 2 + PIXELS;

/// Reads a CIFAR-100 binary file (`train.bin`, `test.bin`) with its fine labels (0-99).
pub fn read_cifar100_file(path: &Path) -> Result<ImageSplit, DataError> {
    let bytes = crate::idx::read_maybe_gz(path)?;
    let format = "CIFAR-100 binary";
    if bytes.len() % RECORD_100 != 0 {
        return Err(DataError::Format { path: path.to_path_buf(), format, reason: format!("{} bytes is not a whole number of {RECORD_100}-byte records", bytes.len()) });
    }
    let n = bytes.len() / RECORD_100;
    let mut pixels = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n);
    for record in bytes.chunks_exact(RECORD_100) {
        labels.push(record[1]);
        pixels.extend_from_slice(&record[2..]);
    }
    let split = ImageSplit { n, channels: 3, height: SIDE, width: SIDE, pixels, labels };
    crate::image::check_split(&split, path, format, CIFAR100_CLASSES)?;
    Ok(split)
}

/// Writes images in the CIFAR-100 binary format, coarse label `label / 5` (for tests).
pub fn write_cifar100_file(path: &Path, split: &ImageSplit) -> Result<(), DataError> {
    assert_eq!((split.channels, split.height, split.width), (3, SIDE, SIDE), "CIFAR images are 3x32x32");
    let mut file = File::create(path).map_err(io_err(path))?;
    for (label, image) in split.labels.iter().zip(split.pixels.chunks_exact(PIXELS)) {
        file.write_all(&[label / 5, *label]).and_then(|_| file.write_all(image)).map_err(io_err(path))?;
    }
    Ok(())
}

/// Loads CIFAR-100 from `<data_dir>/cifar100/cifar-100-binary/{train,test}.bin`.
pub fn load_cifar100(data_dir: &Path) -> Result<ImageSplits, DataError> {
    let file = |stem: &str| read_cifar100_file(&find_file("cifar100", data_dir, &format!("cifar-100-binary/{stem}.bin"))?);
    Ok(ImageSplits { train: file("train")?, test: file("test")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(n: usize, seed: u8) -> ImageSplit {
        ImageSplit {
            n,
            channels: 3,
            height: SIDE,
            width: SIDE,
            pixels: (0..n * PIXELS).map(|i| (i as u8).wrapping_mul(seed)).collect(),
            labels: (0..n).map(|i| (i % 10) as u8).collect(),
        }
    }

    #[test]
    fn loads_the_five_train_batches_and_the_test_batch() {
        let dir = tempfile::tempdir().unwrap();
        let batches = dir.path().join("cifar10/cifar-10-batches-bin");
        std::fs::create_dir_all(&batches).unwrap();
        for i in 1..=5 {
            write_cifar_batch(&batches.join(format!("data_batch_{i}.bin")), &images(3, i)).unwrap();
        }
        write_cifar_batch(&batches.join("test_batch.bin"), &images(2, 7)).unwrap();
        let splits = load_cifar10(dir.path()).unwrap();
        assert_eq!(splits.train.n, 15);
        assert_eq!(splits.test, images(2, 7));
        assert_eq!(&splits.train.pixels[..PIXELS], &images(1, 1).pixels[..]);
    }

    #[test]
    fn cifar100_reads_fine_labels_and_refuses_labels_past_99() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("cifar100/cifar-100-binary");
        std::fs::create_dir_all(&folder).unwrap();
        let mut train = images(4, 3);
        train.labels = vec![0, 57, 99, 12];
        write_cifar100_file(&folder.join("train.bin"), &train).unwrap();
        write_cifar100_file(&folder.join("test.bin"), &images(2, 5)).unwrap();
        let bytes = std::fs::read(folder.join("train.bin")).unwrap();
        assert_eq!((bytes.len(), bytes[RECORD_100], bytes[RECORD_100 + 1]), (4 * RECORD_100, 11, 57), "coarse, then fine label");
        let splits = load_cifar100(dir.path()).unwrap();
        assert_eq!(splits.train, train);
        train.labels[1] = 100;
        write_cifar100_file(&folder.join("train.bin"), &train).unwrap();
        let err = load_cifar100(dir.path()).unwrap_err().to_string();
        assert!(err.contains("label 100 of example 1 is outside 0..100") && err.contains("train.bin"), "{err}");
    }

    #[test]
    fn rejects_a_partial_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.bin");
        std::fs::write(&path, vec![1u8; RECORD + 5]).unwrap();
        let err = read_cifar_batch(&path).unwrap_err().to_string();
        assert!(err.contains("whole number"), "{err}");
    }
}
