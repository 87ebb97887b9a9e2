"""tools/analysis_tools/reliability.py --quick: the smoke version of the reliability table."""

import os
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_quick_table(demo_data_root, tmp_path):
    out = tmp_path / 'reliability.md'
    cmd = [sys.executable, 'tools/analysis_tools/reliability.py', '--quick']
    cmd += ['--data-root', demo_data_root, '--work-dir', str(tmp_path / 'runs'), '--out', str(out)]
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in out.read_text().splitlines() if line.startswith('| ')]
    assert rows[0] == '| What was tried | Runs | What it left behind | Outcome |'
    flips, hostile = rows[1:]
    assert flips.startswith('| one flipped bit at a random offset of a checkpoint | 10 | ')
    assert flips.endswith(' | 0 loaded with different weights |')
    assert hostile.startswith(
        '| hostile or broken files loaded in-process (the loader alone) | 7 | '
        'pickle running os.system: '
    )
    assert hostile.endswith(' | code executed: no |')
    for name, said in [
        ('pickle running os.system', 'RuntimeError: Refusing to load checkpoint evil.pth'),
        ('torch.save with os.system', 'RuntimeError: Refusing to load checkpoint evil_zip.pth'),
        ('0 bytes', 'CheckpointLoadError: empty.pth is empty (0 bytes)'),
        ('random bytes', 'CheckpointLoadError: random.pth is not a PyTorch checkpoint'),
        ('git-LFS pointer', 'CheckpointLoadError: lfs.pth is a git-LFS pointer'),
        ('cut off at half', 'CheckpointLoadError: cut.pth is a damaged PyTorch checkpoint'),
        ("{'model': sd} of another model", 'loaded'),  # tools/test.py refuses it
    ]:
        assert f'{name}: {said}' in hostile
