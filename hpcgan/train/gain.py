"""How much of a residual generator's learnt part to keep, per band (``train.fit_gain``, beyond the paper).

After the last iteration each residual generator ``G = plain + learnt`` (:class:`hpcgan.models.residual.
ResidualGenerator`: the physical base, and what the learnt kernel and the correction network add) gets a
per-band gain ``a`` in [0, 1], so that it translates ``plain + a * learnt``. ``a`` is the least-squares
fit, in model space, of ``learnt`` to ``target - plain`` over the held-out pairs (``data.holdout_pairs``:
the last stamps of ``paired-train``, never trained on), the target being the other survey's *noisy* stamp:

    a = sum(learnt * (target - plain)) / sum(learnt^2),   clipped to [0, 1]

The target's noise is independent of the input's, so it adds nothing to the numerator on average: the fit
needs no truth (it works on real survey pairs). Where the learnt part helps, ``a`` is near 1; where a
short run has moved it by noise (a band whose targets are mostly noise: Adam's steps have the same size
whatever the gradient's signal), ``a`` goes to 0 and that band keeps the physics. Masked pixels of either
stamp are left out. Rank 0 fits; the trainer broadcasts the generators and saves them.

``train.fit_gain_on: aperture_flux`` fits the same gain on the held-out photometry instead: the flux ``F``
in the ``train.flux_loss_radii_arcsec`` apertures, in survey units, relative to the base's flux as in the
flux loss (``s = |F_plain| + 0.1 mean |F_plain|``):

    a = sum(F_learnt (F_target - F_plain) / s^2) / sum(F_learnt^2 / s^2),   clipped to [0, 1]

A learnt part can lower the pixel MSE (mostly the faint outskirts in model space) and still scatter the
aperture fluxes more; this fit keeps it only where the held-out fluxes say it helps.

``train.fit_gain_shrink`` (default on) weighs the gain by how well the held-out pairs measure it. With
per-object sums ``n_i``, ``d_i`` (``a = sum n_i / sum d_i``), the gain's variance over objects is
``var = sum (n_i - a d_i)^2 / (sum d_i)^2`` (the sandwich estimate: pixels of one object are not
independent), and the kept gain is the Wiener factor of the estimate:

    a_kept = a * a^2 / (a^2 + var)

A gain measured well (``a >> sd``) is kept; one the held-out noise could have made (``a ~ sd``: 24 pairs
in a band whose correction moved by noise) is halved or more, so the translation falls back to the physics
unless the pairs show the learnt part helps.
"""
from __future__ import annotations

import torch

from hpcgan.astro.photometry import aperture_weights
from hpcgan.astro.transfer import least_squares_ratio
from hpcgan.config.schema import Config, SurveyCfg
from hpcgan.log import get_logger
from hpcgan.train.losses import aperture_flux, flux_scale
from hpcgan.train.validate import load_split, load_valid

log = get_logger(__name__)
SPLIT = "paired-train"
GENERATORS = {"g_xy": ("x", "y"), "g_yx": ("y", "x")}  # generator -> (input side, target side)


def held_out(cfg: Config, survey: SurveyCfg) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The held-out stamps of one survey: (model-space stamps, PSF FWHMs (N, C), valid pixels or None)."""
    n = cfg.data.holdout_pairs
    x, _, psf = load_split(cfg.data.shards, survey, SPLIT, n, cfg.data.pixel_transform, last=True)
    return x, psf, load_valid(cfg.data.shards, survey, (SPLIT,), n, last=True)


@torch.no_grad()
def fit_gain(g: torch.nn.Module, x: torch.Tensor, psf: torch.Tensor, target: torch.Tensor,
             valid: torch.Tensor | None = None, batch: int = 16, flux_weights: torch.Tensor | None = None,
             transform: str = "sqrt", shrink: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The per-band gain of ``g``'s learnt part on inputs ``x`` (seeing ``psf``) against ``target``, and the
    held-out MSE per band of the plain base, the whole generator and the fitted one, and (key ``sd``) the
    gain's standard error. With ``flux_weights`` ((R, H*W) aperture weights) the gain is fitted on the
    aperture fluxes; with ``shrink`` it is weighed by its standard error (module docstring)."""
    dev = g.gain.device
    sq = {k: torch.zeros_like(g.gain, dtype=torch.float64) for k in ("plain", "full")}
    terms = torch.zeros_like(sq["plain"])
    per_object: list[tuple[torch.Tensor, torch.Tensor]] = []  # (n_i, d_i) of the pixel fit: (B, C) each
    fluxes: list[tuple[torch.Tensor, ...]] = []  # (F_plain, F_learnt, F_target) per batch: (B, C, R)
    for i in range(0, len(x), batch):
        plain, learnt = g.parts(x[i:i + batch].to(dev), psf[i:i + batch].to(dev))
        y = target[i:i + batch].to(dev).double()
        r = y - plain.double()
        w = torch.ones_like(r) if valid is None else valid[i:i + batch].to(dev).double()
        if flux_weights is not None:  # masked pixels are 0 in both spaces (T^-1(0) = 0)
            f = [aperture_flux(w * t.double(), flux_weights, transform) for t in (plain, plain + learnt, y)]
            fluxes.append((f[0], f[1] - f[0], f[2]))
        learnt = learnt.double()
        per_object.append(((w * learnt * r).sum((2, 3)), (w * learnt * learnt).sum((2, 3))))
        sq["plain"] += (w * r * r).sum((0, 2, 3))
        sq["full"] += (w * (r - learnt) ** 2).sum((0, 2, 3))
        terms += w.sum((0, 2, 3))
    n_i, d_i = (torch.cat(t) for t in zip(*per_object))
    num, den = n_i.sum(0), d_i.sum(0)  # the pixel fit's sums (for the fitted MSE)
    if fluxes:
        fp, fl, fy = (torch.cat(t) for t in zip(*fluxes))
        s2 = flux_scale(fp) ** 2
        n_i, d_i = (fl * (fy - fp) / s2).sum(2), (fl * fl / s2).sum(2)
    gain, sd = least_squares_ratio(n_i, d_i)
    if shrink:
        gain = gain * gain ** 2 / (gain ** 2 + sd ** 2).clamp_min(1e-300)
    # sum (r - a l)^2 = sum r^2 - 2 a num + a^2 den
    sq["fitted"] = sq["plain"] - 2 * gain * num + gain * gain * den
    return gain.float(), {**{k: v / terms.clamp_min(1) for k, v in sq.items()}, "sd": sd}


def fit_gains(nets: dict[str, torch.nn.Module], cfg: Config) -> dict[str, float]:
    """Fit and set the gain of every residual generator in ``nets`` (rank 0); returns ``gain/<net>_<band>``
    for the metrics log (the held-out MSEs go to the log line)."""
    sides = {"x": cfg.data.x, "y": cfg.data.y}
    data = {s: held_out(cfg, sv) for s, sv in sides.items()}
    out = {}
    for name, (src, dst) in GENERATORS.items():
        g = nets.get(name)
        if g is None or not hasattr(g, "parts"):
            continue
        x, psf, _ = data[src]  # masks on the target grid: the target's
        target, _, valid = data[dst]
        weights = None
        if cfg.train.fit_gain_on == "aperture_flux":
            sv = sides[dst]
            weights = torch.from_numpy(aperture_weights(sv.stamp_size, sv.pixel_scale, cfg.train.flux_loss_radii_arcsec))
        gain, mse = fit_gain(g, x, psf, target, valid, flux_weights=weights, transform=cfg.data.pixel_transform,
                             shrink=cfg.train.fit_gain_shrink)
        g.gain.copy_(gain.to(g.gain))
        bands = sides[dst].bands
        log.info("%s gain of the learnt part (fitted on %s%s) on %d held-out pairs, per band %s: %s (standard "
                 "error %s); held-out MSE vs the noisy targets plain / learnt / fitted: %s", name,
                 cfg.train.fit_gain_on, ", shrunk by its error" if cfg.train.fit_gain_shrink else "", len(x),
                 "".join(bands), " ".join(f"{a:.2f}" for a in gain.tolist()),
                 " ".join(f"{a:.2f}" for a in mse["sd"].tolist()),
                 " ".join(f"{b} {p:.3g}/{f:.3g}/{a:.3g}" for b, p, f, a in
                          zip(bands, mse["plain"].tolist(), mse["full"].tolist(), mse["fitted"].tolist())))
        out.update({f"gain/{name}_{b}": float(a) for b, a in zip(bands, gain.tolist())})
    return out
