"""Config loading, overrides, and every error path."""
from __future__ import annotations

import argparse

import pytest

from hpcgan import cli
from hpcgan.config import Config, ConfigError, config_hash, dump_config, load_config, parse_override
from hpcgan.config.loader import CONFIG_DIR, resolve_path
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
    ("model.generator=foo", "model.generator: expected one of 'paper', 'unet', 'resnet6', 'residual', got 'foo'"),
    ("train.lr=-1", "train.lr: must be > 0.0"),
    ("train.lr=abc", "train.lr: expected float"),
    ("data.batch_size=abc", "data.batch_size: expected int"),
    ("data.batch_size=0", "data.batch_size: must be >= 1"),
    ("data.augment=maybe", "data.augment: expected bool"),
    ("simulate.neighbour_prob=1.5", "simulate.neighbour_prob: must be <= 1.0"),
    ("data.x.bands=[]", "data.x.bands: the networks need at least one band"),
    ("data.x.bands=[u,g,r,r,z]", "data.x.bands: duplicate band"),
    ("simulate.mag_min=30", "simulate.mag_min: must be < simulate.mag_max"),
    ("train.flux_loss_bands=[r,q]", "train.flux_loss_bands: 'q' is not a band of data.x; allowed: u, g, r, i, z"),
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
    with pytest.raises(ConfigError, match="invalid YAML"):
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


# ---- issue 15: non-finite values, malformed YAML, overrides after flags -----------------------------
@pytest.mark.parametrize("override", ["train.lr=nan", "train.lr=inf", "train.lr=-inf", "train.lr=.nan",
                                      "train.clip_norm=nan", "train.clip_norm=.inf", "model.bias_init=nan",
                                      "translate.magzp=inf", "data.x.pixel_scale=nan"])
def test_nan_and_inf_are_refused_naming_the_key(override):
    key, _, raw = override.partition("=")
    with pytest.raises(ConfigError) as e:
        load_config("default", [override])
    assert str(e.value).startswith(f"{key}: must be a finite number, got ")
    assert "\n" not in str(e.value)


def test_inf_only_where_the_schema_allows_it():
    import dataclasses

    from hpcgan.config.loader import _check_range
    from hpcgan.config.schema import rng

    @dataclasses.dataclass
    class K:
        a: float = rng(0.0, None, allow_inf=True, default=1.0)

    f = dataclasses.fields(K)[0]
    _check_range("k.a", f, float("inf"))
    with pytest.raises(ConfigError, match="k.a: must be a finite number, got nan"):
        _check_range("k.a", f, float("nan"))


@pytest.mark.parametrize("text,where,problem", [
    ("train:\n  lr: 1e-3\n  iters: [1, 2\nmodel:\n  width: 1\n", ":4:6:", "expected ',' or ']'"),
    ("train:\n  lr: 1e-3\n   iters: 3\n", ":3:9:", "mapping values are not allowed here"),
    ("train:\n\tlr: 1\n", ":2:1:", "found character '\\t' that cannot start any token"),
])
def test_malformed_yaml_is_one_line_with_file_line_column(tmp_path, text, where, problem):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(bad)
    msg = str(e.value)
    assert msg.startswith(f"config: {bad}{where} invalid YAML: ") and problem in msg and "\n" not in msg
    p = run_cmd(hpcgan_cmd("config", "-c", str(bad)), check=False)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and where in p.stderr


def test_overrides_may_follow_flags():
    p = argparse.ArgumentParser()
    cli.add_config_args(p)
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--step", type=int)
    a = p.parse_args(["train.lr=1e-3", "--dry-run", "train.iters=3", "--step", "2", "data.limit=4", "-c", "demo"])
    assert a.overrides == ["train.lr=1e-3", "train.iters=3", "data.limit=4"] and a.dry_run and a.step == 2
    assert a.config == ["demo"]


@pytest.mark.parametrize("stage", ["simulate", "preprocess", "train", "translate", "evaluate"])
def test_every_stage_takes_overrides_after_flags(stage, capsys):
    """`hpcgan train --dry-run train.iters=3` was "unrecognized arguments" (issue 15)."""
    assert cli.main([stage, "--dry-run", "train.iters=3", "-c", "demo", "train.lr=3e-4"]) == 0
    out = capsys.readouterr().out
    assert "  iters: 3\n" in out and "  lr: 0.0003\n" in out


@pytest.mark.parametrize("name", sorted(str(p.relative_to(CONFIG_DIR)) for p in CONFIG_DIR.rglob("*.yaml")))
def test_every_named_config_loads_on_the_default(name):
    """configs/*.yaml and configs/variants/*.yaml: each loads and validates, alone on the default (layered
    as the docs say: ``-c default -c <name>``)."""
    cfg = load_config(["default", name], [])
    assert cfg.train.variant


def test_shape_prior_keep_bands_are_band_equals_value():
    cfg = load_config(["default"], ["baseline.shape_prior_keep_bands=[u=0.9, g=0.4]"])
    assert cfg.baseline.shape_prior_keep_bands == ("u=0.9", "g=0.4")
    for bad in ("[u]", "[u=1.5]", "[=0.5]"):
        with pytest.raises(ConfigError, match=r"baseline.shape_prior_keep_bands: .* is not band=value"):
            load_config(["default"], [f"baseline.shape_prior_keep_bands={bad}"])
