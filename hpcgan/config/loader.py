"""Load YAML configs into the typed schema, apply ``key.sub=value`` overrides, validate, save.

Every error is a :class:`ConfigError` whose message starts with the dotted key and says what is
allowed, e.g. ``train.lr: must be > 0, got -1.0``; nan and inf are refused for every float knob
(``train.lr: must be a finite number, got nan``).
"""
from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path
from typing import Any, Iterable, Literal, Union

import yaml

from hpcgan.config.errors import ConfigError
from hpcgan.config.geometry import check_networks
from hpcgan.config.schema import Config
from hpcgan.config.variants import RECIPES
from hpcgan.utils.atomic import digest

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def resolve_path(name: str | Path) -> Path:
    """A config path, or a bare name looked up in the repository's ``configs/`` (``demo`` -> configs/demo.yaml)."""
    p = Path(name)
    if p.is_file():
        return p
    for cand in (CONFIG_DIR / p, CONFIG_DIR / f"{p}.yaml", CONFIG_DIR / "variants" / f"{p}.yaml"):
        if cand.is_file():
            return cand
    known = sorted(str(q.relative_to(CONFIG_DIR)) for q in CONFIG_DIR.rglob("*.yaml"))
    raise ConfigError(f"config: no file {name!r}; known configs: {', '.join(known)}")


def yaml_problem(path: Path | str, e: yaml.YAMLError) -> str:
    """One line for a YAML error: ``file:line:column: invalid YAML: problem`` (PyYAML's is 5-10 lines)."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    context = getattr(e, "context", None)
    return f"{where}: invalid YAML: {problem}" + (f" ({context})" if context else "")


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """Read one YAML file, following its optional ``base:`` (a path relative to the file)."""
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"base: cycle of config files: {' -> '.join(map(str, seen + (path,)))}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"config: {yaml_problem(path, e)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config: {path} must hold a mapping of sections, got {type(data).__name__}")
    base = data.pop("base", None)
    if base is None:
        return data
    base_path = (path.parent / base) if not Path(base).is_absolute() else Path(base)
    if not base_path.is_file():
        base_path = resolve_path(base)
    return merge(_read_yaml(base_path, seen + (path,)), data)


def merge(a: dict, b: dict) -> dict:
    """Deep merge: values of ``b`` win; nested mappings merge key by key."""
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_override(text: str) -> dict:
    """``train.lr=2e-4`` -> ``{'train': {'lr': 0.0002}}`` (the value is read as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key.sub=value")
    key, _, raw = text.partition("=")
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"override {text!r}: empty key part")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    out: dict = {}
    cur = out
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
    return out


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        return "a list of " + _describe(typing.get_args(tp)[0])
    if dataclasses.is_dataclass(tp):
        return "a mapping with keys " + ", ".join(f.name for f in dataclasses.fields(tp))
    return getattr(tp, "__name__", str(tp))


def _cast(key: str, tp: Any, value: Any) -> Any:
    """Cast a YAML value to the annotated type, or raise ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    bad = ConfigError(f"{key}: expected {_describe(tp)}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise bad
        return build(tp, value, key)
    if origin is Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _cast(key, args[0], value)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise bad
        return value
    if origin is tuple:
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        if not isinstance(value, (list, tuple)):
            raise bad
        return tuple(_cast(f"{key}[{i}]", typing.get_args(tp)[0], v) for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise bad
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads '3e-4' (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise bad from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise bad
        return str(value)
    return value


def _check_range(key: str, f: dataclasses.Field, value: Any) -> None:
    """Refuse nan and inf in every float knob (inf only where the field's metadata has ``allow_inf``),
    then the field's ``min``/``max``."""
    if isinstance(value, float) and not math.isfinite(value) and not (
            math.isinf(value) and f.metadata.get("allow_inf", False)):
        raise ConfigError(f"{key}: must be a finite number, got {value!r}")
    lo, hi, lo_open = f.metadata.get("min"), f.metadata.get("max"), f.metadata.get("lo_open", False)
    if value is None or (lo is None and hi is None):
        return
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ConfigError(f"{key}: must be {'>' if lo_open else '>='} {lo}, got {value!r}")
    if hi is not None and value > hi:
        raise ConfigError(f"{key}: must be <= {hi}, got {value!r}")


def build(cls: type, data: dict, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a (partial) mapping; missing keys keep their defaults."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if k not in fields:
            raise ConfigError(f"{key}: unknown key; allowed: {', '.join(fields)}")
        f = fields[k]
        if dataclasses.is_dataclass(hints[k]) and isinstance(v, dict):
            default = f.default if f.default is not dataclasses.MISSING else hints[k]()
            v = build(hints[k], merge(to_dict(default), v), key)
        kwargs[k] = _cast(key, hints[k], v)
        _check_range(key, f, kwargs[k])
    return cls(**kwargs)


def to_dict(obj: Any) -> Any:
    """Dataclass -> plain mapping (tuples become lists) for YAML/JSON."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def band_values(entries: Iterable[str], key: str) -> dict[str, float]:
    """``("u=0.75", ...)`` -> ``{"u": 0.75}``: per-band values in 0..1; a malformed entry is a ConfigError naming
    ``key``."""
    out = {}
    for e in entries:
        band, _, value = str(e).partition("=")
        try:
            v = float(value)
        except ValueError:
            v = math.nan
        if not band.strip() or not 0.0 <= v <= 1.0:
            raise ConfigError(f"{key}: {e!r} is not band=value with a value in 0..1 (e.g. u=0.75)")
        out[band.strip()] = v
    return out


def validate(cfg: Config) -> Config:
    """Cross-field rules that no single field can check."""
    for side in ("x", "y"):
        s = getattr(cfg.data, side)
        if len(set(s.bands)) != len(s.bands):
            raise ConfigError(f"data.{side}.bands: duplicate band in {list(s.bands)}")
    check_networks(cfg)  # bands and stamp sizes the networks can map (docs/models.md, "Geometry")
    k = cfg.model.residual_kernel
    if k and (k < 3 or k % 2 == 0):
        raise ConfigError(f"model.residual_kernel: an odd size >= 3 (source pixels), or 0 = none; got {k}")
    if cfg.simulate.mag_min >= cfg.simulate.mag_max:
        raise ConfigError(f"simulate.mag_min: must be < simulate.mag_max ({cfg.simulate.mag_max}), got {cfg.simulate.mag_min}")
    if cfg.preprocess.wcs_scale_min_arcsec >= cfg.preprocess.wcs_scale_max_arcsec:
        raise ConfigError(f"preprocess.wcs_scale_min_arcsec: must be < preprocess.wcs_scale_max_arcsec "
                          f"({cfg.preprocess.wcs_scale_max_arcsec}), got {cfg.preprocess.wcs_scale_min_arcsec}")
    for side in ("x", "y"):
        ps, pc = getattr(cfg.data, side).pixel_scale, cfg.preprocess
        if not pc.wcs_scale_min_arcsec <= ps <= pc.wcs_scale_max_arcsec:
            raise ConfigError(f"data.{side}.pixel_scale: {ps} is outside preprocess.wcs_scale_min_arcsec.."
                              f"wcs_scale_max_arcsec ({pc.wcs_scale_min_arcsec}..{pc.wcs_scale_max_arcsec}); widen them")
    steps = RECIPES[cfg.train.variant].steps()
    if cfg.train.step not in steps:
        why = "is single-step" if steps == (1,) else "trains no noise emulator, it has only step 2"
        raise ConfigError(f"train.step: variant {cfg.train.variant!r} {why}; allowed: {', '.join(map(str, steps))}")
    for side in ("x", "y"):
        bands = getattr(cfg.data, side).bands
        for b in cfg.train.flux_loss_bands:
            if b not in bands:
                raise ConfigError(f"train.flux_loss_bands: {b!r} is not a band of data.{side}; allowed: {', '.join(bands)}")
    band_values(cfg.baseline.shape_prior_keep_bands, "baseline.shape_prior_keep_bands")
    for sig in cfg.train.stop_signals:
        if sig not in ("SIGTERM", "SIGUSR1", "SIGUSR2", "SIGINT", "SIGHUP"):
            raise ConfigError(f"train.stop_signals: {sig!r} not allowed; allowed: SIGTERM, SIGUSR1, SIGUSR2, SIGINT, SIGHUP")
    return cfg


def load_config(paths: Iterable[str | Path] | str | Path | None = None, overrides: Iterable[str] = ()) -> Config:
    """Load and merge config files (later ones win), then ``key.sub=value`` overrides; validate."""
    if paths is None:
        paths = []
    elif isinstance(paths, (str, Path)):
        paths = [paths]
    data: dict = {}
    for p in paths:
        data = merge(data, _read_yaml(resolve_path(p)))
    for o in overrides:
        data = merge(data, parse_override(o))
    return validate(build(Config, data))


def dump_config(cfg: Config) -> str:
    """The resolved config as YAML text."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def config_hash(cfg: Config, sections: Iterable[str] | None = None) -> str:
    """A short stable hash of the config (or of some sections), for provenance and resume checks."""
    d = to_dict(cfg)
    if sections is not None:
        d = {s: d[s] for s in sections}
    return digest(d)


def save_config(cfg: Config, directory: str | Path, name: str = "config.yaml") -> Path:
    """Write the resolved config next to a stage's outputs (atomically)."""
    from hpcgan.utils.atomic import atomic_write_text

    path = Path(directory) / name
    atomic_write_text(path, dump_config(cfg))
    return path
