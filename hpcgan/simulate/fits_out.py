"""Multi-extension FITS stamps exactly as docs/formats.md specifies, written with one atomic write.

Layout: an empty primary HDU (``OBJID``, ``SURVEY``, ``RA``, ``DEC`` + provenance), then one float32
image HDU per band (``EXTNAME`` = band) with a celestial TAN WCS centred on the object.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from hpcgan.simulate.surveys import SurveySpec
from hpcgan.utils.atomic import atomic_write_bytes

FORMAT_VERSION = 1


def stamp_wcs(ra: float, dec: float, size: int, pixel_scale: float) -> WCS:
    """TAN WCS: CRVAL = (ra, dec), CRPIX = stamp centre ((n+1)/2, 1-based), north up, east left."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.cunit = ["deg", "deg"]
    w.wcs.crval = [ra, dec]
    c = (size + 1) / 2.0
    w.wcs.crpix = [c, c]
    s = pixel_scale / 3600.0
    w.wcs.cd = np.array([[-s, 0.0], [0.0, s]])
    w.wcs.radesys = "ICRS"
    return w


def wcs_header(w: WCS) -> fits.Header:
    """The WCS as FITS cards with an explicit ``CDi_j`` matrix (astropy writes PC + CDELT by default)."""
    hdr = w.to_header()
    for k in ("PC1_1", "PC1_2", "PC2_1", "PC2_2", "CDELT1", "CDELT2"):
        hdr.remove(k, ignore_missing=True)
    cd = w.wcs.cd
    for i in range(2):
        for j in range(2):
            hdr[f"CD{i + 1}_{j + 1}"] = (float(cd[i, j]), "[deg/px] linear transformation matrix")
    return hdr


def stamp_bytes(images: np.ndarray, spec: SurveySpec, object_id: str, ra: float, dec: float,
                psf_fwhm: tuple[float, ...], sky_sigma: tuple[float, ...], extra: dict | None = None) -> bytes:
    """Encode one stamp (``images``: (nband, ny, nx)) as FITS bytes, in memory."""
    prim = fits.PrimaryHDU()
    h = prim.header
    h["OBJID"] = (object_id, "object id (same in both surveys when paired)")
    h["SURVEY"] = (spec.name, "survey")
    h["RA"] = (ra, "[deg] ICRS right ascension of the stamp centre")
    h["DEC"] = (dec, "[deg] ICRS declination of the stamp centre")
    h["ORIGIN"] = ("hpcgan simulate", "simulated stamp")
    h["FMTVER"] = (FORMAT_VERSION, "hpcgan stamp format version")
    for k, v in (extra or {}).items():
        h[k] = v
    hdus = [prim]
    whdr = wcs_header(stamp_wcs(ra, dec, spec.stamp_size, spec.pixel_scale))
    for i, band in enumerate(spec.bands):
        hdr = whdr.copy()
        hdr["EXTNAME"] = (band.name, "band")  # set in the header: astropy's name= would upper-case it
        hdr["BUNIT"] = spec.bunit
        hdr["SURVEY"] = spec.name
        hdr["BAND"] = band.name
        hdr["PSFFWHM"] = (float(psf_fwhm[i]), "[arcsec] PSF FWHM")
        hdr["SKYSIG"] = (float(sky_sigma[i]), "sky noise per pixel, pixel units")
        hdr["MAGZP"] = (spec.magzp, "AB zero point: mag = MAGZP - 2.5 log10(flux)")
        hdus.append(fits.ImageHDU(np.ascontiguousarray(images[i], dtype=np.float32), header=hdr))
    buf = io.BytesIO()
    fits.HDUList(hdus).writeto(buf)
    return buf.getvalue()


def write_stamp(path: str | Path, data: bytes) -> None:
    """One atomic write (temp file + rename) of an encoded stamp."""
    atomic_write_bytes(path, data)


def is_valid_stamp(path: str | Path, object_id: str, spec: SurveySpec, simhash: str) -> bool:
    """True when ``path`` is a complete stamp of ``object_id`` in ``spec`` made with config ``simhash``."""
    p = Path(path)
    if not p.is_file():
        return False
    try:
        with fits.open(p, memmap=False) as hdul:
            h = hdul[0].header
            if h.get("OBJID") != object_id or h.get("SURVEY") != spec.name or h.get("SIMHASH") != simhash:
                return False
            if len(hdul) != 1 + len(spec.bands):
                return False
            n = spec.stamp_size
            for band, hdu in zip(spec.bands, hdul[1:]):
                if hdu.name.lower() != band.name.lower() or hdu.data is None or hdu.data.shape != (n, n):
                    return False
                if not np.isfinite(hdu.data).all():
                    return False
    except (OSError, ValueError, TypeError, IndexError):
        return False
    return True
