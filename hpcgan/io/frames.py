"""Catalog-driven cut-outs from survey frames (``preprocess.source: frames``, docs/preprocess.md).

Inputs: the frame index (``preprocess.frames``, CSV: ``path``, ``survey``, ``band`` and optional
``hdu``, ``plane``, ``ivar``, ``ivar_kind``, ``mask``, ``magzp``; docs/formats.md) and the object
catalog (``preprocess.catalog``: ``object_id``, ``survey``, ``split``, ``ra``, ``dec``).

1. *Headers* (:func:`scan`): each rank reads the headers of a strided slice of the frames and all
   ranks all-gather them. A frame is usable when its image HDU is found (``hdu``, else the one
   HDU named SCI/IMAGE, else the only 2-D image), it has a celestial WCS, its units are known
   (:mod:`hpcgan.io.units`; the index's ``magzp`` declares them) and its ivar/mask has its shape.
   Image, ivar and mask HDUs are told apart by the index or by ``EXTNAME``/``IMAGETYP``
   (:data:`IVAR_NAMES`, :data:`VAR_NAMES`, :data:`MASK_NAMES`), never by position alone.
2. *Assignment* (:func:`assign`, the same on every rank): per object and band, the usable frames of
   its survey and band whose area covers part of its model grid; ``preprocess.frame_choice``
   ``first`` takes the first in index order, ``best`` the most covered (coverage sampled on a 5x5
   grid of points). No frame: a one-line reason for that object (:mod:`hpcgan.io.reasons`).
3. *Cutting* (:class:`FrameReader`): each job's objects are sorted by their frames and cut into
   contiguous parts, one per rank, so a frame is opened once per rank (a small LRU of open
   frames); every band is resampled onto the model grid (:func:`hpcgan.io.resample.resample`),
   converted to model units, and goes through the NaN-fill/quarantine rule and the shard writer.
   The frame's mask bits (mask HDU, ``ivar <= 0``, NaN) are resampled with it
   (:func:`hpcgan.io.resample.resample_bits`), and its background is judged once per frame
   (``preprocess.sky``, :func:`hpcgan.io.sky.judge_frame`: photutils ``Background2D``).

Compressed frames (``.fz`` tile compression, ``.gz``, ``.bz2``) are read by astropy.
"""
from __future__ import annotations

import csv
import math
import os
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpcgan.config.schema import Config, SurveyCfg
from hpcgan.io import reasons as R
from hpcgan.io.grid import grid_text
from hpcgan.io.hdus import IMAGE_NAMES, IVAR_NAMES, MASK_NAMES, VAR_NAMES, is_role
from hpcgan.io.header_cards import inherit, searched
from hpcgan.io.mask_bits import complete, pixel_bits
from hpcgan.io.pixel_range import range_problem
from hpcgan.io.reasons import CatalogError
from hpcgan.io.resample import resample, resample_bits
from hpcgan.io.shard_writer import Job, Row
from hpcgan.io.sky import judge_frame, level_at
from hpcgan.io.stamps import Reject, Stamp, fill_nan
from hpcgan.io.units import UnitsError, to_model_factor
from hpcgan.io.wcs_check import wcs_problem
from hpcgan.log import get_logger

log = get_logger(__name__)
INDEX_REQUIRED = ("path", "survey", "band")


@dataclass
class Frame:
    """One row of the frame index with what its headers said (picklable: ranks all-gather these)."""
    index: int  # 0-based row of the frame index
    path: str
    survey: str
    band: str
    hdu: str = ""  # as given ('' = find it)
    plane: int | None = None
    ivar: str = ""  # HDU (number / EXTNAME) of the same file, or a file; '' = find it by name
    ivar_kind: str = "ivar"  # ivar | variance
    mask: str = ""
    magzp: float | None = None
    # filled by scan()
    image_hdu: int = -1
    ivar_ref: tuple[str, int] | None = None  # (file, HDU)
    mask_ref: tuple[str, int] | None = None
    shape: tuple[int, int] = (0, 0)
    wcs: str = ""  # celestial WCS header text
    factor: float = float("nan")  # input -> model units
    reason: str = ""  # unusable: why


def read_index(path: str | Path, surveys: dict[str, SurveyCfg]) -> list[Frame]:
    """The frame index; CatalogError (one line) when it cannot be used."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM (spreadsheets) is dropped
    except OSError as e:
        raise CatalogError(f"frame index {path}: {e.strerror or e}") from None
    rows = list(csv.DictReader(text.splitlines()))
    header = [h.strip() for h in (text.splitlines() or [""])[0].split(",")]
    missing = [c for c in INDEX_REQUIRED if c not in header]
    if missing or not rows:
        raise CatalogError(f"frame index {path}: " + (f"missing column(s) {', '.join(missing)}" if missing
                                                      else "no frames"))
    root = path.parent
    out = []
    for i, r in enumerate(rows):
        r = {k.strip(): (v or "").strip() for k, v in r.items() if k}
        s, b = r["survey"], r["band"]
        if s not in surveys or b not in surveys[s].bands:
            raise CatalogError(f"frame index {path} row {i + 1}: survey {s!r} band {b!r} is not one of data.x/"
                               f"data.y ({', '.join(f'{k}: {list(v.bands)}' for k, v in surveys.items())})")
        try:
            plane = int(r["plane"]) if r.get("plane") else None
            magzp = float(r["magzp"]) if r.get("magzp") else None
        except ValueError:
            raise CatalogError(f"frame index {path} row {i + 1}: plane {r.get('plane')!r} / magzp "
                               f"{r.get('magzp')!r} is not a number") from None
        kind = r.get("ivar_kind") or "ivar"
        if kind not in ("ivar", "variance"):
            raise CatalogError(f"frame index {path} row {i + 1}: ivar_kind {kind!r}; allowed: ivar, variance")
        out.append(Frame(i, str(root / r["path"]), s, b, r.get("hdu", ""), plane, r.get("ivar", ""), kind,
                         r.get("mask", ""), magzp))
    return out


def _open(path: str, memmap: bool = False):
    from astropy.io import fits
    return fits.open(path, memmap=memmap)


def _describe(hdul) -> str:
    parts = [f"HDU {i}: {'x'.join(map(str, h.shape))}, " + (repr(h.name) if h.name not in ("", "PRIMARY") else "no EXTNAME")
             for i, h in enumerate(hdul) if h.is_image and h.shape]
    return f"{len(parts)} image HDU{'s' if len(parts) != 1 else ''} ({'; '.join(parts[:6])})"


def _named(hdul, names: tuple[str, ...]) -> list[int]:
    """Image HDUs whose EXTNAME or IMAGETYP is one of ``names``."""
    return [i for i, h in enumerate(hdul) if h.is_image and h.shape and is_role(h.name, h.header.get("IMAGETYP"), names)]


def _hdu(hdul, spec: str) -> int | None:
    """HDU ``spec`` (a number or an EXTNAME) of an open file, if it is an image."""
    for i, h in enumerate(hdul):
        if h.is_image and h.shape and (spec == str(i) or h.name.upper() == spec.upper()):
            return i
    return None


def _ref(hdul, path: str, spec: str, names: tuple[str, ...], root: str) -> tuple[str, int] | None | str:
    """(file, HDU) of an ivar/mask given as an HDU of the frame, a file, or found by name; a reason if missing."""
    if not spec:
        found = _named(hdul, names)
        return (path, found[0]) if found else None
    if spec.isdigit() or _hdu(hdul, spec) is not None:
        i = _hdu(hdul, spec)
        return (path, i) if i is not None else R.FRAME_NO_HDU.format(hdu=spec, found=_describe(hdul))
    other = os.path.join(root, spec)
    with _open(other) as h2:
        i = next((k for k, h in enumerate(h2) if h.is_image and h.shape), None)
    return (other, i) if i is not None else R.FRAME_NO_HDU.format(hdu=0, found="no image")


def _check(f: Frame, root: str, surveys: dict[str, SurveyCfg], wcs_scale: tuple[float, float] = (0.01, 10.0)) -> Frame:
    """Fill ``f`` from its headers (or set ``f.reason``)."""
    from astropy.wcs import WCS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with _open(f.path) as hdul:
            if f.hdu:
                i = _hdu(hdul, f.hdu)
                if i is None:
                    f.reason = R.FRAME_NO_HDU.format(hdu=f.hdu, found=_describe(hdul))
                    return f
            else:
                named = _named(hdul, IMAGE_NAMES)
                flat = [k for k, h in enumerate(hdul) if h.is_image and h.shape and len(h.shape) >= 2
                        and k not in _named(hdul, IVAR_NAMES + VAR_NAMES + MASK_NAMES)]
                if len(named) == 1 or len(flat) == 1:
                    i = named[0] if len(named) == 1 else flat[0]
                else:
                    f.reason = R.FRAME_AMBIGUOUS.format(n=len(flat), names="/".join(IMAGE_NAMES), found=_describe(hdul))
                    return f
            h = hdul[i]
            shape = tuple(h.shape)
            if not (len(shape) == 2 or (len(shape) == 3 and f.plane is not None and 0 <= f.plane < shape[0])):
                f.reason = R.FRAME_SHAPE.format(hdu=i, shape=shape)
                return f
            f.image_hdu, f.shape = i, shape[-2:]
            if problem := wcs_problem(h.header, *wcs_scale):
                f.reason = R.BAD_WCS.format(where=f"HDU {i}", problem=problem)
                return f
            w = WCS(h.header).celestial
            if not w.has_celestial or w.naxis != 2:
                f.reason = R.FRAME_NO_WCS.format(hdu=i)
                return f
            f.wcs = w.to_header_string()
            s = surveys[f.survey]
            try:
                f.factor = to_model_factor(inherit(h.header, hdul[0].header, i), s.bunit, s.magzp, f.magzp)
            except UnitsError as e:
                f.reason = R.UNKNOWN_UNITS.format(found=f"{e}; searched {searched(i, h.header)}")
                return f
            ivar_names = VAR_NAMES if f.ivar_kind == "variance" else IVAR_NAMES
            if not f.ivar and not _named(hdul, IVAR_NAMES) and _named(hdul, VAR_NAMES):
                f.ivar_kind, ivar_names = "variance", VAR_NAMES
            for attr, spec, names in (("ivar", f.ivar, ivar_names), ("mask", f.mask, MASK_NAMES)):
                ref = _ref(hdul, f.path, spec, names, root)
                if isinstance(ref, str):
                    f.reason = ref
                    return f
                if ref is not None:
                    with _open(ref[0]) as h2:
                        got = tuple(h2[ref[1]].shape)
                    if got[-2:] != f.shape or (len(got) == 3 and len(shape) != 3):
                        f.reason = R.WEIGHT_SHAPE.format(kind=f.ivar_kind if attr == "ivar" else "mask", hdu=ref[1],
                                                         shape=got, expected=f.shape)
                        return f
                setattr(f, f"{attr}_ref", ref)
    return f


def scan(frames: list[Frame], root: str, surveys: dict[str, SurveyCfg], comm,
         wcs_scale: tuple[float, float] = (0.01, 10.0)) -> list[Frame]:
    """Every frame's header check; each rank checks a strided slice, all ranks get all."""
    rank, size = comm.rank, comm.size
    mine = []
    for f in frames[rank::size]:
        try:
            mine.append(_check(f, root, surveys, wcs_scale))
        except Exception as e:  # an unreadable frame is a reason, never fatal
            msg = " ".join((str(e).splitlines() or [""])[0].split())[:160]
            f.reason = R.UNREADABLE.format(error=f"{type(e).__name__}: {msg}")
            mine.append(f)
    out = [None] * len(frames)
    for r, part in enumerate(comm.allgather(mine)):
        out[r::size] = part
    for f in out:
        if f.reason:
            log.warning("frame %s (index row %d): unusable: %s", f.path, f.index + 1, f.reason)
    return out


def coverage(f: Frame, ra: np.ndarray, dec: np.ndarray, s: SurveyCfg) -> np.ndarray:
    """Fraction (0..1) of each object's model grid inside frame ``f``, sampled on 5x5 points."""
    from astropy.io import fits
    from astropy.wcs import WCS

    w = WCS(fits.Header.fromstring(f.wcs))
    half = (s.stamp_size - 1) / 2 * s.pixel_scale / 3600.0
    off = np.linspace(-half, half, 5)
    dy, dx = np.meshgrid(off, off, indexing="ij")
    cosd = np.cos(np.radians(dec))[:, None]
    r = ra[:, None] + dx.ravel()[None] / np.maximum(cosd, 1e-6)
    d = dec[:, None] + dy.ravel()[None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x, y = w.world_to_pixel_values(r, d)
    ny, nx = f.shape
    inside = (x >= -0.5) & (x <= nx - 0.5) & (y >= -0.5) & (y <= ny - 0.5)
    return inside.mean(axis=1)


def assign(rows: list[Row], frames: list[Frame], surveys: dict[str, SurveyCfg], choice: str) -> dict:
    """(survey, catalog row) -> list of frame indices, one per band, or a one-line reason."""
    out: dict = {}
    for sname, s in surveys.items():
        mine = [r for r in rows if r.survey == sname]
        if not mine:
            continue
        ra = np.array([r.ra for r in mine])
        dec = np.array([r.dec for r in mine])
        picks = np.full((len(mine), len(s.bands)), -1)
        for k, band in enumerate(s.bands):
            cands = [f for f in frames if f.survey == sname and f.band == band]
            usable = [f for f in cands if not f.reason]
            best = np.zeros(len(mine))
            for f in usable:
                cov = coverage(f, ra, dec, s)
                better = (cov > best) if choice == "best" else ((cov > 0) & (picks[:, k] < 0))
                picks[better, k] = f.index
                best = np.where(better, cov, best)
            bad = [f for f in cands if f.reason]
            for j in np.flatnonzero(picks[:, k] < 0):
                out.setdefault((sname, mine[j].row), _why_uncut(bad, len(usable), sname, band, s, ra[j:j + 1], dec[j:j + 1]))
        for j, r in enumerate(mine):
            out.setdefault((sname, r.row), [int(v) for v in picks[j]])
    return out


def _why_uncut(bad: list[Frame], n_usable: int, survey: str, band: str, s: SurveyCfg, ra: np.ndarray,
               dec: np.ndarray) -> str:
    """The reason of an object no usable frame covers: the unusable frame that covers it, else one
    without a WCS (it might), else 'outside every frame'."""
    hit = [f for f in bad if f.wcs and coverage(f, ra, dec, s)[0] > 0] or [f for f in bad if not f.wcs]
    if hit:
        return R.ONLY_UNUSABLE.format(survey=survey, band=band, n=len(bad), reason=hit[0].reason, path=hit[0].path)
    return R.OUTSIDE_FRAMES.format(survey=survey, band=band, n=n_usable)


def sort_jobs(jobs: list[Job], picks: dict) -> None:
    """Order each job's units by their frames (uncut objects last), so each rank opens a frame once."""
    def key(unit):
        return [tuple(p) if isinstance(p := picks[(r.survey, r.row)], list) else (math.inf,) for r in unit]
    for j in jobs:
        j.units.sort(key=key)


class FrameSection:
    """One frame's image (model units, masked pixels NaN) or ivar (model units; from a variance
    when ``kind`` is ``variance``) read by section: astropy ``.section`` of an open (or
    tile-compressed) HDU reads only the rows it needs, so a cut-out costs a stamp, whatever the frame's size
    (:func:`hpcgan.io.resample.cut_first`)."""

    def __init__(self, f: Frame, hdu, kind: str, mask=None, whole: bool = False):
        self.f, self.hdu, self.kind, self.mask, self.shape = f, hdu, kind, mask, f.shape
        self.arr = None
        if whole:  # a frame below preprocess.section_read_mib: read once, cut from memory
            self.arr = self.read(slice(None), slice(None))

    def _part(self, hdu, ys: slice, xs: slice) -> np.ndarray:
        key = (self.f.plane, ys, xs) if len(hdu.shape) == 3 else (ys, xs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(hdu.section[key])

    def read(self, ys: slice, xs: slice) -> np.ndarray:
        f = self.f
        if self.arr is not None:
            return self.arr[ys, xs]
        if self.kind == "mask":
            return np.asarray(self._part(self.hdu, ys, xs))
        if self.kind == "image":
            img = np.asarray(self._part(self.hdu, ys, xs), np.float32)
            if self.mask is not None:
                img = np.where(self._part(self.mask, ys, xs) != 0, np.nan, img)
            return img * np.float32(f.factor)
        w = np.asarray(self._part(self.hdu, ys, xs), np.float64)
        ivar = np.where(w > 0, 1.0 / np.where(w > 0, w, 1), 0.0) if self.kind == "variance" else w
        return ivar / f.factor ** 2


class FrameBits:
    """A frame's mask bits by section (:func:`hpcgan.io.mask_bits.pixel_bits` of its raw pixels, ivar and
    mask HDU), as :func:`hpcgan.io.resample.resample_bits` cuts them."""

    def __init__(self, raw: FrameSection, ivar: FrameSection | None, mask: FrameSection | None):
        self.raw, self.ivar, self.mask, self.shape = raw, ivar, mask, raw.shape

    def read(self, ys: slice, xs: slice) -> np.ndarray:
        return pixel_bits(self.raw.read(ys, xs), None if self.ivar is None else self.ivar.read(ys, xs),
                          None if self.mask is None else self.mask.read(ys, xs))


class FrameReader:
    """``reader(row) -> Stamp`` for :func:`hpcgan.io.shard_writer.read_batches`: cut-outs from frames, few open at once."""

    def __init__(self, cfg: Config, frames: list[Frame], picks: dict):
        self.frames, self.picks = frames, picks
        self.surveys = {s.name: s for s in (cfg.data.x, cfg.data.y)}
        self.nan_max = cfg.preprocess.nan_fill_max_frac
        self.sky, self.sky_max = cfg.preprocess.sky, cfg.preprocess.sky_max_sigma
        self.pixel_limit = (cfg.preprocess.pixel_limit_mag, cfg.preprocess.pixel_limit_factor)
        self.section_bytes = cfg.preprocess.section_read_mib * 2 ** 20  # larger frames: read by section
        self.cache: OrderedDict = OrderedDict()
        self.capacity = 2 * max(len(s.bands) for s in self.surveys.values())
        self.opened = 0

    def _pixels(self, f: Frame) -> tuple:
        """(image, ivar or None, WCS, mask bits, background map or None, sky reason or '') of a frame:
        the image, ivar and bits as section readers (files kept open, a small LRU). A frame above
        ``preprocess.section_read_mib`` is read by section for each cut-out (astropy ``.section``
        with file reads, ``memmap=False``: mapped pages would count in the rank's memory, once per
        open mapping); a smaller one is read once and cut from memory, and its sky is judged on the
        whole frame (photutils ``Background2D``, ``preprocess.sky``). A frame read by section gives no
        background map (None, ''): its cut-outs' sky is then judged as a stamp's
        (:class:`hpcgan.io.stamp_policy.StampPolicy`)."""
        if f.index in self.cache:
            self.cache.move_to_end(f.index)
            return self.cache[f.index][:6]
        from astropy.io import fits
        from astropy.wcs import WCS

        files = {p: _open(p) for p in {f.path, *(r[0] for r in (f.ivar_ref, f.mask_ref) if r)}}
        mask = files[f.mask_ref[0]][f.mask_ref[1]] if f.mask_ref else None
        # gzip/bzip2 files have no random access (each section would decompress from the start): whole
        whole = f.shape[0] * f.shape[1] * 4 <= self.section_bytes or f.path.lower().endswith((".gz", ".bz2"))
        img = FrameSection(f, files[f.path][f.image_hdu], "image", mask, whole)
        ivar = FrameSection(f, files[f.ivar_ref[0]][f.ivar_ref[1]], f.ivar_kind, whole=whole) if f.ivar_ref else None
        bits = FrameBits(FrameSection(f, files[f.path][f.image_hdu], "image", None, whole), ivar,
                         FrameSection(f, mask, "mask", None, whole) if mask is not None else None)
        bkg, why = None, ""
        if whole and self.sky != "none":
            everything = (slice(None), slice(None))
            img.arr, bkg, why = judge_frame(img.arr, bits.read(*everything) != 0, self.sky, self.sky_max, f.band)
        self.opened += 1
        self.cache[f.index] = (img, ivar, WCS(fits.Header.fromstring(f.wcs)), bits, bkg, why, list(files.values()))
        while len(self.cache) > self.capacity:
            for h in self.cache.popitem(last=False)[1][6]:
                h.close()
        return self.cache[f.index][:6]

    def close(self) -> None:
        """Close every frame file still open."""
        while self.cache:
            for h in self.cache.popitem()[1][6]:
                h.close()

    def __call__(self, row: Row) -> Stamp:
        pick = self.picks[(row.survey, row.row)]
        if isinstance(pick, str):
            raise Reject(pick)
        s = self.surveys[row.survey]
        n, nb = s.stamp_size, len(s.bands)
        image = np.empty((nb, n, n), np.float32)
        sky = np.full(nb, np.nan, np.float32)
        mask, level = np.zeros(image.shape, np.uint8), np.full(nb, np.nan, np.float32)
        judged = True  # every band's sky judged with its whole frame (else the cut-out's, as a stamp's)
        for k, fi in enumerate(pick):
            f = self.frames[fi]
            try:
                img, ivar, wcs, bits, bkg, why = self._pixels(f)
            except OSError as e:
                raise Reject(R.CANNOT_READ.format(error=e.strerror or type(e).__name__), f.path) from None
            if why:
                raise Reject(why, f.path)
            out, iv = resample(img, wcs, row.ra, row.dec, n, s.pixel_scale, ivar)
            mask[k] = resample_bits(bits, wcs, row.ra, row.dec, n, s.pixel_scale)
            level[k] = level_at(bkg, wcs, row.ra, row.dec)
            judged &= bkg is not None
            image[k] = out
            if iv is not None and np.isfinite(iv).any():
                sky[k] = float(np.nanmedian(1.0 / np.sqrt(iv)))
        where = self.frames[pick[0]].path
        complete(mask, image)
        if problem := range_problem(image, tuple(s.bands), s.magzp, *self.pixel_limit, s.bunit):
            raise Reject(problem, where)
        nan_filled = fill_nan(image, tuple(s.bands), self.nan_max, where)
        meta = {"psf_fwhm": np.full(nb, np.nan, np.float32), "sky_sigma": sky,
                "mag_zp": np.full(nb, s.magzp, np.float32)}
        return Stamp(image, meta, nan_filled, image.nbytes, grid_text(row.ra, row.dec, n, s.pixel_scale), mask,
                     level if (judged and self.sky != "none") else None)


def plan_frames(cfg: Config, rows: list[Row], comm) -> tuple[list[Frame], dict]:
    """Read the index, check every frame's headers (split over ranks), assign objects (every rank alike)."""
    surveys = {s.name: s for s in (cfg.data.x, cfg.data.y)}
    if not cfg.preprocess.frames:
        raise CatalogError("preprocess.frames: source=frames needs a frame index (CSV: path, survey, band, ...)")
    frames = read_index(cfg.preprocess.frames, surveys)
    pc = cfg.preprocess
    frames = scan(frames, str(Path(pc.frames).parent), surveys, comm, (pc.wcs_scale_min_arcsec, pc.wcs_scale_max_arcsec))
    return frames, assign(rows, frames, surveys, cfg.preprocess.frame_choice)
