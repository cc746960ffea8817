"""translate: units round trip, determinism per object id, 2 ranks == 1 rank, resume after kill -9,
FITS WCS of the target survey, failing rank aborts, refusals. Tiny: simulated 16 <-> 40 px stamps,
width 0.125, 2 training iterations per step (built once per session)."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.wcs import WCS

from hpcgan.astro.transforms import to_model_space
from hpcgan.config import load_config
from hpcgan.data.shards import open_source, stamps_to_model
from hpcgan.dist.comm import Comm
from hpcgan.io import checkpoint as ckpt
from hpcgan.translate import Translator, noise_seed
from hpcgan.translate.run import run
from tests.conftest import hpcgan_cmd, mpirun_cmd, run_cmd

GEOM = ["data.x.stamp_size=16", "data.y.stamp_size=40"]
TINY = [*GEOM, "data.batch_size=2", "model.width=0.125", "kernels.impl=torch", "train.device=cpu",
        "train.log_every=1", "train.sample_every=0", "train.ckpt_every=1000", "dist.backend=none", "train.iters=2"]


def tiny_run(tmp_path_factory) -> Path:
    """Simulated survey pair (12 paired, 6 unpaired) -> shards -> step 1 + step 2 (2 iterations each).

    Built once per session under the session's base temp folder (shared with test_evaluate.py)."""
    root = tmp_path_factory.getbasetemp() / "tiny-translate"
    if (root / "ready").is_file():
        return root
    from hpcgan.train.trainer import train

    root.mkdir(exist_ok=True)
    run_cmd(hpcgan_cmd("simulate", "--out", str(root / "sim"), "--n-paired", "12", "--n-unpaired", "6", *GEOM),
            timeout=240)
    run_cmd(hpcgan_cmd("preprocess", "--catalog", str(root / "sim" / "catalog.csv"), "--out", str(root / "shards"),
                       *GEOM), timeout=240)
    for step in (1, 2):
        train(load_config("default", [*TINY, f"data.shards={root / 'shards'}", f"train.run_dir={root / 'train'}",
                                      f"train.step={step}"]))
    (root / "ready").touch()
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_run(tmp_path_factory)


def tcfg(tiny: Path, out: Path, *sets: str):
    return load_config("default", [*GEOM, f"data.shards={tiny / 'shards'}", f"preprocess.catalog={tiny / 'sim/catalog.csv'}",
                                   f"translate.checkpoint={tiny / 'train/ours-step2'}", f"translate.out={out}",
                                   "translate.device=cpu", "kernels.impl=torch", *sets])


def cli_args(tiny: Path, out: Path, *sets: str) -> list[str]:
    return [*GEOM, f"data.shards={tiny / 'shards'}", f"translate.checkpoint={tiny / 'train/ours-step2'}",
            f"translate.out={out}", "translate.device=cpu", "kernels.impl=torch", *sets]


def read_all(root: Path, survey: str = "cfht", split: str = "paired-test"):
    s = open_source(root, survey, split)
    imgs, ids = s.read(np.arange(len(s))), list(s.object_ids())
    s.close()
    return imgs, ids


def shard_hashes(out: Path) -> dict:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("r*/*/*/*.h5"))}


def test_shapes_units_roundtrip_and_realisations(tiny, tmp_path):
    out = tmp_path / "t"
    assert run(tcfg(tiny, out, "translate.n_realisations=2", "translate.batch_size=4"), Comm()) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["translated"] == 6 and m["totals"] == {"r0": 6, "r1": 6} and m["target"]["survey"] == "cfht"
    assert m["method"] == "model" and "baseline" not in m
    assert m["checkpoint_sha256"] == ckpt.resolve(tiny / "train/ours-step2").with_suffix(".pt.sha256").read_text().split()[0]
    y0, ids = read_all(out / "r0")
    y1, ids1 = read_all(out / "r1")
    src = open_source(tiny / "shards", "sdss", "paired-test")
    assert y0.shape == (6, 5, 40, 40) and ids == ids1 == list(src.object_ids())
    assert not np.array_equal(y0, y1)  # fresh noise per realisation
    # units: the shard holds inverse-transformed, un-scaled pixels; transforming them back gives G(x) + NE(z)
    tr = Translator(tiny / "train/ours-step2", "x2y", torch.device("cpu"), "torch")
    x = stamps_to_model(src.read(np.arange(6)), src, tr.src.flux_scale, tr.transform)
    want = tr.model_space(x, ids, [0, 1], seed=0)
    got = torch.stack([to_model_space(torch.from_numpy(a), tr.dst.flux_scale, "sqrt") for a in (y0, y1)])
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5)
    with h5py.File(next((out / "r0/cfht/paired-test").glob("part-*.h5")), "r", locking=False) as f:
        assert f.attrs["checkpoint_sha256"] == m["checkpoint_sha256"] and f.attrs["direction"] == "x2y"
        assert f.attrs["pixel_transform_applied"] == "none" and float(f.attrs["flux_scale_applied"]) == 1.0
        np.testing.assert_array_equal(f["ra"][()], src.column("ra"))
        assert np.allclose(f["mag_zp"][()], 30.0)
    src.close()


def test_noise_is_a_function_of_object_id_only(tiny, tmp_path):
    """Batch size, subset and order do not change a stamp's translation."""
    tr = Translator(tiny / "train/ours-step2", "x2y", torch.device("cpu"), "torch")
    src = open_source(tiny / "shards", "sdss", "paired-test")
    ids = [str(i) for i in src.object_ids()]
    x = stamps_to_model(src.read(np.arange(6)), src, tr.src.flux_scale, tr.transform)
    full = tr.model_space(x, ids, [3], seed=7)[0]
    part = tr.model_space(x[[4, 1]], [ids[4], ids[1]], [3], seed=7)[0]
    assert torch.allclose(part, full[[4, 1]], atol=1e-6)
    other = tr.model_space(x, ids, [3], seed=8)[0]
    assert not torch.allclose(other, full)
    assert noise_seed(0, "a", 0) != noise_seed(0, "a", 1) != noise_seed(1, "a", 0)
    src.close()


def test_no_noise_is_the_generator_alone(tiny, tmp_path):
    """``--no-noise``: every realisation is G(x) (no noise emulator), recorded in the manifest and the FITS
    ``NOISE`` card; with noise the card says so and the config hash is the one of before the option."""
    out, noisy = tmp_path / "clean", tmp_path / "noisy"
    run_cmd(hpcgan_cmd("translate", *cli_args(tiny, out, "translate.n_realisations=2"), "--no-noise", "--fits"),
            timeout=240)
    assert run(tcfg(tiny, noisy, "translate.fits=true"), Comm()) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["noise"] is False and "noise" not in json.loads((noisy / "manifest.json").read_text())
    y0, ids = read_all(out / "r0")
    y1, _ = read_all(out / "r1")
    assert np.array_equal(y0, y1)  # no noise draw: the realisations are the same
    tr = Translator(tiny / "train/ours-step2", "x2y", torch.device("cpu"), "torch", noise=False)
    assert tr.ne is None
    src = open_source(tiny / "shards", "sdss", "paired-test")
    x = stamps_to_model(src.read(np.arange(6)), src, tr.src.flux_scale, tr.transform)
    src.close()
    g = tr.gen(x)  # the generator alone
    got = to_model_space(torch.from_numpy(y0), tr.dst.flux_scale, "sqrt")
    assert torch.allclose(got, g, rtol=1e-4, atol=1e-5)
    assert not np.array_equal(read_all(noisy / "r0")[0], y0)
    for root, flag in ((out, False), (noisy, True)):
        with fits.open(root / "fits/r0/cfht/paired-test" / f"{ids[0]}.fits", memmap=False) as h:
            assert h[0].header["NOISE"] is flag and h[1].header["NOISE"] is flag


def test_two_ranks_equal_one_rank_and_fits_wcs(tiny, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert run(tcfg(tiny, one, "translate.batch_size=2", "translate.fits=true"), Comm()) == 0
    run_cmd(mpirun_cmd(2, *hpcgan_cmd("translate", *cli_args(tiny, two, "translate.batch_size=2"), "--fits")),
            timeout=240)
    a, ida = read_all(one / "r0")
    b, idb = read_all(two / "r0")
    assert ida == idb and np.array_equal(a, b)  # whole batches per rank: bit-identical
    assert json.loads((two / "manifest.json").read_text())["nranks"] == 2
    # FITS: 5 HDUs named by band, TAN WCS centred on the object at CFHT's pixel scale, units, provenance
    src = open_source(tiny / "shards", "sdss", "paired-test")
    ra, dec = src.column("ra"), src.column("dec")
    sha = json.loads((one / "manifest.json").read_text())["checkpoint_sha256"]
    for j in (0, 5):
        path = one / "fits/r0/cfht/paired-test" / f"{ida[j]}.fits"
        assert path.read_bytes() == (two / "fits/r0/cfht/paired-test" / f"{ida[j]}.fits").read_bytes()
        with fits.open(path, memmap=False) as h:
            assert [x.name.lower() for x in h[1:]] == [*"ugriz", "mask"] and h[0].header["OBJID"] == ida[j]
            assert h[0].header["CKPTSHA"] == sha and h[0].header["REALIS"] == 0
            for k, hdu in enumerate(h[1:6]):
                assert hdu.data.shape == (40, 40) and hdu.header["BUNIT"] == "ADU" and hdu.header["MAGZP"] == 30.0
                np.testing.assert_array_equal(hdu.data.astype(np.float32), a[j, k])
            w = WCS(h[3].header)
            c = w.pixel_to_world(19.5, 19.5)  # 0-based centre of a 40-px stamp
            assert abs(c.ra.deg - ra[j]) * np.cos(np.radians(dec[j])) < 1e-9 and abs(c.dec.deg - dec[j]) < 1e-9
            assert np.allclose(np.abs(w.proj_plane_pixel_scales()[0].to_value("arcsec")), 0.187)
            east = w.pixel_to_world(18.5, 19.5)  # one pixel to -x is east (RA grows)
            assert east.ra.deg > c.ra.deg or east.ra.deg < c.ra.deg - 180
    src.close()


def test_resume_after_kill9_is_bit_identical(tiny, tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    sets = ("translate.batch_size=2", "translate.n_realisations=2", "translate.fits=true")
    assert run(tcfg(tiny, ref, *sets), Comm()) == 0
    p = run_cmd(hpcgan_cmd("translate", *cli_args(tiny, out, *sets)), timeout=240, check=False,
                env={"HPCGAN_PREPROCESS_KILL_AFTER": "1"})
    assert p.returncode in (-9, 137), p.stderr[-2000:]
    assert not (out / "manifest.json").exists() and len(list((out / ".work").rglob("batch-*.json"))) == 1
    p = run_cmd(hpcgan_cmd("translate", *cli_args(tiny, out, *sets)), timeout=240)
    assert "resuming after 1 committed batches" in p.stderr
    assert shard_hashes(out) == shard_hashes(ref) and len(shard_hashes(ref)) == 2
    for f in sorted((ref / "fits").rglob("*.fits")):
        assert f.read_bytes() == (out / f.relative_to(ref)).read_bytes()
    # a rerun of a finished job only verifies
    p = run_cmd(hpcgan_cmd("translate", *cli_args(tiny, out, *sets)), timeout=240)
    assert "complete, checksums verified" in p.stderr and shard_hashes(out) == shard_hashes(ref)


def test_failing_rank_aborts_job(tiny, tmp_path):
    p = run_cmd(mpirun_cmd(2, *hpcgan_cmd("translate", *cli_args(tiny, tmp_path / "o", "translate.batch_size=2"))),
                timeout=120, env={"HPCGAN_PREPROCESS_RAISE_AFTER": "1:1"}, check=False)
    assert p.returncode != 0 and "test hook" in p.stderr


def test_refuses_step1_checkpoint_and_wrong_geometry(tiny, tmp_path):
    from hpcgan.config import ConfigError

    with pytest.raises(ckpt.CheckpointError, match="no generator 'g_xy'"):
        run(tcfg(tiny, tmp_path / "a", f"translate.checkpoint={tiny / 'train/ours-step1'}"), Comm())
    fake = tmp_path / "fake" / "sdss" / "paired-test"  # 40-px stamps where the checkpoint expects 16-px sdss
    fake.mkdir(parents=True)
    shutil.copy(next((tiny / "shards/cfht/paired-test").glob("part-*.h5")), fake / "part-0-of-1.h5")
    with pytest.raises(ConfigError, match=r"shape \(5, 40, 40\).*expects \(5, 16, 16\)"):
        run(tcfg(tiny, tmp_path / "b", f"translate.shards={tmp_path / 'fake'}"), Comm())
    p = run_cmd(hpcgan_cmd("translate", *cli_args(tiny, tmp_path / "c", f"translate.checkpoint={tmp_path}/none")),
                timeout=120, check=False)
    assert p.returncode == 1 and "neither a checkpoint file nor a run dir" in p.stderr


def test_y2x_runs(tiny, tmp_path):
    out = tmp_path / "y2x"
    assert run(tcfg(tiny, out, "translate.direction=y2x", "translate.split=unpaired"), Comm()) == 0
    y, ids = read_all(out / "r0", "sdss", "unpaired")
    assert y.shape == (6, 5, 16, 16) and all(i.startswith("cfht-u") for i in ids) and np.isfinite(y).all()


def test_resample_baseline_end_to_end_two_ranks_equal_one(tiny, tmp_path):
    """--method resample writes what a model writes (shards, FITS, manifest with method and baseline
    settings, checkpoint_sha256 null); 2 ranks = 1 rank bit for bit; the pixels are the baseline's, and
    --add-noise adds the target's noise (measured on its shards), seeded per object id."""
    from hpcgan.models.baseline import naive_baseline
    from hpcgan.models.psf_baseline import PsfMatchedBaseline

    one, two, clean = tmp_path / "one", tmp_path / "two", tmp_path / "clean"
    sets = ("translate.method=resample", "translate.batch_size=2", "translate.n_realisations=2")
    assert run(tcfg(tiny, one, *sets, "baseline.add_noise=true", "translate.fits=true"), Comm()) == 0
    run_cmd(mpirun_cmd(2, *hpcgan_cmd("translate", *cli_args(tiny, two, *sets), "--fits", "--add-noise")), timeout=240)
    for k in (0, 1):
        (a, ida), (b, idb) = read_all(one / f"r{k}"), read_all(two / f"r{k}")
        assert ida == idb and np.array_equal(a, b)
    for f in sorted((one / "fits").rglob("*.fits")):
        assert f.read_bytes() == (two / f.relative_to(one)).read_bytes()
    m = json.loads((one / "manifest.json").read_text())
    assert (m["method"], m["checkpoint_sha256"], m["model_config"]) == ("resample", None, None)
    assert m["baseline"]["resample"] == "bicubic" and m["baseline"]["add_noise"] is True
    assert json.loads((two / "manifest.json").read_text())["nranks"] == 2
    src = open_source(tiny / "shards", "sdss", "paired-test")
    x, fwhm = torch.from_numpy(src.read(np.arange(len(src)))), torch.from_numpy(src.column("psf_fwhm").astype(np.float64))
    for pipeline in ("naive", "strong"):
        cfg = tcfg(tiny, clean / pipeline, "translate.method=resample", f"baseline.pipeline={pipeline}")
        assert run(cfg, Comm()) == 0
        y, ids = read_all(clean / pipeline / "r0")
        base = (naive_baseline(cfg.data, cfg.baseline, "x2y", cfg.translate.magzp) if pipeline == "naive" else
                PsfMatchedBaseline(cfg.data.x, cfg.data.y, cfg.baseline))
        assert ids == list(src.object_ids()) and np.allclose(y, base(x, fwhm).numpy(), rtol=1e-4, atol=1e-3)
    y0, _ = read_all(one / "r0")
    y1, _ = read_all(one / "r1")
    sky = np.array([2.43, 2.01, 3.55, 4.60, 10.06])  # CFHT SKYSIG per band (docs/simulation.md)
    for noisy in (y0, y1):
        # measured on the tiny set's 34-px CFHT stamps (8-px corner patches beside the galaxy): within 15%
        # (the estimator on pure noise: tests/test_astro.py)
        assert np.allclose((noisy - y).std(axis=(0, 2, 3)), sky, rtol=0.15)
    assert not np.array_equal(y0, y1)
    with fits.open(one / "fits/r1/cfht/paired-test" / f"{ids[0]}.fits") as h:
        assert (h[0].header["METHOD"], h[0].header["CKPTSHA"], h[1].header["REALIS"]) == ("resample", "", 1)
        np.testing.assert_array_equal(h[1].data.astype(np.float32), y1[0, 0])
    out = tmp_path / "y2x"
    assert run(tcfg(tiny, out, "translate.method=resample", "translate.direction=y2x"), Comm()) == 0
    y, _ = read_all(out / "r0", "sdss")
    assert y.shape == (6, 5, 16, 16) and json.loads((out / "manifest.json").read_text())["baseline"]["resample"] == "area"
    src.close()


def test_a_checkpoint_from_before_the_shape_prior_keeps_its_base():
    """A checkpoint whose config predates ``baseline.shape_prior_arcsec`` translates with step 4 off, as
    it was trained; one that names it keeps its own value."""
    import yaml

    from hpcgan.config.loader import dump_config
    from hpcgan.translate.model import checkpoint_config

    data = yaml.safe_load(dump_config(load_config(["demo"])))
    assert data["baseline"]["shape_prior_arcsec"] == 1.5
    assert checkpoint_config({"config_yaml": yaml.safe_dump(data)}).baseline.shape_prior_arcsec == 1.5
    del data["baseline"]["shape_prior_arcsec"]
    assert checkpoint_config({"config_yaml": yaml.safe_dump(data)}).baseline.shape_prior_arcsec == 0.0
