"""Training-step throughput: images/s and it/s of step 1 and step 2 at the paper's batch and width.

    python benchmarks/train_step.py                          # CPU, fp32, batch 24, width 1.0, 2 iterations
    python benchmarks/train_step.py --device cuda            # GPU: fp32, bf16 (autocast), bf16 + torch.compile
    python benchmarks/train_step.py --device cuda --modes fp32,bf16 --iters 20 --json out.json

Per step and mode it prints: seconds per iteration, it/s, images/s (all four streams of the step count),
model FLOPs per iteration (torch.utils.flop_counter over one full iteration: every forward and backward
of every update; the FFT and elementwise ops are not counted) and the achieved fraction of a measured
matmul peak, and the projected wall time of the paper's 60k iterations per step (CPU: fp32 GEMM; GPU: TF32 GEMM for fp32 mode, since cuDNN convs use TF32; bf16 GEMM for bf16).
Synthetic batches (random, model space) so the figure is the step, not the loader; step 2 uses
randomly initialised frozen noise emulators (same cost as restored ones).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hpcgan.dist  # noqa: E402
from hpcgan.config import load_config  # noqa: E402
from hpcgan.train.trainer import build_phase  # noqa: E402

PAPER_ITERS = 60000  # iterations per step of the paper's schedule: the projection column


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int) -> float:
    """Measured GEMM FLOP/s (n x n x n), best of a few repeats."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    sync(device)
    best = float("inf")
    reps = 3 if device.type == "cpu" else 20
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync(device)
        best = min(best, (time.perf_counter() - t) / reps)
    return 2 * n ** 3 / best


def build(step: int, mode: str, args, device: torch.device):
    sets = [f"data.batch_size={args.batch}", f"model.width={args.width}", f"train.device={device.type}",
            f"kernels.impl={args.impl}", f"train.amp={'true' if mode != 'fp32' else 'false'}",
            f"train.compile={'true' if mode == 'bf16+compile' else 'false'}",
            f"train.channels_last={'true' if args.channels_last else 'false'}", f"train.step={step}"]
    cfg = load_config("default", sets)
    d = hpcgan.dist.init("none")
    torch.manual_seed(0)
    phase = build_phase(cfg, device, d)  # variant ours: NoisePhase (step 1) or TranslationPhase (step 2)
    b = args.batch
    batch = {"x": torch.randn(b, 5, 64, 64), "y": torch.randn(b, 5, 136, 136),
             "xp": torch.randn(b, 5, 64, 64), "yp": torch.randn(b, 5, 136, 136)}
    return phase, phase.to_device(batch)


def _conv_backward_flop(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed,
                        _output_padding, _groups, output_mask, out_shape=None, **kwargs) -> int:
    """grad_input and grad_weight each cost the forward's MACs. (torch's own formula ignores ``groups``
    for grad_weight: it counts the discriminator's grouped convs' backward 5x too high.)"""
    from torch.utils.flop_counter import conv_flop_count

    fwd = conv_flop_count(list(x_shape), list(w_shape), list(grad_out_shape), transposed=transposed)
    return fwd * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def count_flops(phase, batch) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward: _conv_backward_flop}) as fc:
        phase.train_step(batch)
    return int(fc.get_total_flops())


def bench(step: int, mode: str, args, device: torch.device, peaks: dict) -> dict:
    phase, batch = build(step, mode, args, device)
    flops = count_flops(build(step, "fp32", args, device)[0], batch) if mode == "bf16+compile" else count_flops(phase, batch)
    for _ in range(args.warmup):
        phase.train_step(batch)
    sync(device)
    t = time.perf_counter()
    for _ in range(args.iters):
        phase.train_step(batch)
    sync(device)
    dt = (time.perf_counter() - t) / args.iters
    images = phase.images_per_iter()
    peak = peaks["bf16" if mode != "fp32" and device.type == "cuda" else "fp32"]
    res = {"step": step, "mode": mode, "device": str(device), "batch": args.batch, "width": args.width,
           "s_per_iter": dt, "it_per_s": 1 / dt, "images_per_s": images / dt, "images_per_iter": images,
           "gflop_per_iter": flops / 1e9, "achieved_tflops": flops / dt / 1e12,
           "peak_tflops": peak / 1e12, "fraction_of_peak": flops / dt / peak,
           "max_mem_gib": torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda" else None}
    del phase
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--steps", default="1,2", help="comma list of 1, 2")
    p.add_argument("--modes", default=None, help="comma list of fp32, bf16, bf16+compile (GPU default: all; CPU: fp32)")
    p.add_argument("--batch", type=int, default=24, help="per stream (paper: 24)")
    p.add_argument("--width", type=float, default=1.0, help="width multiplier (paper: 1.0)")
    p.add_argument("--iters", type=int, default=None, help="timed iterations (CPU default 2, GPU 20)")
    p.add_argument("--warmup", type=int, default=None, help="untimed iterations after the FLOP-counting one (CPU default 0, GPU 5)")
    p.add_argument("--impl", default="auto", choices=("auto", "torch", "triton"), help="kernels.impl")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--json", help="also write the results here (a JSON list)")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("train_step: --device cuda but no CUDA device is visible", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = device.type == "cuda"
    args.iters = args.iters or (20 if gpu else 2)
    args.warmup = args.warmup if args.warmup is not None else (5 if gpu else 0)  # the FLOP count is one more untimed iteration
    modes = (args.modes or ("fp32,bf16,bf16+compile" if gpu else "fp32")).split(",")
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(device) if gpu else f"CPU, {torch.get_num_threads()} threads"
    peaks = {"fp32": matmul_peak(device, torch.float32, 8192 if gpu else 1024)}
    if gpu:
        peaks["bf16"] = matmul_peak(device, torch.bfloat16, 8192)
    print(f"# {name}; torch {torch.__version__}; batch {args.batch}/stream, width {args.width}; "
          f"{args.warmup} warm-up + {args.iters} timed iterations")
    print("# matmul peak: " + ", ".join(f"{k} {v / 1e12:.3f} TFLOP/s" for k, v in peaks.items()))
    print(f"{'step':>4} {'mode':>13} {'s/it':>8} {'it/s':>8} {'img/s':>9} {'GFLOP/it':>9} {'TFLOP/s':>8} {'of peak':>8} {'60k it (h)':>10}")
    results = []
    for step in [int(s) for s in args.steps.split(",")]:
        for mode in modes:
            try:
                r = bench(step, mode, args, device, peaks)
            except Exception as e:  # noqa: BLE001 - report a mode that fails (e.g. compile) and go on
                print(f"{step:>4} {mode:>13} FAILED: {type(e).__name__}: {str(e).splitlines()[0][:200]}", flush=True)
                results.append({"step": step, "mode": mode, "error": f"{type(e).__name__}: {e}"[:2000]})
                continue
            results.append(r)
            print(f"{step:>4} {mode:>13} {r['s_per_iter']:8.3f} {r['it_per_s']:8.3f} {r['images_per_s']:9.1f} "
                  f"{r['gflop_per_iter']:9.1f} {r['achieved_tflops']:8.3f} {r['fraction_of_peak']:8.1%} "
                  f"{PAPER_ITERS / r['it_per_s'] / 3600:10.2f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
