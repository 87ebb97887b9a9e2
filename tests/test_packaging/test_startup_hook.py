"""The start-up hook (farcluss_mmseg_startup.pth): mmseg's entry points as a script's first line.

Each test runs a fresh interpreter of this environment, as a user's script or mmseg's own tool
would start, and never imports ``farcluss_mmseg`` before mmseg. ``MMSegInferencer`` as a
script's first import is the README's snippet (tests/test_packaging/test_readme.py).
"""

import importlib.util
import os
import os.path as osp
import subprocess
import sys
import sysconfig

import pytest

from farcluss_mmseg import compat


def _load_helpers():
    """tests/test_tools/conftest.py: the demo runs, trained once per session."""
    path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'test_tools', 'conftest.py')
    spec = importlib.util.spec_from_file_location('e2e_helpers', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


e2e = _load_helpers()
PTH = osp.join(sysconfig.get_paths()['purelib'], 'farcluss_mmseg_startup.pth')
needs_lite = pytest.mark.skipif(
    compat.mmcv_has_compiled_ops(), reason='full mmcv installed: no stand-in is needed'
)


@pytest.fixture(scope='module', autouse=True)
def hook_installed():
    if not osp.isfile(PTH):
        pytest.fail(
            f'{PTH} is missing: this environment was installed before the start-up hook existed; '
            'run `make setup` (or `pip install -e .`) again'
        )


def _python(code: str, cwd: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, '-c', code],
        cwd=cwd,
        env=e2e.tool_env(**env),
        capture_output=True,
        text=True,
        timeout=e2e.TIMEOUT,
    )


FIRST_LINE = """\
from mmseg.apis import MMSegInferencer, inference_model, init_model
import sys
import torch
import mmcv.ops
print(sorted(m for m in sys.modules if m.startswith('farcluss')))
from mmengine.utils.dl_utils import mmcv_full_available
print(sys.modules['mmcv._ext'].__dict__.get('IS_FARCLUSS_STUB'), mmcv_full_available())
try:
    mmcv.ops.nms(torch.rand(3, 4), torch.rand(3), 0.5)
except Exception as err:
    print(type(err).__name__, err)
"""


@needs_lite
def test_mmseg_apis_import_first_under_mmcv_lite(tmp_path):
    proc = _python(FIRST_LINE, str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    modules, stub, error = proc.stdout.splitlines()[-3:]
    # Only the compatibility module was loaded, not the plugin (nor its registrations).
    assert modules == "['farcluss_mmseg.compat', 'farcluss_mmseg_startup']"
    assert stub == 'True False'  # the stand-in; mmengine sees no full mmcv
    assert error == (
        'MissingCompiledOpError mmcv compiled op `nms` is not available: mmcv-lite is installed. '
        f'To use it, {compat.MMCV_FULL_HINT}.'
    )


@needs_lite
def test_without_the_hook_mmcv_lite_cannot_import_mmseg_apis(tmp_path):
    proc = _python(FIRST_LINE, str(tmp_path), FARCLUSS_MMSEG_NO_STARTUP_HOOK='1')
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "ModuleNotFoundError: No module named 'mmcv._ext'"
    )


def test_a_compiled_mmcv_ext_is_left_alone(tmp_path):
    """An ``mmcv`` with an ``_ext`` module (here a Python file standing in for the compiled
    one) imports its own; the same ``mmcv`` without one gets the stand-in."""
    fake = tmp_path / 'site' / 'mmcv'
    fake.mkdir(parents=True)
    (fake / '__init__.py').write_text('')
    code = (
        'import sys, mmcv._ext as ext; '
        'print(ext.__dict__.get("IS_FARCLUSS_STUB"), ext.__dict__.get("COMPILED"))'
    )
    path = f'{tmp_path / "site"}'
    without = _python(code, str(tmp_path), PYTHONPATH=path)
    assert without.returncode == 0, without.stderr[-3000:]
    assert without.stdout.splitlines()[-1] == 'True None'
    (fake / '_ext.py').write_text('COMPILED = True\n')
    with_ext = _python(code, str(tmp_path), PYTHONPATH=path)
    assert with_ext.returncode == 0, with_ext.stderr[-3000:]
    assert with_ext.stdout.splitlines()[-1] == 'None True'


def test_mmseg_browse_dataset(demo_data_root, tmp_path):
    """mmseg's own tools/analysis_tools/browse_dataset.py on the demo baseline config."""
    import mmseg

    tool = osp.join(
        osp.dirname(mmseg.__file__), '.mim', 'tools', 'analysis_tools', 'browse_dataset.py'
    )
    proc = subprocess.run(
        [
            sys.executable,
            tool,
            osp.join(e2e.REPO, e2e.BASELINE),
            '--not-show',
            '--output-dir',
            str(tmp_path / 'browse'),
            '--cfg-options',
            f'train_dataloader.dataset.data_root={demo_data_root}',
        ],
        cwd=str(tmp_path),
        env=e2e.tool_env(),
        capture_output=True,
        text=True,
        timeout=e2e.TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(osp.join(demo_data_root, 'splits', '1_16', 'labeled.txt')) as f:
        stems = [line.strip() for line in f if line.strip()]
    assert sorted(os.listdir(tmp_path / 'browse')) == sorted(f'{s}.jpg' for s in stems)


USER_CONFIG = """\
# A user's project: the shipped demo FARCLUSS config, inherited through the package.
_base_ = ['farcluss_mmseg::farcluss/{name}']
train_cfg = dict(max_iters=1)
"""


def test_user_project_inherits_a_shipped_config(demo_data_root, tmp_path):
    """`_base_ = ['farcluss_mmseg::...']` in a project outside the checkout trains, with no
    warning about the scope mmengine gives the inherited parts."""
    project = tmp_path / 'my_project'
    project.mkdir()
    config = project / 'my_farcluss.py'
    config.write_text(USER_CONFIG.format(name=osp.basename(e2e.FARCLUSS)))
    options = e2e.tiny_options(e2e.FARCLUSS, demo_data_root)
    proc = subprocess.run(
        [
            sys.executable,
            osp.join(osp.dirname(compat.__file__), '.mim', 'tools', 'train.py'),  # as the README
            str(config),
            '--work-dir',
            str(tmp_path / 'work'),
            '--cfg-options',
            *options,
        ],
        cwd=str(project),
        env=e2e.tool_env(),
        capture_output=True,
        text=True,
        timeout=e2e.TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert os.listdir(tmp_path / 'work').count('iter_1.pth') == 1
    output = proc.stdout + proc.stderr
    assert 'Failed to search registry' not in output
    assert 'Failed to import' not in output
    (run_dir,) = e2e.run_dirs(str(tmp_path / 'work'))
    assert "type='FARCLUSS'" in e2e.read_log(run_dir)
