"""What the PyTorch peers share: their arguments, the thread count, and the loop the Rust bench
drives. A peer prints `ready` once it is set up and warmed up, then answers each line `N` on
standard input with the seconds `N` of its steps took (see benches/common/mod.rs)."""

import argparse
import sys
import time
import warnings

# PyTorch's notes about its fast paths (nested tensors, mask types) are not the bench's output.
warnings.filterwarnings("ignore", category=UserWarning)


def arguments(description, add):
    """Parses `--threads`, `--device` and what `add(parser)` adds; sets torch's thread count."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    add(parser)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    return args


def serve(step, warmup=3, device="cpu"):
    """Runs `step()` `warmup` times, then blocks of steps on request until stdin closes; a block
    on a GPU ends when the device has finished its work."""
    import torch

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(warmup):
        step()
    sync()
    print("ready", flush=True)
    for line in sys.stdin:
        n = int(line)
        start = time.perf_counter()
        for _ in range(n):
            step()
        sync()
        print(time.perf_counter() - start, flush=True)
