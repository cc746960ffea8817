"""hpcgan simulate: FITS layout and headers, WCS, flux truth, determinism, MPI = serial, resume, CLI."""
from __future__ import annotations

import math
from pathlib import Path

import galsim
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from hpcgan.astro.noise_power import sky_noise
from hpcgan.astro.psf import FWHM_TO_SIGMA, broadening_fwhm, gaussian_broaden
from hpcgan.astro.surveys import survey_pair
from hpcgan.cli import main as hpcgan_main
from hpcgan.config import load_config
from hpcgan.simulate.catalog import read_catalog
from hpcgan.simulate.galaxies import sample_mag, sample_scene
from hpcgan.simulate.render import make_psf
from hpcgan.simulate.run import run
from tests.conftest import hpcgan_cmd, mpirun_cmd, run_cmd

BANDS = ("u", "g", "r", "i", "z")
SIZES = {"sdss": 64, "cfht": 136}


def simulate(out: Path, *sets: str, n_paired: int = 4, n_unpaired: int = 3):
    cfg = load_config(["default"], [f"simulate.out={out}", f"simulate.n_paired={n_paired}",
                                    f"simulate.n_unpaired={n_unpaired}", *sets])
    run(cfg)
    return cfg, read_catalog(out / "catalog.csv")


def stamp_arrays(path: Path) -> np.ndarray:
    with fits.open(path, memmap=False) as h:
        return np.stack([h[b].data.astype(np.float32) for b in BANDS])


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    return out, *simulate(out)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """Noise-free, isolated galaxies (no neighbours, no stars): pixels = the true light."""
    out = tmp_path_factory.mktemp("clean")
    return out, *simulate(out, "simulate.noise=false", "simulate.neighbour_prob=0", "simulate.star_prob=0",
                          n_paired=3, n_unpaired=3)


def test_layout_and_headers(sim):
    out, cfg, rows = sim
    assert len(rows) == 2 * 4 * 2 + 2 * 3  # paired stamps and their noise-free twins, unpaired stamps
    assert (out / "config.yaml").is_file() and not (out / "catalog.parts").exists()
    splits = {(r["survey"], r["split"]) for r in rows}
    assert {s for _, s in splits} == {"unpaired", "paired-train", "paired-test", "paired-train-truth",
                                      "paired-test-truth"}
    paired = {r["object_id"]: r for r in rows if r["split"] != "unpaired" and r["survey"] == "sdss"}
    for r in rows:
        path = out / r["path"]
        assert r["path"] == f"{r['survey']}/{r['split']}/{r['object_id']}.fits" and path.is_file()
        twin = r["split"] in ("paired-train", "paired-test")
        assert r["truth_path"] == (f"{r['survey']}/{r['split']}-truth/{r['object_id']}.fits" if twin else "")
        with fits.open(path, memmap=False) as h:
            h.verify("exception")
            assert [hdu.name for hdu in h[1:]] == list(BANDS) and h[0].data is None
            p = h[0].header
            assert (p["OBJID"], p["SURVEY"], p["SPLIT"]) == (r["object_id"], r["survey"], r["split"])
            assert p["NOISE"] is (not r["split"].endswith("-truth"))
            assert math.isclose(p["RA"], float(r["ra"]), abs_tol=1e-12)
            n = SIZES[r["survey"]]
            for b, hdu in zip(BANDS, h[1:]):
                hd = hdu.header
                assert hdu.data.shape == (n, n) and hdu.data.dtype.kind == "f" and hdu.data.itemsize == 4
                assert np.isfinite(hdu.data).all()
                assert (hd["EXTNAME"], hd["BAND"], hd["SURVEY"]) == (b, b, r["survey"])
                assert hd["MAGZP"] == (22.5 if r["survey"] == "sdss" else 30.0)
                assert hd["BUNIT"] and hd["SKYSIG"] > 0
                lo, hi = (1.0, 2.2) if r["survey"] == "sdss" else (0.45, 1.2)
                assert lo < hd["PSFFWHM"] < hi
        if r["split"] != "unpaired" and r["survey"] == "cfht":  # same galaxy, same sky position
            assert (r["ra"], r["dec"], r["flux_r"] != paired[r["object_id"]]["flux_r"]) == \
                   (paired[r["object_id"]]["ra"], paired[r["object_id"]]["dec"], True)
            ratio = float(r["flux_r"]) / float(paired[r["object_id"]]["flux_r"])
            assert math.isclose(ratio, 1000.0, rel_tol=1e-9)  # MAGZP 30 vs 22.5
    # CFHT is deeper per unit sky area than SDSS
    with fits.open(out / rows[0]["path"]) as hs, fits.open(out / rows[-1]["path"]) as hc:
        assert hs[0].header["SURVEY"] == "sdss" and hc[0].header["SURVEY"] == "cfht"
        sb_s = hs["r"].header["SKYSIG"] / 0.396
        sb_c = hc["r"].header["SKYSIG"] / 1000.0 / 0.187
        assert sb_c < sb_s / 3


def test_wcs_round_trip(sim):
    out, _, rows = sim
    for r in rows:
        with fits.open(out / r["path"], memmap=False) as h:
            for hdu in h[1:]:
                w = WCS(hdu.header)
                assert w.wcs.ctype[0] == "RA---TAN" and w.has_celestial
                n = hdu.data.shape[0]
                c = (n - 1) / 2.0  # 0-based pixel coordinates of the stamp centre
                ra, dec = w.wcs_pix2world([[c, c]], 0)[0]
                assert abs(((ra - float(r["ra"]) + 180) % 360 - 180) * math.cos(math.radians(dec))) * 3600 < 1e-6
                assert abs(dec - float(r["dec"])) * 3600 < 1e-6
                (x, y), = w.wcs_world2pix([[float(r["ra"]), float(r["dec"])]], 0)
                assert abs(x - c) < 1e-6 and abs(y - c) < 1e-6
                scale = float(np.sqrt(abs(np.linalg.det(w.pixel_scale_matrix)))) * 3600
                assert math.isclose(scale, 0.396 if n == 64 else 0.187, rel_tol=1e-9)
                # north up, east left
                (ra1, dec1), (ra2, dec2) = w.wcs_pix2world([[c + 1, c], [c, c + 1]], 0)
                assert ((ra1 - ra + 180) % 360 - 180) < 0 and dec2 > dec


def test_light_is_centred_on_the_wcs_centre(clean):
    out, _, rows = clean
    for r in rows:
        img = stamp_arrays(out / r["path"])[2].astype(float)
        n = img.shape[0]
        yy, xx = np.mgrid[:n, :n]
        cx, cy = (img * xx).sum() / img.sum(), (img * yy).sum() / img.sum()
        assert abs(cx - (n - 1) / 2) < 0.05 and abs(cy - (n - 1) / 2) < 0.05


def test_flux_matches_catalog_noise_free(clean):
    out, _, rows = clean
    for r in rows:
        img = stamp_arrays(out / r["path"]).astype(float)
        for k, b in enumerate(BANDS):
            assert math.isclose(img[k].sum(), float(r[f"flux_{b}"]), rel_tol=2e-3), (r["path"], b)


def test_flux_matches_catalog_within_noise(tmp_path):
    _, rows = simulate(tmp_path, "simulate.neighbour_prob=0", "simulate.star_prob=0", n_paired=2, n_unpaired=0)
    for r in rows:
        with fits.open(tmp_path / r["path"], memmap=False) as h:
            for b in BANDS:
                d, sky = h[b].data.astype(float), h[b].header["SKYSIG"]
                # sum of n*n noise pixels: std sigma*n (white); correlated noise raises it by < 2x
                tol = 6.0 * sky * d.shape[0] * 2.0 + 2e-3 * float(r[f"flux_{b}"])
                assert abs(d.sum() - float(r[f"flux_{b}"])) < tol, (r["path"], b)


def test_truth_twin_is_the_stamp_without_its_noise(sim, tmp_path):
    """The twin has the stamp's headers but NOISE = F and its split; noisy - twin is the survey's sky
    noise (additive: per-pixel std SKYSIG); the twin equals the stamp of a simulate.noise=false run."""
    out, _, rows = sim
    _, quiet = simulate(tmp_path, "simulate.noise=false")
    noisy = [r for r in rows if r["truth_path"]]
    assert len(noisy) == 2 * 4
    for r in noisy:
        with fits.open(out / r["path"]) as hn, fits.open(out / r["truth_path"]) as ht:
            assert (ht[0].header["NOISE"], ht[0].header["SPLIT"]) == (False, r["split"] + "-truth")
            for b in BANDS:
                drop = ("CHECKSUM", "DATASUM")
                assert {k: v for k, v in hn[b].header.items() if k not in drop} == \
                       {k: v for k, v in ht[b].header.items() if k not in drop}
                d = hn[b].data.astype(float) - ht[b].data.astype(float)
                assert math.isclose(d.std(), hn[b].header["SKYSIG"], rel_tol=0.1), (r["path"], b)
                assert abs(d.mean()) < 4 * hn[b].header["SKYSIG"] * 3 / hn[b].data.shape[0]
        assert np.array_equal(stamp_arrays(out / r["truth_path"]), stamp_arrays(tmp_path / r["path"]))
    assert [q["truth_path"] for q in quiet] == [r["truth_path"] for r in rows]


def test_preprocess_shards_the_truth_splits(sim, tmp_path):
    """preprocess writes the twins as their own paired splits, in the noisy splits' object order."""
    import h5py

    from hpcgan.dist.comm import Comm
    from preprocess.run import run as preprocess

    out, _, rows = sim
    shards = tmp_path / "shards"
    assert preprocess(load_config(["default"], [f"preprocess.catalog={out / 'catalog.csv'}",
                                                f"preprocess.out={shards}"]), Comm()) == 0
    path = {(r["survey"], r["split"], r["object_id"]): r["path"] for r in rows}
    for survey in SIZES:
        for split in ("paired-train", "paired-test"):
            with h5py.File(shards / survey / split / "part-0-of-1.h5") as fn, \
                    h5py.File(shards / survey / f"{split}-truth" / "part-0-of-1.h5") as ft:
                ids = [i.decode() for i in ft["object_id"][:]]
                assert ids == [i.decode() for i in fn["object_id"][:]] and ids
                for k, oid in enumerate(ids):
                    assert np.array_equal(ft["images"][k], stamp_arrays(out / path[(survey, f"{split}-truth", oid)]))


def test_deterministic_for_a_seed(sim, tmp_path):
    out, _, rows = sim
    _, rows2 = simulate(tmp_path)
    assert rows2 == rows
    for r in rows:
        assert (tmp_path / r["path"]).read_bytes() == (out / r["path"]).read_bytes()
    _, rows3 = simulate(tmp_path / "other", "simulate.seed=7")
    assert rows3[0]["flux_r"] != rows[0]["flux_r"]


def test_resume_skips_valid_and_redoes_broken(sim, tmp_path):
    out, cfg, rows = sim
    simulate(tmp_path)
    victim = tmp_path / rows[3]["path"]
    good = victim.read_bytes()
    victim.write_bytes(good[: len(good) // 2])  # a torn file
    mtimes = {r["path"]: (tmp_path / r["path"]).stat().st_mtime_ns for r in rows}
    cfg2 = load_config(["default"], [f"simulate.out={tmp_path}", "simulate.n_paired=4", "simulate.n_unpaired=3"])
    summary = run(cfg2)
    assert summary["rendered"] == 1
    assert victim.read_bytes() == good
    assert all((tmp_path / p).stat().st_mtime_ns == t for p, t in mtimes.items() if p != rows[3]["path"])
    twin = tmp_path / rows[3]["truth_path"]
    good = twin.read_bytes()
    twin.unlink()
    assert run(cfg2)["rendered"] == 1 and twin.read_bytes() == good


def test_mpi_two_ranks_equal_one_rank(tmp_path):
    args = ["simulate", "--n-paired", "3", "--n-unpaired", "2", "--seed", "5"]
    run_cmd(hpcgan_cmd(*args, "--out", str(tmp_path / "one")), timeout=120)
    p = run_cmd(mpirun_cmd(2, *hpcgan_cmd(*args, "--out", str(tmp_path / "two"))), timeout=120)
    assert "[rank 0/2]" in p.stderr and "on 2 rank(s)" in p.stderr and "stamps/s" in p.stderr
    one, two = (tmp_path / "one" / "catalog.csv").read_text(), (tmp_path / "two" / "catalog.csv").read_text()
    assert one == two
    rows = read_catalog(tmp_path / "one" / "catalog.csv")
    assert len(rows) == 2 * 3 * 2 + 2 * 2
    for r in rows:
        a, b = stamp_arrays(tmp_path / "one" / r["path"]), stamp_arrays(tmp_path / "two" / r["path"])
        assert np.array_equal(a, b)


def test_mpi_rank_failure_aborts(tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    p = run_cmd(mpirun_cmd(2, *hpcgan_cmd("simulate", "--out", str(blocker / "sim"), "--n-paired", "2",
                                          "--n-unpaired", "0")), timeout=60, check=False)
    assert p.returncode != 0
    assert "simulate failed on rank" in p.stderr


def test_cli_flags_map_to_config(capsys):
    assert hpcgan_main(["simulate", "--dry-run", "--out", "x y/z", "--n-paired", "7", "--n-unpaired", "9",
                        "--seed", "3", "--no-noise", "simulate.star_prob=0.5"]) == 0
    text = capsys.readouterr().out
    for line in ("out: x y/z", "n_paired: 7", "n_unpaired: 9", "seed: 3", "noise: false", "star_prob: 0.5"):
        assert line in text
    assert hpcgan_main(["simulate", "-c", "demo", "--dry-run"]) == 0
    assert "n_paired: 400" in capsys.readouterr().out


@pytest.mark.parametrize("argv, needle", [
    (["--n-paired", "-1"], "simulate.n_paired: must be >= 0"),
    (["simulate.bogus=1"], "simulate.bogus: unknown key"),
    (["simulate.paired_test_fraction=2"], "simulate.paired_test_fraction: must be <= 1.0"),
    (["simulate.mag_min=20", "simulate.mag_max=18"], "simulate.mag_min"),
    (["data.x.name=hsc"], "data.x.name: no simulated survey 'hsc'"),
    (["data.y.name=sdss"], "data.y.name: must differ"),
    (["data.x.bands=[u,g,r,i,y]"], "data.x.bands: survey 'sdss' has no band 'y'"),
])
def test_cli_config_errors(argv, needle, capsys):
    assert hpcgan_main(["simulate", "--dry-run", *argv]) == 2
    assert needle in capsys.readouterr().err


def test_number_counts_rise_and_bulges_are_redder():
    rng = np.random.default_rng(0)
    m = np.array([sample_mag(rng, 14.0, 19.0) for _ in range(4000)])
    assert m.min() >= 14.0 and m.max() <= 19.0
    hist = np.histogram(m, bins=5, range=(14, 19))[0]
    assert np.all(np.diff(hist) > 0)
    cfg = load_config(["default"]).simulate
    for i in range(20):
        s = sample_scene(cfg, 0, i)
        bulge, disk = s.central
        assert bulge.mags["g"] - bulge.mags["r"] > disk.mags["g"] - disk.mags["r"] - 0.3
        assert 0.3 <= s.hlr <= 5.0 and 0 < s.q <= 1 and 0 <= s.bulge_frac <= 1
        assert 300 < s.ra or s.ra < 60 and abs(s.dec) <= 1.25


def test_noise_model_and_broadening():
    rng = np.random.default_rng(1)
    for w in (0.0, 0.15):
        z = sky_noise((256, 256), 2.5, w, rng)
        assert math.isclose(z.std(), 2.5, rel_tol=0.03)
        r1 = np.mean(z[:, 1:] * z[:, :-1]) / z.var()
        assert (abs(r1) < 0.02) if w == 0 else (0.2 < r1 < 0.6)
    img = np.zeros((64, 64))
    img[32, 32] = 5.0
    out = gaussian_broaden(img, 1.2)
    assert math.isclose(out.sum(), 5.0, rel_tol=1e-12) and out.max() < 1.0
    x, y = survey_pair(load_config(["default"]))
    assert (x.name, y.name, x.stamp_size, y.stamp_size) == ("sdss", "cfht", 64, 136)


def test_band_psf_fwhm_matches_header_value():
    """Base PSF (x) calibrated Gaussian has the band's FWHM, measured independently by GalSim."""
    for spec in survey_pair(load_config(["default"])):
        base = min(b.psf_fwhm for b in spec.bands) * 0.95
        for b in spec.bands:
            n, sc = spec.stamp_size * 4 + 1, spec.pixel_scale / 4
            img = make_psf(spec, base).drawImage(nx=n, ny=n, scale=sc, method="no_pixel").array
            out = gaussian_broaden(img, broadening_fwhm(spec.psf_kind, spec.psf_beta, base, b.psf_fwhm) * FWHM_TO_SIGMA / sc)
            assert math.isclose(galsim.Image(out, scale=sc).calculateFWHM(), b.psf_fwhm, rel_tol=5e-3)
