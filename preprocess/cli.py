"""``hpcgan preprocess`` / ``python -m preprocess``: FITS stamps -> per-rank HDF5 shards.

    mpirun -np N python -m preprocess -c demo
    srun python -m preprocess -c demo preprocess.out=/scratch/shards
    hpcgan preprocess --catalog sim/catalog.csv --out shards

Exit codes: 0 done; 2 config error, unusable catalog (one line, from rank 0 only) or OUT in use by
another run (its lock is held); 3 quarantine fraction over ``preprocess.quarantine_max_frac``
(manifest written); 1 any other failure (with several ranks the whole job is aborted).
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from hpcgan.cli import add_config_args, config_from_args
from hpcgan.config import dump_config
from hpcgan.log import get_logger, setup_logging

log = get_logger("preprocess")
FLAGS = {"catalog": "preprocess.catalog", "out": "preprocess.out", "data_root": "preprocess.data_root",
         "layout": "preprocess.layout"}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hpcgan preprocess", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(p)
    p.add_argument("--catalog", help="= preprocess.catalog (CSV or FITS table)")
    p.add_argument("--out", help="= preprocess.out (shards + manifest.json)")
    p.add_argument("--data-root", help="= preprocess.data_root (default: the catalog's folder)")
    p.add_argument("--layout", choices=["auto", "mef", "cube", "per_band"], help="= preprocess.layout")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    a = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    setup_logging()
    cfg = config_from_args(a, flags=FLAGS)
    if a.dry_run:
        print(dump_config(cfg), end="")
        return 0
    from preprocess.catalog import CatalogError
    from hpcgan.dist.comm import get_comm
    from preprocess.run import run
    comm = get_comm()
    try:
        return run(cfg, comm)
    except CatalogError as e:  # raised on every rank at once: no collective is left waiting
        if comm.rank == 0:
            log.error("%s", e)
        return 2
    except Exception:
        log.exception("preprocess failed on rank %d", comm.rank)
        return comm.fail(1)  # several ranks: abort the job, never leave the others waiting in a collective
