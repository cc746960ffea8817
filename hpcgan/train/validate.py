"""Validation against the noise-free twins during training (``train.eval_every``, rank 0 only).

A fixed held-out subset (the first ``train.eval_count`` stamps of ``paired-test`` and of its
``paired-test-truth`` twin, both surveys) is read once at start. Every ``train.eval_every`` iterations
the phase's translations are scored against the truth:

- step 2 and the single-step variants: ``G_xy(x)`` vs truth_y (``x2y``) and ``G_yx(y)`` vs truth_x
  (``y2x``), and with noise emulators ``+NE`` too (``x2y_ne``, ``y2x_ne``);
- step 1: ``A_x(x)`` vs truth_x (``ae_x``) and ``A_y(y)`` vs truth_y (``ae_y``).

Each gets ``val/mse_<tag>`` (model space) and the r-band 3" aperture-flux ``val/ap3_bias_<tag>`` /
``val/ap3_nmad_<tag>`` (:func:`hpcgan.astro.photometry.bias_nmad` of translated / true flux in
physical units). Pixels flagged in the truth's or the target's paired-test mask (hpcgan/io/mask_bits.py)
are left out of the MSE, and objects with one inside the 3" aperture out of the flux statistics.
Without truth shards (real data) validation is skipped with one log line.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from hpcgan.astro.photometry import aperture_fluxes, bias_nmad
from hpcgan.astro.transforms import from_model_space
from hpcgan.config.schema import Config, SurveyCfg
from hpcgan.data.shards import open_source, seeing, stamps_to_model
from hpcgan.log import get_logger
from hpcgan.models.residual import generate
from hpcgan.train.losses import mse

log = get_logger(__name__)
TRUTH_SPLIT = "paired-test-truth"
RADIUS_ARCSEC, BAND = 3.0, "r"


def load_split(root: str, survey: SurveyCfg, split: str, count: int,
               transform: str, last: bool = False) -> tuple[torch.Tensor, np.ndarray, torch.Tensor]:
    """The first (``last``: the last) ``count`` stamps of one survey/split in model space, their object
    ids and their PSF FWHMs (N, C) in arcsec (NaN = unknown)."""
    src = open_source(root, survey.name, split)
    idx = _rows(len(src), count, last)
    x = stamps_to_model(src.read(idx), src, survey.flux_scale, transform)
    return x, src.object_ids()[idx], torch.from_numpy(seeing(src)[idx])


def _rows(n: int, count: int, last: bool) -> np.ndarray:
    return np.arange(max(0, n - count), n) if last else np.arange(min(count, n))


def load_valid(root: str, survey: SurveyCfg, splits: tuple[str, ...], count: int,
               last: bool = False) -> torch.Tensor | None:
    """(N, C, H, W) float 1/0: pixels unmasked in every one of ``splits`` (first, or ``last``, ``count``
    stamps); None when nothing is masked (no split has a mask, or all its pixels are valid)."""
    valid = None
    for split in splits:
        src = open_source(root, survey.name, split)
        if src.has_mask:
            v = src.read_mask(_rows(len(src), count, last)) == 0
            valid = v if valid is None else valid & v
    return None if valid is None or valid.all() else torch.from_numpy(valid.astype(np.float32))


def score(pred: torch.Tensor, truth: torch.Tensor, survey: SurveyCfg, transform: str,
          valid: torch.Tensor | None = None) -> dict[str, float]:
    """MSE vs truth in model space and the r-band 3" aperture-flux bias/NMAD in physical units;
    ``valid`` (N, C, H, W) 1/0: the pixels to score (None = all)."""
    pred, truth = pred.detach().float().cpu(), truth.float().cpu()
    out = {"mse": float(mse(pred, truth, valid))}
    b = survey.bands.index(BAND) if BAND in survey.bands else 0
    f = [aperture_fluxes(from_model_space(t[:, b], survey.flux_scale, transform).numpy(), survey.pixel_scale,
                         [RADIUS_ARCSEC])[:, 0, 0] for t in (pred, truth)]
    if valid is not None:
        hole = aperture_fluxes((valid[:, b] == 0).numpy().astype(np.float32), survey.pixel_scale, [RADIUS_ARCSEC])[:, 0, 0] > 0
        f[0] = np.where(hole, np.nan, f[0])
    s = bias_nmad(*f)
    out.update({"ap3_bias": s["bias"], "ap3_nmad": s["nmad"]})
    return out


class Validator:
    """Scores a phase on the held-out subset; ``__call__(phase) -> {"val/<metric>_<tag>": value}``."""

    def __init__(self, cfg: Config, inputs: dict[str, torch.Tensor], truth: dict[str, torch.Tensor],
                 batch_size: int = 32, psf: dict[str, torch.Tensor] | None = None,
                 valid: dict[str, torch.Tensor | None] | None = None):
        self.cfg, self.inputs, self.truth, self.batch_size = cfg, inputs, truth, batch_size
        self.psf = psf or {}  # per input domain: (N, C) source seeing, for generators that take it
        self.valid = valid or {}  # per domain: (N, C, H, W) 1/0 unmasked pixels of its truth, or None

    @classmethod
    def from_config(cls, cfg: Config, root: str | None = None, truth_root: str | None = None,
                    truth_split: str = TRUTH_SPLIT) -> "Validator | None":
        """Read the subset (``data.shards``; truth from ``truth_root``/``truth_split``); None, with one
        log line, when ``train.eval_every`` is 0 or no truth shards exist."""
        dc, n = cfg.data, cfg.train.eval_count
        root = root or dc.shards
        inputs, truth, psf, valid = {}, {}, {}, {}
        try:
            for s, survey in (("x", dc.x), ("y", dc.y)):
                inputs[s], ids, psf[s] = load_split(root, survey, "paired-test", n, dc.pixel_transform)
                truth[s], tids, _ = load_split(truth_root or root, survey, truth_split, n, dc.pixel_transform)
                if len(ids) != len(tids) or not np.array_equal(ids, tids):
                    raise ValueError(f"{survey.name} {truth_split}: object ids differ from paired-test")
                valid[s] = load_valid(root, survey, ("paired-test",), n)
                tv = load_valid(truth_root or root, survey, (truth_split,), n)
                valid[s] = tv if valid[s] is None else valid[s] if tv is None else valid[s] * tv
        except (FileNotFoundError, ValueError) as e:
            log.info("validation vs truth skipped: %s", e)
            return None
        log.info("validation vs truth: %d paired-test stamps every %d iterations", len(inputs["x"]),
                 cfg.train.eval_every)
        return cls(cfg, inputs, truth, psf=psf, valid=valid)

    def _apply(self, fn: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor], src: str,
               device: torch.device) -> torch.Tensor:
        x, psf = self.inputs[src], self.psf.get(src)
        b = self.batch_size
        return torch.cat([fn(x[i:i + b].to(device), None if psf is None else psf[i:i + b].to(device)).float().cpu()
                          for i in range(0, len(x), b)])

    @torch.no_grad()
    def __call__(self, phase: Any) -> dict[str, float]:
        dc, dev, nets = self.cfg.data, phase.device, phase.nets
        surveys = {"x": dc.x, "y": dc.y}
        jobs: list[tuple[str, str, str, Callable]] = []  # (tag, source, target domain, fn)
        if "g_xy" in nets:
            for src, dst, g in (("x", "y", "g_xy"), ("y", "x", "g_yx")):
                tag = f"{src}2{dst}"
                jobs.append((tag, src, dst, lambda t, p, g=nets[g]: generate(g, t, p)))
                if f"ne_{dst}" in nets:
                    ne = nets[f"ne_{dst}"]
                    jobs.append((f"{tag}_ne", src, dst, lambda t, p, g=nets[g], ne=ne: ne(generate(g, t, p))))
        else:
            jobs += [(f"ae_{s}", s, s, lambda t, p, a=nets[f"ae_{s}"]: a(t)) for s in ("x", "y")]
        out: dict[str, float] = {}
        was = {k: m.training for k, m in nets.items()}
        for m in nets.values():
            m.eval()
        try:
            with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []), phase.autocast():
                torch.manual_seed(self.cfg.train.seed)  # the same NE draws at every evaluation
                for tag, src, dst, fn in jobs:
                    pred = self._apply(fn, src, dev)
                    for k, v in score(pred, self.truth[dst], surveys[dst], dc.pixel_transform, self.valid.get(dst)).items():
                        out[f"val/{k}_{tag}"] = v
        finally:
            for k, m in nets.items():
                m.train(was[k])
        return out
