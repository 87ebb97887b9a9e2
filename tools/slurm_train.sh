#!/usr/bin/env bash
# Training on a Slurm cluster, one task per GPU, as mmseg's tools/slurm_train.sh:
#   [GPUS=8] [GPUS_PER_NODE=8] bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG \
#       [train.py options]
# GPUS tasks in all, GPUS_PER_NODE on each node (GPUS=16 GPUS_PER_NODE=8: two nodes). mmengine's
# slurm launcher reads each task's rank and the first node's address from srun. Extra srun
# options go in SRUN_ARGS, e.g. SRUN_ARGS="--time=24:00:00 --mem=0".
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: [GPUS=N] [GPUS_PER_NODE=M] bash $0 PARTITION JOB_NAME CONFIG [options]" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}
cd "$(dirname "$0")/.."
# shellcheck disable=SC2086  # SRUN_ARGS is a list of options
PYTHONPATH="$(pwd):${PYTHONPATH:-}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u tools/train.py "$CONFIG" --launcher slurm "${@:4}"
