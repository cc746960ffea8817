"""Noise synthesis: the Triton kernel (CUDA, or CPU under TRITON_INTERPRET) against the torch reference."""
from __future__ import annotations

import sys

import pytest
import torch

from hpcgan.kernels import highpass5x5, noise_synthesis, symmetrize_d4
from tests.kernels.conftest import DEVICE, HAS_CUDA, no_reference, rel_err

NS = sys.modules["hpcgan.kernels.noise_synthesis"]
REF = NS.noise_synthesis_ref


def make_inputs(n, c, h, w, dtype=torch.float32, device=DEVICE, seed=None, requires_grad=True):
    g = torch.Generator().manual_seed(seed if seed is not None else hash((n, c, h, w)) % 2**31)

    def rnd(*shape, positive=False):
        t = torch.rand(*shape, generator=g) + 0.1 if positive else torch.randn(*shape, generator=g)
        return t.to(device=device, dtype=dtype)

    base, a, z2, w7 = rnd(n, c, h, w), rnd(n, c, positive=True), rnd(n, c, h + 6, w + 6), rnd(c, 7, 7)
    if requires_grad:
        for t in (base, a, w7):
            t.requires_grad_(True)
    return base, a, z2, w7


def grads(out, inputs, g):
    return torch.autograd.grad(out, inputs, g)


def check_against_reference(n, c, h, w, monkeypatch, tol=1e-5):
    base, a, z2, w7 = make_inputs(n, c, h, w)
    want = REF(base, a, z2, w7)
    g = torch.randn_like(want)
    want_g = grads(want, (base, a, w7), g)
    no_reference(monkeypatch, "hpcgan.kernels.noise_synthesis", "noise_synthesis_ref")
    got = noise_synthesis(base, a, z2, w7, impl="triton")
    got_g = grads(got, (base, a, w7), g)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert rel_err(got, want) < tol
    for name, gg, wg in zip(("base", "amplitude", "weight"), got_g, want_g):
        assert gg.shape == wg.shape and gg.dtype == wg.dtype, name
        assert rel_err(gg, wg) < tol, f"grad {name}: {rel_err(gg, wg):.2e}"


@pytest.mark.parametrize("n,c,h,w", [(1, 5, 7, 9), (3, 5, 12, 10), (2, 3, 21, 70), (6, 5, 8, 8)])
def test_fwd_bwd_small(kernels, monkeypatch, n, c, h, w):
    check_against_reference(n, c, h, w, monkeypatch)


# The interpreter runs every program in Python: the multi-block tilings get one small case each.
@pytest.mark.parametrize("tiling,shape", [("gpu", (1, 2, 21, 70)), ("tiny", (1, 3, 7, 9))], indirect=["tiling"])
def test_fwd_bwd_tilings(kernels, tiling, monkeypatch, shape):
    """GPU tiling (1 plane x 16 rows x 64 columns: partial row and column blocks) and a tiny one."""
    check_against_reference(*shape, monkeypatch)


@pytest.mark.parametrize("hw", [64, 136])
def test_fwd_bwd_stamp_sizes(kernels, monkeypatch, hw):
    check_against_reference(1, 5, hw, hw, monkeypatch)


@pytest.mark.parametrize("tiling", ["default", "tiny"], indirect=True)
def test_every_output_written(kernels, tiling, device):
    """Launch into NaN-poisoned buffers: every element must be overwritten, with the right value."""
    tn = kernels[0]
    n, c, h, w = (3, 5, 11, 13) if tiling == "default" else (1, 3, 7, 9)
    base, a, z2, w7 = make_inputs(n, c, h, w, requires_grad=False)
    q = tn.quadrant(symmetrize_d4(w7)).contiguous()
    out = torch.full((n, c, h, w), float("nan"), device=device)
    tn.launch_noise_fwd(base, a, z2, q, out)
    assert not out.isnan().any()
    assert rel_err(out, REF(base, a, z2, w7)) < 1e-5
    geo = tn.launch_geometry((n, c, h, w))
    partial = torch.full((n * c, geo["nrb"] * geo["ncb"], 16), float("nan"), device=device)
    tn.launch_noise_bwd_stats(torch.randn(n, c, h, w, device=device), z2, partial)
    assert not partial.isnan().any()


def test_stats_is_folded_cross_correlation(kernels, device):
    """The backward statistic S[n, c, p, s] against a direct 49-tap cross-correlation."""
    tn = kernels[0]
    n, c, h, w = 2, 3, 9, 12
    g, z2 = torch.randn(n, c, h, w, device=device), torch.randn(n, c, h + 6, w + 6, device=device)
    x = torch.stack([torch.stack([(g * z2[:, :, i:i + h, j:j + w]).sum((2, 3)) for j in range(7)], -1)
                     for i in range(7)], -2)  # (n, c, 7, 7): sum g * z2 shifted by (i, j)
    want = torch.zeros(n, c, 4, 4, device=device)
    for i in range(7):
        for j in range(7):
            want[:, :, abs(i - 3), abs(j - 3)] += x[:, :, i, j]
    assert rel_err(tn.noise_synthesis_bwd_stats(g, z2), want) < 1e-5


def test_noncontiguous_inputs_and_grad(kernels, monkeypatch, device):
    """Strided base / z2 / amplitude and a grad_out that arrives non-contiguous (cat and transpose)."""
    n, c, h, w = 2, 5, 10, 9
    base_big = torch.randn(n, c, h, 2 * w, device=device)[..., ::2].requires_grad_(False)
    base = base_big.clone().requires_grad_(True)
    base_nc = base_big  # strided view, no grad needed to test the strided read
    a = torch.rand(c, n, device=device).t().requires_grad_(True)  # transposed (N, C)
    z2 = torch.randn(n, c, w + 6, h + 6, device=device).transpose(-1, -2)  # transposed last two dims
    w7 = torch.randn(c, 7, 7, device=device, requires_grad=True)
    assert not base_nc.is_contiguous() and not a.is_contiguous() and not z2.is_contiguous()
    assert rel_err(noise_synthesis(base_nc, a.detach(), z2, w7.detach(), impl="triton"),
                   REF(base_nc, a.detach(), z2, w7.detach())) < 1e-5

    other = torch.randn(n, c, h, 3, device=device)
    cat_grad = torch.randn(n, c, h, w + 3, device=device)
    tr_grad = torch.randn(n, c, w, h, device=device)
    res = {}
    for impl in ("torch", "triton"):
        out = noise_synthesis(base, a, z2, w7, impl=impl)
        # cat backward hands out a slice of cat_grad; transpose backward a transposed grad
        res[impl] = (torch.autograd.grad(torch.cat([out, other], -1), (base, a, w7), cat_grad, retain_graph=True)
                     + torch.autograd.grad(out.transpose(-1, -2), (base, a, w7), tr_grad))
    for gg, wg in zip(res["triton"], res["torch"]):
        assert rel_err(gg, wg) < 1e-5


def test_bf16_inputs(kernels, monkeypatch, device):
    """bf16 inputs: fp32 accumulation inside; compared with the fp32 reference on the same values."""
    n, c, h, w = 2, 5, 13, 12
    base, a, z2, w7 = make_inputs(n, c, h, w, dtype=torch.bfloat16)
    f32 = [t.detach().float().requires_grad_(t.requires_grad) for t in (base, a, z2, w7)]
    want = REF(*f32)
    g = torch.randn_like(want).bfloat16()  # both sides get the same (bf16-representable) upstream gradient
    want_g = grads(want, (f32[0], f32[1], f32[3]), g.float())
    got = noise_synthesis(base, a, z2, w7, impl="triton")
    assert got.dtype == torch.bfloat16
    assert rel_err(got, want) < 1e-2
    got_g = grads(got, (base, a, w7), g)
    for gg, wg, t in zip(got_g, want_g, (base, a, w7)):
        assert gg.dtype == t.dtype
        assert rel_err(gg, wg) < 1e-2


def test_mixed_dtypes_promote_like_reference(kernels, device):
    base, a, z2, w7 = make_inputs(1, 2, 6, 7, requires_grad=False)
    got = noise_synthesis(base.bfloat16(), a, z2, w7, impl="triton")
    want = REF(base.bfloat16(), a, z2, w7)
    assert got.dtype == want.dtype == torch.float32
    assert rel_err(got, want) < 1e-5


def test_reference_gradcheck_float64():
    base, a, z2, w7 = make_inputs(1, 2, 3, 4, dtype=torch.float64, device="cpu", seed=1)
    assert torch.autograd.gradcheck(lambda b, aa, ww: REF(b, aa, z2, ww), (base, a, w7))


def test_symmetrize_d4_is_the_d4_projection():
    w = torch.randn(3, 7, 7, dtype=torch.float64)
    s = symmetrize_d4(w)
    for k in range(4):
        torch.testing.assert_close(torch.rot90(s, k, dims=(-2, -1)), s)
    torch.testing.assert_close(torch.flip(s, dims=(-1,)), s)
    torch.testing.assert_close(torch.flip(s, dims=(-2,)), s)
    torch.testing.assert_close(s.transpose(-1, -2), s)
    torch.testing.assert_close(symmetrize_d4(s), s)  # idempotent
    # 10 free weights: the projection on the 49-dim space has rank 10
    basis = torch.eye(49, dtype=torch.float64).view(49, 7, 7)
    assert torch.linalg.matrix_rank(symmetrize_d4(basis).reshape(49, 49)).item() == 10
    # the Triton path's quadrant reconstructs the full kernel: K[i, j] = q[|i-3|, |j-3|]
    from hpcgan.kernels.triton_noise import quadrant
    q = quadrant(s)
    idx = torch.tensor([3, 2, 1, 0, 1, 2, 3])
    torch.testing.assert_close(q[:, idx][:, :, idx], s)


def test_shape_errors():
    base, a, z2, w7 = make_inputs(2, 5, 8, 8, device="cpu", requires_grad=False)
    with pytest.raises(ValueError, match="amplitude must have shape"):
        noise_synthesis(base, a[:1], z2, w7, impl="torch")
    with pytest.raises(ValueError, match="z2 must have shape"):
        noise_synthesis(base, a, z2[..., 1:], w7, impl="torch")
    with pytest.raises(ValueError, match="weight must have shape"):
        noise_synthesis(base, a, z2, w7[:4], impl="torch")
    with pytest.raises(ValueError, match="base must be"):
        noise_synthesis(base[0], a, z2, w7, impl="torch")
    with pytest.raises(ValueError, match="kernels.impl"):
        noise_synthesis(base, a, z2, w7, impl="cuda")


def test_triton_only_7x7(kernels, device):
    base, a, z2, _ = make_inputs(1, 2, 8, 8, requires_grad=False)
    with pytest.raises(ValueError, match="only a 7x7 kernel"):
        noise_synthesis(base, a, z2[..., 1:-1, 1:-1], torch.randn(2, 5, 5, device=device), impl="triton")


def test_impl_triton_without_triton(monkeypatch):
    import hpcgan.kernels.dispatch as dispatch
    monkeypatch.setattr(dispatch, "triton_available", lambda: False)
    base, a, z2, w7 = make_inputs(1, 1, 4, 4, device="cpu", requires_grad=False)
    with pytest.raises(RuntimeError, match="triton is not installed"):
        noise_synthesis(base, a, z2, w7, impl="triton")
    torch.testing.assert_close(noise_synthesis(base, a, z2, w7, impl="auto"), REF(base, a, z2, w7))


def test_auto_picks_reference_on_cpu_and_triton_on_cuda(monkeypatch):
    from hpcgan.kernels.dispatch import resolve_impl
    assert resolve_impl("auto", torch.zeros(1)) == "torch"
    if HAS_CUDA:
        assert resolve_impl("auto", torch.zeros(1, device="cuda")) == "triton"


def test_cpu_tensor_without_interpreter_is_refused(kernels):
    tt = kernels[2]
    with pytest.raises(RuntimeError, match="needs CUDA tensors"):
        tt.check_device("noise_synthesis", object(), torch.zeros(1))
    with pytest.raises(ValueError, match="one device"):
        tt.check_device("noise_synthesis", object(), torch.zeros(1), torch.zeros(1, device="meta"))


def test_opcheck(kernels, device):
    base, a, z2, w7 = make_inputs(2, 3, 6, 7, seed=3)
    q = kernels[0].quadrant(symmetrize_d4(w7)).detach().contiguous().requires_grad_(True)
    # The interpreter cannot be traced by AOTAutograd (see docs/kernels.md): those two run on CUDA only.
    utils = (("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")
             if HAS_CUDA else ("test_schema", "test_autograd_registration", "test_faketensor"))
    torch.library.opcheck(torch.ops.hpcgan.noise_synthesis_fwd.default, (base, a, z2, q), test_utils=utils)
    g = torch.randn(2, 3, 6, 7, device=device)
    torch.library.opcheck(torch.ops.hpcgan.noise_synthesis_bwd_stats.default, (g, z2),
                          test_utils=tuple(u for u in utils if u != "test_autograd_registration"))


@pytest.mark.skipif(not HAS_CUDA, reason="torch.compile of Triton kernels needs a GPU (interpreter is not traceable)")
def test_torch_compile_fullgraph_and_amp(kernels):
    base, a, z2, w7 = make_inputs(4, 5, 64, 64, seed=4)

    def f(b, aa, zz, ww):
        return noise_synthesis(b, aa, zz, ww, impl="triton").square().mean()

    want = f(base, a, z2, w7)
    want_g = torch.autograd.grad(want, (base, a, w7))
    cf = torch.compile(f, fullgraph=True)
    got = cf(base, a, z2, w7)
    got_g = torch.autograd.grad(got, (base, a, w7))
    assert rel_err(got, want) < 1e-5
    for gg, wg in zip(got_g, want_g):
        assert rel_err(gg, wg) < 1e-4
    with torch.autocast("cuda", dtype=torch.bfloat16):
        amp = noise_synthesis(base, a, z2, w7, impl="triton")
        ref = REF(base, a, z2, w7)
    assert rel_err(amp, ref) < 1e-2
    torch.autograd.grad(amp.float().square().mean(), (base, a, w7))


def test_dynamo_fullgraph_no_graph_break(kernels, device):
    """Dynamo traces the public wrappers and both triton_ops without a graph break (backend='eager'
    runs the ops for real, so this works in the interpreter too; Inductor is tested on CUDA)."""
    base, a, z2, w7 = make_inputs(2, 5, 9, 10, seed=5)

    def f(b, aa, zz, ww):
        y = noise_synthesis(b, aa, zz, ww, impl="triton")
        return (highpass5x5(y, impl="triton") ** 2).mean()

    torch._dynamo.reset()
    want = f(base, a, z2, w7)
    got = torch.compile(f, backend="eager", fullgraph=True)(base, a, z2, w7)
    assert rel_err(got, want) < 1e-5
    for gg, wg in zip(torch.autograd.grad(got, (base, a, w7)), torch.autograd.grad(want, (base, a, w7))):
        assert rel_err(gg, wg) < 1e-5
