"""Stage I/O of real survey data: the model grid, units, resampling, frames, catalog matching.

- :mod:`hpcgan.io.grid`: a survey's model grid (north-up TAN stamp centred on an object) as a WCS.
- :mod:`hpcgan.io.units`: the input's calibration (header cards) -> the survey's model units.
- :mod:`hpcgan.io.resample`: flux-conserving resampling of an image with a WCS onto a model grid.
- :mod:`hpcgan.io.frames`: catalog-driven cutouts from survey frames (``preprocess.source: frames``).
- :mod:`hpcgan.io.match`: cross-matching two survey catalogs (``hpcgan match``).
"""
