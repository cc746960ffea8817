"""Pixel transforms and the D4 augmentation of docs/method.md (Data section).

Axis order everywhere in this module: images are ``(..., band, y, x)``; a batch is ``(B, 5, H, W)``.
Functions accept numpy arrays or torch tensors and return the same kind.

Model space
    ``to_model_space(raw, flux_scale, "sqrt")`` = ``pixel_transform(raw * flux_scale)``: what the
    networks see. ``from_model_space`` is its exact inverse (up to float rounding), applied to
    translated images to get survey pixel units back.

D4 augmentation
    An op code ``c`` in ``0..11`` means: rotate by ``k = c // 3`` quarter turns
    (``rot90`` in the (y, x) plane, counter-clockwise), then ``flip = c % 3``: 0 none, 1 vertical
    flip (reverse y), 2 horizontal flip (reverse x). The 12 codes cover the 8 elements of D4 (some
    twice), exactly as the paper draws them. Both members of a pair get the same code.
"""
from __future__ import annotations

from typing import Union

import numpy as np
import torch

Array = Union[np.ndarray, torch.Tensor]
N_D4_OPS = 12
FLIP_NONE, FLIP_V, FLIP_H = 0, 1, 2


def _is_torch(x: Array) -> bool:
    return isinstance(x, torch.Tensor)


def pixel_transform(x: Array) -> Array:
    """``sign(x) * (sqrt(|x| + 1) - 1)``: compresses the bright cores, ~linear near 0."""
    if _is_torch(x):
        return torch.sign(x) * (torch.sqrt(torch.abs(x) + 1) - 1)
    return np.sign(x) * (np.sqrt(np.abs(x) + 1) - 1)


def inverse_pixel_transform(y: Array) -> Array:
    """Exact inverse of :func:`pixel_transform`: ``sign(y) * ((|y| + 1)^2 - 1)``."""
    if _is_torch(y):
        a = torch.abs(y)
        return torch.sign(y) * (a * (a + 2))
    a = np.abs(y)
    return np.sign(y) * (a * (a + 2))  # (a+1)^2 - 1 without the cancellation near 0


def to_model_space(raw: Array, flux_scale: float = 1.0, transform: str = "sqrt") -> Array:
    """Survey pixel units -> network input: multiply by ``flux_scale``, then the pixel transform."""
    x = raw * flux_scale if flux_scale != 1.0 else raw
    if transform == "sqrt":
        return pixel_transform(x)
    if transform == "none":
        return x
    raise ValueError(f"pixel_transform: unknown {transform!r}; allowed: 'sqrt', 'none'")


def from_model_space(y: Array, flux_scale: float = 1.0, transform: str = "sqrt") -> Array:
    """Network output -> survey pixel units: inverse transform, then divide by ``flux_scale``."""
    if transform == "sqrt":
        y = inverse_pixel_transform(y)
    elif transform != "none":
        raise ValueError(f"pixel_transform: unknown {transform!r}; allowed: 'sqrt', 'none'")
    return y / flux_scale if flux_scale != 1.0 else y


def d4(x: Array, code: int) -> Array:
    """Apply D4 op ``code`` (see module docstring) to one image or a batch, on the last two axes."""
    if not 0 <= code < N_D4_OPS:
        raise ValueError(f"d4 code: must be in 0..{N_D4_OPS - 1}, got {code}")
    k, flip = divmod(code, 3)
    if _is_torch(x):
        out = torch.rot90(x, k, dims=(-2, -1)) if k else x
        if flip == FLIP_V:
            out = torch.flip(out, dims=(-2,))
        elif flip == FLIP_H:
            out = torch.flip(out, dims=(-1,))
        return out
    out = np.rot90(x, k, axes=(-2, -1)) if k else x
    if flip == FLIP_V:
        out = out[..., ::-1, :]
    elif flip == FLIP_H:
        out = out[..., :, ::-1]
    return out


def d4_inverse(x: Array, code: int) -> Array:
    """Undo :func:`d4` with the same ``code``: un-flip, then rotate back."""
    k, flip = divmod(code, 3)
    out = d4(x, flip) if flip else x  # the flips are involutions (code 1 / 2 = flip only)
    return d4(out, ((4 - k) % 4) * 3) if k else out


def d4_batch(batch: Array, codes: np.ndarray) -> Array:
    """Apply per-sample D4 codes to a batch ``(B, C, H, W)``; samples sharing a code are done together.

    Square images keep their shape; the result is contiguous.
    """
    codes = np.asarray(codes)
    if len(codes) != batch.shape[0]:
        raise ValueError(f"d4_batch: {len(codes)} codes for a batch of {batch.shape[0]}")
    if batch.shape[-1] != batch.shape[-2]:
        raise ValueError(f"d4_batch: images must be square, got {tuple(batch.shape[-2:])}")
    out = torch.empty_like(batch) if _is_torch(batch) else np.empty_like(batch)
    for c in np.unique(codes):
        idx = np.nonzero(codes == c)[0]
        if _is_torch(batch):
            t = torch.from_numpy(idx)
            out[t] = d4(batch[t], int(c))
        else:
            out[idx] = d4(batch[idx], int(c))
    return out


def random_d4_codes(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` codes drawn uniformly from the paper's 4 rotations x 3 flip choices."""
    return rng.integers(0, N_D4_OPS, size=n)
