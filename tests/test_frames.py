"""preprocess.source=frames on synthetic frames: flux kept, compressed frames, first/best coverage,
bad frames quarantined with one-line reasons while the run continues, a 2-rank run of >= 1,000 stamps."""
from __future__ import annotations

import bz2
import gzip
import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
from astropy.io import fits

from hpcgan.config import load_config
from hpcgan.io.frames import Frame, assign
from hpcgan.io.grid import grid_header
from hpcgan.io.shard_writer import Row
from preprocess.run import run
from tests.conftest import mpirun_cmd, run_cmd

BANDS = "ugriz"
SCALE = 0.396
FLUX = 50.0  # nanomaggies per source


def make_frame(path: Path, ra0: float, n: int, xy: np.ndarray, cards: dict | None = None, wcs: bool = True,
               ivar_shape: tuple[int, int] | None = None) -> None:
    """An n x n north-up frame centred on (ra0, 0) with a Gaussian source of FLUX at each (x, y)."""
    yy, xx = np.mgrid[:n, :n]
    img = np.zeros((n, n), np.float32)
    for x, y in xy:
        img += (FLUX / (2 * np.pi * 1.5 ** 2) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.5 ** 2))).astype(np.float32)
    hdr = grid_header(ra0, 0.0, n, SCALE) if wcs else fits.Header()
    hdr.update(cards if cards is not None else {"BUNIT": "nanomaggy"})
    hdus = [fits.PrimaryHDU(img, hdr), fits.ImageHDU(np.full(ivar_shape or (n, n), 100.0, np.float32), name="IVAR")]
    raw = fits.HDUList(hdus)
    if path.suffix == ".fz":
        fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(img, hdr, quantize_level=-0.01),
                      fits.ImageHDU(np.full((n, n), 100.0, np.float32), name="IVAR")]).writeto(path)
        return
    raw.writeto(path.with_suffix("") if path.suffix in (".gz", ".bz2") else path)
    if path.suffix in (".gz", ".bz2"):
        plain = path.with_suffix("")
        (gzip if path.suffix == ".gz" else bz2).open(path, "wb").write(plain.read_bytes())
        plain.unlink()


def _radec(ra0: float, n: int, x: float, y: float) -> tuple[float, float]:
    from hpcgan.io.grid import grid_wcs
    r, d = grid_wcs(ra0, 0.0, n, SCALE).pixel_to_world_values(x, y)
    return float(r), float(d)


def _write(tmp: Path, frames: list[str], objs: list[tuple]) -> tuple[Path, Path]:
    (tmp / "frames.csv").write_text("path,survey,band\n" + "".join(f"{p},sdss,{b}\n" for p in frames for b in BANDS))
    (tmp / "cat.csv").write_text("object_id,survey,split,ra,dec\n" +
                                 "".join(f"{o},sdss,unpaired,{ra!r},{dec!r}\n" for o, ra, dec in objs))
    return tmp / "frames.csv", tmp / "cat.csv"


def _overrides(index: Path, cat: Path, out: Path, *more: str) -> list[str]:
    return ["preprocess.source=frames", f"preprocess.catalog={cat}", f"preprocess.frames={index}",
            f"preprocess.out={out}", "data.x.stamp_size=16", "preprocess.quarantine_max_frac=1", *more]


def test_frames_cut_flux_compressed_and_bad_frames(tmp_path):
    n, objs, frames = 60, [], []
    kinds = {"good.fits": {}, "gz.fits.gz": {}, "bz.fits.bz2": {}, "tile.fits.fz": {},
             "nowcs.fits": dict(wcs=False), "dn.fits": dict(cards={"BUNIT": "DN"}),
             "ivar.fits": dict(ivar_shape=(30, 30))}
    for k, (name, kw) in enumerate(kinds.items()):
        ra0 = 1.0 + 0.1 * k
        make_frame(tmp_path / name, ra0, n, np.array([[30.0, 30.0]]), **kw)
        frames.append(name)
        objs.append((name.split(".")[0], *_radec(ra0 if kw.get("wcs", True) else 1.0 + 0.1 * k, n, 30.0, 30.0)))
    objs.append(("far", 50.0, 10.0))
    index, cat = _write(tmp_path, frames, objs)
    out = tmp_path / "out"
    assert run(load_config(None, _overrides(index, cat, out))) == 0
    m = json.loads((out / "manifest.json").read_text())
    reasons = {q["object_id"]: q["reason"] for q in m["quarantine"]}
    assert m["accepted"] == 4 and m["seen"] == 8, reasons
    assert reasons["far"] == reasons["nowcs"]  # a frame without a WCS might cover it: named
    assert reasons["nowcs"].startswith("no usable sdss frame in band u; 3 unusable, first: no celestial WCS in HDU 0: ")
    assert "unknown pixel units (BUNIT 'DN', no MAGZP" in reasons["dn"] and reasons["dn"].endswith("dn.fits")
    assert "ivar HDU 1 has shape (30, 30), image has (60, 60)" in reasons["ivar"]
    assert all("\n" not in r for r in reasons.values())
    assert len(m["frames"]["unusable"]) == 3 * 5
    with h5py.File(out / "sdss/unpaired/part-0-of-1.h5") as f:
        sums = f["images"][()].sum(axis=(2, 3))
        assert f["wcs"].shape == (4,) and np.allclose(f["sky_sigma"][()], 0.1)
    assert np.allclose(sums, FLUX, rtol=0.01), sums


def test_first_or_best_coverage():
    n = 40
    hdr = grid_header(1.0, 0.0, n, SCALE)
    edge = _radec(1.0, n, 2.0, 20.0)  # near frame A's left edge; frame B (second) is centred on it
    a = Frame(0, "a", "sdss", "r", shape=(n, n), wcs=hdr.tostring())
    b = Frame(1, "b", "sdss", "r", shape=(n, n), wcs=grid_header(*edge, n, SCALE).tostring())
    s = replace(load_config(None, ["data.x.stamp_size=16"]).data.x, bands=("r",))
    rows = [Row(1, "o", "sdss", "unpaired", "", *edge), Row(2, "far", "sdss", "unpaired", "", 50.0, 10.0)]
    assert assign(rows, [a, b], {"sdss": s}, "first")[("sdss", 1)] == [0]
    picks = assign(rows, [a, b], {"sdss": s}, "best")
    assert picks[("sdss", 1)] == [1] and picks[("sdss", 2)] == "outside every sdss frame in band r (2 usable)"


def test_two_ranks_cut_1000_stamps(tmp_path):
    n, per, frames, objs = 400, 9 * 30, [], []
    g = np.stack(np.meshgrid(np.arange(30) * 12 + 20, np.arange(9) * 40 + 30), -1).reshape(-1, 2).astype(float)
    for k in range(4):
        ra0 = 1.0 + 0.1 * k
        make_frame(tmp_path / f"f{k}.fits", ra0, n, g)
        frames.append(f"f{k}.fits")
        objs += [(f"f{k}-{i}", *_radec(ra0, n, x, y)) for i, (x, y) in enumerate(g)]
    index, cat = _write(tmp_path, frames, objs)
    out = tmp_path / "out"
    p = run_cmd(mpirun_cmd(2, sys.executable, "-m", "preprocess",
                           *_overrides(index, cat, out, "data.x.stamp_size=8", "preprocess.batch_size=512")), timeout=300)
    m = json.loads((out / "manifest.json").read_text())
    assert m["nranks"] == 2 and m["accepted"] == 4 * per >= 1000, m["quarantine"][:3]
    opens = [int(v) for v in re.findall(r"; (\d+) frame opens", p.stderr)]
    assert len(opens) == 2 and all(o <= 3 * 5 for o in opens), opens  # each rank opens its frames once


def test_section_reads_equal_whole_reads_inherited_units_bad_wcs(tmp_path):
    """Frames above preprocess.section_read_mib are cut by section (astropy sections, file reads)
    with the pixels a whole read gives; units in the primary header of a MEF frame are found; a
    frame whose CD matrix is singular is unusable, with the reason."""
    n, objs, frames = 60, [], []
    for k, name in enumerate(["good.fits", "gz.fits.gz", "tile.fits.fz"]):
        make_frame(tmp_path / name, 1.0 + 0.1 * k, n, np.array([[30.0, 30.0]]))
        frames.append(name)
        objs.append((name.split(".")[0], *_radec(1.0 + 0.1 * k, n, 30.0, 30.0)))
    ra0 = 1.5  # a DECam-like MEF: BUNIT and MAGZERO in HDU 0, pixels and WCS in HDU 1
    hdr = grid_header(ra0, 0.0, n, SCALE)
    img = np.zeros((n, n), np.float32)
    img[28:33, 28:33] = 2.0
    fits.HDUList([fits.PrimaryHDU(header=fits.Header([("BUNIT", "adu"), ("MAGZERO", 22.5), ("EXPTIME", 90.0)])),
                  fits.ImageHDU(img, hdr, name="SCI")]).writeto(tmp_path / "mef.fits")
    frames.append("mef.fits")
    objs.append(("mef", *_radec(ra0, n, 30.0, 30.0)))
    bad = grid_header(2.0, 0.0, n, SCALE)
    bad["CD1_1"] = bad["CD2_2"] = 0.0
    fits.PrimaryHDU(img, bad).writeto(tmp_path / "zero_cd.fits")
    frames.append("zero_cd.fits")
    objs.append(("zero_cd", *_radec(2.0, n, 30.0, 30.0)))
    index, cat = _write(tmp_path, frames, objs)
    images = []
    for mib in ("64", "0"):
        out = tmp_path / f"out{mib}"
        assert run(load_config(None, _overrides(index, cat, out, f"preprocess.section_read_mib={mib}"))) == 0
        m = json.loads((out / "manifest.json").read_text())
        assert m["accepted"] == 4, m["quarantine"]
        with h5py.File(out / "sdss/unpaired/part-0-of-1.h5") as f:
            images.append(f["images"][()])
            assert f["object_id"][3].decode() == "mef" and np.isclose(f["images"][3].sum(), 5 * 25 * 2.0, rtol=0.01)
        unusable = {u["path"].rsplit("/", 1)[1]: u["reason"] for u in m["frames"]["unusable"]}
        assert unusable == {"zero_cd.fits": "unusable WCS in HDU 0: singular CD matrix [0.0, 0.0, 0.0, 0.0] "
                                            "(determinant 0)"}
    np.testing.assert_array_equal(images[0], images[1])


def test_absurd_frame_pixels_quarantined_with_the_value(tmp_path):
    n = 40
    fits.PrimaryHDU(np.full((n, n), 1e30, np.float32), grid_header(1.0, 0.0, n, SCALE)).writeto(tmp_path / "hot.fits")
    h = fits.open(tmp_path / "hot.fits", mode="update")
    h[0].header["BUNIT"] = "nanomaggy"
    h.close()
    index, cat = _write(tmp_path, ["hot.fits"], [("hot", *_radec(1.0, n, 20.0, 20.0))])
    out = tmp_path / "out"
    assert run(load_config(None, _overrides(index, cat, out))) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["accepted"] == 0 and m["quarantine"][0]["reason"].startswith(
        "pixel value 1e+30 in band 'u' beyond the physical range (limit 1e+08 = 1000 x the flux of an AB 10 mag "
        "source in nanomaggy): ")
