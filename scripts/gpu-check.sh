#!/usr/bin/env bash
# The CUDA path, end to end, on a machine with an NVIDIA GPU:
#
#   1. builds the harness against the CUDA libtorch (LOTTERY_CUDA=1; its own target folder);
#   2. trains the same smoke ticket (synthetic/teacher-student) on the CPU and on CUDA and checks
#      that every number of the two comparison tables agrees within float tolerance;
#   3. runs the smoke suite with --device cuda (every task family whose data is built in or under
#      ../shared/data), checked against the committed CPU baseline;
#   4. runs the benches on CUDA against the PyTorch peer on the same GPU: LeNet-300-100 and
#      Conv-6 (masked_step), the LSTM at the paper's size (lm_tokens, 650 units), Transformer base
#      (translate_tokens).
#
#   scripts/gpu-check.sh [--out DIR] [--data-dir DIR] [--prebuilt BUNDLE] [--require-gpu]
#
# Logs and results go to DIR (default: a new temporary folder); summary.txt there holds the
# lines printed, written as each step ends. On a machine without an NVIDIA GPU it says so, checks
# what the CPU can (the harness builds, refuses --device cuda with a clear error, and two CPU runs
# of the smoke ticket pass the agreement check), and exits 0 — or 1 with --require-gpu.
# HARNESS=path/to/harness skips building for that CPU half.
#
# --prebuilt BUNDLE builds nothing: it runs the harness and benches that scripts/gpu-bundle.sh
# built elsewhere against the libtorch of this machine's PyTorch (for a GPU machine without Rust
# or network, such as the lent device), loading that libtorch from python3's torch, with the
# bundle's data and ROM, and python3 itself as the PyTorch peer. Each step is cut off after
# GPU_CHECK_STEP_SECONDS (default 300), so a short lease still returns a summary.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=""
data_dir="$root/../shared/data"
require_gpu=0
prebuilt=""
data_dir_given=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --data-dir) data_dir="$2"; data_dir_given=1; shift 2 ;;
    --prebuilt) prebuilt="$2"; shift 2 ;;
    --require-gpu) require_gpu=1; shift ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown argument \`$1\` (use --out DIR, --data-dir DIR, --prebuilt BUNDLE, --require-gpu)" >&2; exit 2 ;;
  esac
done
out=${out:-$(mktemp -d -t gpu-check.XXXXXX)}
mkdir -p "$out"
say() { echo "gpu-check: $*" | tee -a "$out/summary.txt"; }
step_seconds=${GPU_CHECK_STEP_SECONDS:-300}

if [ -n "$prebuilt" ]; then
  [ -d "$prebuilt" ] || { say "FAIL: --prebuilt $prebuilt is not a folder (make one with scripts/gpu-bundle.sh)"; exit 1; }
  prebuilt=$(cd "$prebuilt" && pwd)
  [ -x "$prebuilt/harness" ] && [ -f "$prebuilt/MANIFEST" ] || { say "FAIL: $prebuilt is not a bundle of scripts/gpu-bundle.sh (no harness or MANIFEST)"; exit 1; }
  bundle_torch=$(sed -n 's/^torch=//p' "$prebuilt/MANIFEST")
  # The bundle's binaries load the libtorch of this machine's PyTorch, which must be the version
  # they were compiled against (libtorch has no stable ABI across versions).
  if ! torch_here=$(python3 -c 'import os, torch; print(torch.__version__.split("+")[0], os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>"$out/python-torch.log"); then
    say "FAIL: python3 here has no torch (see $out/python-torch.log): a prebuilt bundle loads libtorch from this machine's PyTorch; run it where python3 has the torch it was built for, or without --prebuilt"; exit 1
  fi
  read -r torch_version torch_lib <<<"$torch_here"
  if [ "$torch_version" != "$bundle_torch" ]; then
    say "FAIL: the bundle was built against torch $bundle_torch, python3 here has $torch_version: rebuild it with scripts/gpu-bundle.sh --torch $torch_version"; exit 1
  fi
  export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export HARNESS="$prebuilt/harness"
  [ "$data_dir_given" = 1 ] || data_dir="$prebuilt/data"
  [ ! -d "$prebuilt/roms" ] || export ALE_ROM_DIR="$prebuilt/roms"
  say "prebuilt bundle $prebuilt ($(sed -n 's/^commit=//p' "$prebuilt/MANIFEST" | cut -c1-12), torch $bundle_torch), libtorch from $torch_lib"
fi

# Every number of two comparison tables (CSV) agrees: |a - b| <= 1e-3 * max(|a|, |b|) + 1e-5.
compare_tables() {
  python3 - "$1" "$2" <<'PY'
import csv, math, sys
a, b = (list(csv.DictReader(open(p))) for p in sys.argv[1:3])
if len(a) != len(b):
    sys.exit(f"the tables have {len(a)} and {len(b)} rows")
worst, where = 0.0, None
for ra, rb in zip(a, b):
    for key, va in ra.items():
        try:
            x, y = float(va), float(rb[key])
        except (TypeError, ValueError):
            continue
        if math.isnan(x) and math.isnan(y):
            continue
        excess = abs(x - y) - (1e-3 * max(abs(x), abs(y)) + 1e-5)
        if excess > worst:
            worst, where = excess, (ra.get("level"), ra.get("metric"), key, x, y)
if worst > 0:
    sys.exit(f"CPU and CUDA differ beyond tolerance at level {where[0]} {where[1]} {where[2]}: {where[3]} vs {where[4]}")
print("CPU and CUDA comparison tables agree within 1e-3 relative")
PY
}

smoke_ticket() { # HARNESS DEVICE OUT
  timeout "$step_seconds" "$1" run synthetic/teacher-student --preset smoke --prune 0.5 --device "$2" --out "$3" --quiet >>"$out/smoke-ticket-$2.log" 2>&1
  find "$3" -name comparison.csv | head -1
}

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  say "no NVIDIA GPU here (nvidia-smi finds none): the CUDA checks need one; checking the CPU half"
  harness=${HARNESS:-}
  if [ -z "$harness" ]; then
    "$root/lottery" harness --version >/dev/null
    harness="$("$root/lottery" env | sed -n 's/^CARGO_TARGET_DIR=//p')/release/harness"
  fi
  if "$harness" run synthetic/teacher-student --preset smoke --device cuda --out "$out/refused" >"$out/refused.log" 2>&1; then
    say "FAIL: --device cuda ran on a machine without CUDA"; exit 1
  fi
  grep -qi "cuda" "$out/refused.log" || { say "FAIL: the refusal of --device cuda does not name CUDA:"; cat "$out/refused.log" >&2; exit 1; }
  say "--device cuda is refused: $(head -1 "$out/refused.log")"
  # The agreement check itself, on what the CPU has: the same ticket twice (same seed, same numbers).
  first=$(smoke_ticket "$harness" cpu "$out/cpu")
  second=$(smoke_ticket "$harness" cpu "$out/cpu-again")
  [ -n "$first" ] && [ -n "$second" ] || { say "FAIL: a CPU smoke ticket wrote no comparison table (see $out/smoke-ticket-cpu.log)"; exit 1; }
  compare_tables "$first" "$second" >/dev/null || { say "FAIL: two CPU runs of the same smoke ticket differ"; exit 1; }
  say "two CPU runs of the smoke ticket agree ($first)"
  say "GPU checks not run (no GPU); results in $out"
  exit "$require_gpu"
fi

gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)
say "GPU: $gpu"
if [ -n "$prebuilt" ]; then
  harness="$prebuilt/harness"
  # The driver's libcuda, from wherever python3's torch loads it (a container may mount the
  # driver outside the loader's default paths and tell only Python where it is).
  libcuda=$(python3 -c 'import torch; torch.cuda.init(); print(next((l.split()[-1] for l in open("/proc/self/maps") if "/libcuda.so" in l), ""))' 2>>"$out/python-torch.log" || true)
  if [ -n "$libcuda" ]; then
    export LD_LIBRARY_PATH="$(dirname "$libcuda"):$LD_LIBRARY_PATH"
    say "libcuda: $libcuda (as python3's torch loads it)"
  else
    say "python3's torch loads no libcuda (see $out/python-torch.log): the CUDA runs below will say whether the harness finds one"
  fi
else
  export LOTTERY_CUDA=1
  export CARGO_TARGET_DIR="${LOTTERY_CACHE:-$HOME/.cache/lottery}/target-cuda"
  "$root/lottery" harness --version >"$out/build.log" 2>&1 || { say "FAIL: the CUDA build (see $out/build.log)"; exit 1; }
  harness="$CARGO_TARGET_DIR/release/harness"
fi

status=0
cpu_table=$(smoke_ticket "$harness" cpu "$out/cpu")
cuda_table=$(smoke_ticket "$harness" cuda "$out/cuda")
if [ -n "$cpu_table" ] && [ -n "$cuda_table" ] && agreement=$(compare_tables "$cpu_table" "$cuda_table" 2>&1); then
  say "$agreement"
else
  say "FAIL: CPU vs CUDA smoke ticket: ${agreement:-a run failed (see $out/smoke-ticket-*.log)}"; status=1
fi

if timeout "$step_seconds" "$harness" suite run "$root/suites/smoke.toml" --out "$out/smoke-suite" --baseline "$root/suites/baselines/smoke" --data-dir "$data_dir" --device cuda >"$out/smoke-suite.log" 2>&1; then
  say "smoke suite on CUDA: passed against the CPU baseline ($(tail -2 "$out/smoke-suite.log" | head -1))"
else
  say "FAIL: smoke suite on CUDA (see $out/smoke-suite.log and $out/smoke-suite/summary.md)"; status=1
fi

export LOTTERY_BENCH_DEVICE=cuda
if [ -n "$prebuilt" ]; then
  # python3 here is the peer: the PyTorch whose libtorch the bundle runs on.
  export LOTTERY_BENCH_PEERS="$root/harness/cli/benches/peers"
else
  peer=$("$root/scripts/torch-peer.sh")
  export PYTHONPATH="$peer${PYTHONPATH:+:$PYTHONPATH}"
fi
bench() { # NAME [ENV=VALUE...]
  local name=$1; shift
  local command=(cargo bench --manifest-path "$root/Cargo.toml" -p lottery-harness --bench "$name")
  [ -z "$prebuilt" ] || command=("$prebuilt/bench/$name")
  if env "$@" timeout "$step_seconds" "${command[@]}" >"$out/bench-$name.log" 2>&1; then
    grep -E "harness .*peer|no peer" "$out/bench-$name.log" | sed 's/^/gpu-check: /' | tee -a "$out/summary.txt"
  else
    say "FAIL: bench $name (see $out/bench-$name.log)"; status=1
  fi
}
bench masked_step MASKED_STEP_MODELS=lenet,conv6
bench lm_tokens LM_BENCH_SIZES=650
bench translate_tokens TRANSLATE_BENCH_SHAPE=base
say "results in $out; summary in $out/summary.txt"
exit "$status"
