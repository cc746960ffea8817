"""Per-survey, per-band observing specifications of the simulated SDSS / CFHT pair.

Stamp geometry (size, pixel scale, band names) and units (``bunit``, ``magzp``) come from ``data.x`` /
``data.y`` of the config; the observing conditions (seeing, depth) are the survey's own and live in
the tables below.
Sky noise per pixel is derived from a 5-sigma point-source depth and the seeing, so the numbers stay
self-consistent when the pixel scale changes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from hpcgan.config import Config, ConfigError, SurveyCfg


@dataclass(frozen=True)
class BandSpec:
    """One band of one survey: nominal seeing, sky noise per pixel (pixel units)."""
    name: str
    psf_fwhm: float  # arcsec, median seeing
    depth5: float  # AB magnitude of a 5-sigma point source
    sky_sigma: float  # sky noise per pixel, in the survey's pixel units


@dataclass(frozen=True)
class SurveySpec:
    """One survey as the renderer sees it."""
    name: str
    side: str  # 'x' or 'y' (the config's domain)
    stamp_size: int  # pixels, square stamp (ny = nx)
    pixel_scale: float  # arcsec / px
    magzp: float  # AB magnitude of one pixel unit: flux = 10**(-0.4 * (mag - magzp))
    bunit: str
    psf_kind: str  # 'moffat' or 'kolmogorov'
    psf_beta: float  # Moffat beta (unused for Kolmogorov)
    seeing_jitter: float  # log-normal sigma of the per-object seeing factor (all bands)
    band_jitter: float  # log-normal sigma of the extra per-band factor
    psf_shear: float  # rms of each PSF ellipticity component (reduced shear)
    corr_noise_w: float  # 0 = white noise; else the side tap of the [w, 1-2w, w] resampling kernel
    bands: tuple[BandSpec, ...]

    def flux(self, mag: float) -> float:
        """Total flux in pixel units of an AB magnitude."""
        return 10.0 ** (-0.4 * (mag - self.magzp))


# Nominal seeing (arcsec FWHM) and 5-sigma point-source depths (AB): SDSS DR7-like single epoch,
# CFHTLS-Wide-like MegaCam stacks.
_SURVEY_TABLE: dict[str, dict] = {
    "sdss": dict(psf_kind="moffat", psf_beta=3.5, seeing_jitter=0.10,
                 band_jitter=0.03, psf_shear=0.02, corr_noise_w=0.0,
                 seeing={"u": 1.55, "g": 1.45, "r": 1.35, "i": 1.30, "z": 1.30},
                 depth5={"u": 22.0, "g": 22.2, "r": 22.2, "i": 21.3, "z": 20.5}),
    "cfht": dict(psf_kind="kolmogorov", psf_beta=0.0, seeing_jitter=0.10,
                 band_jitter=0.03, psf_shear=0.015, corr_noise_w=0.15,
                 seeing={"u": 0.85, "g": 0.78, "r": 0.70, "i": 0.65, "z": 0.68},
                 depth5={"u": 25.2, "g": 25.5, "r": 25.0, "i": 24.8, "z": 23.9}),
}


def sky_sigma(depth5: float, fwhm: float, pixel_scale: float, magzp: float) -> float:
    """Per-pixel sky sigma giving S/N = 5 for a point source of magnitude ``depth5``.

    Uses the noise-equivalent area of a Gaussian PSF, 4 pi sigma_psf**2 (in pixels).
    """
    sig_px = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0))) / pixel_scale
    nea = 4.0 * math.pi * sig_px ** 2
    return 10.0 ** (-0.4 * (depth5 - magzp)) / 5.0 / math.sqrt(nea)


def survey_spec(cfg: SurveyCfg, side: str) -> SurveySpec:
    """Build the spec of survey ``cfg.name`` with the geometry of ``cfg``."""
    key = f"data.{side}.name"
    if cfg.name not in _SURVEY_TABLE:
        raise ConfigError(f"{key}: no simulated survey {cfg.name!r}; known: {', '.join(_SURVEY_TABLE)}")
    t = _SURVEY_TABLE[cfg.name]
    bands = []
    for b in cfg.bands:
        if b not in t["seeing"]:
            raise ConfigError(f"data.{side}.bands: survey {cfg.name!r} has no band {b!r}; known: "
                              f"{', '.join(t['seeing'])}")
        bands.append(BandSpec(b, t["seeing"][b], t["depth5"][b],
                              sky_sigma(t["depth5"][b], t["seeing"][b], cfg.pixel_scale, cfg.magzp)))
    return SurveySpec(name=cfg.name, side=side, stamp_size=cfg.stamp_size, pixel_scale=cfg.pixel_scale,
                      magzp=cfg.magzp, bunit=cfg.bunit, psf_kind=t["psf_kind"], psf_beta=t["psf_beta"],
                      seeing_jitter=t["seeing_jitter"], band_jitter=t["band_jitter"], psf_shear=t["psf_shear"],
                      corr_noise_w=t["corr_noise_w"], bands=tuple(bands))


def survey_pair(cfg: Config) -> tuple[SurveySpec, SurveySpec]:
    """(X, Y) specs from ``data.x`` and ``data.y``; the two names must differ."""
    x, y = survey_spec(cfg.data.x, "x"), survey_spec(cfg.data.y, "y")
    if x.name == y.name:
        raise ConfigError(f"data.y.name: must differ from data.x.name, both are {x.name!r}")
    return x, y


def psf_shape(name: str) -> tuple[str, float]:
    """``(kind, beta)`` of survey ``name``'s PSF profile: the table's, else the documented fallback
    Moffat(3.5) (:data:`hpcgan.astro.psf.FALLBACK_KIND`)."""
    from hpcgan.astro.psf import FALLBACK_BETA, FALLBACK_KIND

    t = _SURVEY_TABLE.get(name)
    return (t["psf_kind"], t["psf_beta"]) if t else (FALLBACK_KIND, FALLBACK_BETA)
