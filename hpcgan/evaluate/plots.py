"""Small PNG plots drawn with Pillow (matplotlib is not a dependency): line plots, scatter plots and
image maps, each written atomically. Plain on purpose: the numbers are in metrics.json.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from hpcgan.utils.atomic import atomic_path

W, H, ML, MR, MT, MB = 560, 410, 70, 20, 40, 45  # canvas and margins (px)
COLORS = {"real": (40, 90, 200), "generated": (210, 50, 40), "one": (120, 120, 120)}
PALETTE = [(120, 40, 160), (40, 120, 200), (40, 160, 80), (220, 130, 30), (180, 40, 40)]


def _save(img, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return path


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    if log:
        return [10.0 ** e for e in range(math.floor(lo), math.ceil(hi) + 1) if lo - 1e-9 <= e <= hi + 1e-9]
    span = hi - lo or 1.0
    step = 10 ** math.floor(math.log10(span / 5))
    for m in (1, 2, 5, 10):
        if span / (step * m) <= 6:
            step *= m
            break
    return list(np.arange(math.ceil(lo / step) * step, hi + 1e-9 * span, step))


class Axes:
    """One plot area with data -> pixel mapping (optionally log10 on either axis)."""

    def __init__(self, title: str, xlabel: str, ylabel: str, x: np.ndarray, y: np.ndarray, logx=False, logy=False):
        from PIL import Image, ImageDraw

        self.img = Image.new("RGB", (W, H), (255, 255, 255))
        self.d = ImageDraw.Draw(self.img)
        self.logx, self.logy = logx, logy
        fx, fy = self._t(np.asarray(x, float), logx), self._t(np.asarray(y, float), logy)
        fx, fy = fx[np.isfinite(fx)], fy[np.isfinite(fy)]
        self.x0, self.x1 = (float(fx.min()), float(fx.max())) if fx.size else (0.0, 1.0)
        self.y0, self.y1 = (float(fy.min()), float(fy.max())) if fy.size else (0.0, 1.0)
        for a in ("x", "y"):
            lo, hi = getattr(self, a + "0"), getattr(self, a + "1")
            pad = (hi - lo) * 0.05 or 0.5
            setattr(self, a + "0", lo - pad)
            setattr(self, a + "1", hi + pad)
        d = self.d
        d.rectangle([ML, MT, W - MR, H - MB], outline=(0, 0, 0))
        d.text((ML, 4), title, fill=(0, 0, 0))
        d.text(((W + ML) // 2 - 3 * len(xlabel), H - 16), xlabel, fill=(0, 0, 0))
        d.text((4, MT - 14), ylabel, fill=(0, 0, 0))
        for v in _ticks(self.x0, self.x1, logx):
            px = self._px(v if not logx else math.log10(v), None)[0]
            d.line([px, H - MB, px, H - MB + 4], fill=(0, 0, 0))
            d.text((px - 12, H - MB + 6), f"{v:.3g}", fill=(0, 0, 0))
        for v in _ticks(self.y0, self.y1, logy):
            py = self._px(None, v if not logy else math.log10(v))[1]
            d.line([ML - 4, py, ML, py], fill=(0, 0, 0))
            d.text((4, py - 5), f"{v:.3g}", fill=(0, 0, 0))
        self.legend_y = MT + 6

    @staticmethod
    def _t(v: np.ndarray, log: bool) -> np.ndarray:
        if not log:
            return v
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(v > 0, np.log10(np.where(v > 0, v, 1.0)), np.nan)

    def _px(self, x, y) -> tuple:
        px = None if x is None else ML + (x - self.x0) / (self.x1 - self.x0) * (W - ML - MR)
        py = None if y is None else H - MB - (y - self.y0) / (self.y1 - self.y0) * (H - MT - MB)
        return px, py

    def points(self, x, y) -> list[tuple[float, float]]:
        fx, fy = self._t(np.asarray(x, float), self.logx), self._t(np.asarray(y, float), self.logy)
        return [self._px(a, b) for a, b in zip(fx, fy) if np.isfinite(a) and np.isfinite(b)]

    def line(self, x, y, color, label: str = "", width: int = 2) -> None:
        pts = self.points(x, y)
        if len(pts) > 1:
            self.d.line(pts, fill=color, width=width)
        self._legend(label, color)

    def scatter(self, x, y, color, label: str = "") -> None:
        for px, py in self.points(x, y):
            self.d.ellipse([px - 2, py - 2, px + 2, py + 2], outline=color)
        self._legend(label, color)

    def vspan(self, x0: float, x1: float, color=(235, 235, 235)) -> None:
        a = self._px(self._t(np.array([x0]), self.logx)[0], None)[0]
        b = self._px(self._t(np.array([x1]), self.logx)[0], None)[0]
        self.d.rectangle([max(a, ML + 1), MT + 1, min(b, W - MR - 1), H - MB - 1], fill=color)

    def _legend(self, label: str, color) -> None:
        if label:
            self.d.line([W - MR - 150, self.legend_y + 5, W - MR - 130, self.legend_y + 5], fill=color, width=3)
            self.d.text((W - MR - 125, self.legend_y), label, fill=(0, 0, 0))
            self.legend_y += 14

    def save(self, path: str | Path) -> Path:
        return _save(self.img, path)


def maps(path: str | Path, panels: Sequence[tuple[str, np.ndarray]], scale: int = 3, shared: int = 2) -> Path:
    """Grey image maps side by side; the first ``shared`` panels share one colour range, the others
    each their own (range printed under each panel)."""
    from PIL import Image, ImageDraw

    size = max(p.shape[0] for _, p in panels) * scale
    canvas = Image.new("RGB", (len(panels) * (size + 10) + 10, size + 46), (255, 255, 255))
    d = ImageDraw.Draw(canvas)
    lo_s = min(float(np.nanmin(p)) for _, p in panels[:shared])
    hi_s = max(float(np.nanmax(p)) for _, p in panels[:shared])
    for i, (label, p) in enumerate(panels):
        lo, hi = (lo_s, hi_s) if i < shared else (float(np.nanmin(p)), float(np.nanmax(p)))
        g = np.clip((np.nan_to_num(p, nan=lo) - lo) / ((hi - lo) or 1.0), 0, 1)
        im = Image.fromarray((g * 255 + 0.5).astype(np.uint8)).resize((size, size), Image.NEAREST)
        x0 = 10 + i * (size + 10)
        canvas.paste(im, (x0, 18))
        d.text((x0, 4), label, fill=(0, 0, 0))
        d.text((x0, size + 24), f"[{lo:.3g}, {hi:.3g}]", fill=(0, 0, 0))
    return _save(canvas, path)
