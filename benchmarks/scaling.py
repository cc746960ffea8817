"""Data-parallel scaling on CPU: images/s of the real training step on 1 and 2 ranks, per backend.

    .venv/bin/python benchmarks/scaling.py                       # horovod + torch, 1 and 2 ranks, step 2
    .venv/bin/python benchmarks/scaling.py --steps 1,2 --width 0.25 --batch 4 --iters 5 --json out.json

Weak scaling, like a multi-node run: each rank keeps its batch (``--batch`` per stream), so p ranks
process p times the images per iteration; parallel efficiency = images/s(p) / (p * images/s(1)).
Each configuration is one ``mpirun -np p`` launch of this file with ``--worker``: the rank builds the
trainer's phase (``hpcgan.train``: networks, optimisers wrapped by hpcgan.dist) with the chosen
backend and times ``phase.train_step`` on a synthetic batch (gradient averaging included: every
optimiser step goes through ``d.step``). One torch thread per rank, so 2 ranks use 2 cores: on a
shared machine the figure is the share of CPU the ranks got, say so when you quote it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]


def worker(a) -> int:
    import torch

    torch.set_num_threads(a.threads)
    import hpcgan.dist
    from hpcgan.config import load_config
    from hpcgan.train.trainer import build_phase

    cfg = load_config("default", [f"train.step={a.step}", f"model.width={a.width}", f"data.batch_size={a.batch}",
                                  "train.device=cpu", "kernels.impl=torch", f"dist.backend={a.backend}"])
    d = hpcgan.dist.init(cfg.dist)
    torch.manual_seed(1 + d.rank)
    phase = build_phase(cfg, torch.device("cpu"), d)
    b = a.batch
    sx, sy = cfg.data.x.stamp_size, cfg.data.y.stamp_size
    batch = phase.to_device({"x": torch.randn(b, 5, sx, sx), "y": torch.randn(b, 5, sy, sy),
                             "xp": torch.randn(b, 5, sx, sx), "yp": torch.randn(b, 5, sy, sy)})
    for _ in range(a.warmup):
        phase.train_step(batch)
    d.barrier()
    t = time.perf_counter()
    for _ in range(a.iters):
        phase.train_step(batch)
    d.barrier()
    dt = (time.perf_counter() - t) / a.iters
    dt = float(d.allreduce_mean(torch.tensor([dt], dtype=torch.float64)).item())
    if d.is_main:
        params = sum(p.numel() for u in phase.units.values() for p in u.params)
        print("RESULT " + json.dumps({"backend": a.backend, "ranks": d.size, "step": a.step, "s_per_iter": dt,
                                      "images_per_s": phase.images_per_iter() * d.size / dt,
                                      "grad_mib": params * 4 / 2**20, "optimisers": len(phase.units)}), flush=True)
    d.shutdown() if a.backend == "torch" else None
    return 0


# ------------------------------------------------------------------------------ scaling model (docs/scaling.md)
# Per-GPU bus bandwidth (GB/s, achievable allreduce busbw) and per-hop latency (s) assumed for each fabric.
# Within a node of 8 GPUs: NVLink. Across nodes: the per-GPU NIC of a rail-optimised fabric is the
# slowest link of the ring (a conservative bound: NCCL's hierarchical rings, NVLS and SHARP do better).
FABRICS = {
    "NVLink (8-GPU node)": (450.0, 3e-6),
    "InfiniBand HDR 200G/GPU": (23.0, 6e-6),
    "InfiniBand NDR 400G/GPU": (45.0, 6e-6),
    "Slingshot-11 200G/GPU": (22.0, 8e-6),
}
GPUS_PER_NODE = 8
# FLOPs of one iteration, batch 24/stream, width 1.0 (torch.utils.flop_counter over the real networks,
# benchmarks/train_step.py, docs/performance.md "Training step"; --count-flops recounts them).
FLOPS = {1: 4825e9, 2: 3809e9}


def allreduce_s(nbytes: float, p: int, busbw_gbs: float, alpha: float, latency: str = "ring") -> float:
    """Ring allreduce: 2(p-1)/p * bytes / busbw + latency (ring: 2(p-1) hops; tree: 2 log2 p)."""
    if p == 1:
        return 0.0
    import math

    hops = 2 * (p - 1) if latency == "ring" else 2 * math.ceil(math.log2(p))
    return 2 * (p - 1) / p * nbytes / (busbw_gbs * 1e9) + hops * alpha


def phase_grads(step: int) -> list[float]:
    """Gradient bytes (fp32) of each optimiser of a training step at width 1.0, from the real networks."""
    import torch

    import hpcgan.dist
    from hpcgan.config import load_config
    from hpcgan.train.trainer import build_phase

    cfg = load_config("default", [f"train.step={step}", "train.device=cpu", "dist.backend=none"])
    ph = build_phase(cfg, torch.device("cpu"), hpcgan.dist.init("none"))
    return [4.0 * sum(p.numel() for p in u.params) for u in ph.units.values()]


def model(a) -> int:
    if a.count_flops:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import torch
        from train_step import build, count_flops  # noqa: E402

        ns = argparse.Namespace(batch=24, width=1.0, impl="torch", channels_last=False)
        for st in (1, 2):
            ph, b = build(st, "fp32", ns, torch.device("cpu"))
            FLOPS[st] = float(count_flops(ph, b))
    print(f"# scaling model: compute per iteration at {a.achieved_tflops:g} TFLOP/s achieved per GPU; "
          f"{GPUS_PER_NODE} GPUs/node; no overlap of communication with compute (torch backend; "
          f"Horovod overlaps part of it); {'fp16' if a.fp16 else 'fp32'} gradients; {a.latency} latency")
    for st in (1, 2):
        grads = [g / (2 if a.fp16 else 1) for g in phase_grads(st)]
        t_c = FLOPS[st] / (a.achieved_tflops * 1e12)
        print(f"\n## step {st}: {FLOPS[st] / 1e9:,.0f} GFLOP/iteration -> {t_c * 1e3:.1f} ms; "
              f"{len(grads)} allreduce(s) per iteration, {sum(grads) / 2**20:.1f} MiB in all "
              f"({', '.join(f'{g / 2**20:.2f}' for g in grads)} MiB)")
        print(f"{'GPUs':>5} {'fabric':<26} {'allreduce ms':>12} {'efficiency':>10}")
        for p in (8, 64, 512):
            fabrics = ["NVLink (8-GPU node)"] if p <= GPUS_PER_NODE else [f for f in FABRICS if not f.startswith("NV")]
            for f in fabrics:
                bw, alpha = FABRICS[f]
                t_ar = sum(allreduce_s(g, p, bw, alpha, a.latency) for g in grads)
                print(f"{p:>5} {f:<26} {t_ar * 1e3:12.2f} {t_c / (t_c + t_ar):10.1%}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backends", default="horovod,torch")
    p.add_argument("--ranks", default="1,2")
    p.add_argument("--steps", default="2", help="training steps to time: 1, 2 or 1,2")
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--batch", type=int, default=4, help="per stream and rank")
    p.add_argument("--iters", type=int, default=4)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    p.add_argument("--json")
    p.add_argument("--no-cpu-tuning", action="store_true",
                   help="keep Horovod's default cycle time and MPI busy-polling (on by default: CPU runs only)")
    p.add_argument("--model", action="store_true", help="print the many-GPU scaling model instead (docs/scaling.md)")
    p.add_argument("--achieved-tflops", type=float, default=200.0, help="model: achieved FLOP/s per GPU (TFLOP/s)")
    p.add_argument("--fp16", action="store_true", help="model: fp16 gradient compression (half the bytes)")
    p.add_argument("--latency", default="ring", choices=("ring", "tree"), help="model: latency term")
    p.add_argument("--count-flops", action="store_true", help="model: recount FLOPs at width 1.0 (slow on CPU)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--backend", default="torch", help=argparse.SUPPRESS)
    p.add_argument("--step", type=int, default=2, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        return worker(a)
    if a.model:
        return model(a)
    results = []
    print(f"# CPU weak scaling: width {a.width}, batch {a.batch}/stream/rank, {a.threads} thread(s)/rank, "
          f"{a.warmup} warm-up + {a.iters} timed iterations; load average {os.getloadavg()[0]:.1f}; "
          f"{'default Horovod/MPI polling' if a.no_cpu_tuning else 'HOROVOD_CYCLE_TIME=10, mpi_yield_when_idle=1'}")
    print(f"{'step':>4} {'backend':>8} {'ranks':>5} {'s/it':>8} {'img/s':>8} {'efficiency':>10}")
    for step in [int(s) for s in a.steps.split(",")]:
        for backend in a.backends.split(","):
            base = None
            for n in [int(r) for r in a.ranks.split(",")]:
                cmd = [*MPIRUN, "-np", str(n), sys.executable, __file__, "--worker", "--backend", backend,
                       "--step", str(step), "--width", str(a.width), "--batch", str(a.batch), "--iters", str(a.iters),
                       "--warmup", str(a.warmup), "--threads", str(a.threads)]
                env = {**os.environ, "OMP_NUM_THREADS": str(a.threads), "HPCGAN_LOG_LEVEL": "WARNING"}
                if not a.no_cpu_tuning:  # ranks sharing busy cores: Horovod's 1 ms cycle + MPI spin steal compute
                    env.setdefault("HOROVOD_CYCLE_TIME", "10")
                    env.setdefault("OMPI_MCA_mpi_yield_when_idle", "1")
                out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
                line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
                if out.returncode != 0 or line is None:
                    print(f"{step:>4} {backend:>8} {n:>5} FAILED (exit {out.returncode}): {out.stderr[-800:]}")
                    results.append({"backend": backend, "ranks": n, "step": step, "error": out.stderr[-2000:]})
                    continue
                r = json.loads(line[len("RESULT "):])
                base = r["images_per_s"] if n == 1 else base
                r["efficiency"] = r["images_per_s"] / (n * base) if base else None
                results.append(r)
                eff = f"{r['efficiency']:.0%}" if r["efficiency"] is not None else "-"
                print(f"{step:>4} {backend:>8} {n:>5} {r['s_per_iter']:8.3f} {r['images_per_s']:8.1f} {eff:>10}",
                      flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
