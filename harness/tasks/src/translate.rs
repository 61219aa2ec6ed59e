//! Translation with an encoder-decoder Transformer: Multi30k English-German (a corpus a CPU can
//! train), and the paper's WMT'14 English-German with Transformer base and big (Yu et al. 2019;
//! GPU), and IWSLT'14 German-English; the last two are placed by hand (no verified download).
//!
//! A joint BPE vocabulary is trained on the training side only (cached by content hash under
//! `<data-dir>/.vocab/`, copied into the run folder as `tokenizer.json`). Training batches group
//! sentence pairs of similar length up to `max_tokens` tokens (padding counted); their order is
//! shuffled each epoch from the data seed. Loss: label-smoothed cross entropy over target tokens.
//! Evaluation: teacher-forced loss per target token, and corpus BLEU of beam-search translations
//! against the raw reference lines, computed exactly as sacreBLEU does ([`crate::bleu`]),
//! optionally of the average of the last checkpoints. Each finished ticket writes its
//! detokenized test translations, one line per source sentence.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};
use tokenizers::Tokenizer;

use lottery_datasets::{joint_bpe, load_parallel_split, pad_block, token_batches, vocab_cache_dir, ParallelSplit, BOS, EOS_SENTENCE, PAD};
use lottery_models::{Specials, Transformer, TransformerConfig};
use lottery_results::{Direction, MetricSpec, TicketKind};

use crate::bleu::{self, BleuStats};
use lottery_task::{Defaults, LrSchedule, Network, OptimizerSpec, Preset, Problem, PrunableParam, PruningPolicy, Registry, Role, Rule, Split, Step, Task, TaskEnv, TaskError, Training};
use lottery_task::seeds::{derive, Rng};
use lottery_task::hparams::{self, from_table, to_table};

struct TranslateTask {
    name: &'static str,
    description: &'static str,
    dataset: &'static str,
    /// File stems of the train, validation and test splits.
    stems: [&'static str; 3],
    source: &'static str,
    target: &'static str,
    /// The model and schedule of the `paper` preset.
    paper: PaperModel,
}

/// The `paper` preset's model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PaperModel {
    /// Transformer base (Vaswani et al.; Yu et al. 2020): 6+6 layers, d_model 512; 50k updates
    /// per ticket and embeddings pruned, as Yu et al. train their tickets.
    Base,
    /// Transformer big: d_model 1024, FFN 4096, 16 heads, dropout 0.3; 50k updates per ticket
    /// and embeddings pruned (Yu et al.).
    Big,
    /// fairseq's `transformer_iwslt_de_en`: base shape with FFN 1024, 4 heads, dropout 0.3.
    Iwslt,
}

/// Hyperparameters of the translation tasks (`--set key=value`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TranslateHparams {
    steps: Step,
    eval_every: Step,
    /// Tokens per batch, padding included (the longer side of each pair counts).
    max_tokens: usize,
    /// Joint BPE vocabulary size, special tokens included.
    vocab_size: usize,
    d_model: i64,
    ffn: i64,
    heads: i64,
    /// Encoder and decoder layers (each).
    layers: i64,
    dropout: f64,
    label_smoothing: f64,
    /// Peak learning rate, reached after `warmup` updates, then inverse-square-root decay.
    lr: f64,
    warmup: u64,
    /// One matrix for source and target embeddings and the output projection.
    share_embeddings: bool,
    pre_norm: bool,
    beam: i64,
    /// Wu et al.'s length-penalty exponent.
    length_penalty: f64,
    /// Longest translation, in subword tokens; a translation is also cut at
    /// `1.5 * source tokens + 10` (so a model that never ends a sentence costs little to score).
    max_decode_len: i64,
    /// Train on the first this many sentence pairs (0: all).
    train_sentences: usize,
    /// Evaluate the average of the weights at the last this many evaluations (checkpoint
    /// averaging, as the paper does; 0 or 1: the current weights). Training is unaffected.
    average_checkpoints: usize,
    /// Evaluate on the first this many sentences of validation and test (0: all). Only the smoke
    /// preset sets it; its BLEU is then not a test BLEU.
    eval_sentences: usize,
}

impl TranslateTask {
    fn hparams(&self, preset: Preset) -> TranslateHparams {
        let paper = TranslateHparams {
            steps: Step::iters(100_000),
            eval_every: Step::iters(5_000),
            max_tokens: 25_000,
            vocab_size: 37_000,
            d_model: 512,
            ffn: 2048,
            heads: 8,
            layers: 6,
            dropout: 0.1,
            label_smoothing: 0.1,
            lr: 7e-4,
            warmup: 4_000,
            share_embeddings: true,
            pre_norm: false,
            beam: 4,
            length_penalty: 0.6,
            max_decode_len: 200,
            train_sentences: 0,
            eval_sentences: 0,
            average_checkpoints: 5,
        };
        // Peak learning rates follow Vaswani et al.'s d_model^-0.5 * warmup^-0.5.
        let paper = match self.paper {
            // Yu et al. (appendix): fairseq's setup after Ott et al. 2018, 50,000 updates.
            PaperModel::Base => TranslateHparams { steps: Step::iters(50_000), ..paper },
            PaperModel::Big => TranslateHparams { steps: Step::iters(50_000), d_model: 1024, ffn: 4096, heads: 16, dropout: 0.3, lr: 5e-4, ..paper },
            PaperModel::Iwslt => TranslateHparams { steps: Step::iters(50_000), max_tokens: 4_096, vocab_size: 10_000, ffn: 1024, heads: 4, dropout: 0.3, lr: 5e-4, ..paper },
        };
        match preset {
            Preset::Paper => paper,
            // Sized so that `--prune 0.67` (five levels, winning and reinit) finishes in about 40
            // minutes on 2 CPU cores; the dense network reaches 21.6 test BLEU (README).
            Preset::Quick => TranslateHparams {
                steps: Step::epochs(3),
                eval_every: Step::epochs(1),
                max_tokens: 3_000,
                vocab_size: 6_000,
                d_model: 128,
                ffn: 512,
                heads: 4,
                layers: 2,
                dropout: 0.1,
                lr: 2e-3,
                warmup: 300,
                pre_norm: true,
                max_decode_len: 60,
                average_checkpoints: 0,
                ..paper
            },
            Preset::Smoke => TranslateHparams {
                steps: Step::iters(30),
                eval_every: Step::iters(15),
                max_tokens: 400,
                vocab_size: 1_000,
                d_model: 32,
                ffn: 64,
                heads: 2,
                layers: 1,
                dropout: 0.0,
                lr: 3e-3,
                warmup: 10,
                pre_norm: true,
                beam: 2,
                max_decode_len: 20,
                train_sentences: 2_000,
                eval_sentences: 40,
                average_checkpoints: 0,
                ..paper
            },
        }
    }
}

impl Task for TranslateTask {
    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        self.description
    }

    fn metrics(&self) -> Vec<MetricSpec> {
        vec![
            MetricSpec { name: "bleu".into(), direction: Direction::Higher },
            MetricSpec { name: "loss".into(), direction: Direction::Lower },
            // Tokenized BLEU (multi-bleu.perl on 13a tokens), comparable with papers' WMT tables.
            MetricSpec { name: "bleu_tok".into(), direction: Direction::Higher },
        ]
    }

    fn defaults(&self, preset: Preset) -> Defaults {
        let hparams = to_table(&self.hparams(preset));
        // The paper rewinds to update 1000.
        let rewind = match preset {
            Preset::Paper => Step::iters(1000),
            Preset::Quick => Step::iters(200),
            Preset::Smoke => Step::iters(5),
        };
        let controls = match preset {
            Preset::Paper => vec![TicketKind::WINNING, TicketKind::REINIT, TicketKind::SHUFFLE],
            _ => vec![TicketKind::WINNING, TicketKind::REINIT],
        };
        // Attention and feed-forward matrices; in Yu et al.'s main WMT runs also the embeddings
        // (their second variant leaves them dense: --ignore the embedding matrices) and the
        // biases (they prune every weight, biases included); elsewhere the embeddings with
        // --prune-embeddings.
        let yu = preset == Preset::Paper && matches!(self.paper, PaperModel::Base | PaperModel::Big);
        let pruning = if yu {
            PruningPolicy::new(&[(Role::Hidden, 1.0), (Role::Embedding, 1.0), (Role::Bias, 1.0)])
        } else {
            PruningPolicy::new(&[(Role::Hidden, 1.0)])
        };
        // 2: the WMT paper presets train 50k updates per ticket and prune the embeddings;
        // 3: and the biases.
        Defaults { hparams, rewind, controls, pruning, prune: None, revision: if yu { 3 } else { 1 } }
    }

    fn prepare(&self, hparams: &toml::Table, env: &TaskEnv) -> Result<Box<dyn Problem>, TaskError> {
        let hp: TranslateHparams = from_table(self.name, hparams)?;
        hparams::require(hp.max_tokens >= 8, "max_tokens", hp.max_tokens, "use 8 or more")?;
        hparams::require(hp.vocab_size >= 16, "vocab_size", hp.vocab_size, "use 16 or more")?;
        for (key, value) in [("beam", hp.beam), ("max_decode_len", hp.max_decode_len), ("d_model", hp.d_model), ("ffn", hp.ffn), ("heads", hp.heads), ("layers", hp.layers)] {
            hparams::at_least_one(key, value)?;
        }
        hparams::probability("dropout", hp.dropout)?;
        hparams::probability("label_smoothing", hp.label_smoothing)?;
        hparams::positive("lr", hp.lr)?;
        hparams::require(hp.length_penalty.is_finite(), "length_penalty", hp.length_penalty, "use a finite number")?;
        let dir = env.data_dir.join(self.dataset);
        let load = |stem: &str| load_parallel_split(self.dataset, &env.data_dir, &dir, stem, self.source, self.target);
        let (mut train, mut val, mut test) = (load(self.stems[0])?, load(self.stems[1])?, load(self.stems[2])?);
        if hp.train_sentences > 0 {
            train.source.truncate(hp.train_sentences);
            train.target.truncate(hp.train_sentences);
        }
        if hp.eval_sentences > 0 {
            for split in [&mut val, &mut test] {
                split.source.truncate(hp.eval_sentences);
                split.target.truncate(hp.eval_sentences);
            }
        }
        let tokenizer = joint_bpe(&train, hp.vocab_size, &vocab_cache_dir(&env.data_dir))?;
        let id = |t: &str| tokenizer.token_to_id(t).expect("special token") as i64;
        let specials = Specials { pad: id(PAD), bos: id(BOS), eos: id(EOS_SENTENCE) };
        let encode = |split: &ParallelSplit| -> Result<Encoded, TaskError> {
            let ids = |lines: &[String]| -> Result<Vec<Vec<i64>>, TaskError> {
                let enc = tokenizer.encode_batch(lines.iter().map(String::as_str).collect::<Vec<_>>(), false).map_err(|e| TaskError::failed("encoding sentences with the BPE vocabulary", e))?;
                // Positions are encoded up to 1024; longer sentences (none in Multi30k) are cut.
                Ok(enc.iter().map(|e| e.get_ids().iter().map(|&i| i as i64).take(MAX_SENTENCE_TOKENS).collect()).collect())
            };
            Ok(Encoded { source: ids(&split.source)?, target: ids(&split.target)?, references: split.target.clone() })
        };
        let (train, val, test) = (encode(&train)?, encode(&val)?, encode(&test)?);
        let lengths: Vec<(usize, usize)> = train.source.iter().zip(&train.target).map(|(s, t)| (s.len() + 1, t.len() + 1)).collect();
        let batches = token_batches(&lengths, hp.max_tokens);
        let per_epoch = batches.len() as u64;
        let vocab = tokenizer.get_vocab_size(true) as i64;
        let config = TransformerConfig {
            vocab,
            d_model: hp.d_model,
            ffn: hp.ffn,
            heads: hp.heads,
            encoder_layers: hp.layers,
            decoder_layers: hp.layers,
            dropout: hp.dropout,
            share_embeddings: hp.share_embeddings,
            pre_norm: hp.pre_norm,
            max_len: 1024,
        };
        let optimizer = OptimizerSpec {
            rule: Rule::Adam { beta1: 0.9, beta2: 0.98, eps: 1e-9 },
            lr: hp.lr,
            weight_decay: 0.0,
            schedule: LrSchedule::InverseSqrt { warmup: hp.warmup },
            grad_clip: None,
        };
        let tokenizer_json = tokenizer.to_string(true).map_err(|e| TaskError::failed("saving the BPE vocabulary", e))?;
        Ok(Box::new(TranslateProblem {
            training: Training { iterations_per_epoch: per_epoch, episodes_per_epoch: None, steps: hp.steps, eval_every: hp.eval_every, optimizer },
            config,
            hp,
            specials,
            tokenizer,
            batches,
            train,
            val,
            test,
            device: env.device,
            tokenizer_json,
            split_compounds: self.target == "de",
        }))
    }
}

struct Encoded {
    source: Vec<Vec<i64>>,
    target: Vec<Vec<i64>>,
    /// The raw target lines, what BLEU scores against.
    references: Vec<String>,
}

struct TranslateProblem {
    training: Training,
    config: TransformerConfig,
    hp: TranslateHparams,
    specials: Specials,
    tokenizer: Tokenizer,
    /// The training batches (example indices), fixed; each epoch visits them in its own order.
    batches: Vec<Vec<usize>>,
    train: Encoded,
    val: Encoded,
    test: Encoded,
    device: Device,
    tokenizer_json: String,
    /// Tokenized BLEU splits hyphenated compounds (German targets, as fairseq scores WMT En-De).
    split_compounds: bool,
}

impl TranslateProblem {
    /// `[rows, width]` tensor of `seqs`, each wrapped as `prefix + seq + suffix`, right-padded.
    fn block(&self, seqs: &[&Vec<i64>], prefix: Option<i64>, suffix: Option<i64>) -> Tensor {
        let rows: Vec<Vec<i64>> = seqs.iter().map(|s| prefix.into_iter().chain(s.iter().copied()).chain(suffix).collect()).collect();
        let (flat, width) = pad_block(&rows, self.specials.pad);
        Tensor::from_slice(&flat).view([rows.len() as i64, width as i64]).to_device(self.device)
    }
}

impl Problem for TranslateProblem {
    fn training(&self) -> &Training {
        &self.training
    }

    fn build<'a>(&'a self, root: &nn::Path, data_seed: u64) -> Result<Box<dyn Network + 'a>, TaskError> {
        let model = Transformer::new(root, self.config).map_err(|message| TaskError::Hyperparameters { task: "transformer".into(), message })?;
        Ok(Box::new(TranslateNetwork { problem: self, model, data_seed, epoch: None, test_translations: vec![], snapshots: VecDeque::new(), trained_since_snapshot: false }))
    }

    fn artifacts(&self) -> Vec<(String, Vec<u8>)> {
        vec![("tokenizer.json".into(), self.tokenizer_json.clone().into_bytes())]
    }
}

struct TranslateNetwork<'a> {
    problem: &'a TranslateProblem,
    model: Transformer,
    data_seed: u64,
    /// This epoch's order of the batches.
    epoch: Option<(u64, Vec<usize>)>,
    /// Detokenized translations of the last test evaluation.
    test_translations: Vec<String>,
    /// Copies of the variables at the last `average_checkpoints` validation evaluations that
    /// followed training (not the rewound starting point's).
    snapshots: VecDeque<Vec<Tensor>>,
    trained_since_snapshot: bool,
}

/// Subword tokens kept per sentence (the model's positions end at 1024, with `<s>`/`</s>`).
const MAX_SENTENCE_TOKENS: usize = 1000;

/// Sentences decoded together.
const DECODE_BATCH: usize = 128;

impl TranslateNetwork<'_> {
    /// The encoder's output and source mask for examples `idx`.
    fn encode(&self, data: &Encoded, idx: &[usize], train: bool) -> (Tensor, Tensor) {
        let p = self.problem;
        let src: Vec<&Vec<i64>> = idx.iter().map(|&i| &data.source[i]).collect();
        self.model.encode(&p.block(&src, None, Some(p.specials.eos)), p.specials.pad, train)
    }

    /// Summed loss over the target tokens of examples `idx`, and their number.
    fn teacher_forced_loss(&self, data: &Encoded, idx: &[usize], (memory, mask): &(Tensor, Tensor), train: bool) -> (Tensor, Tensor) {
        let p = self.problem;
        let s = p.specials;
        let tgt: Vec<&Vec<i64>> = idx.iter().map(|&i| &data.target[i]).collect();
        let target_in = p.block(&tgt, Some(s.bos), None);
        let target_out = p.block(&tgt, None, Some(s.eos));
        let logits = self.model.decode(memory, mask, &target_in, s.pad, train);
        let smoothing = if train { p.hp.label_smoothing } else { 0.0 };
        let loss = logits.view([-1, p.config.vocab]).cross_entropy_loss::<Tensor>(&target_out.view([-1]), None, tch::Reduction::Sum, s.pad, smoothing);
        (loss, target_out.ne(s.pad).sum(Kind::Float))
    }

    /// Mean loss per target token, corpus BLEU, and the translations.
    /// Loss per target token, sacreBLEU and tokenized BLEU, and the translations.
    fn score(&self, data: &Encoded) -> (f64, f64, f64, Vec<String>) {
        let p = self.problem;
        let n = data.source.len();
        let (mut loss, mut tokens) = (0.0, 0.0);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| data.source[i].len());
        let mut translations = vec![String::new(); n];
        tch::no_grad(|| {
            for chunk in order.chunks(DECODE_BATCH) {
                let encoded = self.encode(data, chunk, false);
                let (l, t) = self.teacher_forced_loss(data, chunk, &encoded, false);
                loss += l.double_value(&[]);
                tokens += t.double_value(&[]);
                let longest_source = chunk.iter().map(|&i| data.source[i].len()).max().unwrap_or(0);
                let limit = p.hp.max_decode_len.min((1.5 * longest_source as f64) as i64 + 10);
                let out = self.model.beam_encoded(&encoded.0, &encoded.1, p.specials, limit, p.hp.beam, p.hp.length_penalty);
                for (&i, ids) in chunk.iter().zip(out) {
                    let ids: Vec<u32> = ids.iter().map(|&t| t as u32).collect();
                    translations[i] = p.tokenizer.decode(&ids, true).unwrap_or_default();
                }
            }
        });
        // sacreBLEU over 13a tokens; tokenized BLEU over the same tokens, with German compounds
        // split as fairseq splits them for WMT En-De (without splitting, the same statistics).
        let (mut stats, mut split) = (BleuStats::default(), BleuStats::default());
        for (hyp, reference) in translations.iter().zip(&data.references) {
            let (hyp, reference) = (bleu::preprocess(hyp, false), bleu::preprocess(reference, false));
            stats.add_tokens(&hyp, &[&reference]);
            if p.split_compounds {
                split.add_tokens(&bleu::split_compounds(&hyp), &[&bleu::split_compounds(&reference)]);
            }
        }
        let tokenized = if p.split_compounds { split.tokenized() } else { stats.tokenized() };
        (loss / tokens.max(1.0), stats.score().score, tokenized.score, translations)
    }
}

impl Network for TranslateNetwork<'_> {
    fn prunable(&self) -> Vec<PrunableParam> {
        self.model.prunable()
    }

    fn loss(&mut self, step: u64) -> Tensor {
        let p = self.problem;
        let per_epoch = p.training.iterations_per_epoch;
        let epoch = step / per_epoch;
        if self.epoch.as_ref().map(|(e, _)| *e) != Some(epoch) {
            self.epoch = Some((epoch, Rng::new(derive(self.data_seed, "epoch", epoch)).permutation(p.batches.len())));
        }
        let order = &self.epoch.as_ref().expect("set above").1;
        let idx = &p.batches[order[(step % per_epoch) as usize]];
        self.trained_since_snapshot = true;
        let encoded = self.encode(&p.train, idx, true);
        let (loss, tokens) = self.teacher_forced_loss(&p.train, idx, &encoded, true);
        loss / tokens
    }

    fn evaluate(&mut self, split: Split) -> BTreeMap<String, f64> {
        let data = match split {
            Split::Val => &self.problem.val,
            Split::Test => &self.problem.test,
        };
        let averaging = self.problem.hp.average_checkpoints > 1;
        // Snapshots are taken at validation, which the engine runs before test at each step, so
        // both splits see the same average.
        if averaging && split == Split::Val && self.trained_since_snapshot {
            self.snapshots.push_back(self.model.variables().iter().map(|v| v.detach().copy()).collect());
            if self.snapshots.len() > self.problem.hp.average_checkpoints {
                self.snapshots.pop_front();
            }
            self.trained_since_snapshot = false;
        }
        let current: Option<Vec<Tensor>> = (averaging && !self.snapshots.is_empty()).then(|| {
            let vars = self.model.variables();
            let saved = vars.iter().map(|v| v.detach().copy()).collect();
            tch::no_grad(|| {
                for (i, var) in vars.into_iter().enumerate() {
                    let sum = self.snapshots.iter().map(|s| s[i].shallow_clone()).reduce(|a, b| a + b).expect("non-empty");
                    let mut var = var.shallow_clone();
                    var.copy_(&(sum / self.snapshots.len() as f64));
                }
            });
            saved
        });
        let (loss, bleu, bleu_tok, translations) = self.score(data);
        if let Some(saved) = current {
            tch::no_grad(|| {
                for (var, value) in self.model.variables().into_iter().zip(saved) {
                    var.shallow_clone().copy_(&value);
                }
            });
        }
        if split == Split::Test {
            self.test_translations = translations;
        }
        BTreeMap::from([("bleu".to_string(), bleu), ("loss".to_string(), loss), ("bleu_tok".to_string(), bleu_tok)])
    }

    fn extra_state(&self) -> Vec<(String, Tensor)> {
        let mut state = vec![("snapshots.trained_since".to_string(), Tensor::from(self.trained_since_snapshot as i64))];
        for (i, snapshot) in self.snapshots.iter().enumerate() {
            state.extend(snapshot.iter().enumerate().map(|(j, t)| (format!("snapshots.{i}.{j}"), t.shallow_clone())));
        }
        state
    }

    fn load_extra_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<(), TaskError> {
        self.trained_since_snapshot = state.get("snapshots.trained_since").is_some_and(|t| t.int64_value(&[]) != 0);
        let device = self.problem.device;
        let count = self.model.variables().len();
        self.snapshots = (0..)
            .map_while(|i| (0..count).map(|j| state.get(&format!("snapshots.{i}.{j}")).map(|t| t.to_device(device))).collect::<Option<Vec<Tensor>>>())
            .collect();
        Ok(())
    }

    fn outputs(&mut self) -> Vec<(String, Vec<u8>)> {
        let text: String = self.test_translations.iter().map(|l| format!("{l}\n")).collect();
        vec![("translations.test.txt".into(), text.into_bytes())]
    }
}

pub fn register(registry: &mut Registry) {
    registry.register(Box::new(TranslateTask {
        name: "translate/multi30k-transformer",
        description: "Encoder-decoder Transformer, Multi30k English->German (label smoothing 0.1, Adam 0.9/0.98, inverse-sqrt warmup, beam 4)",
        dataset: "multi30k",
        stems: ["train", "val", "test_2016_flickr"],
        source: "en",
        target: "de",
        paper: PaperModel::Base,
    }));
    for (name, description, paper) in [
        ("translate/wmt14-en-de-base", "Transformer base, WMT'14 English->German (newstest2013 val, newstest2014 test); paper preset as Yu et al. 2019 (GPU); data placed by hand", PaperModel::Base),
        ("translate/wmt14-en-de-big", "Transformer big, WMT'14 English->German (newstest2013 val, newstest2014 test); paper preset as Vaswani et al. (GPU); data placed by hand", PaperModel::Big),
    ] {
        registry.register(Box::new(TranslateTask { name, description, dataset: "wmt14-en-de", stems: ["train", "newstest2013", "newstest2014"], source: "en", target: "de", paper }));
    }
    registry.register(Box::new(TranslateTask {
        name: "translate/iwslt14-de-en-transformer",
        description: "Transformer (fairseq's IWSLT shape), IWSLT'14 German->English; data placed by hand",
        dataset: "iwslt14",
        stems: ["train", "valid", "test"],
        source: "de",
        target: "en",
        paper: PaperModel::Iwslt,
    }));
}
