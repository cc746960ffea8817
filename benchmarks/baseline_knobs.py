"""The strong baseline under other settings, side by side (issue 19): each setting translates the noisy
source stamps of a paired split, and is scored against the noise-free target twins, per band: the 3" and
1.5" aperture-flux bias / NMAD, the r50 bias (curve of growth to the stamp edge, as ``hpcgan evaluate``)
and the adjacent colours' bias / NMAD (3", mag). No target noise is added: it would add the same scatter
to every setting. With ``--clean`` the noise-free source twins are translated too (the pipeline's own
bias, no denoising). Each setting also prints the seconds the pipeline itself took (a setting repeated
later in the list reuses its cached kernels: its time is the pipeline's alone).

    python benchmarks/baseline_knobs.py --shards science_out/test1000/shards --direction x2y \\
        --setting "" --setting "baseline.kernel_size=63" --setting "baseline.denoise_stack_k=14"

Each ``--setting`` is a space-separated list of config overrides on ``-c default`` ('' = the defaults).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpcgan.astro.photometry import aperture_fluxes, bias_nmad, colour_stats, curve_of_growth, nmad_difference  # noqa: E402
from hpcgan.config import load_config  # noqa: E402
from hpcgan.config.schema import Config, SurveyCfg  # noqa: E402
from hpcgan.data.shards import open_source, seeing, stamps_to_survey_units  # noqa: E402
from hpcgan.evaluate.metrics import radii_arcsec  # noqa: E402
from hpcgan.evaluate.shapes import half_light_radius  # noqa: E402
from hpcgan.models.psf_baseline import PsfMatchedBaseline  # noqa: E402

RADII = (1.5, 3.0)
BATCH = 100


def rows(source, ids: np.ndarray) -> np.ndarray:
    """The stamps of ``ids`` from a shard source, in survey units (float64)."""
    where = {v: i for i, v in enumerate(source.object_ids())}
    return stamps_to_survey_units(source.read(np.array([where[v] for v in ids])), source).astype(np.float64)


def measure(imgs: np.ndarray, pixel_scale: float, radii: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, C, 2) 1.5"/3" fluxes and (N, C) r50 of ``imgs`` (N, C, n, n)."""
    return (aperture_fluxes(imgs, pixel_scale, RADII),
            half_light_radius(curve_of_growth(imgs, pixel_scale, radii), radii))


def split_parser(doc: str, n: int) -> argparse.ArgumentParser:
    """The options every strong-pipeline benchmark takes: a paired split of a shard root, a direction, N."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shards", required=True)
    p.add_argument("--split", default="paired-test")
    p.add_argument("--direction", choices=("x2y", "y2x"), default="x2y")
    p.add_argument("--n", type=int, default=n, help="objects (the split's first N)")
    return p


class Split(NamedTuple):
    """The first N objects of a paired split, one direction: the surveys, the noisy source stamps' shard
    source, their object ids and seeing (N, C)."""
    src: SurveyCfg
    dst: SurveyCfg
    noisy: Any
    ids: np.ndarray
    fwhm: torch.Tensor


def open_split(a: argparse.Namespace, cfg: Config) -> Split:
    """The split of :func:`split_parser`'s options ``a`` in the surveys of ``cfg``."""
    src, dst = (cfg.data.x, cfg.data.y) if a.direction == "x2y" else (cfg.data.y, cfg.data.x)
    noisy = open_source(a.shards, src.name, a.split)
    ids = noisy.object_ids()[:a.n]
    return Split(src, dst, noisy, ids, torch.from_numpy(seeing(noisy)[:len(ids)]))


def versus_pipeline(ap: np.ndarray, r50: np.ndarray, ap_pipe: np.ndarray, ap_truth: np.ndarray, r50_truth: np.ndarray,
                    c: int) -> tuple[str, float, float]:
    """Band ``c`` of a set of (N, C, 2) fluxes and (N, C) r50 against the pipeline's and the truth's: the table
    cell '3" NMAD change [68%], 3" / 1.5" / r50 bias' (points, %), the NMAD change and the r50 bias (%)."""
    d = nmad_difference(ap[:, c, 1], ap_pipe[:, c, 1], ap_truth[:, c, 1])
    f3, f15, r = (bias_nmad(ap[:, c, 1], ap_truth[:, c, 1])["bias"], bias_nmad(ap[:, c, 0], ap_truth[:, c, 0])["bias"],
                  bias_nmad(r50[:, c], r50_truth[:, c])["bias"])
    return (f"{100 * d['delta']:+.2f} [{100 * d['lo']:+.2f}, {100 * d['hi']:+.2f}], "
            f"{100 * f3:+.2f} / {100 * f15:+.2f} / {100 * r:+.2f}", 100 * d["delta"], 100 * r)


def run_pipeline(base: PsfMatchedBaseline, x: np.ndarray, fwhm: torch.Tensor) -> np.ndarray:
    """The strong pipeline on ``x`` (N, C, n, n) source units at seeing ``fwhm`` (N, C), in batches."""
    with torch.no_grad():
        return np.concatenate([base(torch.from_numpy(x[i:i + BATCH]).float(), fwhm[i:i + BATCH]).double().numpy()
                               for i in range(0, len(x), BATCH)])


def main() -> int:
    p = split_parser(__doc__, 1000)
    p.add_argument("--setting", action="append", default=None, help="overrides, space-separated ('' = defaults)")
    p.add_argument("--clean", action="store_true", help="also translate the noise-free source twins")
    a = p.parse_args()
    cfg0 = load_config(["default"])
    src, dst, noisy, ids, fwhm = open_split(a, cfg0)
    x = rows(noisy, ids)
    x_clean = rows(open_source(a.shards, src.name, a.split + "-truth"), ids) if a.clean else None
    radii = radii_arcsec(dst.stamp_size, dst.pixel_scale, cfg0.evaluate.radius_step_arcsec)
    ap_t, r50_t = measure(rows(open_source(a.shards, dst.name, a.split + "-truth"), ids), dst.pixel_scale, radii)
    print(f"{len(ids)} objects of {a.shards} {a.split}, {src.name} -> {dst.name}; bias and NMAD against the "
          "noise-free twins (%; colours in mag)")
    for setting in a.setting or [""]:
        t0 = time.time()
        cfg = load_config(["default"], setting.split())
        lines, spent = [], []
        for name, inp in (("noisy", x), ("clean", x_clean)):
            if inp is None:
                continue
            bc = cfg.baseline if name == "noisy" else dataclasses.replace(cfg.baseline, denoise=False)
            base = PsfMatchedBaseline(src, dst, bc)
            t1 = time.time()
            out = run_pipeline(base, inp, fwhm)
            spent.append(f"{name} {time.time() - t1:.1f} s")
            ap, r50 = measure(out, dst.pixel_scale, radii)
            cells = []
            for c in range(len(dst.bands)):
                f3, f15, r = (bias_nmad(ap[:, c, 1], ap_t[:, c, 1]), bias_nmad(ap[:, c, 0], ap_t[:, c, 0]),
                              bias_nmad(r50[:, c], r50_t[:, c]))
                cells.append(f"{100 * f3['bias']:+.2f} / {100 * f3['nmad']:.2f}, "
                             f"{100 * f15['bias']:+.2f} / {100 * f15['nmad']:.2f}, {100 * r['bias']:+.2f}")
            cells += ["{median:+.3f} / {nmad:.3f}".format(**colour_stats(ap[:, [c, c + 1], 1], ap_t[:, [c, c + 1], 1]))
                      for c in range(len(dst.bands) - 1)]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        print(f"\nsetting: {setting or '(defaults)'} ({time.time() - t0:.0f} s; the pipeline itself: {', '.join(spent)},"
              " kernels built on first use of a seeing)")
        bands = dst.bands
        print("| input | " + " | ".join(f'{b}: 3" bias / NMAD, 1.5" bias / NMAD, r50 bias' for b in bands) + " | "
              + " | ".join(f"{bands[c]}-{bands[c + 1]}" for c in range(len(bands) - 1)) + " |")
        print("|---" * (2 * len(bands)) + "|")
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
