"""Completion records and the requeue rule, without a cluster (hpcgan/launch/record.py, requeue.py):
each kind of record, a record left by an earlier run, a stale chain result, dry runs; the exit code of
a training run stopped by SIGTERM (143: never requeued) vs SIGUSR1 (75). The cluster side is in
tests/test_slurm.py."""
from __future__ import annotations

import json
import os
import signal

import pytest

from hpcgan.launch import record
from hpcgan.launch.record import EXIT_NO_RECORD, check, snapshot
from hpcgan.launch.requeue import should_requeue
from hpcgan.utils.stop_codes import EXIT_TERMINATED, stop_exit_code
from tests.conftest import run_cmd


@pytest.mark.parametrize("stage,name", [("preprocess", "manifest.json"), ("translate", "manifest.json"),
                                        ("simulate", "catalog.csv"), ("evaluate", "metrics.json")])
def test_file_record_must_be_written_by_the_step(stage, name, tmp_path):
    out = tmp_path / "out"
    argv = ["-c", "demo", f"{stage}.out={out}"]
    snap = snapshot(stage, argv)
    assert snap["record"] == str(out / name)
    ok, why = check(snap)
    assert not ok and "did not finish" in why  # nothing written: a step that never ran
    out.mkdir()
    (out / name).write_text("{}")
    assert check(snap)[0]  # written after the snapshot
    again = snapshot(stage, argv)  # the next run: the old record proves nothing
    ok, why = check(again)
    assert not ok and "the one from before this step" in why
    tmp = out / f".{name}.tmp"
    tmp.write_text("{}\n")
    os.replace(tmp, out / name)  # the stages rewrite it atomically: a new inode
    assert check(again)[0]


def test_training_record_is_the_checkpoint_of_train_iters(tmp_path):
    argv = ["-c", "demo", "train.iters=4", f"train.run_dir={tmp_path}"]
    snap = snapshot("step1", argv)
    assert snap == {"stage": "step1", "kind": "checkpoint", "run_dir": str(tmp_path / "ours-step1"), "iters": 4}
    ck = tmp_path / "ours-step1" / "checkpoints"
    ck.mkdir(parents=True)
    (ck / "ckpt-0000002.pt").write_bytes(b"x")
    (ck / "ckpt-0000002.pt.sha256").write_text("x")
    ok, why = check(snap)
    assert not ok and "iteration 4" in why  # stopped at 2 of 4 (e.g. the step that could not relaunch)
    (ck / "ckpt-0000004.pt").write_bytes(b"x")
    assert not check(snap)[0]  # no .sha256 yet: not complete
    (ck / "ckpt-0000004.pt.sha256").write_text("x")
    assert check(snap)[0]
    # --run-dir wins, as for the trainer
    assert snapshot("step2", ["-c", "demo", "--run-dir", str(tmp_path / "r")])["run_dir"] == str(tmp_path / "r")


def test_dry_run_and_check_stage_ask_for_no_record(tmp_path):
    assert check(snapshot("step1", ["-c", "demo", "--dry-run"])) == (True, "stage step1: no completion record to check")
    assert snapshot("check", [])["kind"] == "none"


def test_stale_chain_result_stops_before_the_step(tmp_path):
    """A result file naming a manifest that is gone (or a checkpoint) refuses, naming both."""
    res = tmp_path / "preprocess.json"
    res.write_text(json.dumps([{"name": "preprocess", "out_dir": str(tmp_path / "shards"), "extra": {}}]))
    with pytest.raises(ValueError, match="result of stage preprocess .* is stale: .*manifest.json is gone"):
        snapshot("step1", ["-c", "demo"], res)
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "manifest.json").write_text("{}")
    assert snapshot("step1", ["-c", "demo"], res)["kind"] == "checkpoint"
    res.write_text(json.dumps([{"name": "step1", "out_dir": "/r", "extra": {"checkpoint": "/r/ckpt-0000002.pt"}}]))
    p = run_cmd([*record_cmd(), "snapshot", "step2", "-c", "demo", "--after", str(res)], check=False)
    assert p.returncode == 1 and "its checkpoint /r/ckpt-0000002.pt is gone" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_cli_snapshot_then_check_and_config_error(tmp_path):
    out = tmp_path / "o"
    p = run_cmd([*record_cmd(), "snapshot", "preprocess", "--config", "demo", f"preprocess.out={out}",
                 "--result", str(tmp_path / "r.json")])
    snap = p.stdout.strip()
    assert json.loads(snap)["record"] == str(out / "manifest.json")
    p = run_cmd([*record_cmd(), "check", snap], check=False)
    assert p.returncode == 1 and "no " in p.stderr and "manifest.json" in p.stderr
    bad = run_cmd([*record_cmd(), "snapshot", "preprocess", "preprocess.nope=1"], check=False)
    assert bad.returncode == 2 and "preprocess.nope" in bad.stderr


def record_cmd() -> list[str]:
    import sys

    return [sys.executable, "-m", "hpcgan.launch.record"]


@pytest.mark.parametrize("rc,signal_seen,restart,want", [
    (0, "USR1", 0, False),               # finished anyway
    (75, None, 0, True),                 # stopped by USR1 sent to the tasks (submitit)
    (1, "USR1", 0, True),                # time-limit warning, stage without a handler
    (EXIT_NO_RECORD, "USR1", 0, True),   # exit 0 without its record after the warning: did not finish
    (EXIT_NO_RECORD, None, 0, False),    # exit 0 without its record: the step did not start
    (1, None, 0, False),                 # a failure
    (75, "TERM", 0, False),              # scancel / preemption reached the batch shell
    (EXIT_TERMINATED, None, 0, False),   # scancel -s TERM to the steps only: never requeued
    (130, None, 0, False),               # SIGINT
    (75, None, 20, False),               # HPCGAN_MAX_REQUEUE reached
])
def test_requeue_rule(rc, signal_seen, restart, want):
    yes, why = should_requeue(rc, signal_seen, restart, 20)
    assert yes is want and "\n" not in why


def test_stop_exit_codes():
    assert (stop_exit_code("SIGUSR1"), stop_exit_code("SIGTERM"), stop_exit_code("SIGINT"), stop_exit_code(None)) == \
        (75, 143, 130, 75)
    assert record.FILES["translate"] == "manifest.json"


def test_trainer_exits_143_on_sigterm(tmp_path, monkeypatch):
    """The real trainer: SIGTERM mid-run saves a checkpoint and exits 143 (not 75), so no launcher
    requeues it; the same command then resumes to the end (exit 0)."""
    import hpcgan.data.streams as ds
    from hpcgan.data.streams import TrainStreams
    from hpcgan.io import checkpoint as ckpt
    from hpcgan.train import cli as train_cli
    from tests.tiny_data import TINY, arrays

    class TermAt:
        def __init__(self, inner):
            self.inner = inner

        def iterate(self, start_iter=0):
            for i, b in enumerate(self.inner.iterate(start_iter), start_iter):
                if i == 1:
                    os.kill(os.getpid(), signal.SIGTERM)
                yield b

    calls = []

    def fake_build(cfg, rank=0, size=1, seed=0, streams=ds.STREAMS, allreduce_min=None):
        calls.append(1)
        inner = TrainStreams.from_arrays({k: v for k, v in arrays().items() if k in streams}, cfg, seed=seed)
        return TermAt(inner) if len(calls) == 1 else inner

    monkeypatch.setattr(ds, "build_train_streams", fake_build)
    args = ["--step", "1", *TINY, "train.iters=3", f"train.run_dir={tmp_path}"]
    assert train_cli.main(args) == EXIT_TERMINATED
    assert ckpt.latest(tmp_path / "ours-step1").name == "ckpt-0000002.pt"
    assert not should_requeue(EXIT_TERMINATED, None, 0, 20)[0]
    assert train_cli.main(args) == 0
    assert check(snapshot("step1", ["-c", "default", *TINY, "train.iters=3", f"train.run_dir={tmp_path}"]))[0]
