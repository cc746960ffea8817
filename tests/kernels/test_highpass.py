"""High-pass 5x5: the Triton kernel (CUDA, or CPU under TRITON_INTERPRET) against the torch reference."""
from __future__ import annotations

import sys

import pytest
import torch

from hpcgan.kernels import HIGHPASS_5X5, highpass5x5
from tests.kernels.conftest import DEVICE, HAS_CUDA, no_reference, rel_err

REF = sys.modules["hpcgan.kernels.highpass"].highpass5x5_ref


def check_against_reference(shape, monkeypatch, dtype=torch.float32, tol=1e-5):
    x = torch.randn(*shape, device=DEVICE).to(dtype).requires_grad_(True)
    xf = x.detach().float().requires_grad_(True)
    want = REF(xf)
    g = torch.randn_like(want)
    (want_g,) = torch.autograd.grad(want, xf, g)
    no_reference(monkeypatch, "hpcgan.kernels.highpass", "highpass5x5_ref")
    got = highpass5x5(x, impl="triton")
    (got_g,) = torch.autograd.grad(got, x, g.to(dtype))
    assert got.shape == want.shape and got.dtype == dtype and got.is_contiguous()
    assert got_g.shape == x.shape and got_g.dtype == dtype
    assert rel_err(got, want) < tol
    assert rel_err(got_g, want_g) < tol


@pytest.mark.parametrize("shape", [(1, 5, 5, 5), (1, 5, 9, 12), (3, 5, 16, 11), (2, 3, 30, 75), (8, 5, 8, 8)])
def test_fwd_bwd_small(kernels, monkeypatch, shape):
    check_against_reference(shape, monkeypatch)


@pytest.mark.parametrize("hw", [64, 136])
def test_fwd_bwd_stamp_sizes(kernels, monkeypatch, hw):
    check_against_reference((1, 5, hw, hw), monkeypatch)


@pytest.mark.parametrize("tiling,shape", [("gpu", (1, 2, 25, 72)), ("tiny", (1, 3, 9, 8))], indirect=["tiling"])
def test_fwd_bwd_tilings(kernels, tiling, monkeypatch, shape):
    check_against_reference(shape, monkeypatch)


def test_bf16(kernels, monkeypatch):
    check_against_reference((2, 5, 13, 14), monkeypatch, dtype=torch.bfloat16, tol=1e-2)


@pytest.mark.parametrize("tiling", ["default", "tiny"], indirect=True)
@pytest.mark.parametrize("pad", [0, 4])
def test_every_output_written(kernels, tiling, device, pad):
    th = kernels[1]
    n, c, h, w = (3, 5, 11, 14) if tiling == "default" else (1, 3, 7, 9)
    x = torch.randn(n, c, h, w, device=device)
    out = torch.full((n, c, h + 2 * pad - 4, w + 2 * pad - 4), float("nan"), device=device)
    th.launch_hp(x, out, pad)
    assert not out.isnan().any()
    want = REF(x) if pad == 0 else torch.nn.functional.conv_transpose2d(
        x, HIGHPASS_5X5.to(device).expand(c, 1, 5, 5), groups=c)
    assert rel_err(out, want) < 1e-5


def test_noncontiguous_input_and_grad(kernels, device):
    x_big = torch.randn(2, 5, 14, 26, device=device)
    x = x_big[..., ::2].detach().requires_grad_(True)  # strided leaf
    xt = torch.randn(2, 5, 13, 12, device=device).transpose(-1, -2)
    assert not x.is_contiguous() and not xt.is_contiguous()
    assert rel_err(highpass5x5(xt, impl="triton"), REF(xt)) < 1e-5
    other = torch.randn(2, 5, 10, 2, device=device)  # out is (2, 5, 10, 9)
    cat_grad = torch.randn(2, 5, 10, 11, device=device)
    tr_grad = torch.randn(2, 5, 9, 10, device=device)
    res = {}
    for impl in ("torch", "triton"):
        out = highpass5x5(x, impl=impl)
        res[impl] = (torch.autograd.grad(torch.cat([out, other], -1), x, cat_grad, retain_graph=True)
                     + torch.autograd.grad(out.transpose(-1, -2), x, tr_grad))
    for gg, wg in zip(res["triton"], res["torch"]):
        assert rel_err(gg, wg) < 1e-5


def test_double_backward(kernels, device):
    """Gradient penalties differentiate D's input gradient: the backward op has its own adjoint."""
    x = torch.randn(2, 5, 10, 11, device=device, requires_grad=True)
    v = torch.randn(2, 5, 6, 7, device=device)
    res = {}
    for impl in ("torch", "triton"):
        out = highpass5x5(x, impl=impl)
        (gx,) = torch.autograd.grad((out * out * v).sum(), x, create_graph=True)
        res[impl] = torch.autograd.grad(gx.square().sum(), x)[0]
    assert rel_err(res["triton"], res["torch"]) < 1e-5


def test_no_grad_to_filter_and_filter_properties():
    hp = HIGHPASS_5X5
    assert not hp.requires_grad
    assert hp.sum().item() == 0
    torch.testing.assert_close(hp, hp.flip(0))
    torch.testing.assert_close(hp, hp.flip(1))
    torch.testing.assert_close(hp, hp.t())


def test_reference_gradcheck_float64():
    x = torch.randn(1, 1, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(REF, (x,))
    assert torch.autograd.gradgradcheck(REF, (x,))


def test_shape_errors():
    with pytest.raises(ValueError, match="expected \\(N, C, H>=5, W>=5\\)"):
        highpass5x5(torch.zeros(1, 5, 4, 9), impl="torch")
    with pytest.raises(ValueError, match="expected"):
        highpass5x5(torch.zeros(5, 9, 9), impl="torch")
    with pytest.raises(ValueError, match="kernels.impl"):
        highpass5x5(torch.zeros(1, 1, 9, 9), impl="fast")


def test_impl_triton_without_triton(monkeypatch):
    import hpcgan.kernels.dispatch as dispatch
    monkeypatch.setattr(dispatch, "triton_available", lambda: False)
    x = torch.randn(1, 2, 8, 8)
    with pytest.raises(RuntimeError, match="triton is not installed"):
        highpass5x5(x, impl="triton")
    torch.testing.assert_close(highpass5x5(x, impl="auto"), REF(x))


def test_opcheck(kernels, device):
    x = torch.randn(2, 3, 9, 10, device=device, requires_grad=True)
    g = torch.randn(2, 3, 5, 6, device=device, requires_grad=True)
    utils = (("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")
             if HAS_CUDA else ("test_schema", "test_autograd_registration", "test_faketensor"))
    torch.library.opcheck(torch.ops.hpcgan.highpass5x5.default, (x,), test_utils=utils)
    torch.library.opcheck(torch.ops.hpcgan.highpass5x5_bwd.default, (g,), test_utils=utils)


def test_compile_under_interpreter_refuses(kernels):
    """Under TRITON_INTERPRET, torch.compile must fail loudly, not drop the kernel from the graph."""
    if HAS_CUDA:
        pytest.skip("a CUDA GPU is present: this checks the CPU Triton interpreter path")
    x = torch.randn(1, 1, 8, 8)
    torch._dynamo.reset()
    with pytest.raises(Exception, match="TRITON_INTERPRET cannot be traced"):
        torch.compile(lambda t: highpass5x5(t, impl="triton"), backend="aot_eager", fullgraph=True)(x)


@pytest.mark.skipif(not HAS_CUDA, reason="torch.compile of Triton kernels needs a GPU (interpreter is not traceable)")
def test_torch_compile_fullgraph_and_amp(kernels):
    x = torch.randn(8, 5, 136, 136, device="cuda", requires_grad=True)

    def f(t):
        return highpass5x5(t, impl="triton").square().mean()

    want = f(x)
    (want_g,) = torch.autograd.grad(want, x)
    got = torch.compile(f, fullgraph=True)(x)
    (got_g,) = torch.autograd.grad(got, x)
    assert rel_err(got, want) < 1e-5 and rel_err(got_g, want_g) < 1e-4
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y = highpass5x5(x.bfloat16(), impl="triton")
    assert y.dtype == torch.bfloat16 and rel_err(y, REF(x)) < 1e-2
