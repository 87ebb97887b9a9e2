"""The wheel and the installs a user makes: configs and tools in farcluss_mmseg/.mim, LICENSE, the
start-up hook, and `farcluss_mmseg::` configs resolved from the installed package.

The wheel is built from a copy of the checkout's files (those git does not ignore) and
installed into fresh virtual environments, which see this environment's packages (torch, mmseg)
through a path file but none of its own install of this package.
"""

import importlib.util
import os
import os.path as osp
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest


def _load_helpers():
    path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'test_tools', 'conftest.py')
    spec = importlib.util.spec_from_file_location('e2e_helpers', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


e2e = _load_helpers()
DEMO = osp.basename(e2e.FARCLUSS)
SITE = sysconfig.get_paths()['purelib']
TOOLS = ('train.py', 'test.py', 'dist_train.sh', 'dist_test.sh', 'slurm_train.sh', 'slurm_test.sh',
         'export_teacher.py', 'make_demo_data.py')  # fmt: skip


def _run(cmd, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=e2e.TIMEOUT, env=e2e.tool_env(), **kwargs
    )
    assert proc.returncode == 0, f'{cmd[:4]} exited with {proc.returncode}:\n{proc.stderr[-3000:]}'
    return proc


@pytest.fixture(scope='module')
def source(tmp_path_factory) -> str:
    """The checkout's files that git does not ignore, in a fresh folder (a clone of it)."""
    listing = ['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard']
    files = _run(listing, cwd=e2e.REPO).stdout.split('\0')
    root = tmp_path_factory.mktemp('clone') / 'farcluss_mmseg'
    for name in filter(None, files):
        src, dst = osp.join(e2e.REPO, name), osp.join(root, name)
        if not osp.lexists(src):  # deleted in the working tree
            continue
        os.makedirs(osp.dirname(dst), exist_ok=True)
        if osp.islink(src):
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)
    return str(root)


@pytest.fixture(scope='module')
def wheel(source, tmp_path_factory) -> str:
    dist = tmp_path_factory.mktemp('dist')
    _run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q',
          source, '-w', str(dist)])  # fmt: skip
    (name,) = os.listdir(dist)
    return str(dist / name)


def _files(source: str, folder: str) -> set:
    names = set()
    for root, _, files in os.walk(osp.join(source, folder)):
        names.update(osp.relpath(osp.join(root, f), source) for f in files)
    return names


def test_wheel_ships_configs_tools_license_and_the_hook(wheel, source):
    from farcluss_mmseg import __version__

    assert osp.basename(wheel) == f'farcluss_mmseg-{__version__}-py3-none-any.whl'
    names = set(zipfile.ZipFile(wheel).namelist())
    mim = 'farcluss_mmseg/.mim/'
    configs = {n[len(mim) :] for n in names if n.startswith(mim + 'configs/')}
    assert configs == _files(source, 'configs')
    assert len(configs) == len([n for n in configs if n.endswith('.py')]) + 1  # + README.md
    tools = {n[len(mim) :] for n in names if n.startswith(mim + 'tools/')}
    assert tools == _files(source, 'tools')
    assert {f'tools/{t}' for t in TOOLS} <= tools
    assert mim + 'model-index.yml' in names
    info = f'farcluss_mmseg-{__version__}.dist-info/'
    with zipfile.ZipFile(wheel) as whl:
        assert whl.read(info + 'licenses/LICENSE') == open(osp.join(source, 'LICENSE'), 'rb').read()
        assert whl.read('farcluss_mmseg_startup.pth') == (
            b'import farcluss_mmseg_startup; farcluss_mmseg_startup.install()\n'
        )
        metadata = whl.read(info + 'METADATA').decode()
    assert f'Version: {__version__}\n' in metadata
    assert 'License: Apache-2.0\n' in metadata
    assert 'farcluss_mmseg_startup.py' in names
    assert not [n for n in names if '__pycache__' in n or n.endswith('.pyc')]


def _fresh_venv(path) -> str:
    """A venv without pip that sees this environment's site-packages as a plain path entry
    (so none of its .pth files, this package's editable install included, is processed)."""
    subprocess.run(
        [sys.executable, '-m', 'venv', '--without-pip', '--system-site-packages', str(path)],
        check=True,
    )
    python = str(path / 'bin' / 'python')
    site = _run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'])
    with open(osp.join(site.stdout.strip(), 'parent_env.pth'), 'w') as f:
        f.write(SITE + '\n')
    return python


USER_SCRIPT = """\
from mmseg.apis import inference_model, init_model
import sys
from mmengine.config import Config
from mmengine.utils import get_installed_path
print(get_installed_path('farcluss_mmseg'))
print(Config._get_cfg_path('farcluss_mmseg::farcluss/{demo}', 'my_cfg.py')[0])
cfg = Config.fromfile('my_cfg.py')
print(cfg.model.type, cfg.train_cfg.max_iters)
print(type(init_model(cfg, device='cpu')).__name__)
"""


def _user_project(tmp_path) -> str:
    project = tmp_path / 'my_project'
    project.mkdir()
    (project / 'my_cfg.py').write_text(
        f"_base_ = ['farcluss_mmseg::farcluss/{DEMO}']\ntrain_cfg = dict(max_iters=10)\n"
    )
    (project / 'run.py').write_text(USER_SCRIPT.format(demo=DEMO))
    return str(project)


def test_installed_wheel_serves_mmseg_and_the_configs(wheel, tmp_path):
    python = _fresh_venv(tmp_path / 'venv')
    _run([sys.executable, '-m', 'pip', '--python', python, 'install', '-q', '--no-deps',
          '--no-index', wheel])  # fmt: skip
    purelib = _run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'])
    package = osp.join(purelib.stdout.strip(), 'farcluss_mmseg')
    proc = _run([python, 'run.py'], cwd=_user_project(tmp_path))
    lines = proc.stdout.splitlines()[-4:]
    assert lines == [
        package,
        osp.join(package, '.mim', 'configs', 'farcluss', DEMO),
        'FARCLUSS 10',
        'FARCLUSS',
    ]


def test_editable_install_serves_the_checkout(source, tmp_path):
    python = _fresh_venv(tmp_path / 'venv')
    _run([sys.executable, '-m', 'pip', '--python', python, 'install', '-q', '--no-deps',
          '--no-build-isolation', '--no-index', '-e', source])  # fmt: skip
    purelib = _run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'])
    assert osp.isfile(osp.join(purelib.stdout.strip(), 'farcluss_mmseg_startup.pth'))
    proc = _run([python, 'run.py'], cwd=_user_project(tmp_path))
    package = osp.join(source, 'farcluss_mmseg')
    assert proc.stdout.splitlines()[-4:] == [
        package,  # mmengine alone would name site-packages/farcluss_mmseg, which is not there
        osp.join(package, '.mim', 'configs', 'farcluss', DEMO),  # the checkout's, by symlink
        'FARCLUSS 10',
        'FARCLUSS',
    ]
    assert osp.realpath(osp.join(package, '.mim', 'configs')) == osp.join(source, 'configs')
