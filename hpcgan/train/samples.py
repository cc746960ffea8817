"""Sample grids: PNG images of RGB composites (bands g, r, i -> B, G, R) with an asinh stretch.

One row per image kind (e.g. ``x``, ``g_xy(x)+NE``, ``yp (truth)``), one column per stamp; every tile
is scaled to the largest stamp size (nearest) so 64- and 136-px stamps line up. Values are the
networks' (transformed) pixels; the stretch is ``asinh(v / soft) / asinh(vmax / soft)`` with
``vmax`` the 99.5th percentile of the g, r, i pixels of the real images of the same domain (rows
whose label has no parenthesis; the same stretch for a domain's real and generated rows) and
``soft = vmax / 20``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

RGB_BANDS = (3, 2, 1)  # R = i, G = r, B = g (bands u g r i z)


def rgb_composite(imgs: torch.Tensor, vmax: float | None = None) -> np.ndarray:
    """(N, 5, H, W) -> (N, H, W, 3) uint8 with the asinh stretch."""
    a = imgs.detach().float().cpu()[:, list(RGB_BANDS)].numpy()
    if vmax is None:
        vmax = float(np.percentile(a, 99.5)) if a.size else 1.0
    vmax = vmax if vmax > 0 else 1.0
    soft = vmax / 20
    s = np.arcsinh(np.clip(a, 0, None) / soft) / np.arcsinh(vmax / soft)
    return (np.clip(s, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(0, 2, 3, 1)


def save_grid(path: str | Path, rows: Sequence[tuple[str, torch.Tensor]], count: int = 4, pad: int = 2,
              label_w: int = 0) -> Path:
    """Write the grid PNG atomically; rows hold (label, (N, 5, H, W)); ``count`` columns."""
    from PIL import Image, ImageDraw

    from hpcgan.utils.atomic import atomic_path

    size = max(int(t.shape[-1]) for _, t in rows)
    n = min(count, min(int(t.shape[0]) for _, t in rows))
    label_w = label_w or 8 + 7 * max(len(lbl) for lbl, _ in rows)
    W = label_w + n * (size + pad) + pad
    H = len(rows) * (size + pad) + pad
    # one stretch per stamp size (= per domain), set by that domain's real images (labels without "(")
    vmax: dict[int, float] = {}
    for size_key in {int(t.shape[-1]) for _, t in rows}:
        same = [t[:n] for lbl, t in rows if int(t.shape[-1]) == size_key]
        real = [t[:n] for lbl, t in rows if int(t.shape[-1]) == size_key and "(" not in lbl] or same
        a = torch.cat(real).float()[:, list(RGB_BANDS)]
        vmax[size_key] = float(torch.quantile(a.flatten()[:1_000_000], 0.995))
    canvas = Image.new("RGB", (W, H), (24, 24, 24))
    draw = ImageDraw.Draw(canvas)
    for r, (label, t) in enumerate(rows):
        y0 = pad + r * (size + pad)
        draw.text((4, y0 + size // 2 - 5), label, fill=(230, 230, 230))
        for c, tile in enumerate(rgb_composite(t[:n], vmax[int(t.shape[-1])])):
            im = Image.fromarray(tile).resize((size, size), Image.NEAREST)
            canvas.paste(im, (label_w + pad + c * (size + pad), y0))
    path = Path(path)
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
    return path
