"""Memory layouts for collectives that take only contiguous tensors (Horovod's ``_check_function``).

A channels_last ``(N, C, H, W)`` tensor is dense: its storage is the contiguous ``(N, H, W, C)``
tensor. :func:`wire` returns such a view (the dims reordered by stride), so an in-place collective
on it writes straight into the original storage, with no copy. Only tensors with gaps or overlaps
(slices, expanded views) need a contiguous copy, which :func:`land` copies back.
"""
from __future__ import annotations

import torch


def dense_view(t: torch.Tensor) -> torch.Tensor | None:
    """A contiguous view of ``t``'s own memory (its dims permuted by stride), or None if ``t`` is not dense."""
    if t.is_contiguous():
        return t
    order = sorted(range(t.dim()), key=lambda i: (-t.stride(i), -t.size(i)))
    v = t.permute(order)
    return v if v.is_contiguous() else None


def wire(t: torch.Tensor) -> torch.Tensor:
    """What to hand an in-place collective for ``t``: a contiguous view of it, else a contiguous copy."""
    v = dense_view(t)
    return v if v is not None else t.contiguous()


def land(t: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """After the collective: the result ``w`` (from :func:`wire`, or a tensor of its shape) into ``t``'s
    storage and layout; returns ``t``."""
    if w.data_ptr() == t.data_ptr() and w.numel() == t.numel() and w.dtype == t.dtype:
        return t  # the collective wrote into t's own memory
    view = dense_view(t)
    if view is not None and view.shape == w.shape:
        view.copy_(w)  # e.g. fp16 wire: the decompressed result has the view's (permuted) shape
    else:
        t.copy_(w)
    return t
