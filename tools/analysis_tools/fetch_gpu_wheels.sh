#!/usr/bin/env bash
# Downloads into .whl/ (git-ignored) the pure-Python wheels that gpu_check.sh installs on an
# offline GPU machine whose Python 3.12 already has torch, numpy, opencv-python-headless, regex,
# scipy, matplotlib, rich, pyyaml, packaging and pillow. These are what `import farcluss_mmseg`
# and mmseg's models need on top: the versions of the tested venv (tools/setup_env.sh), plus a
# setuptools that still has pkg_resources, which mmengine imports to resolve `mmseg::` configs
# (setuptools >= 81 dropped it).
#
#   bash tools/analysis_tools/fetch_gpu_wheels.sh        # needs PyPI; about 2 MiB in all
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}
WHEELS=(
  mmengine==0.10.7 mmcv-lite==2.1.0 mmsegmentation==1.2.2
  addict==2.4.0 yapf==0.43.0 platformdirs==4.14.8 termcolor==3.3.0
  prettytable==3.18.0 wcwidth==0.7.0 ftfy==6.3.1 setuptools==75.8.0
)
mkdir -p .whl
for spec in "${WHEELS[@]}"; do
  name=${spec%%==*}
  if ls .whl/"${name//-/_}"-"${spec##*==}"-*.whl >/dev/null 2>&1; then continue; fi
  if ! "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
      --platform any -d .whl "$spec" 2>/dev/null; then
    # No wheel on the index (mmcv-lite ships a source archive): build the pure-Python wheel.
    echo "[wheels] building $spec"
    "$PYTHON" -m pip wheel -q --no-deps -w .whl "$spec"
  fi
done
ls -l .whl
du -sh .whl
