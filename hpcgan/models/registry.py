"""String-keyed model registry: ``(kind, name) -> constructor`` taking plain arguments.

Each network file registers its constructor explicitly::

    @register("generator", "unet")
    class UNetGenerator(nn.Module): ...

The constructors of one kind share their arguments (:func:`hpcgan.models.factory.build_models`, the
one factory, unpacks the model section into them); a configurable kind's name (``model.generator``,
``model.discriminator``) must be one of the config's choices, ``MODEL_NAMES``.
"""
from __future__ import annotations

from typing import Any, Callable

from hpcgan.config.schema import MODEL_NAMES

REG: dict[tuple[str, str], Callable[..., Any]] = {}


def register(kind: str, name: str) -> Callable:
    """Decorator: register a constructor under (kind, name); a second registration of the same key raises, and
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
