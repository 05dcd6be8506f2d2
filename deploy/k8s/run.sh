#!/bin/bash
# Runs the sharded NTK on Kubernetes: the volume, the model and samples
# copied into it, the Indexed Job, and the merge Job once that is complete.
#
#   deploy/k8s/run.sh MODEL.onnx X.npy [KERNEL.npy]
#
# Needs kubectl with a context, the image graft:latest where the cluster
# can pull it (see Dockerfile), and a ReadWriteMany storage class (see
# ntk-pvc.yaml). NAMESPACE (default: the context's) is read from the
# environment.
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: $0 MODEL.onnx X.npy [KERNEL.npy]" >&2; exit 2; }
model=$1 x=$2 kernel=${3:-kernel.npy}
here=$(cd "$(dirname "$0")" && pwd)
k=(kubectl ${NAMESPACE:+--namespace "$NAMESPACE"})

"${k[@]}" apply -f "$here/ntk-pvc.yaml"
# A pod that mounts the volume, to copy files in and out.
"${k[@]}" run graft-ntk-io --image=busybox --restart=Never \
	--overrides='{"spec":{"volumes":[{"name":"work","persistentVolumeClaim":{"claimName":"graft-ntk"}}],"containers":[{"name":"io","image":"busybox","command":["sleep","86400"],"volumeMounts":[{"name":"work","mountPath":"/work"}]}]}}'
"${k[@]}" wait --for=condition=Ready pod/graft-ntk-io --timeout=5m
"${k[@]}" exec graft-ntk-io -- sh -c 'rm -rf /work/blocks && mkdir -p /work/input /work/blocks'
"${k[@]}" cp "$model" graft-ntk-io:/work/input/model.onnx
"${k[@]}" cp "$x" graft-ntk-io:/work/input/x.npy

"${k[@]}" delete job graft-ntk graft-ntk-merge --ignore-not-found
"${k[@]}" apply -f "$here/ntk-job.yaml"
"${k[@]}" wait --for=condition=Complete job/graft-ntk --timeout=24h
"${k[@]}" apply -f "$here/ntk-merge-job.yaml"
"${k[@]}" wait --for=condition=Complete job/graft-ntk-merge --timeout=2h
"${k[@]}" logs job/graft-ntk-merge
"${k[@]}" cp graft-ntk-io:/work/kernel.npy "$kernel"
"${k[@]}" delete pod graft-ntk-io
echo "kernel: $kernel"
