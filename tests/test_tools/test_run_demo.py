"""tools/run_demo.py: the demo table, by hand."""

import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools'))

import run_demo  # noqa: E402

RARE = run_demo.RARE_CLASS


def _metrics(miou, rare):
    return {'mIoU': miou, 'IoU.sky': 90.0, f'IoU.{RARE}': rare}


def test_table_has_the_gap_recovered_row():
    results = {
        run_demo.SUPERVISED: _metrics(40.0, 0.0),
        run_demo.FARCLUSS: _metrics(46.0, 20.0),
        run_demo.ORACLE: _metrics(60.0, 55.5),
    }
    lines = run_demo.table(results, ['sky', RARE]).splitlines()
    assert lines == [
        '| class | Supervised only | FARCLUSS (teacher) | Oracle (all labels) |',
        '|---|---:|---:|---:|',
        '| **mIoU** | **40.00** | **46.00** | **60.00** |',
        '| gap recovered (%) | 0.0 | 30.0 | 100.0 |',  # (46 - 40) / (60 - 40)
        '| sky | 90.00 | 90.00 | 90.00 |',
        f'| {RARE} (rare) | 0.00 | 20.00 | 55.50 |',
    ]
    results[run_demo.ORACLE]['mIoU'] = 39.0  # no gap to recover
    assert '| gap recovered (%) | n/a | n/a | n/a |' in run_demo.table(results, ['sky'])
