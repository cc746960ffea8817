"""``hpcgan preprocess`` / ``python -m preprocess``: FITS stamps -> per-rank HDF5 shards.

    mpirun -np N python -m preprocess -c demo
    srun python -m preprocess -c demo preprocess.out=/scratch/shards
    hpcgan preprocess --catalog sim/catalog.csv --out shards

Exit codes: 0 done; 2 config error, unusable catalog (one line, from rank 0 only) or OUT in use by
another run (its lock is held); 3 quarantine fraction over ``preprocess.quarantine_max_frac``
(manifest written); 74 too little disk space to start, or a write error (one line naming the file and
the errno; hpcgan/utils/disk.py); 1 any other failure (with several ranks the whole job is aborted).
"""
from __future__ import annotations

from typing import Sequence

from hpcgan.commandline import Flag, parse_stage, run_on_ranks, stage_parser
from hpcgan.log import setup_logging

FLAGS = (
    Flag("--catalog", "preprocess.catalog", "CSV or FITS table"),
    Flag("--out", "preprocess.out", "shards + manifest.json"),
    Flag("--data-root", "preprocess.data_root", "default: the catalog's folder"),
    Flag("--layout", "preprocess.layout", choices=["auto", "mef", "cube", "per_band"]),
)


def main(argv: Sequence[str] | None = None) -> int:
    p = stage_parser("hpcgan preprocess", __doc__, FLAGS)
    setup_logging()
    cfg = parse_stage(p, argv, FLAGS)
    if cfg is None:
        return 0
    from preprocess.catalog import CatalogError
    from preprocess.run import run
    # a CatalogError is raised on every rank at once (no collective is left waiting); run() takes OUT's lock
    return run_on_ranks("preprocess", lambda comm: run(cfg, comm), agreed={CatalogError: 2})
