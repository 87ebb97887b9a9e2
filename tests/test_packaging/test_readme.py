"""Every Python snippet of README.md runs as written, in a fresh interpreter.

A snippet whose first line is ``# <folder>/<name>.py`` is a config file of a user's project: it is
written there and loaded with mmengine. Any other snippet is a script, run from a folder laid out
as after ``make demo`` (``configs/``, ``data/farcluss_demo``, ``work_dirs/demo/<run>/``, here the
session's tiny demo run and data); each ``# -> TEXT`` line says what the ``print`` above it
prints (in that order; other output may come between). A snippet is skipped only when the line
before its fence is ``<!-- readme-test: skip (REASON) -->``.
"""

import importlib.util
import os
import os.path as osp
import re
import subprocess
import sys
from typing import List, NamedTuple

import pytest


def _load_helpers():
    path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'test_tools', 'conftest.py')
    spec = importlib.util.spec_from_file_location('e2e_helpers', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


e2e = _load_helpers()
farcluss_run = e2e.farcluss_run
README = osp.join(e2e.REPO, 'README.md')
# make demo's FARCLUSS run (tools/run_demo.py), whose checkpoint the snippets load
DEMO_RUN = 'farcluss_deeplabv3plus_r18-w32-d8_1xb8+8-500it_farcluss-demo-1-16-96x96'
SKIP = re.compile(r'^<!-- readme-test: skip \((.+)\) -->$')


class Snippet(NamedTuple):
    line: int  # of the opening fence, 1-based
    code: str
    skip: str  # the reason, or ''


def snippets(path: str = README) -> List[Snippet]:
    """The ```python blocks of ``path``."""
    with open(path) as f:
        lines = f.read().splitlines()
    found, i = [], 0
    while i < len(lines):
        if lines[i].strip() == '```python':
            start = i
            i += 1
            while lines[i].strip() != '```':
                i += 1
            before = [ln for ln in lines[:start] if ln.strip()][-1:]
            marker = SKIP.match(before[0].strip()) if before else None
            code = '\n'.join(lines[start + 1 : i]) + '\n'
            found.append(Snippet(start + 1, code, marker.group(1) if marker else ''))
        i += 1
    return found


def expected_output(code: str) -> List[str]:
    return [m.group(1) for m in re.finditer(r'^# -> (.*)$', code, re.M)]


def test_readme_snippets_are_found():
    found = snippets()
    assert [s.skip for s in found] == ['', 'an excerpt of a config, not a script', '']
    configs = [s for s in found if re.match(r'# \S+/\S+\.py\n', s.code)]
    assert len(configs) == 1


@pytest.fixture
def demo_layout(tmp_path, farcluss_run, demo_data_root) -> str:
    """A folder laid out as the checkout after ``make demo``, the run being the session's."""
    root = tmp_path / 'checkout'
    (root / 'data').mkdir(parents=True)
    os.symlink(osp.join(e2e.REPO, 'configs'), root / 'configs')
    os.symlink(demo_data_root, root / 'data' / 'farcluss_demo')
    run = root / 'work_dirs' / 'demo' / DEMO_RUN
    run.mkdir(parents=True)
    os.symlink(farcluss_run.config, run / f'{DEMO_RUN}.py')
    os.symlink(farcluss_run.checkpoint, run / 'iter_500.pth')  # make demo trains 500 iterations
    return str(root)


def _run(code: str, cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, '-c', code],
        cwd=cwd,
        env=e2e.tool_env(),
        capture_output=True,
        text=True,
        timeout=e2e.TIMEOUT,
    )


@pytest.mark.parametrize(
    'snippet', [s for s in snippets() if not s.skip], ids=lambda s: f'L{s.line}'
)
def test_readme_snippet_runs(snippet, demo_layout, tmp_path):
    config = re.match(r'# (\S+/\S+\.py)\n', snippet.code)
    if config:  # a config of the user's project: mmengine loads it, the plugin not imported
        path = tmp_path / config.group(1)
        path.parent.mkdir(parents=True)
        path.write_text(snippet.code)
        code = (
            'import sys\nfrom mmengine.config import Config\n'
            f'cfg = Config.fromfile({str(path)!r})\n'
            "print(cfg.model.type, 'farcluss_mmseg' in sys.modules)\n"
        )
        proc = _run(code, str(path.parent))
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.splitlines()[-1] == 'FARCLUSS True'  # custom_imports loaded it
        return
    proc = _run(snippet.code, demo_layout)
    assert proc.returncode == 0, f'README.md line {snippet.line}:\n{proc.stderr[-3000:]}'
    expected = expected_output(snippet.code)
    assert expected, f'README.md line {snippet.line}: no "# -> " line says what it prints'
    printed = iter(proc.stdout.splitlines())  # in this order, other output (progress) between
    missing = [line for line in expected if line not in printed]
    assert not missing, f'README.md line {snippet.line}: not printed {missing}:\n{proc.stdout}'
