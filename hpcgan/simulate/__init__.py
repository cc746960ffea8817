"""The embedded default data set: a simulated SDSS/CFHT survey pair with ground truth (``hpcgan simulate``).

Modules, one job each: ``surveys`` (per-survey, per-band specs), ``galaxies`` (scene sampling),
``render`` (GalSim drawing and noise), ``fits_out`` (FITS stamps), ``catalog`` (catalog.csv),
``run`` (plan, MPI split, gather), ``cli`` (the command).
"""
