"""Collectives on channels_last and other non-contiguous tensors (issue 15 item 6).

In-process: :mod:`hpcgan.dist.layout` (contiguous views without copies, copies only for gapped
tensors). 2 ranks (mpirun): every collective of both backends on such tensors
(tests/dist_scripts/layouts.py), and the real trainer with the demo config (channels_last on) on
Horovod, steps 1 and 2: the ranks' weights stay identical and channels_last.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

from hpcgan.dist.layout import dense_view, land, wire
from tests.conftest import REPO, mpirun_cmd, run_cmd
from tests.test_dist import BACKENDS, need_backend

SCRIPTS = REPO / "tests" / "dist_scripts"
QUIET = {"HPCGAN_LOG_LEVEL": "WARNING"}


def test_wire_is_a_view_for_dense_layouts_and_a_copy_for_gapped_ones():
    cl = torch.randn(2, 3, 4, 5).to(memory_format=torch.channels_last)
    w = wire(cl)
    assert w.is_contiguous() and w.data_ptr() == cl.data_ptr() and w.shape == (2, 4, 5, 3)
    w.mul_(2.0)  # an in-place collective writes into the original storage
    assert land(cl, w) is cl and cl.is_contiguous(memory_format=torch.channels_last)
    t = torch.randn(3, 4).t()  # transposed: dense, permuted
    assert dense_view(t) is not None and dense_view(t).data_ptr() == t.data_ptr()
    gapped = torch.zeros(4, 6)[:, ::2]
    assert dense_view(gapped) is None
    w = wire(gapped)
    assert w.is_contiguous() and w.data_ptr() != gapped.data_ptr()
    w.fill_(3.0)
    land(gapped, w)
    assert torch.equal(gapped, torch.full((4, 3), 3.0)) and gapped.stride() == (6, 2)
    half = wire(cl).half()  # a compressed wire comes back as a new tensor of the view's shape
    land(cl, half.float() + 1)
    assert cl.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("backend", BACKENDS)
def test_collectives_keep_layouts_on_two_ranks(backend):
    need_backend(backend)
    p = run_cmd(mpirun_cmd(2, sys.executable, str(SCRIPTS / "layouts.py"), "--backend", backend),
                timeout=120, env=QUIET)
    assert p.stdout.count("layouts ok") == 2, p.stdout


def test_horovod_fp16_compression_keeps_layouts():
    need_backend("horovod")
    p = run_cmd(mpirun_cmd(2, sys.executable, str(SCRIPTS / "layouts.py"), "--backend", "horovod", "--fp16"),
                timeout=120, env=QUIET)
    assert p.stdout.count("layouts ok") == 2, p.stdout


def _train(tmp: Path, name: str, step: int, init_from: Path | None = None) -> Path:
    rd = tmp / name
    args = [str(SCRIPTS / "train_layout.py"), "--backend", "horovod", "--step", str(step), "--iters", "2",
            "--run-dir", str(rd)] + (["--init-from", str(init_from)] if init_from else [])
    p = run_cmd(mpirun_cmd(2, sys.executable, *args), timeout=180, env=QUIET)
    assert p.stdout.count("done iteration=2") == 2, p.stdout
    r0, r1 = (torch.load(rd / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["nets"].keys() == r1["nets"].keys()
    for net, sd in r0["nets"].items():
        assert r0["channels_last"][net] and r1["channels_last"][net], net
        for k, v in sd.items():
            assert torch.equal(v, r1["nets"][net][k]), f"{name}: {net}.{k} differs between the ranks"
    lines = [json.loads(x) for x in (rd / "metrics.jsonl").read_text().splitlines()]
    assert [m["iter"] for m in lines] == [1, 2]
    assert all(math.isfinite(v) for m in lines for k, v in m.items() if k.startswith("loss/"))
    return rd


def test_horovod_trains_demo_config_channels_last_on_two_ranks(tmp_path):
    """Issue 15 item 6: `hpcgan train -c demo dist.backend=horovod` aborted at start-up (broadcast of
    channels_last weights); now steps 1 and 2 train and the ranks stay identical."""
    need_backend("horovod")
    s1 = _train(tmp_path, "s1", 1)
    _train(tmp_path, "s2", 2, init_from=s1)
