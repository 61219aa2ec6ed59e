#!/usr/bin/env bash
# Installs libtorch 2.13.0 (the version tch 0.26 binds) from the PyPI torch wheel into a cache
# outside the checkout, and prints the folder to use as LIBTORCH.
#
#   scripts/libtorch.sh          CPU: the torch wheel with --no-deps plus the two small CUDA runtime
#                                wheels libtorch_cpu needs at load time (libcudart, libcupti)
#   scripts/libtorch.sh --cuda   GPU: the wheel with its whole dependency set (cuBLAS, cuDNN, ...)
#   scripts/libtorch.sh --link-only VERSION
#                                the headers and libraries of the CUDA wheel of torch VERSION alone,
#                                to build against a GPU machine's own PyTorch, whose CUDA libraries
#                                are there (scripts/gpu-bundle.sh)
#
# The cache (LOTTERY_CACHE, default ~/.cache/lottery) is keyed by version and variant, filled in a
# temporary folder and renamed into place, so an interrupted install is never mistaken for a good one.
set -euo pipefail

TORCH_VERSION=2.13.0
CUDA_RUNTIME='nvidia-cuda-runtime==13.0.96.*'
CUDA_CUPTI='nvidia-cuda-cupti==13.0.85.*'

variant=cpu
case "${1:-}" in
  "") ;;
  --cuda) variant=cuda ;;
  --link-only) variant=link-only; TORCH_VERSION="${2:?usage: $0 --link-only VERSION}" ;;
  *) echo "usage: $0 [--cuda | --link-only VERSION]" >&2; exit 2 ;;
esac

cache="${LOTTERY_CACHE:-$HOME/.cache/lottery}"
dest="$cache/libtorch-$TORCH_VERSION-$variant"
if [ -f "$dest/.complete" ]; then
  echo "$dest/torch"
  exit 0
fi

python=$(command -v python3 || command -v python || true)
if [ -z "$python" ]; then
  echo "error: python3 with pip is needed to fetch libtorch from PyPI; install python3 and python3-pip" >&2
  exit 1
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.libtorch-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "installing libtorch $TORCH_VERSION ($variant) into $dest" >&2
if [ "$variant" = cpu ]; then
  "$python" -m pip install --quiet --no-deps --no-compile --disable-pip-version-check \
    --target "$tmp/site" "torch==$TORCH_VERSION" "$CUDA_RUNTIME" "$CUDA_CUPTI" >&2
  # The CUDA half of the wheel cannot load without the dependencies left out above; removing it
  # keeps torch-sys from linking libtorch_cuda into a binary that could then never start.
  rm -f "$tmp"/site/torch/lib/libtorch_cuda*.so "$tmp"/site/torch/lib/libc10_cuda.so \
    "$tmp"/site/torch/lib/libcaffe2_nvrtc.so "$tmp"/site/torch/lib/libtorch_nvshmem.so \
    "$tmp"/site/torch/lib/libtorch_python.so
elif [ "$variant" = link-only ]; then
  "$python" -m pip download --quiet --no-deps --only-binary=:all: --disable-pip-version-check \
    --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
    -d "$tmp/wheel" "torch==$TORCH_VERSION" >&2
  "$python" - "$tmp"/wheel/torch-*.whl "$tmp/site" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    wheel.extractall(sys.argv[2], [n for n in wheel.namelist() if n.startswith(("torch/lib/", "torch/include/"))])
PY
  test -f "$tmp/site/torch/lib/libtorch_cuda.so" || { echo "error: the torch $TORCH_VERSION wheel has no libtorch_cuda.so: not a CUDA build" >&2; exit 1; }
else
  "$python" -m pip install --quiet --no-compile --disable-pip-version-check \
    --target "$tmp/site" "torch==$TORCH_VERSION" >&2
fi
test -f "$tmp/site/torch/lib/libtorch_cpu.so" || { echo "error: the torch wheel has no lib/libtorch_cpu.so" >&2; exit 1; }
echo "$TORCH_VERSION" > "$tmp/site/torch/build-version"
touch "$tmp/site/.complete"
rm -rf "$dest"
mv "$tmp/site" "$dest"
echo "$dest/torch"
