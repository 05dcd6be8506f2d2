#!/usr/bin/env bash
# The Fashion-MNIST stitching and low-rank experiment of the README, on the
# full dataset (Debian's dataset-fashion-mnist) and the two bundled CNNs.
#
#   bash tools/fmnist_experiment.sh [TRAIN_SAMPLES]
#
# Fits each adapter kind from A's pool2 to B's pool2 on the first
# TRAIN_SAMPLES (default 50000) training images, tests every model on the
# 10 000 test images, reports the peak memory of the linear fit, then
# rewrites conv3 (fitted to its outputs on 10 000 training images) and fc1
# (from its SVD) at several ranks.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50000}
D=/usr/share/datasets/fashion-mnist
test -f $D/train-images-idx3-ubyte.gz || { echo "needs Debian's dataset-fashion-mnist"; exit 1; }
OUT=$(mktemp -d)
go build -o "$OUT/graft" ./cmd/graft
G="$OUT/graft"
NORM="--mean 0.2860 --std 0.3530"
TRAIN="$D/train-images-idx3-ubyte.gz"
TEST="$D/t10k-images-idx3-ubyte.gz"
acc() { "$G" eval "$1" --data "$TEST" $NORM --json 2>/dev/null | sed 's/.*"top1":\([0-9.]*\).*/\1/'; }

echo "| model | test top-1 (10 000) |"
echo "|---|---|"
echo "| A (seed 0) | $(acc fixtures/fmnist/a.onnx) |"
echo "| B (seed 1) | $(acc fixtures/fmnist/b.onnx) |"
for kind in linear lowrank:32 lowrank:16 lowrank:8 lowrank:4 procrustes; do
  log="$OUT/$kind.log"
  /usr/bin/time -v "$G" stitch fixtures/fmnist/a.onnx --at pool2 fixtures/fmnist/b.onnx --from pool2 \
    --fit $kind --data "$TRAIN" --limit "$N" $NORM -o "$OUT/ab.onnx" >"$log" 2>"$log.err"
  r2=$(sed -n 's/.*R² \([0-9.]*\).*/\1/p' "$log")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\)/\1/p' "$log.err")
  echo "| A[..pool2] → $kind adapter → B[pool2..] (fit R² $r2 on $N images, peak RSS $((rss / 1024)) MB) | $(acc "$OUT/ab.onnx") |"
done
echo
echo "| layer | rank | parameters | test top-1 |"
echo "|---|---|---|---|"
for r in 32 16 8 4; do
  "$G" lowrank fixtures/fmnist/a.onnx --layer conv3 --rank $r --data "$TRAIN" --limit 10000 $NORM -o "$OUT/c.onnx" >"$OUT/c.log" 2>/dev/null
  p=$(sed -n 's/.*params *\([0-9]* → [0-9]*\).*/\1/p' "$OUT/c.log")
  echo "| conv3 (576→64), fitted to its outputs | $r | $p | $(acc "$OUT/c.onnx") |"
done
for r in 32 16 8 4; do
  "$G" lowrank fixtures/fmnist/a.onnx --layer fc1 --rank $r -o "$OUT/f.onnx" >"$OUT/f.log" 2>/dev/null
  p=$(sed -n 's/.*params *\([0-9]* → [0-9]*\).*/\1/p' "$OUT/f.log")
  echo "| fc1 (2304→64), from its SVD | $r | $p | $(acc "$OUT/f.onnx") |"
done
rm -rf "$OUT"
