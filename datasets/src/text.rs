//! Word-level language-modeling corpora (Penn Treebank, WikiText-2) and their vocabulary.
//!
//! A corpus is three files of text, one sentence (PTB) or paragraph line (WikiText) per line,
//! already tokenized by spaces. The vocabulary is a `tokenizers` word-level tokenizer trained on
//! the train split only: `<eos>` first, then the train words by falling count (ties by word), with
//! `<unk>` for anything else. Its post-processor appends `<eos>` to every line, so
//! `Tokenizer::from_file("tokenizer.json").encode(line).ids` in Python gives the ids the harness
//! trains on.

use std::path::{Path, PathBuf};

use tokenizers::models::wordlevel::{WordLevel, WordLevelTrainer};
use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::models::TrainerWrapper;
use tokenizers::{AddedToken, Tokenizer};

use crate::{read_text_lines, DataError};

pub const EOS: &str = "<eos>";
pub const UNK: &str = "<unk>";

/// A language-modeling corpus the loaders know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LmCorpus {
    /// Mikolov's Penn Treebank: `ptb/ptb.{train,valid,test}.txt`.
    Ptb,
    /// WikiText-2, tokenized: `wikitext-2/wiki.{train,valid,test}.tokens`.
    WikiText2,
}

impl LmCorpus {
    /// The name `harness data fetch` takes.
    pub fn dataset(self) -> &'static str {
        match self {
            LmCorpus::Ptb => "ptb",
            LmCorpus::WikiText2 => "wikitext2",
        }
    }

    /// The folder under the data directory.
    pub fn folder(self) -> &'static str {
        match self {
            LmCorpus::Ptb => "ptb",
            LmCorpus::WikiText2 => "wikitext-2",
        }
    }

    /// File names of the train, validation and test splits.
    pub fn files(self) -> [&'static str; 3] {
        match self {
            LmCorpus::Ptb => ["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"],
            LmCorpus::WikiText2 => ["wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"],
        }
    }
}

/// The lines of each split.
#[derive(Debug, Clone)]
pub struct LmText {
    pub train: Vec<String>,
    pub valid: Vec<String>,
    pub test: Vec<String>,
}

/// Reads the three splits of `corpus` from `<data_dir>/<folder>/`.
pub fn load_lm_text(corpus: LmCorpus, data_dir: &Path) -> Result<LmText, DataError> {
    let dir = data_dir.join(corpus.folder());
    let mut splits = vec![];
    for name in corpus.files() {
        let path = dir.join(name);
        if !path.is_file() {
            return Err(DataError::Missing { dataset: corpus.dataset().into(), path, data_dir: data_dir.to_path_buf() });
        }
        let lines = read_text_lines(&path)?;
        if lines.iter().all(|l| l.trim().is_empty()) {
            return Err(DataError::Format { path, format: "text", reason: "it holds no words (an empty split can be neither trained on nor scored)".into() });
        }
        splits.push(lines);
    }
    let [train, valid, test] = <[Vec<String>; 3]>::try_from(splits).expect("three splits");
    Ok(LmText { train, valid, test })
}

fn tokenizer_error(what: &str) -> impl FnOnce(tokenizers::Error) -> DataError + '_ {
    move |e| DataError::Format { path: PathBuf::from(what), format: "tokenizer", reason: e.to_string() }
}

/// Trains the word-level tokenizer on `train_lines`.
pub fn word_tokenizer(train_lines: &[String]) -> Result<Tokenizer, DataError> {
    let mut specials = vec![AddedToken::from(EOS, true)];
    // Corpora that already map rare words to <unk> (PTB, WikiText) rank it by its count like any
    // word; others get it as a special token so unseen words still encode.
    let has_unk = train_lines.iter().any(|l| l.split_whitespace().any(|w| w == UNK));
    if !has_unk {
        specials.push(AddedToken::from(UNK, true));
    }
    let mut trainer: TrainerWrapper = WordLevelTrainer::builder()
        .vocab_size(usize::MAX)
        .min_frequency(0)
        .show_progress(false)
        .special_tokens(specials)
        .build()
        .map_err(|e| DataError::Format { path: PathBuf::from("train split"), format: "tokenizer", reason: e.to_string() })?
        .into();
    let model = WordLevel::builder().unk_token(UNK.to_string()).build().map_err(tokenizer_error("train split"))?;
    let mut tokenizer = Tokenizer::new(model);
    tokenizer.with_pre_tokenizer(Some(WhitespaceSplit));
    tokenizer.train(&mut trainer, train_lines.iter()).map_err(tokenizer_error("train split"))?;
    let eos = tokenizer.token_to_id(EOS).expect("<eos> is a special token");
    let template = TemplateProcessing::builder()
        .try_single(format!("$A {EOS}"))
        .map_err(|e| DataError::Format { path: PathBuf::from("template"), format: "tokenizer", reason: e })?
        .special_tokens(vec![(EOS, eos)])
        .build()
        .map_err(|e| DataError::Format { path: PathBuf::from("template"), format: "tokenizer", reason: e.to_string() })?;
    tokenizer.with_post_processor(Some(template));
    Ok(tokenizer)
}

/// The ids of `lines`, each line followed by `<eos>`, as one stream.
pub fn encode_stream(tokenizer: &Tokenizer, lines: &[String]) -> Result<Vec<i64>, DataError> {
    let encodings = tokenizer.encode_batch(lines.iter().map(String::as_str).collect::<Vec<_>>(), true).map_err(tokenizer_error("text"))?;
    Ok(encodings.iter().flat_map(|e| e.get_ids().iter().map(|&id| id as i64)).collect())
}

/// A corpus as id streams, with its tokenizer.
pub struct LmCorpusIds {
    pub tokenizer: Tokenizer,
    pub vocab_size: usize,
    pub train: Vec<i64>,
    pub valid: Vec<i64>,
    pub test: Vec<i64>,
    /// Id of `<eos>`, which also starts every stream's context.
    pub eos: i64,
    /// Id of `<unk>`.
    pub unk: i64,
}

impl LmCorpusIds {
    pub fn new(text: &LmText) -> Result<Self, DataError> {
        let tokenizer = word_tokenizer(&text.train)?;
        let vocab_size = tokenizer.get_vocab_size(true);
        let ids = |lines: &[String]| encode_stream(&tokenizer, lines);
        let (train, valid, test) = (ids(&text.train)?, ids(&text.valid)?, ids(&text.test)?);
        let eos = tokenizer.token_to_id(EOS).expect("special token") as i64;
        let unk = tokenizer.token_to_id(UNK).expect("<unk> is in the vocabulary") as i64;
        Ok(LmCorpusIds { tokenizer, vocab_size, train, valid, test, eos, unk })
    }

    /// The tokenizer as `tokenizer.json` text.
    pub fn tokenizer_json(&self) -> String {
        self.tokenizer.to_string(true).expect("a word-level tokenizer serializes")
    }

    /// Perplexity of the unigram model estimated on the train stream (add-one smoothed, so an
    /// id absent from train still has a probability) over `stream`: the floor any language
    /// model must beat.
    pub fn unigram_perplexity(&self, stream: &[i64]) -> f64 {
        let mut counts = vec![1f64; self.vocab_size];
        for &id in &self.train {
            counts[id as usize] += 1.0;
        }
        let total: f64 = counts.iter().sum();
        let nll: f64 = stream.iter().map(|&id| -(counts[id as usize] / total).ln()).sum();
        (nll / stream.len() as f64).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn vocabulary_comes_from_train_only_and_unseen_words_map_to_unk() {
        let text = LmText {
            train: lines(" the cat sat\n the dog sat\n\n the end"),
            valid: lines(" the bird sat"),
            test: lines(" a cat"),
        };
        let c = LmCorpusIds::new(&text).unwrap();
        // <eos>, <unk> (not in train), then by count: the(3), sat(2), then cat, dog, end.
        assert_eq!(c.vocab_size, 7);
        let id = |w: &str| c.tokenizer.token_to_id(w).unwrap() as i64;
        assert_eq!((c.eos, c.unk), (0, 1));
        assert_eq!((id("the"), id("sat"), id("cat"), id("dog"), id("end")), (2, 3, 4, 5, 6));
        // Every line, the empty one included, ends in <eos>.
        assert_eq!(c.train, vec![2, 4, 3, 0, 2, 5, 3, 0, 0, 2, 6, 0]);
        assert_eq!(c.valid, vec![2, 1, 3, 0]);
        assert_eq!(c.test, vec![1, 4, 0]);
    }

    #[test]
    fn unigram_perplexity_of_a_uniform_stream() {
        let text = LmText { train: lines("a b"), valid: lines("a b"), test: lines("a b") };
        let c = LmCorpusIds::new(&text).unwrap();
        // Vocabulary <eos> <unk> a b, counts 1+1 each but <unk> 0+1: p = 2/7, 1/7, 2/7, 2/7.
        let expected = (-((2f64 / 7.0).ln() * 3.0) / 3.0).exp();
        assert!((c.unigram_perplexity(&c.test) - expected).abs() < 1e-12);
    }

    #[test]
    fn real_ptb_has_the_published_vocabulary_and_token_counts() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
        let c = LmCorpusIds::new(&load_lm_text(LmCorpus::Ptb, &data).unwrap()).unwrap();
        // 10,000 words with <unk> and <eos>; the published token counts (words plus one <eos> per
        // line, as in Mikolov et al. and every PTB result since).
        assert_eq!(c.vocab_size, 10_000);
        assert_eq!((c.train.len(), c.valid.len(), c.test.len()), (929_589, 73_760, 82_430));
        assert_eq!(c.eos, 0);
        let unigram = c.unigram_perplexity(&c.test);
        assert!((600.0..800.0).contains(&unigram), "unigram test perplexity {unigram}");
    }

    #[test]
    fn missing_corpus_names_the_fetch_command() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_lm_text(LmCorpus::WikiText2, dir.path()).unwrap_err().to_string();
        assert!(err.contains("harness data fetch wikitext2") && err.contains("wiki.train.tokens"), "{err}");
    }
}
