"""GalSim rendering of one scene in one survey: PSF, pixel integration, per-band fluxes, sky noise.

Speed: every light component (central bulge, central disk, each neighbour and star) is drawn ONCE
per survey, at unit flux, through the object's sharpest band PSF; each band is then the flux-weighted
sum of those images, broadened by a small Gaussian (exact flux-conserving multiplication in Fourier
space) from the sharpest band's seeing to that band's. The effective PSF of band b is
``base_psf (x) Gaussian``; the Gaussian's width comes from a per-PSF-shape calibration table
(:func:`broadening_fwhm`), so its FWHM equals the band's seeing (``PSFFWHM``) to ~0.1%.

Determinism: the observing conditions and the noise come from :func:`render_rng` (seed, stream,
object index, survey), so any rank renders any stamp bit-identically. A stamp is rendered once,
noise-free (:func:`render_clean`, the ground-truth twin of a paired stamp), and the noise is added
to that same render (:func:`add_noise`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import galsim
import numpy as np

from hpcgan.astro.noise_power import sky_noise
from hpcgan.astro.psf import FWHM_TO_SIGMA, broadening_fwhm, gaussian_broaden, psf_profile
from hpcgan.astro.surveys import SurveySpec
from hpcgan.simulate.galaxies import BULGE_TRUNC, Component, Scene


@dataclass(frozen=True)
class Observation:
    """Conditions of one stamp: per-band PSF FWHM (arcsec), PSF ellipticity, sky sigma (pixel units)."""
    fwhm: tuple[float, ...]
    e1: float
    e2: float
    sky_sigma: tuple[float, ...]

    @property
    def base_fwhm(self) -> float:
        return min(self.fwhm)


def render_rng(seed: int, stream: int, index: int, side: str) -> np.random.Generator:
    """The generator of the conditions and noise of one object in survey ``side`` ('x' or 'y')."""
    return np.random.default_rng(np.random.SeedSequence([seed, stream, index, 1 if side == "x" else 2]))


def observe(spec: SurveySpec, rng: np.random.Generator) -> Observation:
    """Draw the seeing (log-normal per object, plus a little per band) and the PSF ellipticity."""
    common = math.exp(spec.seeing_jitter * rng.standard_normal())
    fwhm = tuple(b.psf_fwhm * common * math.exp(spec.band_jitter * rng.standard_normal()) for b in spec.bands)
    e1, e2 = (float(v) for v in spec.psf_shear * rng.standard_normal(2))
    # The sky sigma is the survey's nominal one: the depth is defined at nominal seeing.
    return Observation(fwhm=fwhm, e1=e1, e2=e2, sky_sigma=tuple(b.sky_sigma for b in spec.bands))


def make_psf(spec: SurveySpec, fwhm: float, e1: float = 0.0, e2: float = 0.0) -> galsim.GSObject:
    """The survey's PSF shape at ``fwhm`` arcsec, slightly elliptical."""
    psf = psf_profile(spec.psf_kind, spec.psf_beta, fwhm)
    return psf.shear(g1=e1, g2=e2) if (e1 or e2) else psf


def make_profile(c: Component) -> galsim.GSObject | None:
    """Unit-flux GalSim profile of a galaxy component at its offset; None for a star."""
    if c.kind == "star":
        return None
    if c.kind == "bulge":
        prof = galsim.DeVaucouleurs(half_light_radius=c.hlr, trunc=BULGE_TRUNC * c.hlr, flux_untruncated=False)
    elif c.kind == "disk":
        prof = galsim.Exponential(half_light_radius=c.hlr)
    else:
        raise ValueError(f"component kind: unknown {c.kind!r}; allowed: bulge, disk, star")
    return prof.shear(q=c.q, beta=c.beta_deg * galsim.degrees)


def draw_components(scene: Scene, spec: SurveySpec, obs: Observation) -> np.ndarray:
    """Unit-flux images (ncomp, ny, nx) of every component through the base PSF, pixel-integrated."""
    psf = make_psf(spec, obs.base_fwhm, obs.e1, obs.e2)
    n = spec.stamp_size
    out = np.empty((len(scene.central) + len(scene.others), n, n))
    for k, c in enumerate(scene.central + scene.others):
        prof = make_profile(c)
        obj = psf if prof is None else galsim.Convolve(prof, psf)
        # north up, east left: +east is -x on the image
        obj = obj.shift(-c.east, c.north)
        img = galsim.ImageD(n, n, scale=spec.pixel_scale)
        obj.drawImage(image=img, method="auto")  # centred on the stamp's true centre, (n+1)/2 (1-based)
        out[k] = img.array
    return out


def band_fluxes(scene: Scene, spec: SurveySpec) -> np.ndarray:
    """(nband, ncomp) fluxes in the survey's pixel units."""
    comps = scene.central + scene.others
    return np.array([[spec.flux(c.mags[b.name]) for c in comps] for b in spec.bands])


def render_clean(scene: Scene, spec: SurveySpec, obs: Observation) -> np.ndarray:
    """The noise-free stamp of ``scene`` in ``spec``: float64 array (nband, ny, nx) in pixel units."""
    comps = draw_components(scene, spec, obs)
    fluxes = band_fluxes(scene, spec)
    base = obs.base_fwhm
    out = np.empty((len(spec.bands), spec.stamp_size, spec.stamp_size))
    for i in range(len(spec.bands)):
        extra = broadening_fwhm(spec.psf_kind, spec.psf_beta, base, obs.fwhm[i]) * FWHM_TO_SIGMA / spec.pixel_scale
        out[i] = gaussian_broaden(np.tensordot(fluxes[i], comps, axes=1), extra)
    return out


def add_noise(clean: np.ndarray, spec: SurveySpec, obs: Observation, rng: np.random.Generator) -> np.ndarray:
    """``clean`` + sky noise, band by band, as float32 (the noise is additive: ``noisy - clean`` is it).

    ``rng`` must be the generator :func:`observe` was called with (the noise continues its stream).
    """
    shape = clean.shape[1:]
    out = np.empty(clean.shape, dtype=np.float32)
    for i in range(len(spec.bands)):
        out[i] = clean[i] + sky_noise(shape, obs.sky_sigma[i], spec.corr_noise_w, rng)
    return out
