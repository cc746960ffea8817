"""translate.compression: output bytes and time of each setting, side by side.

    python benchmarks/translate_compression.py               # 512 SDSS stamps -> CFHT, --method resample
    python benchmarks/translate_compression.py --n 2048 --settings none,gzip:1,gzip:4,lzf

Writes ``--n`` synthetic 64x64 SDSS-like stamps as one shard (benchmarks/translate.py's generator),
then runs the whole stage (:func:`hpcgan.translate.run.run`, ``--method resample``: the physical
baseline, so the figures measure the writing, not a network) once per setting into a fresh folder,
without and with the target's sky noise added (``baseline.add_noise``; the input's own noise is
resampled either way; a model translation carries its noise emulator's noise, so the second rows
are the ones to expect). Prints a Markdown table: shard bytes,
ratio to ``none``, seconds and time relative to ``none``. Deletes everything it wrote.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from translate import make_shard  # noqa: E402  (benchmarks/translate.py)

from hpcgan.config import load_config  # noqa: E402
from hpcgan.dist.comm import Comm  # noqa: E402
from hpcgan.translate.run import run  # noqa: E402


def once(tmp: Path, setting: str, noise: bool, batch: int) -> tuple[int, float]:
    kind, _, level = setting.partition(":")
    out = tmp / f"out-{kind}-{level or 'x'}-{int(noise)}"
    cfg = load_config("default", [f"data.shards={tmp / 'shards'}", f"translate.out={out}", "translate.method=resample",
                                  "translate.device=cpu", f"translate.batch_size={batch}", f"translate.compression={kind}",
                                  f"translate.compression_level={level or 1}", f"baseline.add_noise={str(noise).lower()}"])
    t0 = time.perf_counter()
    assert run(cfg, Comm()) == 0
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in out.glob("r*/*/*/part-*.h5"))
    shutil.rmtree(out)
    return size, seconds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=512)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--settings", default="none,gzip:1,gzip:4,lzf", help="KIND[:LEVEL],...")
    a = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="hpcgan-bench-compression-"))
    try:
        make_shard(tmp, a.n)
        print(f"{a.n} SDSS 5x64x64 stamps -> CFHT 5x136x136 float32, translate --method resample, 1 rank\n")
        print("| output | compression | shard MiB | ratio | seconds | time vs none |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        for noise in (False, True):
            base = None
            for s in a.settings.split(","):
                size, sec = once(tmp, s, noise, a.batch)
                base = base or (size, sec)
                print(f"| {'+ target sky noise' if noise else 'resampled input'} | {s} | {size / 2**20:.1f} | "
                      f"{size / base[0]:.2f} | {sec:.1f} | {sec / base[1]:.2f}x |", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
