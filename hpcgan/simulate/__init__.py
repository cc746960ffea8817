"""The embedded default data set: a simulated SDSS/CFHT survey pair with ground truth (``hpcgan simulate``).

Modules, one job each (the survey table is :mod:`hpcgan.astro.surveys`): ``galaxies`` (scene sampling),
``render`` (GalSim drawing and noise), ``fits_out`` (FITS stamps), ``catalog`` (catalog.csv),
``run`` (plan, MPI split, gather), ``cli`` (the command).
"""
