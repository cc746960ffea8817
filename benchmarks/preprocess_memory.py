"""Per-rank peak RSS of a whole preprocess run against the catalog's size (#20 item 8). Not a test::

    .venv/bin/python benchmarks/preprocess_memory.py --rows 50000 500000 --ranks 2

Input (in ``--work``, deleted after): ``--distinct`` small 5-band MEF stamps on the model grid
(``--size`` px, default 8, so the shards stay small), hard-linked under one name per catalog row
(unpaired SDSS rows, all at the stamps' position; sky-subtracted noise, so every row is accepted and
written). Each size runs ``mpirun -np RANKS python -m preprocess`` with every rank printing its own
peak RSS (``ru_maxrss``) at exit, and the wall time.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe"]
WRAP = ("import json, resource, runpy, sys; from hpcgan.dist.comm import get_comm\n"
        "sys.argv = ['preprocess'] + sys.argv[1:]\n"
        "try:\n    runpy.run_module('preprocess', run_name='__main__')\n"
        "finally:\n    print('RSS', json.dumps({'rank': get_comm().rank, "
        "'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}), flush=True)")


def stamps(folder: Path, n: int, size: int, scale: float) -> list[Path]:
    from astropy.io import fits

    from hpcgan.io.grid import wcs_cards
    rng = np.random.default_rng(0)
    out = []
    for k in range(n):
        hdus = [fits.PrimaryHDU()] + [fits.ImageHDU(rng.normal(0, 0.1, (size, size)).astype(np.float32),
                                                    fits.Header([("EXTNAME", b), *wcs_cards(150.0, 2.0, size, scale),
                                                                 ("BUNIT", "nanomaggy"), ("MAGZP", 22.5)]))
                                      for b in "ugriz"]
        p = folder / f"s{k}.fits"
        fits.HDUList(hdus).writeto(p)
        out.append(p)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--size", type=int, default=8)
    ap.add_argument("--distinct", type=int, default=200)
    ap.add_argument("--work", type=Path, default=Path("/tmp/hpcgan-bench-prepmem"))
    a = ap.parse_args()
    scale = 0.396
    shutil.rmtree(a.work, ignore_errors=True)
    (a.work / "src").mkdir(parents=True)
    try:
        src = stamps(a.work / "src", a.distinct, a.size, scale)
        for n in a.rows:
            d = a.work / f"rows-{n}"
            (d / "st").mkdir(parents=True)
            with open(d / "catalog.csv", "w") as f:
                f.write("object_id,survey,split,path,ra,dec\n")
                for k in range(n):
                    os.link(src[k % len(src)], d / "st" / f"o{k:08d}.fits")
                    f.write(f"o{k:08d},sdss,unpaired,st/o{k:08d}.fits,150.0,2.0\n")
            t0 = time.perf_counter()
            p = subprocess.run([*MPIRUN, "-np", str(a.ranks), sys.executable, "-c", WRAP,
                                f"preprocess.catalog={d / 'catalog.csv'}", f"preprocess.out={d / 'out'}",
                                f"data.x.stamp_size={a.size}", f"data.x.pixel_scale={scale}"],
                               cwd=REPO, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            rss = sorted((json.loads(m) for m in re.findall(r"RSS (\{[^}]*\})", p.stdout)), key=lambda r: r["rank"])
            m = json.loads((d / "out/manifest.json").read_text()) if (d / "out/manifest.json").is_file() else {}
            print(json.dumps({"rows": n, "rc": p.returncode, "ranks": a.ranks, "peak_rss_mb": [r["peak_rss_mb"] for r in rss],
                              "seconds": round(wall, 1), "stamps_per_s": round(n / wall), "accepted": m.get("accepted")}),
                  flush=True)
            if p.returncode or m.get("accepted") != n:  # a quarantined row is not written: no measure of the writer
                print(p.stderr[-2000:])
            shutil.rmtree(d)
    finally:
        shutil.rmtree(a.work, ignore_errors=True)


if __name__ == "__main__":
    main()
