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

import sys
from typing import Sequence

from hpcgan.commandline import parse_stage, run_on_ranks, stage_parser

FLAGS = {"translations": "evaluate.translations", "baseline": "evaluate.baseline", "out": "evaluate.out", "shards": "evaluate.shards",
         "catalog": "evaluate.catalog", "realisation": "evaluate.realisation"}


def main(argv: Sequence[str] | None = None) -> int:
    p = stage_parser("hpcgan evaluate", __doc__)
    p.add_argument("--translations", help="= evaluate.translations (a translate.out folder)")
    p.add_argument("--baseline", help="= evaluate.baseline (a second translate.out folder, e.g. --method resample)")
    p.add_argument("--out", help="= evaluate.out")
    p.add_argument("--shards", help="= evaluate.shards (real counterparts; default the translation's input root)")
    p.add_argument("--catalog", help="= evaluate.catalog (simulated catalog: true total fluxes)")
    p.add_argument("--realisation", type=int, help="= evaluate.realisation")
    cfg = parse_stage(p, argv, FLAGS)
    if cfg is None:
        return 0
    from hpcgan.evaluate.report import table
    from hpcgan.evaluate.run import evaluate

    def score(comm) -> None:  # serial: rank 0 scores, the others wait
        if comm.rank == 0:
            print(table(evaluate(cfg)))
        comm.barrier()

    return run_on_ranks("evaluate", score, cfg.evaluate.out, errors={FileNotFoundError: 1})


if __name__ == "__main__":
    sys.exit(main())
