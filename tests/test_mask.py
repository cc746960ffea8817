"""The per-pixel mask, the fill policy, masked cores and the sky (issue 20 items 1-3), each from crafted
files: a masked core is quarantined with its count and radius; an edge coverage gap is accepted, flagged
and noise-filled (bit-identical on rerun); a sky pedestal is refused (check) or subtracted and recorded;
resampled masks agree with the resampled pixels; the mask reaches translate's shards and FITS and
evaluate's counts; training losses and batches see it."""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import h5py
import numpy as np
import torch
from astropy.io import fits

from hpcgan.config import load_config
from hpcgan.dist.comm import Comm
from hpcgan.io import mask_bits as MB

warnings.filterwarnings("ignore", module="astropy")
SX, SY = 16, 34  # 6.34" SDSS and 6.36" CFHT stamps: concentric, nearly the same footprint
GEOM = [f"data.x.stamp_size={SX}", f"data.y.stamp_size={SY}"]
UNITS = {"sdss": ("nanomaggy", SX, 1.0), "cfht": ("ADU", SY, 30.0)}


def _cube(path: Path, img: np.ndarray, ivar: np.ndarray | None, bunit: str, skysig: float,
          mask: np.ndarray | None = None) -> None:
    """A cube stamp (SCI) with optional IVAR and MASK cubes, no WCS (the model grid's shape)."""
    prim = fits.PrimaryHDU(img.astype(">f4"))
    prim.header.update(EXTNAME="SCI", BUNIT=bunit, SKYSIG=skysig, PSFFWHM=1.2)
    hdus = [prim]
    if ivar is not None:
        hdus.append(fits.ImageHDU(ivar.astype(">f4"), name="IVAR"))
    if mask is not None:
        hdus.append(fits.ImageHDU(mask.astype(">i2"), name="MASK"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList(hdus).writeto(path, overwrite=True)


def _stamp(rng, survey: str, pedestal: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Sky noise of the survey's SKYSIG plus a small central galaxy; ivar = 1 / SKYSIG^2."""
    _, n, sig = UNITS[survey]
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    gal = 40 * sig * np.exp(-(xx ** 2 + yy ** 2) / (2 * (n / 10) ** 2))
    img = rng.normal(0, sig, (5, n, n)) + gal[None] + pedestal
    return img.astype(np.float32), np.full((5, n, n), 1 / sig ** 2, np.float32)


def _preprocess(root: Path, rows: list[tuple], *sets: str, out: str = "out") -> tuple[dict, Path]:
    """rows: (object_id, survey, split, img, ivar); writes cube stamps and the catalog, runs preprocess."""
    from preprocess.run import run

    lines = ["object_id,survey,split,path,ra,dec"]
    for i, (oid, survey, split, img, ivar) in enumerate(rows):
        p = f"{survey}/{split}/{oid}.fits"
        if not (root / p).exists():
            _cube(root / p, img, ivar, UNITS[survey][0], UNITS[survey][2])
        k = int(re.sub(r"\D", "", oid) or 0)
        lines.append(f"{oid},{survey},{split},{p},{150 + 0.01 * k!r},{2.0!r}")
    (root / "cat.csv").write_text("\n".join(lines) + "\n")
    cfg = load_config(None, [*GEOM, f"preprocess.catalog={root / 'cat.csv'}", f"preprocess.out={root / out}",
                             "preprocess.quarantine_max_frac=1", "preprocess.nan_fill_max_frac=0.1", *sets])
    assert run(cfg, Comm()) == 0
    return json.loads((root / out / "manifest.json").read_text()), root / out


def _shard(out: Path, survey: str = "sdss", split: str = "unpaired") -> dict:
    with h5py.File(out / survey / split / "part-0-of-1.h5") as f:
        return {k: f[k][()] for k in f} | {"format_version": f.attrs["format_version"]}


def test_masked_core_quarantined_with_count_and_radius(tmp_path):
    rng = np.random.default_rng(0)
    ok, core = _stamp(rng, "sdss"), _stamp(rng, "sdss")
    core[1][2, 7:9, 7:9] = 0.0  # a saturated core: ivar = 0 in r
    m, _ = _preprocess(tmp_path, [("ok", "sdss", "unpaired", *ok), ("core", "sdss", "unpaired", *core)])
    assert m["accepted"] == 1 and [q["object_id"] for q in m["quarantine"]] == ["core"]
    reason = m["quarantine"][0]["reason"]
    assert reason.startswith('4 masked or filled pixels within core_radius_arcsec 1" of the object (band(s) r)'), reason
    m, out = _preprocess(tmp_path, [("ok", "sdss", "unpaired", *ok), ("core", "sdss", "unpaired", *core)],
                         "preprocess.core_radius_arcsec=0", out="off")
    assert m["accepted"] == 2
    mask = _shard(out)["mask"][1]
    assert (mask[2, 7:9, 7:9] == MB.MASKED | MB.FILLED).all() and np.count_nonzero(mask) == 4


def test_edge_gap_accepted_flagged_noise_filled_and_bit_identical(tmp_path):
    rng = np.random.default_rng(1)
    img, ivar = _stamp(rng, "sdss")
    ivar[1, :, :2] = 0.0  # a coverage gap along the edge in g
    img[3, 15, 15] = np.nan  # one bad pixel in i
    rows = [("edge", "sdss", "unpaired", img, ivar)]
    m, out = _preprocess(tmp_path, rows)
    assert m["accepted"] == 1, m["quarantine"]
    sh = _shard(out)
    mask, stamp = sh["mask"][0], sh["images"][0]
    assert sh["format_version"] == 2 and sh["nan_filled"][0].tolist() == [0, 32, 0, 1, 0]
    assert (mask[1, :, :2] == MB.MASKED | MB.FILLED).all() and mask[3, 15, 15] == MB.NONFINITE | MB.FILLED
    assert np.count_nonzero(mask) == 33 and np.isfinite(stamp).all()
    filled = stamp[1, :, :2]
    assert np.count_nonzero(filled) == 32 and 0.5 < filled.std() < 1.6 and abs(filled.mean()) < 0.6  # sky-like, sigma 1
    np.testing.assert_array_equal(stamp[1, :, 2:], img[1, :, 2:])  # the rest untouched
    assert np.isfinite(sh["sky_level"][0]).all() and np.abs(sh["sky_level"][0]).max() < 0.5
    _, again = _preprocess(tmp_path, rows, out="again")
    assert (again / "sdss/unpaired/part-0-of-1.h5").read_bytes() == (out / "sdss/unpaired/part-0-of-1.h5").read_bytes()
    _, zero = _preprocess(tmp_path, rows, "preprocess.fill=zero", out="zero")
    z = _shard(zero)
    assert (z["images"][0][z["mask"][0] != 0] == 0).all() and (z["mask"][0] == mask).all()


def test_sky_pedestal_check_quarantines_subtract_records(tmp_path):
    rng = np.random.default_rng(2)
    ped = _stamp(rng, "sdss", pedestal=100.0)
    rows = [("ped", "sdss", "unpaired", *ped), ("ok", "sdss", "unpaired", *_stamp(rng, "sdss"))]
    m, _ = _preprocess(tmp_path, rows)
    assert [q["object_id"] for q in m["quarantine"]] == ["ped"]
    reason = m["quarantine"][0]["reason"]
    got = re.match(r"sky not subtracted: background (100(\.\d+)?) = (\d+) sigma in band 'u' \(> sky_max_sigma 5\): ", reason)
    assert got and 80 <= int(got.group(3)) <= 101, reason  # sigma: the clipped std (~1, some galaxy light left)
    m, out = _preprocess(tmp_path, rows, "preprocess.sky=subtract", out="sub")
    assert m["accepted"] == 2
    sh = _shard(out)
    assert np.allclose(sh["sky_level"][0], 100.0, atol=0.3) and np.abs(sh["sky_level"][1]).max() < 0.3
    assert abs(float(np.median(sh["images"][0][:, :3, :]))) < 0.3  # the sky is gone
    m, out = _preprocess(tmp_path, rows, "preprocess.sky=none", out="none")
    assert m["accepted"] == 2 and np.isnan(_shard(out)["sky_level"]).all()


def test_resampled_mask_matches_the_resampled_pixels():
    """A rotated input with masked and NaN pixels, partly off the grid: the bits are set exactly
    where the resampled image is not finite, with the right cause."""
    from hpcgan.io.grid import grid_wcs
    from hpcgan.io.resample import resample, resample_bits

    rng = np.random.default_rng(3)
    w = grid_wcs(150.0, 2.0, 30, 0.3)
    th = np.radians(30)
    s = 0.3 / 3600
    w.wcs.cd = [[-s * np.cos(th), s * np.sin(th)], [s * np.sin(th), s * np.cos(th)]]
    w.wcs.set()
    img = rng.normal(size=(30, 30))
    ivar = np.ones((30, 30))
    ivar[12:14, 5:8] = 0
    img[20, 20] = np.nan
    out, _ = resample(img, w, 150.0 + 2.0 / 3600, 2.0, 24, 0.396, ivar)  # 2" east: part of the grid off the input
    bits = resample_bits(MB.pixel_bits(img, ivar), w, 150.0 + 2.0 / 3600, 2.0, 24, 0.396)
    assert ((bits != 0) == ~np.isfinite(out)).all()
    for b in (MB.OUTSIDE, MB.MASKED, MB.NONFINITE):
        assert (bits & b).any(), b


def _pairs(rng, n: int = 4) -> list[tuple]:
    rows = []
    for i in range(n):
        for s in ("sdss", "cfht"):
            rows.append((f"p{i}", s, "paired-test", *_stamp(rng, s)))
    rows[0][4][2, :, :2] = 0.0  # p0's SDSS r: no coverage in the first two columns
    return rows


def test_mask_reaches_translate_fits_and_evaluate(tmp_path):
    from hpcgan.evaluate.report import table
    from hpcgan.evaluate.run import evaluate
    from hpcgan.translate.run import run as translate

    _, shards = _preprocess(tmp_path, _pairs(np.random.default_rng(4)))
    src = _shard(shards, "sdss", "paired-test")["mask"]
    assert np.count_nonzero(src) == 2 * SX and (src[0, 2, :, :2] == MB.MASKED | MB.FILLED).all()
    out = tmp_path / "tr"
    cfg = load_config("default", [*GEOM, f"data.shards={shards}", f"translate.out={out}", "translate.method=resample",
                                  "translate.device=cpu", "kernels.impl=torch", "translate.fits=true"])
    assert translate(cfg, Comm()) == 0
    tm = _shard(out / "r0", "cfht", "paired-test")["mask"]
    assert tm.shape == (4, 5, SY, SY) and np.count_nonzero(tm[1:]) == 0 and np.count_nonzero(tm[0][[0, 1, 3, 4]]) == 0
    flagged = np.flatnonzero((tm[0, 2] != 0).any(axis=0))
    assert flagged.tolist() == list(range(5))  # 2 SDSS columns (0.79") = 4.2 CFHT columns: any overlap flags
    assert (tm[0, 2][:, :5] & MB.MASKED).all() and not (tm & MB.OUTSIDE).any()  # same footprint: no rim
    with fits.open(out / "fits/r0/cfht/paired-test/p0.fits") as h:
        assert h["MASK"].header["BANDS"] == "u,g,r,i,z" and h["MASK"].header["MASKB2"] == "MASKED"
        assert h[0].header.get("FMTVER", h[1].header["FMTVER"]) == 2
        np.testing.assert_array_equal(h["MASK"].data, tm[0])
        assert h["MASK"].header["CRVAL1"] == h["r"].header["CRVAL1"]
    res = evaluate(load_config("default", [f"evaluate.translations={out}", f"evaluate.out={tmp_path / 'ev'}",
                                           "evaluate.aperture_radii_arcsec=[1.5,3.0]"]))
    m = res["masked"]
    assert m["pixels"]["translation"]["r"] == np.count_nonzero(tm[:, 2]) and m["pixels"]["real"]["r"] == 0
    assert m["objects"] == {"u": 0, "g": 0, "r": 1, "i": 0, "z": 0}
    ap = res["vs_real"]["r"]["translation"]["aperture_flux"]
    assert ap["1.5"]["n"] == 4 and ap["3"]["n"] == 3  # the 3" circle reaches the flagged columns
    assert res["vs_real"]["g"]["translation"]["aperture_flux"]["3"]["n"] == 4
    assert json.loads((tmp_path / "ev/metrics.json").read_text())["masked"]["objects"]["r"] == 1
    line = [ln for ln in table(res).splitlines() if ln.startswith("masked pixels left out")]
    assert len(line) == 1 and f"{np.count_nonzero(tm)}, 0;" in line[0] and "r 1" in line[0], line


def test_masked_mse_and_training_batches_carry_valid(tmp_path):
    from hpcgan.data import build_train_streams
    from hpcgan.io.shards import open_source
    from hpcgan.train.losses import mse

    pred, target = torch.randn(2, 5, 8, 8), torch.randn(2, 5, 8, 8)
    assert torch.allclose(mse(pred, target, torch.ones(2, 5, 8, 8)), mse(pred, target))
    valid = torch.ones(2, 5, 8, 8)
    valid[:, :, :4] = 0
    assert torch.allclose(mse(pred, target, valid), ((pred - target)[:, :, 4:] ** 2).mean())
    rng = np.random.default_rng(5)
    rows = []
    for i in range(4):
        img, ivar = _stamp(rng, "sdss")
        ivar[0, :, :1] = 0.0
        rows.append((f"u{i}", "sdss", "unpaired", img, ivar))
    _, out = _preprocess(tmp_path, rows)
    src = open_source(out, "sdss", "unpaired")
    assert src.has_mask and np.count_nonzero(src.read_mask(np.arange(4))) == 4 * SX
    cfg = load_config(None, [*GEOM, f"data.shards={out}", "data.batch_size=2"])
    b = build_train_streams(cfg.data, streams=("x",)).batch(0)
    assert b["x_valid"].shape == (2, 5, SX, SX) and int((b["x_valid"] == 0).sum()) == 2 * SX


def _frame(path: Path, pedestal: float, rng) -> None:
    """An 80 x 80 north-up SDSS-scale frame: sky noise 0.1 (ivar 100) + ``pedestal``, a source at (40, 40),
    and a MASK HDU flagging columns 45, 46 (inside a 16-px stamp centred on the source, outside its core)."""
    from hpcgan.io.grid import grid_header

    n = 80
    yy, xx = np.mgrid[:n, :n]
    img = rng.normal(0, 0.1, (n, n)) + pedestal + 20 * np.exp(-((xx - 40) ** 2 + (yy - 40) ** 2) / 4.5)
    mask = np.zeros((n, n), np.int16)
    mask[:, 45:47] = 1
    hdr = grid_header(150.0, 2.0, n, 0.396)
    hdr["BUNIT"] = "nanomaggy"
    fits.HDUList([fits.PrimaryHDU(img.astype(np.float32), hdr), fits.ImageHDU(np.full((n, n), 100.0, np.float32), name="IVAR"),
                  fits.ImageHDU(mask, name="MASK")]).writeto(path, overwrite=True)


def test_frames_sky_background2d_and_mask_hdu(tmp_path):
    from hpcgan.io.grid import grid_wcs
    from preprocess.run import run

    rng = np.random.default_rng(6)
    ra, dec = (float(v) for v in grid_wcs(150.0, 2.0, 80, 0.396).pixel_to_world_values(40, 40))
    for name, ped in (("flat", 0.0), ("ped", 30.0)):
        _frame(tmp_path / f"{name}.fits", ped, rng)
    (tmp_path / "cat.csv").write_text(f"object_id,survey,split,ra,dec\no1,sdss,unpaired,{ra!r},{dec!r}\n")

    def pre(frame: str, out: str, *sets: str) -> tuple[dict, Path]:
        (tmp_path / "frames.csv").write_text("path,survey,band\n" + "".join(f"{frame}.fits,sdss,{b}\n" for b in "ugriz"))
        cfg = load_config(None, [*GEOM, "preprocess.source=frames", f"preprocess.catalog={tmp_path / 'cat.csv'}",
                                 f"preprocess.frames={tmp_path / 'frames.csv'}", f"preprocess.out={tmp_path / out}",
                                 "preprocess.quarantine_max_frac=1", "preprocess.nan_fill_max_frac=0.2", *sets])
        assert run(cfg, Comm()) == 0
        return json.loads((tmp_path / out / "manifest.json").read_text()), tmp_path / out

    m, out = pre("flat", "flat")
    assert m["accepted"] == 1, m["quarantine"]
    sh = _shard(out)
    mask = sh["mask"][0]
    cols = np.flatnonzero((mask[2] & MB.MASKED).any(axis=0))
    # frame columns 45, 46 = stamp x 12.5 .. 14.5 (the stamp's pixel edges fall on frame pixel centres): 3 columns
    assert cols.tolist() == [12, 13, 14] and (mask[:, :, 12:15] == MB.MASKED | MB.FILLED).all()
    assert np.count_nonzero(mask) == 5 * SX * 3
    assert np.abs(sh["sky_level"][0]).max() < 0.05 and 0.03 < sh["images"][0][mask != 0].std() < 0.2
    m, _ = pre("ped", "check")
    reason = m["quarantine"][0]["reason"]
    assert m["accepted"] == 0 and re.match(r"sky not subtracted: background (29\.9\d*|30(\.0\d*)?) = \d{3} sigma in band 'u' "
                                           r"\(> sky_max_sigma 5\): .*ped\.fits$", reason), reason
    m, out = pre("ped", "sub", "preprocess.sky=subtract")
    sh = _shard(out)
    assert m["accepted"] == 1 and np.allclose(sh["sky_level"][0], 30.0, atol=0.05)
    assert abs(float(np.median(sh["images"][0][:, :3]))) < 0.05


def test_validation_score_leaves_masked_pixels_out():
    from hpcgan.config.schema import SurveyCfg
    from hpcgan.train.validate import score

    s = SurveyCfg(stamp_size=SX)
    truth = torch.rand(3, 5, SX, SX)
    pred = truth.clone()
    pred[0, :, :, :2] += 5.0  # wrong only where masked
    valid = torch.ones_like(truth)
    valid[0, :, :, :2] = 0
    assert score(pred, truth, s, "sqrt", valid)["mse"] == 0.0 and score(pred, truth, s, "sqrt")["mse"] > 0
    valid[1, 2, 7, 7] = 0  # in object 1's 3" aperture: it leaves the flux statistics
    got = score(pred, truth, s, "sqrt", valid)
    assert got["mse"] == 0.0 and got["ap3_bias"] == 0.0


def test_format_1_shards_without_mask_read_as_valid(tmp_path):
    from hpcgan.io.shards import open_source
    from tests.tiny_data import write_shard

    write_shard(tmp_path / "sdss/unpaired", np.ones((3, 5, 8, 8), np.float32), ["a", "b", "c"])
    src = open_source(tmp_path, "sdss", "unpaired")
    assert not src.has_mask and src.read_mask(np.array([0, 2])).shape == (2, 5, 8, 8)
    assert not src.read_mask(np.arange(3)).any()


def test_stamp_mask_hdu_flags_masked(tmp_path):
    from preprocess.run import run

    img, ivar = _stamp(np.random.default_rng(7), "sdss")
    bad = np.zeros(img.shape, np.int16)
    bad[0, 0, 5:8] = 4  # a bad column stub in u, at the edge
    _cube(tmp_path / "m.fits", img, ivar, "nanomaggy", 1.0, bad)
    (tmp_path / "cat.csv").write_text("object_id,survey,split,path,ra,dec\nm,sdss,unpaired,m.fits,150.0,2.0\n")
    cfg = load_config(None, [*GEOM, f"preprocess.catalog={tmp_path / 'cat.csv'}", f"preprocess.out={tmp_path / 'o'}"])
    assert run(cfg, Comm()) == 0
    mask = _shard(tmp_path / "o")["mask"][0]
    assert (mask[0, 0, 5:8] == MB.MASKED | MB.FILLED).all() and np.count_nonzero(mask) == 3
