"""Non-finite guard: a run whose losses or gradients go nan/inf stops with one clear line and never
writes a checkpoint with non-finite tensors.

* The optimiser step of an update whose averaged gradients are non-finite is skipped by the
  distributed layer (:meth:`hpcgan.dist.Dist.step`), so the weights stay as they were.
* :meth:`NonFiniteGuard.check` (every iteration, every rank) counts iterations with any non-finite
  loss or gradient norm, decided over all ranks; at ``train.max_nonfinite_steps`` in a row it raises
  :class:`NonFiniteError` (``hpcgan train`` exits 65), naming the last good checkpoint.
* :meth:`NonFiniteGuard.check_state` (every rank, before each checkpoint) raises instead of saving a
  state with non-finite tensors (e.g. after a step at a learning rate that overflowed the weights).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch

from hpcgan.io import checkpoint as ckpt
from hpcgan.log import get_logger

log = get_logger(__name__)


class NonFiniteError(RuntimeError):
    """Training produced non-finite numbers; nothing non-finite was saved."""


def nonfinite_keys(vals: Mapping[str, Any]) -> list[str]:
    """Keys of an iteration's logged values (tensors or floats) that are nan or inf."""
    tensors = {k: v for k, v in vals.items() if isinstance(v, torch.Tensor)}
    bad = [k for k, v in vals.items() if isinstance(v, float) and not math.isfinite(v)]
    if tensors and not bool(torch.stack([torch.isfinite(v.detach()).all() for v in tensors.values()]).all()):
        bad += [k for k, v in tensors.items() if not bool(torch.isfinite(v).all())]
    return sorted(bad)


def _tensors(obj: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _tensors(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{prefix}[{i}]")


def nonfinite_tensors(state: Any) -> list[str]:
    """Dotted names of the floating-point tensors in ``state`` that hold a nan or inf."""
    return [k for k, t in _tensors(state) if t.is_floating_point() and not bool(torch.isfinite(t).all())]


class NonFiniteGuard:
    """Counts consecutive non-finite iterations (the same count on every rank) and refuses bad states."""

    def __init__(self, limit: int, d: Any, run_dir: str | Path):
        self.limit, self.d, self.run_dir = limit, d, Path(run_dir)
        self.streak = 0

    def _last_good(self) -> str:
        found = ckpt.latest(self.run_dir)
        if found is None:
            return "no checkpoint written yet; lower train.lr or check the data, then run again"
        return f"last good checkpoint {found}; lower train.lr or check the data, then run again to resume from it"

    def check(self, it: int, vals: Mapping[str, Any]) -> None:
        """After iteration ``it``: reset or extend the streak; raise at the limit."""
        bad = nonfinite_keys(vals)
        flag = float(bool(bad))
        if self.d.size > 1:  # one rank's non-finite loss counts for all, so all stop together
            flag = float(self.d.allreduce_mean(torch.tensor([flag])).item())
        if flag == 0.0:
            self.streak = 0
            return
        self.streak += 1
        what = (", ".join(bad[:4]) + (f", ... {len(bad)} in all" if len(bad) > 4 else "")) if bad else "on another rank"
        if self.streak >= self.limit:
            raise NonFiniteError(f"train: iteration {it}: non-finite values ({what}) in {self.streak} consecutive "
                                 f"iterations (train.max_nonfinite_steps={self.limit}): stopped without saving, "
                                 f"{self._last_good()}")
        log.warning("iteration %d: non-finite values (%s): optimiser steps with non-finite gradients skipped "
                    "(%d of train.max_nonfinite_steps=%d in a row)", it, what, self.streak, self.limit)

    def check_state(self, it: int, state: Any) -> None:
        """Before saving the checkpoint of iteration ``it``: raise if ``state`` holds non-finite tensors."""
        bad = nonfinite_tensors(state)
        if bad:
            raise NonFiniteError(f"train: iteration {it}: {len(bad)} tensor(s) of the state are non-finite "
                                 f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}): checkpoint not written, "
                                 f"{self._last_good()}")
