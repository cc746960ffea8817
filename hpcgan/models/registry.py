"""String-keyed model registry: ``(kind, name) -> factory(cfg: ModelCfg, **kwargs) -> nn.Module``.

Each network file registers its factories explicitly::

    @register("generator", "paper")
    def _paper_generator(cfg, direction): ...

    g = build("generator", cfg.model, direction="xy")   # name from cfg.model.generator

``build`` takes the name from the config field of the same kind (``generator`` ->
``cfg.generator``, ``discriminator`` -> ``cfg.discriminator``) or ``"paper"`` for the kinds that have
one implementation (autoencoder, noise_emulator), unless ``name=`` is given.
"""
from __future__ import annotations

from typing import Any, Callable

from hpcgan.config.schema import MODEL_NAMES

REG: dict[tuple[str, str], Callable[..., Any]] = {}


def register(kind: str, name: str) -> Callable:
    """Decorator: register a factory under (kind, name); a second registration of the same key raises, and
    so does a configurable kind's name missing from the config's list (hpcgan.config.schema.MODEL_NAMES)."""
    if kind in MODEL_NAMES and name not in MODEL_NAMES[kind]:
        raise KeyError(f"model registry: {kind} {name!r} is not in hpcgan/config/schema.py MODEL_NAMES[{kind!r}]: "
                       "add it there (the config's choices)")

    def deco(fn: Callable) -> Callable:
        if (kind, name) in REG:
            raise KeyError(f"model registry: ({kind!r}, {name!r}) is already registered by {REG[(kind, name)].__module__}")
        REG[(kind, name)] = fn
        return fn
    return deco


def known(kind: str | None = None) -> list[str]:
    """Registered names of one kind (or 'kind/name' for all kinds)."""
    if kind is None:
        return sorted(f"{k}/{n}" for k, n in REG)
    return sorted(n for k, n in REG if k == kind)


def build(kind: str, cfg: Any, name: str | None = None, **kwargs: Any) -> Any:
    """Build the network ``kind`` named by ``cfg`` (a ModelCfg) or by ``name``; unknown names list the known ones."""
    if name is None:
        name = getattr(cfg, kind, "paper") if kind in ("generator", "discriminator") else "paper"
    try:
        fn = REG[(kind, name)]
    except KeyError:
        kinds = sorted({k for k, _ in REG})
        if kind not in kinds:
            raise KeyError(f"model registry: unknown kind {kind!r}; known kinds: {', '.join(kinds)}") from None
        raise KeyError(f"model registry: unknown {kind} {name!r}; known: {', '.join(known(kind))}") from None
    return fn(cfg, **kwargs)
