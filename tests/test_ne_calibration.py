"""``model.ne_calibrate``: a fresh run's noise emulators start at the sky sigma (and measured noise power) of their survey."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from hpcgan.astro.noise_power import sky_sigma
from hpcgan.config import load_config
from hpcgan.io import checkpoint as ckpt
from hpcgan.models import build
from hpcgan.models.noise_emulator import NoiseEmulator
from hpcgan.train.trainer import train
from hpcgan.train.validate import load_split
from tests.test_learning import make_shards
from tests.tiny_data import TINY


def test_sky_sigma_of_white_noise_under_a_galaxy():
    """A bright central Gaussian on white noise of sigma 0.01: the background MAD gives sigma within 3%."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64] - 31.5
    gal = 5.0 * np.exp(-(xx ** 2 + yy ** 2) / (2 * 4.0 ** 2))
    sig = np.array([0.01, 0.002, 0.05])
    imgs = gal + rng.normal(0, 1, (20, 3, 64, 64)) * sig[:, None, None]
    assert np.allclose(sky_sigma(imgs), sig, rtol=0.03)


def test_calibrate_sets_the_added_noise_std():
    """After ``calibrate(sigma)`` the noise the emulator actually adds has that std per band (within 3%),
    at the same level on every stamp (the amplitude no longer depends on z1: a robust, per-stamp or pooled
    estimate of the noise all read sigma)."""
    ne = NoiseEmulator(bands=5, hidden=16, impl="torch")
    want = torch.tensor([1e-3, 3e-3, 1e-2, 5e-2, 0.2])
    ne.calibrate(want)
    assert torch.allclose(ne.noise_std(), want, rtol=1e-3)
    with torch.no_grad():
        a = ne.amplitude(torch.randn(1000, 5))
        assert torch.allclose(a, a[:1].expand_as(a), rtol=1e-6)  # one level for every z1
        noise = ne(torch.zeros(2048, 5, 12, 12))
    assert torch.allclose(noise.std((0, 2, 3)), want, rtol=0.03)
    mad = 1.4826 * (noise - noise.median()).abs().flatten(2).transpose(0, 1).flatten(1).median(dim=1).values
    assert torch.allclose(mad, want, rtol=0.05)  # Gaussian: the robust estimate agrees
    # white: neighbouring pixels uncorrelated, so a 3x3 box sum has std 3 sigma
    noise = ne(torch.zeros(512, 5, 12, 12)).detach()
    box = torch.nn.functional.avg_pool2d(noise, 3, stride=3) * 9
    assert torch.allclose(box.std((0, 2, 3)) / noise.std((0, 2, 3)), torch.full((5,), 3.0), rtol=0.05)
    with pytest.raises(ValueError, match="5 positive"):
        ne.calibrate(torch.tensor([1e-3, 0.0, 1.0, 1.0, 1.0]))


def test_fresh_step1_starts_at_the_sky_sigma(tmp_path, caplog):
    """Step 1 with model.ne_calibrate: one log line per domain; the checkpoint's NEs add noise of the sky
    sigma of their survey's unpaired stamps (the calibration batches hold all 8, in D4 poses that leave the
    background annulus as it is; 1 iteration later, within 2%); without it they do not."""
    shards = make_shards(tmp_path / "shards")
    sets = [*TINY, "dist.backend=none", f"data.shards={shards}", "train.step=1", "train.iters=1",
            "data.batch_size=8"]
    out = {}
    for flag in ("true", "false"):
        cfg = load_config("default", [*sets, f"train.run_dir={tmp_path / flag}", f"model.ne_calibrate={flag}"])
        with caplog.at_level(logging.INFO):
            run_dir = train(cfg)
        state = ckpt.load(ckpt.latest(run_dir))
        for side in ("x", "y"):
            ne = build("noise_emulator", cfg.model, impl="torch", bands=5)
            ne.load_state_dict(state["nets"][f"ne_{side}"])
            survey = getattr(cfg.data, side)
            x, _, _ = load_split(str(shards), survey, "unpaired", 64, cfg.data.pixel_transform)
            out[flag, side] = (ne.noise_std().numpy(), sky_sigma(x.numpy()))
    assert sum("calibrated to the" in r.getMessage() for r in caplog.records) == 2
    for side in ("x", "y"):
        got, want = out["true", side]
        assert np.allclose(got, want, rtol=0.02), (side, got, want)
        got, want = out["false", side]
        assert not np.allclose(got, want, rtol=0.5), (side, got, want)


def test_linear_space_noise_is_the_same_on_a_galaxy_as_on_the_sky():
    """model.ne_space: linear adds the noise in survey units: T^-1(NE(base)) - T^-1(base) has the same std
    on a bright pixel as on blank sky (the sky sigma the emulator was calibrated to); in model space (the
    paper) the bright pixel gets sqrt(1 + I) times the sky's."""
    from hpcgan.astro.transforms import from_model_space, to_model_space

    sigma = 0.05
    out = {}
    for space in ("model", "linear"):
        ne = NoiseEmulator(bands=1, hidden=8, impl="torch", space=space)
        ne.calibrate(torch.tensor([sigma]))
        for level in (0.0, 24.0):  # blank sky, a bright core (I = 24: sqrt(25) = 5)
            base = to_model_space(torch.full((4096, 1, 4, 4), level), 1.0, "sqrt")
            with torch.no_grad():
                added = from_model_space(ne(base), 1.0, "sqrt") - level
            out[space, level] = float(added.std())
    assert out["linear", 0.0] == pytest.approx(sigma, rel=0.03)
    assert out["linear", 24.0] == pytest.approx(sigma, rel=0.03)
    assert out["model", 0.0] == pytest.approx(2 * sigma, rel=0.05)  # T'(0) = 1/2
    assert out["model", 24.0] == pytest.approx(5 * out["model", 0.0], rel=0.05)  # sqrt(1 + I) times the sky's
    with pytest.raises(ValueError, match="model.ne_space"):
        NoiseEmulator(space="log")


def test_linear_space_calibrates_in_survey_units(tmp_path):
    """Step 1 with model.ne_space=linear and ne_calibrate: the emulators' noise std is the sky sigma of
    their survey's stamps in (flux-scaled) survey units."""
    from hpcgan.astro.transforms import from_model_space

    shards = make_shards(tmp_path / "shards")
    cfg = load_config("default", [*TINY, "dist.backend=none", f"data.shards={shards}", "train.step=1",
                                  "train.iters=1", "data.batch_size=8", f"train.run_dir={tmp_path / 'run'}",
                                  "model.ne_calibrate=true", "model.ne_space=linear"])
    state = ckpt.load(ckpt.latest(train(cfg)))
    for side in ("x", "y"):
        ne = build("noise_emulator", cfg.model, impl="torch", bands=5)
        ne.load_state_dict(state["nets"][f"ne_{side}"])
        x, _, _ = load_split(str(shards), getattr(cfg.data, side), "unpaired", 64, cfg.data.pixel_transform)
        want = sky_sigma(from_model_space(x, 1.0, cfg.data.pixel_transform).numpy())
        assert np.allclose(ne.noise_std().numpy(), want, rtol=0.02), (side, ne.noise_std(), want)
