"""Config loading, overrides, and every error path."""
from __future__ import annotations

import pytest

from hpcgan.config import ConfigError, Config, config_hash, dump_config, load_config, parse_override
from hpcgan.config.loader import resolve_path
from tests.conftest import hpcgan_cmd, run_cmd


def test_default_is_the_paper():
    cfg = load_config("default")
    assert cfg == Config()  # the YAML spells out the schema defaults
    assert cfg.train.lr == 1e-4 and cfg.train.iters == 60000 and cfg.train.clip_norm == 5.0
    assert cfg.data.batch_size == 24 and cfg.data.y.flux_scale == 0.001
    assert (cfg.data.x.stamp_size, cfg.data.y.stamp_size) == (64, 136)


def test_demo_inherits_default_and_overrides():
    cfg = load_config("demo")
    assert cfg.model.width == 0.25 and cfg.data.x.stamp_size == 64


def test_variant_layering():
    cfg = load_config(["demo", "auto"])
    assert cfg.train.variant == "auto" and cfg.model.width == 0.25


@pytest.mark.parametrize("override,key,value", [
    ("train.lr=2e-4", ("train", "lr"), 2e-4),
    ("train.iters=10", ("train", "iters"), 10),
    ("data.augment=false", ("data", "augment"), False),
    ("data.x.bands=[g,r,i,z,y]", ("data", "x"), None),
    ("model.generator=unet", ("model", "generator"), "unet"),
])
def test_overrides(override, key, value):
    cfg = load_config("default", [override])
    got = getattr(getattr(cfg, key[0]), key[1])
    if value is not None:
        assert got == value
    else:
        assert got.bands == ("g", "r", "i", "z", "y")


@pytest.mark.parametrize("override,message", [
    ("train.lrr=1", "train.lrr: unknown key; allowed: variant"),
    ("nosection.a=1", "nosection: unknown key; allowed: simulate"),
    ("model.generator=foo", "model.generator: expected one of 'paper', 'unet', 'resnet6', got 'foo'"),
    ("train.lr=-1", "train.lr: must be > 0.0"),
    ("train.lr=abc", "train.lr: expected float"),
    ("data.batch_size=abc", "data.batch_size: expected int"),
    ("data.batch_size=0", "data.batch_size: must be >= 1"),
    ("data.augment=maybe", "data.augment: expected bool"),
    ("simulate.neighbour_prob=1.5", "simulate.neighbour_prob: must be <= 1.0"),
    ("data.x.bands=[u,g]", "data.x.bands: the networks take 5 bands"),
    ("data.x.bands=[u,g,r,r,z]", "data.x.bands: duplicate band"),
    ("simulate.mag_min=30", "simulate.mag_min: must be < simulate.mag_max"),
    ("train.variant=cyclegan", None),
    ("data=3", "data: expected a mapping with keys shards"),
    ("novalue", "expected key.sub=value"),
])
def test_errors_name_the_key(override, message):
    if message is None:
        with pytest.raises(ConfigError, match="train.step: variant 'cyclegan' is single-step"):
            load_config("default", [override, "train.step=2"])
        return
    with pytest.raises(ConfigError) as e:
        load_config("default", [override])
    assert message in str(e.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="no file 'missing'; known configs: default.yaml"):
        resolve_path("missing")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(lst)
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("base: b.yaml\n")
    b.write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(a)


def test_base_relative_and_roundtrip(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text(f"base: {resolve_path('demo')}\ntrain:\n  iters: 7\n")
    cfg = load_config(child)
    assert cfg.train.iters == 7 and cfg.model.width == 0.25
    dumped = tmp_path / "dumped.yaml"
    dumped.write_text(dump_config(cfg))
    assert load_config(dumped) == cfg
    assert config_hash(load_config(dumped)) == config_hash(cfg)


def test_parse_override_nesting():
    assert parse_override("a.b.c=1") == {"a": {"b": {"c": 1}}}


def test_cli_reports_config_errors():
    p = run_cmd(hpcgan_cmd("config", "train.lrr=1"), check=False)
    assert p.returncode == 2
    assert "train.lrr: unknown key" in p.stderr
    p = run_cmd(hpcgan_cmd("nosuchstage"), check=False)
    assert p.returncode == 2 and "allowed: config, simulate" in p.stderr
    p = run_cmd(hpcgan_cmd("config", "-c", "demo", "train.iters=5"))
    assert "iters: 5" in p.stdout
