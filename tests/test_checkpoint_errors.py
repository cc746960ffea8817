"""Unusable checkpoints give one CheckpointError line in train and translate (issue 15 item 8): a text
file, a valid checksum over missing keys or bad embedded YAML, networks that do not fit, and a committed
checkpoint that fails its checksum (the message says what to do)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from hpcgan.io import checkpoint as ckpt
from hpcgan.train.trainer import run, train
from hpcgan.translate.model import Translator
from tests.conftest import hpcgan_cmd, run_cmd
from tests.test_train import streams_for, tiny_cfg

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def step2(tmp_path_factory) -> tuple[Path, object]:
    """A tiny generator-only run (variant no_noise, 2 iterations): checkpoints at 1 and 2."""
    d = tmp_path_factory.mktemp("ck")
    cfg = tiny_cfg(d, "train.variant=no_noise", "train.step=2", "train.iters=2", "train.ckpt_every=1")
    return train(cfg, streams=streams_for(cfg)), cfg


def hand_made(tmp_path: Path, src: Path, edit) -> Path:
    """A copy of checkpoint ``src`` with ``edit(state)`` applied and a valid checksum."""
    state = torch.load(src, weights_only=True)
    edit(state)
    return ckpt.save(ckpt.ckpt_path(tmp_path / "hand", 1), state)


def one_line(e: pytest.ExceptionInfo, path: Path, *parts: str) -> None:
    msg = str(e.value)
    assert msg.startswith(f"checkpoint {path}: ") and "\n" not in msg, msg
    for p in parts:
        assert p in msg, msg


def test_text_file_is_not_a_checkpoint(tmp_path):
    txt = tmp_path / "notes.txt"
    txt.write_text("step 2 finished fine\n")
    with pytest.raises(ckpt.CheckpointError) as e:
        Translator(txt, "x2y", CPU)
    one_line(e, txt, "not a checkpoint (a text file;")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(ckpt.CheckpointError, match=r"not a checkpoint \(empty file"):
        ckpt.load(empty)
    p = run_cmd(hpcgan_cmd("translate", "--checkpoint", str(txt), "translate.device=cpu",
                           f"translate.out={tmp_path / 'out'}"), check=False)
    assert p.returncode == 1 and "not a checkpoint (a text file" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


@pytest.mark.parametrize("edit,parts", [
    (lambda s: s.pop("nets"), ["incomplete hpcgan checkpoint: missing nets"]),
    (lambda s: (s.pop("rng"), s.update(iteration="2")), ["missing rng", "iteration is str, not int"]),
    (lambda s: s.update(config_yaml="model: [1,\n  width: 2\n"), ["embedded config_yaml: config_yaml:", "invalid YAML"]),
    (lambda s: s.update(config_yaml="- just\n- a list\n"), ["embedded config_yaml is list, not a mapping"]),
])
def test_valid_checksum_bad_content_one_line_in_translate_and_train(tmp_path, step2, edit, parts):
    rd, cfg = step2
    bad = hand_made(tmp_path, ckpt.latest(rd), edit)
    with pytest.raises(ckpt.CheckpointError) as e:
        Translator(bad, "x2y", CPU)
    one_line(e, bad, *parts)
    with pytest.raises(ckpt.CheckpointError) as e:
        run(cfg, bad.parents[1], streams=streams_for(cfg))  # resume from it
    one_line(e, bad, *parts)


def test_embedded_config_or_nets_that_do_not_fit(tmp_path, step2):
    rd, cfg = step2
    bad = hand_made(tmp_path, ckpt.latest(rd), lambda s: s.update(config_yaml="model:\n  widht: 1\n"))
    with pytest.raises(ckpt.CheckpointError) as e:
        Translator(bad, "x2y", CPU)
    one_line(e, bad, "its embedded config is invalid: model.widht: unknown key")

    def drop_weight(s):
        s["nets"]["g_xy"].pop(next(iter(s["nets"]["g_xy"])))
        s["optims"].pop("gen")

    bad = hand_made(tmp_path / "2", ckpt.latest(rd), drop_weight)
    with pytest.raises(ckpt.CheckpointError) as e:
        Translator(bad, "x2y", CPU)
    one_line(e, bad, "nets.g_xy does not fit the model of its embedded config: ", "Missing key(s)")
    with pytest.raises(ckpt.CheckpointError) as e:
        run(cfg, bad.parents[1], streams=streams_for(cfg))
    one_line(e, bad, "cannot resume: its state does not fit this run: ")


def test_corrupt_committed_checkpoint_says_what_to_do(tmp_path, step2):
    rd, cfg = step2
    import shutil

    work = tmp_path / "run"
    shutil.copytree(rd, work)
    newest = ckpt.latest(work)
    raw = bytearray(newest.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    newest.write_bytes(bytes(raw))
    with pytest.raises(ckpt.CheckpointError) as e:
        run(cfg, work, streams=streams_for(cfg))
    previous = ckpt.ckpt_path(work, 1)
    one_line(e, newest, "corrupt (SHA-256", f"remove it and {newest.name}.sha256 to fall back to the previous one, "
             f"{previous}", "translate --checkpoint, train.init_from")
    newest.unlink()
    Path(str(newest) + ".sha256").unlink()
    assert ckpt.latest(work) == previous  # what the message promised: the run resumes from it
    ckpt.load(previous)
    # no older one: say so
    only = tmp_path / "only" / "ckpt-0000001.pt"
    only.parent.mkdir()
    only.write_bytes(previous.read_bytes() + b"x")
    Path(str(only) + ".sha256").write_text(hashlib.sha256(previous.read_bytes()).hexdigest() + "\n")
    with pytest.raises(ckpt.CheckpointError, match="no other complete checkpoint in .*restore it from a copy"):
        ckpt.load(only)
