#!/bin/bash
# Top-1 of a Fashion-MNIST classifier after unstructured pruning, for each
# criterion (magnitude, MAV, MAAV), ranking (per layer, --global) and
# sparsity, as CSV on stdout: the README's pruning tables.
#
#   bash tools/prune_sweep.sh fixtures/fmnist/a.onnx > a.csv
#   bash tools/prune_sweep.sh fixtures/fmnist/mlp.onnx > mlp.csv
#
# Scores come from the 2000 bundled training images, accuracy from the 1000
# bundled test images. GRAFT (default: graft on PATH) is the binary.
set -euo pipefail
model=${1:?usage: $0 MODEL.onnx}
G=${GRAFT:-graft}
F=$(cd "$(dirname "$0")/../fixtures/fmnist" && pwd)
norm=(--mean 0.2860 --std 0.3530)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
top1() { "$G" eval "$1" --data "$F/t10k-images-1k-idx3-ubyte.gz" "${norm[@]}" --no-record --json 2>/dev/null | sed 's/.*"top1":\([0-9.]*\).*/\1/'; }
echo "ranking,criterion,sparsity,top1"
echo "dense,,0,$(top1 "$model")"
for ranking in layer global; do
	g=()
	[[ $ranking == global ]] && g=(--global)
	for by in magnitude mav maav; do
		d=()
		[[ $by != magnitude ]] && d=(--data "$F/train-images-2k-idx3-ubyte.gz" "${norm[@]}")
		for s in 0.5 0.7 0.9 0.95; do
			"$G" prune "$model" --sparsity "$s" --by "$by" "${d[@]}" "${g[@]}" --no-record -o "$tmp/p.onnx" >/dev/null
			echo "$ranking,$by,$s,$(top1 "$tmp/p.onnx")"
		done
	done
done
