"""Kernel tests: on CUDA when there is one, else the Triton kernels run on CPU in TRITON_INTERPRET.

TRITON_INTERPRET is read when ``@triton.jit`` decorates a kernel, i.e. when
hpcgan.kernels.triton_noise / triton_highpass are first imported: it is set here, before that.
"""
from __future__ import annotations

import os
import sys

import pytest
import torch

HAS_CUDA = torch.cuda.is_available()
if not HAS_CUDA:
    os.environ.setdefault("TRITON_INTERPRET", "1")

DEVICE = "cuda" if HAS_CUDA else "cpu"


def _kernel_modules_ok() -> str | None:
    """Why the Triton kernels cannot run here, or None."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return "triton is not installed"
    from hpcgan.kernels import _triton as tt
    from hpcgan.kernels import triton_highpass, triton_noise
    if not HAS_CUDA and not (tt.is_interpreted(triton_noise._noise_fwd_kernel)
                             and tt.is_interpreted(triton_highpass._hp_kernel)):
        return ("hpcgan.kernels.triton_* were imported before TRITON_INTERPRET=1 was set (by another test "
                "module?): run with TRITON_INTERPRET=1 in the environment")
    return None


KERNELS_UNAVAILABLE = _kernel_modules_ok()


@pytest.fixture
def device() -> str:
    return DEVICE


@pytest.fixture
def kernels():
    """(triton_noise, triton_highpass, _triton helpers); fails (not skips) if they cannot run."""
    if KERNELS_UNAVAILABLE:
        pytest.fail(KERNELS_UNAVAILABLE)
    from hpcgan.kernels import _triton as tt
    from hpcgan.kernels import triton_highpass, triton_noise
    return triton_noise, triton_highpass, tt


# Launch tilings: the interpreter default (whole planes, many planes per program), the GPU default
# (1 plane, 16 rows, <= 64 columns per program) and a tiny one (many partial blocks).
TILINGS = {
    "default": None,
    "gpu": lambda planes, h, w, interpreted: (1, 16, min(64, _np2(w))),
    "tiny": lambda planes, h, w, interpreted: (2, 3, 4),
}


def _np2(v: int) -> int:
    return 1 << max(0, (v - 1).bit_length())


@pytest.fixture
def tiling(request, monkeypatch, kernels):
    """Parametrise indirectly with a TILINGS key to force a launch tiling."""
    name = getattr(request, "param", "default")
    if TILINGS[name] is not None:
        monkeypatch.setattr(kernels[2], "tiles", TILINGS[name])
    return name


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max |want| (in float64)."""
    got, want = got.detach().double().cpu(), want.detach().double().cpu()
    return ((got - want).abs().max() / want.abs().max().clamp_min(1e-30)).item()


def no_reference(monkeypatch, module: str, name: str) -> None:
    """Make the torch reference raise, to prove the Triton path does not fall back to it."""
    def boom(*a, **k):
        raise AssertionError(f"{module}.{name} called on the triton path")
    monkeypatch.setattr(sys.modules[module], name, boom)
