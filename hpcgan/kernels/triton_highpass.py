"""Fused Triton kernel for the discriminator's fixed 5x5 high-pass (VALID), forward and backward.

The spec is :func:`hpcgan.kernels.highpass.highpass5x5_ref`; see docs/kernels.md.

The kernel ``HP`` is symmetric under both mirrors, so ``HP[i, j] = q[|i - 2|, |j - 2|]`` with the 3x3
quadrant below (compile-time constants). One kernel, ``_hp_kernel``, computes
``out = conv(zero_pad(x, PAD), HP)`` with VALID output: ``PAD = 0`` is the forward
(``(H, W) -> (H - 4, W - 4)``); ``PAD = 4`` is the backward, the full correlation of ``grad_out``
with the flipped kernel (= ``HP``, it is symmetric) (``(H - 4, W - 4) -> (H, W)``). Each program
streams the ``R + 4`` input rows of one (n, c) plane strip once, folds the 5 column shifts and keeps
4 rolling row accumulators (the same scheme as triton_noise.py). fp32 math, any input strides,
contiguous output in the input's dtype. The filter never gets a gradient (it is a constant). The
backward op has its own autograd (its adjoint is the forward), so double backward (gradient
penalties on D's input) works.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch.library import triton_op, wrap_triton

from hpcgan.kernels import _triton as tt


@triton.jit
def _hp_row(xr, cols, sw, W_in, mask):
    """One input row at the 5 column shifts (zero outside [0, W_in)), folded -> 3 row responses."""
    m0 = mask & (cols >= 0) & (cols < W_in)
    m1 = mask & (cols >= -1) & (cols < W_in - 1)
    m2 = mask & (cols >= -2) & (cols < W_in - 2)
    m3 = mask & (cols >= -3) & (cols < W_in - 3)
    m4 = mask & (cols >= -4) & (cols < W_in - 4)
    z0 = tl.load(xr, mask=m0, other=0.0).to(tl.float32)
    z1 = tl.load(xr + sw, mask=m1, other=0.0).to(tl.float32)
    z2 = tl.load(xr + 2 * sw, mask=m2, other=0.0).to(tl.float32)
    z3 = tl.load(xr + 3 * sw, mask=m3, other=0.0).to(tl.float32)
    z4 = tl.load(xr + 4 * sw, mask=m4, other=0.0).to(tl.float32)
    f1 = z1 + z3
    f2 = z0 + z4
    # q = [[-12, 10, -4], [10, -8, 3], [-4, 3, -1]]  (HP[2 + p, 2 + s])
    h0 = -12.0 * z2 + 10.0 * f1 - 4.0 * f2
    h1 = 10.0 * z2 - 8.0 * f1 + 3.0 * f2
    h2 = -4.0 * z2 + 3.0 * f1 - 1.0 * f2
    return h0, h1, h2


@triton.jit
def _hp_kernel(x_ptr, out_ptr, C, NC, H_in, W_in, H_out, W_out, n_row_blocks, n_col_blocks,
               sx_n, sx_c, sx_h, sx_w,
               PAD: tl.constexpr, P: tl.constexpr, R: tl.constexpr, BW: tl.constexpr):
    pid = tl.program_id(0)
    cb = pid % n_col_blocks
    rb = (pid // n_col_blocks) % n_row_blocks
    pb = pid // (n_col_blocks * n_row_blocks)
    pl = pb * P + tl.arange(0, P)[:, None]  # planes [P, 1]
    x = cb * BW + tl.arange(0, BW)[None, :]  # output columns [1, BW]
    cmask = (pl < NC) & (x < W_out)
    n64 = (pl // C).to(tl.int64)
    c64 = (pl % C).to(tl.int64)
    # row conditions are broadcast to full blocks first (TRITON_INTERPRET: block & scalar bool -> int32)
    zx = pl * 0 + x * 0
    cols = zx + x - PAD  # input column of the first tap, [P, BW]
    xbase = x_ptr + n64 * sx_n + c64 * sx_c + cols.to(tl.int64) * sx_w
    obase = out_ptr + pl.to(tl.int64) * H_out * W_out + x
    y0 = rb * R
    # at the top of step r (padded input row): a1 .. a4 = partial sums of output rows r-4 .. r-1
    a1 = tl.zeros([P, BW], dtype=tl.float32)
    a2 = tl.zeros([P, BW], dtype=tl.float32)
    a3 = tl.zeros([P, BW], dtype=tl.float32)
    a4 = tl.zeros([P, BW], dtype=tl.float32)
    for t in range(0, R + 4):
        r = y0 + t
        ri = r - PAD  # input row
        rmask = cmask & (zx + ri >= 0) & (zx + ri < H_in)
        h0, h1, h2 = _hp_row(xbase + ri.to(tl.int64) * sx_h, cols, sx_w, W_in, rmask)
        done = a1 + h2  # output row r - 4 (kernel row 4) is complete
        y = r - 4
        smask = cmask & (zx + t >= 4) & (zx + y < H_out)
        tl.store(obase + y.to(tl.int64) * W_out, done.to(out_ptr.dtype.element_ty), mask=smask)
        a1, a2, a3, a4 = a2 + h1, a3 + h0, a4 + h1, h2


def launch_hp(x: torch.Tensor, out: torch.Tensor, pad: int) -> torch.Tensor:
    """``out`` (contiguous (N, C, H + 2 pad - 4, W + 2 pad - 4)) = VALID HP conv of x zero-padded by pad."""
    n, c, h_in, w_in = x.shape
    h_out, w_out = out.shape[-2:]
    assert (h_out, w_out) == (h_in + 2 * pad - 4, w_in + 2 * pad - 4) and out.is_contiguous()
    g = tt.grid(n * c, h_out, w_out, tt.is_interpreted(_hp_kernel))
    if tt.skip_launch(_hp_kernel, out):
        return out
    with tt.device_guard(x):
        wrap_triton(_hp_kernel)[(g["programs"],)](
            x, out, c, n * c, h_in, w_in, h_out, w_out, g["nrb"], g["ncb"],
            x.stride(0), x.stride(1), x.stride(2), x.stride(3),
            PAD=pad, P=g["P"], R=g["R"], BW=g["BW"], num_warps=g["num_warps"])
    return out


@triton_op("hpcgan::highpass5x5", mutates_args=())
def highpass5x5_fwd(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H - 4, W - 4): VALID 5x5 high-pass per band (fp32 math, x's dtype)."""
    n, c, h, w = x.shape
    out = torch.empty((n, c, h - 4, w - 4), dtype=x.dtype, device=x.device)
    launch_hp(x, out, 0)
    return out


@triton_op("hpcgan::highpass5x5_bwd", mutates_args=())
def highpass5x5_bwd(grad_out: torch.Tensor) -> torch.Tensor:
    """(N, C, H - 4, W - 4) -> (N, C, H, W): full correlation with the (symmetric) kernel."""
    n, c, h, w = grad_out.shape
    out = torch.empty((n, c, h + 4, w + 4), dtype=grad_out.dtype, device=grad_out.device)
    launch_hp(grad_out, out, 4)
    return out


def _setup_fwd(ctx, inputs, output) -> None:
    ctx.x_dtype = inputs[0].dtype


def _backward_fwd(ctx, grad_out: torch.Tensor):
    return highpass5x5_bwd(grad_out).to(ctx.x_dtype)


def _setup_bwd(ctx, inputs, output) -> None:
    ctx.g_dtype = inputs[0].dtype


def _backward_bwd(ctx, grad_grad: torch.Tensor):
    return highpass5x5_fwd(grad_grad).to(ctx.g_dtype)


highpass5x5_fwd.register_autograd(_backward_fwd, setup_context=_setup_fwd)
highpass5x5_bwd.register_autograd(_backward_bwd, setup_context=_setup_bwd)


def highpass5x5_triton(x: torch.Tensor) -> torch.Tensor:
    """Fused path of :func:`hpcgan.kernels.highpass.highpass5x5` (shape already checked)."""
    tt.check_device("highpass5x5", _hp_kernel, x)
    return highpass5x5_fwd(x)
