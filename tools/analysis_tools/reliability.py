"""What a crash, a full disk, a NaN, a second run, a bit flip or a hostile file leave behind.

    python tools/analysis_tools/reliability.py [--kills 10] [--flips 200] [--data-root DIR]
        [--out docs/benchmarks/reliability_cpu.md] [--work-dir work_dirs/reliability] [--quick]

Runs ``tools/train.py`` / ``tools/dist_train.sh`` / ``tools/test.py`` as a user's cluster would
treat them -- real subprocesses, real files, real signals -- on the demo data with a tiny
network (``tests/test_tools/conftest.py``'s ``tiny_options``), and writes one markdown table:

* **kill at random moments**: ``--kills`` runs of 40 iterations (a checkpoint every 4, one
  kept) killed with SIGKILL at a uniformly random moment of the training loop, then
  ``--resume``; the final weights are compared bit for bit with an uninterrupted run.
* **kill inside the save**: the demo network at full width (37 MB checkpoints), SIGKILL the
  moment the temporary checkpoint file appears, then ``--resume``.
* **disk full**: ``ulimit -f`` (RLIMIT_FSIZE) below the checkpoint size on a resumed run.
* **NaN**: lr 1e6, and an lr rising 10x an iteration, with a checkpoint every iteration.
* **two runs**: a second ``tools/train.py`` on a live run's work_dir, then a third after the
  first was killed with SIGKILL.
* **bit flips**: ``--flips`` single-bit flips at random offsets of a checkpoint, each loaded.
* **hostile files**: pickles that would run code, 0 bytes, random bytes, a git-LFS pointer, a
  plain state dict and ``{'model': sd}`` of another model, given to ``tools/test.py``.
* **DDP kill**: 2 gloo processes killed after ``iter_4``, resumed, against an uninterrupted run.

``--quick`` (for the tests): 10 bit flips and the hostile files (loaded in-process) of a
checkpoint from one 2-iteration run. ``tools/train.py`` runs use the tiny network of
``tests/test_tools/conftest.py`` (``tiny_options``), which this script imports.
"""

import argparse
import glob
import os
import os.path as osp
import pickle
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tests', 'test_tools'))
import conftest as e2e  # noqa: E402  (the tiny-network options the tests use)

from farcluss_mmseg.engine.checkpoint import TMP_MARK  # noqa: E402

BASELINE, FARCLUSS = e2e.BASELINE, e2e.FARCLUSS
TIMEOUT = 600


def _env(**extra: str) -> Dict[str, str]:
    return {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', **extra}


def train_cmd(config: str, work_dir: str, data_root: str, *options: str, resume=False) -> list:
    """``tools/train.py`` with the tiny network and ``options`` (they win)."""
    cmd = [sys.executable, 'tools/train.py', config, '--work-dir', work_dir]
    cmd += ['--resume'] if resume else []
    return cmd + ['--cfg-options', *e2e.tiny_options(config, data_root), *options]


def run(cmd: list, preexec: Optional[Callable] = None, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd,
        cwd=REPO,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        preexec_fn=preexec,
    )


def last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ''


def load(path: str) -> dict:
    return torch.load(path, map_location='cpu', weights_only=False)


def same_weights(a: str, b: str) -> bool:
    sa, sb = load(a)['state_dict'], load(b)['state_dict']
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def checkpoints(work_dir: str) -> List[str]:
    return sorted(osp.basename(p) for p in glob.glob(osp.join(work_dir, '*.pth*')))


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def descendants(pid: int) -> List[int]:
    """The processes below ``pid`` (children, grandchildren, ...), from /proc."""
    children: Dict[int, List[int]] = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    ppid = int(f.read().rsplit(')', 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def rank_process(launcher: int, rank: int) -> Optional[int]:
    """The training process of ``rank`` started (through torchrun) by ``launcher``."""
    for pid in descendants(launcher):
        try:
            with open(f'/proc/{pid}/environ', 'rb') as f:
                env = f.read().split(b'\0')
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmdline = f.read()
        except OSError:
            continue
        if f'RANK={rank}'.encode() in env and b'tools/train.py' in cmdline:
            return pid
    return None


def start(cmd: list, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        cmd,
        cwd=REPO,
        env=_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def loadable(path: str) -> bool:
    from mmengine.runner.checkpoint import _load_checkpoint

    try:
        _load_checkpoint(path, map_location='cpu', logger='silent')
    except Exception:
        return False
    return True


# --- scenarios -------------------------------------------------------------------------------
def _training_started(work_dir: str) -> bool:
    return bool(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))


def kills_at_random(data_root: str, root: str, n: int, rng: random.Random) -> dict:
    """SIGKILL at a uniformly random moment of the training loop (after start-up)."""
    iters = [
        'train_cfg.max_iters=40',
        'default_hooks.checkpoint.interval=4',
        'default_hooks.checkpoint.max_keep_ckpts=1',
    ]
    straight = osp.join(root, 'straight')
    proc = start(train_cmd(BASELINE, straight, data_root, *iters))
    while proc.poll() is None and not _training_started(straight):
        time.sleep(0.01)
    began = time.time()
    proc.wait()
    loop = time.time() - began
    identical = resumed_ok = in_save = 0
    lost = []
    for i in range(n):
        wd = osp.join(root, f'kill_{i}')
        proc = start(train_cmd(BASELINE, wd, data_root, *iters))
        while proc.poll() is None and not _training_started(wd):
            time.sleep(0.01)
        time.sleep(rng.uniform(0, loop))
        kill_group(proc)
        in_save += bool(glob.glob(osp.join(wd, f'.*{TMP_MARK}*')))
        res = run(train_cmd(BASELINE, wd, data_root, *iters, resume=True))
        if res.returncode == 0:
            resumed_ok += 1
            identical += same_weights(
                osp.join(straight, 'iter_40.pth'), osp.join(wd, 'iter_40.pth')
            )
            text = res.stdout + res.stderr
            at = (
                text.split('resumed epoch: 0, iter: ')[1].split()[0]
                if 'resumed epoch' in text
                else 0
            )
            lost.append(str(at))
    return dict(
        scenario='kill -9 at a random moment of training (40 iterations, a checkpoint every 4)',
        runs=n,
        left=f'{in_save} kills landed inside a save; resumed from iteration '
        f'{", ".join(lost) or "-"}',
        outcome=f'{resumed_ok}/{n} resumed to the end; {identical}/{n} final weights '
        'bit-identical to an uninterrupted run',
    )


def kill_inside_save(data_root: str, root: str, n: int) -> dict:
    # The demo network at full width: its checkpoints take long enough to hit the write.
    opts = [
        f'train_dataloader.dataset.datasets.0.data_root={data_root}',
        f'train_dataloader.dataset.datasets.1.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=4',
        'train_dataloader.sampler.batch_size=4',
        'train_cfg.val_begin=1000000',
        'train_cfg.max_iters=3',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=1',
    ]
    hits = resumed = 0
    left = set()
    for i in range(n):
        wd = osp.join(root, f'save_{i}')
        cmd = [sys.executable, 'tools/train.py', FARCLUSS, '--work-dir', wd, '--cfg-options', *opts]
        proc = start(cmd)
        deadline = time.time() + TIMEOUT
        hit = False
        while proc.poll() is None and time.time() < deadline:
            tmps = glob.glob(osp.join(wd, '.iter_2.pth.tmp-*'))
            if tmps:
                kill_group(proc)
                hit = True
                break
            time.sleep(0.002)
        if not hit:
            kill_group(proc)
            continue
        hits += 1
        record = open(osp.join(wd, 'last_checkpoint')).read().strip()
        left.add(f'{"+".join(checkpoints(wd))}, last_checkpoint -> {osp.basename(record)}')
        res = run(cmd[:5] + ['--resume'] + cmd[5:])
        resumed += res.returncode == 0 and 'resumed epoch: 0, iter: 1' in res.stdout + res.stderr
    return dict(
        scenario='kill -9 while a 37 MB checkpoint is written',
        runs=f'{hits} (of {n} tries)',
        left='; '.join(sorted(left)) or 'the kill never landed in a save',
        outcome=f'{resumed}/{hits} resumed from iter_1.pth (nothing lost but the iteration)',
    )


def disk_full(data_root: str, root: str) -> dict:
    wd = osp.join(root, 'disk_full')
    run(train_cmd(BASELINE, wd, data_root, 'train_cfg.max_iters=2'))
    size = osp.getsize(osp.join(wd, 'iter_2.pth'))
    limit = size // 2

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    four = 'train_cfg.max_iters=4'
    full = run(train_cmd(BASELINE, wd, data_root, four, resume=True), preexec=small_files)
    record = open(osp.join(wd, 'last_checkpoint')).read().strip()
    kept = loadable(osp.join(wd, 'iter_2.pth'))
    files = '+'.join(checkpoints(wd))
    after = run(train_cmd(BASELINE, wd, data_root, four, resume=True))
    return dict(
        scenario=f'disk full (`ulimit -f` {limit // 1024} KiB < {size // 1024} KiB checkpoint)',
        runs=1,
        left=f'exit {full.returncode}: "{last_line(full.stderr)[:120]}"; '
        f'{files} (iter_2 loadable: {kept}), last_checkpoint -> {osp.basename(record)}',
        outcome=f'resume without the limit: exit {after.returncode}, files '
        f'{"+".join(checkpoints(wd))}',
    )


NAN_CASES = {
    'lr 1e6': ['optim_wrapper.optimizer.lr=1e6'],
    # PolyLR with power -20 ending at 13: the lr grows ~10x an iteration from 0.01 (3 at 4).
    'lr rising to 1e7': ['param_scheduler.0.end=13', 'param_scheduler.0.power=-20'],
}


def nan(data_root: str, root: str, cases=tuple(NAN_CASES)) -> dict:
    parts = []
    for i, case in enumerate(cases):
        wd = osp.join(root, f'nan_{i}')
        proc = run(
            train_cmd(
                BASELINE,
                wd,
                data_root,
                *NAN_CASES[case],
                'train_cfg.max_iters=12',
                'default_hooks.checkpoint.interval=1',
                'default_hooks.checkpoint.max_keep_ckpts=1',
            )
        )
        record = osp.join(wd, 'last_checkpoint')
        good = osp.basename(open(record).read().strip()) if osp.exists(record) else 'none'
        stop = [ln for ln in proc.stderr.splitlines() if 'FloatingPointError:' in ln]
        at = stop[0].split(' at iteration ')[1].split('.')[0] if stop else 'never'
        parts.append(
            f'{case}: NaN at iteration {at}, kept {"+".join(checkpoints(wd))}, '
            f'last_checkpoint -> {good}'
        )
    return dict(
        scenario='NaN (huge learning rate, a checkpoint every iteration)',
        runs=len(cases),
        left='; '.join(parts),
        outcome='the checkpoints after the last good one are renamed *.diverged; --resume '
        'continues from the good one',
    )


def two_runs(data_root: str, root: str) -> dict:
    wd = osp.join(root, 'two_runs')
    first = start(train_cmd(BASELINE, wd, data_root, 'train_cfg.max_iters=100000'))
    lock = osp.join(wd, '.train.lock')
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and not (osp.exists(lock) and open(lock).read()):
        time.sleep(0.1)
    second = run(train_cmd(BASELINE, wd, data_root, 'train_cfg.max_iters=2'))
    kill_group(first)
    third = run(train_cmd(BASELINE, wd, data_root, 'train_cfg.max_iters=2'))
    return dict(
        scenario='two tools/train.py on one work_dir',
        runs=1,
        left=f'second: exit {second.returncode}, "{last_line(second.stderr)[:150]}"',
        outcome=f'after kill -9 of the first, a third run: exit {third.returncode} (the lock '
        'died with its process)',
    )


def _flip(src: str, dst: str, offset: int, bit: int) -> None:
    shutil.copy(src, dst)
    with open(dst, 'r+b') as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ (1 << bit)]))


def bit_flips(checkpoint: str, root: str, n: int, rng: random.Random) -> dict:
    from mmengine.runner.checkpoint import _load_checkpoint

    size = osp.getsize(checkpoint)
    reference = load(checkpoint)
    counts = dict(checksum=0, damaged=0, same=0, other_fields=0, silent=0)
    flipped = osp.join(root, 'flipped.pth')
    for _ in range(n):
        _flip(checkpoint, flipped, rng.randrange(size), rng.randrange(8))
        try:
            got = _load_checkpoint(flipped, map_location='cpu', logger='silent')
        except Exception as err:
            counts['checksum' if 'is corrupted' in str(err) else 'damaged'] += 1
            continue
        tensors_same = all(
            torch.equal(v, got['state_dict'][k]) for k, v in reference['state_dict'].items()
        )
        if not tensors_same:
            counts['silent'] += 1
        elif pickle.dumps(got['meta']) == pickle.dumps(reference['meta']):
            counts['same'] += 1
        else:
            counts['other_fields'] += 1
    return dict(
        scenario='one flipped bit at a random offset of a checkpoint',
        runs=n,
        left=f'{counts["checksum"]} refused by the checksum, {counts["damaged"]} refused as '
        f'damaged (zip/pickle), {counts["same"]} loaded identical (unused bytes), '
        f'{counts["other_fields"]} loaded with a changed non-tensor field',
        outcome=f'{counts["silent"]} loaded with different weights',
    )


class _System:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


def hostile_files(checkpoint: str, root: str, config: Optional[str] = None) -> dict:
    """Each file through ``tools/test.py`` when ``config`` is given, else ``_load_checkpoint``."""
    from mmengine.runner.checkpoint import _load_checkpoint

    marker = osp.join(root, 'pwned')
    files = {}
    files['pickle running os.system'] = osp.join(root, 'evil.pth')
    with open(files['pickle running os.system'], 'wb') as f:
        pickle.dump({'state_dict': {}, 'x': _System(marker)}, f)
    files['torch.save with os.system'] = osp.join(root, 'evil_zip.pth')
    torch.save({'state_dict': {}, 'x': _System(marker)}, files['torch.save with os.system'])
    files['0 bytes'] = osp.join(root, 'empty.pth')
    open(files['0 bytes'], 'wb').close()
    files['random bytes'] = osp.join(root, 'random.pth')
    with open(files['random bytes'], 'wb') as f:
        f.write(random.Random(0).randbytes(4096))
    files['git-LFS pointer'] = osp.join(root, 'lfs.pth')
    with open(files['git-LFS pointer'], 'w') as f:
        f.write('version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1713325\n')
    files['cut off at half'] = osp.join(root, 'cut.pth')
    with open(checkpoint, 'rb') as src, open(files['cut off at half'], 'wb') as dst:
        dst.write(src.read()[: osp.getsize(checkpoint) // 2])
    files["{'model': sd} of another model"] = osp.join(root, 'other_model.pth')
    torch.save({'model': {'fc.weight': torch.zeros(2, 2)}}, files["{'model': sd} of another model"])
    rows = []
    for name, path in files.items():
        if config is not None:
            proc = run([sys.executable, 'tools/test.py', config, path])
            said = last_line(proc.stderr) if proc.returncode else 'exit 0'
        else:
            try:
                _load_checkpoint(path, map_location='cpu', logger='silent')
                said = 'loaded'
            except Exception as err:
                said = f'{type(err).__name__}: {str(err).splitlines()[0]}'
        said = said.replace(root + '/', '').replace('|', '/')
        said = said.replace('farcluss_mmseg.engine.checkpoint.', '')
        rows.append(f'{name}: {said.split(". ")[0].split(": it ")[0][:100]}')
    return dict(
        scenario='hostile or broken files '
        + ('given to tools/test.py' if config else 'loaded in-process (the loader alone)'),
        runs=len(files),
        left='<br>'.join(rows),
        outcome=f'code executed: {"YES" if osp.exists(marker) else "no"}',
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def ddp_kill(data_root: str, root: str, *extra: str, iters: int = 8) -> dict:
    opts = [f'train_cfg.max_iters={iters}', 'default_hooks.checkpoint.max_keep_ckpts=1', *extra]

    def cmd(wd, resume=False):
        return (
            ['bash', 'tools/dist_train.sh', FARCLUSS, '2', '--work-dir', wd]
            + (['--resume'] if resume else [])
            + ['--cfg-options', *e2e.tiny_options(FARCLUSS, data_root), *opts]
        )

    straight = osp.join(root, 'ddp_straight')
    done = run(cmd(straight), PYTHON=sys.executable, PORT=str(_free_port()))
    if done.returncode != 0:
        raise SystemExit(f'the uninterrupted DDP run failed:\n{done.stderr[-3000:]}')
    wd = osp.join(root, 'ddp_killed')
    proc = start(cmd(wd), PYTHON=sys.executable, PORT=str(_free_port()))
    while proc.poll() is None and not osp.exists(osp.join(wd, 'iter_4.pth')):
        time.sleep(0.01)
    # A worker dies (SIGKILL to rank 1); torchrun then stops the other one and exits.
    worker = rank_process(proc.pid, 1)
    if worker is not None:
        os.kill(worker, signal.SIGKILL)
    proc.wait()
    left = '+'.join(checkpoints(wd))
    res = run(cmd(wd, resume=True), PYTHON=sys.executable, PORT=str(_free_port()))
    final = osp.join(wd, f'iter_{iters}.pth')
    same = (
        done.returncode == 0
        and res.returncode == 0
        and same_weights(osp.join(straight, f'iter_{iters}.pth'), final)
    )
    return dict(
        scenario='DDP (2 gloo processes, FARCLUSS): rank 1 killed after iter_4',
        runs=1,
        left=f'{left} at the kill',
        outcome=f'resume exit {res.returncode}; final student and teacher weights and BN '
        f'statistics bit-identical to an uninterrupted run: {same}',
    )


# --- report ----------------------------------------------------------------------------------
def table(rows: List[dict]) -> str:
    lines = [
        '| What was tried | Runs | What it left behind | Outcome |',
        '|---|---|---|---|',
    ]
    for r in rows:
        lines.append(f'| {r["scenario"]} | {r["runs"]} | {r["left"]} | {r["outcome"]} |')
    return '\n'.join(lines) + '\n'


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--kills', type=int, default=10, help='runs killed at random moments')
    parser.add_argument('--save-kills', type=int, default=3, help='tries to kill inside a save')
    parser.add_argument('--flips', type=int, default=200, help='single-bit flips to load')
    parser.add_argument('--data-root', help='demo data (made in a temporary folder if not given)')
    parser.add_argument('--work-dir', default='work_dirs/reliability')
    parser.add_argument('--out', default='docs/benchmarks/reliability_cpu.md')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--quick', action='store_true', help='smoke version for the tests')
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    root = osp.abspath(args.work_dir)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    data_root = args.data_root
    if data_root is None:
        data_root = tempfile.mkdtemp(prefix='farcluss_demo_')
        run([sys.executable, 'tools/make_demo_data.py', '--out', data_root])
    import farcluss_mmseg  # noqa: F401  (the checkpoint loader under test)

    started = time.time()
    ckpt_dir = osp.join(root, 'source')
    run(train_cmd(BASELINE, ckpt_dir, data_root, 'train_cfg.max_iters=2'))
    source = osp.join(ckpt_dir, 'iter_2.pth')
    if not osp.isfile(source):
        raise SystemExit(f'training the source checkpoint failed; see {ckpt_dir}')
    rows = []
    if args.quick:
        rows.append(bit_flips(source, root, 10, rng))
        rows.append(hostile_files(source, root))
    else:
        rows.append(kills_at_random(data_root, root, args.kills, rng))
        rows.append(kill_inside_save(data_root, root, args.save_kills))
        rows.append(disk_full(data_root, root))
        rows.append(nan(data_root, root))
        rows.append(two_runs(data_root, root))
        rows.append(bit_flips(source, root, args.flips, rng))
        rows.append(hostile_files(source, root, osp.join(ckpt_dir, osp.basename(BASELINE))))
        rows.append(ddp_kill(data_root, root))
    text = (
        '# Reliability on CPU\n\n'
        f'`python tools/analysis_tools/reliability.py{" --quick" if args.quick else ""}` '
        f'({time.time() - started:.0f} s, {os.cpu_count()} CPU cores, torch {torch.__version__}).'
        '\n\n' + table(rows)
    )
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write(text)
    print(text)


if __name__ == '__main__':
    main()
