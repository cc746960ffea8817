"""Helpers shared by the Triton launchers (no kernels here)."""
from __future__ import annotations

import contextlib

import torch
import triton

# GPU launch shape: each program streams GPU_ROWS output rows of a BLOCK_W-column strip of
# GPU_PLANES (n, c) planes. benchmarks/kernels.py --sweep times the alternatives on a GPU.
GPU_PLANES = 1
GPU_ROWS = 16
GPU_MAX_BLOCK_W = 64
# TRITON_INTERPRET runs every program (and every op in it) in Python: few, whole-plane programs
# over many planes at once keep the CPU tests fast.
INTERP_MAX_PLANES = 64
INTERP_MAX_BLOCK_W = 256


def is_interpreted(kernel) -> bool:
    """True when ``kernel`` was decorated under TRITON_INTERPRET=1 (runs on CPU tensors, in numpy)."""
    return type(kernel).__name__ == "InterpretedFunction"


def skip_launch(kernel, t: torch.Tensor) -> bool:
    """True for a fake/meta tensor under TRITON_INTERPRET: only shapes are wanted (fake-tensor
    propagation) and an interpreted kernel cannot run on data-less tensors. On a GPU, wrap_triton
    records the launch for fake tensors instead, so nothing is skipped there."""
    if not is_interpreted(kernel):
        return False
    from torch._subclasses.fake_tensor import is_fake
    from torch._subclasses.functional_tensor import FunctionalTensor
    if isinstance(t, FunctionalTensor):
        # AOTAutograd (torch.compile) decomposes the triton_op here; an interpreted kernel is not
        # recorded by wrap_triton, so the compiled graph would silently lack it: refuse.
        raise RuntimeError("hpcgan kernels: Triton kernels running in TRITON_INTERPRET cannot be traced by "
                           "torch.compile; use kernels.impl=torch on CPU, or a GPU")
    return t.device.type == "meta" or is_fake(t)


def device_guard(t: torch.Tensor):
    """Launch on ``t``'s device, also from the autograd thread (pytorch #124565)."""
    return torch.cuda.device(t.device) if t.device.type == "cuda" else contextlib.nullcontext()


def check_device(op: str, kernel, *ts: torch.Tensor) -> None:
    """One device for all inputs; CUDA, or CPU when the kernels run in the interpreter."""
    dev = ts[0].device
    if any(t.device != dev for t in ts):
        raise ValueError(f"{op} (triton): all inputs must be on one device, got {[str(t.device) for t in ts]}")
    if dev.type != "cuda" and not is_interpreted(kernel):
        raise RuntimeError(f"{op} (triton): needs CUDA tensors (got {dev}), or TRITON_INTERPRET=1 set "
                           "before hpcgan.kernels.triton_* is imported (CPU interpreter, for tests)")


def tiles(planes: int, h_out: int, w_out: int, interpreted: bool) -> tuple[int, int, int]:
    """(planes, rows, block width) per program for ``planes`` output planes of (h_out, w_out)."""
    if interpreted:
        return pow2_at_least(planes, INTERP_MAX_PLANES), max(1, int(h_out)), pow2_at_least(w_out, INTERP_MAX_BLOCK_W)
    return GPU_PLANES, GPU_ROWS, pow2_at_least(w_out, GPU_MAX_BLOCK_W)


def pow2_at_least(v, cap: int) -> int:
    """Smallest power of two >= v, at most cap. Comparisons only, so a symbolic size (torch.compile
    with dynamic shapes) gets range guards, not a specialisation on its exact value."""
    p = 1
    while p < cap and p < v:
        p *= 2
    return p


def grid(planes: int, h_out: int, w_out: int, interpreted: bool) -> dict[str, int]:
    """Launch geometry: tile sizes and block counts (row blocks vary fastest after column blocks)."""
    p, r, bw = tiles(planes, h_out, w_out, interpreted)
    nrb, ncb = triton.cdiv(h_out, r), triton.cdiv(w_out, bw)
    return {"P": p, "R": r, "BW": bw, "nrb": nrb, "ncb": ncb,
            "programs": triton.cdiv(planes, p) * nrb * ncb, "num_warps": num_warps(p * bw)}


def num_warps(block: int) -> int:
    return max(1, min(4, block // 32))
