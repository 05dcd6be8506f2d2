#!/bin/bash
# Submits a sharded fit to Slurm: an array of SHARDS tasks
# (fit-shard.sbatch), each passing over its part of the data, and the
# finish (fit-finish.sbatch: merge the statistics, fit, write
# OUT/result.onnx), which starts once every task has succeeded.
#
#   deploy/slurm/submit-fit.sh SHARDS OUT -- GRAFT_COMMAND... -- DATA_FLAGS...
#   deploy/slurm/submit-fit.sh 16 $PWD/fit -- stitch $PWD/a.onnx --at pool2 $PWD/b.onnx --from pool2 \
#       --fit linear -- --data $PWD/train.gz --mean 0.2860 --std 0.3530
#
# GRAFT_COMMAND is stitch --fit or lowrank --data with the fit's flags,
# without --shard, --from-stats or -o; DATA_FLAGS are the dataset flags,
# which only the shards read. OUT must hold no shards yet. GRAFT and
# SBATCH_ARGS are read from the environment, as for submit.sh.
set -euo pipefail

usage() { echo "usage: $0 SHARDS OUT -- GRAFT_COMMAND... -- DATA_FLAGS..." >&2; exit 2; }
[[ $# -ge 4 && $3 == -- ]] || usage
SHARDS=$1 OUT=$2
shift 3
case $1 in stitch | lowrank) ;; *) echo "$0: shard stitch --fit or lowrank --data, not '$1'" >&2; exit 2 ;; esac
fit=()
while [[ $# -gt 0 && $1 != -- ]]; do fit+=("$1"); shift; done
[[ $# -ge 2 ]] || usage
shift
FIT_ARGS="${fit[*]}" DATA_ARGS="$*"
[[ $SHARDS =~ ^[1-9][0-9]*$ ]] || { echo "$0: SHARDS must be a positive number, got '$SHARDS'" >&2; exit 2; }
mkdir -p "$OUT/shards"
if compgen -G "$OUT/shards/*.npz" >/dev/null; then
	echo "$0: $OUT/shards already holds statistics; remove them or choose another OUT" >&2
	exit 1
fi

here=$(cd "$(dirname "$0")" && pwd)
export OUT FIT_ARGS DATA_ARGS
export GRAFT=${GRAFT:-graft}
# shellcheck disable=SC2086 # SBATCH_ARGS is a list of options
array=$(sbatch --parsable ${SBATCH_ARGS:-} --array="0-$((SHARDS - 1))" --export=ALL "$here/fit-shard.sbatch")
array=${array%%;*}
# shellcheck disable=SC2086
finish=$(sbatch --parsable ${SBATCH_ARGS:-} --dependency="afterok:$array" --kill-on-invalid-dep=yes --export=ALL "$here/fit-finish.sbatch")
finish=${finish%%;*}
echo "submitted: statistics as array job $array (0-$((SHARDS - 1))), the fit as job $finish after them"
echo "result: $OUT/result.onnx"
