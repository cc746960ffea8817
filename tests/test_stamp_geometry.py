"""Pre-cut stamps of any geometry (preprocess.source: stamps): resampled onto the model grid from
their WCS, units from their headers, image vs ivar HDUs by name or config (#13 item 2)."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from photutils.aperture import CircularAperture, aperture_photometry

from hpcgan.config import load_config
from hpcgan.io.grid import grid_header, wcs_cards
from hpcgan.io.stamps import Reject, Target, read_stamp
from preprocess.run import run

warnings.filterwarnings("ignore", module="astropy")
BANDS = tuple("ugriz")
N, SCALE = 32, 0.4


def _aperture(img: np.ndarray, xy, r_px: float) -> float:
    return float(aperture_photometry(np.nan_to_num(img), CircularAperture(xy, r_px))["aperture_sum"][0])


def _target(**kw) -> Target:
    return Target(**{"ra": 150.0, "dec": 2.0, "pixel_scale": SCALE, "bunit": "nanomaggy", "magzp": 22.5, **kw})


def _galaxy(n: int, scale: float, flux: float = 100.0, sigma_arcsec: float = 1.2) -> np.ndarray:
    y, x = np.mgrid[:n, :n] - (n - 1) / 2
    g = np.exp(-(x ** 2 + y ** 2) * scale ** 2 / (2 * sigma_arcsec ** 2))
    return (flux * g / g.sum()).astype(np.float32)


def _rotated_header(n: int, scale: float, angle_deg: float) -> fits.Header:
    h = grid_header(150.0, 2.0, n, scale)
    a, s = np.radians(angle_deg), scale / 3600
    h["CD1_1"], h["CD1_2"] = -s * np.cos(a), s * np.sin(a)
    h["CD2_1"], h["CD2_2"] = s * np.sin(a), s * np.cos(a)
    return h


def test_model_grid_stamp_kept_exactly_and_units_from_magzp(tmp_path):
    """The simulator's own stamps (model-grid cards, BUNIT/MAGZP) are taken as they are, no resampling."""
    img = np.random.default_rng(1).normal(size=(5, N, N)).astype(np.float32) + 1
    hdus = [fits.PrimaryHDU()]
    for b, plane in zip(BANDS, img):
        h = fits.ImageHDU(plane, fits.Header([("EXTNAME", b), *wcs_cards(150.0, 2.0, N, SCALE),
                                              ("BUNIT", "nanomaggy"), ("MAGZP", 22.5), ("SKYSIG", 0.1)]))
        hdus.append(h)
    fits.HDUList(hdus).writeto(tmp_path / "sim.fits")
    st = read_stamp(str(tmp_path / "sim.fits"), str(tmp_path), BANDS, N, target=_target(ra=150.0001))
    np.testing.assert_array_equal(st.image, img)
    h = fits.Header.fromstring(st.wcs)
    assert (h["CRVAL1"], h["CRVAL2"]) == (150.0, 2.0)  # the stamp's own centre, not the catalog's
    assert np.allclose(st.meta["sky_sigma"], 0.1) and np.allclose(st.meta["mag_zp"], 22.5)
    # the same pixels declared at zero point 25: 10**(0.4*2.5) times fainter in nanomaggies
    for hdu in hdus[1:]:
        hdu.header["MAGZP"] = 25.0
    fits.HDUList(hdus).writeto(tmp_path / "zp25.fits")
    st = read_stamp(str(tmp_path / "zp25.fits"), str(tmp_path), BANDS, N, target=_target())
    np.testing.assert_allclose(st.image, img * 10 ** (-0.4 * 2.5), rtol=1e-6)
    assert np.allclose(st.meta["sky_sigma"], 0.1 * 10 ** (-0.4 * 2.5))


def test_rotated_finer_stamp_resampled_with_ivar_by_extname(tmp_path):
    """A 100-px stamp at 0.2"/px rotated 30 deg, image in HDU 0 and IVAR in HDU 1 of each band file."""
    n_in, s_in = 100, 0.2
    hdr = _rotated_header(n_in, s_in, 30.0)
    hdr["BUNIT"] = "nanomaggy"
    gal = _galaxy(n_in, s_in)
    for b in BANDS:
        fits.HDUList([fits.PrimaryHDU(gal, hdr), fits.ImageHDU(np.full_like(gal, 400.0), hdr, name="IVAR")]
                     ).writeto(tmp_path / f"s_{b}.fits")
    st = read_stamp(str(tmp_path / "s_{band}.fits"), str(tmp_path), BANDS, N, target=_target())
    assert st.image.shape == (5, N, N) and np.isfinite(st.image).all() and st.nan_filled.sum() == 0
    c = (N - 1) / 2
    ref = _aperture(gal, ((n_in - 1) / 2,) * 2, 3.0 / s_in)
    assert abs(_aperture(st.image[2], (c, c), 3.0 / SCALE) / ref - 1) < 0.01
    assert np.unravel_index(np.argmax(st.image[2]), (N, N)) in {(15, 15), (15, 16), (16, 15), (16, 16)}
    # 4 input pixels of sigma 0.05 summed per model pixel: sigma 0.1
    assert np.allclose(st.meta["sky_sigma"], 0.1, rtol=1e-3)
    # ivar of another shape, two unnamed images (refused, then named by config), no WCS + wrong shape
    fits.HDUList([fits.PrimaryHDU(gal, hdr), fits.ImageHDU(np.ones((5, 5)), name="IVAR")]).writeto(tmp_path / "w_r.fits")
    with pytest.raises(Reject, match=r"ivar HDU 1 has shape \(5, 5\), image has \(100, 100\)"):
        read_stamp(str(tmp_path / "w_{band}.fits"), str(tmp_path), ("r",), N, target=_target())
    fits.HDUList([fits.PrimaryHDU(gal, hdr), fits.ImageHDU(gal, hdr)]).writeto(tmp_path / "two_r.fits")
    with pytest.raises(Reject, match="2 2-D image HDUs, none named SCI"):
        read_stamp(str(tmp_path / "two_{band}.fits"), str(tmp_path), ("r",), N, target=_target())
    st = read_stamp(str(tmp_path / "two_{band}.fits"), str(tmp_path), ("r",), N, target=_target(image_hdu="1"))
    assert st.image.shape == (1, N, N)
    fits.PrimaryHDU(gal).writeto(tmp_path / "nowcs_r.fits")
    with pytest.raises(Reject, match=r"wrong shape \(100, 100\), expected \(32, 32\), and no celestial WCS"):
        read_stamp(str(tmp_path / "nowcs_{band}.fits"), str(tmp_path), ("r",), N, target=_target())


def test_units_required_or_assumed(tmp_path):
    fits.PrimaryHDU(_galaxy(N, SCALE), fits.Header([("BUNIT", "DN")])).writeto(tmp_path / "dn_r.fits")
    path = str(tmp_path / "dn_{band}.fits")
    with pytest.raises(Reject, match=r"unknown pixel units \(BUNIT 'DN', no MAGZP"):
        read_stamp(path, str(tmp_path), ("r",), N, target=_target(require_units=True))
    st = read_stamp(path, str(tmp_path), ("r",), N, target=_target())  # assumed: the model's units
    np.testing.assert_array_equal(st.image[0], _galaxy(N, SCALE))


def _run_stamps(tmp: Path, src: Path, ra: float, dec: float, *sets: str, cards: dict | None = None) -> tuple[dict, Path]:
    """The 5 per-band copies of ``src`` (tmp) + a one-row catalog through preprocess.source=stamps."""
    for b in BANDS:
        shutil.copy(src, tmp / f"obj_{b}.fits")
        if cards:
            with fits.open(tmp / f"obj_{b}.fits", mode="update") as h:
                h[0].header.update(cards)
    (tmp / "cat.csv").write_text(f"object_id,survey,split,path,ra,dec\nobj,sdss,unpaired,obj_{{band}}.fits,{ra!r},{dec!r}\n")
    out = tmp / "out"
    shutil.rmtree(out, ignore_errors=True)
    cfg = load_config(None, [f"preprocess.catalog={tmp / 'cat.csv'}", f"preprocess.out={out}",
                             "preprocess.quarantine_max_frac=1", *sets])
    assert run(cfg) == 0
    return json.loads((out / "manifest.json").read_text()), out


def test_real_rotated_sdss_dn_stamp_through_stamps_source(realdata, tmp_path):
    """The 256-px SDSS r stamp (DN, grid rotated 91 deg) -> the 64-px north-up SDSS model grid."""
    f = realdata / "pyimfit_sdss_r/ic3478rss_256.fits"
    img, w = fits.getdata(f).astype(np.float64), WCS(fits.getheader(f))
    y, x = np.unravel_index(np.argmax(img[100:156, 100:156]), (56, 56))
    ra, dec = (float(v) for v in w.pixel_to_world_values(x + 100, y + 100))
    m, _ = _run_stamps(tmp_path, f, ra, dec, "preprocess.require_units=true")
    assert m["accepted"] == 0 and m["quarantine"][0]["reason"].startswith("unknown pixel units (BUNIT 'DNs'")
    m, out = _run_stamps(tmp_path, f, ra, dec, "preprocess.require_units=false")  # units assumed: DN kept
    assert m["accepted"] == 1, m["quarantine"]
    with h5py.File(out / "sdss/unpaired/part-0-of-1.h5") as h:
        stamp, hdr = h["images"][0, 2], h["wcs"][0]
    sw = WCS(fits.Header.fromstring(hdr.decode() if isinstance(hdr, bytes) else hdr))
    assert np.allclose(sw.wcs.crval, (ra, dec)) and np.allclose(sw.wcs.cd, [[-0.396 / 3600, 0], [0, 0.396 / 3600]])
    for r_arcsec in (4.0, 8.0, 12.0):
        ref = _aperture(img, w.world_to_pixel_values(ra, dec), r_arcsec / 0.396)
        got = _aperture(stamp, (31.5, 31.5), r_arcsec / 0.396)
        assert abs(got / ref - 1) < 0.01, (r_arcsec, got, ref)
    # counts with the SDSS NMGY card: converted to nanomaggies at ingest
    _, out = _run_stamps(tmp_path, f, ra, dec, "preprocess.require_units=true", cards={"NMGY": 0.005, "BUNIT": "DN"})
    with h5py.File(out / "sdss/unpaired/part-0-of-1.h5") as h:
        np.testing.assert_allclose(h["images"][0, 2], stamp * 0.005, rtol=1e-5)
