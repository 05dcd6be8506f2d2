#!/bin/bash
# Submits a sharded NTK to Slurm: an array of SHARDS tasks (ntk-shard.sbatch)
# and the merge (ntk-merge.sbatch), which starts once every task has
# succeeded and never if one fails.
#
#   deploy/slurm/submit.sh SHARDS MODEL DATA [OUT] [-- NTK_ARGS...]
#   deploy/slurm/submit.sh 16 $PWD/resnet18.onnx $PWD/x.npy $PWD/ntk -- --mode full --params layer4
#
# OUT (default: ./ntk-out) must hold no blocks yet. GRAFT (default: graft
# on PATH) and SBATCH_ARGS (more sbatch options for both jobs, e.g.
# "--partition=cpu --account=me") are read from the environment.
set -euo pipefail

usage() { echo "usage: $0 SHARDS MODEL DATA [OUT] [-- NTK_ARGS...]" >&2; exit 2; }
[[ $# -ge 3 ]] || usage
SHARDS=$1 MODEL=$2 DATA=$3
shift 3
OUT=$PWD/ntk-out
if [[ $# -gt 0 && $1 != -- ]]; then OUT=$1; shift; fi
if [[ $# -gt 0 ]]; then [[ $1 == -- ]] || usage; shift; fi
NTK_ARGS="$*"
[[ $SHARDS =~ ^[1-9][0-9]*$ ]] || { echo "$0: SHARDS must be a positive number, got '$SHARDS'" >&2; exit 2; }
for f in "$MODEL" "$DATA"; do
	[[ -e $f ]] || { echo "$0: $f does not exist" >&2; exit 1; }
done
mkdir -p "$OUT"
if compgen -G "$OUT/*.npz" >/dev/null; then
	echo "$0: $OUT already holds blocks; remove them or choose another OUT" >&2
	exit 1
fi

here=$(cd "$(dirname "$0")" && pwd)
export MODEL DATA OUT NTK_ARGS
export GRAFT=${GRAFT:-graft}
# shellcheck disable=SC2086 # SBATCH_ARGS is a list of options
array=$(sbatch --parsable ${SBATCH_ARGS:-} --array="0-$((SHARDS - 1))" --export=ALL "$here/ntk-shard.sbatch")
array=${array%%;*} # --parsable prints JOBID or JOBID;CLUSTER
# shellcheck disable=SC2086
merge=$(sbatch --parsable ${SBATCH_ARGS:-} --dependency="afterok:$array" --kill-on-invalid-dep=yes --export=ALL "$here/ntk-merge.sbatch")
merge=${merge%%;*}
echo "submitted: shards as array job $array (0-$((SHARDS - 1))), merge as job $merge after them"
echo "kernel: $OUT/kernel.npy"
