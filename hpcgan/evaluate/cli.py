"""``hpcgan evaluate``: score a translation against the noise-free truth, the real counterparts and
the catalog, side by side with a baseline translation and the real noisy stamps (docs/evaluation.md).

    hpcgan evaluate -c demo --translations demo_out/translate --baseline demo_out/baseline --out demo_out/eval
    hpcgan evaluate -c my.yaml evaluate.realisation=2 evaluate.catalog=sim/catalog.csv

Prints a table per band and writes ``metrics.json`` (atomically) and PNGs (aperture-flux scatter,
stamp grid with residuals, power ratios, curves of growth, Fourier maps) into ``evaluate.out``.
Exit codes: 0 done; 1 missing inputs or any failure; 2 config error. Serial: under a launcher with
several ranks rank 0 scores and the others wait; a failure on rank 0 aborts the job (hpcgan.dist.comm).
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from hpcgan.cli import add_config_args, config_from_args
from hpcgan.config import dump_config
from hpcgan.log import get_logger

log = get_logger("hpcgan.evaluate")
FLAGS = {"translations": "evaluate.translations", "baseline": "evaluate.baseline", "out": "evaluate.out", "shards": "evaluate.shards",
         "catalog": "evaluate.catalog", "realisation": "evaluate.realisation"}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hpcgan evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(p)
    p.add_argument("--translations", help="= evaluate.translations (a translate.out folder)")
    p.add_argument("--baseline", help="= evaluate.baseline (a second translate.out folder, e.g. --method resample)")
    p.add_argument("--out", help="= evaluate.out")
    p.add_argument("--shards", help="= evaluate.shards (real counterparts; default the translation's input root)")
    p.add_argument("--catalog", help="= evaluate.catalog (simulated catalog: true total fluxes)")
    p.add_argument("--realisation", type=int, help="= evaluate.realisation")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    a = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    cfg = config_from_args(a, flags=FLAGS)
    if a.dry_run:
        print(dump_config(cfg), end="")
        return 0
    from hpcgan.dist.comm import get_comm
    from hpcgan.evaluate.report import table
    from hpcgan.evaluate.run import evaluate

    comm = get_comm()
    if comm.rank == 0:
        try:
            print(table(evaluate(cfg)))
        except FileNotFoundError as e:
            print(f"hpcgan evaluate: {e}", file=sys.stderr)
            return comm.fail(1)
        except Exception:
            log.exception("evaluate failed on rank 0")
            return comm.fail(1)
    comm.barrier()
    return 0


if __name__ == "__main__":
    sys.exit(main())
