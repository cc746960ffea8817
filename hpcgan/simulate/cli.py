"""``hpcgan simulate``: render a simulated SDSS/CFHT survey pair with ground truth.

    hpcgan simulate --out DIR --n-paired N --n-unpaired M [--seed S] [-c CONFIG] [key.sub=value ...]
    mpirun -np 4 hpcgan simulate -c demo

The flags are shorthands for ``simulate.*`` overrides and win over the config and ``--set``. Under an
MPI launcher (more than one rank) the stamps are split across ranks; an exception on any rank aborts
the whole job (``MPI_Abort``) so it never hangs.
"""
from __future__ import annotations

import argparse
from typing import Sequence

from hpcgan.astro.surveys import survey_pair
from hpcgan.commandline import parse_stage, run_on_ranks, stage_parser

# flag dest -> config key
FLAG_KEYS = {"out": "simulate.out", "n_paired": "simulate.n_paired", "n_unpaired": "simulate.n_unpaired",
             "seed": "simulate.seed", "paired_test_fraction": "simulate.paired_test_fraction"}


def build_parser() -> argparse.ArgumentParser:
    p = stage_parser("hpcgan simulate", __doc__.split("\n")[0])
    p.add_argument("--out", "-o", help="output folder (simulate.out)")
    p.add_argument("--n-paired", type=int, help="paired objects, rendered in both surveys (simulate.n_paired)")
    p.add_argument("--n-unpaired", type=int, help="unpaired objects per survey (simulate.n_unpaired)")
    p.add_argument("--seed", type=int, help="random seed (simulate.seed)")
    p.add_argument("--paired-test-fraction", type=float, help="share of paired objects in paired-test")
    p.add_argument("--no-noise", action="store_true", help="noise-free stamps (simulate.noise=false)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_stage(build_parser(), argv, FLAG_KEYS, lambda a: ["simulate.noise=false"] if a.no_noise else [],
                      check=survey_pair)  # config errors surface on every rank, before MPI starts
    if cfg is None:
        return 0
    from hpcgan.simulate.run import run

    return run_on_ranks("simulate", lambda comm: run(cfg, comm) and 0, cfg.simulate.out)
