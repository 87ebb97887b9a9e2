from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def read_requirements(name):
    lines = (HERE / 'requirements' / name).read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith('#')]


version = {}
exec((HERE / 'farcluss_mmseg' / 'version.py').read_text(), version)

setup(
    name='farcluss_mmseg',
    version=version['__version__'],
    description='FARCLUSS semi-supervised semantic segmentation as an MMSegmentation 1.x plugin',
    long_description=(HERE / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['farcluss_mmseg', 'farcluss_mmseg.*']),
    python_requires='>=3.8',
    # torch and mmcv (full or lite) are not listed: users bring their CUDA torch and choose
    # their mmcv build; `make setup` installs both when missing (see README, "Installing").
    install_requires=read_requirements('runtime.txt'),
    extras_require={'tests': read_requirements('tests.txt')},
    license='Apache-2.0',
    zip_safe=False,
)
