"""evaluate against the noise-free truth: known answers for the photometry, shape and noise formulas,
and for the whole stage on hand-built shards (truth = elliptical Gaussians, real = truth + white
noise, translation / baseline = chosen functions of them), the one-line skip without truth, the table."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from photutils.aperture import CircularAperture, aperture_photometry
from scipy.ndimage import gaussian_filter
from scipy.special import erf

from hpcgan.astro.photometry import aperture_fluxes, bias_nmad, diff_stats, nmad_difference
from hpcgan.config import load_config
from hpcgan.evaluate import evaluate
from hpcgan.evaluate import metrics as M
from hpcgan.evaluate.noise import blank_sky
from hpcgan.evaluate.report import table
from hpcgan.evaluate.shapes import ellipticity, half_light_radius
from tests.conftest import hpcgan_cmd, run_cmd
from tests.tiny_data import write_shard

BANDS = ["u", "g", "r", "i", "z"]
N, SIZE, SCALE, SIGMA = 30, 40, 0.187, 0.05  # objects, CFHT stamp (px), arcsec/px, real noise


def gaussian(size: int, sx: float, sy: float | None = None, flux: float = 1.0, theta: float = 0.0) -> np.ndarray:
    """Pixel-integrated elliptical Gaussian (sx, sy in px; exact for theta = 0) at the stamp centre."""
    sy = sx if sy is None else sy
    if theta == 0.0:
        e = np.arange(size + 1) - size / 2  # pixel edges relative to the centre (n - 1)/2 + 0.5
        fx, fy = np.diff(erf(e / (np.sqrt(2) * sx))) / 2, np.diff(erf(e / (np.sqrt(2) * sy))) / 2
        return flux * np.outer(fy, fx)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    u, v = xx * np.cos(theta) + yy * np.sin(theta), -xx * np.sin(theta) + yy * np.cos(theta)
    g = np.exp(-u ** 2 / (2 * sx ** 2) - v ** 2 / (2 * sy ** 2))
    return flux * g / g.sum()


def truth_stamps(n=N, size=SIZE, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, 5, size, size), np.float32)
    for i in range(n):
        s, q, th = rng.uniform(1.5, 3.5), rng.uniform(0.5, 1.0), rng.uniform(0, np.pi)
        for c in range(5):
            out[i, c] = gaussian(size, s, s * q, rng.uniform(5, 50), th)
    return out




def write_translation(folder: Path, shards: Path, images: np.ndarray | list[np.ndarray], ids: list[str],
                      method: str = "ours", direction: str = "x2y") -> Path:
    """A translate.out folder (manifest + r<k> shards, one per array of a list) as ``hpcgan translate``
    writes it."""
    sdss = {"survey": "sdss", "bands": BANDS, "stamp_size": 16, "pixel_scale": 0.396, "flux_scale": 1.0}
    cfht = {"survey": "cfht", "bands": BANDS, "stamp_size": SIZE, "pixel_scale": SCALE, "flux_scale": 0.001}
    src, dst = (sdss, cfht) if direction == "x2y" else (cfht, sdss)
    draws = images if isinstance(images, list) else [images]
    for k, im in enumerate(draws):
        write_shard(folder / f"r{k}/{dst['survey']}/paired-test", im, ids)
    man = {"method": method, "checkpoint_sha256": None if method == "resample" else "0" * 64, "direction": direction,
           "split": "paired-test", "n_realisations": len(draws), "pixel_transform": "sqrt",
           "source": {"root": str(shards), "split": "paired-test", **src}, "target": dst}
    (folder / "manifest.json").write_text(json.dumps(man))
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Shards with truth (``shards``), the same without truth (``no_truth``), and the arrays."""
    root = tmp_path_factory.mktemp("evaltruth")
    truth = truth_stamps()
    real = truth + np.random.default_rng(1).normal(0, SIGMA, truth.shape).astype(np.float32)
    ids = [f"obj{i:03d}" for i in range(N)]
    for name, with_truth in (("shards", True), ("no_truth", False)):
        write_shard(root / name / "sdss/paired-test", truth[:, :, 12:28, 12:28], ids)
        write_shard(root / name / "cfht/paired-test", real, ids)
        if with_truth:
            write_shard(root / name / "cfht/paired-test-truth", truth, ids)
            write_shard(root / name / "sdss/paired-test-truth", truth[:, :, 12:28, 12:28], ids)
    return {"root": root, "truth": truth, "real": real, "ids": ids}


def ecfg(translations: Path, out: Path, *sets: str):
    return load_config("default", [f"evaluate.translations={translations}", f"evaluate.out={out}",
                                   "evaluate.batch_size=7", "evaluate.grid_count=3", *sets])


# ---- formulas --------------------------------------------------------------------------------------
def test_gaussian_aperture_flux_matches_the_analytic_value_and_photutils():
    s = 2.5  # px
    img = gaussian(64, s)
    radii = np.array([1.0, 1.5, 3.0])  # arcsec
    f = aperture_fluxes(img[None], 0.2, radii)
    assert f.shape == (1, 1, 3)
    # 1 - exp(-r^2 / 2 s^2) within 1% (the exact-overlap weights treat each pixel's flux as uniform)
    assert np.allclose(f[0, 0], 1 - np.exp(-(radii / 0.2) ** 2 / (2 * s * s)), rtol=1e-2)
    rng = np.random.default_rng(0)
    stack = rng.normal(size=(3, 5, 40, 40))
    f = aperture_fluxes(stack, SCALE, [1.5, 3.0])
    assert f.shape == (3, 5, 2)
    ap = CircularAperture((19.5, 19.5), r=3.0 / SCALE)
    assert f[2, 4, 1] == pytest.approx(aperture_photometry(stack[2, 4], ap, method="exact")["aperture_sum"][0])


def test_bias_nmad_known_answers():
    t = np.random.default_rng(0).uniform(1, 10, 100)
    assert bias_nmad(t, t) == {"bias": 0.0, "nmad": 0.0, "bias_err": 0.0, "n": 100}
    s = bias_nmad(1.1 * t, t)
    assert s["bias"] == pytest.approx(0.1) and s["nmad"] == pytest.approx(0.0, abs=1e-12)
    r = np.random.default_rng(1).normal(1.0, 0.02, 20000)
    assert bias_nmad(r * t[0], np.full_like(r, t[0]))["nmad"] == pytest.approx(0.02, rel=0.05)
    assert bias_nmad(np.array([1.0, np.nan, 2.0]), np.array([1.0, 1.0, 0.0]))["n"] == 1


def test_bias_error_is_the_scatter_of_the_median_over_samples():
    """bias_err: the spread of the measured bias over independent samples of the same size (Gaussian
    scatter 5%, 120 objects: 0.57%), and it shrinks as 1/sqrt(n)."""
    rng = np.random.default_rng(3)
    t = rng.uniform(1, 10, 120)
    runs = [bias_nmad(t * rng.normal(1.0, 0.05, t.size), t) for _ in range(2000)]
    spread = np.std([s["bias"] for s in runs])
    assert np.median([s["bias_err"] for s in runs]) == pytest.approx(spread, rel=0.08)
    assert spread == pytest.approx(np.sqrt(np.pi / 2) * 0.05 / np.sqrt(120), rel=0.08)
    big = bias_nmad(np.tile(t, 4) * rng.normal(1.0, 0.05, 480), np.tile(t, 4))
    assert big["bias_err"] == pytest.approx(runs[0]["bias_err"] / 2, rel=0.15)
    assert diff_stats(np.array([0.1, 0.2, 0.3]), np.zeros(3))["median_err"] > 0


def test_nmad_difference_known_answers():
    """Paired bootstrap of an NMAD difference: equal sets give 0 with P = 0; twice the scatter is resolved
    at 80 objects; 5% more is not."""
    rng = np.random.default_rng(0)
    t = rng.uniform(1, 10, 80)
    e = rng.normal(0, 0.02, 80)
    same = nmad_difference(t * (1 + e), t * (1 + e), t)
    assert same["delta"] == 0.0 and same["lo"] == 0.0 and same["hi"] == 0.0 and same["p_below"] == 0.0
    wide = nmad_difference(t * (1 + 2 * e), t * (1 + e), t)
    assert wide["delta"] == pytest.approx(bias_nmad(t * (1 + 2 * e), t)["nmad"] - bias_nmad(t * (1 + e), t)["nmad"])
    assert 0 < wide["lo"] < wide["delta"] < wide["hi"] and wide["p_below"] < 0.01 and wide["n"] == 80
    close = nmad_difference(t * (1 + rng.normal(0, 0.021, 80)), t * (1 + e), t)
    assert close["lo"] < 0 < close["hi"]
    assert nmad_difference(np.array([1.0, np.nan]), np.ones(2), np.ones(2))["n"] == 1


def test_white_noise_has_the_known_power():
    sigma = 2.0
    st = M.FourierStack(2, 32)
    st.add(np.random.default_rng(0).normal(0, sigma, (200, 2, 32, 32)))
    k, p = M.radial_power(st.mean_power())
    assert p.shape == (2, len(k))
    assert np.allclose(p[:, 1:], sigma ** 2, rtol=0.1)
    assert M.hf_power_ratio(p, p, k, 0.25) == pytest.approx(1.0)


def test_half_light_radius_and_ellipticity_of_gaussians():
    s, q = 3.0, 0.5
    imgs = np.stack([gaussian(64, s), gaussian(64, s, s * q)])[:, None]
    radii = M.radii_arcsec(64, 1.0, 0.1)
    cog = aperture_fluxes(imgs, 1.0, radii) / aperture_fluxes(imgs, 1.0, radii[-1:])
    r50 = half_light_radius(cog, radii)
    assert r50[0, 0] == pytest.approx(s * np.sqrt(2 * np.log(2)), rel=0.02)  # sigma sqrt(2 ln 2), pixelised
    e = ellipticity(imgs, 1.0, np.full((2, 1), 30.0))
    assert np.allclose(e[0, 0], 0.0, atol=1e-6)
    qxx, qyy = s * s + 1 / 12, (s * q) ** 2 + 1 / 12  # a pixel-integrated Gaussian: variance + 1/12 px^2
    assert e[1, 0, 0] == pytest.approx((qxx - qyy) / (qxx + qyy), rel=1e-3) and e[1, 0, 1] == pytest.approx(0, abs=1e-6)


# ---- the stage ------------------------------------------------------------------------------------
def test_translation_equal_to_truth_and_baseline_at_1_1(data, tmp_path):
    root, truth, ids = data["root"], data["truth"], data["ids"]
    tr = write_translation(tmp_path / "tr", root / "shards", truth, ids)
    base = write_translation(tmp_path / "base", root / "shards", 1.1 * truth, ids, method="resample")
    res = evaluate(ecfg(tr, tmp_path / "ev", f"evaluate.baseline={base}"))
    assert res["n_objects"] == N and res["baseline_method"] == "resample"
    assert res["references"]["vs_truth"].endswith("cfht/paired-test-truth") and res["truth_note"] is None
    for b in BANDS:
        t, bl, real = (res["vs_truth"][b][k] for k in ("translation", "baseline", "real"))
        for r in ("1.5", "3"):
            assert t["aperture_flux"][r] == {"bias": 0.0, "nmad": 0.0, "bias_err": 0.0, "n": N}
            assert bl["aperture_flux"][r]["bias"] == pytest.approx(0.1, abs=1e-6)
            assert bl["aperture_flux"][r]["nmad"] == pytest.approx(0.0, abs=1e-6)
            assert abs(real["aperture_flux"][r]["bias"]) < 0.05 and real["aperture_flux"][r]["nmad"] > 0
            assert t["aperture_flux_nmad_vs_baseline"][r]["delta"] == pytest.approx(0.0, abs=1e-6)
        assert t["r50"]["bias"] == 0.0 and t["e1"]["median"] == 0.0 and t["e2"]["nmad"] == 0.0
        assert bl["r50"]["bias"] == pytest.approx(0.0, abs=1e-6)
        assert t["mse_model_space"] == 0.0 and t["residual_rms"] == 0.0
        assert t["residual_power"]["hf_mean"] == 0.0
        assert real["residual_power"]["hf_mean"] == pytest.approx(SIGMA ** 2, rel=0.1)  # white noise: sigma^2
        assert real["residual_power"]["hf_ratio_vs_real_residual"] == pytest.approx(1.0)
        assert real["residual_rms"] == pytest.approx(SIGMA, rel=0.05)
    m = json.loads((tmp_path / "ev/metrics.json").read_text())
    assert set(m["plots"]) == {"aperture_flux.png", "power_ratio.png", "curve_of_growth.png", "fourier_maps.png",
                               "grid.png"}
    for name in m["plots"]:
        assert (tmp_path / "ev" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = table(res)
    assert "translation" in text and "baseline" in text and "real noisy" in text and "+0.1000" in text
    assert "NMAD translation - baseline, paired bootstrap" in text


def test_y2x_through_the_same_code(data, tmp_path):
    """CFHT -> SDSS is scored by the same code against the SDSS truth: truth x 1.1 gives bias +10%."""
    root, truth, ids = data["root"], data["truth"][:, :, 12:28, 12:28], data["ids"]
    tr = write_translation(tmp_path / "tr", root / "shards", 1.1 * truth, ids, direction="y2x")
    res = evaluate(ecfg(tr, tmp_path / "ev"))
    assert res["direction"] == "y2x" and res["references"]["vs_truth"].endswith("sdss/paired-test-truth")
    for b in BANDS:
        t = res["vs_truth"][b]["translation"]
        for r in ("1.5", "3"):
            assert t["aperture_flux"][r]["bias"] == pytest.approx(0.1, abs=1e-6)
            assert t["aperture_flux"][r]["nmad"] == pytest.approx(0.0, abs=1e-6)


def test_translation_equal_to_real_matches_the_noise(data, tmp_path):
    tr = write_translation(tmp_path / "tr", data["root"] / "shards", data["real"], data["ids"])
    res = evaluate(ecfg(tr, tmp_path / "ev"))
    for b in BANDS:
        t = res["vs_truth"][b]["translation"]
        assert t["residual_power"]["hf_ratio_vs_real_residual"] == pytest.approx(1.0)
        v = res["vs_real"][b]["translation"]
        assert np.allclose(v["fourier"]["power_ratio"], 1.0) and v["fourier"]["hf_power_ratio"] == pytest.approx(1.0)
        assert v["background_ks"]["D"] == 0.0 and v["background_ks"]["n"] > 0
        assert v["total_flux"]["bias"] == 0.0 and v["total_flux"]["ks_D"] == 0.0 and v["mse_model_space"] == 0.0
        assert v["curve_of_growth"]["max_abs_diff_median"] == 0.0


def test_blank_sky_is_far_from_every_source_pixel():
    """A point of light and a faint neighbour: the blank sky leaves out every pixel within ``away`` px of
    truth light above k x the sky sigma (measured on real - truth), and nothing else."""
    truth = np.zeros((1, 1, 40, 40))
    truth[0, 0, 20, 20], truth[0, 0, 5, 30] = 10.0, 0.02  # the neighbour: 0.02 sigma
    real = truth + np.random.default_rng(0).normal(0, 1.0, truth.shape)
    yy, xx = np.mgrid[:40, :40]
    near = lambda y, x: np.hypot(yy - y, xx - x) <= 6.0  # noqa: E731
    blank = blank_sky(truth, real, 0.01, 6.0)[0, 0]
    assert np.array_equal(blank, ~(near(20, 20) | near(5, 30)))
    assert np.array_equal(blank_sky(truth, real, 0.05, 6.0)[0, 0], ~near(20, 20))  # the neighbour below 0.05 sigma


def test_lost_resolution_is_not_background_noise(data, tmp_path):
    """A translation that carries exactly the survey's noise but blurs the galaxies: the mid-k power over
    the whole stamp rises, the blank sky's stays the noise's (ratio 1), as do its sigma and offset."""
    root, truth, real, ids = data["root"], data["truth"], data["real"], data["ids"]
    blurred = real + gaussian_filter(truth, (0, 0, 2.0, 2.0)) - truth
    res = evaluate(ecfg(write_translation(tmp_path / "tr", root / "shards", blurred, ids), tmp_path / "ev"))
    assert 0.05 < min(res["blank_sky"]["fraction"].values()) < 0.9
    for b in BANDS:
        t = res["vs_truth"][b]["translation"]
        assert t["residual_power"]["midk_ratio_vs_real_residual"] > 1.5
        assert t["residual_power"]["midk_background_ratio_vs_real_residual"] == pytest.approx(1.0, abs=0.02)
        assert t["background_sigma"]["ratio_vs_real"] == pytest.approx(1.0, abs=0.02)
        assert t["background_offset"]["in_real_sigma"] == pytest.approx(
            res["vs_truth"][b]["real"]["background_offset"]["in_real_sigma"], abs=0.02)


def test_noise_and_colour_metrics_known_answers(data, tmp_path):
    """truth + 2 x the real noise: background sigma 2x the real's, mid-k and high-k power 4x, no sky offset;
    the real stamps + 0.5 sigma: background offset 0.5 sigma; a translation
    whose g band is 1.1 x the truth: g-r colour bias -2.5 log10(1.1) at every aperture, NMAD 0, and u-g
    +2.5 log10(1.1); the real stamps' colours are unbiased within their noise."""
    root, truth, real, ids = data["root"], data["truth"], data["real"], data["ids"]
    noisy2 = truth + 2.0 * (real - truth)
    tr = write_translation(tmp_path / "tr", root / "shards", noisy2, ids)
    res = evaluate(ecfg(tr, tmp_path / "ev"))
    for b in BANDS:
        t = res["vs_truth"][b]["translation"]
        assert t["background_sigma"]["ratio_vs_real"] == pytest.approx(2.0, rel=1e-6)
        assert t["background_sigma"]["sigma"] == pytest.approx(2 * SIGMA, rel=0.05)
        rp = t["residual_power"]
        assert rp["midk_ratio_vs_real_residual"] == pytest.approx(4.0, rel=1e-6)
        assert rp["midk_background_ratio_vs_real_residual"] == pytest.approx(4.0, rel=1e-6)
        assert rp["hf_ratio_vs_real_residual"] == pytest.approx(4.0, rel=1e-6)
        real_row = res["vs_truth"][b]["real"]
        assert real_row["background_sigma"]["ratio_vs_real"] == 1.0
        assert abs(t["background_offset"]["in_real_sigma"]) < 0.05  # noise only: no sky level
    lifted = real + 0.5 * SIGMA  # a sky level of half the survey's sigma
    off = evaluate(ecfg(write_translation(tmp_path / "tr3", root / "shards", lifted, ids), tmp_path / "ev3"))
    for b in BANDS:
        o = off["vs_truth"][b]["translation"]["background_offset"]
        assert o["in_real_sigma"] == pytest.approx(0.5, abs=0.05)
        assert o["median"] == pytest.approx(0.5 * SIGMA + off["vs_truth"][b]["real"]["background_offset"]["median"], rel=1e-4)
    scaled = truth.copy()
    scaled[:, 1] *= 1.1  # g
    tr2 = write_translation(tmp_path / "tr2", root / "shards", scaled, ids)
    col = evaluate(ecfg(tr2, tmp_path / "ev2"))["colours_vs_truth"]
    assert set(col) == {"u-g", "g-r", "r-i", "i-z"}
    for r in ("1.5", "3"):
        assert col["g-r"]["translation"][r]["median"] == pytest.approx(-2.5 * np.log10(1.1), abs=1e-6)  # float32 shards
        assert col["u-g"]["translation"][r]["median"] == pytest.approx(2.5 * np.log10(1.1), abs=1e-6)
        assert col["g-r"]["translation"][r]["nmad"] == pytest.approx(0.0, abs=1e-6)
        assert col["r-i"]["translation"][r] == {"median": 0.0, "nmad": 0.0, "median_err": 0.0, "n": N}
        assert abs(col["r-i"]["real"][r]["median"]) < 0.02


def test_colour_stats_leave_out_non_positive_fluxes():
    from hpcgan.astro.photometry import colour_stats

    f = np.array([[1.0, 1.0], [2.0, 1.0], [-1.0, 1.0]])
    t = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]])
    s = colour_stats(f, t)
    assert s["n"] == 2 and s["median"] == pytest.approx(-2.5 * np.log10(2.0) / 2)


def test_without_truth_one_line_skip(data, tmp_path, caplog):
    tr = write_translation(tmp_path / "tr", data["root"] / "no_truth", data["real"] * 1.2, data["ids"])
    with caplog.at_level(logging.INFO, logger="hpcgan.evaluate.run"):
        res = evaluate(ecfg(tr, tmp_path / "ev"))
    skips = [r.getMessage() for r in caplog.records if "truth metrics skipped" in r.getMessage()]
    assert len(skips) == 1 and "no truth shards under" in skips[0]
    assert res["vs_truth"] is None and res["references"]["vs_truth"] is None and "skipped" in res["truth_note"]
    assert res["vs_real"]["r"]["translation"]["aperture_flux"]["3"]["bias"] == pytest.approx(0.2)
    m = json.loads((tmp_path / "ev/metrics.json").read_text())
    assert m["vs_truth"] is None and "aperture_flux.png" in m["plots"]
    assert "truth metrics skipped" in table(res)


def test_cli_prints_the_table(data, tmp_path):
    root = data["root"]
    tr = write_translation(tmp_path / "tr", root / "shards", data["truth"], data["ids"])
    base = write_translation(tmp_path / "base", root / "shards", data["real"], data["ids"], method="resample")
    p = run_cmd(hpcgan_cmd("evaluate", "--translations", str(tr), "--baseline", str(base), "--out",
                           str(tmp_path / "ev"), "evaluate.grid_count=2"), timeout=120)
    # 5 band rows and 4 colour rows each (and the bootstrap heading names the baseline)
    assert "bias@1.5\"" in p.stdout and p.stdout.count("real noisy") == 5 + 4 and p.stdout.count("baseline") == 5 + 4 + 1
    bad = write_translation(tmp_path / "bad", root / "shards", data["truth"], data["ids"])
    man = json.loads((bad / "manifest.json").read_text())
    (bad / "manifest.json").write_text(json.dumps({**man, "direction": "y2x"}))
    p = run_cmd(hpcgan_cmd("evaluate", "--translations", str(tr), "--baseline", str(bad), "--out",
                           str(tmp_path / "ev2")), timeout=120, check=False)
    assert p.returncode == 2 and "evaluate.baseline: direction" in p.stderr


def test_realisations_are_pooled_with_errors_and_intervals_over_objects(data, tmp_path):
    """evaluate.realisations: every object once per noise realisation. Translation draws 1.1 x and 0.9 x
    the truth pool to bias 0 and NMAD 1.4826 x 0.1; the baseline's 1.05 x / 0.95 x to half that. The
    standard error counts objects, not rows, and the bootstrap resamples whole objects (here every
    resample is the same, so the interval is the difference itself). Asking for more draws than either
    set has, or pooling a translation's draws against a one-draw baseline, names the key."""
    from hpcgan.config.loader import ConfigError

    root, truth, ids = data["root"], data["truth"], data["ids"]
    tr = write_translation(tmp_path / "tr", root / "shards", [1.1 * truth, 0.9 * truth], ids)
    base = write_translation(tmp_path / "base", root / "shards", [1.05 * truth, 0.95 * truth], ids, method="resample")
    res = evaluate(ecfg(tr, tmp_path / "ev", f"evaluate.baseline={base}", "evaluate.realisations=2"))
    assert res["realisations"] == 2 and res["n_objects"] == N
    single = evaluate(ecfg(tr, tmp_path / "ev1", f"evaluate.baseline={base}"))
    for b in BANDS:
        t, real = res["vs_truth"][b]["translation"]["aperture_flux"]["3"], res["vs_truth"][b]["real"]["aperture_flux"]["3"]
        assert t["n"] == 2 * N and t["bias"] == pytest.approx(0.0, abs=1e-6)
        assert t["nmad"] == pytest.approx(1.4826 * 0.1, rel=1e-4)
        assert t["bias_err"] == pytest.approx(np.sqrt(np.pi / 2) * t["nmad"] / np.sqrt(N), rel=1e-6)
        assert real["nmad"] == pytest.approx(single["vs_truth"][b]["real"]["aperture_flux"]["3"]["nmad"])
        d = res["vs_truth"][b]["translation"]["aperture_flux_nmad_vs_baseline"]["3"]
        assert d["delta"] == pytest.approx(1.4826 * 0.05, rel=1e-4) and d["lo"] == pytest.approx(d["delta"])
    assert single["vs_truth"]["r"]["translation"]["aperture_flux"]["3"]["bias"] == pytest.approx(0.1, abs=1e-6)
    with pytest.raises(ConfigError, match="evaluate.realisation \\+ evaluate.realisations: must be <= 2"):
        evaluate(ecfg(tr, tmp_path / "ev2", "evaluate.realisations=3"))
    one = write_translation(tmp_path / "one", root / "shards", 1.05 * truth, ids, method="resample")
    with pytest.raises(ConfigError, match="evaluate.realisations: the baseline .* has 1 realisation"):
        evaluate(ecfg(tr, tmp_path / "ev3", f"evaluate.baseline={one}", "evaluate.realisations=2"))


def test_nmad_difference_groups_resample_whole_objects():
    """Four identical realisations of 200 objects carry the information of 200, not 800: grouped, the
    interval is as wide as the objects' own; treated as 800 independent rows it would be half as wide."""
    rng = np.random.default_rng(5)
    t = rng.uniform(1, 10, 200)
    a, b = t * rng.normal(1, 0.05, 200), t * rng.normal(1, 0.04, 200)
    own = nmad_difference(a, b, t)
    rep = [np.tile(v, 4) for v in (a, b, t)]
    grouped = nmad_difference(*rep, groups=np.tile(np.arange(200), 4))
    rows = nmad_difference(*rep)
    width = lambda d: d["hi"] - d["lo"]  # noqa: E731
    assert grouped["delta"] == pytest.approx(own["delta"])
    assert width(grouped) == pytest.approx(width(own), rel=0.2)
    assert width(rows) < 0.7 * width(grouped)
