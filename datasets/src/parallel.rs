//! Line-aligned parallel text (one sentence per line, plain or gzip), a joint subword (BPE)
//! vocabulary trained with `tokenizers` on the training side only and cached by content hash,
//! and batching by token count over length buckets.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, Tokenizer};

use crate::{io_err, manual_source, DataError, UNK};

pub const PAD: &str = "<pad>";
pub const BOS: &str = "<s>";
pub const EOS_SENTENCE: &str = "</s>";

/// Reads a text file, gunzipping it when its name ends in `.gz`; one string per line.
pub fn read_text_lines(path: &Path) -> Result<Vec<String>, DataError> {
    let mut bytes = vec![];
    let file = File::open(path).map_err(io_err(path))?;
    if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::MultiGzDecoder::new(file).read_to_end(&mut bytes)
    } else {
        { file }.read_to_end(&mut bytes)
    }
    .map_err(|e| DataError::Format { path: path.to_path_buf(), format: "text (plain or gzip)", reason: e.to_string() })?;
    let text = String::from_utf8(bytes).map_err(|e| DataError::Format { path: path.to_path_buf(), format: "UTF-8 text", reason: e.to_string() })?;
    Ok(text.lines().map(str::to_string).collect())
}

/// Sentence pairs of one split.
#[derive(Debug, Clone, PartialEq)]
pub struct ParallelSplit {
    pub source: Vec<String>,
    pub target: Vec<String>,
}

/// Reads `<stem>.<src>[.gz]` and `<stem>.<tgt>[.gz]` from `dir` and checks they align.
pub fn load_parallel_split(dataset: &str, data_dir: &Path, dir: &Path, stem: &str, src: &str, tgt: &str) -> Result<ParallelSplit, DataError> {
    let find = |lang: &str| {
        let plain = dir.join(format!("{stem}.{lang}"));
        let gz = dir.join(format!("{stem}.{lang}.gz"));
        if plain.is_file() {
            Ok(plain)
        } else if gz.is_file() {
            Ok(gz)
        } else {
            Err(match manual_source(dataset) {
                Some(m) => DataError::MissingManual { dataset: dataset.into(), path: plain, folder: dir.to_path_buf(), how: m.how.into() },
                None => DataError::Missing { dataset: dataset.into(), path: gz, data_dir: data_dir.to_path_buf() },
            })
        }
    };
    let (src_path, tgt_path) = (find(src)?, find(tgt)?);
    let (source, target) = (read_text_lines(&src_path)?, read_text_lines(&tgt_path)?);
    if source.len() != target.len() {
        return Err(DataError::Format {
            path: tgt_path,
            format: "parallel text",
            reason: format!("{} lines, but {} has {}: the two sides must be line-aligned", target.len(), src_path.display(), source.len()),
        });
    }
    if source.is_empty() {
        return Err(DataError::Format { path: src_path, format: "parallel text", reason: "it holds no sentences (an empty split can be neither trained on nor scored)".into() });
    }
    Ok(ParallelSplit { source, target })
}

fn tokenizer_error(path: &Path) -> impl FnOnce(tokenizers::Error) -> DataError + '_ {
    move |e| DataError::Format { path: path.to_path_buf(), format: "tokenizer", reason: e.to_string() }
}

/// Bumped when the tokenizer's construction changes, so cached vocabularies are rebuilt.
const BPE_RECIPE: &str = "joint-bpe-metaspace-v1";

/// A joint BPE vocabulary of `vocab_size` (special tokens `<pad>` 0, `<s>` 1, `</s>` 2, `<unk>` 3
/// included) trained on both sides of `train`, loaded from `cache_dir` when a vocabulary was
/// already trained on the same text with the same settings. Words are marked with a leading `▁`
/// (the Metaspace scheme), so decoding restores the spaces: decoded text is detokenized.
pub fn joint_bpe(train: &ParallelSplit, vocab_size: usize, cache_dir: &Path) -> Result<Tokenizer, DataError> {
    let mut hasher = Sha256::new();
    hasher.update(BPE_RECIPE.as_bytes());
    hasher.update(vocab_size.to_le_bytes());
    for line in train.source.iter().chain(&train.target) {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    let digest: String = hasher.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    let path = cache_dir.join(format!("bpe-{vocab_size}-{digest}.json"));
    if path.is_file() {
        return Tokenizer::from_file(&path).map_err(tokenizer_error(&path));
    }
    let specials: Vec<AddedToken> = [PAD, BOS, EOS_SENTENCE, UNK].iter().map(|t| AddedToken::from(*t, true)).collect();
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(specials)
        .build()
        .into();
    let model = BPE::builder().unk_token(UNK.into()).build().map_err(tokenizer_error(&path))?;
    let mut tokenizer = Tokenizer::new(model);
    let metaspace = Metaspace::new('▁', PrependScheme::Always, true);
    tokenizer.with_pre_tokenizer(Some(PreTokenizerWrapper::Metaspace(metaspace.clone())));
    tokenizer.with_decoder(Some(DecoderWrapper::Metaspace(metaspace)));
    tokenizer.train(&mut trainer, train.source.iter().chain(&train.target)).map_err(tokenizer_error(&path))?;
    fs::create_dir_all(cache_dir).map_err(io_err(cache_dir))?;
    let json = tokenizer.to_string(true).map_err(tokenizer_error(&path))?;
    lottery_results::write_atomic(&path, json.as_bytes())?;
    Ok(tokenizer)
}

/// Groups examples into batches of at most `max_tokens` tokens counting padding (the longest
/// side of the longest pair times the batch size). Examples are sorted by length, so each batch
/// holds similar lengths; the batches come shortest first (callers shuffle their order per
/// epoch). An example longer than `max_tokens` gets a batch of its own.
pub fn token_batches(lengths: &[(usize, usize)], max_tokens: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    // Sort by (longer side, shorter side, index): deterministic and tight.
    order.sort_by_key(|&i| (lengths[i].0.max(lengths[i].1), lengths[i].0.min(lengths[i].1), i));
    let mut batches = vec![];
    let mut current: Vec<usize> = vec![];
    let mut longest = 0;
    for i in order {
        let len = lengths[i].0.max(lengths[i].1);
        if !current.is_empty() && len.max(longest) * (current.len() + 1) > max_tokens {
            batches.push(std::mem::take(&mut current));
            longest = 0;
        }
        longest = longest.max(len);
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Right-pads id sequences with `pad` into a row-major `[rows, width]` block; returns it with its
/// width. The padding mask is `block != pad`.
pub fn pad_block(seqs: &[Vec<i64>], pad: i64) -> (Vec<i64>, usize) {
    let width = seqs.iter().map(Vec::len).max().unwrap_or(0);
    let mut block = Vec::with_capacity(seqs.len() * width);
    for s in seqs {
        block.extend_from_slice(s);
        block.extend(std::iter::repeat_n(pad, width - s.len()));
    }
    (block, width)
}

/// The folder of a cached vocabulary beside the data: `<data_dir>/.vocab`.
pub fn vocab_cache_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(".vocab")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn multi30k() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/multi30k")
    }

    #[test]
    fn real_multi30k_splits_align_and_read_from_gzip() {
        let dir = multi30k();
        let data_dir = dir.parent().unwrap();
        let train = load_parallel_split("multi30k", data_dir, &dir, "train", "en", "de").unwrap();
        let val = load_parallel_split("multi30k", data_dir, &dir, "val", "en", "de").unwrap();
        let test = load_parallel_split("multi30k", data_dir, &dir, "test_2016_flickr", "en", "de").unwrap();
        assert_eq!((train.source.len(), val.source.len(), test.source.len()), (29_000, 1_014, 1_000));
        assert!(train.source[0].starts_with("Two young, White males are outside"), "{}", train.source[0]);
        assert!(train.target[0].starts_with("Zwei junge weiße Männer sind im Freien"), "{}", train.target[0]);
    }

    #[test]
    fn misaligned_sides_name_both_files_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("train.en"), "a\nb\nc\n").unwrap();
        fs::write(dir.path().join("train.de"), "x\ny\n").unwrap();
        let err = load_parallel_split("toy", dir.path(), dir.path(), "train", "en", "de").unwrap_err().to_string();
        assert!(err.contains("2 lines") && err.contains("train.en has 3") && err.contains("line-aligned"), "{err}");
        let err = load_parallel_split("toy", dir.path(), dir.path(), "val", "en", "de").unwrap_err().to_string();
        assert!(err.contains("harness data fetch toy") && err.contains("val.en.gz"), "{err}");
    }

    #[test]
    fn joint_bpe_round_trips_detokenized_text_and_is_cached_by_content() {
        let dir = multi30k();
        let mut train = load_parallel_split("multi30k", dir.parent().unwrap(), &dir, "train", "en", "de").unwrap();
        train.source.truncate(3000);
        train.target.truncate(3000);
        let cache = tempfile::tempdir().unwrap();
        let tok = joint_bpe(&train, 2000, cache.path()).unwrap();
        assert_eq!(tok.get_vocab_size(true), 2000);
        assert_eq!([PAD, BOS, EOS_SENTENCE, UNK].map(|t| tok.token_to_id(t).unwrap()), [0, 1, 2, 3]);
        for line in [&train.source[5], &train.target[5], &"Ein Hund rennt über die Wiese.".to_string()] {
            let ids = tok.encode(line.as_str(), false).unwrap().get_ids().to_vec();
            assert_eq!(&tok.decode(&ids, true).unwrap(), line);
        }
        let cached: Vec<_> = fs::read_dir(cache.path()).unwrap().collect();
        assert_eq!(cached.len(), 1);
        // The same text and size load the cached file; other text trains another vocabulary.
        let again = joint_bpe(&train, 2000, cache.path()).unwrap();
        assert_eq!(again.get_vocab(true), tok.get_vocab(true));
        train.source.truncate(2000);
        joint_bpe(&train, 2000, cache.path()).unwrap();
        assert_eq!(fs::read_dir(cache.path()).unwrap().count(), 2);
    }

    #[test]
    fn token_batches_respect_the_budget_and_cover_every_example_once() {
        let lengths: Vec<(usize, usize)> = (0..500).map(|i| (1 + (i * 7919) % 40, 1 + (i * 104_729) % 45)).collect();
        let batches = token_batches(&lengths, 256);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..500).collect::<Vec<_>>());
        for b in &batches {
            let longest = b.iter().map(|&i| lengths[i].0.max(lengths[i].1)).max().unwrap();
            assert!(longest * b.len() <= 256, "{b:?}");
        }
        assert_eq!(token_batches(&[(300, 10)], 256), vec![vec![0]]);
    }

    #[test]
    fn pad_block_right_pads_to_the_longest() {
        assert_eq!(pad_block(&[vec![5, 6, 7], vec![8]], 0), (vec![5, 6, 7, 8, 0, 0], 3));
    }
}
