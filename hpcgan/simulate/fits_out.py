"""Multi-extension FITS stamps exactly as docs/formats.md specifies, written with one atomic write.

Layout: an empty primary HDU (``OBJID``, ``SURVEY``, ``RA``, ``DEC`` + provenance), then one float32
image HDU per band (``EXTNAME`` = band) with a celestial TAN WCS centred on the object
(the model grid, :func:`hpcgan.io.grid.wcs_cards`).

The bytes are assembled by :mod:`hpcgan.io.fits_write` (header templates, ~1 ms a stamp). Tests read
the files back with astropy.
"""
from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
from astropy.io import fits

from hpcgan.astro.surveys import SurveySpec
from hpcgan.io.fits_write import HeaderTemplate, data_block, image_cards, primary_cards
from hpcgan.utils.atomic import atomic_write_bytes

SIM_STAMP_VERSION = 1  # the simulated FITS stamp's format version (card FMTVER)


@lru_cache(maxsize=8)
def _templates(spec: SurveySpec) -> tuple[HeaderTemplate, tuple[HeaderTemplate, ...]]:
    """Primary and per-band image header templates of one survey."""
    prim = HeaderTemplate([*primary_cards(spec.name, "object id (same in both surveys when paired)", "survey"),
                           ("SPLIT", "", "unpaired, paired-train/-test(-truth)"),
                           ("SIMSEED", 0, "simulate.seed"), ("SIMHASH", "", "hash of the settings that set pixels"),
                           ("NOISE", True, "sky noise added"), ("ORIGIN", "hpcgan simulate", "simulated stamp"),
                           ("FMTVER", SIM_STAMP_VERSION, "hpcgan stamp format version")])
    images = tuple(HeaderTemplate([
        *image_cards(band.name, spec.stamp_size, spec.pixel_scale, spec.bunit, spec.name),
        ("PSFFWHM", 0.0, "[arcsec] PSF FWHM"), ("SKYSIG", band.sky_sigma, "sky noise per pixel, pixel units"),
        ("MAGZP", spec.magzp, "AB zero point: mag = MAGZP - 2.5 log10(flux)")]) for band in spec.bands)
    return prim, images


def stamp_bytes(images: np.ndarray, spec: SurveySpec, object_id: str, ra: float, dec: float,
                psf_fwhm: tuple[float, ...], sky_sigma: tuple[float, ...], split: str = "", seed: int = 0,
                simhash: str = "", noise: bool = True) -> bytes:
    """Encode one stamp (``images``: (nband, ny, nx)) as FITS bytes, in memory."""
    n = spec.stamp_size
    if images.shape != (len(spec.bands), n, n):
        raise ValueError(f"images: expected shape {(len(spec.bands), n, n)}, got {images.shape}")
    prim, bands = _templates(spec)
    parts = [prim.render({"OBJID": (object_id, "object id (same in both surveys when paired)"),
                          "RA": (float(ra), "[deg] ICRS right ascension of the stamp centre"),
                          "DEC": (float(dec), "[deg] ICRS declination of the stamp centre"),
                          "SPLIT": (split, "unpaired, paired-train/-test(-truth)"),
                          "SIMSEED": (int(seed), "simulate.seed"),
                          "SIMHASH": (simhash, "hash of the settings that set pixels"),
                          "NOISE": (bool(noise), "sky noise added")})]
    for i, tpl in enumerate(bands):
        parts.append(tpl.render({"CRVAL1": (float(ra), "[deg] RA of the reference pixel"),
                                 "CRVAL2": (float(dec), "[deg] Dec of the reference pixel"),
                                 "PSFFWHM": (float(psf_fwhm[i]), "[arcsec] PSF FWHM"),
                                 "SKYSIG": (float(sky_sigma[i]), "sky noise per pixel, pixel units")}))
        parts.append(data_block(images[i]))
    return b"".join(parts)


def write_stamp(path: str | Path, data: bytes) -> None:
    """One atomic write (temp file + rename) of an encoded stamp."""
    atomic_write_bytes(path, data)


def is_valid_stamp(path: str | Path, object_id: str, spec: SurveySpec, simhash: str, noise: bool = True) -> bool:
    """True when ``path`` is a complete stamp of ``object_id`` in ``spec`` made with config ``simhash``,
    with (``noise``) or without sky noise."""
    p = Path(path)
    if not p.is_file():
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # astropy warns about torn files: they are just invalid here
            return _check_stamp(p, object_id, spec, simhash, noise)
    except (OSError, ValueError, TypeError, IndexError):
        return False


def _check_stamp(p: Path, object_id: str, spec: SurveySpec, simhash: str, noise: bool) -> bool:
    with fits.open(p, memmap=False) as hdul:
        h = hdul[0].header
        if h.get("OBJID") != object_id or h.get("SURVEY") != spec.name or h.get("SIMHASH") != simhash:
            return False
        if h.get("NOISE") is not bool(noise):
            return False
        if len(hdul) != 1 + len(spec.bands):
            return False
        n = spec.stamp_size
        for band, hdu in zip(spec.bands, hdul[1:]):
            if hdu.name.lower() != band.name.lower() or hdu.data is None or hdu.data.shape != (n, n):
                return False
            if not np.isfinite(hdu.data).all():
                return False
    return True
