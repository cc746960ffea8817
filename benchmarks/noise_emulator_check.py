"""The noise emulators on their own, against each survey's noise measured on blank sky (issue 19).

    python benchmarks/noise_emulator_check.py --run demo_out/train/ours-step1 --shards demo_out/shards \
        --png docs/results/ne_power.png

For each domain (``ne_x``: SDSS, ``ne_y``: CFHT) of a checkpoint: the emulator's noise, drawn on blank
(all-zero) stamps of the survey's shape, and the real stamps of the survey's ``unpaired`` split, both in
model space, go through the same measurement (:func:`hpcgan.astro.noise_power.blank_sky_power`: the
corner patches' power spectra). Printed per band: the pixel std ratio (emulator / survey) and the
azimuthal power ratio at low, mid and high k of the patch grid (1 = the survey's noise). Also the
same for a freshly calibrated emulator (``model.ne_calibrate``: the trainer's own calibration,
:func:`hpcgan.train.ne_calibration.calibrate_noise_emulators`, before any training), so the effect of
step 1's adversarial training shows.

The corner patches are small, so their "low k" is not the scale photometry sums over. Where the shards
hold noise-free twins (simulated data: ``paired-train-truth``), the last column is the noise at that
scale: the NMAD of the noise's sum in the largest ``evaluate.aperture_radii_arcsec`` circle (3"), the
emulator's on blank stamps over the survey's own (real - truth), in the units the emulator adds its
noise in (survey units for ``model.ne_space: linear``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpcgan.astro.noise_power import blank_sky_power, radial_ratio, sky_sigma  # noqa: E402
from hpcgan.astro.photometry import aperture_fluxes, nmad  # noqa: E402
from hpcgan.astro.transforms import from_model_space  # noqa: E402
from hpcgan.config import load_config  # noqa: E402
from hpcgan.data.shards import open_source, stamps_to_model  # noqa: E402
from hpcgan.io.checkpoint import load, resolve  # noqa: E402
from hpcgan.models import build  # noqa: E402
from hpcgan.train.ne_calibration import calibrate_noise_emulators  # noqa: E402


def emulated(ne, shape: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    """(n, C, H, W) noise of emulator ``ne`` on blank stamps, model space."""
    torch.manual_seed(seed)
    with torch.no_grad():
        return ne(torch.zeros(n, *shape)).numpy()


def summary(fake: np.ndarray, real: np.ndarray, aperture: tuple[np.ndarray, np.ndarray] | None
            ) -> list[tuple[float, ...]]:
    """Per band: (std ratio, power ratio at low / mid / high k thirds of the patch grid, aperture-sum
    NMAD ratio or NaN); ``aperture``: (the emulator's, the survey's) aperture sums of noise (N, C)."""
    pf, pr = blank_sky_power(fake), blank_sky_power(real)
    ratio = radial_ratio(pf, pr)[:, 1:]  # k = 0 left out (the mean is removed per patch)
    thirds = np.array_split(np.arange(ratio.shape[1]), 3)
    std = sky_sigma(fake) / sky_sigma(real)
    ap = np.full(len(std), np.nan) if aperture is None else nmad(aperture[0], axis=0) / nmad(aperture[1], axis=0)
    return [(float(std[c]), *(float(np.nanmean(ratio[c, t])) for t in thirds), float(ap[c])) for c in range(len(std))]


def noise_sums(cfg, side: str, shards: str, n: int, split: str, ne=None) -> np.ndarray | None:
    """(N, C) sums of noise in the largest evaluate aperture, in the emulator's units: the survey's own
    (real - truth of ``split``; None without truth) or, with ``ne``, the emulator's on blank stamps."""
    s = getattr(cfg.data, side)
    try:
        src, tru = (open_source(shards, s.name, sp) for sp in (split, split + "-truth"))
    except FileNotFoundError:
        return None
    idx = np.arange(min(n, len(src)))
    unit = (lambda m: from_model_space(torch.as_tensor(m), 1.0, cfg.data.pixel_transform).numpy()) \
        if cfg.model.ne_space == "linear" else (lambda m: m)
    if ne is None:
        if not np.array_equal(src.object_ids()[idx], tru.object_ids()[idx]):
            raise SystemExit(f"{shards}: {split} and its truth twins are not in the same order")
        noise = unit(stamps_to_model(src.read(idx), src, s.flux_scale, cfg.data.pixel_transform).numpy()) - \
            unit(stamps_to_model(tru.read(idx), tru, s.flux_scale, cfg.data.pixel_transform).numpy())
    else:
        noise = unit(emulated(ne, src.shape, len(idx), seed=1))
    return aperture_fluxes(noise, s.pixel_scale, [max(cfg.evaluate.aperture_radii_arcsec)])[..., 0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a step-1 (or step-2) run dir or checkpoint with ne_x / ne_y")
    p.add_argument("--shards", required=True)
    p.add_argument("--n", type=int, default=256, help="stamps per side")
    p.add_argument("--truth-shards", default="", help="shards with noise-free twins for the aperture sums "
                   "(default --shards); e.g. a large independent test sample (benchmarks/science.py --test-n)")
    p.add_argument("--truth-split", default="paired-train", choices=("paired-train", "paired-test"))
    p.add_argument("--n-truth", type=int, default=1000, help="pairs for the aperture sums (their NMAD is "
                   "uncertain by about 1/sqrt(n) of itself: 120 pairs leave a 9% ratio unresolved)")
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
        first = torch.as_tensor(real[:cfg.model.ne_calibrate_stamps])
        calibrate_noise_emulators({f"ne_{side}": fresh}, {side: first}, cfg.data)
        truth = (cfg, side, a.truth_shards or a.shards, a.n_truth, a.truth_split)
        survey_sums = noise_sums(*truth)
        for name, ne in (("calibrated, untrained", fresh), ("after training", trained)):
            sums = None if survey_sums is None else (noise_sums(*truth, ne), survey_sums)
            rows[(s.name, name)] = summary(emulated(ne, real.shape[1:], len(real)), real, sums)
    radius = max(cfg.evaluate.aperture_radii_arcsec)
    print(f"checkpoint {ck}; model space ({cfg.model.ne_space} for the aperture sums); ratios emulator / survey "
          "(1 = the survey's noise)")
    print(f"| survey | emulator | band | std | power low k | mid k | high k | {radius:g}\" sum NMAD |")
    print("|---|---|---|---|---|---|---|---|")
    for (survey, name), per in rows.items():
        for b, (std, lo, mid, hi, ap) in zip(cfg.data.x.bands, per):
            print(f"| {survey} | {name} | {b} | {std:.2f} | {lo:.2f} | {mid:.2f} | {hi:.2f} | {ap:.2f} |")
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
