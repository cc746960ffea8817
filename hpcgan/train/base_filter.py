"""Fit the residual generators' base filter (``model.residual_filter_bins``, beyond the paper) before step 2.

Each residual generator with a :class:`hpcgan.models.residual.RadialFilter` gets, per band and radial
frequency bin, the least-squares transfer function taking its base (in target survey units, the filter
left out) to the other survey's *noisy* stamps of the same objects (:mod:`hpcgan.astro.transfer`), clipped
to [0, 1], its departure from 1 kept only where the pairs measure it. The pairs are the first
``model.residual_filter_stamps`` stamps of ``paired-train`` before the held-out ones (``data.holdout_pairs``,
which :mod:`hpcgan.train.gain` fits on). The target's noise is independent of the input's, so the fit needs
no truth (it works on real survey pairs). The target stamps' masked pixels are set to zero in both images.
Rank 0 fits a fresh run once (a resumed run has it in its checkpoint); the trainer broadcasts the
generators.
"""
from __future__ import annotations

import torch

from hpcgan.astro.transfer import binned_sums, radial_transfer
from hpcgan.astro.transforms import from_model_space
from hpcgan.config.schema import Config
from hpcgan.data.shards import open_source
from hpcgan.log import get_logger
from hpcgan.train.gain import GENERATORS, SPLIT
from hpcgan.train.validate import load_split, load_valid

log = get_logger(__name__)


@torch.no_grad()
def fit_base_filter(g: torch.nn.Module, x: torch.Tensor, psf: torch.Tensor, target: torch.Tensor,
                    valid: torch.Tensor | None = None, batch: int = 64) -> torch.Tensor:
    """(C, bins) transfer function of ``g``'s base filter from model-space inputs ``x`` (seeing ``psf``) to
    the noisy ``target`` stamps in target survey units, ``valid`` their usable pixels (or None)."""
    dev = g.base_filter.transfer.device
    sums = []
    for i in range(0, len(x), batch):
        b = g.physical_base(x[i:i + batch].to(dev), psf[i:i + batch].to(dev), filtered=False)
        y = target[i:i + batch].to(dev)
        if valid is not None:
            w = valid[i:i + batch].to(dev)
            b, y = b * w, y * w
        sums.append(binned_sums(b, y, g.base_filter.labels))
    n_i, d_i = (torch.cat(t) for t in zip(*sums))
    return radial_transfer(n_i, d_i)


def filtered_generators(nets: dict[str, torch.nn.Module]) -> list[str]:
    """The generators in ``nets`` that have a base filter (the same on every rank: it follows the config)."""
    return [k for k in GENERATORS if getattr(nets.get(k), "base_filter", None) is not None]


def fit_base_filters(nets: dict[str, torch.nn.Module], cfg: Config) -> None:
    """Fit and set the base filter of every residual generator in ``nets`` that has one (rank 0)."""
    sides = {"x": cfg.data.x, "y": cfg.data.y}
    wanted = filtered_generators(nets)
    if not wanted:
        return
    n = len(open_source(cfg.data.shards, cfg.data.x.name, SPLIT)) - cfg.data.holdout_pairs
    n = min(n, cfg.model.residual_filter_stamps)
    if n < 1:
        raise ValueError(f"model.residual_filter_bins: no training pairs to fit the base filter on "
                         f"({SPLIT} holds no more than data.holdout_pairs={cfg.data.holdout_pairs})")
    data = {s: load_split(cfg.data.shards, sv, SPLIT, n, cfg.data.pixel_transform) for s, sv in sides.items()}
    if list(data["x"][1]) != list(data["y"][1]):
        raise ValueError(f"model.residual_filter_bins: the {SPLIT} stamps of {cfg.data.x.name} and {cfg.data.y.name} "
                         "are not the same objects in the same order")
    for name in wanted:
        src, dst = GENERATORS[name]
        g, sv = nets[name], sides[dst]
        x, _, psf = data[src]
        target = from_model_space(data[dst][0].double(), sv.flux_scale, cfg.data.pixel_transform).float()
        valid = load_valid(cfg.data.shards, sv, (SPLIT,), n)
        f = fit_base_filter(g, x, psf, target, valid)
        g.base_filter.transfer.copy_(f.to(g.base_filter.transfer))
        log.info("%s base filter fitted on %d training pairs (radial bins of %.3f cycles/px), per band: %s", name, n,
                 0.5 ** 0.5 / f.shape[1], "; ".join(f"{b} " + " ".join(f"{v:.2f}" for v in row)
                                                   for b, row in zip(sv.bands, f.tolist())))
