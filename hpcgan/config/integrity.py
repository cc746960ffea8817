"""Config integrity: the saved config is the one that ran.

* :func:`resolve_auto`: a stage replaces the ``auto`` values it decided (:data:`AUTO_KEYS`: the
  backend, the device, the kernel implementation) once at its start, before saving ``config.yaml``.
* :func:`resume_changes`: a resumed run compares its whole resolved config with the checkpoint's;
  a key outside :data:`MAY_CHANGE_ON_RESUME` refuses, naming it, unless the stage ignores it
  (:func:`ignored_knobs`: a step-2 knob added after step 1 finished); the allowed changes are returned
  for the caller to log (and apply: ``train.lr`` reaches Adam and the LR schedule on load,
  :meth:`hpcgan.train.phase.Phase.load_state_dict`).
* :func:`no_effect`: knobs set away from their default that the stage (and variant) ignores, one
  line each naming the knob and the stage (one config file serves every stage, so these warn). It is
  derived from the stage's own declaration of the :class:`Part` s of the config it takes (next to the
  stage: :func:`hpcgan.train.trainer.sections`, :func:`hpcgan.translate.run.sections`; the registry,
  :func:`hpcgan.stages.ignored`, finds them by stage name).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

from hpcgan.config.loader import ConfigError, build, to_dict
from hpcgan.config.schema import Config

AUTO_KEYS = ("dist.backend", "train.device", "translate.device", "kernels.impl")

# keys a resumed training run may change (a trailing dot: the whole section). The other stages'
# sections do not change what is trained; the rest of train.* are cadences, paths and limits.
MAY_CHANGE_ON_RESUME = (
    "simulate.", "preprocess.", "translate.", "baseline.", "evaluate.",
    "data.shards", "data.num_workers",
    "train.run_dir", "train.init_from", "train.iters", "train.lr", "train.ckpt_every", "train.log_every",
    "train.sample_every", "train.sample_count", "train.keep_checkpoints", "train.max_nonfinite_steps",
    "train.stop_signals", "train.tensorboard", "train.eval_every", "train.eval_count", "train.device",
    "train.compile",
    "dist.backend", "dist.timeout_s", "kernels.impl",
)


def flat(d: Mapping, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``{'train': {'lr': 1}}`` -> ``('train.lr', 1)``, ..."""
    for k, v in d.items():
        if isinstance(v, Mapping):
            yield from flat(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def replace_key(cfg: Any, key: str, value: Any) -> Any:
    """``cfg`` with the dotted ``key`` set to ``value`` (frozen dataclasses, copied along the path)."""
    head, _, rest = key.partition(".")
    return dataclasses.replace(cfg, **{head: replace_key(getattr(cfg, head), rest, value) if rest else value})


def get_key(cfg: Any, key: str) -> Any:
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def resolve_auto(cfg: Config, decided: Mapping[str, str]) -> Config:
    """``cfg`` with each key of :data:`AUTO_KEYS` that is ``auto`` set to what the stage ``decided``."""
    for key, value in decided.items():
        if key not in AUTO_KEYS:
            raise KeyError(f"{key}: not an auto knob; auto knobs: {', '.join(AUTO_KEYS)}")
        if get_key(cfg, key) == "auto":
            cfg = replace_key(cfg, key, value)
    return cfg


def may_change(key: str) -> bool:
    return any(key == a or (a.endswith(".") and key.startswith(a)) for a in MAY_CHANGE_ON_RESUME)


def resume_changes(saved: Mapping, cfg: Config, ignored: frozenset[str] = frozenset()) -> list[tuple[str, Any, Any]]:
    """``(key, saved, now)`` for each key that differs between the checkpoint's config (``saved``, a
    mapping; knobs it lacks take their defaults) and this run's; ConfigError naming every key that
    may not change. Knobs in ``ignored`` (those this stage does not read, :func:`ignored_knobs`) may."""
    try:
        old = dict(flat(to_dict(build(Config, dict(saved)))))
    except ConfigError as e:
        raise ConfigError(f"the checkpoint's config does not load in this version: {e}") from None
    changes = [(k, old.get(k), v) for k, v in flat(to_dict(cfg)) if old.get(k) != v]
    refused = [c for c in changes if not may_change(c[0]) and c[0] not in ignored]
    if refused:
        what = "; ".join(f"{k}: checkpoint {a!r}, now {b!r}" for k, a, b in refused)
        raise ConfigError(f"{what}: may not change on resume (allowed: cadences, train.iters, train.lr, paths, "
                          "device/backend; docs/training.md 'Resume'); use the checkpoint's value or a new run dir")
    return changes


def _default(key: str) -> Any:
    return get_key(Config(), key)


@dataclass(frozen=True)
class Part:
    """A part of the config a stage takes: ``keys`` (whole sections, ``"translate"``, or knobs,
    ``"model.width"``) and whether this run takes it (``taken``); ``only`` says when it is taken (the
    warning's reason when it is not)."""

    keys: tuple[str, ...]
    taken: bool = True
    only: str = ""


def knobs(key: str) -> list[str]:
    """The knobs under ``key`` (a section, a sub-section or a knob), dotted."""
    v = get_key(Config(), key)
    return [f"{key}.{k}" for k, _ in flat(to_dict(v))] if dataclasses.is_dataclass(v) else [key]


def _decide(parts: Sequence[Part]) -> dict[str, tuple[int, bool, str]]:
    """knob -> (depth of the key that decided, taken, why not): the stage declares the ``parts`` of the
    config it takes (its sections, and the parts of them it takes only in some runs); a knob follows the
    most specific part that names it, taken if any such part is."""
    decide: dict[str, tuple[int, bool, str]] = {}  # knob -> (depth of the key that decided, taken, why not)
    for p in parts:
        for key in p.keys:
            depth = key.count(".")
            for k in knobs(key):
                d, taken, why = decide.get(k, (-1, False, ""))
                if depth > d:
                    decide[k] = (depth, p.taken, p.only)
                elif depth == d and not taken:
                    decide[k] = (depth, p.taken, why or p.only)
    return decide


def ignored_knobs(parts: Sequence[Part]) -> frozenset[str]:
    """The knobs of the declared ``parts`` that this run does not take."""
    return frozenset(k for k, (_, taken, _) in _decide(parts).items() if not taken)


def no_effect(cfg: Config, what: str, parts: Sequence[Part]) -> list[str]:
    """One line per knob set away from its default that the stage ignores (for a warning), from the
    ``parts`` it declares (:func:`_decide`); ``what`` names the stage and its variant in the lines."""
    return [f"{k}={get_key(cfg, k)!r} has no effect in {what}: {why}" for k, (_, taken, why) in _decide(parts).items()
            if not taken and get_key(cfg, k) != _default(k)]
