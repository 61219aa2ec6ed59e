//! A word-level LSTM language model (Zaremba et al. 2014, as pruned by Yu et al. 2019), and the
//! streaming evaluation that turns any such model into a perplexity.
//!
//! The LSTM runs through libtorch's fused `lstm` op on the model's own weight tensors, so it takes
//! the cuDNN kernel on CUDA while the pruning engine still masks those tensors in place.

use tch::{nn, Device, Kind, Tensor};

use crate::{Prunable, Role};

/// Shape and regularization of an [`LstmLm`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LstmLmConfig {
    pub vocab: i64,
    pub embedding: i64,
    pub hidden: i64,
    pub layers: i64,
    /// Dropout on the embeddings, between LSTM layers and before the decoder.
    pub dropout: f64,
    /// Decode with the embedding matrix (needs `embedding == hidden`).
    pub tie_weights: bool,
}

/// Hidden and cell state, each `[layers, batch, hidden]`.
pub type LstmState = (Tensor, Tensor);

/// Embedding, stacked LSTM, linear decoder to vocabulary logits. Inputs are time-major
/// `[time, batch]` ids.
#[derive(Debug)]
pub struct LstmLm {
    config: LstmLmConfig,
    embedding: Tensor,
    /// Per layer: `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` (PyTorch's order and names).
    lstm: Vec<Tensor>,
    decoder_weight: Option<Tensor>,
    decoder_bias: Tensor,
    prefix: String,
}

impl LstmLm {
    pub fn new(path: &nn::Path, config: LstmLmConfig) -> Result<Self, String> {
        if config.tie_weights && config.embedding != config.hidden {
            return Err(format!(
                "tied weights need the embedding size ({}) to equal the hidden size ({})",
                config.embedding, config.hidden
            ));
        }
        if config.layers < 1 || config.vocab < 2 || config.embedding < 1 || config.hidden < 1 {
            return Err(format!("an LSTM language model needs at least one layer and positive sizes, got {config:?}"));
        }
        // The initialization of PyTorch's word_language_model example: uniform +-0.1 for the
        // embedding and decoder, zero decoder bias, PyTorch's LSTM default +-1/sqrt(hidden).
        let emb_init = nn::Init::Uniform { lo: -0.1, up: 0.1 };
        let embedding = (path / "embedding").var("weight", &[config.vocab, config.embedding], emb_init);
        let bound = 1.0 / (config.hidden as f64).sqrt();
        let lstm_init = nn::Init::Uniform { lo: -bound, up: bound };
        let lstm_path = path / "lstm";
        let mut lstm = vec![];
        for layer in 0..config.layers {
            let input = if layer == 0 { config.embedding } else { config.hidden };
            let gates = 4 * config.hidden;
            lstm.push(lstm_path.var(&format!("weight_ih_l{layer}"), &[gates, input], lstm_init));
            lstm.push(lstm_path.var(&format!("weight_hh_l{layer}"), &[gates, config.hidden], lstm_init));
            lstm.push(lstm_path.var(&format!("bias_ih_l{layer}"), &[gates], lstm_init));
            lstm.push(lstm_path.var(&format!("bias_hh_l{layer}"), &[gates], lstm_init));
        }
        let decoder = path / "decoder";
        let decoder_weight = (!config.tie_weights).then(|| decoder.var("weight", &[config.vocab, config.hidden], emb_init));
        let decoder_bias = decoder.var("bias", &[config.vocab], nn::Init::Const(0.0));
        let prefix = path.components().map(|c| format!("{c}.")).collect();
        Ok(LstmLm { config, embedding, lstm, decoder_weight, decoder_bias, prefix })
    }

    pub fn config(&self) -> LstmLmConfig {
        self.config
    }

    /// The matrices pruning may mask: the embedding (role `Embedding`), every LSTM input and
    /// recurrent matrix and the decoder. With tied weights the shared matrix is the embedding,
    /// so it is pruned as one.
    pub fn prunable(&self) -> Vec<Prunable> {
        let mut out = vec![Prunable { name: format!("{}embedding.weight", self.prefix), role: Role::Embedding }];
        for layer in 0..self.config.layers {
            for kind in ["ih", "hh"] {
                out.push(Prunable { name: format!("{}lstm.weight_{kind}_l{layer}", self.prefix), role: Role::Hidden });
            }
        }
        if self.decoder_weight.is_some() {
            out.push(Prunable { name: format!("{}decoder.weight", self.prefix), role: Role::Output });
        }
        for layer in 0..self.config.layers {
            for kind in ["ih", "hh"] {
                out.push(Prunable { name: format!("{}lstm.bias_{kind}_l{layer}", self.prefix), role: Role::Bias });
            }
        }
        out.push(Prunable { name: format!("{}decoder.bias", self.prefix), role: Role::Bias });
        out
    }

    pub fn zero_state(&self, batch: i64, device: Device) -> LstmState {
        let zeros = Tensor::zeros([self.config.layers, batch, self.config.hidden], (Kind::Float, device));
        (zeros.shallow_clone(), zeros)
    }

    /// Logits `[time, batch, vocab]` for inputs `[time, batch]`, and the state after them.
    pub fn forward(&self, input: &Tensor, state: &LstmState, train: bool) -> (Tensor, LstmState) {
        let p = self.config.dropout;
        let x = Tensor::embedding(&self.embedding, input, -1, false, false).dropout(p, train);
        let weights: Vec<&Tensor> = self.lstm.iter().collect();
        let (out, h, c) = x.lstm(&[&state.0, &state.1], &weights, true, self.config.layers, p, train, false, false);
        let out = out.dropout(p, train);
        let decoder = self.decoder_weight.as_ref().unwrap_or(&self.embedding);
        (out.linear(decoder, Some(&self.decoder_bias)), (h, c))
    }
}

/// Negative log-likelihood summed over a token stream, and the number of tokens it covers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamNll {
    pub total: f64,
    pub tokens: u64,
}

impl StreamNll {
    pub fn perplexity(self) -> f64 {
        (self.total / self.tokens as f64).exp()
    }
}

/// Scores every token of `stream` exactly once. The stream, preceded by `start` (the `<eos>` that
/// ends the sentence before it), is cut into `batch` contiguous columns read in parallel, `bptt`
/// steps at a time, with the state carried along each column; column `j` reads the token that
/// ends column `j-1`, so each token of the stream is predicted once and nothing is dropped. The
/// padding that fills the last column is masked out. `step` maps `[time, batch]` ids and the
/// state (None at the start) to `[time, batch, vocab]` logits and the next state.
pub fn stream_nll<S>(
    stream: &[i64],
    start: i64,
    batch: i64,
    bptt: i64,
    device: Device,
    mut step: impl FnMut(&Tensor, Option<S>) -> (Tensor, S),
) -> StreamNll {
    let n = stream.len() as i64;
    if n == 0 {
        return StreamNll { total: 0.0, tokens: 0 };
    }
    let batch = batch.clamp(1, n);
    let len = (n + batch - 1) / batch;
    let padded = len * batch;
    let mut inputs = vec![0i64; padded as usize];
    let mut targets = vec![0i64; padded as usize];
    let mut valid = vec![0f32; padded as usize];
    for column in 0..batch {
        for t in 0..len {
            let i = column * len + t; // index into the stream of this target
            if i < n {
                // Time-major layout [len, batch].
                let at = (t * batch + column) as usize;
                inputs[at] = if i == 0 { start } else { stream[i as usize - 1] };
                targets[at] = stream[i as usize];
                valid[at] = 1.0;
            }
        }
    }
    let shape = [len, batch];
    let inputs = Tensor::from_slice(&inputs).view(shape).to_device(device);
    let targets = Tensor::from_slice(&targets).view(shape).to_device(device);
    let valid = Tensor::from_slice(&valid).view(shape).to_device(device);
    let mut total = Tensor::zeros([], (Kind::Double, device));
    let mut state = None;
    tch::no_grad(|| {
        for t0 in (0..len).step_by(bptt.max(1) as usize) {
            let steps = bptt.min(len - t0);
            let (logits, next) = step(&inputs.narrow(0, t0, steps), state.take());
            state = Some(next);
            let vocab = *logits.size().last().expect("logits have a vocabulary dimension");
            let nll = logits.view([-1, vocab]).cross_entropy_loss::<Tensor>(&targets.narrow(0, t0, steps).reshape([-1]), None, tch::Reduction::None, -100, 0.0);
            total += (nll * valid.narrow(0, t0, steps).reshape([-1])).sum(Kind::Double);
        }
    });
    StreamNll { total: total.double_value(&[]), tokens: n as u64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model whose logits ignore the context: a fixed distribution over a 4-word vocabulary.
    fn unigram(logp: [f64; 4]) -> impl FnMut(&Tensor, Option<()>) -> (Tensor, ()) {
        move |input: &Tensor, _| {
            let size = input.size();
            let row = Tensor::from_slice(&logp).to_kind(Kind::Float);
            (row.view([1, 1, 4]).expand([size[0], size[1], 4], false).contiguous(), ())
        }
    }

    #[test]
    fn perplexity_covers_exactly_the_evaluation_tokens_for_any_batch_and_bptt() {
        let p = [0.1f64, 0.2, 0.3, 0.4];
        let logp = p.map(f64::ln);
        let stream = [3i64, 1, 2, 3, 0, 3, 2];
        // By hand: exp(-(ln .4 + ln .2 + ln .3 + ln .4 + ln .1 + ln .4 + ln .3) / 7).
        let expected = (-(0.4f64.ln() * 3.0 + 0.2f64.ln() + 0.3f64.ln() * 2.0 + 0.1f64.ln()) / 7.0).exp();
        for batch in [1, 2, 3, 7, 10] {
            for bptt in [1, 2, 5, 100] {
                let nll = stream_nll(&stream, 0, batch, bptt, Device::Cpu, unigram(logp));
                assert_eq!(nll.tokens, 7);
                assert!((nll.perplexity() - expected).abs() < 1e-5, "batch {batch} bptt {bptt}: {} vs {expected}", nll.perplexity());
            }
        }
    }

    #[test]
    fn each_token_is_predicted_from_the_token_before_it() {
        // A bigram "model" that puts probability 1/2 on the true successor in this stream and
        // spreads the rest, so every input/target pairing is checked.
        let stream = [1i64, 2, 3, 0, 1, 2];
        let next = |prev: i64| match prev {
            0 => 1,
            1 => 2,
            2 => 3,
            _ => 0,
        };
        let model = |input: &Tensor, _: Option<()>| {
            let ids: Vec<i64> = Vec::<i64>::try_from(input.flatten(0, -1)).unwrap();
            let mut rows = vec![];
            for prev in ids {
                let mut row = [(1.0f64 / 6.0).ln(); 4];
                row[next(prev) as usize] = 0.5f64.ln();
                rows.extend(row);
            }
            let size = input.size();
            (Tensor::from_slice(&rows).to_kind(Kind::Float).view([size[0], size[1], 4]), ())
        };
        for batch in [1, 2, 4] {
            let nll = stream_nll(&stream, 0, batch, 2, Device::Cpu, model);
            assert!((nll.perplexity() - 2.0).abs() < 1e-5, "batch {batch}: {}", nll.perplexity());
        }
    }

    #[test]
    fn prunable_lists_the_embedding_by_role_and_tied_decoders_never() {
        let vs = nn::VarStore::new(Device::Cpu);
        let config = LstmLmConfig { vocab: 11, embedding: 6, hidden: 6, layers: 2, dropout: 0.5, tie_weights: false };
        let lm = LstmLm::new(&vs.root(), config).unwrap();
        let names = |p: Vec<Prunable>| p.into_iter().map(|p| p.name).collect::<Vec<_>>();
        assert_eq!(
            names(lm.prunable()),
            [
                "embedding.weight",
                "lstm.weight_ih_l0",
                "lstm.weight_hh_l0",
                "lstm.weight_ih_l1",
                "lstm.weight_hh_l1",
                "decoder.weight",
                "lstm.bias_ih_l0",
                "lstm.bias_hh_l0",
                "lstm.bias_ih_l1",
                "lstm.bias_hh_l1",
                "decoder.bias"
            ]
        );
        assert_eq!(lm.prunable()[0].role, Role::Embedding);
        let vars = vs.variables();
        for name in names(lm.prunable()) {
            assert!(vars.contains_key(&name), "{name}");
        }
        let tied_vs = nn::VarStore::new(Device::Cpu);
        let tied = LstmLm::new(&tied_vs.root(), LstmLmConfig { tie_weights: true, ..config }).unwrap();
        assert!(!names(tied.prunable()).contains(&"decoder.weight".to_string()));
        let (logits, (h, c)) = tied.forward(&Tensor::from_slice(&[1i64, 2, 3, 4]).view([2, 2]), &tied.zero_state(2, Device::Cpu), true);
        assert_eq!((logits.size(), h.size(), c.size()), (vec![2, 2, 11], vec![2, 2, 6], vec![2, 2, 6]));
        assert!(LstmLm::new(&nn::VarStore::new(Device::Cpu).root(), LstmLmConfig { tie_weights: true, hidden: 7, ..config }).is_err());
    }
}
