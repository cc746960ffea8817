"""Preprocess throughput: naive loop vs ours (1 and 2 MPI ranks) vs the I/O floor, plus loader speed.

Not a test. One run prints stamps/s and ratios side by side::

    .venv/bin/python benchmarks/preprocess.py --cache /tmp/hpcgan-bench --n-unpaired 20000

The simulated input (``--n-unpaired`` objects per survey, no paired objects) is generated once into
``CACHE/sim`` with ``mpirun -np 2 hpcgan simulate`` and reused (with ``--simulate K < n`` only K
are simulated and copied under new names up to n: the simulator renders ~50 stamps/s here); outputs go to ``CACHE/run`` and are
deleted after each variant. Variants, each over every stamp of both surveys:

- floor: read every input file's bytes, then write the same number of bytes into one h5py dataset
  in 256 MiB slices (no FITS parsing, no validation): what the disk and page cache allow;
- naive: one process, ``astropy.io.fits.open`` per file, stack the bands, append one stamp at a time
  to a resizable HDF5 dataset;
- ours 1 rank / 2 ranks: ``python -m preprocess`` (wall time of the whole command, start-up included).

The machine is shared: the figures are noisy, and the input sits in the page cache when it fits.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe"]


def ensure_sim(cache: Path, n: int, simulate_n: int) -> Path:
    """Catalog of ``n`` stamps per survey: ``simulate_n`` simulated ones, copied under new names up to ``n``."""
    sim = cache / "sim"
    cat = sim / "catalog.csv"
    if cat.is_file() and sum(1 for _ in open(cat)) - 1 >= 2 * n:
        return cat
    have = {s: sorted((sim / s / "unpaired").glob("*.fits")) if (sim / s / "unpaired").is_dir() else []
            for s in ("sdss", "cfht")}
    if min(len(v) for v in have.values()) < min(n, simulate_n):
        print(f"[bench] simulating {simulate_n} unpaired objects per survey into {sim} (once)", flush=True)
        subprocess.run([*MPIRUN, "-np", "2", PY, "-m", "hpcgan", "simulate", "--out", str(sim), "--n-paired", "0",
                        "--n-unpaired", str(simulate_n)], check=True, cwd=REPO)
        have = {s: sorted((sim / s / "unpaired").glob("*.fits")) for s in ("sdss", "cfht")}
    lines = ["object_id,survey,split,path,ra,dec"]
    for s, files in have.items():
        files = [f for f in files if not f.name.startswith("rep")][:n]
        k0 = len(files)
        if k0 < n:
            print(f"[bench] {s}: copying {k0} simulated stamps under new names up to {n}", flush=True)
        for i in range(n):
            src = files[i % k0]
            p = src if i < k0 else src.with_name(f"rep{i:06d}-{src.name}")
            if not p.exists():
                shutil.copyfile(src, p)
            lines.append(f"{s}-{i:06d},{s},unpaired,{p.relative_to(sim)},{(i * 0.01) % 360:.4f},0.0")
    cat.write_text("\n".join(lines) + "\n")
    return cat


def rows(cat: Path) -> list[dict]:
    with open(cat) as f:
        return list(csv.DictReader(f))


def floor(cat: Path, out: Path) -> float:
    import h5py

    files = [cat.parent / r["path"] for r in rows(cat)]
    total = sum(p.stat().st_size for p in files)
    t = time.perf_counter()
    buf = np.empty(256 << 20, np.uint8)
    with h5py.File(out / "floor.h5", "w") as f:
        ds = f.create_dataset("bytes", shape=(total,), dtype=np.uint8)
        pos, fill = 0, 0
        for p in files:
            with open(p, "rb") as fh:
                b = fh.read()
            if fill + len(b) > len(buf):
                ds[pos:pos + fill] = buf[:fill]
                pos, fill = pos + fill, 0
            buf[fill:fill + len(b)] = np.frombuffer(b, np.uint8)
            fill += len(b)
        ds[pos:pos + fill] = buf[:fill]
    os.sync()
    return time.perf_counter() - t


def naive(cat: Path, out: Path) -> float:
    import h5py
    from astropy.io import fits

    t = time.perf_counter()
    with h5py.File(out / "naive.h5", "w") as f:
        dsets = {}
        for r in rows(cat):
            with fits.open(cat.parent / r["path"]) as h:
                img = np.stack([h[b].data for b in "ugriz"]).astype(np.float32)
            d = dsets.get(r["survey"])
            if d is None:
                d = dsets[r["survey"]] = f.create_dataset(r["survey"], shape=(0, *img.shape),
                                                          maxshape=(None, *img.shape), chunks=(1, *img.shape),
                                                          dtype=np.float32)
            d.resize(d.shape[0] + 1, axis=0)
            d[-1] = img
    os.sync()
    return time.perf_counter() - t


def ours(cat: Path, out: Path, nranks: int) -> float:
    cmd = [PY, "-m", "preprocess", "--catalog", str(cat), "--out", str(out / "shards")]
    if nranks > 1:
        cmd = [*MPIRUN, "-np", str(nranks), *cmd]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.sync()
    return time.perf_counter() - t


def loader(out: Path, batch: int, n_batches: int) -> tuple[float, float]:
    """(batches/s, stamps/s) of TrainStreams over the x and y streams, 1 rank, no workers."""
    sys.path.insert(0, str(REPO))
    from hpcgan.config.schema import DataCfg
    from hpcgan.data import build_train_streams

    ts = build_train_streams(DataCfg(shards=str(out / "shards"), batch_size=batch), streams=("x", "y"))
    ts.batch(0)
    t = time.perf_counter()
    for i in range(1, n_batches + 1):
        ts.batch(i)
    dt = time.perf_counter() - t
    return n_batches / dt, n_batches * batch * 2 / dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/hpcgan-bench"))
    ap.add_argument("--n-unpaired", type=int, default=20000, help="stamps per survey")
    ap.add_argument("--simulate", type=int, default=20000,
                    help="simulate this many per survey, copy them under new names up to --n-unpaired")
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--loader-batches", type=int, default=100)
    a = ap.parse_args()
    cat = ensure_sim(a.cache, a.n_unpaired, a.simulate)
    n = len(rows(cat))
    mb = sum((cat.parent / r["path"]).stat().st_size for r in rows(cat)) / 1e6
    print(f"[bench] {n} stamps ({mb:.0f} MB of FITS) from {cat}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
          flush=True)
    work = a.cache / "run"
    times = {}
    variants = [("floor", lambda: floor(cat, work)), ("ours 1 rank", lambda: ours(cat, work, 1)),
                ("ours 2 ranks", lambda: ours(cat, work, 2))]
    if not a.skip_naive:
        variants.append(("naive", lambda: naive(cat, work)))
    loader_fig = None
    for name, fn in variants:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        times[name] = fn()
        print(f"[bench] {name}: {times[name]:.1f} s, {n / times[name]:.0f} stamps/s (load {os.getloadavg()[0]:.1f})",
              flush=True)
        if name == "ours 2 ranks":
            loader_fig = loader(work, 24, a.loader_batches)
    shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'variant':<14}{'seconds':>9}{'stamps/s':>10}{'vs floor':>10}{'vs naive':>10}{'vs 1 rank':>11}")
    for name, t in times.items():
        vf = t / times["floor"]
        vn = times["naive"] / t if "naive" in times else float("nan")
        v1 = times["ours 1 rank"] / t
        print(f"{name:<14}{t:>9.1f}{n / t:>10.0f}{vf:>9.2f}x{vn:>9.2f}x{v1:>10.2f}x")
    print("(vs floor: time / floor time, lower is better; vs naive and vs 1 rank: speed-up, higher is better)")
    if loader_fig:
        bps, sps = loader_fig
        print(f"\nloader (x + y streams, batch 24 each, 1 process, no workers): {bps:.1f} batches/s, {sps:.0f} stamps/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
