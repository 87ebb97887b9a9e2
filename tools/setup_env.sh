#!/usr/bin/env bash
# Installs everything farcluss_mmseg needs into a virtual environment (default .venv).
#
# - The venv sees the interpreter's own site-packages, so a torch you already have (your CUDA
#   build) is kept; torch==2.14.1 + torchvision==0.29.1 are installed only when torch is missing
#   (that pair is the one that imports together with mmpretrain on the reference machine).
# - mmcv: an mmcv < 2.2 that is already installed is kept; otherwise MMCV=lite (default) installs
#   the pure-Python mmcv-lite 2.1.0 and MMCV=full builds mmcv 2.1.0 with its compiled ops (~8 min).
# - Then this package, editable, with its test extras. Safe to run again.
set -euo pipefail
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
MMCV=${MMCV:-lite}

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV (with access to $PYTHON's site-packages)"
  "$PYTHON" -m venv --system-site-packages "$VENV"
fi
py="$VENV/bin/python"
pip_install() { "$py" -m pip install --disable-pip-version-check -q "$@"; }

if "$py" -c 'import torch' 2>/dev/null; then
  echo "[setup] keeping torch $("$py" -c 'import torch; print(torch.__version__)')"
else
  echo "[setup] installing torch==2.14.1 torchvision==0.29.1"
  pip_install torch==2.14.1 torchvision==0.29.1
fi

mmcv_ok() {
  "$py" - <<'PY' 2>/dev/null
import importlib.metadata as md, sys
from packaging.version import Version
for dist in ('mmcv', 'mmcv-lite'):
    try:
        v = Version(md.version(dist))
    except md.PackageNotFoundError:
        continue
    sys.exit(0 if Version('2.0.0') <= v < Version('2.2.0') else 1)
sys.exit(1)
PY
}
if [ "$MMCV" = full ] && ! "$py" -c 'import importlib.util as u; exit(u.find_spec("mmcv._ext") is None)' 2>/dev/null; then
  echo "[setup] building mmcv 2.1.0 with compiled ops (about 8 minutes on 2 cores)"
  "$py" -m pip uninstall -y -q mmcv-lite || true
  pip_install 'setuptools<70' wheel ninja
  # mmcv 2.1.0's setup.py compiles with -std=c++17, but the headers of torch >= 2.10 need C++20
  # ("C++20 or later compatible compiler is required to use ATen"). Then build the sdist with
  # that flag raised (seen working with torch 2.14.1, gcc 12). Drop when mmcv builds as is.
  aten="$("$py" -c 'import torch.utils.cpp_extension as c; print(c.include_paths()[0])')/ATen/ATen.h"
  if grep -q 'C++20 or later' "$aten" 2>/dev/null; then
    src=$(mktemp -d)
    "$py" -m pip download -q --no-binary :all: --no-deps -d "$src" mmcv==2.1.0
    tar xzf "$src"/mmcv-2.1.0.tar.gz -C "$src"
    sed -i 's/-std=c++17/-std=c++20/' "$src"/mmcv-2.1.0/setup.py
    pip_install --no-build-isolation "$src"/mmcv-2.1.0
  else
    pip_install --no-build-isolation mmcv==2.1.0
  fi
elif mmcv_ok; then
  echo "[setup] keeping the installed mmcv"
else
  echo "[setup] installing mmcv-lite==2.1.0 (set MMCV=full for the compiled ops)"
  pip_install mmcv-lite==2.1.0
fi

echo "[setup] installing farcluss_mmseg (editable) and its dependencies"
pip_install -e '.[tests]'
"$py" -c 'import farcluss_mmseg, mmseg; print(f"[setup] ok: mmseg {mmseg.__version__}, farcluss_mmseg {farcluss_mmseg.__version__}")'
# mmseg's own entry points as a script's first import (the start-up hook under mmcv-lite).
if ! "$py" -c 'from mmseg.apis import init_model, inference_model'; then
  site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "[setup] error: 'from mmseg.apis import init_model' fails in a fresh interpreter;" \
       "is farcluss_mmseg_startup.pth in $site?" >&2
  exit 1
fi
