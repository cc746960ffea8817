"""Config integrity (#16): auto values resolved into config.yaml, resume against the allow-list
(a changed train.lr applied for real and logged, anything else refused naming the key), knobs
without effect named, the variant list and model names in one place, progress bars off a TTY."""
from __future__ import annotations

import logging
import sys
import typing

import pytest
import torch
import yaml

from hpcgan.config import load_config
from hpcgan.config.integrity import MAY_CHANGE_ON_RESUME, resolve_auto, resume_changes
from hpcgan.config.loader import ConfigError, to_dict
from hpcgan.config.schema import MODEL_NAMES, ModelCfg, TrainCfg
from hpcgan.config.variants import RECIPES
from hpcgan.io import checkpoint as ckpt
from hpcgan.kernels.dispatch import triton_available
from hpcgan.log import progress
from hpcgan.stages import ignored
from hpcgan.train.trainer import run
from tests.test_train import streams_for
from tests.tiny_data import TINY as TINY_DATA

TINY = [*TINY_DATA, "dist.backend=auto", "train.device=auto", "kernels.impl=auto"]
# what auto resolves to here: (device, kernels)
RESOLVED = ("cuda", "triton" if triton_available() else "torch") if torch.cuda.is_available() else ("cpu", "torch")


def tiny(tmp_path, *sets):
    return load_config("default", [*TINY, f"train.run_dir={tmp_path}", *sets])


def test_resume_applies_a_changed_lr_and_saves_what_ran(tmp_path, caplog):
    rd = tmp_path / "run"
    cfg = tiny(tmp_path, "train.iters=2", "train.lr=1e-4")
    run(cfg, rd, streams=streams_for(cfg))
    saved = yaml.safe_load((rd / "config.yaml").read_text())
    assert (saved["dist"]["backend"], saved["train"]["device"], saved["kernels"]["impl"]) == ("none", *RESOLVED)
    cfg2 = tiny(tmp_path, "train.iters=3", "train.lr=5e-4")
    with caplog.at_level(logging.INFO):
        assert run(cfg2, rd, streams=streams_for(cfg2)).iteration == 3
    log = caplog.text
    assert "resume: train.lr changed: checkpoint 0.0001, now 0.0005 (applied)" in log
    assert "resume: train.iters changed" in log and "base LR 0.0001 (checkpoint) -> 0.0005" in log
    state = ckpt.load(ckpt.latest(rd))
    for name, opt in state["optims"].items():  # Adam and the schedule ran at the new rate
        assert [g["lr"] for g in opt["param_groups"]] == pytest.approx([5e-4] * len(opt["param_groups"])), name
        assert state["scheds"][name]["base_lrs"] == pytest.approx([5e-4] * len(opt["param_groups"]))
    saved = yaml.safe_load((rd / "config.yaml").read_text())
    assert saved["train"]["lr"] == 5e-4 and saved["train"]["iters"] == 3  # config.yaml: what ran
    assert yaml.safe_load(state["config_yaml"])["train"]["lr"] == 5e-4


def test_resume_refuses_a_change_off_the_allow_list(tmp_path):
    rd = tmp_path / "run"
    cfg = tiny(tmp_path, "train.iters=1")
    run(cfg, rd, streams=streams_for(cfg))
    bad = tiny(tmp_path, "train.iters=2", "train.adam_beta1=0.5", "data.batch_size=3")
    with pytest.raises(ckpt.CheckpointError) as e:
        run(bad, rd, streams=streams_for(bad))
    msg = str(e.value)
    assert "cannot resume" in msg and "train.adam_beta1: checkpoint 0.9, now 0.5" in msg
    assert "data.batch_size: checkpoint 2, now 3" in msg and "train.iters" not in msg.split("may not change")[0]


def test_resume_allows_a_change_to_a_knob_the_step_does_not_read(tmp_path, caplog):
    """A step-2 knob added after step 1 finished (train.fit_gain_on, read by generators only) does not
    block the finished step 1 from being found again; a knob step 1 reads still refuses."""
    rd = tmp_path / "run"
    cfg = tiny(tmp_path, "train.step=1", "train.iters=1")
    run(cfg, rd, streams=streams_for(cfg))
    later = tiny(tmp_path, "train.step=1", "train.iters=1", "train.fit_gain_on=aperture_flux")
    with caplog.at_level(logging.INFO):
        assert run(later, rd, streams=streams_for(later)).iteration == 1
    assert "resume: train.fit_gain_on changed: checkpoint 'pixels', now 'aperture_flux'" in caplog.text
    bad = tiny(tmp_path, "train.step=1", "train.iters=1", "train.fit_gain_on=aperture_flux", "model.width=0.25")
    with pytest.raises(ckpt.CheckpointError, match="model.width: checkpoint 0.125, now 0.25") as e:
        run(bad, rd, streams=streams_for(bad))
    assert "fit_gain_on" not in str(e.value)


def test_resume_changes_pure():
    cfg = load_config(None, ["train.lr=2e-4", "evaluate.out=elsewhere"])
    saved = to_dict(load_config(None))
    del saved["train"]["eval_count"]  # a knob the checkpoint predates takes its default
    assert {k for k, _, _ in resume_changes(saved, cfg)} == {"train.lr", "evaluate.out"}
    saved["model"]["nope"] = 1
    with pytest.raises(ConfigError, match="does not load in this version: model.nope: unknown key"):
        resume_changes(saved, cfg)
    assert all(k.split(".")[0] in to_dict(cfg) for k in MAY_CHANGE_ON_RESUME)


def test_auto_resolved_once_explicit_kept():
    cfg = load_config(None, ["kernels.impl=torch"])
    r = resolve_auto(cfg, {"dist.backend": "torch", "train.device": "cuda", "kernels.impl": "triton"})
    assert (r.dist.backend, r.train.device, r.kernels.impl) == ("torch", "cuda", "torch")
    with pytest.raises(KeyError, match="not an auto knob"):
        resolve_auto(cfg, {"train.lr": 1})


def test_knobs_without_effect_are_named(tmp_path, caplog):
    cfg = load_config(None, ["model.discriminator=patchgan", "dist.backward_passes_per_step=2", "dist.backend=torch"])
    lines = ignored(cfg, "step1")
    assert any(s.startswith("model.discriminator='patchgan' has no effect in step1 of variant ours") for s in lines)
    assert any(s.startswith("dist.backward_passes_per_step=2 has no effect in step1") and "only horovod" in s
               for s in lines)
    auto = load_config(None, ["model.discriminator=patchgan", "train.variant=auto"])
    assert any("model.discriminator" in s and "variant auto" in s for s in ignored(auto, "step1"))
    bench = load_config(None, ["model.discriminator=patchgan", "train.variant=cyclegan"])
    assert not any("model.discriminator" in s for s in ignored(bench, "step1"))
    assert ignored(load_config(None), "step1") == [] and ignored(cfg, "simulate") == []
    tr = load_config(None, ["translate.method=model", "baseline.add_noise=true"])
    assert ignored(tr, "translate") == ["baseline.add_noise=True has no effect in translate --method model: "
                                          "only --method resample"]
    # the trainer warns at its start
    c = tiny(tmp_path, "train.iters=1", "model.discriminator=patchgan")
    with caplog.at_level(logging.WARNING):
        run(c, tmp_path / "w", streams=streams_for(c))
    assert "model.discriminator='patchgan' has no effect in step1 of variant ours" in caplog.text


def test_one_variant_list_and_one_model_name_list():
    assert typing.get_args(typing.get_type_hints(TrainCfg)["variant"]) == tuple(RECIPES)
    hints = typing.get_type_hints(ModelCfg)
    from hpcgan.models import known

    for kind, names in MODEL_NAMES.items():
        assert typing.get_args(hints[kind]) == names and sorted(names) == known(kind)
    from hpcgan.models.registry import register

    with pytest.raises(KeyError, match="MODEL_NAMES"):
        register("generator", "not_listed")


def test_progress_only_on_rank0_tty(monkeypatch):
    assert progress(range(3), 3, "x").disable  # pytest's stderr is not a terminal
    assert list(progress(range(3), 3, "x")) == [0, 1, 2]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert progress(range(3), 3, "x", rank=1).disable
    bar = progress(None, 5, "x", rank=0)
    assert not bar.disable
    bar.close()


def test_translate_start_resolves_and_saves(tmp_path, caplog):
    from hpcgan.dist.comm import Comm
    from hpcgan.translate.run import start

    cfg = load_config(None, [f"translate.out={tmp_path}", "translate.method=model", "baseline.psf_match=false"])
    with caplog.at_level(logging.WARNING):
        done = start(cfg, Comm())
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert (done.translate.device, done.kernels.impl) == RESOLVED == (saved["translate"]["device"],
                                                                    saved["kernels"]["impl"])
    assert "baseline.psf_match=False has no effect in translate --method model" in caplog.text
