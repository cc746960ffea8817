"""evaluate: each metric on known inputs (identical -> perfect, known perturbations move the numbers the
right way), and the stage end to end on the tiny translation fixture of test_translate.py (scored
against the real counterparts). Truth metrics and the no-truth skip: tests/test_evaluate_truth.py."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from hpcgan.astro.photometry import bias_nmad, curve_of_growth
from hpcgan.config import load_config
from hpcgan.dist.comm import Comm
from hpcgan.evaluate import evaluate
from hpcgan.evaluate import metrics as M
from hpcgan.evaluate.shapes import half_light_radius
from hpcgan.translate.run import run as translate
from tests.conftest import hpcgan_cmd, run_cmd
from tests.test_translate import tcfg, tiny_run


def galaxies(n=40, size=40, seed=0, noise=0.5):
    """Exponential discs of random size and flux plus white noise, (N, 5, size, size)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    r = np.hypot(xx, yy)
    h = rng.uniform(1.5, 4, (n, 1, 1, 1))
    f = rng.uniform(50, 500, (n, 5, 1, 1))
    img = f * np.exp(-r / h) / (2 * np.pi * h ** 2)
    return (img + rng.normal(0, noise, img.shape)).astype(np.float32)


def fourier_hf(gen, real, k_min=0.25):
    """Single-band stacks (N, n, n): (k, power ratio, HF ratio)."""
    sg, sr = M.FourierStack(1, gen.shape[-1]), M.FourierStack(1, real.shape[-1])
    sg.add(gen[:, None])
    sr.add(real[:, None])
    k, pg = M.radial_power(sg.mean_power()[0])
    _, pr = M.radial_power(sr.mean_power()[0])
    return k, pg / pr, M.hf_power_ratio(pg, pr, k, k_min)


def test_identical_inputs_score_perfectly():
    a = galaxies()
    f = M.total_flux(a)
    for j in range(5):
        assert bias_nmad(f[:, j], f[:, j]) == {"bias": 0.0, "nmad": 0.0, "bias_err": 0.0, "n": 40}
        ks = M.ks_2samp(f[:, j], f[:, j])
        assert ks["D"] == 0.0 and ks["p"] == 1.0
    radii = M.radii_arcsec(40, 0.187, 0.25)
    c = curve_of_growth(a[:, 2], 0.187, radii)
    assert np.array_equal(c, curve_of_growth(a[:, 2].copy(), 0.187, radii))
    k, ratio, hf = fourier_hf(a[:, 2], a[:, 2])
    assert np.allclose(ratio, 1.0) and hf == pytest.approx(1.0)
    s, n = M.mse_per_band(a, a)
    assert (s == 0).all() and n == 40 * 40 * 40


def test_known_perturbations_move_the_numbers():
    a = galaxies()
    rng = np.random.default_rng(1)
    f = M.total_flux(a)
    assert bias_nmad(2 * f[:, 2], f[:, 2])["bias"] == pytest.approx(1.0)
    assert M.ks_2samp(2 * f[:, 2], f[:, 2])["D"] > 0.3
    # extra white noise: more high-frequency power, growing with the noise; low frequencies barely move
    hf = [fourier_hf(a[:, 2] + rng.normal(0, s, a[:, 2].shape), a[:, 2])[2] for s in (0.25, 0.5, 1.0)]
    assert 1.0 < hf[0] < hf[1] < hf[2]
    k, ratio, _ = fourier_hf(a[:, 2] + rng.normal(0, 0.5, a[:, 2].shape), a[:, 2])
    assert ratio[1] < 1.1 < ratio[-1]
    # smoothing (3x3 box): less high-frequency power
    p = np.pad(a[:, 2], ((0, 0), (1, 1), (1, 1)), mode="edge")
    smooth = sum(p[:, i:i + 40, j:j + 40] for i in range(3) for j in range(3)) / 9
    assert fourier_hf(smooth, a[:, 2])[2] < 0.5


def test_curve_of_growth_and_half_light_radius():
    size, scale = 40, 0.2
    radii = M.radii_arcsec(size, scale, 0.25)
    assert radii[-1] == pytest.approx(size / 2 * scale) and np.all(np.diff(radii) > 0)
    flat = np.ones((1, size, size))
    c = curve_of_growth(flat, scale, radii)[0, 0]
    assert c[-1] == 1.0 and np.all(np.diff(c) >= 0)
    assert np.allclose(c, (radii / radii[-1]) ** 2, rtol=1e-9)  # exact overlap: the area fraction
    a = galaxies(n=5, size=size, noise=0.0)[:, 2]
    assert np.all(np.diff(curve_of_growth(a, scale, radii), axis=-1) >= -1e-12)
    r50 = half_light_radius(curve_of_growth(flat, scale, radii), radii)[0, 0]
    assert r50 == pytest.approx(radii[-1] / np.sqrt(2), rel=0.01)
    assert np.isnan(curve_of_growth(-flat, scale, radii)).all()


def _fake_translation(tiny: Path, tmp: Path, noise: float = 0.0) -> Path:
    """A translation folder whose r0 holds the REAL cfht counterparts (+ optional white noise)."""
    out = tmp / f"fake{noise}"
    translate(tcfg(tiny, out), Comm())
    part = next((out / "r0/cfht/paired-test").glob("part-*.h5"))
    real = next((tiny / "shards/cfht/paired-test").glob("part-*.h5"))
    shutil.copy(real, part)
    if noise:
        with h5py.File(part, "r+", locking=False) as f:
            img = f["images"][()]
            f["images"][...] = img + np.random.default_rng(0).normal(0, noise, img.shape).astype(np.float32)
    return out


def ecfg(tiny: Path, translations: Path, out: Path, *sets: str):
    return load_config("default", [f"evaluate.translations={translations}", f"evaluate.out={out}",
                                   f"evaluate.catalog={tiny / 'sim/catalog.csv'}", *sets])


def test_stage_on_real_counterparts_is_perfect_and_noise_raises_hf(tmp_path_factory, tmp_path):
    tiny = tiny_run(tmp_path_factory)
    same = evaluate(ecfg(tiny, _fake_translation(tiny, tmp_path), tmp_path / "e0"))
    for b in "ugriz":
        if same["vs_truth"] is not None:  # simulated data with noise-free twins: translation == real noisy row
            t = same["vs_truth"][b]
            assert t["translation"]["aperture_flux"] == t["real"]["aperture_flux"]
            assert t["translation"]["residual_power"]["hf_ratio_vs_real_residual"] == pytest.approx(1.0)
        v = same["vs_real"][b]["translation"]
        assert v["total_flux"]["bias"] == 0.0 and v["total_flux"]["nmad"] == 0.0 and v["total_flux"]["ks_D"] == 0.0
        assert v["aperture_flux"]["1.5"] == {"bias": 0.0, "nmad": 0.0, "bias_err": 0.0, "n": 6}
        assert v["curve_of_growth"]["max_abs_diff_median"] == 0.0 and v["curve_of_growth"]["r50"]["bias"] == 0.0
        assert np.allclose(v["fourier"]["power_ratio"], 1.0) and v["fourier"]["hf_power_ratio"] == pytest.approx(1.0)
        assert v["background_ks"]["D"] == 0.0 and v["mse_model_space"] == 0.0
        c = same["vs_catalog"][b]
        assert c["translation"] == c["real"] and c["real"]["n"] == 6
    assert same["n_objects"] == 6 and same["references"]["vs_catalog"].endswith("catalog.csv")
    noisy = evaluate(ecfg(tiny, _fake_translation(tiny, tmp_path, noise=500.0), tmp_path / "e1"))
    v = noisy["vs_real"]["r"]["translation"]
    assert v["fourier"]["hf_power_ratio"] > 1.5 and v["mse_model_space"] > 0 and v["background_ks"]["D"] > 0.1


def test_cli_writes_metrics_and_plots(tmp_path_factory, tmp_path):
    tiny = tiny_run(tmp_path_factory)
    tr = tmp_path / "tr"
    translate(tcfg(tiny, tr, "translate.n_realisations=2"), Comm())
    ev = tmp_path / "ev"
    p = run_cmd(hpcgan_cmd("evaluate", "--translations", str(tr), "--out", str(ev), "--realisation", "1",
                           "--catalog", str(tiny / "sim/catalog.csv")), timeout=120)
    # 5 band rows and 4 colour rows (u-g, g-r, r-i, i-z)
    assert "bias@1.5\"" in p.stdout and p.stdout.count("translation") == 5 + 4 and "colours (mag)" in p.stdout
    m = json.loads((ev / "metrics.json").read_text())
    assert m["realisation"] == 1 and m["n_objects"] == 6 and m["target_survey"] == "cfht"
    assert set(m["plots"]) == {"aperture_flux.png", "curve_of_growth.png", "fourier_maps.png", "power_ratio.png",
                               "grid.png"}
    for name in m["plots"]:
        assert (ev / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(m["k_cycles_per_px"]) == 21 and m["radii_arcsec"][-1] == pytest.approx(3.74)
    p = run_cmd(hpcgan_cmd("evaluate", "--translations", str(tr), "--out", str(ev), "--realisation", "2"),
                timeout=120, check=False)
    assert p.returncode == 2 and "evaluate.realisation" in p.stderr
