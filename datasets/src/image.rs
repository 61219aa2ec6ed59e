//! Image classification splits, as bytes: what the IDX and CIFAR loaders produce.

use std::path::{Path, PathBuf};

use crate::{read_idx, DataError};

/// `n` images of `channels x height x width` bytes each (channel-major), and their labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSplit {
    pub n: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl ImageSplit {
    /// The examples whose label is in `classes`, in their order.
    pub fn select(&self, classes: &[u8]) -> ImageSplit {
        let size = self.channels * self.height * self.width;
        let keep: Vec<usize> = (0..self.n).filter(|&i| classes.contains(&self.labels[i])).collect();
        ImageSplit {
            n: keep.len(),
            channels: self.channels,
            height: self.height,
            width: self.width,
            pixels: keep.iter().flat_map(|&i| self.pixels[i * size..(i + 1) * size].iter().copied()).collect(),
            labels: keep.iter().map(|&i| self.labels[i]).collect(),
        }
    }
}

/// The train and test splits of an image dataset as published. Validation data is held out of
/// `train` by the task, not here.
#[derive(Debug, Clone)]
pub struct ImageSplits {
    pub train: ImageSplit,
    pub test: ImageSplit,
}

/// The number of classes of the ten-class image datasets (MNIST, Fashion-MNIST, CIFAR-10): a
/// label outside `0..CLASSES` is a corrupt file, refused where it is read.
pub const CLASSES: u8 = 10;

/// Refuses a split that cannot be trained on or scored: no examples, or a label outside
/// `0..classes`.
pub(crate) fn check_split(split: &ImageSplit, path: &Path, format: &'static str, classes: u8) -> Result<(), DataError> {
    if split.n == 0 {
        return Err(DataError::Format { path: path.to_path_buf(), format, reason: "it holds no examples (an empty split can be neither trained on nor scored)".into() });
    }
    if let Some((i, &label)) = split.labels.iter().enumerate().find(|(_, &l)| l >= classes) {
        return Err(DataError::Format { path: path.to_path_buf(), format, reason: format!("label {label} of example {i} is outside 0..{classes}") });
    }
    Ok(())
}

/// Finds `<dir>/<stem>.gz` or `<dir>/<stem>`.
pub(crate) fn find_file(dataset: &str, data_dir: &Path, stem: &str) -> Result<PathBuf, DataError> {
    let dir = data_dir.join(dataset);
    for candidate in [dir.join(format!("{stem}.gz")), dir.join(stem)] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(DataError::Missing {
        dataset: dataset.to_string(),
        path: dir.join(format!("{stem}.gz")),
        data_dir: data_dir.to_path_buf(),
    })
}

fn load_idx_split(dataset: &str, data_dir: &Path, prefix: &str) -> Result<ImageSplit, DataError> {
    let images_path = find_file(dataset, data_dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let labels_path = find_file(dataset, data_dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let images = read_idx(&images_path)?;
    let labels = read_idx(&labels_path)?;
    if images.dims.len() != 3 {
        return Err(DataError::Format {
            path: images_path,
            format: "IDX image",
            reason: format!("expected 3 dimensions (n, rows, cols), found {:?}", images.dims),
        });
    }
    if labels.dims.len() != 1 || labels.dims[0] != images.dims[0] {
        return Err(DataError::Format {
            path: labels_path,
            format: "IDX label",
            reason: format!("{:?} labels for {} images", labels.dims, images.dims[0]),
        });
    }
    let split = ImageSplit {
        n: images.dims[0],
        channels: 1,
        height: images.dims[1],
        width: images.dims[2],
        pixels: images.data,
        labels: labels.data,
    };
    if split.n == 0 {
        check_split(&split, &images_path, "IDX image", CLASSES)?;
    }
    check_split(&split, &labels_path, "IDX label", CLASSES)?;
    Ok(split)
}

/// Loads MNIST or Fashion-MNIST from `<data_dir>/<dataset>/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`.
pub fn load_mnist_like(dataset: &str, data_dir: &Path) -> Result<ImageSplits, DataError> {
    let train = load_idx_split(dataset, data_dir, "train")?;
    let test = load_idx_split(dataset, data_dir, "t10k")?;
    if (test.height, test.width) != (train.height, train.width) {
        return Err(DataError::Format {
            path: find_file(dataset, data_dir, "t10k-images-idx3-ubyte")?,
            format: "IDX image",
            reason: format!("test images are {}x{}, the training images {}x{}: both splits must have one size", test.height, test.width, train.height, train.width),
        });
    }
    Ok(ImageSplits { train, test })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{write_idx_gz, IdxArray};

    #[test]
    fn select_keeps_the_examples_of_the_given_classes_in_order() {
        let split = ImageSplit { n: 4, channels: 1, height: 1, width: 2, pixels: vec![0, 1, 2, 3, 4, 5, 6, 7], labels: vec![3, 5, 3, 9] };
        let three = split.select(&[3]);
        assert_eq!((three.n, three.pixels, three.labels), (2, vec![0, 1, 4, 5], vec![3, 3]));
        assert_eq!(split.select(&[1]).n, 0);
    }

    #[test]
    fn missing_dataset_names_the_fetch_command() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_mnist_like("mnist", dir.path()).unwrap_err().to_string();
        assert!(err.contains("harness data fetch mnist"), "{err}");
        assert!(err.contains("train-images-idx3-ubyte.gz"), "{err}");
    }

    #[test]
    fn label_count_must_match_image_count() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("mnist");
        std::fs::create_dir_all(&d).unwrap();
        let images = IdxArray { dims: vec![2, 2, 2], data: vec![0; 8] };
        let labels = IdxArray { dims: vec![3], data: vec![0; 3] };
        for prefix in ["train", "t10k"] {
            write_idx_gz(&d.join(format!("{prefix}-images-idx3-ubyte.gz")), &images).unwrap();
            write_idx_gz(&d.join(format!("{prefix}-labels-idx1-ubyte.gz")), &labels).unwrap();
        }
        let err = load_mnist_like("mnist", dir.path()).unwrap_err().to_string();
        assert!(err.contains("labels for 2 images"), "{err}");
    }
}
