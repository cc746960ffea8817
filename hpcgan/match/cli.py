"""``hpcgan match``: pair two survey catalogs by position into the catalog preprocess reads.

The work is :func:`hpcgan.match.run.run`; this module is the command line.

    hpcgan match --x sdss.fits --y cfht.csv --out runs/match --max-sep 1.0 match.y.ra=ALPHA_J2000 ...
"""
from __future__ import annotations

from typing import Sequence

from hpcgan.commandline import parse_stage, stage_parser
from hpcgan.dist.env import detect
from hpcgan.match.run import run

FLAGS = {"x": "match.x.catalog", "y": "match.y.catalog", "out": "match.out", "max_sep": "match.max_sep_arcsec"}


def main(argv: Sequence[str] | None = None) -> int:
    p = stage_parser("hpcgan match", __doc__.split("\n")[0])
    p.add_argument("--x", help="= match.x.catalog (data.x's survey catalog: CSV or FITS table)")
    p.add_argument("--y", help="= match.y.catalog (data.y's)")
    p.add_argument("--out", help="= match.out (catalog.csv + match.json)")
    p.add_argument("--max-sep", type=float, help="= match.max_sep_arcsec")
    cfg = parse_stage(p, argv, FLAGS)
    if cfg is None:
        return 0
    if detect().rank == 0:  # serial and cheap: one rank writes
        run(cfg)
    return 0
