"""Non-finite guard (issue 15 item 7): a run whose losses or weights go nan/inf stops with one clear
line (``hpcgan train`` exits 65) after ``train.max_nonfinite_steps`` consecutive bad iterations, skips
their optimiser steps, and never writes a checkpoint with non-finite tensors. Tiny, CPU, one process."""
from __future__ import annotations

import dataclasses
import logging
import math
import re
import sys
from pathlib import Path

import pytest
import torch

from hpcgan.io import checkpoint as ckpt
from hpcgan.train import cli as train_cli
from hpcgan.train import trainer
from hpcgan.train.guard import NonFiniteError, nonfinite_keys, nonfinite_tensors
from tests.conftest import REPO, mpirun_cmd, run_cmd
from tests.test_dist import need_backend
from tests.test_train import streams_for, tiny_cfg


class Mutate:
    """Streams that call ``fn(i, batch)`` before yielding the batch of (0-based) iteration ``i``."""

    def __init__(self, inner, fn):
        self.inner, self.fn = inner, fn

    def iterate(self, start_iter: int = 0):
        for i, b in enumerate(self.inner.iterate(start_iter), start_iter):
            self.fn(i, b)
            yield b


@pytest.fixture
def phases(monkeypatch) -> list:
    """The phase each trainer.run builds (to set its learning rate mid-run)."""
    out: list = []
    build = trainer.build_phase
    monkeypatch.setattr(trainer, "build_phase", lambda *a: out.append(build(*a)) or out[-1])
    return out


def lr_inf_from(phases: list, at: int):
    """From iteration ``at`` on every optimiser runs at lr = inf (what train.lr=inf did before the
    config refused it); the checkpoints before stay good."""
    def fn(i, _batch):
        if i == at:
            for u in phases[-1].units.values():
                u.sched.base_lrs = [math.inf] * len(u.sched.base_lrs)
                for g in u.opt.param_groups:
                    g["lr"] = math.inf
    return fn


def assert_only_good_checkpoints(run_dir: Path, iterations: list[int]) -> None:
    assert [i for i, _ in ckpt.list_checkpoints(run_dir)] == iterations
    for _, p in ckpt.list_checkpoints(run_dir):
        state = ckpt.load(p)  # checksum intact
        assert nonfinite_tensors(state) == [], p
    assert not list(ckpt.ckpt_dir(run_dir).glob("*.tmp*"))


def test_helpers_name_the_bad_values():
    vals = {"loss/a": torch.tensor(1.0), "loss/b": torch.tensor(float("nan")), "grad_norm/a": math.inf,
            "grad_norm/b": 0.5}
    assert nonfinite_keys(vals) == ["grad_norm/a", "loss/b"]
    assert nonfinite_keys({"loss/a": torch.tensor(2.0), "g": 1.0}) == []
    state = {"nets": {"g": {"w": torch.ones(2), "b": torch.tensor([1.0, math.inf])}}, "step": torch.tensor(3),
             "optims": [{"m": torch.tensor([math.nan])}]}
    assert nonfinite_tensors(state) == ["nets.g.b", "optims[0].m"]


def test_lr_inf_stops_with_message_and_writes_no_checkpoint(tmp_path):
    """The issue's run: lr=inf from the start (the Python API; the config now refuses it)."""
    cfg = tiny_cfg(tmp_path, "train.iters=20", "train.ckpt_every=1000", "train.max_nonfinite_steps=3")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, lr=math.inf))
    rd = tmp_path / "run"
    with pytest.raises(NonFiniteError, match=r"in 3 consecutive iterations \(train.max_nonfinite_steps=3\).*"
                                             r"no checkpoint written yet"):
        trainer.run(cfg, rd, streams=streams_for(cfg))
    assert_only_good_checkpoints(rd, [])


def test_nonfinite_streak_stops_and_keeps_last_good_checkpoint(tmp_path, phases, caplog):
    cfg = tiny_cfg(tmp_path, "train.iters=20", "train.ckpt_every=2", "train.max_nonfinite_steps=1")
    rd = tmp_path / "run"
    with pytest.raises(NonFiniteError) as e:
        trainer.run(cfg, rd, streams=Mutate(streams_for(cfg), lr_inf_from(phases, 2)))
    msg = str(e.value)
    assert msg.startswith("train: iteration 3: non-finite values (") and "\n" not in msg
    assert f"last good checkpoint {ckpt.ckpt_path(rd, 2)}" in msg
    assert_only_good_checkpoints(rd, [2])


def test_checkpoint_with_nonfinite_weights_is_never_written(tmp_path, phases):
    """Steps at lr=inf make the weights nan while the streak is under the limit: the save refuses."""
    cfg = tiny_cfg(tmp_path, "train.iters=20", "train.ckpt_every=2", "train.max_nonfinite_steps=5")
    rd = tmp_path / "run"
    with pytest.raises(NonFiniteError, match=r"iteration 4: \d+ tensor\(s\) of the state are non-finite .*"
                                             r"checkpoint not written, last good checkpoint .*ckpt-0000002.pt"):
        trainer.run(cfg, rd, streams=Mutate(streams_for(cfg), lr_inf_from(phases, 2)))
    assert_only_good_checkpoints(rd, [2])


def test_isolated_nonfinite_batch_is_skipped_and_run_completes(tmp_path, phases, caplog):
    cfg = tiny_cfg(tmp_path, "train.iters=4", "train.ckpt_every=1000", "train.max_nonfinite_steps=2")
    weights: dict = {}

    def nan_batch(i, batch):
        if i == 2:  # iteration 3 sees a NaN pixel in every stream
            weights["before"] = {k: v.clone() for k, v in phases[-1].nets["ae_x"].state_dict().items()}
            for v in batch.values():
                if v.ndim == 4:  # the images (not the per-stamp seeing, <stream>_psf)
                    v[0, 0, 0, 0] = math.nan
        if i == 3:
            weights["after"] = {k: v.clone() for k, v in phases[-1].nets["ae_x"].state_dict().items()}

    rd = tmp_path / "run"
    with caplog.at_level(logging.WARNING, logger="hpcgan"):
        res = trainer.run(cfg, rd, streams=Mutate(streams_for(cfg), nan_batch))
    assert res.iteration == 4
    for k, v in weights["before"].items():  # the bad iteration's step was skipped
        assert torch.equal(v, weights["after"][k]), k
    assert any("iteration 3: non-finite values (" in r.getMessage() and "skipped" in r.getMessage()
               for r in caplog.records)
    assert_only_good_checkpoints(rd, [4])


def test_cli_exits_65_with_one_line(tmp_path, monkeypatch, capsys):
    def boom(*a, **k):
        raise NonFiniteError("train: iteration 7: non-finite values (loss/ae_x) ...")

    monkeypatch.setattr(trainer, "run", boom)
    rc = train_cli.main(["train.device=cpu", f"train.run_dir={tmp_path}"])
    assert rc == train_cli.EXIT_NONFINITE == 65
    err = capsys.readouterr().err.strip()
    assert err == "hpcgan train: iteration 7: non-finite values (loss/ae_x) ..."


def test_two_ranks_stop_together_with_exit_65(tmp_path):
    """Horovod, demo config (channels_last), lr = inf: both ranks stop at the same iteration (the
    streak is decided over the ranks), each with the message, no hang, no checkpoint."""
    need_backend("horovod")
    rd = tmp_path / "run"
    p = run_cmd(mpirun_cmd(2, sys.executable, str(REPO / "tests" / "dist_scripts" / "train_layout.py"),
                           "--backend", "horovod", "--iters", "20", "--run-dir", str(rd), "--lr-inf"),
                timeout=120, check=False, env={"HPCGAN_LOG_LEVEL": "ERROR"})
    assert p.returncode == 65, p.stdout + p.stderr
    # mpirun may interleave the two ranks' lines
    msgs = dict(re.findall(r"\[train_layout\] rank=(\d) (train: iteration [^\[\n]*)", p.stdout))
    assert sorted(msgs) == ["0", "1"], p.stdout
    assert msgs["0"] == msgs["1"]  # same iteration, same message
    assert "in 5 consecutive iterations (train.max_nonfinite_steps=5)" in msgs["0"]
    assert_only_good_checkpoints(rd, [])


def test_second_training_on_the_same_run_dir_is_refused(tmp_path):
    """Two runs training into one run dir would overwrite each other's checkpoints: the second one
    refuses with one line (exit 2) before writing anything."""
    from hpcgan.utils.lock import EXIT_LOCKED, acquire, release
    from tests.conftest import hpcgan_cmd

    rd = tmp_path / "run"
    acquire(rd, "test")
    try:
        p = run_cmd(hpcgan_cmd("train", "--step", "1", "--run-dir", str(rd), "train.device=cpu", "model.width=0.125",
                               "data.shards=/nonexistent"), timeout=120, check=False)
    finally:
        release(rd)
    assert p.returncode == EXIT_LOCKED, p.stderr[-2000:]
    assert p.stderr.strip().splitlines()[-1].startswith("hpcgan train: ") and "is in use by another run (test on" in p.stderr
    assert sorted(x.name for x in rd.iterdir()) == [".hpcgan.lock"]
