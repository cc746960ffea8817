"""Disks (issue 23): the up-front free-space check of simulate, preprocess and translate (one line, exit
74, nothing written; ``<stage>.disk_check=false`` overrides), write errors (a real EFBIG from a file-size
limit, and a real ENOSPC on a small tmpfs where mounting is permitted): one line naming the file and the
errno, exit 74, no traceback or signal, and the rerun resumes to the bytes of an undisturbed run;
what a part still needs after an interruption; translate's compression knob. Tiny simulated stamps
(16 <-> 40 px)."""
from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import uuid
from pathlib import Path

import h5py
import numpy as np
import pytest

from hpcgan.utils.disk import EXIT_IO, NoSpace, WriteError, check_space, free_bytes
from tests.conftest import hpcgan_cmd, run_cmd

GEOM = ["data.x.stamp_size=16", "data.y.stamp_size=40"]
QUIET = {"HPCGAN_LOG_LEVEL": "WARNING"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    """A tiny simulated survey pair and its shards (the input of preprocess and translate)."""
    d = tmp_path_factory.mktemp("disk")
    run_cmd(hpcgan_cmd("simulate", "--out", str(d / "sim"), "--n-paired", "6", "--n-unpaired", "4", *GEOM),
            timeout=240, env=QUIET)
    run_cmd(hpcgan_cmd("preprocess", "--catalog", str(d / "sim" / "catalog.csv"), "--out", str(d / "shards"), *GEOM,
                       "preprocess.batch_size=2"), timeout=240, env=QUIET)
    return d


def hashes(out: Path, glob: str = "**/part-*.h5") -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob(glob))}


def preprocess_cmd(sim: Path, out: Path, *sets: str) -> list[str]:
    return hpcgan_cmd("preprocess", "--catalog", str(sim / "sim" / "catalog.csv"), "--out", str(out), *GEOM,
                      "preprocess.batch_size=2", *sets)


def translate_cmd(sim: Path, out: Path, *sets: str) -> list[str]:
    return hpcgan_cmd("translate", "--method", "resample", "--shards", str(sim / "shards"), "--out", str(out), *GEOM,
                      "translate.device=cpu", "translate.batch_size=2", "translate.n_realisations=2", *sets)


def one_error_line(p: subprocess.CompletedProcess, *needles: str) -> str:
    """The run failed with exit 74 and one log line holding ``needles``; no traceback, no signal."""
    assert p.returncode == EXIT_IO, f"exit {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
    assert "Traceback" not in p.stderr and "Segmentation" not in p.stderr, p.stderr[-3000:]
    lines = [ln for ln in p.stderr.splitlines() if all(n in ln for n in needles)]
    assert len(lines) == 1, p.stderr[-3000:]
    return lines[0]


def test_check_space_is_one_line_naming_the_keys(tmp_path):
    free = free_bytes(tmp_path / "not" / "yet")  # the nearest existing parent's file system
    assert free > 0
    check_space(tmp_path, free // 4, 0.1, "translate")
    with pytest.raises(NoSpace) as e:
        check_space(tmp_path, free, 0.1, "translate")
    msg = str(e.value)
    assert "\n" not in msg and "translate.disk_check=false" in msg and "translate.disk_margin" in msg
    check_space(tmp_path, free, 0.1, "translate", enabled=False)
    assert str(WriteError(28, os.strerror(28), "/x/a.h5")).startswith(
        "cannot write /x/a.h5: [Errno 28 ENOSPC] No space left on device;")


@pytest.mark.parametrize("stage", ["simulate", "preprocess", "translate"])
def test_too_little_space_stops_before_writing(stage, sim, tmp_path):
    """A margin that no disk satisfies stands in for a full one: exit 74, one line, no output written;
    ``<stage>.disk_check=false`` runs anyway."""
    out = tmp_path / "out"
    cmd = {"simulate": lambda *s: hpcgan_cmd("simulate", "--out", str(out), "--n-paired", "2", "--n-unpaired", "1",
                                             *GEOM, *s),
           "preprocess": lambda *s: preprocess_cmd(sim, out, *s),
           "translate": lambda *s: translate_cmd(sim, out, *s)}[stage]
    p = run_cmd(cmd(f"{stage}.disk_margin=1e15"), check=False, timeout=240, env=QUIET)
    line = one_error_line(p, "not enough disk space")
    assert f"{stage}.disk_check=false" in line and str(out) in line
    assert not [f for f in out.rglob("*") if f.suffix in (".h5", ".fits", ".partial", ".csv")]
    run_cmd(cmd(f"{stage}.disk_margin=1e15", f"{stage}.disk_check=false"), timeout=240, env=QUIET)
    assert (out / ("catalog.csv" if stage == "simulate" else "manifest.json")).is_file()


def test_write_error_is_one_line_and_the_rerun_resumes(sim, tmp_path):
    """A real write error, injected by a file-size limit (EFBIG: the kernel refuses writes past it;
    works without root): preprocess ends with exit 74 and one line naming the file and the errno; the
    parts it finished stay and the rerun ends with the bytes of an undisturbed run."""
    ref, out = tmp_path / "ref", tmp_path / "out"
    run_cmd(preprocess_cmd(sim, ref), env=QUIET)
    sizes = sorted(p.stat().st_size for p in ref.glob("*/*/part-*.h5"))
    limit = (sizes[0] + sizes[-1]) // 2  # the small shards fit, the largest does not

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    p = subprocess.run(preprocess_cmd(sim, out), capture_output=True, text=True, timeout=240,
                       env={**os.environ, **QUIET}, preexec_fn=small_files)
    line = one_error_line(p, "cannot write")
    assert "[Errno 27 EFBIG] File too large" in line and ".h5" in line and "run the same command again" in line
    assert not (out / "manifest.json").exists()
    p = run_cmd(preprocess_cmd(sim, out), env={**QUIET, "HPCGAN_LOG_LEVEL": "INFO"})
    assert "checksums verified, kept" in p.stderr  # the parts finished before the error are not redone
    assert hashes(out) == hashes(ref) and len(hashes(ref)) == len(sizes)


def test_enospc_on_a_small_tmpfs(sim, tmp_path):
    """A real full disk: translate into a tmpfs half the size of its output (disk check off) ends with
    exit 74 and one line naming the file and ENOSPC (no signal 11 inside h5py); after the file system
    grows, the same command finishes with the bytes of an undisturbed run. Skipped where mounting is
    not permitted."""
    ref, mnt = tmp_path / "ref", tmp_path / "mnt"
    run_cmd(translate_cmd(sim, ref), env=QUIET)
    half = sum(f.stat().st_size for f in ref.rglob("*") if f.is_file()) // 2 // 4096 * 4096
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={half}", f"hpcgan-{uuid.uuid4().hex[:8]}", str(mnt)],
            capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        out = mnt / "out"
        p = run_cmd(translate_cmd(sim, out, "translate.disk_check=false"), check=False, timeout=240, env=QUIET)
        line = one_error_line(p, "cannot write")
        assert "[Errno 28 ENOSPC] No space left on device" in line and str(out) in line
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
        run_cmd(translate_cmd(sim, out), env=QUIET)
        assert hashes(out) == hashes(ref) and hashes(ref)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_bytes_needed_counts_only_what_is_left(tmp_path, monkeypatch):
    """A fresh part needs its shards; one interrupted after a commit holds its reserved skeleton (only
    the columns are left); a finished one needs nothing. With compression the copy is counted once."""
    from hpcgan.io import shard_writer as sw
    from tests.test_shard_writer import _produce

    job = sw.Job("unpaired", ("s",), [(sw.Row(i + 1, f"o{i}", "s", "unpaired", "", 10.0, 1.0),) for i in range(7)])
    outs = [sw.SurveyOut.at(tmp_path, "s", ("g", "r"), 64, "unpaired", 0, 1)]

    def part(compression="none") -> sw.JobPart:
        return sw.JobPart(job, 0, 7, 0, 1, tmp_path, outs, _produce, {}, {"s": {}}, "key", 3, compression)

    per = 2 * 64 * 64 * 4 + sw.META_BYTES
    assert part().bytes_needed() == 7 * per
    assert sw.bytes_needed([part("gzip")]) == 2 * 7 * per  # the compressed copy beside the partial
    monkeypatch.setenv(sw.RAISE_ENV, "1")
    with pytest.raises(RuntimeError, match="test hook"):
        part().run()
    monkeypatch.delenv(sw.RAISE_ENV)
    assert outs[0].partial.stat().st_blocks * 512 >= 7 * 2 * 64 * 64 * 4  # reserved, not sparse
    assert part().bytes_needed() <= 7 * sw.META_BYTES
    part().run()
    assert part().bytes_needed() == 0 and sw.bytes_needed([part("none"), part()]) == 0


def test_translate_compression(sim, tmp_path):
    """translate.compression=gzip: the same pixels, images stored gzip-compressed (one stamp a chunk),
    recorded in the manifest; resumes to the same bytes as preprocess's compression does."""
    plain, packed = tmp_path / "plain", tmp_path / "packed"
    run_cmd(translate_cmd(sim, plain), env=QUIET)
    run_cmd(translate_cmd(sim, packed, "translate.compression=gzip", "translate.compression_level=4"), env=QUIET)
    for k in (0, 1):
        (a,) = (plain / f"r{k}").glob("*/*/part-*.h5")
        (b,) = (packed / f"r{k}").glob("*/*/part-*.h5")
        with h5py.File(a) as fa, h5py.File(b) as fb:
            assert fb["images"].compression == "gzip" and fb["images"].compression_opts == 4
            assert fb["images"].chunks == (1, *fb["images"].shape[1:]) and fa["images"].compression is None
            assert np.array_equal(fa["images"][()], fb["images"][()])
            assert fb.attrs["compression"] == "gzip"
    m = json.loads((packed / "manifest.json").read_text())
    assert (m["compression"], m["compression_level"]) == ("gzip", 4)
