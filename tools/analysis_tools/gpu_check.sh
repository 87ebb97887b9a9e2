#!/usr/bin/env bash
# Step cost of FARCLUSS against the plain mean teacher and UniMatch on a GPU machine without
# network, in well under 5 minutes.
#
#   bash tools/analysis_tools/gpu_check.sh          # repo root on the GPU machine; python3 has torch
#   DEVICE=cpu SMOKE=1 PYTHON=.venv/bin/python bash tools/analysis_tools/gpu_check.sh  # CPU test
#
# 1. Installs the pure-Python dependencies from the wheels in .whl/ (made here by
#    tools/analysis_tools/fetch_gpu_wheels.sh, carried along since .whl/ is git-ignored) into
#    $SITE without network, and puts the repo and $SITE first on PYTHONPATH (no pip install -e).
#    Without .whl/ it uses the packages $PYTHON already has (how the CPU test runs).
# 2. Runs tools/analysis_tools/benchmark_step.py on DeepLabV3+ ResNet-101 OS16, 513x513, 8 + 8
#    images (the VOC blended 513 FARCLUSS config; random init), fp32 then AMP (bf16), 3 warm-up +
#    10 timed iterations each, and writes <name>.json, <name>.md and gpu_check.md into $OUT
#    (default work_dirs/gpu_check, git-ignored; on the device machine its $OUT).
#
# Environment: PYTHON (python3), OUT, SITE (/tmp/farcluss_site), DEVICE (cuda), ITERS (10),
# WARMUP (3), SMOKE=1 (the benchmark's --smoke: tiny network and crop, 2 + 2 iterations).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
OUT=${OUT:-work_dirs/gpu_check}
SITE=${SITE:-/tmp/farcluss_site}
DEVICE=${DEVICE:-cuda}
CONFIG=configs/farcluss/farcluss_deeplabv3plus_r101-d16_4xb2+2-99k_voc-blended-1-16-513x513.py
DEMO=configs/farcluss/farcluss_deeplabv3plus_r18-w32-d8_1xb8+8-600it_farcluss-demo-1-16-96x96.py

if [ -f "$CONFIG" ]; then MODEL=("$CONFIG"); else MODEL=("$DEMO" --preset r101-513); fi
if [ "${SMOKE:-0}" = 1 ]; then
  ARGS=(--smoke)
else
  ARGS=(--batch 8 8 --crop 513 513 --warmup "${WARMUP:-3}" --iters "${ITERS:-10}")
fi
mkdir -p "$OUT"

if compgen -G '.whl/*.whl' >/dev/null; then
  echo "[gpu_check] installing $(ls .whl/*.whl | wc -l) wheels from .whl/ into $SITE"
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" .whl/*.whl
  export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"
else
  echo "[gpu_check] no .whl/: using the packages $PYTHON has"
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
# Less fragmentation when the three steps (up to tens of GiB each) take turns on one GPU.
export PYTORCH_CUDA_ALLOC_CONF=${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}

"$PYTHON" - <<'PY' | tee "$OUT/versions.txt"
import sys
import torch
import farcluss_mmseg, mmcv, mmengine, mmseg
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'
print(f'python {sys.version.split()[0]}, torch {torch.__version__}, mmengine {mmengine.__version__}, '
      f'mmcv {mmcv.__version__}, mmseg {mmseg.__version__}, farcluss_mmseg '
      f'{farcluss_mmseg.__version__} ({farcluss_mmseg.__file__}); {gpu}')
PY

: >"$OUT/gpu_check.md"
for precision in fp32 amp; do
  name=r101-513_8+8_$precision
  [ "${SMOKE:-0}" = 1 ] && name=smoke_$precision
  amp=()
  [ "$precision" = amp ] && amp=(--amp)
  echo "[gpu_check] $name"
  "$PYTHON" tools/analysis_tools/benchmark_step.py "${MODEL[@]}" --device "$DEVICE" \
    "${ARGS[@]}" "${amp[@]}" --out "$OUT/$name.json"
  { echo "## $name"; echo; cat "$OUT/$name.md"; echo; } >>"$OUT/gpu_check.md"
done
echo "[gpu_check] wrote $OUT/gpu_check.md and the JSON files beside it"
