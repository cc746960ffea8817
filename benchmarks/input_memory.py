"""Peak memory of preprocess on big input files (#23 item 4). Not a test. Prints the peak RSS of
``python -m preprocess`` (one rank, its own ``ru_maxrss``) per case::

    .venv/bin/python benchmarks/input_memory.py --work /tmp/hpcgan-bench-inputs

Cases (files made in ``--work`` and deleted at the end):

- ``5gib-default``: a 5 GiB stamp file (one float32 image HDU declaring 5 GiB; a sparse file, no
  disk used) under the default ``preprocess.max_input_mib`` (2048): quarantined for its declared
  size before any pixel is read;
- ``5gib-on-demand``: the same with ``max_input_mib=8192``: read on demand, quarantined for its missing
  bands, no pixel touched;
- ``frame-10k-frames``: a 10k x 10k float32 frame with a 10k x 10k IVAR HDU (800 MB on disk, real
  bytes), ``--objects`` objects cut from it in 5 bands (the frame index lists it for every band),
  ``preprocess.source: frames``;
- ``frame-10k-stamps``: the same file as a per-band stamp (``big_{band}.fits``, 5 symlinks to it)
  for each object, ``source: stamps``: resampled from a section read on demand.

Before this change the issue measured 5.5 GB for the 5 GiB file (read whole) and 10.8 GB for a
large band (converted whole to float64 before cutting).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
SCALE = 0.396
WRAP = ("import resource, runpy, sys; sys.argv = ['preprocess'] + sys.argv[1:]\n"
        "try:\n    runpy.run_module('preprocess', run_name='__main__')\n"
        "finally:\n    print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)")


def sparse_5gib(path: Path) -> None:
    from astropy.io import fits
    nx, ny = 40000, 33554  # 40000 x 33554 x 4 bytes = 5.00 GiB
    text = fits.Header([("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 2), ("NAXIS1", nx), ("NAXIS2", ny)]).tostring()
    with open(path, "wb") as f:
        f.write(text.encode())
        f.truncate(len(text) + -(-nx * ny * 4 // 2880) * 2880)


def frame_10k(path: Path, n: int) -> list[tuple[float, float]]:
    """A 10k x 10k nanomaggy frame (TAN, north up) + IVAR, written by rows; object positions."""
    from astropy.io import fits

    from hpcgan.io.grid import grid_header
    h = grid_header(150.0, 2.0, n, SCALE)
    rng = np.random.default_rng(0)
    prim = fits.PrimaryHDU()
    image = [("XTENSION", "IMAGE"), ("BITPIX", -32), ("NAXIS", 2), ("NAXIS1", n), ("NAXIS2", n), ("PCOUNT", 0),
             ("GCOUNT", 1)]
    sci = fits.Header(image + [("EXTNAME", "SCI"), ("BUNIT", "nanomaggy")] + [(c.keyword, c.value) for c in h.cards])
    iv = fits.Header(image + [("EXTNAME", "IVAR")])
    with open(path, "wb") as f:
        f.write(prim.header.tostring().encode())
        for hdr, fill in ((sci, None), (iv, 100.0)):
            f.write(hdr.tostring().encode())
            for y0 in range(0, n, 1000):
                rows = np.full((min(1000, n - y0), n), fill, ">f4") if fill else \
                    rng.normal(0, 0.1, (min(1000, n - y0), n)).astype(">f4")
                f.write(rows.tobytes())
            f.write(b"\0" * (-(n * n * 4) % 2880))
    from astropy.wcs import WCS
    w = WCS(h)
    xy = rng.uniform(200, n - 200, (64, 2))
    return [tuple(float(v) for v in w.pixel_to_world_values(x, y)) for x, y in xy]


def run(name: str, sets: list[str]) -> dict:
    t0 = time.perf_counter()
    p = subprocess.run([PY, "-c", WRAP, *sets], cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    kb = int(next(line.split()[1] for line in p.stderr.splitlines() if line.startswith("PEAK_RSS_KB")))
    out = next((s.split("preprocess.out=", 1)[1] for s in sets if s.startswith("preprocess.out=")), "")
    m = json.loads((Path(out) / "manifest.json").read_text()) if out and (Path(out) / "manifest.json").is_file() else {}
    reasons = sorted({q["reason"].split(": /")[0] for q in m.get("quarantine", [])})
    r = {"case": name, "rc": p.returncode, "peak_rss_mb": round(kb / 1024), "wall_s": round(wall, 1),
         "accepted": m.get("accepted"), "quarantined": m.get("quarantined"), "reasons": reasons[:2]}
    print(json.dumps(r), flush=True)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/hpcgan-bench-inputs"))
    ap.add_argument("--objects", type=int, default=40)
    ap.add_argument("--size", type=int, default=10000)
    ap.add_argument("--keep", action="store_true", help="keep the files (default: delete them)")
    a = ap.parse_args()
    w = a.work
    shutil.rmtree(w, ignore_errors=True)
    w.mkdir(parents=True)
    common = ["data.x.stamp_size=64", f"data.x.pixel_scale={SCALE}", "preprocess.quarantine_max_frac=1"]
    try:
        sparse_5gib(w / "big5.fits")
        (w / "cat5.csv").write_text("object_id,survey,split,path,ra,dec\nbig,sdss,unpaired,big5.fits,150,2\n")
        for name, extra in (("5gib-default", []), ("5gib-on-demand", ["preprocess.max_input_mib=8192"])):
            run(name, [f"preprocess.catalog={w / 'cat5.csv'}", f"preprocess.out={w / ('out-' + name)}", *common, *extra])
        (w / "big5.fits").unlink()
        pos = frame_10k(w / "frame.fits", a.size)[:a.objects]
        (w / "frames.csv").write_text("path,survey,band\n" + "".join(f"frame.fits,sdss,{b}\n" for b in "ugriz"))
        (w / "objects.csv").write_text("object_id,survey,split,ra,dec\n" + "".join(
            f"o{k},sdss,unpaired,{ra:.8f},{dec:.8f}\n" for k, (ra, dec) in enumerate(pos)))
        run("frame-10k-frames", ["preprocess.source=frames", f"preprocess.frames={w / 'frames.csv'}",
                                 f"preprocess.catalog={w / 'objects.csv'}", f"preprocess.out={w / 'out-frames'}", *common])
        for b in "ugriz":
            (w / f"big_{b}.fits").symlink_to("frame.fits")
        (w / "stamps.csv").write_text("object_id,survey,split,path,ra,dec\n" + "".join(
            f"o{k},sdss,unpaired,big_{{band}}.fits,{ra:.8f},{dec:.8f}\n" for k, (ra, dec) in enumerate(pos)))
        run("frame-10k-stamps", [f"preprocess.catalog={w / 'stamps.csv'}", f"preprocess.out={w / 'out-stamps'}",
                                 "preprocess.image_hdu=SCI", *common])
    finally:
        if not a.keep:
            shutil.rmtree(w, ignore_errors=True)


if __name__ == "__main__":
    main()
