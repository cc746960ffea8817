"""Sampling of the sky scene of one stamp: the central galaxy, optional neighbours and stars, RA/Dec.

Everything is a pure function of a ``numpy.random.Generator`` so a scene is reproducible from
(seed, stream, index) alone (see :func:`scene_rng`). Magnitudes are AB, sizes (half-light radii) in
arcsec, position angles in degrees counter-clockwise from the image +x axis (west, as the stamps are
north up, east left), offsets from the stamp centre (east, north) in arcsec.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hpcgan.config import SimulateCfg

BANDS_ALL = ("u", "g", "r", "i", "z")

# Colours (band - r) at z = 0 and their change per unit redshift; bulges are redder than disks.
_BULGE_COLOUR = {"u": 2.55, "g": 0.78, "r": 0.0, "i": -0.40, "z": -0.72}
_DISK_COLOUR = {"u": 1.55, "g": 0.45, "r": 0.0, "i": -0.25, "z": -0.42}
_REDDENING = {"u": 1.8, "g": 1.0, "r": 0.0, "i": -0.3, "z": -0.5}
_COLOUR_SCATTER = 0.08

RA_RANGE = (-50.0, 60.0)  # a Stripe-82-like patch (RA wraps through 0)
DEC_RANGE = (-1.25, 1.25)
COUNT_SLOPE = 0.5  # dN/dm ~ 10**(COUNT_SLOPE * m)
BULGE_TRUNC = 7.0  # de Vaucouleurs truncated at 7 half-light radii (as SDSS model fits); flux stays total
SERSIC_N = 4.0


@dataclass(frozen=True)
class Component:
    """One light profile: a Sersic-like galaxy part or a star (``kind == 'star'``)."""
    kind: str  # 'bulge' (de Vaucouleurs), 'disk' (exponential) or 'star'
    hlr: float  # arcsec (0 for stars)
    q: float  # axis ratio b/a
    beta_deg: float  # position angle, counter-clockwise from the image +x axis (west)
    east: float  # offset from the stamp centre, arcsec
    north: float
    mags: dict[str, float]  # AB magnitude per band


@dataclass(frozen=True)
class Scene:
    """All light in one stamp; the central galaxy is ``central`` (its bulge and disk)."""
    ra: float
    dec: float
    mag_r: float  # central galaxy, total r-band AB magnitude
    hlr: float  # central disk half-light radius, arcsec
    bulge_hlr: float
    q: float
    beta_deg: float
    bulge_frac: float  # r-band bulge-to-total flux ratio
    redshift: float
    central: tuple[Component, ...]
    others: tuple[Component, ...]  # neighbours and stars

    @property
    def n_neighbours(self) -> int:
        return sum(c.kind != "star" for c in self.others)

    @property
    def n_stars(self) -> int:
        return sum(c.kind == "star" for c in self.others)

    def central_mag(self, band: str) -> float:
        """Total AB magnitude of the central galaxy in ``band``."""
        return -2.5 * math.log10(sum(10.0 ** (-0.4 * c.mags[band]) for c in self.central))


def scene_rng(seed: int, stream: int, index: int) -> np.random.Generator:
    """The generator of the scene of object ``index`` of ``stream`` (0 paired, 1 unpaired X, 2 unpaired Y)."""
    return np.random.default_rng(np.random.SeedSequence([seed, stream, index, 0]))


def sample_mag(rng: np.random.Generator, lo: float, hi: float, slope: float = COUNT_SLOPE) -> float:
    """A magnitude in [lo, hi] from rising number counts dN/dm ~ 10**(slope*m) (inverse CDF)."""
    a, b = 10.0 ** (slope * lo), 10.0 ** (slope * hi)
    return math.log10(a + rng.random() * (b - a)) / slope


def sample_hlr(rng: np.random.Generator, mag_r: float) -> float:
    """Disk half-light radius (arcsec): log-normal, median 1.2" at r = 17, larger when brighter."""
    med = 1.2 * 10.0 ** (-0.12 * (mag_r - 17.0))
    return float(np.clip(med * math.exp(0.3 * rng.standard_normal()), 0.3, 5.0))


def _colour_mags(rng: np.random.Generator, mag_r: float, table: dict[str, float], z: float) -> dict[str, float]:
    return {b: mag_r + table[b] + _REDDENING[b] * z + (0.0 if b == "r" else _COLOUR_SCATTER * rng.standard_normal())
            for b in BANDS_ALL}


def _split_mag(mag: float, frac: float) -> float:
    """Magnitude of a fraction ``frac`` of the light of a source of magnitude ``mag``."""
    return mag - 2.5 * math.log10(frac)


def sample_central(rng: np.random.Generator, cfg: SimulateCfg) -> dict:
    """Parameters of the central galaxy (a mapping of Scene fields)."""
    mag_r = sample_mag(rng, cfg.mag_min, cfg.mag_max)
    z = float(np.clip(0.1 * 10.0 ** (0.2 * (mag_r - 17.5)) * math.exp(0.25 * rng.standard_normal()), 0.005, 0.8))
    hlr = sample_hlr(rng, mag_r)
    early = rng.random() < 0.3
    bt = float(rng.uniform(0.6, 0.95) if early else rng.beta(1.2, 4.0))
    bt = min(max(bt, 0.02), 0.98)
    q = float(rng.uniform(0.55, 0.95) if early else rng.uniform(0.2, 0.95))
    beta = float(rng.uniform(0.0, 180.0))
    bulge_hlr = hlr * float(rng.uniform(0.3, 0.6)) if not early else hlr * float(rng.uniform(0.6, 0.9))
    bulge_q = max(q, float(rng.uniform(0.6, 0.95)))
    bulge = Component("bulge", bulge_hlr, bulge_q, beta, 0.0, 0.0,
                      _colour_mags(rng, _split_mag(mag_r, bt), _BULGE_COLOUR, z))
    disk = Component("disk", hlr, q, beta, 0.0, 0.0, _colour_mags(rng, _split_mag(mag_r, 1.0 - bt), _DISK_COLOUR, z))
    return dict(mag_r=mag_r, hlr=hlr, bulge_hlr=bulge_hlr, q=q, beta_deg=beta, bulge_frac=bt, redshift=z,
                central=(bulge, disk))


def _offset(rng: np.random.Generator, rmin: float, rmax: float) -> tuple[float, float]:
    r, phi = rng.uniform(rmin, rmax), rng.uniform(0.0, 2.0 * math.pi)
    return float(r * math.cos(phi)), float(r * math.sin(phi))


def sample_neighbour(rng: np.random.Generator, mag_central: float) -> Component:
    """A fainter galaxy 3-11 arcsec away: one exponential or de Vaucouleurs profile."""
    mag_r = float(rng.uniform(mag_central + 0.5, max(mag_central + 1.0, 21.5)))
    early = rng.random() < 0.3
    z = 0.1 * 10.0 ** (0.2 * (mag_r - 17.5))
    hlr = sample_hlr(rng, mag_r) * (0.6 if early else 1.0)
    east, north = _offset(rng, 3.0, 11.0)
    return Component("bulge" if early else "disk", hlr, float(rng.uniform(0.3, 0.95)), float(rng.uniform(0, 180)),
                     east, north, _colour_mags(rng, mag_r, _BULGE_COLOUR if early else _DISK_COLOUR, z))


def sample_star(rng: np.random.Generator) -> Component:
    """A point source 4-11 arcsec away with main-sequence-like colours."""
    mag_r = float(rng.uniform(15.0, 21.5))
    gr = float(rng.uniform(0.2, 1.4))
    mags = {"u": mag_r + gr + 0.8 + 1.2 * gr, "g": mag_r + gr, "r": mag_r,
            "i": mag_r - (0.45 * gr - 0.05), "z": mag_r - (0.75 * gr - 0.05)}
    east, north = _offset(rng, 4.0, 11.0)
    return Component("star", 0.0, 1.0, 0.0, east, north, mags)


def sample_scene(cfg: SimulateCfg, stream: int, index: int) -> Scene:
    """The scene of object ``index`` of ``stream``; identical on every rank and every run."""
    rng = scene_rng(cfg.seed, stream, index)
    ra = float(rng.uniform(*RA_RANGE)) % 360.0
    dec = float(rng.uniform(*DEC_RANGE))
    c = sample_central(rng, cfg)
    others: list[Component] = []
    if rng.random() < cfg.neighbour_prob:
        for _ in range(1 if rng.random() < 0.7 else 2):
            others.append(sample_neighbour(rng, c["mag_r"]))
    if rng.random() < cfg.star_prob:
        others.append(sample_star(rng))
    return Scene(ra=ra, dec=dec, others=tuple(others), **c)
