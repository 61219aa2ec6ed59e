//! Word-level language modeling: a 2-layer LSTM on Penn Treebank and WikiText-2, with the settings
//! of Yu et al. (2019), "Playing the lottery with rewards and multiple languages".
//!
//! Training reads the train stream as `batch_size` contiguous columns, `bptt` tokens per update,
//! carrying the LSTM state from one update to the next within an epoch (truncated
//! backpropagation through time); every epoch starts from a zero state. Evaluation scores every
//! token of the validation or test split exactly once ([`stream_nll`]). Per-update randomness
//! (dropout) is seeded from the data seed and the update, so resumed training is identical.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use lottery_datasets::{load_lm_text, LmCorpus, LmCorpusIds};
use lottery_models::{stream_nll, LstmLm, LstmLmConfig, LstmState};
use lottery_results::{Direction, MetricSpec, TicketKind};
use lottery_task::{Defaults, TWENTY_LEVELS, LrSchedule, Network, OptimizerSpec, Preset, Problem, PrunableParam, PruningPolicy, Registry, Role, Rule, Split, Step, Task, TaskEnv, TaskError, Training};
use lottery_task::hparams::{self, from_table, to_table};

/// One language-modeling task: a corpus and the paper's LSTM.
struct LmTask {
    name: &'static str,
    description: &'static str,
    corpus: LmCorpus,
}

/// Hyperparameters of the LSTM language-model tasks (`--set key=value`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LmHparams {
    /// Training updates per ticket (`2ep`, `500it`).
    steps: Step,
    /// Evaluate validation and test perplexity this often.
    eval_every: Step,
    /// Parallel token columns per update.
    batch_size: i64,
    /// Tokens per column per update (truncated backpropagation through time).
    bptt: i64,
    embedding: i64,
    hidden: i64,
    layers: i64,
    dropout: f64,
    /// Decode with the embedding matrix (needs embedding == hidden).
    tie_weights: bool,
    lr: f64,
    /// Adam's epsilon (the paper's 1e-3, not PyTorch's 1e-8).
    adam_eps: f64,
    /// Clip the global gradient norm to this value.
    grad_clip: f64,
    /// Train on the first this many tokens of the train split (0: all of it). The vocabulary is
    /// always built from the whole split.
    train_tokens: usize,
    /// Columns read in parallel during evaluation.
    eval_batch_size: i64,
    /// Score only the first this many tokens of the validation and test splits (0: all). Only
    /// the smoke preset sets it, to keep tests fast; results from it are not test perplexities.
    eval_tokens: usize,
}

impl LmTask {
    fn hparams(&self, preset: Preset) -> LmHparams {
        let paper = LmHparams {
            steps: Step::epochs(10),
            eval_every: Step::epochs(1),
            batch_size: 30,
            bptt: 50,
            embedding: 650,
            hidden: 650,
            layers: 2,
            dropout: 0.5,
            tie_weights: false,
            lr: 1e-3,
            adam_eps: 1e-3,
            grad_clip: 0.25,
            train_tokens: 0,
            eval_batch_size: 10,
            eval_tokens: 0,
        };
        match preset {
            Preset::Paper => paper,
            // A small LSTM, one pass over the first 300k train tokens: about a minute per ticket
            // on 2 cores. With so few updates it needs a larger step than the paper's (lr 5e-3,
            // Adam's usual epsilon) and no dropout to get well below the unigram perplexity.
            Preset::Quick => LmHparams {
                steps: Step::epochs(1),
                eval_every: Step::iters(375),
                batch_size: 20,
                bptt: 20,
                embedding: 64,
                hidden: 64,
                dropout: 0.0,
                lr: 5e-3,
                adam_eps: 1e-8,
                train_tokens: 300_000,
                eval_batch_size: 40,
                ..paper
            },
            Preset::Smoke => LmHparams {
                steps: Step::iters(40),
                eval_every: Step::iters(20),
                batch_size: 8,
                bptt: 20,
                embedding: 32,
                hidden: 32,
                dropout: 0.0,
                train_tokens: 20_000,
                eval_batch_size: 16,
                eval_tokens: 4_000,
                ..paper
            },
        }
    }
}

impl Task for LmTask {
    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        self.description
    }

    fn metrics(&self) -> Vec<MetricSpec> {
        vec![MetricSpec { name: "perplexity".into(), direction: Direction::Lower }]
    }

    fn defaults(&self, preset: Preset) -> Defaults {
        let hparams = to_table(&self.hparams(preset));
        let (rewind, controls) = match preset {
            // The paper rewinds to the end of the first epoch.
            Preset::Paper => (Step::epochs(1), vec![TicketKind::WINNING, TicketKind::REINIT, TicketKind::SHUFFLE]),
            Preset::Quick => (Step::iters(100), vec![TicketKind::WINNING, TicketKind::REINIT]),
            Preset::Smoke => (Step::iters(10), vec![TicketKind::WINNING, TicketKind::REINIT]),
        };
        // Every LSTM matrix and the decoder at --rate; the embedding with --prune-embeddings
        // (the paper's second variant).
        // Yu et al. prune the biases too, and to 20 levels of 20% (revision 2 of the paper preset).
        let paper = preset == Preset::Paper;
        let pruning = if paper {
            PruningPolicy::new(&[(Role::Hidden, 1.0), (Role::Output, 1.0), (Role::Bias, 1.0)])
        } else {
            PruningPolicy::new(&[(Role::Hidden, 1.0), (Role::Output, 1.0)])
        };
        Defaults { hparams, rewind, controls, pruning, prune: paper.then_some(TWENTY_LEVELS), revision: if paper { 2 } else { 1 } }
    }

    fn prepare(&self, hparams: &toml::Table, env: &TaskEnv) -> Result<Box<dyn Problem>, TaskError> {
        let hp: LmHparams = from_table(self.name, hparams)?;
        for (key, value) in [("batch_size", hp.batch_size), ("bptt", hp.bptt), ("embedding", hp.embedding), ("hidden", hp.hidden), ("layers", hp.layers), ("eval_batch_size", hp.eval_batch_size)] {
            hparams::at_least_one(key, value)?;
        }
        hparams::probability("dropout", hp.dropout)?;
        hparams::positive("lr", hp.lr)?;
        hparams::positive("adam_eps", hp.adam_eps)?;
        hparams::positive("grad_clip", hp.grad_clip)?;
        hparams::require(
            !hp.tie_weights || hp.embedding == hp.hidden,
            "tie_weights",
            hp.tie_weights,
            &format!("tied weights need embedding == hidden (got {} and {}); set both to the same size", hp.embedding, hp.hidden),
        )?;
        let text = load_lm_text(self.corpus, &env.data_dir)?;
        let corpus = LmCorpusIds::new(&text)?;
        let train: &[i64] = match hp.train_tokens {
            0 => &corpus.train,
            n => &corpus.train[..n.min(corpus.train.len())],
        };
        let columns = train.len() as i64 / hp.batch_size;
        let per_epoch = (columns - 1).max(0) / hp.bptt;
        if per_epoch == 0 {
            return Err(TaskError::InvalidHyperparameter {
                key: "batch_size".into(),
                value: hp.batch_size.to_string(),
                requirement: format!(
                    "{} training tokens do not fill one update of {} columns x {} steps; lower batch_size or bptt, or raise train_tokens",
                    train.len(),
                    hp.batch_size,
                    hp.bptt
                ),
            });
        }
        // Column j holds tokens [j * columns, (j + 1) * columns): time-major [columns, batch].
        let train_data = Tensor::from_slice(&train[..(columns * hp.batch_size) as usize])
            .view([hp.batch_size, columns])
            .transpose(0, 1)
            .contiguous()
            .to_device(env.device);
        let optimizer = OptimizerSpec {
            rule: Rule::Adam { beta1: 0.9, beta2: 0.999, eps: hp.adam_eps },
            lr: hp.lr,
            weight_decay: 0.0,
            schedule: LrSchedule::Constant,
            grad_clip: Some(hp.grad_clip),
        };
        let config = LstmLmConfig {
            vocab: corpus.vocab_size as i64,
            embedding: hp.embedding,
            hidden: hp.hidden,
            layers: hp.layers,
            dropout: hp.dropout,
            tie_weights: hp.tie_weights,
        };
        let summary = serde_json::json!({
            "corpus": self.corpus.dataset(),
            "vocab_size": corpus.vocab_size,
            "tokens": { "train": corpus.train.len(), "train_used": columns * hp.batch_size, "valid": corpus.valid.len(), "test": corpus.test.len() },
            "unigram_perplexity": { "valid": corpus.unigram_perplexity(&corpus.valid), "test": corpus.unigram_perplexity(&corpus.test) },
        });
        Ok(Box::new(LmProblem {
            training: Training { iterations_per_epoch: per_epoch as u64, episodes_per_epoch: None, steps: hp.steps, eval_every: hp.eval_every, optimizer },
            config,
            hp,
            train_data,
            device: env.device,
            artifacts: vec![
                ("tokenizer.json".into(), corpus.tokenizer_json().into_bytes()),
                ("corpus.json".into(), serde_json::to_vec_pretty(&summary).expect("json")),
            ],
            corpus,
        }))
    }
}

struct LmProblem {
    training: Training,
    config: LstmLmConfig,
    hp: LmHparams,
    corpus: LmCorpusIds,
    /// The train stream as `[columns, batch]` ids.
    train_data: Tensor,
    device: Device,
    artifacts: Vec<(String, Vec<u8>)>,
}

impl Problem for LmProblem {
    fn training(&self) -> &Training {
        &self.training
    }

    fn build<'a>(&'a self, root: &nn::Path, _data_seed: u64) -> Result<Box<dyn Network + 'a>, TaskError> {
        let model = LstmLm::new(root, self.config).map_err(|message| TaskError::Hyperparameters { task: "language model".into(), message })?;
        Ok(Box::new(LmNetwork { problem: self, model, carried: None }))
    }

    fn artifacts(&self) -> Vec<(String, Vec<u8>)> {
        self.artifacts.clone()
    }
}

/// Logits per evaluation chunk (16 MB of floats).
const EVAL_LOGITS: i64 = 1 << 22;

struct LmNetwork<'a> {
    problem: &'a LmProblem,
    model: LstmLm,
    /// The LSTM state after the last update, and the update it feeds.
    carried: Option<(u64, LstmState)>,
}

impl Network for LmNetwork<'_> {
    fn prunable(&self) -> Vec<PrunableParam> {
        self.model.prunable()
    }

    fn loss(&mut self, step: u64) -> Tensor {
        let p = self.problem;
        let position = (step % p.training.iterations_per_epoch) as i64;
        let state = match self.carried.take() {
            Some((next, state)) if next == step && position != 0 => state,
            _ => self.model.zero_state(p.hp.batch_size, p.device),
        };
        let start = position * p.hp.bptt;
        let input = p.train_data.narrow(0, start, p.hp.bptt);
        let target = p.train_data.narrow(0, start + 1, p.hp.bptt);
        let (logits, (h, c)) = self.model.forward(&input, &state, true);
        self.carried = Some((step + 1, (h.detach(), c.detach())));
        logits.view([-1, self.problem.config.vocab]).cross_entropy_for_logits(&target.reshape([-1]))
    }

    fn evaluate(&mut self, split: Split) -> BTreeMap<String, f64> {
        let p = self.problem;
        let stream = match split {
            Split::Val => &p.corpus.valid,
            Split::Test => &p.corpus.test,
        };
        let stream = match p.hp.eval_tokens {
            0 => &stream[..],
            n => &stream[..n.min(stream.len())],
        };
        // Chunks of at most EVAL_LOGITS logits: the result does not depend on the chunking (the
        // state is carried across chunks), and buffers this size are reused instead of being
        // mapped and faulted in afresh for every chunk.
        let steps = (EVAL_LOGITS / (p.hp.eval_batch_size * p.config.vocab)).clamp(1, p.hp.bptt);
        let model = &self.model;
        let nll = stream_nll(stream, p.corpus.eos, p.hp.eval_batch_size, steps, p.device, |input, state: Option<LstmState>| {
            let state = state.unwrap_or_else(|| model.zero_state(input.size()[1], p.device));
            model.forward(input, &state, false)
        });
        BTreeMap::from([("perplexity".to_string(), nll.perplexity())])
    }

    fn extra_state(&self) -> Vec<(String, Tensor)> {
        match &self.carried {
            Some((next, (h, c))) => vec![
                ("lstm_state_step".into(), Tensor::from_slice(&[*next as i64])),
                ("lstm_h".into(), h.shallow_clone()),
                ("lstm_c".into(), c.shallow_clone()),
            ],
            None => vec![],
        }
    }

    fn load_extra_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<(), TaskError> {
        self.carried = match (state.get("lstm_state_step"), state.get("lstm_h"), state.get("lstm_c")) {
            (Some(step), Some(h), Some(c)) => {
                let step = step.to_kind(Kind::Int64).int64_value(&[0]) as u64;
                Some((step, (h.to_device(self.problem.device), c.to_device(self.problem.device))))
            }
            _ => None,
        };
        Ok(())
    }
}

pub fn register(registry: &mut Registry) {
    registry.register(Box::new(LmTask {
        name: "lm/ptb-lstm",
        description: "2-layer LSTM language model on Penn Treebank (650 units, Adam 1e-3, BPTT 50, batch 30, 10 epochs)",
        corpus: LmCorpus::Ptb,
    }));
    registry.register(Box::new(LmTask {
        name: "lm/wikitext2-lstm",
        description: "2-layer LSTM language model on WikiText-2, PTB settings",
        corpus: LmCorpus::WikiText2,
    }));
}
