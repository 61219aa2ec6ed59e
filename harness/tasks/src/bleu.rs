//! Corpus BLEU computed exactly as sacreBLEU 2.x computes it with its defaults: `13a`
//! tokenization (mteval-v13a), case-sensitive, n-grams up to 4, clipped counts against the
//! per-n-gram maximum over references, the closest reference length (shorter on ties), brevity
//! penalty, and `exp` smoothing (NIST: each order with no match gets precision 1 / (2^k total)).
//! Scores are on sacreBLEU's 0-100 scale; fixtures from the `sacrebleu` package pin agreement.
//!
//! [`BleuStats::tokenized`] is the "tokenized BLEU" papers report for WMT (Moses'
//! `multi-bleu.perl` over tokenized text): the same 13a tokens and counts, no smoothing, so an
//! order without a single match makes the score 0. Fixtures recorded from multi-bleu.perl and
//! from sacreBLEU with `tokenize="13a", smooth_method="none"` pin it. For English-German,
//! [`split_compounds`] first splits hyphenated compounds as fairseq's `compound_split_bleu.sh`
//! does, as WMT'14 En-De papers after Vaswani et al. and Ott et al. report it.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

pub const MAX_ORDER: usize = 4;

/// The regular expressions of sacreBLEU's `TokenizerRegexp`, in order, with their replacements.
static RULES: LazyLock<[(Regex, &'static str); 4]> = LazyLock::new(|| {
    [
        // Punctuation and symbols: { | } ~ [ \ ] ^ _ ` space ! " # $ % & ( ) * + : ; < = > ? @ /
        (Regex::new(r"([\{-~\[-`\x20-&\(-\+:-@/])").expect("valid regex"), " $1 "),
        // Period and comma unless preceded by a digit.
        (Regex::new(r"([^0-9])([\.,])").expect("valid regex"), "$1 $2 "),
        // Period and comma unless followed by a digit.
        (Regex::new(r"([\.,])([^0-9])").expect("valid regex"), " $1 $2"),
        // Dash after a digit.
        (Regex::new(r"([0-9])(-)").expect("valid regex"), "$1 $2 "),
    ]
});

/// sacreBLEU's `13a` tokenizer: space-separated tokens.
pub fn tokenize_13a(line: &str) -> String {
    let mut line = line.replace("<skipped>", "").replace("-\n", "").replace('\n', " ");
    if line.contains('&') {
        line = line.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
    }
    let mut line = format!(" {line} ");
    for (re, replacement) in RULES.iter() {
        line = re.replace_all(&line, *replacement).into_owned();
    }
    // Python's str.split(): runs of whitespace, none at the ends.
    line.split(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Sufficient statistics of a corpus: matched and total n-grams per order, and lengths.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BleuStats {
    pub correct: [u64; MAX_ORDER],
    pub total: [u64; MAX_ORDER],
    pub sys_len: u64,
    pub ref_len: u64,
}

/// A corpus score with its parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Bleu {
    /// 0-100.
    pub score: f64,
    pub precisions: [f64; MAX_ORDER],
    pub brevity_penalty: f64,
    pub stats: BleuStats,
}

fn ngrams(tokens: &[&str]) -> HashMap<Vec<String>, u64> {
    let mut counts = HashMap::new();
    for n in 1..=MAX_ORDER {
        for window in tokens.windows(n) {
            *counts.entry(window.iter().map(|t| t.to_string()).collect()).or_insert(0) += 1;
        }
    }
    counts
}

/// fairseq's compound splitting for WMT English-German (`compound_split_bleu.sh`, the perl
/// substitution `s{(\S)-(\S)}{$1 ##AT##-##AT## $2}g`): a hyphen between two non-space
/// characters becomes the token `##AT##-##AT##`. Matches do not overlap, as perl's do:
/// `a-b-c` gives `a ##AT##-##AT## b-c`.
pub fn split_compounds(tokens: &str) -> String {
    // perl's \s on bytes: ASCII whitespace and vertical tab (a no-break space is not a space).
    let space = |c: char| c.is_ascii_whitespace() || c == '\x0b';
    let chars: Vec<char> = tokens.chars().collect();
    let mut out = String::with_capacity(tokens.len());
    let mut i = 0;
    while i < chars.len() {
        if i + 2 < chars.len() && !space(chars[i]) && chars[i + 1] == '-' && !space(chars[i + 2]) {
            out.push(chars[i]);
            out.push_str(" ##AT##-##AT## ");
            out.push(chars[i + 2]);
            i += 3;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// A line as sacreBLEU scores it: trailing whitespace cut, optionally lowercased, 13a tokens.
pub fn preprocess(line: &str, lowercase: bool) -> String {
    let line = line.trim_end();
    if lowercase {
        tokenize_13a(&line.to_lowercase())
    } else {
        tokenize_13a(line)
    }
}

impl BleuStats {
    /// Adds one segment: its hypothesis and one or more references.
    pub fn add(&mut self, hypothesis: &str, references: &[&str], lowercase: bool) {
        let references: Vec<String> = references.iter().map(|r| preprocess(r, lowercase)).collect();
        self.add_tokens(&preprocess(hypothesis, lowercase), &references.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// Adds one segment already tokenized (space-separated tokens).
    pub fn add_tokens(&mut self, hyp: &str, references: &[&str]) {
        let hyp_tokens: Vec<&str> = hyp.split(' ').filter(|t| !t.is_empty()).collect();
        let mut ref_max: HashMap<Vec<String>, u64> = HashMap::new();
        let mut ref_lens = vec![];
        for r in references {
            let tokens: Vec<&str> = r.split(' ').filter(|t| !t.is_empty()).collect();
            ref_lens.push(tokens.len() as u64);
            for (gram, count) in ngrams(&tokens) {
                let slot = ref_max.entry(gram).or_insert(0);
                *slot = (*slot).max(count);
            }
        }
        let hyp_len = hyp_tokens.len() as u64;
        // The closest reference length; the shorter one on ties.
        let closest = ref_lens.iter().copied().min_by_key(|&l| (l.abs_diff(hyp_len), l)).unwrap_or(0);
        for (gram, count) in ngrams(&hyp_tokens) {
            let n = gram.len() - 1;
            self.total[n] += count;
            self.correct[n] += count.min(ref_max.get(&gram).copied().unwrap_or(0));
        }
        self.sys_len += hyp_len;
        self.ref_len += closest;
    }

    /// The corpus score from these statistics (sacreBLEU's `compute_bleu` with `exp` smoothing).
    pub fn score(&self) -> Bleu {
        let mut bp = 1.0;
        if self.sys_len < self.ref_len {
            bp = if self.sys_len > 0 { (1.0 - self.ref_len as f64 / self.sys_len as f64).exp() } else { 0.0 };
        }
        let mut precisions = [0.0; MAX_ORDER];
        if self.correct.iter().all(|&c| c == 0) {
            return Bleu { score: 0.0, precisions, brevity_penalty: bp, stats: self.clone() };
        }
        let mut smooth = 1.0;
        for n in 0..MAX_ORDER {
            if self.total[n] == 0 {
                break;
            }
            precisions[n] = if self.correct[n] == 0 {
                smooth *= 2.0;
                100.0 / (smooth * self.total[n] as f64)
            } else {
                100.0 * self.correct[n] as f64 / self.total[n] as f64
            };
        }
        // sacreBLEU floors log(0) at -9999999999 rather than failing.
        let log = |p: f64| if p == 0.0 { -9_999_999_999.0 } else { p.ln() };
        let mean = precisions.iter().map(|&p| log(p)).sum::<f64>() / MAX_ORDER as f64;
        Bleu { score: bp * mean.exp(), precisions, brevity_penalty: bp, stats: self.clone() }
    }
}

impl BleuStats {
    /// Tokenized BLEU (multi-bleu.perl's computation): plain precisions, the brevity penalty,
    /// and `log(0)` floored at -9999999999, which makes any order without a match score 0.
    pub fn tokenized(&self) -> Bleu {
        let mut precisions = [0.0; MAX_ORDER];
        for n in 0..MAX_ORDER {
            if self.total[n] > 0 {
                precisions[n] = 100.0 * self.correct[n] as f64 / self.total[n] as f64;
            }
        }
        let bp = match (self.sys_len, self.ref_len) {
            (_, 0) | (0, _) => 0.0,
            (sys, reference) if sys < reference => (1.0 - reference as f64 / sys as f64).exp(),
            _ => 1.0,
        };
        let log = |p: f64| if p == 0.0 { -9_999_999_999.0 } else { (p / 100.0).ln() };
        let mean = precisions.iter().map(|&p| log(p)).sum::<f64>() / MAX_ORDER as f64;
        Bleu { score: 100.0 * bp * mean.exp(), precisions, brevity_penalty: bp, stats: self.clone() }
    }
}

/// Corpus BLEU of `hypotheses` against one reference stream per reference set (each as long as
/// `hypotheses`).
pub fn corpus_bleu(hypotheses: &[&str], references: &[Vec<&str>], lowercase: bool) -> Bleu {
    let mut stats = BleuStats::default();
    for (i, hyp) in hypotheses.iter().enumerate() {
        let refs: Vec<&str> = references.iter().map(|set| set[i]).collect();
        stats.add(hyp, &refs, lowercase);
    }
    stats.score()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirteen_a_splits_punctuation_but_not_numbers() {
        assert_eq!(tokenize_13a("Hello, world! It costs $3.50 (approx.)"), "Hello , world ! It costs $ 3.50 ( approx . )");
        assert_eq!(tokenize_13a("1990-91 &quot;quoted&quot; a-b"), "1990 - 91 \" quoted \" a-b");
        assert_eq!(tokenize_13a("  "), "");
    }

    #[test]
    fn compound_splitting_is_fairseqs_perl_substitution() {
        // Expected lines printed by `perl -ple 's{(\S)-(\S)}{$1 ##AT##-##AT## $2}g'` (perl 5.36).
        for (input, perl) in [
            ("a-b-c", "a ##AT##-##AT## b-c"),
            ("a--b", "a ##AT##-##AT## -b"),
            ("Nord-Ost-Passage und E-Mail", "Nord ##AT##-##AT## Ost ##AT##-##AT## Passage und E ##AT##-##AT## Mail"),
            ("- x -", "- x -"),
            ("x - y", "x - y"),
            ("1990 - 91 -b c- ", "1990 - 91 -b c- "),
            ("über-Straße-à", "über ##AT##-##AT## Straße ##AT##-##AT## à"),
        ] {
            assert_eq!(split_compounds(input), perl, "{input}");
        }
        // Split compounds count as three tokens, so a hyphenated hypothesis matching its
        // reference scores the same as before, and a half-right compound earns partial credit.
        let mut whole = BleuStats::default();
        whole.add_tokens("die Nord-Ost-Passage ist offen", &["die Nord-Ost-Route ist offen"]);
        let mut split = BleuStats::default();
        split.add_tokens(&split_compounds("die Nord-Ost-Passage ist offen"), &[&split_compounds("die Nord-Ost-Route ist offen")]);
        assert!(split.correct[0] > whole.correct[0], "{:?} vs {:?}", split.correct, whole.correct);
    }

    #[test]
    fn identical_corpus_scores_100_and_disjoint_scores_0() {
        let hyp = ["the cat sat on the mat", "a dog ran in the park today"];
        assert!((corpus_bleu(&hyp, &[hyp.to_vec()], false).score - 100.0).abs() < 1e-9);
        assert_eq!(corpus_bleu(&["x y z"], &[vec!["a b c"]], false).score, 0.0);
    }

    /// A file of `fixtures/bleu/`.
    fn fixture(name: &str) -> String {
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bleu").join(name)).unwrap()
    }

    #[test]
    fn tokenized_bleu_agrees_with_multi_bleu_and_unsmoothed_sacrebleu_on_the_recorded_fixtures() {
        let expected: serde_json::Value = serde_json::from_str(&fixture("expected_tokenized.json")).unwrap();
        let refs_text = fixture("ref.de");
        let refs: Vec<&str> = refs_text.lines().collect();
        let scores = expected["scores"].as_object().unwrap();
        assert_eq!(scores.len(), 4);
        let mut zero = 0;
        for (system, want) in scores {
            let hyp_text = fixture(&format!("{system}.de"));
            let hyps: Vec<&str> = hyp_text.lines().collect();
            let mut stats = BleuStats::default();
            for (h, r) in hyps.iter().zip(&refs) {
                stats.add(h, &[r], false);
            }
            let got = stats.tokenized();
            let sacrebleu = want["score"].as_f64().unwrap();
            assert!((got.score - sacrebleu).abs() < 1e-9, "{system}: {} vs sacreBLEU (13a, no smoothing) {sacrebleu}", got.score);
            // multi-bleu.perl prints "BLEU = 51.93, ..." (two decimals).
            let line = want["multi_bleu"].as_str().unwrap();
            let printed: f64 = line.strip_prefix("BLEU = ").and_then(|r| r.split(',').next()).unwrap().parse().unwrap();
            assert_eq!(format!("{:.2}", got.score), format!("{printed:.2}"), "{system}: multi-bleu.perl printed {line}");
            if got.score == 0.0 {
                zero += 1;
                assert!(stats.score().score > 0.0, "{system}: smoothing keeps sacreBLEU's default above 0");
            }
        }
        assert_eq!(zero, 1, "the sparse system has no 4-gram match: 0 without smoothing");
    }

    #[test]
    fn agrees_with_sacrebleu_on_the_recorded_fixtures() {
        let expected: serde_json::Value = serde_json::from_str(&fixture("expected.json")).unwrap();
        let refs_text = fixture("ref.de");
        let refs: Vec<&str> = refs_text.lines().collect();
        let scores = expected["scores"].as_object().unwrap();
        assert_eq!(scores.len(), 8);
        for (key, want) in scores {
            let (system, lowercase) = match key.strip_suffix("-lc") {
                Some(system) => (system, true),
                None => (key.as_str(), false),
            };
            let hyp_text = fixture(&format!("{system}.de"));
            let hyps: Vec<&str> = hyp_text.lines().collect();
            assert_eq!(hyps.len(), refs.len());
            let got = corpus_bleu(&hyps, &[refs.clone()], lowercase);
            let counts: Vec<u64> = want["counts"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
            let totals: Vec<u64> = want["totals"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
            assert_eq!(got.stats.correct.to_vec(), counts, "{key}");
            assert_eq!(got.stats.total.to_vec(), totals, "{key}");
            assert_eq!((got.stats.sys_len, got.stats.ref_len), (want["sys_len"].as_u64().unwrap(), want["ref_len"].as_u64().unwrap()), "{key}");
            let score = want["score"].as_f64().unwrap();
            // The issue asks for 0.01 BLEU; the statistics are identical, so the score agrees to
            // floating-point rounding.
            assert!((got.score - score).abs() < 1e-9, "{key}: {} vs sacreBLEU {score}", got.score);
        }
    }
}
