"""Known answers of the multi-band template photometry (hpcgan/astro/template_photometry.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hpcgan.astro.photometry import aperture_fluxes, nmad
from hpcgan.astro.template_photometry import gaussian_weight, shape_prior

SCALE = 0.2
AMPS = np.array([1.0, 3.0, 5.0])  # three bands of one shape, different brightness


def template_fluxes(imgs: np.ndarray, sigma: np.ndarray, gauss_sigma: float = 1.5) -> np.ndarray:
    """(N, C) 3" fluxes of the shared-shape model (``keep`` 0): the template estimate of each band's flux."""
    model = shape_prior(torch.from_numpy(imgs), torch.from_numpy(np.asarray(sigma, dtype=np.float64)), SCALE,
                        gauss_sigma=gauss_sigma, keep=0.0).numpy()
    return aperture_fluxes(model, SCALE, (3.0,))[..., 0]


def galaxies(n: int, size: int = 64, width: float = 1.0) -> np.ndarray:
    """(n, 3, size, size) Gaussian galaxies of ``width`` arcsec, the same shape in every band."""
    g = gaussian_weight(size, SCALE, width)
    return np.broadcast_to(AMPS[None, :, None, None] * g, (n, 3, size, size)).copy() * 100.0


def test_a_shared_shape_gives_back_the_aperture_flux_exactly():
    clean = galaxies(2)
    np.testing.assert_allclose(template_fluxes(clean, np.ones(3)), aperture_fluxes(clean, SCALE, (3.0,))[..., 0],
                               rtol=1e-12)


def test_the_template_cuts_the_scatter_of_the_faintest_band_without_bias():
    rng = np.random.default_rng(0)
    clean = galaxies(400)
    sigma = np.array([4.0, 4.0, 4.0])
    noisy = clean + rng.normal(0.0, 4.0, clean.shape)
    truth = aperture_fluxes(clean, SCALE, (3.0,))[:, 0, 0]
    plain = aperture_fluxes(noisy, SCALE, (3.0,))[:, 0, 0] / truth - 1
    tmpl = template_fluxes(noisy, sigma, gauss_sigma=1.0)[:, 0] / truth - 1
    assert nmad(tmpl) < 0.75 * nmad(plain)  # weights matched to the galaxy against a 3" top-hat (0.48% against 0.68%)
    assert abs(np.median(tmpl)) < 3 * nmad(tmpl) / np.sqrt(len(tmpl))


def test_a_colour_gradient_becomes_a_bias_and_blank_sky_keeps_the_plain_flux():
    clean = galaxies(1)
    clean[:, 0] = 100.0 * gaussian_weight(64, SCALE, 1.5)  # band 0 wider than the others
    est, plain = template_fluxes(clean, np.ones(3))[0, 0], aperture_fluxes(clean, SCALE, (3.0,))[0, 0, 0]
    assert est < 0.95 * plain  # the narrower shared shape reads band 0 low
    blank = -np.abs(galaxies(1))
    np.testing.assert_allclose(template_fluxes(blank, np.ones(3)), aperture_fluxes(blank, SCALE, (3.0,))[..., 0])
    with pytest.raises(ValueError, match="imgs"):
        shape_prior(torch.from_numpy(clean[0]), torch.ones(3), SCALE)


def test_shape_prior_keeps_a_shared_shape_and_a_far_neighbour_and_pulls_a_gradient_toward_the_coadd():
    clean = galaxies(1)
    same = shape_prior(torch.from_numpy(clean), torch.ones(3), SCALE, keep=0.0).numpy()
    np.testing.assert_allclose(same, clean, atol=1e-9 * clean.max())  # nothing to correct
    wide = clean.copy()
    wide[:, 0] = 100.0 * gaussian_weight(64, SCALE, 1.5)  # band 0 wider than the shared shape
    neighbour = np.zeros_like(wide)
    neighbour[:, :, 2, 2] = 50.0  # a corner source, beyond twice the radius (3") from the centre
    out = shape_prior(torch.from_numpy(wide + neighbour), torch.ones(3), SCALE, keep=0.5).numpy()
    assert out[0, 0, 2, 2] == 50.0 + wide[0, 0, 2, 2]
    inner = [aperture_fluxes(v[:, :1], SCALE, (1.0,))[0, 0, 0] for v in (wide, out)]
    assert inner[1] > inner[0]  # band 0 pulled toward the narrower shared shape: more flux within 1"
    np.testing.assert_array_equal(shape_prior(torch.from_numpy(wide), torch.ones(3), SCALE, keep=1.0).numpy(), wide)
