"""The PyTorch eager peer of the `masked_step` bench: one training step (forward, cross-entropy,
backward, torch.optim.Adam) of LeNet-300-100 (batch 60 of 28x28) or Conv-6 (batch 60 of 3x32x32),
dense or masked the way OpenLTH masks: every masked weight is multiplied by its mask before each
forward (OpenLTH's PrunedModel), gradients and optimizer state left as they are."""

import torch
from torch import nn
import torch.nn.functional as F

from peer import arguments, serve


def lenet():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))


def conv6():
    layers, channels = [], 3
    for width in (64, 128, 256):
        for _ in range(2):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
        layers.append(nn.MaxPool2d(2))
    layers += [nn.Flatten(), nn.Linear(256 * 4 * 4, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)]
    return nn.Sequential(*layers)


def main():
    args = arguments(__doc__, lambda p: (p.add_argument("model", choices=["lenet", "conv6"]), p.add_argument("--density", type=float)))
    model = (lenet() if args.model == "lenet" else conv6()).to(args.device)
    shape = [60, 1, 28, 28] if args.model == "lenet" else [60, 3, 32, 32]
    optimizer = torch.optim.Adam(model.parameters(), lr=1.2e-3 if args.model == "lenet" else 3e-4)
    masks = []
    if args.density is not None:
        masks = [(m.weight, (torch.rand_like(m.weight) < args.density).float()) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    x = torch.randn(shape, device=args.device)
    y = torch.randint(10, [60], device=args.device)

    def step():
        with torch.no_grad():
            for weight, mask in masks:
                weight.mul_(mask)
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    serve(step, device=args.device)


main()
