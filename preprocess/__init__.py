"""The preprocess stage: FITS stamps (3 layouts) -> per-rank HDF5 shards + manifest, with quarantine and resume.

Modules: ``fitsread`` (fast FITS reading), ``stamps`` (one object's stamp, validation), ``catalog``
(catalog + work plan), ``shard`` (one rank's resumable part), ``run`` (MPI orchestration, manifest),
``cli`` (entry point). See docs/preprocess.md.
"""
