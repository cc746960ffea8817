"""``hpcgan translate``: bulk translation of a survey/split with a trained checkpoint or the physical
baseline (docs/translation.md).

    hpcgan translate -c demo                                   # demo paired-test, x2y, demo step-2 checkpoint
    hpcgan translate -c demo --method resample --out runs/translate-resample   # the naive baseline
    mpirun -np 4 hpcgan translate -c my.yaml translate.split=unpaired translate.n_realisations=4
    srun hpcgan translate -c my.yaml --checkpoint runs/train/ours-step2 --direction y2x --fits

Flags are shorthands for ``translate.*`` overrides. Exit codes: 0 done (or resumed to done); 1 an
unusable checkpoint or any failure (with several ranks the whole job is aborted at once with
``MPI_Abort``); 2 config error, or OUT in use by another run (hpcgan/utils/lock.py); 74 too little disk space to
start, or a write error (one line naming the file and the errno; hpcgan/utils/disk.py). Run the same
command again after a kill: committed batches are kept.
"""
from __future__ import annotations

import sys
from typing import Sequence

from hpcgan.commandline import parse_stage, run_on_ranks, stage_parser

FLAGS = {"method": "translate.method", "checkpoint": "translate.checkpoint", "direction": "translate.direction", "split": "translate.split",
         "shards": "translate.shards", "out": "translate.out", "batch_size": "translate.batch_size",
         "n_realisations": "translate.n_realisations"}


def main(argv: Sequence[str] | None = None) -> int:
    p = stage_parser("hpcgan translate", __doc__)
    p.add_argument("--method", choices=["model", "resample"], help="= translate.method (resample: the physical "
                   "baseline, settings baseline.*)")
    p.add_argument("--checkpoint", help="= translate.checkpoint (a checkpoint file or a run dir: its latest)")
    p.add_argument("--direction", choices=["x2y", "y2x"], help="= translate.direction")
    p.add_argument("--split", help="= translate.split (unpaired, paired-train, paired-test)")
    p.add_argument("--shards", help="= translate.shards (input shard root; default data.shards)")
    p.add_argument("--out", help="= translate.out")
    p.add_argument("--batch-size", type=int, help="= translate.batch_size")
    p.add_argument("--n-realisations", type=int, help="= translate.n_realisations")
    p.add_argument("--fits", action="store_true", help="also write one FITS file per object and realisation")
    p.add_argument("--add-noise", action="store_true", help="= baseline.add_noise=true (resample: target sky noise)")
    cfg = parse_stage(p, argv, FLAGS, lambda a: ["translate.fits=true"] * a.fits + ["baseline.add_noise=true"] * a.add_noise)
    if cfg is None:
        return 0
    from hpcgan.io.checkpoint import CheckpointError
    from hpcgan.translate.run import run, start

    return run_on_ranks("translate", lambda comm: run(start(cfg, comm), comm), cfg.translate.out,
                        errors={CheckpointError: 1, FileNotFoundError: 1})


if __name__ == "__main__":
    sys.exit(main())
