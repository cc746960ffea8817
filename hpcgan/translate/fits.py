"""Translated stamps as multi-extension FITS, the simulator's stamp layout (docs/formats.md) for the
TARGET survey, with translation provenance instead of simulation cards.

An empty primary HDU (``OBJID``, ``SURVEY``, ``RA``, ``DEC``, provenance), then one float32 image
HDU per band (``EXTNAME`` = band) with the target grid's celestial TAN WCS, ``BUNIT``/``MAGZP`` of
the target survey, and the provenance cards again. The target grid is derived from the input
stamp's model grid (the shards' ``wcs`` dataset, :meth:`hpcgan.io.shards.ShardSource.grids`): the same centre (a
translation maps stamp centre to stamp centre, north up, east left) at the target survey's size and
pixel scale (:func:`target_grid`), so a translated stamp overlays the sky in DS9/astropy; shards
written before the ``wcs`` dataset fall back to the catalog (ra, dec). Provenance: ``ORIGIN = 'hpcgan translate'``, ``METHOD`` (``model`` or
``resample``: the physical baseline), ``SRCSURV`` (input survey), ``CKPTSHA`` (SHA-256 of the
checkpoint file; '' for the baseline), ``CKPTITER`` (0 for the baseline), ``REALIS`` (realisation index, 0-based),
``NREALIS``, ``NSEED`` (``translate.seed``), ``NOISE`` (T: the target survey's noise added; F: the noise-free
estimate, ``translate.noise: false`` or the baseline without ``baseline.add_noise``).

After the bands, a ``MASK`` HDU (FITS stamp format version 2, ``FMTVER``): uint8 ``(band, y, x)`` cube in band order
(``BANDS``), the per-pixel bits of :mod:`hpcgan.io.mask_bits` (cards ``MASKB1`` ... name them)
propagated from the input stamp onto the target grid, with the same celestial WCS; 0 = valid.

Header cards are formatted through :mod:`hpcgan.io.fits_write`'s templates (:func:`hpcgan.io.grid.wcs_cards` is the
one WCS definition of the project) and each file is assembled in memory and written once, atomically
(many small writes are slow on parallel file systems, LSSTDESC/sacc #54).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from hpcgan.io.fits_write import HeaderTemplate, data_block, image_cards, pad_block, primary_cards
from hpcgan.io.grid import centre, grid_text, wcs_cards
from hpcgan.utils.atomic import atomic_write_bytes

# The translated FITS stamp's format version (card FMTVER; not the shards' hpcgan.io.shards.FORMAT_VERSION).
#   1: the image HDUs.  2: the MASK HDU.
TRANSLATED_STAMP_VERSION = 2


@dataclass(frozen=True)
class TargetSpec:
    """What the FITS header says about the target survey."""
    survey: str
    source_survey: str
    bands: tuple[str, ...]
    size: int
    pixel_scale: float  # arcsec / px
    bunit: str
    magzp: float
    ckpt_sha256: str
    ckpt_iteration: int
    n_realisations: int
    seed: int
    method: str = "model"  # translate.method: model (CKPTSHA/CKPTITER set) or resample ('' / 0)
    noise: bool = True  # the target survey's noise added (model: translate.noise; resample: baseline.add_noise)


def _prov(spec: TargetSpec, realisation: int = 0) -> list[tuple[str, object, str]]:
    what = ("G(x) + NE(z)" if spec.noise else "G(x)") if spec.method == "model" else "physical baseline"
    return [("ORIGIN", "hpcgan translate", f"translated stamp: {what}"),
            ("METHOD", spec.method, "translate.method: model or resample (baseline)"),
            ("SRCSURV", spec.source_survey, "survey of the input stamp"),
            ("CKPTSHA", spec.ckpt_sha256, ""),
            ("CKPTITER", spec.ckpt_iteration, "checkpoint iteration"),
            ("REALIS", int(realisation), "noise realisation (0-based)"),
            ("NREALIS", spec.n_realisations, "realisations per stamp"),
            ("NSEED", spec.seed, "translate.seed (noise per object id)"),
            ("NOISE", bool(spec.noise), "target noise added (F: noise-free estimate)"),
            ("FMTVER", TRANSLATED_STAMP_VERSION, "hpcgan translated stamp format version")]


@lru_cache(maxsize=8)
def _templates(spec: TargetSpec) -> tuple[HeaderTemplate, tuple[HeaderTemplate, ...]]:
    prim = HeaderTemplate([*primary_cards(spec.survey, "object id", "target survey"), *_prov(spec)])
    images = tuple(HeaderTemplate([
        *image_cards(b, spec.size, spec.pixel_scale, spec.bunit, spec.survey),
        ("MAGZP", spec.magzp, "AB zero point: mag = MAGZP - 2.5 log10(flux)"), *_prov(spec)])
        for b in spec.bands)
    from hpcgan.io.mask_bits import BITS

    mask = HeaderTemplate([
        ("XTENSION", "IMAGE", "image extension"), ("BITPIX", 8, "uint8 bits"), ("NAXIS", 3, ""),
        ("NAXIS1", spec.size, ""), ("NAXIS2", spec.size, ""), ("NAXIS3", len(spec.bands), "bands"),
        ("PCOUNT", 0, ""), ("GCOUNT", 1, ""), ("EXTNAME", "MASK", "per-pixel mask bits, 0 = valid"),
        *[c for c in wcs_cards(0.0, 0.0, spec.size, spec.pixel_scale)],
        ("BANDS", ",".join(spec.bands), "band of each plane"),
        *[(f"MASKB{v}", k, f"bit value {v}") for k, v in BITS.items()], *_prov(spec)])
    return prim, images, mask


def target_centre(grid: str, ra: float, dec: float) -> tuple[float, float]:
    """The translated stamp's centre: the input grid's (``grid``, header text), else (ra, dec)."""
    return centre(grid) if grid else (float(ra), float(dec))


def target_grid(grid: str, ra: float, dec: float, size: int, pixel_scale: float) -> str:
    """The target grid's header text (for the translated shards' ``wcs``), derived from the input's."""
    return grid_text(*target_centre(grid, ra, dec), size, pixel_scale)


def translated_bytes(images: np.ndarray, spec: TargetSpec, object_id: str, ra: float, dec: float,
                     realisation: int, grid: str = "", mask: np.ndarray | None = None) -> bytes:
    """Encode one translated stamp (``images``: (nband, ny, nx), target units) as FITS bytes; the WCS
    is centred on the input grid's centre (``grid``, its header text; '' = (ra, dec)); ``mask``
    (nband, ny, nx) uint8 bits go to the MASK HDU (None = all 0)."""
    shape = (len(spec.bands), spec.size, spec.size)
    if images.shape != shape:
        raise ValueError(f"images: expected shape {shape}, got {images.shape}")
    prim, bands, mask_tpl = _templates(spec)
    real = {"REALIS": (int(realisation), "noise realisation (0-based)")}
    parts = [prim.render({"OBJID": (str(object_id), "object id"),
                          "RA": (float(ra), "[deg] ICRS right ascension of the stamp centre"),
                          "DEC": (float(dec), "[deg] ICRS declination of the stamp centre"), **real})]
    c_ra, c_dec = target_centre(grid, ra, dec)
    for i, tpl in enumerate(bands):
        parts.append(tpl.render({"CRVAL1": (c_ra, "[deg] RA of the reference pixel"),
                                 "CRVAL2": (c_dec, "[deg] Dec of the reference pixel"), **real}))
        parts.append(data_block(images[i]))
    parts.append(mask_tpl.render({"CRVAL1": (c_ra, "[deg] RA of the reference pixel"),
                                  "CRVAL2": (c_dec, "[deg] Dec of the reference pixel"), **real}))
    m = np.zeros(shape, np.uint8) if mask is None else np.ascontiguousarray(mask, dtype=np.uint8)
    if m.shape != shape:
        raise ValueError(f"mask: expected shape {shape}, got {m.shape}")
    parts.append(pad_block(m.tobytes(), b"\0"))
    return b"".join(parts)


def fits_path(root: str | Path, realisation: int, survey: str, split: str, object_id: str) -> Path:
    """``root/fits/r<k>/<survey>/<split>/<object_id>.fits`` (path separators in ids become '_')."""
    safe = str(object_id).replace("/", "_").replace("\\", "_")
    return Path(root) / "fits" / f"r{realisation}" / survey / split / f"{safe}.fits"


def write_translated(path: str | Path, data: bytes) -> None:
    atomic_write_bytes(path, data)
