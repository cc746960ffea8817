"""A survey's noise, measured on blank sky: power spectrum, the kernel that makes it, synthesis.

    kern = noise_kernel(blank_sky_power(stamps), size=7)   # stamps (N, C, n, n) -> (C, 7, 7)
    noise = synthesize(kern, (136, 136), rng)             # (C, 136, 136), the survey's noise power

:func:`blank_sky_power` averages the power spectra of the four corner patches of every stamp (side
``n // 4``), leaving out patches with a source (a pixel beyond ``CLIP`` robust sigma), scaled so that
its mean is the robust (1.4826 MAD) pixel variance: the noise power per pixel at each frequency of the
patch grid (white noise of std ``s``: ``s**2`` everywhere). :func:`noise_kernel` is the zero-phase square root of that spectrum in real space, cropped
to ``size``: white noise convolved with it has the measured spectrum (to the crop) and the measured
pixel variance. The same kernel seeds the noise emulators (:meth:`NoiseEmulator.calibrate`) and makes
the strong baseline's noise (``baseline.add_noise``), so both are checked against one measurement.
"""
from __future__ import annotations

import numpy as np

BACKGROUND_INNER = 0.75  # background annulus: d >= 0.75 * (n / 2) px from the stamp centre
CLIP = 5.0  # a patch with a pixel beyond CLIP robust sigma of its band holds a source: left out
MIN_PATCH = 4


def background_mask(size: int) -> np.ndarray:
    """Boolean ``(size, size)``: pixel centres at ``>= BACKGROUND_INNER * size / 2`` px from the centre."""
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2.0
    return np.hypot(xx, yy) >= BACKGROUND_INNER * size / 2


def sky_sigma(imgs: np.ndarray) -> np.ndarray:
    """Per-band sky noise of images ``(N, C, n, n)``: 1.4826 x the MAD of their background-annulus pixels
    about each stamp's own median (robust to the odd neighbour; on the simulated stamps within 3% of
    the true noise std)."""
    px = np.asarray(imgs, dtype=np.float64)[..., background_mask(imgs.shape[-1])]  # (N, C, P)
    dev = np.abs(px - np.median(px, axis=-1, keepdims=True))
    return 1.4826 * np.median(dev.transpose(1, 0, 2).reshape(px.shape[1], -1), axis=1)


def sky_noise(shape: tuple[int, int], sigma: float, w: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian sky noise of per-pixel std ``sigma``; ``w > 0`` correlates it over neighbouring pixels
    as resampling does (separable kernel [w, 1-2w, w], renormalised so the std stays ``sigma``)."""
    if w <= 0.0:
        return sigma * rng.standard_normal(shape)
    ny, nx = shape
    white = rng.standard_normal((ny + 2, nx + 2))
    k = np.array([w, 1.0 - 2.0 * w, w])
    rows = k[0] * white[:, :-2] + k[1] * white[:, 1:-1] + k[2] * white[:, 2:]
    both = k[0] * rows[:-2] + k[1] * rows[1:-1] + k[2] * rows[2:]
    return both * (sigma / float(np.sum(k ** 2)))


def corner_patches(stamps: np.ndarray) -> np.ndarray:
    """``(N, C, n, n)`` -> ``(4N, C, p, p)``: the four corner patches of side ``p = n // 4``."""
    n = stamps.shape[-1]
    p = n // 4
    if p < MIN_PATCH:
        raise ValueError(f"noise power: stamps of {n} px give corner patches under {MIN_PATCH} px")
    s = np.asarray(stamps, dtype=np.float64)
    return np.concatenate([s[..., :p, :p], s[..., :p, -p:], s[..., -p:, :p], s[..., -p:, -p:]])


def blank_sky_power(stamps: np.ndarray) -> np.ndarray:
    """``(C, p, p)`` mean noise power per pixel (unshifted FFT layout) of the stamps' blank corners."""
    patches = corner_patches(stamps)
    patches = patches - np.median(patches, axis=(-2, -1), keepdims=True)
    c = patches.shape[1]
    sig = 1.4826 * np.median(np.abs(patches.transpose(1, 0, 2, 3).reshape(c, -1)), axis=1)  # (C,)
    out = np.empty((c, *patches.shape[-2:]))
    for b in range(c):
        ok = np.abs(patches[:, b]).max(axis=(-2, -1)) <= CLIP * sig[b]
        use = patches[ok, b] if ok.sum() >= 4 else patches[:, b]
        use = use - use.mean(axis=(-2, -1), keepdims=True)
        out[b] = (np.abs(np.fft.fft2(use)) ** 2).mean(axis=0) / use[0].size
        # the mean removal empties k = 0: fill it from its neighbours (noise has power there too)
        out[b, 0, 0] = (out[b, 0, 1] + out[b, 1, 0] + out[b, 0, -1] + out[b, -1, 0]) / 4
        # the shape from the spectra, the level from the robust pixel variance (faint wings in a corner
        # raise the plain variance, not the MAD)
        out[b] *= (1.4826 * np.median(np.abs(use - np.median(use)))) ** 2 / out[b].mean()
    return out


def noise_kernel(power: np.ndarray, size: int = 7) -> np.ndarray:
    """``(C, size, size)`` real, centred kernels whose white-noise convolution has ``power`` (C, p, p),
    with the total variance ``mean(power)`` kept exactly (the crop's loss renormalised)."""
    if size % 2 == 0:
        raise ValueError(f"noise kernel size: odd, got {size}")
    amp = np.sqrt(np.maximum(power, 0.0))
    k = np.fft.fftshift(np.real(np.fft.ifft2(amp)), axes=(-2, -1)) * np.sqrt(power.shape[-1] * power.shape[-2])
    p = power.shape[-1]
    m = min(size, p if p % 2 else p - 1)  # odd, at most the patch: small stamps give a smaller kernel, padded
    c, h = p // 2, m // 2
    k = k[:, c - h:c + h + 1, c - h:c + h + 1]
    pad = (size - m) // 2
    k = np.pad(k, ((0, 0), (pad, pad), (pad, pad)))
    var = power.mean(axis=(-2, -1))
    return k * np.sqrt(var / np.maximum((k ** 2).sum(axis=(-2, -1)), 1e-300))[:, None, None]


def synthesize(kernel: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """``(C, H, W)`` noise: unit white noise convolved ('valid') with each band's kernel (C, k, k)."""
    from scipy.signal import fftconvolve

    c, k = kernel.shape[0], kernel.shape[-1]
    white = rng.standard_normal((c, shape[0] + k - 1, shape[1] + k - 1))
    return np.stack([fftconvolve(white[b], kernel[b], mode="valid") for b in range(c)])


def radial_bins(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(bin index per frequency pixel (unshifted FFT layout), bin centres ``k`` in cycles/px).

    ``|k| = sqrt(kx^2 + ky^2)`` with ``kx, ky`` from ``fftfreq(size)``; bins of width ``1/size`` centred
    on ``m/size``, ``m = 0 .. floor(size/2)`` (the corners beyond Nyquist, ``|k| > 0.5``, are left out).
    """
    f = np.fft.fftfreq(size)
    k = np.hypot(*np.meshgrid(f, f, indexing="ij"))
    m = np.rint(k * size).astype(np.int64)
    nb = size // 2 + 1
    m[m >= nb] = -1
    return m, np.arange(nb) / size


def radial_power(power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Azimuthal average of (unshifted) power maps ``(..., n, n)``: ``(k, P(k))`` with ``P (..., len(k))``."""
    m, k = radial_bins(power.shape[-1])
    ok = m >= 0
    c = np.bincount(m[ok], minlength=len(k))
    flat = power.reshape(-1, *power.shape[-2:])
    s = np.stack([np.bincount(m[ok], weights=p[ok], minlength=len(k)) for p in flat])
    return k, (s / np.maximum(c, 1)).reshape(*power.shape[:-2], len(k))


def radial_ratio(power: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per band, ``power / reference`` azimuthally averaged (:func:`radial_power`) in bins of ``|k|``
    (cycles/px) of the patch grid: ``(C, p//2 + 1)``; 1 where the spectra agree."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return radial_power(power)[1] / radial_power(reference)[1]
