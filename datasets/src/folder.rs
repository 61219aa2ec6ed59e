//! ImageFolder datasets: `<root>/<split>/<class>/<image>.{png,jpg,jpeg}`, the layout torchvision's
//! `ImageFolder` reads, for ImageNet or Places365 subsets a user has. Classes are the training
//! split's subfolders in sorted order (their index is the label); every image is converted to
//! RGB and resized to the model's input (bilinear) with the `image` crate.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;

use crate::image::check_split;
use crate::{DataError, ImageSplit, ImageSplits};

const FORMAT: &str = "ImageFolder";
const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

fn folder_error(path: &Path, reason: String) -> DataError {
    DataError::Format { path: path.to_path_buf(), format: FORMAT, reason }
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(crate::io_err(dir))?;
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    Ok(paths)
}

/// The class folders of a split: their names, sorted.
fn class_names(split_dir: &Path) -> Result<Vec<String>, DataError> {
    let names: Vec<String> = sorted_entries(split_dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    if names.is_empty() {
        return Err(folder_error(split_dir, "it has no class folders (expected <split>/<class>/<image>.png)".into()));
    }
    Ok(names)
}

fn read_split(split_dir: &Path, classes: &[String], side: u32) -> Result<ImageSplit, DataError> {
    let mut split = ImageSplit { n: 0, channels: 3, height: side as usize, width: side as usize, pixels: vec![], labels: vec![] };
    for class in class_names(split_dir)? {
        let Some(label) = classes.iter().position(|c| *c == class) else {
            return Err(folder_error(&split_dir.join(&class), format!("class `{class}` is not among the training split's classes ({})", classes.join(", "))));
        };
        let images: Vec<PathBuf> = sorted_entries(&split_dir.join(&class))?
            .into_iter()
            .filter(|p| p.extension().and_then(|e| e.to_str()).is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())))
            .collect();
        if images.is_empty() {
            return Err(folder_error(&split_dir.join(&class), "it holds no .png, .jpg or .jpeg image".into()));
        }
        for path in images {
            let decoded = image::open(&path).map_err(|e| folder_error(&path, e.to_string()))?;
            let rgb = decoded.resize_exact(side, side, FilterType::Triangle).to_rgb8();
            // Interleaved RGB to channel-major planes.
            let raw = rgb.as_raw();
            for c in 0..3 {
                split.pixels.extend(raw.iter().skip(c).step_by(3));
            }
            split.labels.push(label as u8);
            split.n += 1;
        }
    }
    Ok(split)
}

/// Loads `<data_dir>/<name>/{train,test}/<class>/*` at `side x side` pixels; returns the splits
/// and the class names (label `i` is `names[i]`). At most 255 classes: labels are bytes.
pub fn load_image_folder(data_dir: &Path, name: &str, side: u32) -> Result<(ImageSplits, Vec<String>), DataError> {
    let root = data_dir.join(name);
    let train_dir = root.join("train");
    if !train_dir.is_dir() {
        return Err(DataError::Missing { dataset: name.to_string(), path: train_dir, data_dir: data_dir.to_path_buf() });
    }
    let classes = class_names(&train_dir)?;
    let count = u8::try_from(classes.len())
        .map_err(|_| folder_error(&train_dir, format!("it has {} classes; at most 255 are supported (labels are bytes): use a subset", classes.len())))?;
    let train = read_split(&train_dir, &classes, side)?;
    check_split(&train, &train_dir, FORMAT, count)?;
    let test_dir = root.join("test");
    if !test_dir.is_dir() {
        return Err(DataError::Missing { dataset: name.to_string(), path: test_dir, data_dir: data_dir.to_path_buf() });
    }
    let test = read_split(&test_dir, &classes, side)?;
    check_split(&test, &test_dir, FORMAT, count)?;
    Ok((ImageSplits { train, test }, classes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, Rgb, RgbImage};

    #[test]
    fn classes_are_sorted_folder_names_and_images_are_resized_rgb() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("pets");
        for (split, class) in [("train", "dog"), ("train", "cat"), ("test", "cat")] {
            std::fs::create_dir_all(root.join(split).join(class)).unwrap();
        }
        // A red 40x30 PNG dog, a gray 16x16 JPEG cat, a PNG cat in the test split.
        RgbImage::from_pixel(40, 30, Rgb([200, 10, 10])).save(root.join("train/dog/a.png")).unwrap();
        GrayImage::from_pixel(16, 16, Luma([90])).save(root.join("train/cat/b.jpg")).unwrap();
        RgbImage::from_pixel(32, 32, Rgb([1, 2, 3])).save(root.join("test/cat/c.PNG")).unwrap();
        std::fs::write(root.join("train/cat/notes.txt"), "not an image").unwrap();
        let (splits, classes) = load_image_folder(dir.path(), "pets", 32).unwrap();
        assert_eq!(classes, ["cat", "dog"]);
        assert_eq!((splits.train.n, splits.train.labels.clone(), splits.test.labels.clone()), (2, vec![0, 1], vec![0]));
        let dog = &splits.train.pixels[3072..];
        assert_eq!((dog[0], dog[1024], dog[2048], dog.len()), (200, 10, 10, 3072), "red plane, then green, then blue");
        let cat = &splits.train.pixels[..3072];
        assert!(cat.iter().all(|&p| (88..=92).contains(&p)), "gray becomes three equal planes");
    }

    #[test]
    fn unknown_test_classes_empty_classes_and_broken_images_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("set");
        std::fs::create_dir_all(root.join("train/a")).unwrap();
        std::fs::create_dir_all(root.join("test/b")).unwrap();
        RgbImage::new(8, 8).save(root.join("train/a/x.png")).unwrap();
        RgbImage::new(8, 8).save(root.join("test/b/y.png")).unwrap();
        let err = load_image_folder(dir.path(), "set", 32).unwrap_err().to_string();
        assert!(err.contains("class `b` is not among the training split's classes (a)"), "{err}");
        std::fs::create_dir_all(root.join("train/b")).unwrap();
        let err = load_image_folder(dir.path(), "set", 32).unwrap_err().to_string();
        assert!(err.contains("train/b") && err.contains("holds no .png"), "{err}");
        std::fs::write(root.join("train/b/z.jpg"), b"garbage").unwrap();
        let err = load_image_folder(dir.path(), "set", 32).unwrap_err().to_string();
        assert!(err.contains("train/b/z.jpg is not a valid ImageFolder file"), "{err}");
        let err = load_image_folder(dir.path(), "missing", 32).unwrap_err().to_string();
        assert!(err.contains("missing/train"), "{err}");
    }
}
