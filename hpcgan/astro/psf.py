"""PSF models and PSF-matching kernels (photutils' Wiener-regularised Fourier ratio).

    k = matching_kernel(PsfModel("moffat", 3.5, 1.35, 0.396), PsfModel("kolmogorov", 0.0, 0.70, 0.187),
                        grid_scale=0.187, size=31)        # (31, 31), sums to 1

A :class:`PsfModel` is the survey's PSF profile (the simulator's: Moffat(beta) for SDSS, Kolmogorov for
CFHT; :mod:`hpcgan.astro.surveys`) at one FWHM, seen through the survey's own detector pixel. The
kernel maps an image of the source PSF, sampled on ``grid_scale`` pixels, to one of the target PSF on the
same grid: ``source (x) kernel = target``. Where the target is sharper (a deconvolution) the Wiener term
``regularization`` keeps the kernel finite (docs/evaluation.md, "The strong baseline").
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import galsim
import numpy as np

PSF_KINDS = ("moffat", "kolmogorov")
FALLBACK_KIND, FALLBACK_BETA = "moffat", 3.5  # a survey not in the table: Moffat(3.5) (docs/evaluation.md)
DRAW_SIZE = 127  # odd side (grid pixels) of the PSF images the kernels are computed from
FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def psf_profile(kind: str, beta: float, fwhm: float) -> galsim.GSObject:
    """A round PSF: Moffat(beta) or Kolmogorov, ``fwhm`` arcsec."""
    if kind == "moffat":
        return galsim.Moffat(beta=beta, fwhm=fwhm)
    if kind == "kolmogorov":
        return galsim.Kolmogorov(fwhm=fwhm)
    raise ValueError(f"psf_kind: unknown {kind!r}; allowed: {', '.join(PSF_KINDS)}")


def profile_fwhm(img: np.ndarray, scale: float) -> float:
    """FWHM of a round profile centred on the middle pixel of an odd-sized image (half-max crossing
    of the central row, linearly interpolated)."""
    n = img.shape[1]
    row = img[n // 2, n // 2:]
    half = row[0] / 2.0
    k = int(np.argmax(row < half))
    x = (k - 1) + (row[k - 1] - half) / (row[k - 1] - row[k])
    return 2.0 * x * scale


@lru_cache(maxsize=8)
def _broadening_table(kind: str, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """(g, r): the PSF of FWHM 1 convolved with a Gaussian of FWHM g has FWHM r (scale-free)."""
    n, scale = 161, 0.04
    img = psf_profile(kind, beta, 1.0).drawImage(nx=n, ny=n, scale=scale, method="no_pixel").array
    g = np.linspace(0.0, 2.5, 26)
    r = np.array([profile_fwhm(gaussian_broaden(img, gi * FWHM_TO_SIGMA / scale), scale) for gi in g])
    return g, r / r[0]


def broadening_fwhm(kind: str, beta: float, base: float, target: float) -> float:
    """FWHM (arcsec) of the Gaussian that takes the PSF ``kind`` (``beta``) from FWHM ``base`` to ``target``."""
    if target <= base:
        return 0.0
    g, r = _broadening_table(kind, beta)
    return base * float(np.interp(target / base, r, g))


def gaussian_broaden(img: np.ndarray, sigma_px: float) -> np.ndarray:
    """Convolve with a unit-sum Gaussian of ``sigma_px`` pixels (periodic; exact flux conservation)."""
    if sigma_px <= 0.0:
        return img
    ny, nx = img.shape
    ky = np.fft.fftfreq(ny)[:, None]
    kx = np.fft.rfftfreq(nx)[None, :]
    mtf = np.exp(-2.0 * math.pi ** 2 * sigma_px ** 2 * (kx ** 2 + ky ** 2))
    return np.fft.irfft2(np.fft.rfft2(img) * mtf, s=img.shape)


@dataclass(frozen=True)
class PsfModel:
    """A survey PSF: profile ``kind`` (``beta`` for Moffat), ``fwhm`` arcsec, detector ``pixel`` arcsec
    (0 = none). With ``base_fwhm`` < ``fwhm``: the profile at ``base_fwhm`` broadened by a Gaussian to
    ``fwhm`` (how the simulator makes each band's PSF from the stamp's sharpest one)."""
    kind: str
    beta: float
    fwhm: float
    pixel: float
    base_fwhm: float = 0.0

    def profile(self) -> galsim.GSObject:
        if 0 < self.base_fwhm < self.fwhm:
            g = broadening_fwhm(self.kind, self.beta, self.base_fwhm, self.fwhm)
            return galsim.Convolve(psf_profile(self.kind, self.beta, self.base_fwhm), galsim.Gaussian(fwhm=g))
        return psf_profile(self.kind, self.beta, self.fwhm)

    def image(self, grid_scale: float, size: int = DRAW_SIZE) -> np.ndarray:
        """Unit-sum ``(size, size)`` image of the PSF convolved with its detector pixel, sampled at the
        centres of ``grid_scale`` pixels (the surface brightness a resampled image of a point shows)."""
        obj = self.profile()
        if self.pixel > 0:  # 0: no detector pixel (a target reached by area-binning, which adds it)
            obj = galsim.Convolve(obj, galsim.Pixel(self.pixel))
        img = obj.drawImage(nx=size, ny=size, scale=grid_scale, method="no_pixel").array.astype(np.float64)
        return img / img.sum()


def quantize(fwhm: float, step: float = 0.005) -> float:
    """FWHM rounded to ``step`` arcsec: the kernel cache's key (0.4% of a 1.3" seeing)."""
    return round(round(fwhm / step) * step, 6)


@lru_cache(maxsize=4096)
def matching_kernel(src: PsfModel, dst: PsfModel, grid_scale: float, size: int,
                    regularization: float = 1e-3) -> np.ndarray:
    """``(size, size)`` unit-sum kernel taking ``src`` to ``dst`` on ``grid_scale`` pixels
    (:func:`photutils.psf_matching.make_wiener_kernel`, cropped to ``size`` and renormalised)."""
    from photutils.psf_matching import make_wiener_kernel

    if size % 2 == 0 or size > DRAW_SIZE:
        raise ValueError(f"baseline.kernel_size: an odd size <= {DRAW_SIZE}, got {size}")
    k = make_wiener_kernel(src.image(grid_scale), dst.image(grid_scale), regularization=regularization)
    c, h = DRAW_SIZE // 2, size // 2
    k = k[c - h:c + h + 1, c - h:c + h + 1]
    return k / k.sum()
