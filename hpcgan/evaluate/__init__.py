"""Evaluation of translations (``hpcgan evaluate``): the paper's global-shape and local-fluctuation
metrics made precise (docs/evaluation.md). ``metrics`` holds the formulas (pure numpy), ``run`` the
streaming comparison against real counterparts, ``plots`` the Pillow PNGs.

    from hpcgan.evaluate import evaluate, metrics
"""
from hpcgan.evaluate import metrics


def evaluate(cfg):
    """Score ``cfg.evaluate.translations``; write metrics.json and PNGs to ``cfg.evaluate.out``."""
    from hpcgan.evaluate.run import evaluate as _evaluate

    return _evaluate(cfg)


__all__ = ["evaluate", "metrics"]
