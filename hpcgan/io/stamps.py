"""One object's stamp: read its file(s) in one of three layouts, validate, return (5, H, W) float32.

Layouts (``preprocess.layout``):

- ``mef``: one multi-extension FITS per object, one image HDU per band, ``EXTNAME`` = band
  (docs/formats.md). Bands are picked by name, in the configured order.
- ``cube``: one FITS per object whose image HDU is a cube ``(band, y, x)`` (FITS NAXIS3 =
  bands), planes in the configured band order.
- ``per_band``: one FITS per band; the catalog path holds ``{band}``.
- ``auto``: ``per_band`` when the path holds ``{band}``, else ``cube`` when the first image HDU is
  3-D, else ``mef``.

In per-band and cube files the image and the ivar/variance HDU are told apart by ``EXTNAME`` or
``IMAGETYP`` (:mod:`hpcgan.io.hdus`) or by ``preprocess.image_hdu``/``ivar_hdu``; a file with one
image HDU needs neither, one with several unnamed ones is refused rather than guessed at.

Any geometry (:func:`onto_target`, with a :class:`Target`): a stamp whose size, pixel scale or
orientation is not the model grid's is resampled onto it from its WCS; without a WCS it must have
the model's shape. Pixels are converted to the survey's declared units from their header cards.

Every problem raises :class:`Reject` with a one-line reason (the quarantine list's entry), a
:mod:`hpcgan.io.reasons` template saying what was found: a file with no HDU named after a band
lists the image HDUs it has (``1 image HDU (HDU 0: 300x300, no EXTNAME)``), and two image HDUs with
the same band name are refused rather than one of them picked.
Small NaN/Inf masks (fraction <= ``nan_fill_max_frac``) are filled with 0 (the sky level of
sky-subtracted stamps), counted per band in ``Stamp.nan_filled`` and flagged per pixel in
``Stamp.mask`` (:mod:`hpcgan.io.mask_bits`); preprocess then re-fills them by ``preprocess.fill``
(:mod:`hpcgan.io.stamp_policy`).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from hpcgan.io import reasons as R
from hpcgan.io.fileio import FileProblem
from hpcgan.io.fits_read import FitsError, Hdu
from hpcgan.io.grid import grid_text, grid_wcs, header_wcs, model_centre, on_grid, same_centre
from hpcgan.io.hdus import IMAGE_NAMES, IVAR_NAMES, MASK_NAMES, VAR_NAMES, WEIGHT_NAMES, is_role
from hpcgan.io.header_cards import inherit, searched
from hpcgan.io.mask_bits import complete, pixel_bits
from hpcgan.io.open_fits import ReadLimits, load_hdus
from hpcgan.io.pixel_range import range_problem
from hpcgan.io.sections import BitsSection, HduSection, IvarSection
from hpcgan.io.shards import META_KEYS
from hpcgan.io.units import UnitsError, to_model_factor
from hpcgan.io.wcs_check import footprint_problem, wcs_problem


class Reject(Exception):
    """A stamp that goes to quarantine; ``str(e)`` is the one-line reason, then ``: path`` when given."""

    def __init__(self, reason: str, path: str = ""):
        super().__init__(f"{reason}: {path}" if path else reason)


@dataclass
class Stamp:
    image: np.ndarray  # (nband, H, W) float32, native byte order, finite
    meta: dict  # META_KEYS name -> (nband,) float32 (NaN where the header lacks the card)
    nan_filled: np.ndarray  # (nband,) int32: pixels filled per band
    nbytes: int = 0
    wcs: str = ""  # the model grid's header text (hpcgan.io.grid.grid_text); '' = the nominal grid at (ra, dec)
    mask: np.ndarray | None = None  # (nband, H, W) uint8 bits (hpcgan.io.mask_bits); None = all valid
    sky_level: np.ndarray | None = None  # (nband,) float32 background measured at ingest (hpcgan.io.sky)


@dataclass(frozen=True)
class Target:
    """Where a stamp goes: its survey's model grid and units (``data.<side>``) at the object's position."""
    ra: float
    dec: float
    pixel_scale: float  # arcsec / px
    bunit: str
    magzp: float
    require_units: bool = False  # undeterminable units: quarantined (True) or taken as the model's
    image_hdu: str = ""  # per_band/cube: the image HDU (number or EXTNAME); '' = by EXTNAME/IMAGETYP
    ivar_hdu: str = ""  # per_band/cube: the ivar/variance HDU; '' = by EXTNAME/IMAGETYP (none: no ivar)
    limits: ReadLimits = ReadLimits()  # per-file memory bound and section reads (hpcgan.io.open_fits)
    pixel_limit_mag: float = 10.0  # |pixel| bound: pixel_limit_factor x an AB mag source (hpcgan.io.pixel_range)
    pixel_limit_factor: float = 1000.0  # 0 = no bound
    wcs_scale: tuple[float, float] = (0.01, 10.0)  # plausible WCS pixel scales, arcsec/px (hpcgan.io.wcs_check)
    position_tol_arcsec: float = 2.0  # the catalog position may lie this far outside the stamp


@dataclass
class Plane:
    """One band of a stamp as read: its HDU (and cube plane), ivar HDU, header cards, file."""
    band: str
    hdu: Hdu
    plane: int | None
    weight: tuple[Hdu, str] | None  # (HDU, 'ivar' | 'variance')
    header: dict  # cards for units, WCS and metadata (the band's over the primary's: hpcgan.io.header_cards)
    where: str
    searched: str = ""  # the HDUs the cards came from, for reasons (``HDU 1, then the primary HDU 0``)
    mask: Hdu | None = None  # per_band/cube: the HDU named MASK/BPM/BADPIX (non-zero = bad), if any

    @property
    def shape(self) -> tuple[int, ...]:
        return self.hdu.shape[-2:]

    def pixels(self, hdu: Hdu | None = None) -> np.ndarray:
        data = (hdu or self.hdu).data
        return data[self.plane] if self.plane is not None and data.ndim == 3 else data


def inside_root(path: str, root: str) -> bool:
    """True when ``path`` lies inside ``root`` lexically (``..`` resolved on the text, symlinks not
    followed): a ``stamps -> /lustre/...`` link inside the root is followed, an absolute path or
    ``..`` leading out of it is not."""
    real = os.path.normpath(os.path.abspath(path))
    root = os.path.normpath(os.path.abspath(root))
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _read(path: str, root: str, timeout_s: float, missing: str = R.MISSING_FILE,
          limits: ReadLimits = ReadLimits()) -> list[Hdu]:
    """The file's HDUs (:func:`hpcgan.io.open_fits.load_hdus`); Reject with the reason (``missing``
    for a file that does not exist)."""
    if not inside_root(path, root):
        raise Reject(R.ESCAPES_ROOT.format(root=root), path)
    try:
        return load_hdus(path, limits, timeout_s)
    except (FileProblem, FitsError) as e:
        raise Reject(missing if str(e) == R.MISSING_FILE else str(e), path) from None


def describe(hdus: list[Hdu]) -> str:
    """What a file holds, for reasons: ``1 image HDU (HDU 0: 300x300, no EXTNAME)``."""
    imgs = [h for h in hdus if h.shape is not None]
    if not imgs:
        return f"{len(hdus)} HDU{'s' if len(hdus) > 1 else ''}, no image"
    parts = [f"HDU {h.index}: {'x'.join(map(str, h.shape))}, " + (repr(h.name) if h.name else "no EXTNAME")
             for h in imgs[:6]]
    more = f"; {len(imgs) - 6} more" if len(imgs) > 6 else ""
    return f"{len(imgs)} image HDU{'s' if len(imgs) > 1 else ''} ({'; '.join(parts)}{more})"


def _role(h: Hdu, names: tuple[str, ...]) -> bool:
    return is_role(h.name, h.header.get("IMAGETYP"), names)


def _image(hdus: list[Hdu], path: str, spec: str = "") -> Hdu:
    """The image HDU of a per-band or cube file: ``spec`` (number or EXTNAME), else the one named
    SCI/IMAGE/..., else the one image of 2+ axes not named IVAR/VAR/MASK/...; Reject otherwise."""
    imgs = [h for h in hdus if h.shape is not None]
    if not imgs:
        raise Reject(R.NO_IMAGE.format(found=describe(hdus)), path)
    if spec:
        hit = [h for h in imgs if spec == str(h.index) or h.name.upper() == spec.upper()]
        if not hit:
            raise Reject(R.FRAME_NO_HDU.format(hdu=spec, found=describe(hdus)), path)
        return hit[0]
    named = [h for h in imgs if _role(h, IMAGE_NAMES)]
    if len(named) == 1:
        return named[0]
    rest = [h for h in imgs if len(h.shape) >= 2 and not _role(h, WEIGHT_NAMES)]
    if len(rest) == 1 or (not rest and len(imgs) == 1):
        return (rest or imgs)[0]
    raise Reject(R.FRAME_AMBIGUOUS.format(n=len(rest), names="/".join(IMAGE_NAMES), found=describe(hdus)), path)


def _weight(hdus: list[Hdu], image: Hdu, path: str, spec: str = "") -> tuple[Hdu, str] | None:
    """(ivar or variance HDU, 'ivar' | 'variance') of a per-band or cube file: ``spec``, else by name; None if none."""
    if spec:
        hit = [h for h in hdus if h.shape is not None and (spec == str(h.index) or h.name.upper() == spec.upper())]
        if not hit:
            raise Reject(R.FRAME_NO_HDU.format(hdu=spec, found=describe(hdus)), path)
        return hit[0], "variance" if _role(hit[0], VAR_NAMES) else "ivar"
    for names, kind in ((IVAR_NAMES, "ivar"), (VAR_NAMES, "variance")):
        hit = [h for h in hdus if h.shape is not None and h is not image and _role(h, names)]
        if hit:
            return hit[0], kind
    return None


def _mask(hdus: list[Hdu], image: Hdu) -> Hdu | None:
    """The mask HDU of a per-band or cube file: named MASK/BPM/BADPIX and of the image's shape; None if none."""
    hit = [h for h in hdus if h is not image and h.shape == image.shape and _role(h, MASK_NAMES)]
    return hit[0] if hit else None


def _by_band(hdus: list[Hdu], bands: tuple[str, ...], path: str) -> list[Hdu]:
    """The image HDU named after each band (EXTNAME, case-insensitive); refuse a missing or repeated name."""
    if not any(h.shape is not None for h in hdus):  # a file without any image says so
        raise Reject(R.NO_IMAGE.format(found=describe(hdus)), path)
    out = []
    for b in bands:
        named = [h for h in hdus if h.shape is not None and h.name.lower() == b.lower()]
        if not named:
            raise Reject(R.MISSING_BAND.format(band=repr(b), found=describe(hdus)), path)
        if len(named) > 1:
            raise Reject(R.DUPLICATE_EXTNAME.format(band=repr(b), hdus=", ".join(str(h.index) for h in named)), path)
        out.append(named[0])
    return out


def _meta(hdrs: list[dict]) -> dict:
    out = {}
    for name, key in META_KEYS:
        vals = []
        for h in hdrs:
            v = h.get(key)
            vals.append(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan)
        out[name] = np.asarray(vals, dtype=np.float32)
    return out


def detect_layout(path: str, hdus: list[Hdu] | None) -> str:
    if "{band}" in path:
        return "per_band"
    first = next((h for h in hdus or [] if h.shape is not None), None)
    return "cube" if first is not None and len(first.shape) == 3 else "mef"


def read_stamp(path: str, root: str, bands: tuple[str, ...], size: int, layout: str = "auto",
               nan_fill_max_frac: float = 0.01, read_timeout_s: float = 0.0, target: Target | None = None) -> Stamp:
    """Read and validate one object's stamp (see module docstring); raise Reject on bad input.

    ``read_timeout_s`` bounds the file system calls per file (:func:`hpcgan.io.fileio.bounded`).
    ``target``: bring the stamp onto the survey's model grid and units (:func:`onto_target`); None
    = take the pixels as they are (the shape must be the model's).
    """
    hdus = None
    limits = target.limits if target else ReadLimits()
    if layout == "auto":
        if "{band}" not in path:
            hdus = _read(path, root, read_timeout_s, limits=limits)
        layout = detect_layout(path, hdus)
    spec = (target.image_hdu, target.ivar_hdu) if target else ("", "")
    planes: list[Plane] = []
    if layout == "per_band":
        if "{band}" not in path:
            raise Reject(R.PER_BAND_PATH, path)
        for b in bands:
            p = path.replace("{band}", b)
            hs = _read(p, root, read_timeout_s, R.MISSING_BAND_FILE.format(band=repr(b)), limits)
            h = _image(hs, p, spec[0])
            planes.append(Plane(b, h, None, _weight(hs, h, p, spec[1]) if target else None,
                                inherit(h.header, hs[0].header, h.index), p, searched(h.index, h.header),
                                _mask(hs, h)))
    else:
        hdus = hdus if hdus is not None else _read(path, root, read_timeout_s, limits=limits)
        if layout == "cube":
            h = _image(hdus, path, spec[0])
            if len(h.shape) != 3 or h.shape[0] != len(bands) or (target is None and h.shape[1:] != (size, size)):
                raise Reject(R.WRONG_SHAPE.format(shape=h.shape, expected=(len(bands), size, size)), path)
            w = _weight(hdus, h, path, spec[1]) if target else None
            cards = inherit(h.header, hdus[0].header, h.index)
            planes = [Plane(b, h, k, w, cards, path, searched(h.index, h.header), _mask(hdus, h))
                      for k, b in enumerate(bands)]
        else:  # mef: units may sit in the primary header
            primary = hdus[0].header
            planes = [Plane(b, h, None, None, {**primary, **h.header}, path, searched(h.index))
                      for b, h in zip(bands, _by_band(hdus, bands, path))]
    if target is not None:
        return onto_target(planes, size, nan_fill_max_frac, target)
    for pl in planes:
        if pl.plane is None and pl.hdu.shape != (size, size):
            raise Reject(R.WRONG_BAND_SHAPE.format(shape=pl.hdu.shape, band=repr(pl.band), expected=(size, size)), pl.where)
    image = np.empty((len(bands), size, size), np.float32)
    if layout == "cube":
        planes[0].hdu.fill(image)
    else:
        for k, pl in enumerate(planes):
            pl.hdu.fill(image[k])
    mask = complete(pixel_bits(image), image)
    return Stamp(image, _meta([pl.header for pl in planes]), fill_nan(image, bands, nan_fill_max_frac, path), image.nbytes,
                 mask=mask)


def onto_target(planes: list[Plane], size: int, nan_fill_max_frac: float, t: Target) -> Stamp:
    """The stamp on its survey's model grid, in its model units.

    Geometry, per band: header cards that are the model grid (any centre), or a WCS that is the
    model grid to 0.01 px (:func:`hpcgan.io.grid.on_grid`): pixels kept. Any other celestial WCS
    (size, pixel scale, orientation, parity, centre): resampled onto the grid, flux-conserving
    (:func:`hpcgan.io.resample.resample`). No WCS: kept when the shape is the model's, else
    quarantined (``NO_WCS_SHAPE``). The grid is centred on the first band's own centre when that
    band is kept, else on the catalog's (ra, dec).

    Units, per band (:mod:`hpcgan.io.units`, band cards over the primary's): pixels times the
    factor to model units, ivar over its square, ``SKYSIG`` times it (and times the square root of
    the pixel-area ratio when resampled, the independent-noise rule of the ivar). Units that cannot
    be determined: quarantined with ``require_units``, else taken as the model's.
    """
    from hpcgan.io.resample import pixel_scale, resample, resample_bits

    n = size
    for pl in planes:
        if problem := wcs_problem(pl.header, *t.wcs_scale):
            raise Reject(R.BAD_WCS.format(where=f"band {pl.band!r} (HDU {pl.hdu.index})", problem=problem),
                         pl.where)
    geo = [_geometry(pl, n, t.pixel_scale) for pl in planes]
    _check_position(planes, geo, n, t)
    centre = geo[0][1] if geo[0][0] is None and geo[0][1] else (t.ra, t.dec)
    image = np.empty((len(planes), n, n), np.float32)
    mask = np.zeros(image.shape, np.uint8)
    meta = _meta([pl.header for pl in planes])
    meta["mag_zp"][:] = t.magzp
    for k, (pl, (wcs, own)) in enumerate(zip(planes, geo)):
        factor, area = _factor(pl, t), 1.0
        keep = wcs is None and (own is None or same_centre(own, centre, t.pixel_scale))
        ivar = _ivar(pl, factor, section=not keep)  # resampled: read by section, like the pixels
        bad = None if pl.mask is None else HduSection(pl.mask, pl.plane)  # a mask HDU: non-zero = bad
        if keep:
            bad = None if bad is None else bad.read(slice(None), slice(None))
            if pl.shape != (n, n):
                raise Reject(R.NO_WCS_SHAPE.format(shape=pl.shape, expected=(n, n)), pl.where)
            if pl.plane is None:
                pl.hdu.fill(image[k])
            else:
                image[k] = pl.pixels()
            mask[k] = pixel_bits(image[k], ivar, bad)
            if ivar is not None:
                image[k][~(ivar > 0)] = np.nan
            if bad is not None:
                image[k][bad != 0] = np.nan
        else:
            wcs = wcs or grid_wcs(*own, n, t.pixel_scale)
            bits = BitsSection(HduSection(pl.hdu, pl.plane), ivar, bad)  # read by section, like the pixels
            mask[k] = resample_bits(bits, wcs, *centre, n, t.pixel_scale)
            image[k], ivar = resample(bits.masked(), wcs, *centre, n, t.pixel_scale, ivar)
            area = (t.pixel_scale / pixel_scale(wcs)) ** 2
        if factor != 1.0:
            image[k] *= np.float32(factor)
        if np.isfinite(meta["sky_sigma"][k]):
            meta["sky_sigma"][k] *= factor * math.sqrt(area)
        elif ivar is not None and (ivar > 0).any():
            meta["sky_sigma"][k] = float(np.median(1.0 / np.sqrt(ivar[ivar > 0])))
    bands = tuple(pl.band for pl in planes)
    complete(mask, image)
    if problem := range_problem(image, bands, t.magzp, t.pixel_limit_mag, t.pixel_limit_factor, t.bunit):
        raise Reject(problem, planes[0].where)
    nan_filled = fill_nan(image, bands, nan_fill_max_frac, planes[0].where)
    return Stamp(image, meta, nan_filled, image.nbytes, grid_text(*centre, n, t.pixel_scale), mask)


def _check_position(planes: list[Plane], geo: list, n: int, t: Target) -> None:
    """Reject when the catalog's (ra, dec) is off a band's footprint (:func:`hpcgan.io.wcs_check.footprint_problem`)."""
    for pl, (wcs, own) in zip(planes, geo):
        if wcs is None and own is None:
            continue
        kw = dict(grid=(*own, n, t.pixel_scale)) if wcs is None else dict(wcs=wcs, shape=pl.shape)
        if problem := footprint_problem(t.ra, t.dec, pl.band, t.position_tol_arcsec, **kw):
            raise Reject(problem, pl.where)


def _geometry(pl: Plane, size: int, scale: float):
    """(WCS to resample from or None, own centre (ra, dec) when the band is the model grid or None)."""
    if pl.shape == (size, size) and (c := model_centre(pl.header, size, scale)) is not None:
        return None, c
    w = header_wcs(pl.header)
    if w is None:
        return None, None
    ny, nx = pl.shape
    own = tuple(float(v) for v in w.pixel_to_world_values((nx - 1) / 2, (ny - 1) / 2))
    return (None, own) if on_grid(w, pl.shape, *own, size, scale) else (w, None)


def _factor(pl: Plane, t: Target) -> float:
    try:
        return to_model_factor(pl.header, t.bunit, t.magzp)
    except UnitsError as e:
        if t.require_units:
            raise Reject(R.UNKNOWN_UNITS.format(found=f"{e}; searched {pl.searched or 'the image HDU'}"),
                         pl.where) from None
        return 1.0


def _ivar(pl: Plane, factor: float = 1.0, section: bool = False):
    """The band's inverse variance in model units (float64, 0 where unusable), None without an ivar
    HDU; with ``section``, a reader of it by section (:class:`hpcgan.io.sections.IvarSection`)."""
    if pl.weight is None:
        return None
    h, kind = pl.weight
    if h.shape[-2:] != pl.shape or (pl.plane is not None and len(h.shape) == 3 and h.shape[0] != pl.hdu.shape[0]):
        raise Reject(R.WEIGHT_SHAPE.format(kind=kind, hdu=h.index, shape=h.shape, expected=pl.hdu.shape), pl.where)
    iv = IvarSection(h, pl.plane if pl.plane is not None and len(h.shape) == 3 else None, kind, factor)
    return iv if section else iv.read(slice(None), slice(None))


def fill_nan(image: np.ndarray, bands: tuple[str, ...], nan_fill_max_frac: float, path: str) -> np.ndarray:
    """Set NaN/Inf pixels of ``image`` (nband, H, W) to 0 in place; (nband,) counts. Reject when more
    than ``nan_fill_max_frac`` are non-finite or a band is all zero."""
    flat = image.reshape(len(bands), -1)
    finite = np.isfinite(flat)
    nan_filled = (flat.shape[1] - np.count_nonzero(finite, axis=1)).astype(np.int32)
    nbad = int(nan_filled.sum())
    if nbad:
        frac = nbad / image.size
        if frac > nan_fill_max_frac:
            raise Reject(R.TOO_MANY_NAN.format(n=nbad, pct=100 * frac, max_pct=100 * nan_fill_max_frac), path)
        flat[~finite] = 0.0
    zero = [b for b, nz in zip(bands, flat.any(axis=1)) if not nz]
    if zero:
        raise Reject(R.ALL_ZERO.format(bands=",".join(zero)), path)
    return nan_filled
