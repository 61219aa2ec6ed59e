#!/usr/bin/env bash
# Installs the full PyTorch wheel (torch 2.13.0, the version whose libtorch the harness links, with
# all of its dependencies) into a cache outside the checkout, and prints the folder to put on
# PYTHONPATH. Only `./lottery bench` uses it: the benchmarks time PyTorch eager as the peer a user
# would otherwise pick. Tests never need it.
#
# It is a few GB (cuDNN, cuBLAS, NCCL come with the wheel: torch's Python module links them even
# on a CPU), installed once. The cache (LOTTERY_CACHE, default ~/.cache/lottery) is filled in a
# temporary folder and renamed into place, so an interrupted install is never mistaken for a
# good one.
set -euo pipefail

TORCH_VERSION=2.13.0
cache="${LOTTERY_CACHE:-$HOME/.cache/lottery}"
dest="$cache/torch-peer-$TORCH_VERSION"
if [ -f "$dest/.complete" ]; then
  echo "$dest"
  exit 0
fi

python=$(command -v python3 || true)
if [ -z "$python" ]; then
  echo "error: python3 with pip is needed to install the PyTorch peer; install python3 and python3-pip" >&2
  exit 1
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.torch-peer-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "installing the PyTorch peer (torch==$TORCH_VERSION with its dependencies, a few GB, once) into $dest" >&2
"$python" -m pip install --quiet --no-compile --disable-pip-version-check \
  --target "$tmp/site" "torch==$TORCH_VERSION" numpy >&2
PYTHONPATH="$tmp/site" "$python" -c "import torch; assert torch.__version__.startswith('$TORCH_VERSION'), torch.__version__" \
  || { echo "error: the installed torch does not import (see above)" >&2; exit 1; }
touch "$tmp/site/.complete"
rm -rf "$dest"
mv "$tmp/site" "$dest"
echo "$dest"
