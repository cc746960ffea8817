"""Offline bulk translation (``hpcgan translate``): a trained checkpoint applied to whole survey
footprints, resumable, across MPI ranks. See docs/translation.md.

    from hpcgan.translate import Translator, run, noise_seed
"""
from hpcgan.translate.model import Translator, draw_noise, noise_seed

__all__ = ["Translator", "draw_noise", "noise_seed", "run"]


def run(cfg, comm=None):
    """Translate ``cfg.translate`` on this rank (``comm``: a :class:`hpcgan.dist.Comm`; default: the launcher's)."""
    from hpcgan.dist.comm import get_comm
    from hpcgan.translate.run import run as _run

    return _run(cfg, comm or get_comm())
