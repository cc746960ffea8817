"""Per-rank memory and speed of the catalog + planning phase of preprocess (#20 item 8). Not a test::

    .venv/bin/python benchmarks/catalog_plan.py --rows 50000 500000 10000000 --ranks 2

For each size a simulated-style catalog (``object_id,survey,split,path,ra,dec``; half X, half Y;
40% unpaired, 60% paired-train/-test with both surveys; paths like ``sdss/paired-train/p0000000.fits``,
no files: each planning ``stat`` finds none) is written to ``--work`` and deleted after. Then
``mpirun -np RANKS`` runs, per rank, only the catalog and planning phase of ``preprocess``
(``preprocess.plan.build``: scan, duplicates, jobs, weights with the ``stat`` of each file under
``read_timeout_s``, partition, the own rows' strings) in a process that has imported the stage
(``preprocess.run``: astropy, h5py...), and prints its RSS after the imports, its peak RSS
(``ru_maxrss``), wall time and rows/s. ``--inmemory`` adds the in-memory plan (``read_catalog`` + ``plan_jobs``, all rows
on every rank, what preprocess did before) for comparison, at the sizes up to ``--inmemory-max``.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe"]
CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import preprocess.run  # what the stage's process holds before it plans (astropy, h5py, ...)
from hpcgan.dist.comm import get_comm
comm = get_comm()
start_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
cat, mode, timeout = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
bands = {"sdss": tuple("ugriz"), "cfht": tuple("ugriz")}
t0 = time.perf_counter()
if mode == "streamed":
    from preprocess.plan import build
    plan, parts = build(cat, str(cat.parent), ("sdss", "cfht"), bands, timeout, comm)
    held = len(plan.own_rows)
else:
    from preprocess.catalog import plan_jobs, read_catalog
    rows, rejects, seen = read_catalog(cat, cat.parent, ("sdss", "cfht"))
    jobs, _ = plan_jobs(rows, ("sdss", "cfht"))
    held = len(rows)
dt = time.perf_counter() - t0
out = {"rank": comm.rank, "start_rss_mb": start_mb,
       "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
       "seconds": round(dt, 1), "rows_held": held}
print("RESULT", json.dumps(out), flush=True)
"""


def write_catalog(path: Path, n: int, seed: int = 0) -> None:
    """``n`` rows: unpaired X and Y, paired-train/-test pairs (both surveys), in chunks."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        f.write("object_id,survey,split,path,ra,dec\n")
        n_pairs = int(n * 0.3)  # 60% of rows in pairs
        n_un = n - 2 * n_pairs
        chunk = 500_000
        for s in ("sdss", "cfht"):
            for lo in range(0, n_un // 2 + (n_un % 2 if s == "sdss" else 0), chunk):
                hi = min(lo + chunk, n_un // 2 + (n_un % 2 if s == "sdss" else 0))
                ra, dec = rng.uniform(0, 360, hi - lo), rng.uniform(-60, 60, hi - lo)
                f.writelines(f"{s}-u{k:08d},{s},unpaired,{s}/unpaired/{s}-u{k:08d}.fits,{r:.6f},{d:.6f}\n"
                             for k, r, d in zip(range(lo, hi), ra, dec))
            for lo in range(0, n_pairs, chunk):
                hi = min(lo + chunk, n_pairs)
                ra, dec = rng.uniform(0, 360, hi - lo), rng.uniform(-60, 60, hi - lo)
                f.writelines(f"p{k:08d},{s},{'paired-train' if k % 2 else 'paired-test'},"
                             f"{s}/paired/p{k:08d}.fits,{r:.6f},{d:.6f}\n" for k, r, d in zip(range(lo, hi), ra, dec))


def run(cat: Path, ranks: int, mode: str, timeout: float) -> list[dict]:
    p = subprocess.run([*MPIRUN, "-np", str(ranks), sys.executable, "-c", CHILD, str(cat), mode, str(timeout)],
                       cwd=REPO, capture_output=True, text=True)
    res = [json.loads(m) for m in re.findall(r"RESULT (\{[^}]*\})", p.stdout)]  # ranks' lines may interleave
    if p.returncode or len(res) != ranks:
        raise SystemExit(f"{mode} failed (rc {p.returncode}): {p.stderr[-2000:]}")
    return sorted(res, key=lambda r: r["rank"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[50_000, 500_000])
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/hpcgan-bench-catalog"))
    ap.add_argument("--timeout", type=float, default=30.0, help="preprocess.read_timeout_s for the planning stats")
    ap.add_argument("--inmemory", action="store_true")
    ap.add_argument("--inmemory-max", type=int, default=500_000)
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    try:
        for n in a.rows:
            cat = a.work / f"catalog-{n}.csv"
            t0 = time.perf_counter()
            write_catalog(cat, n)
            mb = cat.stat().st_size / 2 ** 20
            print(f"# {n} rows, {mb:.0f} MB CSV, written in {time.perf_counter() - t0:.0f} s", flush=True)
            modes = ["streamed"] + (["in-memory"] if a.inmemory and n <= a.inmemory_max else [])
            for mode in modes:
                res = run(cat, a.ranks, mode, a.timeout)
                worst = max(r["seconds"] for r in res)
                print(json.dumps({"rows": n, "mode": mode, "ranks": a.ranks,
                                  "start_rss_mb": [r["start_rss_mb"] for r in res],
                                  "peak_rss_mb": [r["peak_rss_mb"] for r in res], "seconds": worst,
                                  "rows_per_s": round(n / worst), "rows_held": [r["rows_held"] for r in res]}),
                      flush=True)
            cat.unlink()
    finally:
        shutil.rmtree(a.work, ignore_errors=True)


if __name__ == "__main__":
    main()
