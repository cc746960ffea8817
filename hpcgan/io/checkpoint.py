"""Checkpoints: atomic, checksummed, ``torch.load(weights_only=True)``-safe; auto-resume; keep last K.

Layout under a run dir::

    checkpoints/ckpt-0000030.pt          the state (below), written to a temp name then renamed
    checkpoints/ckpt-0000030.pt.sha256   SHA-256 of the .pt bytes, written after it

State (only tensors and primitive containers)::

    format_version  1
    iteration       iterations completed (the next one to run)
    phase           "ours-step1", "ours-step2", "auto", ...
    config_hash     hash of the whole resolved config (provenance)
    config_yaml     the resolved config of the run (resume compares it key by key)
    nets            {prefix: state_dict}        (ae_x, ne_y, d_x, g_xy, ...)
    optims          {unit: optimizer state_dict}
    scheds          {unit: scheduler state_dict}
    rng             {torch, cuda, numpy, python}

A checkpoint whose bytes do not match its checksum (the message names the previous checkpoint to
fall back to), that is not a torch archive at all, that torch cannot read, that lacks a key of the
state above or whose ``config_yaml`` is not a YAML mapping, or whose config differs from the run's
in a key that may not change on resume raises :class:`CheckpointError`: one line naming the file and
the reason (the keys).
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from hpcgan.config.integrity import resume_changes
from hpcgan.config.loader import ConfigError, config_hash, yaml_problem
from hpcgan.utils.atomic import atomic_path, atomic_write_text, sha256_file

CHECKPOINT_VERSION = 1  # the checkpoint's format version (its state's format_version)
CKPT_RE = re.compile(r"^ckpt-(\d{7,})\.pt$")
ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive
# the state's keys and types (format 1), checked by load()
REQUIRED = {"iteration": int, "phase": str, "config_hash": str, "config_yaml": str, "nets": dict, "optims": dict,
            "scheds": dict, "rng": dict}


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: corrupt, unreadable, or from a different configuration."""


# ---- RNG ----------------------------------------------------------------------------------------
def rng_state() -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, pystate, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": int(version), "state": torch.tensor(pystate, dtype=torch.int64), "gauss": gauss},
    }


def set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    if s.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])
    n = s["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = s["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))


# ---- files --------------------------------------------------------------------------------------
def ckpt_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def ckpt_path(run_dir: str | Path, iteration: int) -> Path:
    return ckpt_dir(run_dir) / f"ckpt-{iteration:07d}.pt"


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (a .pt with its .sha256) in ``run_dir/checkpoints``, oldest first."""
    return _complete(ckpt_dir(run_dir))


def _complete(d: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints in folder ``d``, oldest first."""
    if not d.is_dir():
        return []
    out = []
    for p in d.iterdir():
        m = CKPT_RE.match(p.name)
        if m and Path(str(p) + ".sha256").is_file():
            out.append((int(m.group(1)), p))
    return sorted(out)


def latest(run_dir: str | Path) -> Path | None:
    cks = list_checkpoints(run_dir)
    return cks[-1][1] if cks else None


def checkpoint_sha256(path: str | Path) -> str:
    """The SHA-256 recorded beside a checkpoint (verified by :func:`load`)."""
    return Path(str(path) + ".sha256").read_text().split()[0]


def save(path: str | Path, state: dict) -> Path:
    """Write ``state`` atomically (temp + rename), then its SHA-256 beside it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
        digest = sha256_file(tmp)
    atomic_write_text(Path(str(path) + ".sha256"), f"{digest}  {path.name}\n")
    return path


def prune(run_dir: str | Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints."""
    for _, p in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        Path(str(p) + ".sha256").unlink(missing_ok=True)
        p.unlink(missing_ok=True)


def load(path: str | Path) -> dict:
    """Verify the checksum (if it is there: a committed checkpoint that fails it is "corrupt"), that the file
    is a torch archive at all, then ``torch.load(weights_only=True)`` on CPU and the state's keys."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    sha = Path(str(path) + ".sha256")
    if sha.is_file():
        want = sha.read_text().split()[0] if sha.read_text().strip() else ""
        got = sha256_file(path)
        if got != want:
            raise CheckpointError(f"checkpoint {path}: corrupt (SHA-256 {got[:12]}... does not match "
                                  f"{sha.name} {want[:12]}...): {_fallback_hint(path)}")
    with open(path, "rb") as f:
        head = f.read(len(ZIP_MAGIC))
    if head != ZIP_MAGIC:
        raise CheckpointError(f"checkpoint {path}: not a checkpoint ({_what_it_is(path, head)}; hpcgan checkpoints "
                              "are torch archives checkpoints/ckpt-NNNNNNN.pt with a .sha256 beside)")
    if not sha.is_file():
        raise CheckpointError(f"checkpoint {path}: checksum file {sha.name} is missing (incomplete write?)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling error means an unusable file
        raise CheckpointError(f"checkpoint {path}: cannot be read: {type(e).__name__}: {e}") from None
    if not isinstance(state, dict) or state.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {path}: not an hpcgan checkpoint of format {CHECKPOINT_VERSION}")
    _check_state(state, path)
    return state


def _what_it_is(path: Path, head: bytes) -> str:
    if not head:
        return "empty file"
    try:
        path.read_bytes()[:4096].decode("utf-8")
        return "a text file"
    except UnicodeDecodeError:
        return f"starts with {head!r}, not a torch zip archive"


def _fallback_hint(path: Path) -> str:
    """What to do about a committed checkpoint that fails its checksum."""
    older = [p for _, p in _complete(path.parent) if p != path]
    if older:
        return (f"remove it and {path.name}.sha256 to fall back to the previous one, {older[-1]} (training "
                "resumes from the newest complete checkpoint of its run dir), or name another checkpoint file "
                "(translate --checkpoint, train.init_from)")
    return (f"no other complete checkpoint in {path.parent}: restore it from a copy, or remove it and its "
            ".sha256 to start the run afresh")


def _check_state(state: dict, path: Path) -> None:
    """The keys and types of :data:`REQUIRED`, ``nets`` as {prefix: state_dict}, ``config_yaml`` a YAML mapping."""
    missing = [k for k in REQUIRED if k not in state]
    wrong = [f"{k} is {type(state[k]).__name__}, not {t.__name__}" for k, t in REQUIRED.items()
             if k in state and not isinstance(state[k], t)]
    wrong += [f"nets.{k} is {type(v).__name__}, not a state_dict" for k, v in state.get("nets", {}).items()
              if isinstance(state.get("nets"), dict) and not isinstance(v, dict)]
    if missing or wrong:
        raise CheckpointError(f"checkpoint {path}: incomplete hpcgan checkpoint: "
                              + "; ".join(([f"missing {', '.join(missing)}"] if missing else []) + wrong))
    try:
        cfg = yaml.safe_load(state["config_yaml"])
    except yaml.YAMLError as e:
        raise CheckpointError(f"checkpoint {path}: embedded config_yaml: {yaml_problem('config_yaml', e)}") from None
    if not isinstance(cfg, dict):
        raise CheckpointError(f"checkpoint {path}: embedded config_yaml is {type(cfg).__name__}, not a mapping "
                              "of config sections")


def check_config(state: dict, cfg, path: str | Path, ignored: frozenset[str] = frozenset()) -> list[tuple[str, Any, Any]]:
    """The changes of this run's resolved config against the checkpoint's that may be resumed with
    (:func:`hpcgan.config.integrity.resume_changes`; ``ignored``: the knobs this run does not read);
    any other change refuses, naming the keys."""
    try:
        return resume_changes(yaml.safe_load(state["config_yaml"]), cfg, ignored)
    except ConfigError as e:
        raise CheckpointError(f"checkpoint {path}: cannot resume: {e}") from None


def resolve(path_or_dir: str | Path) -> Path:
    """A checkpoint file, or the latest checkpoint of a run dir."""
    p = Path(path_or_dir)
    if p.is_file():
        return p
    if p.is_dir():
        found = latest(p)
        if found is None:
            raise CheckpointError(f"checkpoint: run dir {p} holds no complete checkpoint under {ckpt_dir(p)}")
        return found
    raise CheckpointError(f"checkpoint: {p} is neither a checkpoint file nor a run dir")


def make_state(iteration: int, phase_name: str, cfg, phase_state: dict, config_yaml: str) -> dict[str, Any]:
    return {"format_version": CHECKPOINT_VERSION, "iteration": int(iteration), "phase": phase_name,
            "config_hash": config_hash(cfg), "config_yaml": config_yaml, **phase_state, "rng": rng_state()}
