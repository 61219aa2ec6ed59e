#!/usr/bin/env bash
# The ticket-transfer measurements quoted in the README (Morcos et al. 2019 on a small scale), on
# the real MNIST test split in ../shared/data/mnist (10,000 images; its first 8,000 become the
# training file, the last 2,000 the test file), LeNet-300-100, 3 replicates each:
#
#   (a) dataset transfer across class-disjoint halves: tickets found on digits 0-4, trained on
#       digits 5-9, against random tickets and the winning tickets found on 5-9;
#   (b) optimizer transfer: tickets found with Adam trained with SGD + momentum, and the reverse,
#       against random tickets and the winning tickets found with the target's optimizer.
#
#   scripts/transfer-measurements.sh OUT_DIR [HARNESS]
#
# OUT_DIR gets data/, runs/ and summary.txt (mean ± std over replicates of the test accuracy at
# the end of training, per level). Rerunning resumes. About an hour on 2 CPU cores.
set -euo pipefail

out=${1:?usage: scripts/transfer-measurements.sh OUT_DIR [HARNESS]}
root=$(cd "$(dirname "$0")/.." && pwd)
harness=${2:-${CARGO_TARGET_DIR:-$HOME/.cache/lottery/target}/release/harness}
shared=$root/../shared/data/mnist
mkdir -p "$out/data/mnist" "$out/runs"

python3 - "$shared" "$out/data/mnist" <<'EOF'
import gzip, struct, sys
src, dst = sys.argv[1], sys.argv[2]
images = gzip.open(f"{src}/t10k-images-idx3-ubyte.gz").read()
labels = gzip.open(f"{src}/t10k-labels-idx1-ubyte.gz").read()
for prefix, a, b in [("train", 0, 8000), ("t10k", 8000, 10000)]:
    with gzip.open(f"{dst}/{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, b - a, 28, 28) + images[16 + a * 784:16 + b * 784])
    with gzip.open(f"{dst}/{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, b - a) + labels[8 + a:8 + b])
EOF

common=(--data-dir "$out/data" --out "$out/runs" --device cpu --quiet --replicates 3)
imp=(image/mnist-lenet --preset quick --prune 0.95 --controls reinit "${common[@]}")
sgd=(--set optimizer=sgd --set lr=0.05 --set momentum=0.9)

# The last line harness prints before the table paths is "results: DIR".
folder() { "$harness" "$@" | sed -n 's/^results: //p'; }

# (a) digits 0-4 -> digits 5-9, 10 epochs per ticket.
halves=(--set steps=10ep --set eval_every=1ep)
low=$(folder run "${imp[@]}" "${halves[@]}" --set classes=0-4)
high=$(folder run "${imp[@]}" "${halves[@]}" --set classes=5-9)
a=$(folder transfer "$low" --to image/mnist-lenet "${halves[@]}" --set classes=5-9 --target-run "$high" "${common[@]}")

# (b) Adam <-> SGD with momentum, all ten digits, 5 epochs per ticket.
budget=(--set steps=5ep --set eval_every=1ep)
adam=$(folder run "${imp[@]}" "${budget[@]}")
sgd_run=$(folder run "${imp[@]}" "${budget[@]}" "${sgd[@]}")
b1=$(folder transfer "$adam" --to image/mnist-lenet "${budget[@]}" "${sgd[@]}" --target-run "$sgd_run" "${common[@]}")
b2=$(folder transfer "$sgd_run" --to image/mnist-lenet "${budget[@]}" --target-run "$adam" "${common[@]}")

python3 - "$out/summary.txt" "$a" "$b1" "$b2" <<'EOF'
import csv, sys
kinds = ["transferred", "reinit", "random", "target_winning"]
with open(sys.argv[1], "w") as summary:
    for title, folder in zip(["(a) digits 0-4 -> 5-9", "(b1) Adam -> SGD", "(b2) SGD -> Adam"], sys.argv[2:]):
        rows = [r for r in csv.DictReader(open(f"{folder}/transfer.csv")) if r["metric"] == "test_accuracy"]
        print(f"{title}: test accuracy at the end of training, mean ± std over {rows[0]['replicates']} replicates ({folder})", file=summary)
        print("level density " + " ".join(f"{k:>16}" for k in kinds), file=summary)
        for r in rows:
            cells = []
            for k in kinds:
                mean, std = r[f"{k}_mean"], r[f"{k}_std"]
                cells.append(f"{100 * float(mean):6.2f} ± {100 * float(std):4.2f}" if mean and std else f"{'-':>16}")
            print(f"{r['level']:>5} {float(r['density']):7.4f} " + " ".join(f"{c:>16}" for c in cells), file=summary)
        print(file=summary)
print(open(sys.argv[1]).read())
EOF
