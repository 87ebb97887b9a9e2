#!/usr/bin/env bash
# Evaluation on a Slurm cluster, one task per GPU, as mmseg's tools/slurm_test.sh:
#   [GPUS=4] [GPUS_PER_NODE=4] bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT \
#       [test.py options]
# Extra srun options go in SRUN_ARGS.
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: [GPUS=N] [GPUS_PER_NODE=M] bash $0 PARTITION JOB_NAME CONFIG CKPT [options]" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
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
    "$PYTHON" -u tools/test.py "$CONFIG" "$CHECKPOINT" --launcher slurm "${@:5}"
