"""Cut-outs from survey frames: ``preprocess.source: frames`` (1 and 2 MPI ranks) vs a naive per-object
open-cut-close loop, side by side in one run. Not a test. Prints stamps/s and ratios::

    .venv/bin/python benchmarks/frames.py --cache /tmp/hpcgan-bench-frames --fields 3 --per-field 400

Input (made once into ``CACHE/frames``, reused): ``--fields`` SDSS-like fields, each 5 band files of
``--shape`` pixels (default 1489 x 2048 float32 = 12 MB, an SDSS ``frame-*.fits``) with an IVAR HDU,
nanomaggies, north up (``--rotate DEG`` turns the grid: then every band goes through
``reproject_exact`` instead of the shifted-grid fast path), ``--per-field`` Gaussian galaxies on a
grid away from the edges; a frame index and an object catalog (docs/formats.md). Variants, each
over every object (5 bands, 64 x 64 model grid at 0.396"/px):

- naive: one process; per object and band ``astropy.io.fits.open`` the frame, read image and ivar,
  the same resampler and unit conversion (:func:`hpcgan.io.resample.resample`,
  :func:`hpcgan.io.units.to_model_factor`), close; append one stamp at a time to an HDF5 dataset.
  In-process: no interpreter start-up counted;
- ours 1 rank / 2 ranks: ``python -m preprocess preprocess.source=frames`` (wall time of the whole
  command, start-up, header scan, manifest and checksums included).

The machine is shared: figures are noisy; the frames sit in the page cache after the first variant.
"""
from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PY = sys.executable
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe"]
BANDS = "ugriz"
SCALE, N = 0.396, 64


def frame_header(ra0: float, shape: tuple[int, int], rotate: float):
    from astropy.io import fits

    ny, nx = shape
    a, s = np.radians(rotate), SCALE / 3600
    return fits.Header([("CTYPE1", "RA---TAN"), ("CTYPE2", "DEC--TAN"), ("CRVAL1", ra0), ("CRVAL2", 0.0),
                        ("CRPIX1", (nx + 1) / 2), ("CRPIX2", (ny + 1) / 2),
                        ("CD1_1", -s * np.cos(a)), ("CD1_2", s * np.sin(a)), ("CD2_1", s * np.sin(a)),
                        ("CD2_2", s * np.cos(a)), ("BUNIT", "nanomaggy")])


def make_input(cache: Path, fields: int, per: int, shape: tuple[int, int], rotate: float) -> tuple[Path, Path, int]:
    """Frames, index and catalog under ``cache/frames`` (reused when present); (index, catalog, objects)."""
    from astropy.io import fits
    from astropy.wcs import WCS

    d = cache / "frames"
    index, cat = d / "frames.csv", d / "catalog.csv"
    tag = d / f"made-{fields}x{per}-{shape[0]}x{shape[1]}-rot{rotate:g}"
    if tag.is_file():
        return index, cat, fields * per
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    ny, nx = shape
    k = int(np.ceil(np.sqrt(per * nx / ny)))
    gx, gy = np.meshgrid(np.linspace(80, nx - 80, k), np.linspace(80, ny - 80, int(np.ceil(per / k))))
    xy = np.stack([gx.ravel(), gy.ravel()], 1)[:per]
    yy, xx = np.mgrid[-7:8, -7:8]
    rows, objs = [], []
    for f in range(fields):
        ra0 = 10.0 + 0.5 * f
        hdr = frame_header(ra0, shape, rotate)
        img = np.random.default_rng(f).normal(0, 0.05, shape).astype(np.float32)
        for x, y in xy:
            ix, iy = int(x), int(y)
            img[iy - 7:iy + 8, ix - 7:ix + 8] += 20 / (2 * np.pi * 2.0 ** 2) * np.exp(
                -((xx + ix - x) ** 2 + (yy + iy - y) ** 2) / (2 * 2.0 ** 2))
        ivar = np.full(shape, 400.0, np.float32)
        for b in BANDS:
            name = f"frame-{b}-{f:03d}.fits"
            fits.HDUList([fits.PrimaryHDU(img, hdr), fits.ImageHDU(ivar, name="IVAR")]).writeto(d / name)
            rows.append(f"{name},sdss,{b}")
        ra, dec = WCS(hdr).pixel_to_world_values(xy[:, 0], xy[:, 1])
        objs += [(f"f{f}-{i}", float(r), float(q)) for i, (r, q) in enumerate(zip(ra, dec))]
    index.write_text("path,survey,band\n" + "\n".join(rows) + "\n")
    with open(cat, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["object_id", "survey", "split", "ra", "dec"])
        w.writerows([o, "sdss", "unpaired", repr(r), repr(q)] for o, r, q in objs)
    tag.touch()
    return index, cat, len(objs)


def naive(index: Path, cat: Path, out: Path) -> int:
    """Per object and band: open the frame, read, resample, convert, close; one stamp at a time to HDF5."""
    import h5py
    from astropy.io import fits
    from astropy.wcs import WCS

    from hpcgan.io.resample import resample
    from hpcgan.io.units import to_model_factor

    frames = {}
    for r in csv.DictReader(index.open()):
        frames.setdefault(r["band"], []).append(index.parent / r["path"])
    objs = list(csv.DictReader(cat.open()))
    field = {o["object_id"]: int(o["object_id"][1:].split("-")[0]) for o in objs}
    out.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(out, "w") as h, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = h.create_dataset("images", (0, 5, N, N), maxshape=(None, 5, N, N), dtype="<f4", chunks=(1, 5, N, N))
        for o in objs:
            stamp = np.empty((5, N, N), np.float32)
            for k, b in enumerate(BANDS):
                with fits.open(frames[b][field[o["object_id"]]], memmap=False) as hdul:
                    img, ivar, hdr = hdul[0].data, hdul["IVAR"].data, hdul[0].header
                    f = to_model_factor(hdr, "nanomaggy", 22.5)
                    im, _ = resample(img * f, WCS(hdr), float(o["ra"]), float(o["dec"]), N, SCALE, ivar / f ** 2)
                stamp[k] = im
            ds.resize(ds.shape[0] + 1, axis=0)
            ds[-1] = np.nan_to_num(stamp)
    return len(objs)


def ours(index: Path, cat: Path, out: Path, ranks: int) -> None:
    cmd = [PY, "-m", "preprocess", "preprocess.source=frames", f"preprocess.catalog={cat}", f"preprocess.frames={index}",
           f"preprocess.out={out}", f"data.x.stamp_size={N}", "preprocess.quarantine_max_frac=0"]
    if ranks > 1:
        cmd = [*MPIRUN, "-np", str(ranks), *cmd]
    subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cache", default="/tmp/hpcgan-bench-frames")
    p.add_argument("--fields", type=int, default=3)
    p.add_argument("--per-field", type=int, default=400)
    p.add_argument("--shape", type=int, nargs=2, default=(1489, 2048), metavar=("NY", "NX"))
    p.add_argument("--rotate", type=float, default=0.0, help="grid rotation, degrees (0: north up)")
    a = p.parse_args()
    cache = Path(a.cache)
    index, cat, n = make_input(cache, a.fields, a.per_field, tuple(a.shape), a.rotate)
    print(f"[bench] {n} objects x 5 bands from {a.fields} fields of {a.shape[1]}x{a.shape[0]} px "
          f"(rotated {a.rotate:g} deg)", flush=True)
    times = {}
    for name, fn in (("ours, 1 rank", lambda o: ours(index, cat, o, 1)),
                     ("ours, 2 ranks (mpirun -np 2)", lambda o: ours(index, cat, o, 2)),
                     ("naive open-cut-close", lambda o: naive(index, cat, o / "naive.h5"))):
        out = cache / "run"
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        fn(out)
        times[name] = time.perf_counter() - t0
        print(f"[bench] {name}: {times[name]:.1f} s", flush=True)
        shutil.rmtree(out, ignore_errors=True)
    base = times["naive open-cut-close"]
    print("| variant | seconds | stamps/s | vs naive (speed) |\n| --- | ---: | ---: | ---: |")
    for name, t in times.items():
        print(f"| {name} | {t:.1f} | {n / t:.0f} | {base / t:.2f}x |")


if __name__ == "__main__":
    main()
