"""Training: each update lowers its loss, step 2 restores only (frozen) noise emulators, exact resume,
checkpoint errors, every variant, CLI. Tiny: 16 <-> 40 px stamps, width 0.125, batch 2, CPU."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

import hpcgan.dist
from hpcgan.config import ConfigError, load_config
from hpcgan.data.streams import TrainStreams
from hpcgan.io import checkpoint as ckpt
from hpcgan.train import cli as train_cli
from hpcgan.train.step2 import RECIPES
from hpcgan.train.trainer import build_phase, run, train
from tests.conftest import hpcgan_cmd, run_cmd
from tests.tiny_data import IMPL, arrays, read_metrics
from tests.tiny_data import TINY as TINY_DATA

TINY = [*TINY_DATA, "dist.backend=none"]
BENCH_MODELS = {"pix2pix": ["model.generator=unet", "model.discriminator=patchgan"],
                "cyclegan": ["model.generator=resnet6", "model.discriminator=patchgan"]}


def tiny_cfg(tmp_path: Path, *sets: str):
    return load_config("default", [*TINY, f"train.run_dir={tmp_path}", *sets])


def streams_for(cfg, seed: int = 0) -> TrainStreams:
    return TrainStreams.from_arrays(arrays(seed), cfg.data, seed=cfg.train.seed)


def fixed_batch(cfg, phase):
    return phase.to_device(next(streams_for(cfg).iterate(0)))


def drop(values: list[float]) -> bool:
    return np.mean(values[-3:]) < np.mean(values[:3])


# ---- every update lowers its own loss on a fixed batch ----------------------------------------------
def test_step1_each_update_lowers_its_loss(tmp_path):
    cfg = tiny_cfg(tmp_path, "train.lr=2e-3")
    torch.manual_seed(0)
    ph = build_phase(cfg, torch.device("cpu"), hpcgan.dist.init("none"))
    b = fixed_batch(cfg, ph)
    for s in ("x", "y"):
        ae = [float(ph.update_ae(s, b[s])[0]) for _ in range(15)]
        assert drop(ae), ae
        base = ph.nets[f"ae_{s}"](b[s]).detach()
        # fixed noise draws: the noise is keyed by ph.iteration (0 throughout), not by the RNG state
        d = [float(ph.update_d(s, b[s], base)[0]) for _ in range(15)]  # D alone against the current NE
        assert drop(d), d
        ne = [float(ph.update_ne(s, base)[0]) for _ in range(15)]  # NE alone against the now fixed D
        assert drop(ne), ne


def test_step2_generators_lower_cycle_and_identity(tmp_path):
    cfg = tiny_cfg(tmp_path, "train.step=2", "train.variant=no_noise", "train.lr=2e-3")
    torch.manual_seed(0)
    ph = build_phase(cfg, torch.device("cpu"), hpcgan.dist.init("none"))
    b = fixed_batch(cfg, ph)
    hist = [ph.train_step(b) for _ in range(15)]
    for k in ("loss/cycle_x", "loss/cycle_y", "loss/identity_x", "loss/identity_y", "loss/gen"):
        assert drop([float(h[k]) for h in hist]), k


# ---- training noise keyed by global sample index -----------------------------------------------------
def test_keyed_noise_depends_on_global_index_only(tmp_path):
    from hpcgan.train import noise

    key, shapes = dict(seed=3, iteration=7, tag="d/ne_x"), [(5,), (5, 4, 4)]
    a1, a2 = noise.keyed_normal(shapes, 4, 0, **key)  # one process, batch 4
    for r in range(2):  # two ranks, batch 2: rows [2r, 2r+2)
        b1, b2 = noise.keyed_normal(shapes, 2, 2 * r, **key)
        assert torch.equal(b1, a1[2 * r:2 * r + 2]) and torch.equal(b2, a2[2 * r:2 * r + 2])
    torch.manual_seed(123)  # the RNG state plays no part
    assert torch.equal(noise.keyed_normal(shapes, 4, 0, **key)[0], a1)
    for other in (dict(key, iteration=8), dict(key, tag="ne/ne_x"), dict(key, seed=4)):
        assert not torch.equal(noise.keyed_normal(shapes, 4, 0, **other)[0], a1), other
    assert abs(float(a2.mean())) < 0.2 and 0.8 < float(a2.std()) < 1.2
    # through a phase: the same sample gets the same noise at batch 2 (rank 1 of 2) and batch 4 (1 rank)
    cfg = tiny_cfg(tmp_path)
    ph = build_phase(cfg, torch.device("cpu"), hpcgan.dist.init("none"))
    base = torch.zeros(4, 5, 16, 16)
    ph.iteration = 5
    whole = ph.emulate("x", base, "d")

    class Rank1:
        rank, size = 1, 2

    ph.d = Rank1()
    # the draws are bit-identical (above); the NE's arithmetic on a batch of 2 vs 4 may round differently
    assert torch.allclose(ph.emulate("x", base[2:], "d"), whole[2:], rtol=1e-5, atol=1e-7)
    ph.iteration = 6
    assert not torch.allclose(ph.emulate("x", base[2:], "d"), whole[2:], rtol=1e-2)


# ---- step 2 restores only the noise emulators, frozen ----------------------------------------------
def test_step2_loads_only_frozen_noise_emulators(tmp_path):
    cfg1 = tiny_cfg(tmp_path, "train.iters=2")
    d1 = train(cfg1, streams=streams_for(cfg1))
    assert d1 == tmp_path / "ours-step1"
    s1 = ckpt.load(ckpt.latest(d1))
    assert set(s1["nets"]) == {"ae_x", "ae_y", "ne_x", "ne_y", "d_x", "d_y"}
    cfg2 = tiny_cfg(tmp_path, "train.step=2", "train.iters=2")  # init_from defaults to <run_dir>/ours-step1
    d2 = train(cfg2, streams=streams_for(cfg2))
    s2 = ckpt.load(ckpt.latest(d2))
    assert set(s2["nets"]) == {"g_xy", "g_yx", "ne_x", "ne_y"} and set(s2["optims"]) == {"gen"}
    for k in ("ne_x", "ne_y"):  # restored and unchanged by step 2
        for name, t in s1["nets"][k].items():
            assert torch.equal(t, s2["nets"][k][name]), (k, name)
    ph = build_phase(cfg2, torch.device("cpu"), hpcgan.dist.init("none"))
    assert ph.frozen == {"ne_x", "ne_y"}
    assert not any(p.requires_grad for k in ("ne_x", "ne_y") for p in ph.nets[k].parameters())
    # explicit init_from as a file; a step-2 checkpoint is refused as a source of noise emulators
    cfg3 = tiny_cfg(tmp_path, "train.step=2", "train.iters=1", f"train.init_from={ckpt.latest(d2)}")
    with pytest.raises(ckpt.CheckpointError, match="not a step-1 run"):
        run(cfg3, tmp_path / "other", streams=streams_for(cfg3))


def test_step2_without_step1_is_a_clear_error(tmp_path):
    cfg = tiny_cfg(tmp_path, "train.step=2", "train.iters=1")
    with pytest.raises(ckpt.CheckpointError, match="init_from"):
        run(cfg, streams=streams_for(cfg))


# ---- exact resume ------------------------------------------------------------------------------------
class SignalAt:
    """Streams wrapper that sends SIGUSR1 to this process while serving iteration ``at`` (a 'kill')."""

    def __init__(self, inner, at: int):
        self.inner, self.at = inner, at

    def iterate(self, start_iter: int = 0):
        for i, b in enumerate(self.inner.iterate(start_iter), start_iter):
            if i == self.at:
                os.kill(os.getpid(), signal.SIGUSR1)
            yield b


def _all_state(run_dir: Path) -> dict:
    s = ckpt.load(ckpt.latest(run_dir))
    return {"nets": s["nets"], "optims": s["optims"], "scheds": s["scheds"], "iteration": s["iteration"]}


def _assert_same(a, b, path=""):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b)):
            _assert_same(u, v, f"{path}[{i}]")
    else:
        assert a == b, path


def test_exact_resume_after_signal(tmp_path):
    sets = ("train.iters=4", "train.lr_decay_every=3", "train.keep_checkpoints=5")  # LR decays mid-run
    cfg = tiny_cfg(tmp_path, *sets)
    straight = run(cfg, tmp_path / "straight", streams=streams_for(cfg))
    assert straight.iteration == 4 and not straight.interrupted
    first = run(cfg, tmp_path / "resumed", streams=SignalAt(streams_for(cfg), at=1))
    assert first.interrupted and first.iteration == 2  # signal during iteration 2 -> checkpoint at 2
    with open(tmp_path / "resumed" / "metrics.jsonl", "a") as f:  # as if a killed run had logged past the checkpoint
        f.write(json.dumps({"iter": 3, "loss/ae_x": -1.0}) + "\n")
    again = run(cfg, tmp_path / "resumed", streams=streams_for(cfg))
    assert again.iteration == 4 and not again.interrupted
    _assert_same(_all_state(tmp_path / "straight"), _all_state(tmp_path / "resumed"))
    assert [i for i, _ in ckpt.list_checkpoints(tmp_path / "resumed")] == [2, 4]
    its = [m["iter"] for m in read_metrics(tmp_path / "resumed")]
    assert its == [1, 2, 3, 4] and all(m.get("loss/ae_x", 0) >= 0 for m in read_metrics(tmp_path / "resumed"))
    mtime = ckpt.latest(tmp_path / "resumed").stat().st_mtime_ns
    assert run(cfg, tmp_path / "resumed", streams=streams_for(cfg)).iteration == 4  # finished: nothing to do
    assert ckpt.latest(tmp_path / "resumed").stat().st_mtime_ns == mtime


# ---- checkpoint files ----------------------------------------------------------------------------------
def test_checkpoint_corrupt_mismatch_keep_last(tmp_path):
    cfg = tiny_cfg(tmp_path, "train.iters=3", "train.ckpt_every=1", "train.keep_checkpoints=2")
    rd = train(cfg, streams=streams_for(cfg))
    assert [i for i, _ in ckpt.list_checkpoints(rd)] == [2, 3]
    p = ckpt.latest(rd)
    state = torch.load(p, weights_only=True)  # only tensors and primitive containers
    assert state["iteration"] == 3 and state["phase"] == "ours-step1" and "rng" in state
    assert "model:" in state["config_yaml"]
    # a mismatched config (model.width) is refused with the key named
    cfg_w = tiny_cfg(tmp_path, "train.iters=4", "model.width=0.25")
    with pytest.raises(ckpt.CheckpointError, match="model.width"):
        run(cfg_w, rd, streams=streams_for(cfg_w))
    # flipping one byte is caught by the checksum
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    p.write_bytes(bytes(raw))
    cfg4 = tiny_cfg(tmp_path, "train.iters=4")
    with pytest.raises(ckpt.CheckpointError, match="corrupt"):
        run(cfg4, rd, streams=streams_for(cfg4))
    # a zip with a matching checksum that torch cannot read
    bad = ckpt.ckpt_path(tmp_path / "bad", 1)
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"PK\x03\x04 not a checkpoint")
    Path(str(bad) + ".sha256").write_text(__import__("hashlib").sha256(bad.read_bytes()).hexdigest() + "\n")
    with pytest.raises(ckpt.CheckpointError, match="cannot be read"):
        ckpt.load(bad)


# ---- every variant -----------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", sorted(RECIPES))
def test_every_variant_runs(tmp_path, variant):
    r = RECIPES[variant]
    step = 2 if variant in ("no_noise",) else 1
    sets = [f"train.variant={variant}", f"train.step={step}", "train.iters=2", "train.sample_every=2",
            *BENCH_MODELS.get(variant, [])]
    cfg = tiny_cfg(tmp_path, *sets)
    rd = train(cfg, streams=streams_for(cfg))
    assert rd.name == (variant if r.single_step else f"{variant}-step{step}")
    m = read_metrics(rd)
    assert [x["iter"] for x in m] == [1, 2]
    assert all(np.isfinite(v) for x in m for k, v in x.items() if k.startswith(("loss/", "grad_norm/")))
    assert {"lr", "images_per_s", "it_per_s"} <= set(m[0])
    assert (rd / "samples" / "iter-0000002.png").is_file() and (rd / "config.yaml").is_file()
    if variant in ("unpaired_only", "paired_only"):  # their step 2 too (NE from their step 1)
        cfg2 = tiny_cfg(tmp_path, *sets[:1], "train.step=2", "train.iters=1")
        assert train(cfg2, streams=streams_for(cfg2)).name == f"{variant}-step2"


def test_variant_step_rules():
    with pytest.raises(ConfigError, match="single-step"):
        load_config(["default", "cyclegan"], ["train.step=2"])
    with pytest.raises(ConfigError, match="only step 2"):
        load_config("default", ["train.variant=no_noise"])
    assert load_config(["default", "no_noise"]).train.step == 2
    with pytest.raises(ConfigError, match="data.y.bands: model.generator=residual maps band to band"):
        load_config("default", ["model.generator=residual", "data.y.bands=[g,r,i]"])


# ---- CLI ---------------------------------------------------------------------------------------------
def test_cli_dry_run_subprocess(tmp_path):
    p = run_cmd(hpcgan_cmd("train", "--step", "2", "-c", "demo", "--dry-run", "--run-dir", str(tmp_path / "r"),
                           "model.width=0.125"), timeout=120)
    assert "variant: ours" in p.stdout and "step: 2" in p.stdout and "frozen ['ne_x', 'ne_y']" in p.stdout
    assert not (tmp_path / "r").exists()
    bad = run_cmd(hpcgan_cmd("train", "--step", "2", "-c", "demo", "-c", "auto", "--dry-run"), check=False, timeout=120)
    assert bad.returncode == 2 and "single-step" in bad.stderr


def test_cli_trains_resumes_and_exits_75_on_signal(tmp_path, monkeypatch, capsys):
    import hpcgan.data.streams as ds

    calls = []

    def fake_build(cfg, rank=0, size=1, seed=0, streams=ds.STREAMS, allreduce_min=None):
        calls.append(tuple(streams))
        inner = TrainStreams.from_arrays({k: v for k, v in arrays().items() if k in streams}, cfg, seed=seed)
        return SignalAt(inner, at=1) if len(calls) == 1 else inner

    monkeypatch.setattr(ds, "build_train_streams", fake_build)
    args = ["--step", "1", *TINY, "train.iters=3", f"train.run_dir={tmp_path}"]
    assert train_cli.main(args) == train_cli.EXIT_INTERRUPTED
    assert train_cli.main(args) == 0
    assert calls == [("x", "y"), ("x", "y")]
    out = capsys.readouterr().out
    assert "iteration 3" in out
    assert json.loads((tmp_path / "ours-step1" / "metrics.jsonl").read_text().splitlines()[-1])["iter"] == 3
    (tmp_path / "ours-step1" / "checkpoints" / "ckpt-0000003.pt").write_bytes(b"x")
    assert train_cli.main(args) == 1
    assert "corrupt" in capsys.readouterr().err


def test_options_channels_last_deterministic_tensorboard(tmp_path):
    cfg = tiny_cfg(tmp_path, "train.iters=1", "train.channels_last=true", "train.deterministic=true",
                   "train.tensorboard=true", "train.amp=true")  # amp is CUDA-only: ignored on CPU
    rd = train(cfg, streams=streams_for(cfg))
    assert read_metrics(rd)[0]["iter"] == 1
    torch.use_deterministic_algorithms(False)


def test_benchmark_script_runs(tmp_path, capsys):
    """benchmarks/train_step.py end to end at a tiny size (the GPU check calls it with --device cuda)."""
    import importlib.util

    from tests.conftest import REPO

    spec = importlib.util.spec_from_file_location("train_step_bench", REPO / "benchmarks" / "train_step.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "r.json"
    assert mod.main(["--batch", "1", "--width", "0.125", "--iters", "1", "--impl", IMPL, "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert [r["step"] for r in res] == [1, 2] and all(r["gflop_per_iter"] > 0 and r["images_per_s"] > 0 for r in res)
    assert "GFLOP/it" in capsys.readouterr().out
