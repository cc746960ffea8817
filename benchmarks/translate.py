"""Bulk translation throughput (stamps/s), batch sizes side by side.

    python benchmarks/translate.py                          # CPU, paper width 1.0, 256 stamps, batches 16,64,256
    python benchmarks/translate.py --n 1024 --batch-sizes 64,256,1024 --device cuda

Builds a random-weight checkpoint at ``--width`` (the throughput does not depend on the weights) and
``--n`` synthetic 64x64 SDSS-like stamps written as one shard, then runs the whole stage
(:func:`hpcgan.translate.run.run`: shard read, G_xy, seeded NE noise, inverse transform, pwrite,
fsync + commit per batch, finalize, manifest) once per batch size into a fresh folder. Prints a
Markdown table: end-to-end stamps/s and forward-only stamps/s (``Translator.model_space`` on
in-memory batches, noise draws included).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpcgan.config import dump_config, load_config  # noqa: E402
from hpcgan.dist.comm import Comm  # noqa: E402
from hpcgan.io import checkpoint as ckpt  # noqa: E402
from hpcgan.models import build  # noqa: E402
from hpcgan.translate.model import Translator  # noqa: E402
from hpcgan.translate.run import run  # noqa: E402


def make_checkpoint(root: Path, width: float) -> Path:
    cfg = load_config("default", [f"model.width={width}"])
    nets = {"g_xy": build("generator", cfg.model, direction="xy").state_dict(),
            "ne_y": build("noise_emulator", cfg.model, impl="torch").state_dict()}
    state = ckpt.make_state(1, "ours-step2", cfg, {"nets": nets, "optims": {}, "scheds": {}}, dump_config(cfg))
    return ckpt.save(ckpt.ckpt_path(root / "run", 1), state)


def make_shard(root: Path, n: int, size: int = 64) -> None:
    """``n`` exponential discs + noise in nanomaggy-like units, one shard in the preprocess format."""
    import h5py

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    r = np.hypot(xx, yy)
    d = root / "shards" / "sdss" / "paired-test"
    d.mkdir(parents=True)
    with h5py.File(d / "part-0-of-1.h5", "w") as f:
        img = f.create_dataset("images", (n, 5, size, size), "<f4", chunks=(1, 5, size, size))
        for i in range(0, n, 64):
            m = min(64, n - i)
            h = rng.uniform(1.5, 6, (m, 1, 1, 1))
            img[i:i + m] = (rng.uniform(10, 300, (m, 5, 1, 1)) * np.exp(-r / h) / (2 * np.pi * h * h)
                            + rng.normal(0, 0.05, (m, 5, size, size))).astype(np.float32)
        f["object_id"] = np.array([f"b{i:07d}" for i in range(n)], dtype=object)
        f["ra"], f["dec"] = rng.uniform(0, 360, n), rng.uniform(-10, 10, n)
        f["catalog_row"] = np.arange(1, n + 1)
        f.attrs["stamp_shape"] = [5, size, size]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--batch-sizes", default="16,64,256")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--realisations", type=int, default=1)
    a = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="hpcgan-bench-translate-"))
    try:
        path = make_checkpoint(tmp, a.width)
        make_shard(tmp, a.n)
        tr = Translator(path, "x2y", torch.device(a.device), "auto")
        x = torch.randn(max(int(b) for b in a.batch_sizes.split(",")), 5, 64, 64)
        rows = []
        for bs in (int(b) for b in a.batch_sizes.split(",")):
            tr.model_space(x[:bs], [str(i) for i in range(bs)], range(a.realisations), 0)  # warm-up
            t0 = time.perf_counter()
            done = 0
            while done < a.n:
                m = min(bs, a.n - done)
                tr.model_space(x[:m], [str(done + i) for i in range(m)], range(a.realisations), 0)
                done += m
            fwd = a.n / (time.perf_counter() - t0)
            cfg = load_config("default", [f"data.shards={tmp / 'shards'}", f"translate.checkpoint={path}",
                                          f"translate.out={tmp / f'out{bs}'}", f"translate.batch_size={bs}",
                                          f"translate.device={a.device}", f"translate.n_realisations={a.realisations}"])
            t0 = time.perf_counter()
            run(cfg, Comm())
            e2e = a.n / (time.perf_counter() - t0)
            m = json.loads((tmp / f"out{bs}" / "manifest.json").read_text())
            assert m["translated"] == a.n
            rows.append((bs, e2e, fwd))
            print(f"batch {bs}: end-to-end {e2e:.2f} stamps/s, forward {fwd:.2f} stamps/s", file=sys.stderr, flush=True)
        print(f"\n{a.n} stamps 64x64 -> 136x136, width {a.width}, {a.realisations} realisation(s), device {a.device}, "
              f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs\n")
        print("| batch | end-to-end stamps/s | forward-only stamps/s |\n| ---: | ---: | ---: |")
        for bs, e2e, fwd in rows:
            print(f"| {bs} | {e2e:.2f} | {fwd:.2f} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
