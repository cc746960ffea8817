"""Input files as people really have them (#23 items 4-6, #20 items 4-7): compressed stamps, BOM
catalogs, oversize files, section reads, abandoned reads, absurd pixels, units in the primary
header, symlinked folders, WCS sanity and positions off the stamp. Every file is crafted here."""
from __future__ import annotations

import bz2
import gzip
import json
import os
import threading
import time
import warnings

import numpy as np
import pytest
from astropy.io import fits

from hpcgan.config import load_config
from hpcgan.dist.comm import Comm
from hpcgan.io import fileio
from hpcgan.io.fileio import FileProblem, bounded, read_regular
from hpcgan.io.fits_read import FitsError
from hpcgan.io.grid import grid_header, wcs_cards
from hpcgan.io.open_fits import ReadLimits, RowReader, load_hdus
from hpcgan.io.stamps import Reject, Target, read_stamp
from preprocess.catalog import read_catalog
from preprocess.run import run

warnings.filterwarnings("ignore", module="astropy")
BANDS = tuple("ugriz")
N, SCALE = 16, 0.4
COLS = "object_id,survey,split,path,ra,dec"


def _target(**kw) -> Target:
    return Target(**{"ra": 150.0, "dec": 2.0, "pixel_scale": SCALE, "bunit": "nanomaggy", "magzp": 22.5, **kw})


def _mef(img: np.ndarray, ra: float = 150.0, dec: float = 2.0, band_cards: dict | None = None,
         primary: dict | None = None) -> fits.HDUList:
    """The simulator's layout: empty primary, one model-grid image HDU per band."""
    hdus = [fits.PrimaryHDU(header=fits.Header(list((primary or {}).items())))]
    for b, plane in zip(BANDS, img):
        cards = [("EXTNAME", b), *wcs_cards(ra, dec, N, SCALE), ("BUNIT", "nanomaggy"), ("MAGZP", 22.5)]
        h = fits.ImageHDU(plane, fits.Header(cards))
        for k, v in (band_cards or {}).items():
            h.header[k] = v
        hdus.append(h)
    return fits.HDUList(hdus)


def _img(seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(5, N, N)) + 1).astype(np.float32)


# ---- compressed stamps --------------------------------------------------------------------------
def test_gz_bz2_fz_stamps_read_as_stamps(tmp_path):
    img = _img()
    _mef(img).writeto(tmp_path / "plain.fits")
    raw = (tmp_path / "plain.fits").read_bytes()
    (tmp_path / "s.fits.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "s.fits.bz2").write_bytes(bz2.compress(raw))
    fz = [fits.PrimaryHDU()] + [fits.CompImageHDU(p, fits.Header([("EXTNAME", b), *wcs_cards(150.0, 2.0, N, SCALE),
                                                                   ("BUNIT", "nanomaggy")]),
                                                  compression_type="GZIP_1") for b, p in zip(BANDS, img)]
    fits.HDUList(fz).writeto(tmp_path / "s.fits.fz")
    for name in ("plain.fits", "s.fits.gz", "s.fits.bz2", "s.fits.fz"):
        st = read_stamp(str(tmp_path / name), str(tmp_path), BANDS, N, target=_target())
        np.testing.assert_allclose(st.image, img, rtol=0, atol=0.1 if name.endswith("fz") else 0, err_msg=name)


@pytest.mark.parametrize("kind", ["gzip", "bzip2"])
def test_truncated_compressed_stamp_says_truncated(kind, tmp_path):
    _mef(_img()).writeto(tmp_path / "plain.fits")
    raw = (tmp_path / "plain.fits").read_bytes()
    packed = gzip.compress(raw) if kind == "gzip" else bz2.compress(raw)
    p = tmp_path / f"cut.fits.{'gz' if kind == 'gzip' else 'bz2'}"
    p.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(Reject) as e:
        read_stamp(str(p), str(tmp_path), BANDS, N, target=_target())
    assert str(e.value) == f"truncated {kind} file: the compressed stream ends before its end marker: {p}"
    bad = tmp_path / "bad.fits.gz"
    bad.write_bytes(packed[:10] + b"\xff" * 200 if kind == "gzip" else b"\x1f\x8b" + b"\x00" * 50)
    with pytest.raises(Reject, match=r"^(corrupt|truncated) gzip file"):
        read_stamp(str(bad), str(tmp_path), BANDS, N, target=_target())


def test_gzip_bomb_stops_at_the_bound(tmp_path):
    p = tmp_path / "bomb.fits.gz"
    with gzip.open(p, "wb") as f:
        f.write(b"SIMPLE  =" + b" " * (3 << 20))
    with pytest.raises(FileProblem, match=r"^gzip file decompresses to more than preprocess.max_input_mib 1 MiB$"):
        load_hdus(str(p), ReadLimits(1 << 20, 1 << 20))


# ---- memory per file ----------------------------------------------------------------------------
def _sparse_fits(path, nx: int, ny: int, extname: str = "huge") -> None:
    """A FITS file declaring a large float32 image whose data is a hole (no disk used)."""
    hdr = fits.Header([("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 2), ("NAXIS1", nx), ("NAXIS2", ny),
                       ("EXTNAME", extname)])
    text = hdr.tostring().encode()
    with open(path, "wb") as f:
        f.write(text)
        f.truncate(len(text) + -(-nx * ny * 4 // 2880) * 2880)


def test_oversize_file_quarantined_with_its_size_unread(tmp_path):
    p = tmp_path / "big.fits"
    _sparse_fits(p, 40000, 40000)  # 5.96 GiB declared
    with pytest.raises(Reject, match=r"^declared data size 5.96 GiB > preprocess.max_input_mib 2048 MiB: "):
        read_stamp(str(p), str(tmp_path), BANDS, N, target=_target())
    # under a larger bound it is read on demand, not whole: refused for its missing bands, no pixel read
    hdus = load_hdus(str(p), ReadLimits.from_mib(8192, 64))
    assert isinstance(hdus[0]._raw, RowReader)
    with pytest.raises(Reject, match=r"^missing band 'u'"):
        read_stamp(str(p), str(tmp_path), BANDS, N, target=_target(limits=ReadLimits.from_mib(8192, 64)))


def test_bound_below_section_size_is_still_a_bound(tmp_path):
    _mef(_img()).writeto(tmp_path / "a.fits")  # 5 x 16 x 16 floats: 5 KiB of data
    with pytest.raises(FitsError, match=r"^declared data size 5.0 KiB > preprocess.max_input_mib 0.00\d+ MiB$"):
        load_hdus(str(tmp_path / "a.fits"), ReadLimits.from_mib(0.001, 64))


def test_large_stamp_cut_by_section_equals_whole_read(tmp_path):
    """A stamp with a WCS far larger than the model grid is resampled from a section read on demand,
    with the same pixels as from a whole read."""
    big = 600
    rng = np.random.default_rng(3)
    hdus = [fits.PrimaryHDU()]
    for b in BANDS:
        h = grid_header(150.0, 2.0, big, SCALE)
        h["EXTNAME"], h["BUNIT"] = b, "nanomaggy"
        hdus.append(fits.ImageHDU(rng.normal(size=(big, big)).astype(np.float32), h))
    fits.HDUList(hdus).writeto(tmp_path / "big.fits")
    whole = read_stamp(str(tmp_path / "big.fits"), str(tmp_path), BANDS, N, target=_target(ra=150.001, dec=2.001))
    lim = ReadLimits.from_mib(2048, 0.5)  # the 7 MB file is above the section-read size
    assert isinstance(load_hdus(str(tmp_path / "big.fits"), lim)[1]._raw, RowReader)
    part = read_stamp(str(tmp_path / "big.fits"), str(tmp_path), BANDS, N,
                      target=_target(ra=150.001, dec=2.001, limits=lim))
    np.testing.assert_array_equal(part.image, whole.image)
    assert np.isfinite(part.image).all() and part.nan_filled.sum() == 0


def test_timed_out_read_really_stops(tmp_path, monkeypatch):
    """Past read_timeout_s the file is quarantined and the abandoned thread stops reading at its
    next chunk instead of reading on to the end of the file."""
    p = tmp_path / "slow.bin"
    p.write_bytes(b"x" * (4 << 20))
    calls = []

    def slow(fd, n, pos):
        calls.append(pos)
        time.sleep(0.02)
        return os.pread(fd, n, pos)

    monkeypatch.setattr(fileio, "CHUNK", 4096)
    monkeypatch.setattr(fileio, "_pread", slow)
    t0 = time.perf_counter()
    with pytest.raises(FileProblem, match="read timed out after 0.2 s"):
        bounded(read_regular, str(p), timeout_s=0.2)
    assert time.perf_counter() - t0 < 1.0
    time.sleep(0.2)
    n = len(calls)
    time.sleep(0.3)
    assert len(calls) == n < 64, "the abandoned read goes on"  # 1024 chunks if it read to the end
    assert not any(t.name == "preprocess-read" and t.is_alive() and t is not threading.current_thread()
                   for t in threading.enumerate() if t is fileio._worker)


# ---- catalogs -----------------------------------------------------------------------------------
def test_bom_csv_catalog_is_read(tmp_path):
    (tmp_path / "cat.csv").write_bytes(("\ufeff" + COLS + "\na,sdss,unpaired,a.fits,150,2\n").encode("utf-8"))
    good, bad, seen = read_catalog(tmp_path / "cat.csv", tmp_path, ("sdss", "cfht"))
    assert seen == 1 and not bad and good[0].object_id == "a"


def test_symlinked_folder_followed_escapes_refused(tmp_path):
    """stamps -> /elsewhere inside the data root is followed; an absolute path or .. out is refused."""
    root, elsewhere = tmp_path / "project", tmp_path / "lustre"
    root.mkdir()
    elsewhere.mkdir()
    _mef(_img()).writeto(elsewhere / "a.fits")
    (root / "stamps").symlink_to(elsewhere)
    (root / "cat.csv").write_text(f"{COLS}\na,sdss,unpaired,stamps/a.fits,150,2\n"
                                  f"b,sdss,unpaired,{elsewhere}/a.fits,150,2\nc,sdss,unpaired,../lustre/a.fits,150,2\n")
    good, bad, seen = read_catalog(root / "cat.csv", root, ("sdss", "cfht"))
    assert [r.object_id for r in good] == ["a"]
    assert {q["object_id"]: q["reason"] for q in bad} == {k: f"path escapes the data root {root}" for k in "bc"}
    st = read_stamp(good[0].path, str(root), BANDS, N, target=_target())
    assert st.image.shape == (5, N, N)
    with pytest.raises(Reject, match="path escapes the data root"):
        read_stamp(str(root / "../lustre/a.fits"), str(root), BANDS, N, target=_target())


# ---- pixels, units, WCS -------------------------------------------------------------------------
def test_absurd_finite_pixels_quarantined_with_the_value(tmp_path):
    img = _img()
    img[2] = 1e30
    _mef(img).writeto(tmp_path / "a.fits")
    with pytest.raises(Reject) as e:
        read_stamp(str(tmp_path / "a.fits"), str(tmp_path), BANDS, N, target=_target())
    assert str(e.value).startswith("pixel value 1e+30 in band 'r' beyond the physical range (limit 1e+08 = 1000 x "
                                   "the flux of an AB 10 mag source in nanomaggy)")
    st = read_stamp(str(tmp_path / "a.fits"), str(tmp_path), BANDS, N, target=_target(pixel_limit_factor=0))
    assert st.image[2].max() == np.float32(1e30)


def _per_band(path, primary: dict, image: dict) -> None:
    """A DECam-like file: calibration cards in HDU 0, pixels (with their WCS) in HDU 1."""
    h = grid_header(150.0, 2.0, N, SCALE)
    h.update(image)
    fits.HDUList([fits.PrimaryHDU(header=fits.Header(list(primary.items()))),
                  fits.ImageHDU(np.ones((N, N), np.float32), h, name="SCI")]).writeto(path)


def test_units_inherited_from_the_primary_header(tmp_path):
    for b in BANDS:
        _per_band(tmp_path / f"d_{b}.fits", {"BUNIT": "adu", "MAGZERO": 25.0, "EXPTIME": 90.0}, {})
        _per_band(tmp_path / f"n_{b}.fits", {"BUNIT": "adu", "MAGZERO": 25.0}, {"INHERIT": False})
    st = read_stamp(str(tmp_path / "d_{band}.fits"), str(tmp_path), BANDS, N, target=_target())
    np.testing.assert_allclose(st.image, 10 ** (-0.4 * (25.0 - 22.5)), rtol=1e-6)
    with pytest.raises(Reject) as e:
        read_stamp(str(tmp_path / "n_{band}.fits"), str(tmp_path), BANDS, N, target=_target(require_units=True))
    assert "searched HDU 1 (INHERIT = F)" in str(e.value)
    _per_band(tmp_path / "x_u.fits", {"EXPTIME": 90.0}, {"BUNIT": "DN"})
    with pytest.raises(Reject) as e:
        read_stamp(str(tmp_path / "x_{band}.fits"), str(tmp_path), ("u",), N, target=_target(require_units=True))
    assert str(e.value).startswith("unknown pixel units (BUNIT 'DN', no MAGZP") and \
        "card; searched HDU 1, then the primary HDU 0)" in str(e.value)


@pytest.mark.parametrize("case,want", [
    ("singular", "unusable WCS in band 'u' (HDU 1): singular CD matrix [0.0, 0.0, 0.0, 0.0] (determinant 0)"),
    ("dec95", "unusable WCS in band 'u' (HDU 1): CRVAL2 = 95.0: not a latitude (|Dec| <= 90 deg)"),
    ("scale", "unusable WCS in band 'u' (HDU 1): pixel scale 3600 arcsec/px outside 0.01..10"),
    ("nan", "unusable WCS in band 'u' (HDU 1): non-finite CD matrix"),
])
def test_wcs_that_cannot_map_pixels_to_sky_is_refused(case, want, tmp_path):
    cards = {"singular": {"CD1_1": 0.0, "CD2_2": 0.0}, "dec95": {"CRVAL2": 95.0},
             "scale": {"CD1_1": -1.0, "CD2_2": 1.0}, "nan": {}}[case]
    hl = _mef(_img(), band_cards=cards)
    p = tmp_path / f"{case}.fits"
    hl.writeto(p)
    if case == "nan":  # astropy will not write a NaN card value: edit the bytes
        raw = p.read_bytes()
        i = raw.index(b"CD1_1   =")
        p.write_bytes(raw[:i + 10] + b"NaN".rjust(20) + raw[i + 30:])
    with pytest.raises(Reject) as e:
        read_stamp(str(p), str(tmp_path), BANDS, N, target=_target())
    assert str(e.value).startswith(want), str(e.value)


def test_position_outside_the_footprint_names_both_positions(tmp_path):
    """One file listed under two positions 340 deg apart: the right one is accepted, the other
    quarantined with both positions and the separation (not a NaN count)."""
    _mef(_img(), ra=10.0, dec=2.0).writeto(tmp_path / "a.fits")
    assert read_stamp(str(tmp_path / "a.fits"), str(tmp_path), BANDS, N, target=_target(ra=10.0)).image.shape
    with pytest.raises(Reject) as e:
        read_stamp(str(tmp_path / "a.fits"), str(tmp_path), BANDS, N, target=_target(ra=350.0))
    assert str(e.value).startswith("catalog position (350.000000, 2.000000) outside the stamp's footprint in band 'u': "
                                   "the stamp's centre is (10.000000, 2.000000), 20.0 deg away (tolerance 2 arcsec)")
    # a resampled stamp (rotated WCS) checks its own footprint: 10" off a 6.4" stamp is outside
    h = grid_header(150.0, 2.0, N, SCALE)
    h["CD1_2"] = 1e-6
    for b in BANDS:
        fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((N, N), np.float32), h)]).writeto(tmp_path / f"r_{b}.fits")
    with pytest.raises(Reject, match=r"^catalog position \(150.000000, 2.002778\) outside .* 10.0 arcsec away"):
        read_stamp(str(tmp_path / "r_{band}.fits"), str(tmp_path), BANDS, N, target=_target(dec=2.0 + 10 / 3600))


def test_preprocess_run_quarantines_odd_inputs_and_reads_the_rest(tmp_path):
    """Through the stage: BOM catalog, a .fits.gz, a truncated .fits.gz, a 1e30 band, a bad WCS and
    a wrong position, on one rank; accepted + quarantined = seen."""
    d = tmp_path / "data"
    d.mkdir()
    img = _img()
    _mef(img).writeto(d / "ok.fits")
    raw = (d / "ok.fits").read_bytes()
    (d / "gz.fits.gz").write_bytes(gzip.compress(raw))
    (d / "cut.fits.gz").write_bytes(gzip.compress(raw)[:3000])
    hot = img.copy()
    hot[0] = 1e30
    _mef(hot).writeto(d / "hot.fits")
    _mef(img, band_cards={"CRVAL2": 95.0}).writeto(d / "dec95.fits")
    rows = [("ok", "ok.fits", 150.0), ("gz", "gz.fits.gz", 150.0), ("cut", "cut.fits.gz", 150.0),
            ("hot", "hot.fits", 150.0), ("dec95", "dec95.fits", 150.0), ("far", "ok.fits", 151.0)]
    (d / "cat.csv").write_bytes(("\ufeff" + COLS + "\n" + "".join(f"{o},sdss,unpaired,{p},{ra},2.0\n"
                                                                 for o, p, ra in rows)).encode())
    cfg = load_config(None, [f"preprocess.catalog={d / 'cat.csv'}", f"preprocess.out={tmp_path / 'out'}",
                             f"data.x.stamp_size={N}", f"data.x.pixel_scale={SCALE}", "preprocess.read_timeout_s=0",
                             "preprocess.quarantine_max_frac=1"])
    assert run(cfg, Comm()) == 0
    m = json.loads((tmp_path / "out/manifest.json").read_text())
    reasons = {q["object_id"]: q["reason"].split(":")[0] for q in m["quarantine"]}
    assert m["seen"] == 6 and m["accepted"] == 2 and m["accepted"] + m["quarantined"] == m["seen"]
    assert reasons["cut"] == "truncated gzip file"
    assert reasons["hot"].startswith("pixel value 1e+30 in band 'u'")
    assert reasons["dec95"] == "unusable WCS in band 'u' (HDU 1)"
    assert reasons["far"].startswith("catalog position (151.000000, 2.000000) outside the stamp's footprint")


def test_wcs_scale_range_config_is_checked():
    from hpcgan.config.loader import ConfigError
    with pytest.raises(ConfigError, match=r"^preprocess.wcs_scale_min_arcsec: must be < preprocess.wcs_scale_max_arcsec"):
        load_config(None, ["preprocess.wcs_scale_min_arcsec=20"])
    with pytest.raises(ConfigError, match=r"^data.y.pixel_scale: 0.187 is outside preprocess.wcs_scale_min_arcsec"):
        load_config(None, ["preprocess.wcs_scale_min_arcsec=0.2"])


def test_bom_frame_index_is_read(tmp_path):
    from hpcgan.io.frames import read_index
    cfg = load_config(None, [])
    (tmp_path / "frames.csv").write_bytes("\ufeffpath,survey,band\nf.fits,sdss,r\n".encode())
    (f,) = read_index(tmp_path / "frames.csv", {s.name: s for s in (cfg.data.x, cfg.data.y)})
    assert (f.path, f.survey, f.band) == (str(tmp_path / "f.fits"), "sdss", "r")
