"""Evaluation of translations (``hpcgan evaluate``, docs/evaluation.md): ``photometry`` (photutils
apertures, bias/NMAD), ``shapes`` (half-light radius, ellipticity), ``noise`` (background samples),
``metrics`` (total flux, KS, Fourier stacks, MSE), ``score`` (the streaming scores of every image
set), ``masks`` (masked pixels left out, and counted), ``run`` (inputs, matching, metrics.json),
``plots`` (matplotlib PNGs), ``report`` (the table).

    from hpcgan.evaluate import evaluate, metrics
    from hpcgan.astro.photometry import aperture_fluxes, bias_nmad
"""
from hpcgan.evaluate import metrics


def evaluate(cfg):
    """Score ``cfg.evaluate.translations``; write metrics.json and PNGs to ``cfg.evaluate.out``."""
    from hpcgan.evaluate.run import evaluate as _evaluate

    return _evaluate(cfg)


__all__ = ["evaluate", "metrics"]
