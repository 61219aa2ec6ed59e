"""The PyTorch eager peer of the `translate_tokens` bench: nn.Transformer at the translation quick
preset's shape (d_model 128, 4 heads, 2 + 2 layers, FFN 512, vocabulary 6,000, dropout 0.1, layer
norm before each sublayer, batch first) or Transformer base (`--shape base`: d_model 512, 8 heads,
6 + 6 layers, FFN 2048, vocabulary 32,000, layer norm after each sublayer) with one embedding table shared by source, target and the output
projection (scaled by sqrt(d_model), sinusoidal positions), trained as the harness trains it:
label-smoothed (0.1) cross-entropy, Adam betas (0.9, 0.98) eps 1e-9 lr 1e-3, causal and padding
masks, a fixed random batch of 200 sentences of 15 tokens. A step is one update (3,000 target
tokens)."""

import math

import torch
from torch import nn
import torch.nn.functional as F

from peer import arguments, serve

BATCH, LENGTH, PAD = 200, 15, 0
# vocabulary, d_model, heads, layers (each side), FFN, layer norm first
SHAPES = {"quick": (6_000, 128, 4, 2, 512, True), "base": (32_000, 512, 8, 6, 2048, False)}


class Translator(nn.Module):
    def __init__(self, vocab, d, heads, layers, ffn, norm_first):
        super().__init__()
        self.d = d
        self.embedding = nn.Embedding(vocab, d)
        nn.init.normal_(self.embedding.weight, std=d**-0.5)
        self.transformer = nn.Transformer(d, heads, layers, layers, ffn, 0.1, batch_first=True, norm_first=norm_first)
        position = torch.arange(1024).unsqueeze(1)
        scale = torch.exp(torch.arange(0, d, 2) * (-math.log(10_000.0) / d))
        self.register_buffer("positions", torch.cat([torch.sin(position * scale), torch.cos(position * scale)], 1))

    def embed(self, ids):
        return self.embedding(ids) * math.sqrt(self.d) + self.positions[: ids.size(1)]

    def forward(self, source, target_in):
        causal = torch.ones(target_in.size(1), target_in.size(1), dtype=torch.bool, device=source.device).triu(1)
        out = self.transformer(
            self.embed(source), self.embed(target_in), tgt_mask=causal, src_key_padding_mask=source.eq(PAD), tgt_key_padding_mask=target_in.eq(PAD), memory_key_padding_mask=source.eq(PAD), tgt_is_causal=True
        )
        return out @ self.embedding.weight.t()


def main():
    args = arguments(__doc__, lambda p: p.add_argument("--shape", choices=sorted(SHAPES), default="quick"))
    vocab = SHAPES[args.shape][0]
    model = Translator(*SHAPES[args.shape]).to(args.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.98), eps=1e-9)
    source = torch.randint(3, vocab, [BATCH, LENGTH], device=args.device)
    target = torch.randint(3, vocab, [BATCH, LENGTH + 1], device=args.device)
    target_in, target_out = target[:, :-1], target[:, 1:]

    def step():
        logits = model(source, target_in)
        loss = F.cross_entropy(logits.reshape(-1, vocab), target_out.reshape(-1), ignore_index=PAD, label_smoothing=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    serve(step, warmup=1, device=args.device)


main()
