"""Choose the implementation of a fixed filter: ``auto`` = Triton on CUDA, the torch reference otherwise."""
from __future__ import annotations

import torch

IMPLS = ("auto", "triton", "torch")


def resolve_impl(impl: str, x: torch.Tensor) -> str:
    """``'torch'`` or ``'triton'`` for this input; an explicit ``'triton'`` that cannot run raises."""
    return impl_for(impl, x.device.type)


def impl_for(impl: str, device_type: str) -> str:
    """``'torch'`` or ``'triton'`` on a device of this type (``kernels.impl: auto`` resolved at stage start)."""
    if impl not in IMPLS:
        raise ValueError(f"kernels.impl: expected one of {', '.join(IMPLS)}, got {impl!r}")
    if impl == "torch":
        return "torch"
    if impl == "auto":
        return "triton" if device_type == "cuda" and triton_available() else "torch"
    if not triton_available():
        raise RuntimeError("kernels.impl: 'triton' was asked for but triton is not installed "
                           "(pip install triton, or kernels.impl=torch)")
    return "triton"


def triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True
