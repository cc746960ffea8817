"""Start the noise emulators at the survey's noise level (``model.ne_calibrate``, beyond the paper).

The paper initialises every bias at 0.1, so a fresh NE adds noise of a fixed amplitude whatever the
survey: on the simulated pair 3x the CFHT sky sigma and 1/25 of SDSS's in model space, and a short
step 1 does not have the iterations to walk it there. With ``model.ne_calibrate`` a fresh run measures
each domain's sky sigma per band on the first ``CALIBRATION_STAMPS`` stamps of the split its stream
reads (model space, 1.4826 MAD of the background annulus: :func:`hpcgan.evaluate.noise.sky_sigma`) and
shifts the amplitude output bias so the emulator's initial noise std equals it
(:meth:`hpcgan.models.noise_emulator.NoiseEmulator.calibrate`). Rank 0 measures; the weight broadcast
that follows gives every rank the same start. Resumed runs and step 2 (NEs restored) never calibrate.
"""
from __future__ import annotations

import torch

from hpcgan.config.schema import Config
from hpcgan.evaluate.noise import sky_sigma
from hpcgan.log import get_logger
from hpcgan.train.validate import load_split

log = get_logger(__name__)
CALIBRATION_STAMPS = 64
SPLIT = {"x": "unpaired", "y": "unpaired"}  # the step-1 streams x and y


def calibrate_noise_emulators(nets: dict[str, torch.nn.Module], cfg: Config) -> dict[str, list[float]]:
    """Calibrate ``ne_x``/``ne_y`` in ``nets`` (those present) to their domain's sky sigma; returns it."""
    done: dict[str, list[float]] = {}
    for side, split in SPLIT.items():
        ne = nets.get(f"ne_{side}")
        if ne is None:
            continue
        survey = getattr(cfg.data, side)
        x, _ = load_split(cfg.data.shards, survey, split, CALIBRATION_STAMPS, cfg.data.pixel_transform)
        sigma = sky_sigma(x.numpy())
        before = ne.noise_std().tolist()
        ne.calibrate(torch.as_tensor(sigma))
        done[side] = [float(v) for v in sigma]
        log.info("ne_%s calibrated to the %s sky sigma (model space, %d %s stamps): %s (was %s)", side,
                 survey.name, len(x), split, _fmt(sigma), _fmt(before))
    return done


def _fmt(v) -> str:
    return "[" + " ".join(f"{float(a):.3g}" for a in v) + "]"
