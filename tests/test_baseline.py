"""The physical baseline (hpcgan/models/baseline.py): flux and aperture flux of resampled Gaussian
galaxies in both directions, the resampling matrices, PSF matching, zero points, per-stamp seeing."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from photutils.aperture import CircularAperture, aperture_photometry
from scipy.special import erf

from hpcgan.config import load_config
from hpcgan.models.baseline import (
    FWHM_TO_SIGMA,
    PhysicalBaseline,
    area_matrix,
    bicubic_matrix,
    naive_baseline,
    nominal_seeing,
)

CFG = load_config(["default"])
DIRS = {"x2y": (CFG.data.x, CFG.data.y), "y2x": (CFG.data.y, CFG.data.x)}


def gaussian_stamp(n: int, scale: float, sigma: float, flux: float) -> np.ndarray:
    """A round Gaussian (sigma arcsec) integrated over the pixels of an n x n stamp centred on it."""
    e = (np.arange(n + 1) - n / 2) * scale
    f = np.diff(erf(e / (math.sqrt(2) * sigma))) / 2
    return flux * np.outer(f, f)


def aperture(img: np.ndarray, scale: float, r_arcsec: float = 3.0) -> float:
    c = (img.shape[-1] - 1) / 2
    return float(aperture_photometry(img, CircularAperture((c, c), r=r_arcsec / scale), method="exact")["aperture_sum"][0])


def galaxy(survey, fwhm: tuple[float, ...], zp: float, sigma_gal: float = 0.8, mag: float = 18.0) -> np.ndarray:
    """(C, n, n): a Gaussian galaxy seen through Gaussian PSFs of ``fwhm`` per band, survey units."""
    flux = 10 ** (-0.4 * (mag - zp))
    return np.stack([gaussian_stamp(survey.stamp_size, survey.pixel_scale, math.hypot(sigma_gal, f * FWHM_TO_SIGMA),
                                    flux) for f in fwhm])


@pytest.mark.parametrize("direction", ["x2y", "y2x"])
@pytest.mark.parametrize("kind", ["area", "bicubic"])
def test_recovers_resampled_gaussian_galaxy_aperture_flux(direction, kind):
    """Source = the galaxy through the source PSF; truth = the same galaxy on the target grid through
    the broader of the two PSFs, in target units: 3" aperture flux within 1%, total flux within 0.1%."""
    src, dst = DIRS[direction]
    (zs, fs), (zd, fd) = (src.magzp, nominal_seeing(src)), (dst.magzp, nominal_seeing(dst))
    b = PhysicalBaseline(src, dst, kind=kind)
    x = galaxy(src, fs, zs)
    truth = galaxy(dst, tuple(max(a, c) for a, c in zip(fs, fd)), zd)
    y = b(torch.tensor(x[None], dtype=torch.float32))[0].numpy().astype(np.float64)
    assert y.shape == truth.shape
    for c in range(len(src.bands)):
        assert aperture(y[c], dst.pixel_scale) == pytest.approx(aperture(truth[c], dst.pixel_scale), rel=0.01)
        assert y[c].sum() == pytest.approx(truth[c].sum(), rel=1e-3)


def test_resampling_matrices_conserve_flux_and_centre():
    m = area_matrix(64, 0.396, 136, 0.187)
    inside = np.abs((np.arange(64) + 0.5 - 32) * 0.396) < 136 * 0.187 / 2 - 0.396
    assert np.allclose(m.sum(0).numpy()[inside], 1.0, atol=1e-12)  # every source pixel's flux lands once
    assert np.allclose(area_matrix(40, 0.2, 40, 0.2).numpy(), np.eye(40))
    assert np.allclose(bicubic_matrix(40, 0.2, 40, 0.2).numpy(), np.eye(40), atol=1e-12)
    for build in (area_matrix, bicubic_matrix):  # a delta at the centre stays centred (symmetric rows)
        w = build(64, 0.396, 136, 0.187).numpy()
        assert np.allclose(w, w[::-1, ::-1], atol=1e-12)


def test_psf_match_only_towards_the_broader_psf_and_units():
    x2y, y2x = PhysicalBaseline(*DIRS["x2y"]), PhysicalBaseline(*DIRS["y2x"])
    assert torch.all(x2y.match_sigma_px(torch.tensor(x2y.fwhm_src)) == 0)  # CFHT is sharper: no deconvolution
    s = y2x.match_sigma_px(torch.tensor(y2x.fwhm_src)).numpy()
    want = np.sqrt(np.array(y2x.fwhm_dst) ** 2 - np.array(y2x.fwhm_src) ** 2) * FWHM_TO_SIGMA / 0.187
    assert np.allclose(s, want)
    assert x2y.gain == pytest.approx(1000.0) and y2x.gain == pytest.approx(1e-3)
    assert not list(x2y.parameters()) and not x2y.state_dict()  # nothing learnt, nothing saved
    off = PhysicalBaseline(*DIRS["y2x"], psf_match=False)
    x = torch.rand(2, 5, 136, 136, dtype=torch.float64)
    assert not torch.allclose(off(x), y2x(x))


def test_per_stamp_seeing_and_config_helper():
    c = load_config(["default"], ["baseline.resample=area", "baseline.psf_match=true"])
    b = naive_baseline(c.data, c.baseline, "y2x")
    assert b.kind == "area" and (b.src.name, b.dst.name) == ("cfht", "sdss")
    x = torch.rand(3, 5, 136, 136)
    nominal = torch.tensor(b.fwhm_src).expand(3, 5)
    assert torch.allclose(b(x, psf_fwhm_src=nominal), b(x), rtol=1e-5, atol=1e-7)
    sharper = b(x, psf_fwhm_src=nominal * 0.5)
    assert sharper.shape == (3, 5, 64, 64) and not torch.allclose(sharper, b(x))
    with pytest.raises(ValueError, match="expected"):
        b(torch.rand(1, 5, 64, 64))
    with pytest.raises(ValueError, match="allowed"):
        PhysicalBaseline(*DIRS["x2y"], kind="nearest")
    assert CFG.baseline.resample == "auto"  # bicubic to the finer CFHT grid, area to the coarser SDSS one
    assert (naive_baseline(CFG.data, CFG.baseline, "x2y").kind, naive_baseline(CFG.data, CFG.baseline, "y2x").kind) == ("bicubic", "area")
