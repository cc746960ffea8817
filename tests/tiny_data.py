"""Tiny training data, config and a one-part shard writer shared by the tests (test_train, test_learning,
test_evaluate_truth, dist_scripts/train_equiv):
16 <-> 40 px stamps, width 0.125, CPU, batch 2 per stream."""
from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

IMPL = os.environ.get("HPCGAN_TEST_KERNELS", "torch")
BATCH = 2
TINY = ["data.x.stamp_size=16", "data.y.stamp_size=40", f"data.batch_size={BATCH}", "model.width=0.125",
        f"kernels.impl={IMPL}", "train.device=cpu", "train.log_every=1", "train.sample_every=0",
        "train.ckpt_every=1000",
        "data.holdout_pairs=0", "train.fit_gain=false"]  # arrays() has 4 pairs; the gain fit reads shards


def arrays(seed: int = 0, n: int = 8) -> dict[str, np.ndarray]:
    """Small galaxy-like stamps in survey units: a Gaussian blob plus noise (CFHT 1000x brighter)."""
    rng = np.random.default_rng(seed)

    def stamps(s, scale):
        yy, xx = np.mgrid[:s, :s] - (s - 1) / 2
        blob = np.exp(-(xx ** 2 + yy ** 2) / (2 * (s / 8) ** 2))
        amp = rng.uniform(5, 20, (n, 5, 1, 1))
        return ((amp * blob + rng.normal(0, 0.5, (n, 5, s, s))) * scale).astype(np.float32)

    x, y = stamps(16, 1.0), stamps(40, 1000.0)
    return {"x": x, "y": y, "xp": x[: n // 2].copy(), "yp": y[: n // 2].copy()}


class RowSlice:
    """Rank ``rank`` of ``size``'s share of a global stream: rows ``[rank*B, (rank+1)*B)`` of every batch
    of ``inner`` (whose batches hold ``size * B`` rows). With ``size=1`` it is ``inner`` itself, so one
    process on the concatenated batch and W ranks see exactly the same samples. ``dtype``: cast the rows
    (float64 for equivalence tests)."""

    def __init__(self, inner, rank: int = 0, size: int = 1, dtype=None):
        self.inner, self.rank, self.size, self.dtype = inner, rank, size, dtype

    def iterate(self, start_iter: int = 0):
        for b in self.inner.iterate(start_iter):
            out = {}
            for k, v in b.items():
                if len(v) % self.size:
                    raise ValueError(f"stream {k}: {len(v)} rows do not split over {self.size} ranks")
                per = len(v) // self.size
                v = v[self.rank * per:(self.rank + 1) * per]
                out[k] = v if self.dtype is None else v.to(self.dtype)
            yield out


def write_shard(folder: Path, images: np.ndarray, ids: list[str], psf_fwhm: np.ndarray | None = None) -> None:
    """A one-part shard set in the docs/formats.md layout (the datasets evaluate and validation read;
    ``psf_fwhm`` (N, C) arcsec, the per-stamp seeing, when given)."""
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / "part-0-of-1.h5", "w") as f:
        f.create_dataset("images", data=images.astype(np.float32), chunks=(1, *images.shape[1:]))
        f.create_dataset("object_id", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
        if psf_fwhm is not None:
            f.create_dataset("psf_fwhm", data=np.asarray(psf_fwhm, np.float32))
        f.attrs["stamp_shape"] = images.shape[1:]


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The records of a run's metrics.jsonl (hpcgan.train.metrics.MetricsWriter), [] when it has none."""
    p = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.is_file() else []
