#!/usr/bin/env bash
# Builds here what `scripts/gpu-check.sh --prebuilt DIR` runs on a GPU machine that can build
# nothing itself: no Rust toolchain, no network, and its own PyTorch rather than this project's
# libtorch (the lent device machine: torch 2.11.0+cu130 in its python3, see README "GPU").
#
#   scripts/gpu-bundle.sh [--torch VERSION] [--out DIR] [--data-dir DIR]
#
# VERSION is the torch version of the GPU machine's python3 (default 2.11.0). The harness and the
# CUDA benches are built against that version's libtorch, so that on the GPU machine they load the
# very libtorch (CUDA kernels, cuBLAS, cuDNN) its PyTorch peer runs on. Only the torch wheel's
# headers and libraries are fetched here (its CUDA libraries are on the GPU machine), and the link
# leaves libtorch_cuda's CUDA dependencies to be found there.
#
# tch 0.26 binds libtorch 2.13.0; ops that an older libtorch lacks (a handful of new ones such as
# _philox_normal) are compiled, in a patched copy of torch-sys beside the cache, as functions that
# report "not in this libtorch" through tch's usual error path. The harness calls none of them.
# The build uses a copy of the checkout, so this checkout and its Cargo.lock stay untouched.
#
# DIR (default gpu-bundle/ in the checkout, which git ignores) receives the harness, the benches
# masked_step, lm_tokens and translate_tokens, the smoke suite's data (Penn Treebank, Multi30k from
# --data-dir, default ../shared/data) and Pong's ROM: well under the 64 MiB a device call carries.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
torch_version=2.11.0
bundle="$root/gpu-bundle"
data_dir="$root/../shared/data"
while [ $# -gt 0 ]; do
  case "$1" in
    --torch) torch_version="$2"; shift 2 ;;
    --out) bundle="$2"; shift 2 ;;
    --data-dir) data_dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-bundle: unknown argument \`$1\` (use --torch VERSION, --out DIR, --data-dir DIR)" >&2; exit 2 ;;
  esac
done
for tool in cargo c++ cmake python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "gpu-bundle: $tool not found: the build needs what ./lottery installs (run ./lottery env once, or install $tool)" >&2; exit 1; }
done
for needed in "$data_dir/ptb/ptb.train.txt" "$data_dir/multi30k/train.en.gz"; do
  [ -f "$needed" ] || { echo "gpu-bundle: $needed not found: the smoke suite's data; pass --data-dir DIR (the folder with ptb/ and multi30k/)" >&2; exit 1; }
done

cache="${LOTTERY_CACHE:-$HOME/.cache/lottery}"
work="$cache/gpu-build-$torch_version"
mkdir -p "$work"
say() { echo "gpu-bundle: $*" >&2; }

# 1. The wheel's headers and libraries, for compiling and linking only.
libtorch=$("$root/scripts/libtorch.sh" --link-only "$torch_version")

# 2. A copy of the checkout (tracked and untracked-but-not-ignored files, mtimes kept so cargo's
#    incremental build holds across runs).
src="$work/src"
rm -rf "$src.new"
mkdir -p "$src.new"
git -C "$root" ls-files -z --cached --others --exclude-standard \
  | (cd "$root" && tar --null --files-from=- --ignore-failed-read -cf -) | tar -xf - -C "$src.new"
rm -rf "$src"
mv "$src.new" "$src"

# 3. torch-sys, patched for this libtorch where it needs to be.
torch_sys_registry=$(cargo metadata --format-version 1 --manifest-path "$root/Cargo.toml" \
  | python3 -c 'import json, os, sys; print(next(os.path.dirname(p["manifest_path"]) for p in json.load(sys.stdin)["packages"] if p["name"] == "torch-sys"))')
torch_sys="$work/torch-sys"
if [ ! -f "$torch_sys/.patched-for" ] || [ "$(cat "$torch_sys/.patched-for")" != "$torch_sys_registry" ]; then
  rm -rf "$torch_sys"
  cp -r "$torch_sys_registry" "$torch_sys"
  generated="$torch_sys/libtch/torch_api_generated.cpp"
  for pass in 1 2 3; do
    say "checking tch's generated bindings against libtorch $torch_version (pass $pass)"
    if c++ -fsyntax-only -std=c++17 -w -D_GLIBCXX_USE_CXX11_ABI=1 -DGLOG_USE_GLOG_EXPORT \
        -I "$libtorch/include" -I "$libtorch/include/torch/csrc/api/include" \
        "$generated" 2>"$work/bindings-errors.txt"; then
      break
    fi
    [ "$pass" -lt 3 ] || { say "tch's bindings still fail to compile against libtorch $torch_version (see $work/bindings-errors.txt)"; exit 1; }
    # Each binding that fails to compile reports its error through tch's error path instead.
    python3 - "$generated" "$work/bindings-errors.txt" "$torch_version" <<'PY' >&2
import re, sys
path, errors, version = sys.argv[1:4]
lines = open(path).read().split("\n")
bad = {int(m.group(1)) - 1 for m in re.finditer(r"torch_api_generated\.cpp:(\d+):\d+: error:", open(errors).read())}
stubbed = []
for line in sorted(bad, reverse=True):
    start = line
    while not re.match(r"^\w.*\batg_\w+\(.*\{$", lines[start]):
        start -= 1
    name = re.search(r"\b(atg_\w+)\(", lines[start]).group(1)
    if name in stubbed:
        continue
    open_at = start + 1
    assert lines[open_at].strip() == "PROTECT(", (name, lines[open_at])
    close_at = next(i for i in range(open_at, len(lines)) if lines[i] == "  )")
    lines[open_at:close_at + 1] = [f'  torch_last_err = strdup("{name[4:]}: not in libtorch {version}, which this binary was built against");']
    stubbed.append(name)
open(path, "w").write("\n".join(lines))
print(f"gpu-bundle: {len(stubbed)} bindings absent from libtorch {version}: {', '.join(sorted(n[4:] for n in stubbed))}")
PY
  done
  echo "$torch_sys_registry" > "$torch_sys/.patched-for"
fi
printf '\n[patch.crates-io]\ntorch-sys = { path = "%s" }\n' "$torch_sys" >> "$src/Cargo.toml"

# 4. The build: libtorch_cuda's own dependencies (cuDNN, cuBLAS, ...) are left to the GPU machine.
export LIBTORCH="$libtorch" LIBTORCH_BYPASS_VERSION_CHECK=1
export CARGO_TARGET_DIR="$cache/target-gpu-$torch_version"
export RUSTFLAGS="-C link-arg=-Wl,--allow-shlib-undefined"
LOTTERY_SOURCE_COMMIT="$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
export LOTTERY_SOURCE_COMMIT
say "building the harness and the CUDA benches against libtorch $torch_version (a cold build takes several minutes)"
cargo build --release --quiet --manifest-path "$src/Cargo.toml" --bin harness
benches=$(cargo bench --no-run --quiet --message-format=json --manifest-path "$src/Cargo.toml" -p lottery-harness \
    --bench masked_step --bench lm_tokens --bench translate_tokens \
  | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        print(m["target"]["name"], m["executable"])')

# 5. The bundle.
rm -rf "$bundle.new"
mkdir -p "$bundle.new/bench" "$bundle.new/data" "$bundle.new/roms"
cp "$CARGO_TARGET_DIR/release/harness" "$bundle.new/harness"
while read -r name executable; do
  cp "$executable" "$bundle.new/bench/$name"
done <<<"$benches"
cp -r "$data_dir/ptb" "$data_dir/multi30k" "$bundle.new/data/"
roms=""
for candidate in "${ALE_ROM_DIR:-}" "$cache/ale-py/ale_py/roms"; do
  if [ -n "$candidate" ] && [ -f "$candidate/pong.bin" ]; then roms="$candidate"; break; fi
done
if [ -n "$roms" ]; then
  cp "$roms/pong.bin" "$bundle.new/roms/"
else
  say "no Pong ROM found (ALE_ROM_DIR, or ./lottery run's ale-py cache): the smoke suite's Atari entry will fail there"
fi
{
  echo "torch=$torch_version"
  echo "commit=$LOTTERY_SOURCE_COMMIT"
  git -C "$root" diff --quiet HEAD 2>/dev/null || echo "uncommitted_changes=yes"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  (cd "$bundle.new" && find harness bench -type f | sort | xargs sha256sum)
} > "$bundle.new/MANIFEST"
rm -rf "$bundle"
mv "$bundle.new" "$bundle"
size=$(du -sm "$bundle" | cut -f1)
say "bundle in $bundle ($size MiB): on the GPU machine run"
say "  scripts/gpu-check.sh --prebuilt ${bundle#"$root"/} --out DIR"
[ "$size" -lt 56 ] || say "warning: $size MiB leaves little of the 64 MiB a device call carries beside the checkout"
