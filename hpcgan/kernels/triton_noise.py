"""Fused Triton kernels for noise synthesis: ``out = base + a[n, c] * conv_valid(z2, K[c])``.

The spec is :func:`hpcgan.kernels.noise_synthesis.noise_synthesis_ref`; this file holds the kernels,
their launchers and the autograd / ``torch.compile`` glue (see docs/kernels.md).

Design
------
``K = symmetrize_d4(weight)`` is symmetric under both mirrors, so it is fully described by its
bottom-right quadrant ``q[c, p, s] = K[c, 3 + p, 3 + s]`` (4x4, 10 distinct values because of the
diagonal mirror too): ``K[i, j] = q[|i - 3|, |j - 3|]``. The symmetrisation and the quadrant slice are
49-number torch ops before launch, so autograd maps the quadrant's gradient back to the raw weight.

Each program owns ``P`` (n, c) planes, ``BW`` output columns and ``R`` output rows (tiles from
``_triton.tiles``), and streams the
``R + 6`` input rows of z2 once, top to bottom. Per input row it loads the 7 column shifts (L1 hits),
folds them (``z[x+3+s] + z[x+3-s]``), forms the 4 distinct row responses ``h_p = sum_s q[p, s] zs_s``
and adds each into the rolling accumulators of the output rows it touches (rows ``i`` and ``6 - i``
of the kernel are equal); the finished row gets ``base + a * acc`` and is stored. Global traffic:
read base and z2, write out, once; all arithmetic in fp32.

Backward needs only ``S[n, c, p, s] = sum_{y,x} g[y, x] * (sum of z2[y+i, x+j] over the D2 orbit
(|i-3|, |j-3|) = (p, s))`` -- 16 numbers per plane, from one streaming pass over ``g`` and ``z2``
(``S`` is the folded cross-correlation of z2 with grad_out). Then in torch, on (N, C, 16) tensors:
``grad_amplitude = sum_ps q * S`` (because ``sum g * conv(z2, K) = sum_ij K_ij xcorr_ij``) and
``grad_q = sum_n a * S``; ``grad_base = grad_out``.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch.library import triton_op, wrap_triton

from hpcgan.kernels import _triton as tt

KSIZE = 7


@triton.jit
def _load7(zr, sw, mask):
    """One z2 row (pointers ``zr``, column stride ``sw``) at the 7 column shifts of the kernel, in fp32."""
    z0 = tl.load(zr, mask=mask, other=0.0).to(tl.float32)
    z1 = tl.load(zr + sw, mask=mask, other=0.0).to(tl.float32)
    z2 = tl.load(zr + 2 * sw, mask=mask, other=0.0).to(tl.float32)
    z3 = tl.load(zr + 3 * sw, mask=mask, other=0.0).to(tl.float32)
    z4 = tl.load(zr + 4 * sw, mask=mask, other=0.0).to(tl.float32)
    z5 = tl.load(zr + 5 * sw, mask=mask, other=0.0).to(tl.float32)
    z6 = tl.load(zr + 6 * sw, mask=mask, other=0.0).to(tl.float32)
    return z0, z1, z2, z3, z4, z5, z6


@triton.jit
def _hrow(zr, sw, mask, q00, q01, q02, q03, q10, q11, q12, q13, q20, q21, q22, q23, q30, q31, q32, q33):
    """Load one z2 row (pointers ``zr``) at the 7 column shifts, fold, return the 4 row responses."""
    z0, z1, z2, z3, z4, z5, z6 = _load7(zr, sw, mask)
    f1 = z2 + z4
    f2 = z1 + z5
    f3 = z0 + z6
    h0 = q00 * z3 + q01 * f1 + q02 * f2 + q03 * f3
    h1 = q10 * z3 + q11 * f1 + q12 * f2 + q13 * f3
    h2 = q20 * z3 + q21 * f1 + q22 * f2 + q23 * f3
    h3 = q30 * z3 + q31 * f1 + q32 * f2 + q33 * f3
    return h0, h1, h2, h3


@triton.jit
def _program_coords(NC, W, n_row_blocks, n_col_blocks, P: tl.constexpr, BW: tl.constexpr):
    """This program's planes [P, 1], columns [1, BW], in-bounds mask, row block and column block."""
    pid = tl.program_id(0)
    cb = pid % n_col_blocks
    rb = (pid // n_col_blocks) % n_row_blocks
    pb = pid // (n_col_blocks * n_row_blocks)
    pl = pb * P + tl.arange(0, P)[:, None]
    x = cb * BW + tl.arange(0, BW)[None, :]
    cmask = (pl < NC) & (x < W)
    return pl, x, cmask, rb, cb


@triton.jit
def _noise_fwd_kernel(base_ptr, a_ptr, z_ptr, q_ptr, out_ptr,
                      C, NC, H, W, n_row_blocks, n_col_blocks,
                      sb_n, sb_c, sb_h, sb_w,
                      sa_n, sa_c,
                      sz_n, sz_c, sz_h, sz_w,
                      P: tl.constexpr, R: tl.constexpr, BW: tl.constexpr):
    pl, x, cmask, rb, cb = _program_coords(NC, W, n_row_blocks, n_col_blocks, P, BW)
    pmask = pl < NC
    n64 = (pl // C).to(tl.int64)
    c64 = (pl % C).to(tl.int64)
    # row conditions are broadcast to full blocks first: in TRITON_INTERPRET, block_bool & scalar_bool
    # yields int32 data that tl.load rejects as a mask (interpreter-only quirk)
    zx = pl * 0 + x * 0
    y0 = rb * R
    amp = tl.load(a_ptr + n64 * sa_n + c64 * sa_c, mask=pmask, other=0.0).to(tl.float32)
    qp = q_ptr + c64 * 16
    q00 = tl.load(qp + 0, mask=pmask, other=0.0).to(tl.float32)
    q01 = tl.load(qp + 1, mask=pmask, other=0.0).to(tl.float32)
    q02 = tl.load(qp + 2, mask=pmask, other=0.0).to(tl.float32)
    q03 = tl.load(qp + 3, mask=pmask, other=0.0).to(tl.float32)
    q10 = tl.load(qp + 4, mask=pmask, other=0.0).to(tl.float32)
    q11 = tl.load(qp + 5, mask=pmask, other=0.0).to(tl.float32)
    q12 = tl.load(qp + 6, mask=pmask, other=0.0).to(tl.float32)
    q13 = tl.load(qp + 7, mask=pmask, other=0.0).to(tl.float32)
    q20 = tl.load(qp + 8, mask=pmask, other=0.0).to(tl.float32)
    q21 = tl.load(qp + 9, mask=pmask, other=0.0).to(tl.float32)
    q22 = tl.load(qp + 10, mask=pmask, other=0.0).to(tl.float32)
    q23 = tl.load(qp + 11, mask=pmask, other=0.0).to(tl.float32)
    q30 = tl.load(qp + 12, mask=pmask, other=0.0).to(tl.float32)
    q31 = tl.load(qp + 13, mask=pmask, other=0.0).to(tl.float32)
    q32 = tl.load(qp + 14, mask=pmask, other=0.0).to(tl.float32)
    q33 = tl.load(qp + 15, mask=pmask, other=0.0).to(tl.float32)
    zbase = z_ptr + n64 * sz_n + c64 * sz_c + x.to(tl.int64) * sz_w
    bbase = base_ptr + n64 * sb_n + c64 * sb_c + x.to(tl.int64) * sb_w
    obase = out_ptr + pl.to(tl.int64) * H * W + x
    # at the top of step r: a1 .. a6 = partial sums of output rows r-6 .. r-1 (input rows < r)
    a1 = tl.zeros([P, BW], dtype=tl.float32)
    a2 = tl.zeros([P, BW], dtype=tl.float32)
    a3 = tl.zeros([P, BW], dtype=tl.float32)
    a4 = tl.zeros([P, BW], dtype=tl.float32)
    a5 = tl.zeros([P, BW], dtype=tl.float32)
    a6 = tl.zeros([P, BW], dtype=tl.float32)
    for t in range(0, R + 6):
        r = y0 + t  # input row of z2; output rows r-6 .. r see it
        rmask = cmask & (zx + r < H + 6)
        h0, h1, h2, h3 = _hrow(zbase + r.to(tl.int64) * sz_h, sz_w, rmask,
                               q00, q01, q02, q03, q10, q11, q12, q13, q20, q21, q22, q23, q30, q31, q32, q33)
        # kernel row i = r - y; rows i and 6 - i share q[|i - 3|]
        done = a1 + h3  # output row y = r - 6 (i = 6) is complete
        y = r - 6
        smask = cmask & (zx + t >= 6) & (zx + y < H)
        b = tl.load(bbase + y.to(tl.int64) * sb_h, mask=smask, other=0.0).to(tl.float32)
        tl.store(obase + y.to(tl.int64) * W, (b + amp * done).to(out_ptr.dtype.element_ty), mask=smask)
        a1, a2, a3, a4, a5, a6 = a2 + h2, a3 + h1, a4 + h0, a5 + h1, a6 + h2, h3


@triton.jit
def _noise_bwd_stats_kernel(g_ptr, z_ptr, s_ptr,
                            C, NC, H, W, n_row_blocks, n_col_blocks,
                            sg_n, sg_c, sg_h, sg_w,
                            sz_n, sz_c, sz_h, sz_w,
                            P: tl.constexpr, R: tl.constexpr, BW: tl.constexpr):
    """Per (plane, row block, column block): the 16 partial sums S[p, s] of its outputs."""
    pl, x, cmask, rb, cb = _program_coords(NC, W, n_row_blocks, n_col_blocks, P, BW)
    n64 = (pl // C).to(tl.int64)
    c64 = (pl % C).to(tl.int64)
    zx = pl * 0 + x * 0  # see _noise_fwd_kernel
    y0 = rb * R
    zbase = z_ptr + n64 * sz_n + c64 * sz_c + x.to(tl.int64) * sz_w
    gbase = g_ptr + n64 * sg_n + c64 * sg_c + x.to(tl.int64) * sg_w
    zero = tl.zeros([P, BW], dtype=tl.float32)
    # g rows r-6 .. r-1 (zero outside this program's output rows)
    g1 = zero
    g2 = zero
    g3 = zero
    g4 = zero
    g5 = zero
    g6 = zero
    acc00 = zero
    acc01 = zero
    acc02 = zero
    acc03 = zero
    acc10 = zero
    acc11 = zero
    acc12 = zero
    acc13 = zero
    acc20 = zero
    acc21 = zero
    acc22 = zero
    acc23 = zero
    acc30 = zero
    acc31 = zero
    acc32 = zero
    acc33 = zero
    for t in range(0, R + 6):
        r = y0 + t
        zmask = cmask & (zx + r < H + 6)
        zr = zbase + r.to(tl.int64) * sz_h
        z0, z1, z2, z3, z4, z5, z6 = _load7(zr, sz_w, zmask)
        gmask = cmask & (zx + t < R) & (zx + r < H)
        g0 = tl.load(gbase + r.to(tl.int64) * sg_h, mask=gmask, other=0.0).to(tl.float32)
        # z row r pairs with g row r - i at kernel row i; fold i -> p = |i - 3|, j -> s = |j - 3|
        e0 = g3  # i = 3
        e1 = g2 + g4  # i = 2, 4
        e2 = g1 + g5  # i = 1, 5
        e3 = g0 + g6  # i = 0, 6
        f0 = z3
        f1 = z2 + z4
        f2 = z1 + z5
        f3 = z0 + z6
        acc00 += e0 * f0
        acc01 += e0 * f1
        acc02 += e0 * f2
        acc03 += e0 * f3
        acc10 += e1 * f0
        acc11 += e1 * f1
        acc12 += e1 * f2
        acc13 += e1 * f3
        acc20 += e2 * f0
        acc21 += e2 * f1
        acc22 += e2 * f2
        acc23 += e2 * f3
        acc30 += e3 * f0
        acc31 += e3 * f1
        acc32 += e3 * f2
        acc33 += e3 * f3
        g6, g5, g4, g3, g2, g1 = g5, g4, g3, g2, g1, g0
    # partial sums laid out (NC, n_row_blocks * n_col_blocks, 16)
    pl1 = tl.reshape(pl, [P])
    pm = pl1 < NC
    so = s_ptr + (pl1.to(tl.int64) * (n_row_blocks * n_col_blocks) + rb * n_col_blocks + cb) * 16
    tl.store(so + 0, tl.sum(acc00, axis=1), mask=pm)
    tl.store(so + 1, tl.sum(acc01, axis=1), mask=pm)
    tl.store(so + 2, tl.sum(acc02, axis=1), mask=pm)
    tl.store(so + 3, tl.sum(acc03, axis=1), mask=pm)
    tl.store(so + 4, tl.sum(acc10, axis=1), mask=pm)
    tl.store(so + 5, tl.sum(acc11, axis=1), mask=pm)
    tl.store(so + 6, tl.sum(acc12, axis=1), mask=pm)
    tl.store(so + 7, tl.sum(acc13, axis=1), mask=pm)
    tl.store(so + 8, tl.sum(acc20, axis=1), mask=pm)
    tl.store(so + 9, tl.sum(acc21, axis=1), mask=pm)
    tl.store(so + 10, tl.sum(acc22, axis=1), mask=pm)
    tl.store(so + 11, tl.sum(acc23, axis=1), mask=pm)
    tl.store(so + 12, tl.sum(acc30, axis=1), mask=pm)
    tl.store(so + 13, tl.sum(acc31, axis=1), mask=pm)
    tl.store(so + 14, tl.sum(acc32, axis=1), mask=pm)
    tl.store(so + 15, tl.sum(acc33, axis=1), mask=pm)


def launch_geometry(shape: torch.Size | tuple[int, ...]) -> dict[str, int]:
    """Tile sizes and block counts for an (N, C, H, W) output (same for forward and backward)."""
    n, c, h, w = shape
    return tt.grid(n * c, h, w, tt.is_interpreted(_noise_fwd_kernel))


def launch_noise_fwd(base: torch.Tensor, amplitude: torch.Tensor, z2: torch.Tensor, q: torch.Tensor,
                     out: torch.Tensor) -> torch.Tensor:
    """Write ``base + a * conv(z2, K(q))`` into ``out`` (contiguous (N, C, H, W)); any input strides."""
    n, c, h, w = base.shape
    g = launch_geometry(base.shape)
    if tt.skip_launch(_noise_fwd_kernel, out):
        return out
    with tt.device_guard(base):
        wrap_triton(_noise_fwd_kernel)[(g["programs"],)](
            base, amplitude, z2, q, out, c, n * c, h, w, g["nrb"], g["ncb"],
            base.stride(0), base.stride(1), base.stride(2), base.stride(3),
            amplitude.stride(0), amplitude.stride(1),
            z2.stride(0), z2.stride(1), z2.stride(2), z2.stride(3),
            P=g["P"], R=g["R"], BW=g["BW"], num_warps=g["num_warps"])
    return out


def launch_noise_bwd_stats(grad_out: torch.Tensor, z2: torch.Tensor, partial: torch.Tensor) -> torch.Tensor:
    """Fill ``partial`` (N*C, row blocks * column blocks, 16) fp32 with per-block folded xcorr sums."""
    n, c, h, w = grad_out.shape
    g = launch_geometry(grad_out.shape)
    assert tuple(partial.shape) == (n * c, g["nrb"] * g["ncb"], 16) and partial.is_contiguous()
    if tt.skip_launch(_noise_bwd_stats_kernel, partial):
        return partial
    with tt.device_guard(grad_out):
        wrap_triton(_noise_bwd_stats_kernel)[(g["programs"],)](
            grad_out, z2, partial, c, n * c, h, w, g["nrb"], g["ncb"],
            grad_out.stride(0), grad_out.stride(1), grad_out.stride(2), grad_out.stride(3),
            z2.stride(0), z2.stride(1), z2.stride(2), z2.stride(3),
            P=g["P"], R=g["R"], BW=g["BW"], num_warps=g["num_warps"])
    return partial


@triton_op("hpcgan::noise_synthesis_fwd", mutates_args=())
def noise_synthesis_fwd(base: torch.Tensor, amplitude: torch.Tensor, z2: torch.Tensor,
                        q: torch.Tensor) -> torch.Tensor:
    """``base + a * conv_valid(z2, K(q))``, K(q)[c, i, j] = q[c, |i-3|, |j-3|]; fp32 math."""
    dtype = torch.promote_types(torch.promote_types(base.dtype, amplitude.dtype),
                                torch.promote_types(z2.dtype, q.dtype))
    out = torch.empty(base.shape, dtype=dtype, device=base.device)
    launch_noise_fwd(base, amplitude, z2, q.contiguous(), out)
    return out


@triton_op("hpcgan::noise_synthesis_bwd_stats", mutates_args=())
def noise_synthesis_bwd_stats(grad_out: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """(N, C, 4, 4) fp32: sum over the plane of grad_out times z2 folded over each D2 tap orbit."""
    n, c = grad_out.shape[0], grad_out.shape[1]
    g = launch_geometry(grad_out.shape)
    partial = torch.empty((n * c, g["nrb"] * g["ncb"], 16), dtype=torch.float32, device=grad_out.device)
    launch_noise_bwd_stats(grad_out, z2, partial)
    return partial.sum(1).view(n, c, 4, 4)


def _setup_context(ctx, inputs, output) -> None:
    base, amplitude, z2, q = inputs
    ctx.save_for_backward(amplitude, z2, q)
    ctx.base_dtype = base.dtype


def _backward(ctx, grad_out: torch.Tensor):
    amplitude, z2, q = ctx.saved_tensors
    need_base, need_a, _, need_q = ctx.needs_input_grad
    grad_base = grad_out.to(ctx.base_dtype) if need_base else None
    grad_a = grad_q = None
    if need_a or need_q:
        s = noise_synthesis_bwd_stats(grad_out, z2)  # (N, C, 4, 4) fp32
        if need_a:
            grad_a = (s * q.float()[None]).sum((2, 3)).to(amplitude.dtype)
        if need_q:
            grad_q = (s * amplitude.float()[:, :, None, None]).sum(0).to(q.dtype)
    return grad_base, grad_a, None, grad_q


noise_synthesis_fwd.register_autograd(_backward, setup_context=_setup_context)


def quadrant(wsym: torch.Tensor) -> torch.Tensor:
    """(C, 7, 7) D2-symmetric kernel -> its (C, 4, 4) quadrant q[c, p, s] = K[c, 3 + p, 3 + s]."""
    return wsym[:, KSIZE // 2:, KSIZE // 2:]


def noise_synthesis_triton(base: torch.Tensor, amplitude: torch.Tensor, z2: torch.Tensor,
                           weight: torch.Tensor) -> torch.Tensor:
    """Fused path of :func:`hpcgan.kernels.noise_synthesis.noise_synthesis` (shapes already checked)."""
    from hpcgan.kernels.noise_synthesis import symmetrize_d4

    if weight.shape[-1] != KSIZE:
        raise ValueError(f"noise_synthesis (triton): only a {KSIZE}x{KSIZE} kernel is implemented, "
                         f"got {tuple(weight.shape[-2:])} (use kernels.impl=torch)")
    tt.check_device("noise_synthesis", _noise_fwd_kernel, base, amplitude, z2, weight)
    return noise_synthesis_fwd(base, amplitude, z2, quadrant(symmetrize_d4(weight)))
