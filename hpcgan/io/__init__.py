"""Stage I/O: FITS stamps in and out, HDF5 shards out and in, and the survey geometry and units they carry.

- :mod:`hpcgan.io.fileio`: bounded reads of whole regular files (a hung mount is a reason, not a hang).
- :mod:`hpcgan.io.open_fits`: one input file within a memory bound (gzip/bzip2, declared sizes, section reads).
- :mod:`hpcgan.io.fits_read`: fast parsing of plain FITS image HDUs (astropy as the fallback).
- :mod:`hpcgan.io.header_cards`: an image HDU's cards with the primary header's behind them (INHERIT).
- :mod:`hpcgan.io.wcs_check`: WCS sanity (singular, impossible Dec, odd scale) and positions off a stamp.
- :mod:`hpcgan.io.pixel_range`: finite pixels no sky can produce.
- :mod:`hpcgan.io.sections`: an HDU's pixels (image or ivar) read by section, for the resampler's cut.
- :mod:`hpcgan.io.stamps`: one object's pre-cut stamp -> validated image on the model grid.
- :mod:`hpcgan.io.frames`: catalog-driven cutouts from survey frames (``preprocess.source: frames``).
- :mod:`hpcgan.io.reasons`: the one-line quarantine reason templates.
- :mod:`hpcgan.io.fits_write`: byte-level FITS stamp writing (header templates), for simulate and translate.
- :mod:`hpcgan.io.shards`: the HDF5 shard format (its one version, datasets, attributes) and its reader.
- :mod:`hpcgan.io.shard_writer`: one rank's resumable HDF5 shards (commit protocol), for preprocess and translate.
- :mod:`hpcgan.io.grid`: a survey's model grid (north-up TAN stamp centred on an object) as a WCS.
- :mod:`hpcgan.io.units`: the input's calibration (header cards) -> the survey's model units.
- :mod:`hpcgan.io.resample`: flux-conserving resampling of an image with a WCS onto a model grid.
- :mod:`hpcgan.io.hdus`: which HDU names mean image, ivar, variance, weight, mask.
- :mod:`hpcgan.io.checkpoint`: training checkpoints (atomic, checksummed), written by train, read by translate.
- :mod:`hpcgan.io.mask_bits`: the per-pixel mask bits (outside, masked, NaN/Inf, filled) and their regridding.
- :mod:`hpcgan.io.stamp_policy`: masked-core check, sky check/subtract and fill of a stamp (``preprocess.fill/sky``).
- :mod:`hpcgan.io.sky`: background level and sigma of stamps (sigma_clipped_stats) and frames (Background2D).
"""
