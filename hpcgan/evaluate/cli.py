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

from hpcgan.commandline import Flag, parse_stage, run_on_ranks, stage_parser

FLAGS = (
    Flag("--translations", "evaluate.translations", "a translate.out folder"),
    Flag("--baseline", "evaluate.baseline", "a second translate.out folder, e.g. --method resample"),
    Flag("--out", "evaluate.out"),
    Flag("--shards", "evaluate.shards", "real counterparts; default the translation's input root"),
    Flag("--catalog", "evaluate.catalog", "simulated catalog: true total fluxes"),
    Flag("--realisation", "evaluate.realisation", type=int),
    Flag("--realisations", "evaluate.realisations", "pool this many noise realisations (both sets need them)", type=int),
)


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_stage(stage_parser("hpcgan evaluate", __doc__, FLAGS), argv, FLAGS)
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
