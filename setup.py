import os
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent

# Installed into site-packages: runs farcluss_mmseg_startup.install() at interpreter start-up
# (a stand-in mmcv._ext under mmcv-lite, `farcluss_mmseg::` configs; farcluss_mmseg/compat.py).
STARTUP_PTH = 'farcluss_mmseg_startup.pth'
STARTUP_LINE = 'import farcluss_mmseg_startup; farcluss_mmseg_startup.install()\n'
# Shipped inside the package as OpenMMLab packages do (mmseg/.mim), so that
# `_base_ = ['farcluss_mmseg::...']` and `mim train farcluss_mmseg ...` work outside a checkout.
# In a checkout, farcluss_mmseg/.mim/* are symlinks to these (what an editable install uses).
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def read_requirements(name):
    lines = (HERE / 'requirements' / name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith('#')]


class BuildPy(build_py):
    """``build_py`` that adds the start-up ``.pth`` file and ``farcluss_mmseg/.mim``."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):  # setuptools >= 64 (PEP 660)
            # An editable wheel is made of what lands in install_lib; the package itself stays
            # in the checkout, whose .mim symlinks already point at configs/ and tools/.
            target = self.get_finalized_command('install').install_lib
        else:
            target = self.build_lib
            self._copy_mim(os.path.join(self.build_lib, 'farcluss_mmseg', '.mim'))
        os.makedirs(target, exist_ok=True)
        with open(os.path.join(target, STARTUP_PTH), 'w') as f:
            f.write(STARTUP_LINE)

    def _copy_mim(self, mim):
        if os.path.lexists(mim):
            shutil.rmtree(mim) if os.path.isdir(mim) else os.remove(mim)
        os.makedirs(mim)
        ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
        for name in MIM_FILES:
            src = HERE / name
            if src.is_dir():
                shutil.copytree(src, os.path.join(mim, name), ignore=ignore)
            else:
                shutil.copyfile(src, os.path.join(mim, name))


version = {}
exec((HERE / 'farcluss_mmseg' / 'version.py').read_text(), version)

setup(
    name='farcluss_mmseg',
    version=version['__version__'],
    description='FARCLUSS semi-supervised semantic segmentation as an MMSegmentation 1.x plugin',
    long_description=(HERE / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['farcluss_mmseg', 'farcluss_mmseg.*']),
    py_modules=['farcluss_mmseg_startup'],
    cmdclass={'build_py': BuildPy},
    python_requires='>=3.8',
    # torch and mmcv (full or lite) are not listed: users bring their CUDA torch and choose
    # their mmcv build; `make setup` installs both when missing (see README, "Installing").
    install_requires=read_requirements('runtime.txt'),
    extras_require={'tests': read_requirements('tests.txt')},
    license='Apache-2.0',
    license_files=['LICENSE'],
    zip_safe=False,
)
