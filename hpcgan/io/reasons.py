"""Every quarantine reason the preprocess stage can emit, as ``str.format`` templates.

A manifest's quarantine line is one of these, filled in, followed by ``: <path>`` for file problems.
docs/preprocess.md's reason table lists each template verbatim (tests/test_preprocess_robust.py
checks both ways), and every ``Reject``/``FitsError``/``quarantine_entry`` in ``preprocess/`` and ``hpcgan/io/`` takes
its reason from here (checked there too). ``{value}`` fields are ``repr``-like: what the card held.
"""
from __future__ import annotations

# catalog rows (preprocess/catalog.py)
CSV_ERROR = "unreadable catalog row ({error})"
FIELD_COUNT = "unreadable catalog row: {n} fields, header has {header}"
BAD_RADEC = "unreadable catalog row: bad ra/dec {ra}, {dec}"
EMPTY_ID = "unreadable catalog row: empty object_id or path"
UNKNOWN_SURVEY = "unreadable catalog row: unknown survey {survey}; allowed: {allowed}"
UNKNOWN_SPLIT = "unreadable catalog row: unknown split {split}; allowed: {allowed}"
ESCAPES_ROOT = "path escapes the data root {root}"
DUPLICATE_ID = "duplicate object_id in {survey} (first at row {row})"
NO_COUNTERPART = "paired object has no {other} row in split {split}"
COUNTERPART = "counterpart quarantined in {survey}: {reason}"

# the file itself (hpcgan/io/fileio.py)
MISSING_FILE = "missing file"
NOT_REGULAR = "not a regular file ({kind})"
CANNOT_READ = "cannot read file ({error})"
READ_TIMEOUT = "read timed out after {seconds:g} s"
EMPTY_FILE = "empty file"

# FITS structure (hpcgan/io/fits_read.py)
NOT_FITS = "not a FITS file (no SIMPLE card)"
SIMPLE_F = "SIMPLE = F (not standard FITS)"
TRUNCATED_HEADER = "truncated FITS header in HDU {hdu} (no END card)"
TRUNCATED_DATA = "truncated FITS data in HDU {hdu}: {have} of {need} bytes"
GARBAGE = "garbage after HDU {hdu}: no XTENSION card at byte {pos}"
MISSING_CARD = "missing {key} card in HDU {hdu}"
BAD_CARD = "bad {key} = {value} in HDU {hdu} (want {want})"
DUPLICATE_CARD = "duplicate {key} card in HDU {hdu} ({first} then {second})"
UNSUPPORTED_BITPIX = "unsupported BITPIX {value} in HDU {hdu}"
UNREADABLE = "unreadable FITS ({error})"

# input size and compression (hpcgan/io/open_fits.py)
TRUNCATED_COMPRESSED = "truncated {kind} file: the compressed stream ends before its end marker"
CORRUPT_COMPRESSED = "corrupt {kind} file ({error})"
TOO_LARGE = "declared data size {size} > preprocess.max_input_mib {limit:g} MiB"
DECOMPRESSED_TOO_LARGE = "{kind} file decompresses to more than preprocess.max_input_mib {limit:g} MiB"

# the stamp (hpcgan/io/stamps.py)
NO_IMAGE = "no image HDU: the file has {found}"
MISSING_BAND = "missing band {band}: no image HDU with EXTNAME={band}; the file has {found}"
MISSING_BAND_FILE = "missing band {band}: no file"
DUPLICATE_EXTNAME = "duplicate EXTNAME {band} (HDUs {hdus})"
PER_BAND_PATH = "per_band layout needs '{{band}}' in the path"
WRONG_SHAPE = "wrong shape {shape}, expected {expected}"
WRONG_BAND_SHAPE = "wrong shape {shape} in band {band}, expected {expected}"
TOO_MANY_NAN = "{n} NaN/Inf pixels ({pct:.2f}%) > nan_fill_max_frac {max_pct:.2f}%"
ALL_ZERO = "all-zero image in band(s) {bands}"
PIXEL_RANGE = ("pixel value {value:.4g} in band {band} beyond the physical range (limit {limit:.4g} = {factor:g} x "
               "the flux of an AB {mag:g} mag source in {unit})")

# units and geometry (hpcgan/io/units.py, hpcgan/io/stamps.py)
UNKNOWN_UNITS = "unknown pixel units ({found})"
NO_WCS_SHAPE = "wrong shape {shape}, expected {expected}, and no celestial WCS to resample from"

# WCS sanity (hpcgan/io/wcs_check.py): a WCS that cannot map pixels to sky, a position off the stamp
BAD_WCS = "unusable WCS in {where}: {problem}"
OUTSIDE_FOOTPRINT = ("catalog position ({ra:.6f}, {dec:.6f}) outside the stamp's footprint in band {band}: "
                     "the stamp's centre is ({cra:.6f}, {cdec:.6f}), {sep} away (tolerance {tol:g} arcsec)")

# frames (preprocess.source: frames, hpcgan/io/frames.py): a frame's problem, then the objects it leaves uncut
FRAME_NO_HDU = "no image HDU {hdu}: the file has {found}"
FRAME_AMBIGUOUS = "no hdu given and {n} 2-D image HDUs, none named {names}: the file has {found}"
FRAME_SHAPE = "image HDU {hdu} has shape {shape}: a frame is 2-D, or a cube with a plane"
FRAME_NO_WCS = "no celestial WCS in HDU {hdu}"
WEIGHT_SHAPE = "{kind} HDU {hdu} has shape {shape}, image has {expected}"
OUTSIDE_FRAMES = "outside every {survey} frame in band {band} ({n} usable)"
ONLY_UNUSABLE = "no usable {survey} frame in band {band}; {n} unusable, first: {reason}: {path}"

# masks and sky (hpcgan/io/stamp_policy.py, hpcgan/io/sky.py)
MASKED_CORE = "{n} masked or filled pixels within core_radius_arcsec {radius:g}\" of the object (band(s) {bands})"
SKY_NOT_SUBTRACTED = "sky not subtracted: background {level} = {nsigma} sigma in band {band} (> sky_max_sigma {max_sigma:g})"

# anything else raised while reading one object (hpcgan/io/shard_writer.py): recorded, never fatal
UNEXPECTED = "unexpected error ({error})"


class CatalogError(ValueError):
    """A whole input table (object catalog, frame index) cannot be used at all; ``str(e)`` is one line
    naming the file and the problem. Not a per-object reason: the stage stops with exit 2."""


def templates() -> dict[str, str]:
    """Name -> template, in the order above."""
    return {k: v for k, v in globals().items() if k.isupper() and isinstance(v, str)}
