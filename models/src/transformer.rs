//! An encoder-decoder Transformer for translation (Vaswani et al. 2017), with greedy and beam
//! decoding. Attention runs through libtorch's fused `scaled_dot_product_attention` (flash or
//! memory-efficient kernels on CUDA) on the model's own projection matrices, so pruning masks
//! apply to exactly the weights the kernels read.
//!
//! Inputs are batch-first `[batch, time]` ids with a padding id; sequences start with `<s>` on the
//! target side and end with `</s>`.

use tch::{nn, Device, Kind, Tensor};

use crate::{Prunable, Role};

/// Shape and regularization of a [`Transformer`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransformerConfig {
    /// Joint source/target vocabulary.
    pub vocab: i64,
    pub d_model: i64,
    pub ffn: i64,
    pub heads: i64,
    pub encoder_layers: i64,
    pub decoder_layers: i64,
    pub dropout: f64,
    /// One matrix for source embeddings, target embeddings and the output projection.
    pub share_embeddings: bool,
    /// Layer norm before each sublayer (stable for short training) instead of after (the paper's).
    pub pre_norm: bool,
    pub max_len: i64,
}

impl TransformerConfig {
    /// Transformer base: 6+6 layers, d_model 512, FFN 2048, 8 heads.
    pub fn base(vocab: i64) -> Self {
        TransformerConfig { vocab, d_model: 512, ffn: 2048, heads: 8, encoder_layers: 6, decoder_layers: 6, dropout: 0.1, share_embeddings: true, pre_norm: false, max_len: 1024 }
    }

    /// Transformer big: d_model 1024, FFN 4096, 16 heads, dropout 0.3.
    pub fn big(vocab: i64) -> Self {
        TransformerConfig { d_model: 1024, ffn: 4096, heads: 16, dropout: 0.3, ..Self::base(vocab) }
    }
}

struct Linear {
    weight: Tensor,
    bias: Tensor,
    name: String,
}

impl Linear {
    fn new(path: &nn::Path, name: &str, inputs: i64, outputs: i64) -> Self {
        let p = path / name;
        // Xavier-uniform weights and zero biases, as fairseq and the tensor2tensor reference do.
        let bound = (6.0 / (inputs + outputs) as f64).sqrt();
        let weight = p.var("weight", &[outputs, inputs], nn::Init::Uniform { lo: -bound, up: bound });
        let bias = p.var("bias", &[outputs], nn::Init::Const(0.0));
        Linear { weight, bias, name: format!("{}.weight", full_name(&p)) }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, Some(&self.bias))
    }
}

fn full_name(path: &nn::Path) -> String {
    path.components().collect::<Vec<_>>().join(".")
}

struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
}

impl LayerNorm {
    fn new(path: &nn::Path, name: &str, d: i64) -> Self {
        let p = path / name;
        LayerNorm { weight: p.var("weight", &[d], nn::Init::Const(1.0)), bias: p.var("bias", &[d], nn::Init::Const(0.0)) }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        x.layer_norm([*x.size().last().expect("non-empty")], Some(&self.weight), Some(&self.bias), 1e-5, true)
    }
}

struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: i64,
}

impl Attention {
    fn new(path: &nn::Path, name: &str, d: i64, heads: i64) -> Self {
        let p = path / name;
        Attention { q: Linear::new(&p, "q", d, d), k: Linear::new(&p, "k", d, d), v: Linear::new(&p, "v", d, d), out: Linear::new(&p, "out", d, d), heads }
    }

    /// `[batch, time, d_model]` -> `[batch, heads, time, d_head]`.
    fn split_heads(&self, x: Tensor) -> Tensor {
        let (b, t, d) = x.size3().expect("[batch, time, d_model]");
        x.view([b, t, self.heads, d / self.heads]).transpose(1, 2)
    }

    /// Keys and values of `memory`, split into heads.
    fn keys_values(&self, memory: &Tensor) -> (Tensor, Tensor) {
        (self.split_heads(self.k.forward(memory)), self.split_heads(self.v.forward(memory)))
    }

    /// Attention of `query` over precomputed keys and values. `mask`: boolean, broadcastable to
    /// `[batch, heads, queries, keys]`, true where attention is allowed; `None` allows all.
    fn attend(&self, query: &Tensor, (k, v): (&Tensor, &Tensor), mask: Option<&Tensor>, dropout: f64, train: bool) -> Tensor {
        let q = self.split_heads(self.q.forward(query));
        let p = if train { dropout } else { 0.0 };
        let attended = Tensor::scaled_dot_product_attention(&q, k, v, mask, p, false, None, false);
        let (b, h, t, dh) = attended.size4().expect("[batch, heads, time, d_head]");
        self.out.forward(&attended.transpose(1, 2).contiguous().view([b, t, h * dh]))
    }

    fn forward(&self, query: &Tensor, memory: &Tensor, mask: &Tensor, dropout: f64, train: bool) -> Tensor {
        let (k, v) = self.keys_values(memory);
        self.attend(query, (&k, &v), Some(mask), dropout, train)
    }

    fn matrices(&self) -> [&str; 4] {
        [&self.q.name, &self.k.name, &self.v.name, &self.out.name]
    }
}

struct FeedForward {
    w1: Linear,
    w2: Linear,
}

struct EncoderLayer {
    attn: Attention,
    ffn: FeedForward,
    norms: [LayerNorm; 2],
}

struct DecoderLayer {
    self_attn: Attention,
    cross_attn: Attention,
    ffn: FeedForward,
    norms: [LayerNorm; 3],
}

/// The encoder-decoder.
pub struct Transformer {
    config: TransformerConfig,
    src_embedding: Tensor,
    tgt_embedding: Option<Tensor>,
    output: Option<Tensor>,
    encoder: Vec<EncoderLayer>,
    decoder: Vec<DecoderLayer>,
    final_norms: Option<[LayerNorm; 2]>,
    positions: Tensor,
    prefix: String,
}

fn sinusoids(max_len: i64, d: i64) -> Tensor {
    let pos = Tensor::arange(max_len, (Kind::Float, Device::Cpu)).unsqueeze(1);
    let i = Tensor::arange_start_step(0, d, 2, (Kind::Float, Device::Cpu));
    let angle = pos * (i * (-(10_000f64.ln()) / d as f64)).exp().unsqueeze(0);
    Tensor::stack(&[angle.sin(), angle.cos()], 2).view([max_len, d])
}

impl Transformer {
    pub fn new(path: &nn::Path, config: TransformerConfig) -> Result<Self, String> {
        let c = config;
        if c.d_model % c.heads != 0 || c.d_model % 2 != 0 {
            return Err(format!("d_model {} must be even and divisible by the {} heads", c.d_model, c.heads));
        }
        if c.encoder_layers < 1 || c.decoder_layers < 1 || c.vocab < 5 {
            return Err(format!("a Transformer needs layers on both sides and a vocabulary, got {c:?}"));
        }
        let emb_init = nn::Init::Randn { mean: 0.0, stdev: (c.d_model as f64).powf(-0.5) };
        let (src_embedding, tgt_embedding, output) = if c.share_embeddings {
            ((path / "embedding").var("weight", &[c.vocab, c.d_model], emb_init), None, None)
        } else {
            (
                (path / "src_embedding").var("weight", &[c.vocab, c.d_model], emb_init),
                Some((path / "tgt_embedding").var("weight", &[c.vocab, c.d_model], emb_init)),
                Some((path / "output").var("weight", &[c.vocab, c.d_model], emb_init)),
            )
        };
        let ffn = |p: &nn::Path| FeedForward { w1: Linear::new(p, "ffn1", c.d_model, c.ffn), w2: Linear::new(p, "ffn2", c.ffn, c.d_model) };
        let encoder = (0..c.encoder_layers)
            .map(|i| {
                let p = path / "encoder" / i;
                EncoderLayer { attn: Attention::new(&p, "self_attn", c.d_model, c.heads), ffn: ffn(&p), norms: [LayerNorm::new(&p, "norm1", c.d_model), LayerNorm::new(&p, "norm2", c.d_model)] }
            })
            .collect();
        let decoder = (0..c.decoder_layers)
            .map(|i| {
                let p = path / "decoder" / i;
                DecoderLayer {
                    self_attn: Attention::new(&p, "self_attn", c.d_model, c.heads),
                    cross_attn: Attention::new(&p, "cross_attn", c.d_model, c.heads),
                    ffn: ffn(&p),
                    norms: [LayerNorm::new(&p, "norm1", c.d_model), LayerNorm::new(&p, "norm2", c.d_model), LayerNorm::new(&p, "norm3", c.d_model)],
                }
            })
            .collect();
        let final_norms = c.pre_norm.then(|| [LayerNorm::new(&(path / "encoder"), "norm", c.d_model), LayerNorm::new(&(path / "decoder"), "norm", c.d_model)]);
        let prefix = path.components().map(|s| format!("{s}.")).collect();
        Ok(Transformer { config, src_embedding, tgt_embedding, output, encoder, decoder, final_norms, positions: sinusoids(c.max_len, c.d_model).to_device(path.device()), prefix })
    }

    pub fn config(&self) -> TransformerConfig {
        self.config
    }

    /// Attention and feed-forward matrices (role `Hidden`), then the embeddings and an untied
    /// output projection (role `Embedding`: the paper's two Transformer-base variants prune
    /// them together or not at all), then the biases of the attention and feed-forward layers
    /// (role `Bias`; layer norms' gains and shifts are not connections and stay out).
    pub fn prunable(&self) -> Vec<Prunable> {
        let mut names: Vec<Prunable> = vec![];
        let hidden = |n: &str| Prunable { name: n.to_string(), role: Role::Hidden };
        for layer in &self.encoder {
            names.extend(layer.attn.matrices().map(hidden));
            names.extend([&layer.ffn.w1.name, &layer.ffn.w2.name].map(|n| hidden(n)));
        }
        for layer in &self.decoder {
            names.extend(layer.self_attn.matrices().map(hidden));
            names.extend(layer.cross_attn.matrices().map(hidden));
            names.extend([&layer.ffn.w1.name, &layer.ffn.w2.name].map(|n| hidden(n)));
        }
        let embedding = |n: &str| Prunable { name: format!("{}{n}", self.prefix), role: Role::Embedding };
        if self.config.share_embeddings {
            names.push(embedding("embedding.weight"));
        } else {
            names.extend([embedding("src_embedding.weight"), embedding("tgt_embedding.weight"), embedding("output.weight")]);
        }
        let biases: Vec<Prunable> =
            names.iter().filter(|p| p.role == Role::Hidden).map(|p| Prunable { name: crate::bias_of(&p.name), role: Role::Bias }).collect();
        names.extend(biases);
        names
    }

    /// Every variable of the model, in construction order (the same order for every model of
    /// one configuration).
    pub fn variables(&self) -> Vec<&Tensor> {
        fn linear(l: &Linear) -> [&Tensor; 2] {
            [&l.weight, &l.bias]
        }
        fn attention(a: &Attention) -> Vec<&Tensor> {
            [linear(&a.q), linear(&a.k), linear(&a.v), linear(&a.out)].concat()
        }
        fn norm(n: &LayerNorm) -> [&Tensor; 2] {
            [&n.weight, &n.bias]
        }
        let mut vars: Vec<&Tensor> = [Some(&self.src_embedding), self.tgt_embedding.as_ref(), self.output.as_ref()].into_iter().flatten().collect();
        for layer in &self.encoder {
            vars.extend(attention(&layer.attn));
            vars.extend([linear(&layer.ffn.w1), linear(&layer.ffn.w2)].concat());
            vars.extend(layer.norms.iter().flat_map(norm));
        }
        for layer in &self.decoder {
            vars.extend([attention(&layer.self_attn), attention(&layer.cross_attn)].concat());
            vars.extend([linear(&layer.ffn.w1), linear(&layer.ffn.w2)].concat());
            vars.extend(layer.norms.iter().flat_map(norm));
        }
        vars.extend(self.final_norms.iter().flatten().flat_map(norm));
        vars
    }

    fn embed(&self, table: &Tensor, ids: &Tensor, train: bool) -> Tensor {
        let t = ids.size()[1];
        let x = Tensor::embedding(table, ids, -1, false, false) * (self.config.d_model as f64).sqrt() + self.positions.narrow(0, 0, t);
        x.dropout(self.config.dropout, train)
    }

    fn sublayer(&self, x: &Tensor, norm: &LayerNorm, train: bool, f: impl FnOnce(&Tensor) -> Tensor) -> Tensor {
        if self.config.pre_norm {
            x + f(&norm.forward(x)).dropout(self.config.dropout, train)
        } else {
            norm.forward(&(x + f(x).dropout(self.config.dropout, train)))
        }
    }

    fn ffn(&self, ffn: &FeedForward, x: &Tensor, train: bool) -> Tensor {
        ffn.w2.forward(&ffn.w1.forward(x).relu().dropout(self.config.dropout, train))
    }

    /// Encoder states `[batch, source, d_model]` and the source mask `[batch, 1, 1, source]`.
    pub fn encode(&self, source: &Tensor, pad: i64, train: bool) -> (Tensor, Tensor) {
        let mask = source.ne(pad).unsqueeze(1).unsqueeze(1);
        let d = self.config.dropout;
        let mut x = self.embed(&self.src_embedding, source, train);
        for layer in &self.encoder {
            x = self.sublayer(&x, &layer.norms[0], train, |h| layer.attn.forward(h, h, &mask, d, train));
            x = self.sublayer(&x, &layer.norms[1], train, |h| self.ffn(&layer.ffn, h, train));
        }
        if let Some(norms) = &self.final_norms {
            x = norms[0].forward(&x);
        }
        (x, mask)
    }

    /// Logits `[batch, target, vocab]` for each position of `target_in` (teacher forcing).
    pub fn decode(&self, memory: &Tensor, source_mask: &Tensor, target_in: &Tensor, pad: i64, train: bool) -> Tensor {
        let t = target_in.size()[1];
        let causal = Tensor::ones([t, t], (Kind::Bool, target_in.device())).tril(0);
        let mask = causal.unsqueeze(0).unsqueeze(0).logical_and(&target_in.ne(pad).unsqueeze(1).unsqueeze(1));
        let d = self.config.dropout;
        let table = self.tgt_embedding.as_ref().unwrap_or(&self.src_embedding);
        let mut x = self.embed(table, target_in, train);
        for layer in &self.decoder {
            x = self.sublayer(&x, &layer.norms[0], train, |h| layer.self_attn.forward(h, h, &mask, d, train));
            x = self.sublayer(&x, &layer.norms[1], train, |h| layer.cross_attn.forward(h, memory, source_mask, d, train));
            x = self.sublayer(&x, &layer.norms[2], train, |h| self.ffn(&layer.ffn, h, train));
        }
        if let Some(norms) = &self.final_norms {
            x = norms[1].forward(&x);
        }
        x.linear::<Tensor>(self.output.as_ref().unwrap_or(table), None)
    }

    /// Starts incremental decoding over encoder output `memory` (`[rows, source, d_model]`) with
    /// its source mask: computes every decoder layer's cross-attention keys and values once.
    pub fn start_decoding(&self, memory: &Tensor, source_mask: &Tensor) -> DecoderCache {
        DecoderCache {
            cross: self.decoder.iter().map(|layer| layer.cross_attn.keys_values(memory)).collect(),
            past: self.decoder.iter().map(|_| None).collect(),
            source_mask: source_mask.shallow_clone(),
            len: 0,
        }
    }

    /// Logits `[rows, vocab]` for the next token after feeding `tokens` (`[rows]`, one per row)
    /// at the cache's next position. Equal to [`Transformer::decode`]'s last position over the
    /// whole prefix, at the cost of one position: self-attention keys and values of earlier
    /// positions come from the cache, which this call extends.
    pub fn decode_step(&self, cache: &mut DecoderCache, tokens: &Tensor) -> Tensor {
        let table = self.tgt_embedding.as_ref().unwrap_or(&self.src_embedding);
        let ids = tokens.view([-1, 1]);
        let mut x = Tensor::embedding(table, &ids, -1, false, false) * (self.config.d_model as f64).sqrt() + self.positions.narrow(0, cache.len, 1);
        for (i, layer) in self.decoder.iter().enumerate() {
            let past = &mut cache.past[i];
            x = self.sublayer(&x, &layer.norms[0], false, |h| {
                let (k, v) = layer.self_attn.keys_values(h);
                let (k, v) = match past.take() {
                    Some((pk, pv)) => (Tensor::cat(&[pk, k], 2), Tensor::cat(&[pv, v], 2)),
                    None => (k, v),
                };
                let out = layer.self_attn.attend(h, (&k, &v), None, 0.0, false);
                *past = Some((k, v));
                out
            });
            let (ck, cv) = &cache.cross[i];
            x = self.sublayer(&x, &layer.norms[1], false, |h| layer.cross_attn.attend(h, (ck, cv), Some(&cache.source_mask), 0.0, false));
            x = self.sublayer(&x, &layer.norms[2], false, |h| self.ffn(&layer.ffn, h, false));
        }
        if let Some(norms) = &self.final_norms {
            x = norms[1].forward(&x);
        }
        cache.len += 1;
        x.squeeze_dim(1).linear::<Tensor>(self.output.as_ref().unwrap_or(table), None)
    }

    /// Greedy decoding of a batch: ids after `<s>` up to (not including) `</s>`, at most
    /// `max_len` tokens each.
    pub fn greedy(&self, source: &Tensor, special: Specials, max_len: i64) -> Vec<Vec<i64>> {
        self.beam(source, special, max_len, 1, 0.0)
    }

    /// Beam search over a batch: `beam` hypotheses per sentence, finished ones scored by
    /// log-probability / ((5 + length) / 6)^alpha (Wu et al. 2016's length penalty). Returns the
    /// best hypothesis of each sentence, without `<s>` and `</s>`.
    pub fn beam(&self, source: &Tensor, special: Specials, max_len: i64, beam: i64, alpha: f64) -> Vec<Vec<i64>> {
        let (memory, mask) = tch::no_grad(|| self.encode(source, special.pad, false));
        self.beam_encoded(&memory, &mask, special, max_len, beam, alpha)
    }

    /// [`Transformer::beam`] from the encoder's output ([`Transformer::encode`]). Decodes
    /// incrementally ([`Transformer::decode_step`]); candidates are ranked on the device, and
    /// only the best `2 * beam` per sentence (enough to keep `beam` alive after at most `beam`
    /// of them end) come back to the host. A sentence leaves the batch as soon as no live beam
    /// can beat its best finished hypothesis, so one long sentence does not hold up the others.
    pub fn beam_encoded(&self, memory: &Tensor, mask: &Tensor, special: Specials, max_len: i64, beam: i64, alpha: f64) -> Vec<Vec<i64>> {
        tch::no_grad(|| {
            let batch = memory.size()[0] as usize;
            let device = memory.device();
            let vocab = self.config.vocab;
            let k = beam as usize;
            let penalty = |len: usize| ((5.0 + len as f64 + 1.0) / 6.0).powf(alpha);
            // Every sentence's memory repeated for each of its beams: row = slot * beam + j, where
            // slot is the sentence's place among those still decoding (`active`).
            let memory = memory.repeat_interleave_self_int(beam, Some(0), None);
            let mask = mask.repeat_interleave_self_int(beam, Some(0), None);
            let mut cache = self.start_decoding(&memory, &mask);
            let mut active: Vec<usize> = (0..batch).collect();
            let mut tokens: Vec<i64> = vec![special.bos; batch * k];
            let mut seqs: Vec<Vec<i64>> = vec![vec![]; batch * k];
            // Only the first beam of each sentence is live at the start, so beams differ.
            let mut scores: Vec<f32> = (0..batch * k).map(|r| if r % k == 0 { 0.0 } else { f32::NEG_INFINITY }).collect();
            let mut finished: Vec<Option<(f64, Vec<i64>)>> = vec![None; batch];
            let banned = Tensor::from_slice(&[special.pad, special.bos]).to_device(device);
            let wanted = (2 * beam).min(beam * vocab) as usize;
            for step in 0..max_len {
                let input = Tensor::from_slice(&tokens).to_device(device);
                let mut logp = self.decode_step(&mut cache, &input).log_softmax(-1, Kind::Float);
                let _ = logp.index_fill_(1, &banned, f64::NEG_INFINITY);
                let total = logp + Tensor::from_slice(&scores).to_device(device).unsqueeze(1);
                let (best, index) = total.view([active.len() as i64, beam * vocab]).topk(wanted as i64, -1, true, true);
                let best = Vec::<f32>::try_from(best.to_device(Device::Cpu).flatten(0, -1)).expect("f32 scores");
                let index = Vec::<i64>::try_from(index.to_device(Device::Cpu).flatten(0, -1)).expect("i64 indices");
                let (mut next_active, mut next_rows, mut next_tokens, mut next_seqs, mut next_scores) = (vec![], vec![], vec![], vec![], vec![]);
                for (slot, &s) in active.iter().enumerate() {
                    let (mut rows, mut toks, mut bodies, mut live) = (vec![], vec![], vec![], vec![]);
                    for c in slot * wanted..(slot + 1) * wanted {
                        let (score, flat) = (best[c], index[c]);
                        if live.len() == k || score == f32::NEG_INFINITY {
                            break;
                        }
                        let row = slot * k + (flat / vocab) as usize;
                        let tok = flat % vocab;
                        if tok == special.eos || step + 1 == max_len {
                            let mut out = seqs[row].clone();
                            if tok != special.eos {
                                out.push(tok);
                            }
                            let normalized = score as f64 / penalty(out.len());
                            if finished[s].as_ref().is_none_or(|(b, _)| normalized > *b) {
                                finished[s] = Some((normalized, out));
                            }
                            continue;
                        }
                        rows.push(row as i64);
                        toks.push(tok);
                        bodies.push(seqs[row].iter().copied().chain([tok]).collect::<Vec<i64>>());
                        live.push(score);
                    }
                    // Done when a finished hypothesis beats every live beam: live scores only
                    // fall, and the length penalty can at most divide by its final value.
                    let best_live = live.first().map_or(f64::NEG_INFINITY, |&b| b as f64);
                    let done = finished[s].as_ref().is_some_and(|(b, _)| best_live == f64::NEG_INFINITY || best_live / penalty(max_len as usize) <= *b);
                    if done {
                        continue;
                    }
                    next_active.push(s);
                    // Dead beams: any row of this sentence, never extended.
                    while live.len() < k {
                        rows.push((slot * k) as i64);
                        toks.push(special.pad);
                        bodies.push(vec![]);
                        live.push(f32::NEG_INFINITY);
                    }
                    (next_rows.extend(rows), next_tokens.extend(toks), next_seqs.extend(bodies), next_scores.extend(live));
                }
                if next_active.is_empty() {
                    break;
                }
                cache.reorder(&Tensor::from_slice(&next_rows).to_device(device), next_active.len() < active.len());
                (active, tokens, seqs, scores) = (next_active, next_tokens, next_seqs, next_scores);
            }
            finished.into_iter().map(|f| f.map(|(_, seq)| seq).unwrap_or_default()).collect()
        })
    }
}

/// What incremental decoding keeps between positions: each decoder layer's cross-attention keys
/// and values (fixed) and self-attention keys and values of the positions so far.
pub struct DecoderCache {
    cross: Vec<(Tensor, Tensor)>,
    past: Vec<Option<(Tensor, Tensor)>>,
    source_mask: Tensor,
    len: i64,
}

impl DecoderCache {
    /// Keeps rows `rows` (`[rows]` indices into the current rows), in that order: beam search
    /// continues each surviving hypothesis from its parent's state. The cross-attention side
    /// (memory keys and values, source mask) is only gathered when `memory_too`: reordering beams
    /// within a sentence leaves it unchanged, dropping sentences does not.
    pub fn reorder(&mut self, rows: &Tensor, memory_too: bool) {
        for (k, v) in self.past.iter_mut().flatten() {
            *k = k.index_select(0, rows);
            *v = v.index_select(0, rows);
        }
        if memory_too {
            for (k, v) in self.cross.iter_mut() {
                *k = k.index_select(0, rows);
                *v = v.index_select(0, rows);
            }
            self.source_mask = self.source_mask.index_select(0, rows);
        }
    }
}

/// The ids decoding needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Specials {
    pub pad: i64,
    pub bos: i64,
    pub eos: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECIALS: Specials = Specials { pad: 0, bos: 1, eos: 2 };

    fn small(vs: &nn::VarStore, share: bool) -> Transformer {
        let config = TransformerConfig { vocab: 12, d_model: 32, ffn: 64, heads: 4, encoder_layers: 2, decoder_layers: 2, dropout: 0.0, share_embeddings: share, pre_norm: true, max_len: 64 };
        Transformer::new(&vs.root(), config).unwrap()
    }

    #[test]
    fn base_and_big_have_the_papers_parameter_counts() {
        // Vaswani et al. report 65M and 213M with a shared 37k BPE vocabulary.
        for (config, millions) in [(TransformerConfig::base(37_000), 63.0..66.0), (TransformerConfig::big(37_000), 209.0..215.0)] {
            let vs = nn::VarStore::new(Device::Cpu);
            Transformer::new(&vs.root(), config).unwrap();
            let n: i64 = vs.variables().values().map(|t| t.numel() as i64).sum();
            assert!(millions.contains(&(n as f64 / 1e6)), "{config:?}: {n}");
        }
    }

    #[test]
    fn variables_are_exactly_the_var_stores() {
        for share in [true, false] {
            let vs = nn::VarStore::new(Device::Cpu);
            let t = small(&vs, share);
            let store = vs.variables();
            assert_eq!(t.variables().len(), store.len());
            let total: i64 = t.variables().iter().map(|v| v.numel() as i64).sum();
            assert_eq!(total, store.values().map(|v| v.numel() as i64).sum::<i64>());
            for v in store.values() {
                assert!(t.variables().iter().any(|o| o.data_ptr() == v.data_ptr()), "a var-store variable is missing");
            }
        }
    }

    #[test]
    fn prunable_names_are_variables_with_embeddings_by_role() {
        let vs = nn::VarStore::new(Device::Cpu);
        let t = small(&vs, false);
        let vars = vs.variables();
        let all = t.prunable();
        assert!(all.iter().all(|p| vars.contains_key(&p.name)), "{all:?}");
        let hidden: Vec<&Prunable> = all.iter().filter(|p| p.role == Role::Hidden).collect();
        assert_eq!(hidden.len(), 2 * 6 + 2 * 10);
        let embeddings: Vec<String> = all.iter().filter(|p| p.role == Role::Embedding).map(|p| p.name.clone()).collect();
        assert_eq!(embeddings, ["src_embedding.weight", "tgt_embedding.weight", "output.weight"]);
        let biases: Vec<&Prunable> = all.iter().filter(|p| p.role == Role::Bias).collect();
        assert_eq!(biases.len(), hidden.len(), "one bias per attention and feed-forward matrix");
        assert!(biases.iter().all(|b| b.name.ends_with(".bias") && vars[&b.name].size().len() == 1), "{biases:?}");
    }

    #[test]
    fn padding_and_future_tokens_do_not_change_the_logits() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let t = small(&vs, true);
        let src = Tensor::from_slice(&[5i64, 6, 7, 2]).view([1, 4]);
        let src_padded = Tensor::from_slice(&[5i64, 6, 7, 2, 0, 0]).view([1, 6]);
        let tgt = Tensor::from_slice(&[1i64, 8, 9]).view([1, 3]);
        let tgt_longer = Tensor::from_slice(&[1i64, 8, 9, 10, 11]).view([1, 5]);
        let (m, mask) = t.encode(&src, 0, false);
        let (mp, maskp) = t.encode(&src_padded, 0, false);
        let a = t.decode(&m, &mask, &tgt, 0, false);
        let b = t.decode(&mp, &maskp, &tgt_longer, 0, false).narrow(1, 0, 3);
        assert!(a.allclose(&b, 1e-5, 1e-5, false));
    }

    #[test]
    fn incremental_decoding_equals_full_decoding_and_follows_reordered_rows() {
        tch::manual_seed(3);
        for (share, pre_norm) in [(true, true), (false, false)] {
            let vs = nn::VarStore::new(Device::Cpu);
            let config = TransformerConfig { vocab: 12, d_model: 32, ffn: 64, heads: 4, encoder_layers: 2, decoder_layers: 2, dropout: 0.3, share_embeddings: share, pre_norm, max_len: 64 };
            let t = Transformer::new(&vs.root(), config).unwrap();
            let src = Tensor::from_slice(&[5i64, 6, 7, 2, 8, 9, 2, 0]).view([2, 4]);
            let tgt = Tensor::from_slice(&[1i64, 8, 9, 10, 1, 3, 4, 5]).view([2, 4]);
            let (m, mask) = t.encode(&src, 0, false);
            let full = t.decode(&m, &mask, &tgt, 0, false);
            let mut cache = t.start_decoding(&m, &mask);
            for pos in 0..4 {
                let step = t.decode_step(&mut cache, &tgt.select(1, pos));
                assert!(step.allclose(&full.select(1, pos), 1e-5, 1e-5, false), "share {share} pre_norm {pre_norm} position {pos}");
            }
            // Swapping two rows of the same memory swaps their continuations.
            let (m2, mask2) = t.encode(&src.narrow(0, 0, 1).repeat([2, 1]), 0, false);
            let prefixes = Tensor::from_slice(&[1i64, 8, 1, 3]).view([2, 2]);
            let mut cache = t.start_decoding(&m2, &mask2);
            for pos in 0..2 {
                let _ = t.decode_step(&mut cache, &prefixes.select(1, pos));
            }
            cache.reorder(&Tensor::from_slice(&[1i64, 0]), false);
            let next = t.decode_step(&mut cache, &Tensor::from_slice(&[4i64, 9]));
            let swapped = Tensor::from_slice(&[1i64, 3, 4, 1, 8, 9]).view([2, 3]);
            let expected = t.decode(&m2, &mask2, &swapped, 0, false).select(1, 2);
            assert!(next.allclose(&expected, 1e-5, 1e-5, false), "share {share} pre_norm {pre_norm}: reorder");
        }
    }

    #[test]
    fn beam_search_of_a_batch_equals_beam_search_of_each_sentence_alone() {
        const EOS_SCALE: f64 = -2.5;
        tch::manual_seed(4);
        let vs = nn::VarStore::new(Device::Cpu);
        let t = small(&vs, true);
        // Rescale `</s>`'s row of the shared output matrix so that, in this random model, some
        // sentences end early and others run to the limit (asserted below).
        tch::no_grad(|| {
            let _ = vs.variables()["embedding.weight"].get(2).g_mul_scalar_(EOS_SCALE);
        });
        let sentences: Vec<Vec<i64>> = vec![vec![5, 6, 7, 2], vec![8, 2], vec![3, 4, 9, 10, 11, 2], vec![6, 6, 2]];
        let width = 6;
        let flat: Vec<i64> = sentences.iter().flat_map(|s| s.iter().copied().chain(std::iter::repeat_n(0, width - s.len()))).collect();
        let batch = Tensor::from_slice(&flat).view([4, width as i64]);
        for beam in [1, 3] {
            let together = t.beam(&batch, SPECIALS, 8, beam, 0.6);
            let lengths: Vec<usize> = together.iter().map(Vec::len).collect();
            assert!(lengths.iter().any(|&l| l < 8) && lengths.contains(&8), "beam {beam}: lengths {lengths:?} do not mix ended and unfinished sentences");
            for (i, s) in sentences.iter().enumerate() {
                let alone = t.beam(&Tensor::from_slice(s).view([1, s.len() as i64]), SPECIALS, 8, beam, 0.6);
                assert_eq!(alone[0], together[i], "beam {beam}, sentence {i} (lengths {lengths:?})");
            }
        }
    }

    #[test]
    fn a_trained_copy_task_decodes_exactly_by_greedy_and_beam() {
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let t = small(&vs, true);
        let mut opt = nn::OptimizerConfig::build(nn::Adam::default(), &vs, 3e-3).unwrap();
        // Copy sequences of tokens 3..12 (batch of random lengths, padded).
        let sample = |n: i64| {
            let mut srcs = vec![];
            for i in 0..n {
                let len = 2 + (i * 7 % 5) as usize;
                let seq: Vec<i64> = (0..len).map(|j| 3 + ((i * 31 + j as i64 * 17) % 9)).collect();
                srcs.push(seq);
            }
            srcs
        };
        let pad_rows = |rows: Vec<Vec<i64>>| {
            let w = rows.iter().map(Vec::len).max().unwrap();
            let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied().chain(std::iter::repeat_n(0, w - r.len()))).collect();
            Tensor::from_slice(&flat).view([rows.len() as i64, w as i64])
        };
        let data = sample(64);
        let src = pad_rows(data.iter().map(|s| s.iter().copied().chain([2]).collect()).collect());
        let tin = pad_rows(data.iter().map(|s| [1].into_iter().chain(s.iter().copied()).collect()).collect());
        let tout = pad_rows(data.iter().map(|s| s.iter().copied().chain([2]).collect()).collect());
        for _ in 0..300 {
            let (m, mask) = t.encode(&src, 0, true);
            let logits = t.decode(&m, &mask, &tin, 0, true);
            let loss = logits.view([-1, 12]).cross_entropy_loss::<Tensor>(&tout.view([-1]), None, tch::Reduction::Mean, 0, 0.0);
            opt.backward_step(&loss);
        }
        let test: Vec<Vec<i64>> = data[..8].to_vec();
        let test_src = pad_rows(test.iter().map(|s| s.iter().copied().chain([2]).collect()).collect());
        assert_eq!(t.greedy(&test_src, SPECIALS, 10), test);
        assert_eq!(t.beam(&test_src, SPECIALS, 10, 4, 0.6), test);
    }
}
