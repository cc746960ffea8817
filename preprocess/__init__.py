"""The preprocess stage's driver: FITS stamps or frames -> per-rank HDF5 shards + manifest, with quarantine and resume.

Modules: ``catalog`` (catalog rows, checks, in-memory plan), ``plan`` (the streamed plan of a catalog of
any size), ``run`` (MPI orchestration, manifest), ``cli`` (entry point).
Reading and writing live in :mod:`hpcgan.io` (``fits_read``, ``stamps``, ``frames``, ``shards``, ``shard_writer``).
See docs/preprocess.md.
"""
