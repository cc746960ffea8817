"""Start the noise emulators at the survey's noise level (``model.ne_calibrate``, beyond the paper).

The paper initialises every bias at 0.1, so a fresh NE adds noise of a fixed amplitude whatever the
survey: on the simulated pair 3x the CFHT sky sigma and 1/5-1/25 of SDSS's in model space, and a short
step 1 does not have the iterations to walk it there. With ``model.ne_calibrate`` a fresh run measures
each domain's sky sigma per band on the first ``model.ne_calibrate_stamps`` stamps of its training
stream (``x``, ``y``: what the NE learns from; the first batches, concatenated; model space, 1.4826 MAD of the background annulus: :func:`hpcgan.astro.noise_power.sky_sigma`)
and its noise power spectrum on the blank corners of the same stamps
(:mod:`hpcgan.astro.noise_power`), and starts the emulator at that std with the kernel that makes that
spectrum (:meth:`hpcgan.models.noise_emulator.NoiseEmulator.calibrate`; white noise for SDSS, the
resampling correlation for CFHT). Rank 0 measures; the trainer then
broadcasts the calibrated emulators. Resumed runs and step 2 (NEs restored) never calibrate.
"""
from __future__ import annotations

from itertools import islice
from typing import Iterable

import torch

from hpcgan.astro.noise_power import blank_sky_power, noise_kernel, sky_sigma
from hpcgan.astro.transforms import from_model_space
from hpcgan.config.schema import DataCfg
from hpcgan.log import get_logger

log = get_logger(__name__)
SIDES = ("x", "y")


def first_stamps(batches: Iterable[dict[str, torch.Tensor]], stamps: int, batch_size: int) -> dict[str, torch.Tensor]:
    """The first ``ceil(stamps / batch_size)`` batches of a stream iterator, concatenated per stream (the
    image tensors only): the noise kernel measured on 64 stamps instead of 8 (docs/training.md)."""
    got = list(islice(iter(batches), max(1, -(-stamps // batch_size))))
    return {k: torch.cat([b[k] for b in got]) for k in got[0] if torch.is_tensor(got[0][k]) and got[0][k].ndim == 4}


def calibrate_noise_emulators(nets: dict[str, torch.nn.Module], batch: dict[str, torch.Tensor] | None,
                              data: DataCfg) -> list[str]:
    """Calibrate ``ne_x``/``ne_y`` (those in ``nets`` whose stream is in the phase) on ``batch`` (rank 0;
    ``None`` elsewhere: nothing measured); returns the names of the emulators to broadcast (every rank)."""
    names = [f"ne_{s}" for s in SIDES if f"ne_{s}" in nets]
    if batch is None:
        return names
    for name in names:
        side = name[3:]
        x = batch[side].detach().float().cpu()
        if nets[name].space == "linear":  # measured where the emulator adds its noise: survey units (flux-scaled)
            x = from_model_space(x, 1.0, data.pixel_transform)
        x = x.numpy()
        sigma = sky_sigma(x)
        kernel = noise_kernel(blank_sky_power(x), nets[name].k)
        before = nets[name].noise_std().tolist()
        nets[name].calibrate(torch.as_tensor(sigma), torch.as_tensor(kernel))
        log.info("%s calibrated to the %s sky sigma and noise power (%s space, first %d stamps): %s (was %s)",
                 name, getattr(data, side).name, nets[name].space, len(x), _fmt(sigma), _fmt(before))
    return names


def _fmt(v) -> str:
    return "[" + " ".join(f"{float(a):.3g}" for a in v) + "]"
