"""Training metrics: one JSON line per ``train.log_every`` iterations in ``run_dir/metrics.jsonl``
(means over the interval of losses and grad norms, lr, images/s, it/s), and optionally TensorBoard
(``train.tensorboard``; skipped with a warning when the package is absent). Main rank only.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from hpcgan.log import get_logger

log = get_logger(__name__)


class MeanAccumulator:
    """Sums scalars (tensors stay on device until ``means``: no sync per iteration)."""

    def __init__(self) -> None:
        self.sums: dict[str, Any] = {}
        self.n = 0

    def add(self, values: dict[str, Any]) -> None:
        for k, v in values.items():
            v = v.detach().float() if isinstance(v, torch.Tensor) else float(v)
            self.sums[k] = self.sums[k] + v if k in self.sums else v
        self.n += 1

    def means(self, d=None) -> dict[str, float]:
        """Means over the interval (and over ranks with ``d.allreduce_mean``); resets."""
        if not self.sums or self.n == 0:
            return {}
        keys = sorted(self.sums)
        vec = torch.stack([torch.as_tensor(self.sums[k], dtype=torch.float32).cpu() for k in keys]) / self.n
        if d is not None and d.size > 1:
            vec = d.allreduce_mean(vec)
        self.sums, self.n = {}, 0
        return {k: float(v) for k, v in zip(keys, vec.tolist())}


class MetricsWriter:
    def __init__(self, run_dir: str | Path, enabled: bool = True, tensorboard: bool = False):
        self.enabled = enabled
        self.path = Path(run_dir) / "metrics.jsonl"
        self.tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.tb = SummaryWriter(str(Path(run_dir) / "tb"))
            except ImportError:
                log.warning("train.tensorboard: tensorboard is not installed; writing metrics.jsonl only")

    def write(self, iteration: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        rec = {"iter": int(iteration), "time": round(time.time(), 3), **values}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, v, iteration)
            self.tb.flush()

    def truncate_after(self, iteration: int) -> None:
        """Drop lines with ``iter > iteration`` (on resume: they will be logged again)."""
        if not self.enabled or not self.path.is_file():
            return
        from hpcgan.utils.atomic import atomic_write_text

        lines = self.path.read_text().splitlines()
        keep = [ln for ln in lines if ln.strip() and json.loads(ln).get("iter", 0) <= iteration]
        if len(keep) != len(lines):
            atomic_write_text(self.path, "".join(ln + "\n" for ln in keep))

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
