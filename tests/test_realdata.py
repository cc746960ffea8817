"""Real survey files (../shared/realdata) through preprocess.source=frames: SDSS frame + photoObj,
the rotated 256-px SDSS r stamp (DN), the HSC cube, PS1 stamp + variance. Skipped when the folder is absent."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import h5py
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from photutils.aperture import CircularAperture, aperture_photometry

from hpcgan.config import load_config
from hpcgan.dist.comm import Comm
from preprocess.run import run

warnings.filterwarnings("ignore", module="astropy")
BANDS = "ugriz"


def _preprocess(tmp: Path, frames: list[str], objects: list[tuple], *overrides: str) -> tuple[dict, Path]:
    """frames: index lines 'path,survey,band[,hdu,plane,ivar,ivar_kind,magzp]'; objects: (id, survey, ra, dec)."""
    (tmp / "frames.csv").write_text("path,survey,band,hdu,plane,ivar,ivar_kind,magzp\n" + "\n".join(frames) + "\n")
    (tmp / "cat.csv").write_text("object_id,survey,split,ra,dec\n" +
                                 "".join(f"{o},{s},unpaired,{ra!r},{dec!r}\n" for o, s, ra, dec in objects))
    out = tmp / "out"
    cfg = load_config(None, ["preprocess.source=frames", f"preprocess.catalog={tmp / 'cat.csv'}",
                             f"preprocess.frames={tmp / 'frames.csv'}", f"preprocess.out={out}",
                             "preprocess.quarantine_max_frac=1", *overrides])
    assert run(cfg, Comm()) == 0
    return json.loads((out / "manifest.json").read_text()), out


def _shard(out: Path, survey: str) -> dict:
    with h5py.File(out / survey / "unpaired" / "part-0-of-1.h5") as f:
        return {k: f[k][()] for k in ("images", "object_id", "ra", "dec", "wcs", "sky_sigma")}


def _aperture(img: np.ndarray, xy, r_px: float) -> float:
    return float(aperture_photometry(np.nan_to_num(img), CircularAperture(xy, r_px))["aperture_sum"][0])


def test_sdss_frame_and_photoobj_aperture_fluxes(realdata, tmp_path):
    d = realdata / "tractor_sdss_frame"
    frame = d / "frame-r-001000-1-0100.fits"
    from astropy.table import Table
    cat = Table.read(d / "photoObj-001000-1-0100.fits")
    objs = [(str(r["OBJID"]), "sdss", float(r["RA"]), float(r["DEC"])) for r in cat]
    # only the r frame exists: it fills every band slot of the 5-band model
    m, out = _preprocess(tmp_path, [f"{frame},sdss,{b},,,,," for b in BANDS], objs, "data.x.stamp_size=24")
    assert m["seen"] == 19 and m["accepted"] == 2, m["quarantine"]
    reasons = [q["reason"] for q in m["quarantine"]]
    assert sum(r.startswith("outside every sdss frame in band u (1 usable)") for r in reasons) == 13
    assert all("\n" not in r for r in reasons)
    sh = _shard(out, "sdss")
    img, w = fits.getdata(frame), WCS(fits.getheader(frame))
    c = (24 - 1) / 2
    for stamp, ra, dec, hdr in zip(sh["images"], sh["ra"], sh["dec"], sh["wcs"]):
        sw = WCS(fits.Header.fromstring(hdr.decode() if isinstance(hdr, bytes) else hdr))
        assert np.allclose(sw.wcs.crval, (ra, dec)) and np.allclose(sw.wcs.crpix, (12.5, 12.5))
        xy = w.world_to_pixel_values(ra, dec)
        ref = _aperture(img, xy, 4.0 / 0.396)
        if ref < 1.0:  # the faint catalog entry: a relative error of noise means nothing
            continue
        got = _aperture(stamp[2], (c, c), 4.0 / 0.396)
        assert abs(got / ref - 1) < 0.01, (got, ref)


def test_rotated_sdss_stamp_resampled_flux_conserved(realdata, tmp_path):
    f = realdata / "pyimfit_sdss_r/ic3478rss_256.fits"
    img, w = fits.getdata(f).astype(np.float64), WCS(fits.getheader(f))
    y, x = np.unravel_index(np.argmax(img[100:156, 100:156]), (56, 56))
    ra, dec = (float(v) for v in w.pixel_to_world_values(x + 100, y + 100))
    # BUNIT = 'DNs' has no zero point: declared in the index (22.5 keeps DN for the comparison)
    m, out = _preprocess(tmp_path, [f"{f},sdss,{b},,,,,22.5" for b in BANDS], [("ic3478", "sdss", ra, dec)])
    assert m["accepted"] == 1, m["quarantine"]
    stamp = _shard(out, "sdss")["images"][0, 2]
    for r_arcsec in (4.0, 8.0, 12.0):
        ref = _aperture(img, w.world_to_pixel_values(ra, dec), r_arcsec / 0.396)
        got = _aperture(stamp, (31.5, 31.5), r_arcsec / 0.396)
        assert abs(got / ref - 1) < 0.01, (r_arcsec, got, ref)


def test_hsc_cube_and_ps1_stamp_with_variance_ingested(realdata, tmp_path):
    hsc = realdata / "scarlet_hsc_hst/Cut_HSC.fits"
    sci = realdata / "tractor_ps1_stamp/H1413+117_10x10arcsec_55377.34051_z_sci.fits"
    var = sci.with_name(sci.name.replace("_sci", "_var"))
    hw, pw = WCS(fits.getheader(hsc)).celestial, WCS(fits.getheader(sci))
    hra, hdec = (float(v) for v in hw.pixel_to_world_values(24.5, 24.5))
    pra, pdec = (float(v) for v in pw.pixel_to_world_values(24, 24))
    # HSC coadds: AB zero point 27; PS1 warp: FPA.ZP is not an AB zero point of the pixels: declared here
    lines = [f"{hsc},hsc,{b},0,{k},,,27.0" for k, b in enumerate("grizy")]
    lines += [f"{sci},ps1,{b},0,,{var},variance,24.3" for b in BANDS]
    m, out = _preprocess(tmp_path, lines, [("cosmos", "hsc", hra, hdec), ("qso", "ps1", pra, pdec)],
                         "data.x.name=hsc", "data.x.bands=[g,r,i,z,y]", "data.x.stamp_size=40",
                         "data.x.pixel_scale=0.187", "data.x.bunit=nJy", "data.x.magzp=31.4",
                         "data.y.name=ps1", "data.y.stamp_size=40", "data.y.pixel_scale=0.25",
                         "preprocess.nan_fill_max_frac=0.6")
    assert m["accepted"] == 2, m["quarantine"]
    h, p = _shard(out, "hsc"), _shard(out, "ps1")
    assert h["images"].shape == (1, 5, 40, 40) and np.isfinite(h["images"]).all()
    cube = fits.getdata(hsc)
    got = h["images"][0].sum(axis=(1, 2)) / 10 ** (-0.4 * (27.0 - 31.4))  # back to the cube's units
    ref = np.array([_aperture(plane, (24.5, 24.5), 3.5 / 0.168) for plane in cube])
    assert np.all(got[ref > 1] > 0)
    assert p["images"].shape == (1, 5, 40, 40) and np.isfinite(p["sky_sigma"]).all() and (p["sky_sigma"] > 0).all()
