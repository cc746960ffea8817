"""How the translation networks map one survey's stamps onto the other's (docs/models.md, "Geometry").

Sizes and bands come from ``data.x`` / ``data.y``; nothing is wired for 64 -> 136 or 5 bands. Of the
two architectures of the paper, the generator towards the larger stamp is the *up* kind (the paper's
G_xy) and the one towards the smaller the *down* kind (G_yx); with equal sizes G_xy is up.

- up, ``s -> t`` (``t >= s``): ``r = t // s``; the body runs at ``s``; symmetric pad to
  ``m = ceil(t / r)`` (``m - s`` pixels, half before, the odd one after); nearest resize ``m -> t``.
  64 -> 136: r 2, pad 2 + 2 to 68, x2.
- down, ``t -> s``: ``k = floor(log2(t / s))`` halvings bring ``t`` to ``L = ceil(t / 2**k)``; c5 VALID
  gives ``L - 4``; a centre fit to ``s``: crop (``L - 4 > s``) or symmetric pad, the odd pixel after.
  136 -> 64: k 1, 68, VALID 64, no fit.

A pair is refused (:func:`check_networks`, called by the config loader) when a fit would pad more than
the image it pads, and for bands: every survey needs one, and the residual generator's physical
baseline maps band to band (the same list on both sides).
"""
from __future__ import annotations

from dataclasses import dataclass

from hpcgan.config.errors import ConfigError
from hpcgan.config.schema import Config, DataCfg

RULE = ("the generators map s -> t by pad to ceil(t / (t // s)) + nearest resize (up) and t -> s by "
        "floor(log2(t / s)) halvings + c5 VALID + centre fit (down); a fit may pad at most the image it pads")


@dataclass(frozen=True)
class Resize:
    """One generator's size change ``src -> dst``: ``up`` (pad ``fit`` then resize to ``dst``) or down
    (``halvings`` poolings, c5 VALID, then ``fit``). ``fit`` = (before, after) pixels per side:
    positive pads (symmetric), negative crops."""
    src: int
    dst: int
    up: bool
    halvings: int = 0
    fit: tuple[int, int] = (0, 0)


def _split(n: int) -> tuple[int, int]:
    """``n`` pixels (pad > 0, crop < 0) as (before, after), the odd one after."""
    before = int(n / 2)
    return before, n - before


def _halved(n: int, k: int) -> int:
    """``n`` after ``k`` TF-'SAME' poolings (ceil)."""
    for _ in range(k):
        n = -(-n // 2)
    return n


def plan(src: int, dst: int, up: bool) -> Resize:
    """The :class:`Resize` of ``src -> dst``; ValueError stating the rule when it cannot map."""
    if up:
        m = -(-dst // (dst // src)) if dst >= src else -1
        res = Resize(src, dst, True, 0, _split(m - src))
        pre = src
    else:
        k = (src // dst).bit_length() - 1  # floor(log2(src / dst)); -1 when src < dst
        n = _halved(src, max(k, 0)) - 4
        res = Resize(src, dst, False, k, _split(dst - n))
        pre = n
    if (up and dst < src) or (not up and src < dst) or pre < 1 or max(res.fit) > pre:
        raise ValueError(f"{RULE}; {'up' if up else 'down'} {src} -> {dst} cannot")
    return res


def generator_plan(data: DataCfg, direction: str) -> Resize:
    """The resize of generator ``direction`` ('xy' or 'yx') for the surveys of ``data``."""
    s, t = data.x.stamp_size, data.y.stamp_size
    if direction == "xy":
        return plan(s, t, up=t >= s)
    if direction == "yx":
        return plan(t, s, up=s > t)
    raise ValueError(f"generator direction: expected 'xy' or 'yx', got {direction!r}")


def check_networks(cfg: Config) -> None:
    """Refuse (ConfigError, one line) a survey pair the networks cannot map."""
    for side in ("x", "y"):
        if not getattr(cfg.data, side).bands:
            raise ConfigError(f"data.{side}.bands: the networks need at least one band, got []")
    for d in ("xy", "yx"):
        try:
            generator_plan(cfg.data, d)
        except ValueError as e:
            raise ConfigError(f"data.y.stamp_size: {e} (data.x.stamp_size={cfg.data.x.stamp_size}, "
                              f"data.y.stamp_size={cfg.data.y.stamp_size})") from None
    x, y = cfg.data.x.bands, cfg.data.y.bands
    if cfg.model.generator == "residual" and tuple(x) != tuple(y):
        raise ConfigError(f"data.y.bands: model.generator=residual maps band to band (its physical baseline): "
                          f"data.x.bands and data.y.bands must be the same list, got {list(x)} and {list(y)}")
