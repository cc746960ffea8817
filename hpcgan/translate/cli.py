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

from hpcgan.commandline import Flag, parse_stage, run_on_ranks, stage_parser

FLAGS = (
    Flag("--method", "translate.method", "resample: the physical baseline, settings baseline.*",
         choices=["model", "resample"]),
    Flag("--checkpoint", "translate.checkpoint", "a checkpoint file or a run dir: its latest"),
    Flag("--direction", "translate.direction", choices=["x2y", "y2x"]),
    Flag("--split", "translate.split", "unpaired, paired-train, paired-test"),
    Flag("--shards", "translate.shards", "input shard root; default data.shards"),
    Flag("--out", "translate.out"),
    Flag("--batch-size", "translate.batch_size", type=int),
    Flag("--n-realisations", "translate.n_realisations", type=int),
    Flag("--fits", "translate.fits", "also write one FITS file per object and realisation", const=True),
    Flag("--add-noise", "baseline.add_noise", "resample: target sky noise", const=True),
    Flag("--no-noise", "translate.noise", "model: the non-noise part G(x) alone (no noise emulator)", const=False),
)


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_stage(stage_parser("hpcgan translate", __doc__, FLAGS), argv, FLAGS)
    if cfg is None:
        return 0
    from hpcgan.io.checkpoint import CheckpointError
    from hpcgan.translate.run import run, start

    return run_on_ranks("translate", lambda comm: run(start(cfg, comm), comm), cfg.translate.out,
                        errors={CheckpointError: 1, FileNotFoundError: 1})


if __name__ == "__main__":
    sys.exit(main())
