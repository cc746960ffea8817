"""preprocess: FITS -> shards, every quarantine reason, layouts, real FITS, 2-rank runs, resume after kill -9."""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from astropy.io import fits

from hpcgan.config import load_config
from hpcgan.config.schema import DataCfg
from hpcgan.data import build_train_streams, open_source, stamps_to_model
from hpcgan.dist.comm import Comm
from hpcgan.io.fits_read import parse_fits
from hpcgan.io.stamps import Reject, read_stamp
from preprocess.run import EXIT_QUARANTINE, run
from tests.conftest import mpirun_cmd, run_cmd

BANDS = "ugriz"
SX, SY = 16, 34  # small stamps: same code paths, fast tests
COLS = "object_id,survey,split,path,ra,dec"


def read_fits(path: str) -> list:
    """A FITS file's HDUs through the fast parser (what preprocess reads stamps with)."""
    return parse_fits(Path(path).read_bytes(), True)



UNITS = {"sdss": "nanomaggy", "cfht": "ADU"}  # the surveys' declared model units (data.<side>.bunit)


def _mef(path: Path, img: np.ndarray, bands=BANDS, dtype=">f4", bunit: str | None = None):
    """A MEF stamp; ``bunit`` defaults to the declared units of the survey whose stamp size it has."""
    hdus = [fits.PrimaryHDU()]
    hdus[0].header["BUNIT"] = bunit or UNITS["cfht" if img.shape[-1] == SY else "sdss"]
    for b, plane in zip(bands, img):
        h = fits.ImageHDU(plane.astype(dtype))
        h.header["EXTNAME"] = b
        h.header["PSFFWHM"] = 1.2
        h.header["SKYSIG"] = 0.01
        hdus.append(h)
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList(hdus).writeto(path, overwrite=True)


def _img(rng, size, scale=1.0):
    return (rng.normal(size=(5, size, size)) * scale + 0.5 * scale).astype(np.float32)


def make_dataset(root: Path, n_unp=6, n_pair=6, bad=True, seed=0) -> Path:
    """A small catalog + MEF stamps; with ``bad`` one object per quarantine reason."""
    rng = np.random.default_rng(seed)
    rows = []
    for s, size, scale in (("sdss", SX, 1.0), ("cfht", SY, 1000.0)):
        for i in range(n_unp):
            p = f"{s}/u/{s}{i}.fits"
            _mef(root / p, _img(rng, size, scale))
            rows.append(f"{s}{i},{s},unpaired,{p},{10 + i},{1 + i * 0.1}")
    for i in range(n_pair):
        for s, size, scale in (("sdss", SX, 1.0), ("cfht", SY, 1000.0)):
            p = f"{s}/p/p{i}.fits"
            _mef(root / p, _img(rng, size, scale))
            rows.append(f"p{i},{s},paired-train,{p},{20 + i},{-1 - i * 0.1}")
    if bad:
        good = root / "sdss/u/sdss0.fits"
        d = root / "bad"
        d.mkdir()
        (d / "trunc.fits").write_bytes(good.read_bytes()[:4000])
        (d / "text.fits").write_text("hello, not FITS\n" * 300)
        _mef(d / "noband.fits", _img(rng, SX)[:4], bands="ugri")
        _mef(d / "shape.fits", _img(rng, 12))
        many = _img(rng, SX)
        many[0, :8] = np.nan
        _mef(d / "nan.fits", many)
        few = _img(rng, SX)
        few[2, 3, 4] = np.nan
        few[4, 0, 0] = np.inf
        _mef(d / "fewnan.fits", few)
        _mef(d / "zero.fits", np.zeros((5, SX, SX), np.float32))
        hdr = "".join(c.ljust(80) for c in ["SIMPLE  =                    T", "BITPIX  =                   24",
                                             "NAXIS   =                    2", "NAXIS1  =                   16",
                                             "NAXIS2  =                   16", "END"]).ljust(2880)
        (d / "bitpix.fits").write_bytes(hdr.encode() + b"\0" * 2880)
        (root.parent / "outside.fits").write_bytes(good.read_bytes())
        _mef(d / "pbad.fits", np.zeros((5, SY, SY), np.float32))  # paired, bad in cfht only
        _mef(d / "pgood.fits", _img(rng, SX))
        rows += ["b1,sdss,unpaired,bad/trunc.fits,1,1", "b2,sdss,unpaired,bad/text.fits,1,1",
                 "b3,sdss,unpaired,bad/missing.fits,1,1", "b4,sdss,unpaired,bad/noband.fits,1,1",
                 "b5,sdss,unpaired,bad/shape.fits,1,1", "b6,sdss,unpaired,bad/nan.fits,1,1",
                 "b7,sdss,unpaired,bad/fewnan.fits,1,1", "b8,sdss,unpaired,bad/zero.fits,1,1",
                 "b9,sdss,unpaired,bad/bitpix.fits,1,1", "sdss1,sdss,unpaired,sdss/u/sdss1.fits,1,1",
                 "b10,sdss,unpaired,../outside.fits,1,1", "b11,sdss,unpaired,sdss/u/sdss2.fits,abc,1",
                 "pb,sdss,paired-train,bad/pgood.fits,1,1", "pb,cfht,paired-train,bad/pbad.fits,1,1"]
    (root / "catalog.csv").write_text(COLS + "\n" + "\n".join(rows) + "\n")
    return root / "catalog.csv"


EXPECTED = {"b1": "truncated", "b2": "not a FITS file", "b3": "missing file", "b4": "missing band 'z'",
            "b5": "wrong shape", "b6": "NaN/Inf pixels", "b8": "all-zero image", "b9": "unsupported BITPIX 24",
            "sdss1": "duplicate object_id", "b10": "escapes the data root", "b11": "unreadable catalog row"}


def cfg_for(catalog: Path, out: Path, *sets: str):
    return load_config(None, [f"preprocess.catalog={catalog}", f"preprocess.out={out}", f"data.x.stamp_size={SX}",
                              f"data.y.stamp_size={SY}", f"data.shards={out}", "data.batch_size=2",
                              "preprocess.batch_size=3", "preprocess.quarantine_max_frac=0.9", *sets])


def overrides(catalog: Path, out: Path, *sets: str) -> list[str]:
    return [f"preprocess.catalog={catalog}", f"preprocess.out={out}", f"data.x.stamp_size={SX}",
            f"data.y.stamp_size={SY}", "preprocess.batch_size=3", "preprocess.quarantine_max_frac=0.9", *sets]


def shard_hashes(out: Path) -> dict:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*/*/*.h5"))}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("pp") / "data")


def test_quarantine_every_reason_and_accounting(dataset, tmp_path):
    out = tmp_path / "out"
    assert run(cfg_for(dataset, out), Comm()) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["accepted"] + m["quarantined"] == m["seen"] == 12 + 12 + 14
    reasons = {q["object_id"]: q["reason"] for q in m["quarantine"]}
    for oid, want in EXPECTED.items():
        assert want in reasons[oid], (oid, reasons.get(oid))
    assert all("\n" not in r for r in reasons.values())
    pb = [q for q in m["quarantine"] if q["object_id"] == "pb"]  # bad in cfht: dropped in sdss too
    assert {q["survey"] for q in pb} == {"sdss", "cfht"} and any("counterpart quarantined in cfht" in q["reason"] for q in pb)
    assert m["totals"]["sdss"]["paired-train"] == m["totals"]["cfht"]["paired-train"] == 6
    with h5py.File(out / "sdss/unpaired/part-0-of-1.h5") as f:
        ids = [s.decode() for s in f["object_id"][()]]
        assert "b7" in ids  # small NaN mask: filled and flagged
        k = ids.index("b7")
        assert f["nan_filled"][k].tolist() == [0, 0, 1, 0, 1] and np.isfinite(f["images"][k]).all()
        assert f["images"].dtype == np.dtype("<f4") and f["images"].chunks == (1, 5, SX, SX)
        assert f.attrs["catalog_sha256"] == hashlib.sha256(dataset.read_bytes()).hexdigest()
        assert ids.count("sdss1") == 1
    # too much quarantine -> non-zero exit, manifest still written
    assert run(cfg_for(dataset, tmp_path / "strict", "preprocess.quarantine_max_frac=0.05"), Comm()) == EXIT_QUARANTINE
    assert (tmp_path / "strict" / "manifest.json").is_file()


def test_pixels_equal_astropy_and_loader_reads_shards(dataset, tmp_path):
    out = tmp_path / "out"
    cfg = cfg_for(dataset, out)
    assert run(cfg, Comm()) == 0
    sy = open_source(out, cfg.data.y.name, "paired-train")
    sx = open_source(out, cfg.data.x.name, "paired-train")
    assert list(sy.object_ids()) == list(sx.object_ids()) == [f"p{i}" for i in range(6)]
    for i in (0, 5):
        img = stamps_to_model(sy.read(np.array([i])), sy, cfg.data.y.flux_scale, "none")[0]
        with fits.open(dataset.parent / f"cfht/p/p{i}.fits") as h:
            ref = np.stack([h[b].data for b in BANDS]) * 0.001  # transform none still flux-scales
        np.testing.assert_allclose(img.numpy(), ref, rtol=1e-6)
    ts = build_train_streams(cfg.data, rank=1, size=2, seed=1)
    b = ts.batch(0)
    assert b["x"].shape == (2, 5, SX, SX) and b["yp"].shape == (2, 5, SY, SY)


def test_layouts_cube_per_band_and_integer_bitpix(tmp_path):
    rng = np.random.default_rng(5)
    img = _img(rng, SX)
    fits.PrimaryHDU(img.astype(">f8")).writeto(tmp_path / "cube.fits")
    for b, plane in zip(BANDS, img):
        fits.PrimaryHDU(plane).writeto(tmp_path / f"pb_{b}.fits")
    ints = (rng.integers(-300, 300, size=(5, SX, SX))).astype(">i2")
    h = fits.PrimaryHDU(ints)
    h.header["BSCALE"], h.header["BZERO"], h.header["BLANK"] = 0.5, 10.0, -300
    h.writeto(tmp_path / "int.fits")
    root = str(tmp_path)
    np.testing.assert_array_equal(read_stamp(str(tmp_path / "cube.fits"), root, tuple(BANDS), SX).image, img)
    st = read_stamp(str(tmp_path / "pb_{band}.fits"), root, tuple(BANDS), SX)
    np.testing.assert_array_equal(st.image, img)
    with pytest.raises(Reject, match="missing band"):
        read_stamp(str(tmp_path / "pb_{band}.fits"), root, ("u", "g", "r", "i", "y"), SX)
    st = read_stamp(str(tmp_path / "int.fits"), root, tuple(BANDS), SX, nan_fill_max_frac=0.5)
    want = ints.astype(np.float64) * 0.5 + 10.0
    blank = ints == -300
    want[blank] = 0.0  # BLANK -> NaN -> filled
    np.testing.assert_array_equal(st.image, want.astype(np.float32))
    assert st.image.dtype == np.float32 and st.image.dtype.byteorder in ("=", "<")
    assert int(st.nan_filled.sum()) == int(blank.sum())
    with pytest.raises(Reject, match="wrong shape"):
        read_stamp(str(tmp_path / "cube.fits"), root, tuple(BANDS), SX + 2)


def test_real_fits_fast_reader_matches_astropy(realdata, tmp_path):
    """Real headers: big-endian >f4/>f8/>i4, BLANK on float data, old PC cards, NaNs, no WCS."""
    files = sorted(realdata.rglob("*.fits")) + sorted(realdata.rglob("*.fit"))
    assert files
    for p in files:
        fast = read_fits(str(p))
        with fits.open(p, memmap=False) as ref:
            assert len(fast) == len(ref)
            for a, b in zip(fast, ref):
                if b.is_image and b.data is not None:
                    np.testing.assert_array_equal(a.data, np.asarray(b.data, dtype=np.float32), err_msg=str(p))
                    assert a.data.dtype == np.float32 and a.data.dtype.isnative
    # the SDSS frame cropped to a 5-band cube (64 x 64) and the PS1 stamp (NaN edge) as stamps
    frame = read_fits(str(realdata / "tractor_sdss_frame/frame-r-001000-1-0100.fits"))[0].data
    cube = np.stack([frame[i:i + 64, i:i + 64] for i in range(5)])
    fits.PrimaryHDU(cube.astype(">f4")).writeto(tmp_path / "sdss_cube.fits")
    st = read_stamp(str(tmp_path / "sdss_cube.fits"), str(tmp_path), tuple(BANDS), 64)
    np.testing.assert_array_equal(st.image, cube)
    ps1 = realdata / "tractor_ps1_stamp/H1413+117_10x10arcsec_55377.34051_z_sci.fits"
    shutil.copy(ps1, tmp_path / "ps1_z.fits")  # a copy in tmp_path, not in the repo
    with pytest.raises(Reject, match="822 NaN/Inf pixels"):
        read_stamp(str(tmp_path / "ps1_{band}.fits"), str(tmp_path), ("z",), 49)
    st = read_stamp(str(tmp_path / "ps1_{band}.fits"), str(tmp_path), ("z",), 49, nan_fill_max_frac=0.5)
    assert st.nan_filled.tolist() == [822] and np.isfinite(st.image).all()


def test_two_ranks_match_one_rank_and_pairs_aligned(dataset, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert run(cfg_for(dataset, one), Comm()) == 0
    run_cmd(mpirun_cmd(2, sys.executable, "-m", "preprocess", *overrides(dataset, two)), timeout=240)
    m = json.loads((two / "manifest.json").read_text())
    assert m["nranks"] == 2 and len(m["shards"]) == 2 * 2 * 2  # 2 surveys x (unpaired, paired-train) x 2 ranks
    for s in m["shards"]:
        assert hashlib.sha256((two / s["path"]).read_bytes()).hexdigest() == s["sha256"]
    for survey, split in (("sdss", "unpaired"), ("cfht", "unpaired"), ("sdss", "paired-train")):
        a, b = open_source(one, survey, split), open_source(two, survey, split)
        assert list(a.object_ids()) == list(b.object_ids())
        np.testing.assert_array_equal(a.read(np.arange(len(a))), b.read(np.arange(len(b))))
    for r in range(2):
        # locking=False like the loader: HDF5 refuses a second open with other locking flags in one process
        with h5py.File(two / f"sdss/paired-train/part-{r}-of-2.h5", locking=False) as fx, \
                h5py.File(two / f"cfht/paired-train/part-{r}-of-2.h5", locking=False) as fy:
            assert list(fx["object_id"][()]) == list(fy["object_id"][()])


def test_resume_after_kill9_is_bit_identical(dataset, tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    args = (sys.executable, "-m", "preprocess")
    run_cmd(mpirun_cmd(2, *args, *overrides(dataset, ref, "preprocess.batch_size=2")), timeout=240)
    # kill -9 rank 1 only after 2 committed batches, then both ranks after 1 batch of the next run
    for hook in ("2:1", "1"):
        p = run_cmd(mpirun_cmd(2, *args, *overrides(dataset, out, "preprocess.batch_size=2")), timeout=240,
                    env={"HPCGAN_PREPROCESS_KILL_AFTER": hook}, check=False)
        assert p.returncode != 0 and not (out / "manifest.json").exists()
    assert list((out / ".work").rglob("batch-*.json"))  # committed batches survived the kills
    p = run_cmd(mpirun_cmd(2, *args, *overrides(dataset, out, "preprocess.batch_size=2")), timeout=240)
    assert "resuming after" in p.stderr
    assert shard_hashes(out) == shard_hashes(ref) and shard_hashes(ref)
    m_ref, m_out = (json.loads((d / "manifest.json").read_text()) for d in (ref, out))
    assert m_ref["shards"] == m_out["shards"] and m_ref["quarantine"] == m_out["quarantine"]
    # finished shards are verified by checksum and kept; a corrupted one is redone
    victim = out / "cfht/unpaired/part-1-of-2.h5"
    data = bytearray(victim.read_bytes())
    data[-100] ^= 0xFF
    victim.write_bytes(bytes(data))
    p = run_cmd(mpirun_cmd(2, *args, *overrides(dataset, out, "preprocess.batch_size=2")), timeout=240)
    assert "checksums verified, kept" in p.stderr and "checksum mismatch" in p.stderr
    assert shard_hashes(out) == shard_hashes(ref)


def test_rank_exception_aborts_job(dataset, tmp_path):
    p = run_cmd(mpirun_cmd(2, sys.executable, "-m", "preprocess", *overrides(dataset, tmp_path / "o")),
                timeout=120, env={"HPCGAN_PREPROCESS_RAISE_AFTER": "1:1"}, check=False)
    assert p.returncode != 0 and "test hook" in p.stderr


def test_end_to_end_with_simulator(tmp_path):
    sim = tmp_path / "sim"
    p = run_cmd([sys.executable, "-m", "hpcgan", "simulate", "--out", str(sim), "--n-paired", "6",
                 "--n-unpaired", "4"], timeout=240, check=False)
    if p.returncode != 0:
        pytest.fail(f"hpcgan simulate failed:\n{p.stderr[-2000:]}")
    out = tmp_path / "shards"
    run_cmd([sys.executable, "-m", "hpcgan", "preprocess", "--catalog", str(sim / "catalog.csv"), "--out", str(out)],
            timeout=240)
    m = json.loads((out / "manifest.json").read_text())
    assert m["quarantined"] == 0 and m["accepted"] == m["seen"]
    ts = build_train_streams(DataCfg(shards=str(out), batch_size=2), seed=0)
    b = next(ts.iterate())
    assert b["x"].shape == (2, 5, 64, 64) and b["y"].shape == (2, 5, 136, 136)
    assert all(np.isfinite(v.numpy()).all() for v in b.values())
