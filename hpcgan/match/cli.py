"""``hpcgan match``: pair two survey catalogs by position into the catalog preprocess reads.

The work is :func:`hpcgan.match.run.run`; this module is the command line.

    hpcgan match --x sdss.fits --y cfht.csv --out runs/match --max-sep 1.0 match.y.ra=ALPHA_J2000 ...
"""
from __future__ import annotations

from typing import Sequence

from hpcgan.commandline import Flag, parse_stage, stage_parser
from hpcgan.dist.env import detect
from hpcgan.match.run import run

FLAGS = (
    Flag("--x", "match.x.catalog", "data.x's survey catalog: CSV or FITS table"),
    Flag("--y", "match.y.catalog", "data.y's"),
    Flag("--out", "match.out", "catalog.csv + match.json"),
    Flag("--max-sep", "match.max_sep_arcsec", type=float),
)


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_stage(stage_parser("hpcgan match", __doc__.split("\n")[0], FLAGS), argv, FLAGS)
    if cfg is None:
        return 0
    if detect().rank == 0:  # serial and cheap: one rank writes
        run(cfg)
    return 0
