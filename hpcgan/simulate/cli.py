"""``hpcgan simulate``: render a simulated SDSS/CFHT survey pair with ground truth.

    hpcgan simulate --out DIR --n-paired N --n-unpaired M [--seed S] [-c CONFIG] [key.sub=value ...]
    mpirun -np 4 hpcgan simulate -c demo

The flags are shorthands for ``simulate.*`` overrides and win over the config and ``--set``. Under an
MPI launcher (more than one rank) the stamps are split across ranks; an exception on any rank aborts
the whole job (``MPI_Abort``) so it never hangs.
"""
from __future__ import annotations

from typing import Sequence

from hpcgan.astro.surveys import survey_pair
from hpcgan.commandline import Flag, parse_stage, run_on_ranks, stage_parser

FLAGS = (
    Flag("--out", "simulate.out", "output folder", aliases=("-o",)),
    Flag("--n-paired", "simulate.n_paired", "paired objects, rendered in both surveys", type=int),
    Flag("--n-unpaired", "simulate.n_unpaired", "unpaired objects per survey", type=int),
    Flag("--seed", "simulate.seed", "random seed", type=int),
    Flag("--paired-test-fraction", "simulate.paired_test_fraction", "share of paired objects in paired-test",
         type=float),
    Flag("--no-noise", "simulate.noise", "noise-free stamps", const=False),
)


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_stage(stage_parser("hpcgan simulate", __doc__.split("\n")[0], FLAGS), argv, FLAGS,
                      check=survey_pair)  # config errors surface on every rank, before MPI starts
    if cfg is None:
        return 0
    from hpcgan.simulate.run import run

    return run_on_ranks("simulate", lambda comm: run(cfg, comm) and 0, cfg.simulate.out)
