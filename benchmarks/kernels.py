"""Fused Triton kernels vs eager PyTorch and torch.compile of the reference, at production shapes.

Not a test. On a GPU::

    PYTHONPATH=$PWD python3 benchmarks/kernels.py --md gpu_out/kernels.md --json gpu_out/kernels.json

prints, per op / shape / pass (fwd, fwd+bwd): the Triton time, the achieved GB/s on the minimal
bytes (below), that as a fraction of the device-to-device copy bandwidth measured in the same run,
and the speedups over the eager reference and over ``torch.compile`` of the reference. Goals:
>= 80 % of copy bandwidth and >= 3x eager. ``--sweep`` also times the launch tilings
(planes x rows x columns per program) of the forward kernels on the largest shapes.

On a CPU, ``--smoke`` runs tiny shapes with the kernels in TRITON_INTERPRET (numpy): it proves the
script runs, the figures mean nothing.

Minimal bytes (each tensor read or written once, element size of its dtype):
- noise fwd: base + z2 (H+6 x W+6) read, out written; bwd: grad_out + z2 read (grad_base is
  grad_out itself, the amplitude / weight grads are (N, C) / 49 numbers);
- highpass fwd: x read, out (H-4 x W-4) written; bwd: grad_out read, grad_x written.
Timing: ``triton.testing.do_bench`` (median, L2 flushed between runs) on CUDA; wall clock on CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TRAIN_BATCH = 24
INFER_BATCH = 4096
BANDS = 5
STAMPS = (64, 136)
SWEEP = [(1, 16, 64), (2, 16, 64), (1, 32, 64), (1, 8, 64), (1, 16, 32), (2, 16, 32), (4, 8, 32)]


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default=None, help="cuda (default when available) or cpu")
    p.add_argument("--smoke", action="store_true", help="tiny shapes, few runs (CPU: TRITON_INTERPRET)")
    p.add_argument("--dtypes", default="fp32", help="comma list of fp32,bf16")
    p.add_argument("--bf16-train", action="store_true", help="also bf16 rows at the training batch")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile baseline")
    p.add_argument("--sweep", action="store_true", help="time the launch tilings of the forward kernels")
    p.add_argument("--budget-s", type=float, default=1e9, help="skip remaining rows after this many seconds")
    p.add_argument("--md", type=Path, default=None, help="write the table as markdown here")
    p.add_argument("--json", type=Path, default=None, help="write raw rows as JSON here")
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse(argv)
    import torch
    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        if not a.smoke:
            print("benchmarks/kernels.py: no GPU; run with --smoke on CPU (TRITON_INTERPRET)", file=sys.stderr)
            return 2
        os.environ.setdefault("TRITON_INTERPRET", "1")  # before hpcgan.kernels.triton_* are imported
    from hpcgan.kernels import _triton as tt
    from hpcgan.kernels import highpass5x5, noise_synthesis
    highpass_ref = sys.modules["hpcgan.kernels.highpass"].highpass5x5_ref
    noise_ref = sys.modules["hpcgan.kernels.noise_synthesis"].noise_synthesis_ref

    t_start = time.perf_counter()
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    bench = make_timer(device, a.smoke)
    copy_gbs = copy_bandwidth(device, bench, a.smoke)
    info = device_info(device)
    print(f"# {info}\n# device copy bandwidth (D2D, read + write): {copy_gbs:.0f} GB/s", flush=True)

    if a.smoke:
        batches, stamps = (2,), (12, 20)
    else:
        batches, stamps = (TRAIN_BATCH, INFER_BATCH), STAMPS
    cases = []
    for dname in a.dtypes.split(","):
        for b in batches:
            for s in stamps:
                cases.append((dname, b, s))
    if a.bf16_train and "bf16" not in a.dtypes.split(","):
        cases += [("bf16", batches[0], s) for s in stamps]

    rows = []
    compiled = {}
    for dname, b, s in cases:
        dt = dtypes[dname]
        for op in ("noise", "highpass"):
            for mode in ("fwd", "fwd+bwd"):
                if time.perf_counter() - t_start > a.budget_s:
                    print(f"skipped {op} {mode} {dname} N={b} {s}: over --budget-s", flush=True)
                    continue
                if b == INFER_BATCH and mode == "fwd+bwd" and op == "noise" and dname != "fp32":
                    continue
                fns, nbytes, shape = build_case(op, mode, b, s, dt, device, noise_synthesis, noise_ref,
                                                highpass5x5, highpass_ref)
                row = {"op": op, "pass": mode, "shape": shape, "dtype": dname, "bytes": nbytes}
                row["triton_ms"] = bench(fns["triton"])
                row["eager_ms"] = bench(fns["eager"])
                if not a.no_compile:
                    key = (op, mode)
                    if key not in compiled:
                        compiled[key] = torch.compile(fns["ref_fn"])
                    fns_c = fns["with"](compiled[key])
                    try:
                        fns_c()  # compile outside the timing
                        row["compile_ms"] = bench(fns_c)
                    except Exception as e:  # noqa: BLE001 -- report, keep going
                        row["compile_ms"] = None
                        row["compile_error"] = f"{type(e).__name__}: {e}"[:200]
                finish_row(row, copy_gbs)
                rows.append(row)
                print(fmt_row(row), flush=True)
                del fns
                if device == "cuda":
                    torch.cuda.empty_cache()

    sweep_rows = []
    if a.sweep and device == "cuda":
        sweep_rows = sweep(tt, bench, copy_gbs, device, noise_synthesis, highpass5x5, noise_ref, highpass_ref,
                           t_start, a.budget_s)

    md = to_markdown(rows, sweep_rows, copy_gbs, info, a)
    print("\n" + md)
    if a.md:
        a.md.parent.mkdir(parents=True, exist_ok=True)
        a.md.write_text(md)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"device": info, "copy_GBps": copy_gbs, "rows": rows,
                                      "sweep": sweep_rows}, indent=1))
    return 0


def make_timer(device: str, smoke: bool):
    import torch
    if device == "cuda":
        import triton.testing

        def bench(fn):
            return float(triton.testing.do_bench(fn, warmup=10, rep=60, return_mode="median"))
        return bench

    def bench_cpu(fn):
        fn()
        ts = []
        for _ in range(2 if smoke else 5):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return 1e3 * statistics.median(ts)
    del torch
    return bench_cpu


def copy_bandwidth(device: str, bench, smoke: bool) -> float:
    """GB/s of ``dst.copy_(src)`` on the device, counting read + write."""
    import torch
    n = (1 << 20) if smoke else (1 << 28)  # 4 MiB / 1 GiB of fp32
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    ms = bench(lambda: dst.copy_(src))
    return 2 * src.numel() * src.element_size() / (ms * 1e-3) / 1e9


def device_info(device: str) -> str:
    import torch
    import triton
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU (TRITON_INTERPRET, smoke only)"
    return f"{name}; torch {torch.__version__}; triton {triton.__version__}"


def build_case(op, mode, b, s, dt, device, noise_synthesis, noise_ref, highpass5x5, highpass_ref):
    """Callables (triton, eager, and a factory for a compiled reference), minimal bytes, shape string."""
    import torch
    es = torch.finfo(dt).bits // 8
    grad = mode == "fwd+bwd"
    if op == "noise":
        base = torch.randn(b, BANDS, s, s, device=device, dtype=dt, requires_grad=grad)
        amp = (torch.rand(b, BANDS, device=device, dtype=dt) + 0.1).requires_grad_(grad)
        z2 = torch.randn(b, BANDS, s + 6, s + 6, device=device, dtype=dt)
        w = torch.randn(BANDS, 7, 7, device=device, dtype=dt, requires_grad=grad)  # conv2d needs one dtype
        args = (base, amp, z2, w)
        n_out, n_z = b * BANDS * s * s, b * BANDS * (s + 6) ** 2
        nbytes = (2 * n_out + n_z) * es + (n_out + n_z) * es * grad
        ref_fn, tri_fn = noise_ref, lambda *t: noise_synthesis(*t, impl="triton")
        wrt = (base, amp, w)
    else:
        x = torch.randn(b, BANDS, s, s, device=device, dtype=dt, requires_grad=grad)
        args = (x,)
        n_in, n_out = b * BANDS * s * s, b * BANDS * (s - 4) ** 2
        nbytes = (n_in + n_out) * es * (2 if grad else 1)
        ref_fn, tri_fn = highpass_ref, lambda t: highpass5x5(t, impl="triton")
        wrt = (x,)
    g = None

    def run(f):
        def call():
            nonlocal g
            out = f(*args)
            if grad:
                if g is None:
                    g = torch.randn_like(out)
                torch.autograd.grad(out, wrt, g)
            return out
        return call

    shape = f"{b}x{BANDS}x{s}x{s}"
    return {"triton": run(tri_fn), "eager": run(ref_fn), "ref_fn": ref_fn, "with": run}, nbytes, shape


def finish_row(row: dict, copy_gbs: float) -> None:
    row["GBps"] = row["bytes"] / (row["triton_ms"] * 1e-3) / 1e9
    row["frac_copy"] = row["GBps"] / copy_gbs
    row["vs_eager"] = row["eager_ms"] / row["triton_ms"]
    c = row.get("compile_ms")
    row["vs_compile"] = c / row["triton_ms"] if c else None


def fmt_row(r: dict) -> str:
    c = f"{r['compile_ms']:.3f}" if r.get("compile_ms") else "-"
    vc = f"{r['vs_compile']:.2f}x" if r.get("vs_compile") else "-"
    return (f"| {r['op']} | {r['pass']} | {r['shape']} | {r['dtype']} | {r['triton_ms']:.3f} | {r['GBps']:.0f} | "
            f"{100 * r['frac_copy']:.0f}% | {r['eager_ms']:.3f} | {r['vs_eager']:.2f}x | {c} | {vc} |")


def sweep(tt, bench, copy_gbs, device, noise_synthesis, highpass5x5, noise_ref, highpass_ref, t_start, budget):
    """Forward kernels at the inference batch under each (planes, rows, block width) tiling."""
    import torch
    out = []
    saved = (tt.GPU_PLANES, tt.GPU_ROWS, tt.GPU_MAX_BLOCK_W)
    try:
        for s in STAMPS:
            for op in ("noise", "highpass"):
                fns, nbytes, shape = build_case(op, "fwd", INFER_BATCH, s, torch.float32, device, noise_synthesis,
                                                noise_ref, highpass5x5, highpass_ref)
                for p, r, bw in SWEEP:
                    if time.perf_counter() - t_start > budget:
                        break
                    tt.GPU_PLANES, tt.GPU_ROWS, tt.GPU_MAX_BLOCK_W = p, r, bw
                    fns["triton"]()  # compile this tiling
                    ms = bench(fns["triton"])
                    gbs = nbytes / (ms * 1e-3) / 1e9
                    out.append({"op": op, "shape": shape, "planes": p, "rows": r, "block_w": bw, "ms": ms,
                                "GBps": gbs, "frac_copy": gbs / copy_gbs})
                    print(f"sweep {op} {shape} P={p} R={r} BW={bw}: {ms:.3f} ms {gbs:.0f} GB/s "
                          f"({100 * gbs / copy_gbs:.0f}%)", flush=True)
                del fns
                torch.cuda.empty_cache()
    finally:
        tt.GPU_PLANES, tt.GPU_ROWS, tt.GPU_MAX_BLOCK_W = saved
    return out


def to_markdown(rows, sweep_rows, copy_gbs, info, a) -> str:
    lines = [f"Device: {info}. Measured D2D copy bandwidth: {copy_gbs:.0f} GB/s.",
             "Times are medians in ms; GB/s on the minimal bytes (see benchmarks/kernels.py).", "",
             "| op | pass | N x C x H x W | dtype | Triton ms | GB/s | % copy BW | eager ms | vs eager | "
             "compile ms | vs compile |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [fmt_row(r) for r in rows]
    errs = [f"- {r['op']} {r['pass']} {r['shape']}: torch.compile failed: {r['compile_error']}"
            for r in rows if r.get("compile_error")]
    if errs:
        lines += [""] + errs
    if sweep_rows:
        lines += ["", "Tiling sweep (forward, fp32, inference batch):", "",
                  "| op | shape | planes | rows | block_w | ms | GB/s | % copy BW |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['op']} | {r['shape']} | {r['planes']} | {r['rows']} | {r['block_w']} | {r['ms']:.3f} | "
                  f"{r['GBps']:.0f} | {100 * r['frac_copy']:.0f}% |" for r in sweep_rows]
    if a.smoke:
        lines += ["", "SMOKE RUN (tiny shapes; on CPU the kernels run in the Triton interpreter): "
                  "the figures say nothing about GPU speed."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
