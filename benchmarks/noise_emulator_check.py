"""The noise emulators on their own, against each survey's noise measured on blank sky (issue 19).

    python benchmarks/noise_emulator_check.py --run demo_out/train/ours-step1 --shards demo_out/shards \
        --png docs/results/ne_power.png

For each domain (``ne_x``: SDSS, ``ne_y``: CFHT) of a checkpoint: the emulator's noise, drawn on blank
(all-zero) stamps of the survey's shape, and the real stamps of the survey's ``unpaired`` split, both in
model space, go through the same measurement (:func:`hpcgan.astro.noise_power.blank_sky_power`: the
corner patches' power spectra). Printed per band: the pixel std ratio (emulator / survey) and the
azimuthal power ratio at low, mid and high k of the patch grid (1 = the survey's noise). Also the
same for a freshly calibrated emulator (``model.ne_calibrate``, before any training), so the effect of
step 1's adversarial training shows.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpcgan.astro.noise_power import blank_sky_power, noise_kernel, radial_ratio, sky_sigma  # noqa: E402
from hpcgan.config import load_config  # noqa: E402
from hpcgan.data.shards import open_source, stamps_to_model  # noqa: E402
from hpcgan.io.checkpoint import load, resolve  # noqa: E402
from hpcgan.models import build  # noqa: E402


def emulated(ne, shape: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    """(n, C, H, W) noise of emulator ``ne`` on blank stamps, model space."""
    torch.manual_seed(seed)
    with torch.no_grad():
        return ne(torch.zeros(n, *shape)).numpy()


def summary(fake: np.ndarray, real: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Per band: (std ratio, power ratio at low / mid / high k thirds of the patch grid)."""
    pf, pr = blank_sky_power(fake), blank_sky_power(real)
    ratio = radial_ratio(pf, pr)[:, 1:]  # k = 0 left out (the mean is removed per patch)
    thirds = np.array_split(np.arange(ratio.shape[1]), 3)
    std = sky_sigma(fake) / sky_sigma(real)
    return [(float(std[c]), *(float(np.nanmean(ratio[c, t])) for t in thirds)) for c in range(len(std))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a step-1 (or step-2) run dir or checkpoint with ne_x / ne_y")
    p.add_argument("--shards", required=True)
    p.add_argument("--n", type=int, default=256, help="stamps per side")
    p.add_argument("--png", default="")
    a = p.parse_args()
    ck = resolve(a.run)
    cfg = load_config([Path(a.run) / "config.yaml"] if Path(a.run).is_dir() else None)
    nets = load(ck)["nets"]
    rows = {}
    for side in ("x", "y"):
        if f"ne_{side}" not in nets:
            continue
        s = getattr(cfg.data, side)
        src = open_source(a.shards, s.name, "unpaired")
        real = stamps_to_model(src.read(np.arange(min(a.n, len(src)))), src, s.flux_scale, cfg.data.pixel_transform).numpy()
        trained = build("noise_emulator", cfg.model, bands=len(s.bands))
        trained.load_state_dict(nets[f"ne_{side}"])
        torch.manual_seed(0)  # the fresh emulator's hidden layers: the same every run
        fresh = build("noise_emulator", cfg.model, bands=len(s.bands))
        fresh.calibrate(torch.as_tensor(sky_sigma(real[:8])),
                        torch.as_tensor(noise_kernel(blank_sky_power(real[:8]), fresh.k)))
        for name, ne in (("calibrated, untrained", fresh), ("after training", trained)):
            rows[(s.name, name)] = summary(emulated(ne, real.shape[1:], len(real)), real)
    print(f"checkpoint {ck}; model space; ratios emulator / survey (1 = the survey's noise)")
    print("| survey | emulator | band | std | power low k | mid k | high k |")
    print("|---|---|---|---|---|---|---|")
    for (survey, name), per in rows.items():
        for b, (std, lo, mid, hi) in zip(cfg.data.x.bands, per):
            print(f"| {survey} | {name} | {b} | {std:.2f} | {lo:.2f} | {mid:.2f} | {hi:.2f} |")
    if a.png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        for (survey, name), per in rows.items():
            ax.plot(range(len(per)), [r[3] for r in per], marker="o", label=f"{survey} {name} (high k)")
            ax.plot(range(len(per)), [r[0] for r in per], marker="x", ls="--", label=f"{survey} {name} (std)")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xticks(range(len(cfg.data.x.bands)), cfg.data.x.bands)
        ax.set_ylabel("emulator / survey noise")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
        fig.tight_layout()
        Path(a.png).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(a.png, dpi=110)
        print("wrote", a.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
