"""Config integrity: the saved config is the one that ran.

* :func:`resolve_auto`: a stage replaces the ``auto`` values it decided (:data:`AUTO_KEYS`: the
  backend, the device, the kernel implementation) once at its start, before saving ``config.yaml``.
* :func:`resume_changes`: a resumed run compares its whole resolved config with the checkpoint's;
  a key outside :data:`MAY_CHANGE_ON_RESUME` refuses, naming it; the allowed changes are returned
  for the caller to log (and apply: ``train.lr`` reaches Adam and the LR schedule on load,
  :meth:`hpcgan.train.phase.Phase.load_state_dict`).
* :func:`no_effect`: knobs set away from their default that the stage (and variant) ignores, one
  line each naming the knob and the stage (one config file serves every stage, so these warn).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterator, Mapping

from hpcgan.config.loader import ConfigError, build, to_dict
from hpcgan.config.schema import Config
from hpcgan.config.variants import RECIPES

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


def resume_changes(saved: Mapping, cfg: Config) -> list[tuple[str, Any, Any]]:
    """``(key, saved, now)`` for each key that differs between the checkpoint's config (``saved``, a
    mapping; knobs it lacks take their defaults) and this run's; ConfigError naming every key that
    may not change."""
    try:
        old = dict(flat(to_dict(build(Config, dict(saved)))))
    except ConfigError as e:
        raise ConfigError(f"the checkpoint's config does not load in this version: {e}") from None
    changes = [(k, old.get(k), v) for k, v in flat(to_dict(cfg)) if old.get(k) != v]
    refused = [c for c in changes if not may_change(c[0])]
    if refused:
        what = "; ".join(f"{k}: checkpoint {a!r}, now {b!r}" for k, a, b in refused)
        raise ConfigError(f"{what}: may not change on resume (allowed: cadences, train.iters, train.lr, paths, "
                          "device/backend; docs/training.md 'Resume'); use the checkpoint's value or a new run dir")
    return changes


def _default(key: str) -> Any:
    return get_key(Config(), key)


def no_effect(cfg: Config, stage: str) -> list[str]:
    """One line per knob set away from its default that ``stage`` ignores (for a warning).

    ``stage``: step1 / step2 (training, variant ``train.variant``) or translate; other stages: none."""
    rules: list[tuple[str, bool, str]] = []  # (key, ignored here?, why)
    if stage in ("step1", "step2"):
        r = RECIPES[cfg.train.variant]
        ae_step = stage == "step1" and not r.single_step  # step 1 of a two-step variant: autoencoders + NE + D
        what = f"{stage} of variant {cfg.train.variant}"
        rules += [
            ("model.discriminator", ae_step or not r.adversarial,
             "only the benchmark models (pix2pix, cyclegan) build it; the others use the paper's"),
            ("model.generator", ae_step, "step 1 trains autoencoders, no generator"),
            ("model.residual_body", ae_step or cfg.model.generator != "residual", "only model.generator=residual"),
            ("model.residual_kernel", ae_step or cfg.model.generator != "residual", "only model.generator=residual"),
            ("model.residual_base", ae_step or cfg.model.generator != "residual", "only model.generator=residual"),
            ("model.residual_zero_sky", ae_step or cfg.model.generator != "residual", "only model.generator=residual"),
            ("model.residual_kernel_lr_mult", ae_step or cfg.model.generator != "residual" or not cfg.model.residual_kernel,
             "only the matching kernel (model.residual_kernel > 0)"),
            ("train.adv_weight", ae_step or not r.adversarial, "only the benchmark models"),
            ("train.mse_weight", ae_step or not r.adversarial, "only the benchmark models"),
            ("train.flux_loss_weight", ae_step or not r.identity, "only the paired identity loss"),
            ("train.flux_loss_bands", ae_step or not r.identity or not cfg.train.flux_loss_weight,
             "only the flux term (train.flux_loss_weight > 0)"),
            ("train.init_from", ae_step or r.single_step or r.noise != "frozen",
             "only step 2 restores noise emulators"),
            ("model.ne_hidden", r.noise == "none", "this variant has no noise emulator"),
            ("model.ne_kernel_size", r.noise == "none", "this variant has no noise emulator"),
            ("model.ne_amp_bias_init", r.noise == "none" or cfg.model.ne_calibrate, "this variant has no noise "
             "emulator" if r.noise == "none" else "model.ne_calibrate sets the amplitude bias"),
            ("model.ne_calibrate", r.noise == "none" or (stage == "step2" and r.noise == "frozen"),
             "this variant has no noise emulator" if r.noise == "none" else "step 2 restores the noise emulators"),
            ("model.ne_lr_mult", r.noise == "none" or (stage == "step2" and r.noise == "frozen"),
             "this variant has no noise emulator" if r.noise == "none" else "step 2 restores the noise emulators"),
            ("dist.backward_passes_per_step", cfg.dist.backend != "horovod", f"only horovod ({cfg.dist.backend} here)"),
            ("dist.fp16_compression", cfg.dist.backend == "none", "one process: no gradient exchange"),
            ("train.amp", cfg.train.device == "cpu", "bf16 autocast runs on CUDA only"),
        ]
    elif stage == "translate":
        what = f"translate --method {cfg.translate.method}"
        model = cfg.translate.method == "model"
        rules += [("translate.checkpoint", not model, "the baseline uses no checkpoint"),
                  ("translate.compression_level", cfg.translate.compression != "gzip", "only translate.compression=gzip")]
        strong = cfg.baseline.pipeline == "strong"
        rules += [(k, model, "only --method resample") for k in ("baseline.pipeline", "baseline.add_noise")]
        rules += [(k, model or strong, "only --method resample with baseline.pipeline=naive")
                  for k in ("baseline.resample", "baseline.psf_match")]
        rules += [(k, model or not strong, "only --method resample with baseline.pipeline=strong")
                  for k in ("baseline.denoise", "baseline.denoise_scales", "baseline.denoise_k", "baseline.denoise_grow", "baseline.denoise_keep_arcsec",
                            "baseline.kernel_size", "baseline.regularization", "baseline.noise_kernel")]
    else:
        return []
    return [f"{key}={get_key(cfg, key)!r} has no effect in {what}: {why}" for key, ignored, why in rules
            if ignored and get_key(cfg, key) != _default(key)]
