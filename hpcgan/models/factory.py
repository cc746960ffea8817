"""The one factory: the networks of a run from the model section (``model``), plain arguments below it.

    nets = build_models(cfg.model, {"ae_x": Net("autoencoder", bands=5), "g_xy": Net("generator", direction="xy")},
                        cfg.data, impl="torch", baseline=cfg.baseline)

A :class:`Net` names what to build: its kind, its name (None: ``model.generator`` / ``model.discriminator``
for those kinds, ``paper`` for the others), its band count (autoencoder, noise emulator, discriminator) or
its direction (generator: ``xy`` or ``yx``, sized from the surveys ``data``, :mod:`hpcgan.config.geometry`).
``impl`` is the kernel implementation the stage chose once (:func:`hpcgan.kernels.dispatch.impl_for`);
``baseline`` feeds the residual generator's strong base. Networks are built in the order of ``nets``, which
fixes their initial weights for a seed. :data:`READS` lists the model knobs each network takes (the stages
derive the knobs they ignore from it; tests/test_models.py checks it against what this factory reads).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import torch.nn as nn

from hpcgan.config.schema import MODEL_NAMES, BaselineCfg, DataCfg, ModelCfg
from hpcgan.models.generator import surveys
from hpcgan.models.layers import ch
from hpcgan.models.registry import REG, known

ModelKnobs = Callable[[ModelCfg], tuple[str, ...]]


@dataclass(frozen=True)
class Net:
    """One network to build (see module docstring)."""

    kind: str
    name: str | None = None
    bands: int = 5
    direction: str = "xy"


def net_name(model: ModelCfg, net: Net) -> str:
    """The registered name ``net`` is built under."""
    if net.name is not None:
        return net.name
    return getattr(model, net.kind) if net.kind in MODEL_NAMES else "paper"


def _residual_reads(model: ModelCfg) -> tuple[str, ...]:
    return (("width", "bias_init", "residual_body", "residual_base", "residual_kernel", "residual_zero_sky",
             "residual_filter_bins")
            + (("residual_kernel_lr_mult",) if model.residual_kernel else ())
            + (("residual_filter_stamps",) if model.residual_filter_bins else ()))


# the model knobs each (kind, name) reads, as ``build_models`` below unpacks them
READS: dict[tuple[str, str], tuple[str, ...] | ModelKnobs] = {
    ("autoencoder", "paper"): ("width", "bias_init", "out_activation"),
    ("noise_emulator", "paper"): ("width", "ne_hidden", "ne_kernel_size", "bias_init", "ne_amp_bias_init", "ne_space"),
    ("discriminator", "paper"): ("width", "bias_init", "disc_band_reduce"),
    ("discriminator", "patchgan"): ("width", "bias_init"),
    **{("generator", n): ("width", "bias_init", "out_activation") for n in ("paper", "unet", "resnet6")},
    ("generator", "residual"): _residual_reads,
}


def model_knobs(model: ModelCfg, nets: Mapping[str, Net]) -> set[str]:
    """The ``model.*`` knobs that building ``nets`` takes (the name knob of a kind chosen by the config too)."""
    out: set[str] = set()
    for net in nets.values():
        name = net_name(model, net)
        reads = READS[(net.kind, name)]
        out |= set(reads(model) if callable(reads) else reads)
        out |= {net.kind} if net.name is None and net.kind in MODEL_NAMES else set()
    return {f"model.{k}" for k in out}


def _constructor(kind: str, name: str) -> Callable[..., nn.Module]:
    try:
        return REG[(kind, name)]
    except KeyError:
        kinds = sorted({k for k, _ in REG})
        if kind not in kinds:
            raise KeyError(f"model registry: unknown kind {kind!r}; known kinds: {', '.join(kinds)}") from None
        raise KeyError(f"model registry: unknown {kind} {name!r}; known: {', '.join(known(kind))}") from None


def build_models(model: ModelCfg, nets: Mapping[str, Net], data: DataCfg | None = None, impl: str = "auto",
                 baseline: BaselineCfg | None = None) -> dict[str, nn.Module]:
    """``{prefix: network}`` for ``nets`` (see module docstring); ``data`` None: the default surveys (the
    residual generator needs them given)."""
    out: dict[str, nn.Module] = {}
    for prefix, net in nets.items():
        name = net_name(model, net)
        make = _constructor(net.kind, name)
        if net.kind == "generator":
            residual = name == "residual"
            if residual and data is None:
                raise ValueError("model.generator=residual needs the survey geometry: build_models(..., data=cfg.data)")
            body = _constructor("generator", model.residual_body) if residual else make
            plan, cin, cout = surveys(data, net.direction)
            g = body(plan, cin, cout, model.width, model.bias_init, out_act=not residual and model.out_activation == "lrelu")
            out[prefix] = make(g, model, data, net.direction, baseline) if residual else g
        elif net.kind == "discriminator":
            extra = {"reduce": model.disc_band_reduce, "impl": impl} if name == "paper" else {}
            out[prefix] = make(net.bands, model.width, model.bias_init, **extra)
        elif net.kind == "noise_emulator":
            out[prefix] = make(net.bands, ch(model.ne_hidden, model.width), model.ne_kernel_size, model.bias_init,
                               impl, model.ne_amp_bias_init, model.ne_space,
                               (data or DataCfg()).pixel_transform)
        else:  # autoencoder
            out[prefix] = make(net.bands, model.width, model.bias_init, model.out_activation == "lrelu")
    return out


def build(kind: str, model: ModelCfg, name: str | None = None, *, bands: int = 5, direction: str = "xy",
          data: DataCfg | None = None, impl: str = "auto", baseline: BaselineCfg | None = None) -> nn.Module:
    """One network: :func:`build_models` of one :class:`Net` (benchmarks, tests)."""
    return build_models(model, {kind: Net(kind, name, bands, direction)}, data, impl, baseline)[kind]
