"""The PyTorch eager peer of the `lm_tokens` bench: PyTorch's word_language_model example
(embedding, dropout 0.5, 2-layer nn.LSTM with dropout 0.5 between layers, dropout, linear decoder
to a 10,000-word vocabulary, untied), trained the way the harness's LSTM task trains it: Adam
lr 1e-3 eps 1e-3, gradient norm clipped at 0.25, truncated BPTT with the state carried (detached)
between updates, on a fixed random batch of `--batch` x `--bptt` tokens. A step is one update."""

import torch
from torch import nn
import torch.nn.functional as F

from peer import arguments, serve

VOCAB = 10_000


class WordLm(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.drop = nn.Dropout(0.5)
        self.embedding = nn.Embedding(VOCAB, size)
        self.lstm = nn.LSTM(size, size, 2, dropout=0.5)
        self.decoder = nn.Linear(size, VOCAB)

    def forward(self, x, state):
        out, state = self.lstm(self.drop(self.embedding(x)), state)
        return self.decoder(self.drop(out)), state


def main():
    args = arguments(__doc__, lambda p: (p.add_argument("--size", type=int, required=True), p.add_argument("--batch", type=int, required=True), p.add_argument("--bptt", type=int, required=True)))
    model = WordLm(args.size).to(args.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-3)
    data = torch.randint(VOCAB, [args.bptt + 1, args.batch], device=args.device)
    zeros = torch.zeros(2, args.batch, args.size, device=args.device)
    state = {"h": (zeros, zeros.clone())}

    def step():
        logits, (h, c) = model(data[:-1], state["h"])
        state["h"] = (h.detach(), c.detach())
        loss = F.cross_entropy(logits.view(-1, VOCAB), data[1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        optimizer.step()

    serve(step, warmup=1, device=args.device)


main()
