//! Dataset loading for lottery tasks: the standard on-disk formats (MNIST-style IDX, CIFAR-10
//! binary, word-level language-modeling text with its `tokenizers` vocabulary, line-aligned
//! parallel text with a joint BPE vocabulary and token-count batching) and
//! checksum-verified downloads into a data folder.
//!
//! Loaders read files a user already has; [`fetch`] gets them from the canonical URLs (or a
//! mirror) and verifies every file's SHA-256 before it is moved into place.

mod cifar;
mod folder;
mod svhn;
mod fetch;
mod idx;
mod parallel;
mod image;
mod sources;
mod text;

pub use folder::load_image_folder;
pub use svhn::{load_svhn, read_svhn_mat, write_svhn_mat};
pub use cifar::{load_cifar10, load_cifar100, read_cifar100_file, read_cifar_batch, write_cifar100_file, write_cifar_batch, CIFAR100_CLASSES};
pub use fetch::{fetch, sha256_file, unpack_zip_strip_top, FetchReport};
pub use idx::{read_idx, write_idx_gz, IdxArray};
pub use image::{load_mnist_like, ImageSplit, ImageSplits, CLASSES};
pub use parallel::{joint_bpe, load_parallel_split, pad_block, read_text_lines, token_batches, vocab_cache_dir, ParallelSplit, BOS, EOS_SENTENCE, PAD};
pub use sources::{manual_source, source, ManualSource, RemoteFile, Source, Unpack, MANUAL_SOURCES, SOURCES};
pub use text::{encode_stream, load_lm_text, word_tokenizer, LmCorpus, LmCorpusIds, LmText, EOS, UNK};

use std::path::PathBuf;

/// Errors from loading or fetching data. Each names the file involved and, where there is one,
/// the fix.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid {format} file: {reason}; replace it with the original (`harness data fetch` downloads and verifies it)")]
    Format { path: PathBuf, format: &'static str, reason: String },
    #[error("dataset `{dataset}` is missing {path}; run `harness data fetch {dataset} --data-dir {data_dir}` or point --data-dir (or LOTTERY_DATA) at a folder that holds `{dataset}/`")]
    Missing { dataset: String, path: PathBuf, data_dir: PathBuf },
    #[error("checksum mismatch for {path}: expected SHA-256 {expected}, got {actual}; the file is corrupt or not the canonical one: delete it and run `harness data fetch {dataset}` again")]
    Checksum { dataset: String, path: PathBuf, expected: String, actual: String },
    #[error("download of {url} failed: {reason}")]
    Download { url: String, reason: String },
    #[error("dataset `{dataset}` has no checksum-verified download, so `harness data fetch` does not fetch it; place {how} under {folder}")]
    NoVerifiedDownload { dataset: String, folder: PathBuf, how: String },
    #[error("dataset `{dataset}` is missing {path}; it has no checksum-verified download: place {how} under {folder} (or point --data-dir at a folder that holds `{dataset}/`)")]
    MissingManual { dataset: String, path: PathBuf, folder: PathBuf, how: String },
    #[error("unknown dataset `{name}`; known datasets: {known}")]
    UnknownDataset { name: String, known: String },
    #[error(transparent)]
    Write(#[from] lottery_results::ResultsError),
}

impl DataError {
    /// Whether the user asked for something that does not exist (exit status 2), rather than
    /// data that is missing, corrupt or failed to download (1).
    pub fn is_usage(&self) -> bool {
        matches!(self, DataError::UnknownDataset { .. } | DataError::NoVerifiedDownload { .. })
    }
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DataError {
    let path = path.into();
    move |source| DataError::Io { path, source }
}


