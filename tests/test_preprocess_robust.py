"""preprocess robustness (#15): no input file aborts a rank or hangs it, ambiguity is refused with what
was found, catalog problems are one line, a second run on the same OUT is refused, and every reason
the code can emit is in docs/preprocess.md's table."""
from __future__ import annotations

import ast
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from hpcgan.config import load_config
from hpcgan.dist.comm import Comm
from hpcgan.io import reasons as R
from hpcgan.io.fits_read import parse_fits, parse_header
from hpcgan.io.stamps import read_stamp
from hpcgan.utils.lock import LOCK_NAME, acquire, release
from preprocess.run import EXIT_LOCKED, run
from tests.conftest import MPIRUN, REPO, hpcgan_cmd, mpirun_cmd, run_cmd

BANDS = "ugriz"
S = 16  # stamp size
COLS = "object_id,survey,split,path,ra,dec"


# ---- crafting files from a good stamp ------------------------------------------------------------
def _header(cards: list[tuple[str, str]]) -> bytes:
    text = "".join(f"{k:<8}= {v:>20}".ljust(80) for k, v in cards) + "END".ljust(80)
    return text.ljust(-(-len(text) // 2880) * 2880).encode()


def _pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 2880)


def mef(img: np.ndarray, edits: dict | None = None, extra: dict | None = None) -> bytes:
    """A 5-band MEF written card by card; ``edits[hdu][key] = raw value`` (None: drop the card),
    ``extra[hdu]``: cards appended as they are (e.g. a second NAXIS1)."""
    hdus = [[("SIMPLE", "T"), ("BITPIX", "8"), ("NAXIS", "0"), ("EXTEND", "T"), ("BUNIT", "'nanomaggy'")]]
    hdus += [[("XTENSION", "'IMAGE   '"), ("BITPIX", "-32"), ("NAXIS", "2"), ("NAXIS1", str(S)), ("NAXIS2", str(S)),
              ("PCOUNT", "0"), ("GCOUNT", "1"), ("EXTNAME", f"'{b}'"), ("BSCALE", "1.0"), ("BZERO", "0.0")]
             for b in BANDS]
    for i, changes in (edits or {}).items():
        cards = dict(hdus[i])
        for k, v in changes.items():
            cards[k] = v
        hdus[i] = [(k, v) for k, v in cards.items() if v is not None]
    for i, cards in (extra or {}).items():
        hdus[i] = hdus[i] + cards
    out = _header(hdus[0])
    for cards, plane in zip(hdus[1:], img):
        out += _header(cards) + _pad(plane.astype(">f4").tobytes())
    return out


def _astropy_bytes(hdus: list) -> bytes:
    b = io.BytesIO()
    fits.HDUList(hdus).writeto(b)
    return b.getvalue()


def _rice(img: np.ndarray) -> bytes:
    return _astropy_bytes([fits.PrimaryHDU()] + [fits.CompImageHDU(p, compression_type="RICE_1", name=b)
                                                 for b, p in zip(BANDS, img)])


def _heaps(buf: bytes):
    """(start, length) of the heap of each BINTABLE HDU (tile-compressed images)."""
    for m in re.finditer(rb"XTENSION= 'BINTABLE'", buf):
        hdr, dp = parse_header(buf, m.start())
        yield dp + hdr["NAXIS1"] * hdr["NAXIS2"], hdr["PCOUNT"]


def _random_heap(buf: bytes, rng) -> bytes:
    b = bytearray(buf)
    for start, n in _heaps(buf):
        b[start:start + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    return bytes(b)


def _cut_heap(buf: bytes) -> bytes:
    start, n = next(_heaps(buf))
    return buf[:start + n // 2]


def stamp_img(rng) -> np.ndarray:
    return (rng.normal(size=(5, S, S)) + 0.5).astype(np.float32)


def make_bad(d: Path, rng) -> dict[str, str]:
    """One file per kind of bad input under ``d``; returns {name: expected reason substring}."""
    d.mkdir(parents=True, exist_ok=True)
    img = stamp_img(rng)
    good = mef(img)
    files = {  # name -> (bytes, expected)
        "neg_naxis1": (mef(img, {1: {"NAXIS1": "-64"}}), "bad NAXIS1 = -64 in HDU 1 (want an integer >= 0)"),
        "no_bitpix": (mef(img, {2: {"BITPIX": None}}), "missing BITPIX card in HDU 2"),
        "bitpix_abc": (mef(img, {1: {"BITPIX": "'abc'"}}), "bad BITPIX = 'abc' in HDU 1"),
        "bitpix_7": (mef(img, {1: {"BITPIX": "7"}}), "unsupported BITPIX 7 in HDU 1"),
        "bscale_abc": (mef(img, {3: {"BSCALE": "'abc'"}}), "bad BSCALE = 'abc' in HDU 3 (want a finite number)"),
        "bzero_nan": (mef(img, {3: {"BZERO": "NAN"}}), "bad BZERO = nan in HDU 3"),
        "naxis1_sixty": (mef(img, {1: {"NAXIS1": "'sixty'"}}), "bad NAXIS1 = 'sixty' in HDU 1"),
        "naxis_three": (mef(img, {1: {"NAXIS": "'three'"}}), "bad NAXIS = 'three' in HDU 1"),
        "naxis_bool": (mef(img, {1: {"NAXIS": "T"}}), "bad NAXIS = T in HDU 1"),
        "naxis1_float": (mef(img, {1: {"NAXIS1": f"{S}.5"}}), f"bad NAXIS1 = {S}.5 in HDU 1"),
        "naxis3_no_naxis2": (mef(img, {1: {"NAXIS": "3", "NAXIS2": None, "NAXIS3": "1"}}), "missing NAXIS2 card in HDU 1"),
        "gcount_0": (mef(img, {1: {"GCOUNT": "0"}}), "bad GCOUNT = 0 in HDU 1"),
        "pcount_8": (mef(img, {1: {"PCOUNT": "8"}}), "bad PCOUNT = 8 in HDU 1 (want 0 in an image HDU)"),
        "simple_f": (mef(img, {0: {"SIMPLE": "F"}}), "SIMPLE = F"),
        "dup_naxis1": (mef(img, extra={1: [("NAXIS1", str(2 * S))]}), f"duplicate NAXIS1 card in HDU 1 ({S} then {2 * S})"),
        "lying_big": (mef(img, {5: {"NAXIS2": "100000"}}), "truncated FITS data in HDU 5"),
        "lying_naxis2": (mef(img, {1: {"NAXIS2": "60"}}), "garbage after HDU 1: no XTENSION card at byte 11520"),
        "no_end": (good[:2880].replace(b"END" + b" " * 77, b" " * 80), "truncated FITS header in HDU 0 (no END card)"),
        "trunc_data": (good[:-2780], f"truncated FITS data in HDU 5: 100 of {4 * S * S} bytes"),
        "not_fits": (b"hello, not FITS\n" * 300, "not a FITS file"),
        "empty": (b"", "empty file"),
        "dup_extname": (good + _header([("XTENSION", "'IMAGE   '"), ("BITPIX", "-32"), ("NAXIS", "2"),
                                        ("NAXIS1", str(S)), ("NAXIS2", str(S)), ("EXTNAME", "'u'")])
                        + _pad(img[0].astype(">f4").tobytes()), "duplicate EXTNAME 'u' (HDUs 1, 6)"),
        "four_d": (_astropy_bytes([fits.PrimaryHDU(img.reshape(5, 1, S, S))]),
                   f"missing band 'u': no image HDU with EXTNAME='u'; the file has 1 image HDU (HDU 0: 5x1x{S}x{S}, "
                   "no EXTNAME)"),
        "single_300": (_astropy_bytes([fits.PrimaryHDU(np.ones((300, 300), np.float32))]),
                       "the file has 1 image HDU (HDU 0: 300x300, no EXTNAME)"),
        "no_image": (_astropy_bytes([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("a", "E", array=[1.0])])]),
                     "no image HDU: the file has 2 HDUs, no image"),
        "rice_random_heap": (_random_heap(_rice(img), rng), "unreadable FITS (CfitsioException"),
        "rice_truncated_heap": (_cut_heap(_rice(img)), "truncated FITS data in HDU 1: "),
    }
    expected = {}
    for name, (data, want) in files.items():
        (d / f"{name}.fits").write_bytes(data)
        expected[name] = want
    os.mkfifo(d / "fifo.fits")
    (d / "directory.fits").mkdir()
    os.symlink(d / "loop_b.fits", d / "loop_a.fits")
    os.symlink(d / "loop_a.fits", d / "loop_b.fits")
    expected.update({"fifo": "not a regular file (FIFO)", "directory": "not a regular file (directory)",
                     "loop_a": "not a regular file (symlink loop)", "missing": "missing file"})
    try:  # root in a container may lack CAP_MKNOD
        os.mknod(d / "chardev.fits", 0o600 | 0o020000, os.makedev(1, 3))  # /dev/null's numbers
        expected["chardev"] = "not a regular file (character device)"
    except OSError:
        pass
    return expected


def write_good(d: Path, n: int, rng) -> list[str]:
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (d / f"g{i}.fits").write_bytes(mef(stamp_img(rng)))
    return [f"g{i}" for i in range(n)]


def catalog(root: Path, good: list[str], bad: dict[str, str], order: np.ndarray | None = None) -> Path:
    rows = [f"{g},sdss,unpaired,good/{g}.fits,1,1" for g in good] + [f"{b},sdss,unpaired,bad/{b}.fits,1,1" for b in bad]
    if order is not None:
        rows = [rows[i] for i in order]
    (root / "catalog.csv").write_text(COLS + "\n" + "\n".join(rows) + "\n")
    return root / "catalog.csv"


def sets(catalog_path: Path, out: Path, *more: str) -> list[str]:
    return [f"preprocess.catalog={catalog_path}", f"preprocess.out={out}", f"data.x.stamp_size={S}",
            "preprocess.batch_size=4", "preprocess.quarantine_max_frac=1.0", *more]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, list[str], dict[str, str]]:
    root = tmp_path_factory.mktemp("robust") / "data"
    rng = np.random.default_rng(15)
    good = write_good(root / "good", 8, rng)
    bad = make_bad(root / "bad", rng)
    return root, good, bad


def check_manifest(out: Path, good: list[str], bad: dict[str, str]) -> None:
    m = json.loads((out / "manifest.json").read_text())
    assert m["accepted"] + m["quarantined"] == m["seen"] == len(good) + len(bad)
    reasons = {q["object_id"]: q["reason"] for q in m["quarantine"]}
    assert set(reasons) == set(bad), set(reasons) ^ set(bad)
    for name, want in bad.items():
        assert want in reasons[name], (name, reasons[name])
        assert "\n" not in reasons[name]
    assert m["accepted"] == len(good)


# ---- the tests ---------------------------------------------------------------------------------------
def test_good_stamp_reads_exactly(tmp_path):
    img = stamp_img(np.random.default_rng(0))
    (tmp_path / "g.fits").write_bytes(mef(img))
    np.testing.assert_array_equal(read_stamp(str(tmp_path / "g.fits"), str(tmp_path), tuple(BANDS), S).image, img)
    with fits.open(io.BytesIO(mef(img))) as h:  # the builder writes standard FITS
        np.testing.assert_array_equal(h["r"].data, img[2])
    np.testing.assert_allclose(parse_fits(_rice(img))[3].data, img[2], atol=0.1)  # Rice quantises floats


def test_every_bad_file_quarantined_on_two_ranks(data, tmp_path):
    root, good, bad = data
    cat = catalog(root, good, bad)
    out = tmp_path / "out"
    run_cmd(mpirun_cmd(2, sys.executable, "-m", "preprocess", *sets(cat, out)), timeout=120)
    check_manifest(out, good, bad)


def test_ten_runs_bad_files_at_random_positions(data, tmp_path):
    """The done-when check of #15: one bad file of each kind among good files, shuffled, 10 runs on
    2 ranks (so the bad files land on either rank, first or last in its part)."""
    root, good, bad = data
    for seed in range(10):
        order = np.random.default_rng(seed).permutation(len(good) + len(bad))
        cat = catalog(root, good, bad, order)
        out = tmp_path / f"run{seed}"
        run_cmd(mpirun_cmd(2, sys.executable, "-m", "preprocess", *sets(cat, out)), timeout=120)
        check_manifest(out, good, bad)


def test_unexpected_error_is_a_reason_and_read_timeout(data, tmp_path, monkeypatch):
    """An exception of any type at the per-file boundary, and a read that blocks (a FIFO opened
    without the regular-file check stands in for a hung mount), are quarantined; the run completes."""
    import hpcgan.io.open_fits as open_fits

    root, good, _ = data
    fifo = tmp_path / "hang"
    os.mkfifo(fifo)
    real_parse, real_load = open_fits.parse_fits, open_fits._load

    def parse(buf, fast=True):
        if buf == (root / "good/g1.fits").read_bytes():
            raise ZeroDivisionError("a bug somewhere")
        return real_parse(buf, fast)

    def load(path, limits, timeout_s):
        if path.endswith("g2.fits"):
            os.open(fifo, os.O_RDONLY)  # blocks until a writer opens it
        return real_load(path, limits, timeout_s)

    monkeypatch.setattr(open_fits, "parse_fits", parse)
    monkeypatch.setattr(open_fits, "_load", load)
    cat = catalog(root, good, {})
    try:
        assert run(load_config(None, sets(cat, tmp_path / "out", "preprocess.read_timeout_s=0.5")), Comm()) == 0
    finally:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # let the abandoned thread go
    m = json.loads((tmp_path / "out/manifest.json").read_text())
    reasons = {q["object_id"]: q["reason"] for q in m["quarantine"]}
    assert reasons == {"g1": f"unexpected error (ZeroDivisionError: a bug somewhere): {root}/good/g1.fits",
                       "g2": f"read timed out after 0.5 s: {root}/good/g2.fits"}
    assert m["accepted"] == len(good) - 2


@pytest.mark.parametrize("case", ["missing", "empty", "column", "directory"])
def test_catalog_problem_is_one_line_exit_2(case, tmp_path):
    cat = tmp_path / "catalog.csv"
    want = {"missing": "missing file", "empty": "empty file", "column": "missing column(s) ra, dec; has object_id",
            "directory": "not a regular file (directory)"}[case]
    if case == "empty":
        cat.write_text("")
    elif case == "column":
        cat.write_text("object_id,survey,split,path\na,sdss,unpaired,a.fits\n")
    elif case == "directory":
        cat.mkdir()
    args = [*MPIRUN, "-q", "-np", "2", sys.executable, "-m", "preprocess", *sets(cat, tmp_path / "out")]
    p = run_cmd(args, timeout=120, check=False)
    lines = [x for x in (p.stdout + p.stderr).splitlines() if x.strip()]
    assert p.returncode == 2, p.stderr
    assert len(lines) == 1 and "[rank 0/2] ERROR" in lines[0] and f"catalog {cat}: {want}" in lines[0], lines


def test_header_only_catalog_warns(tmp_path):
    cat = tmp_path / "catalog.csv"
    cat.write_text(COLS + "\n")
    p = run_cmd(hpcgan_cmd("preprocess", *sets(cat, tmp_path / "out")), timeout=120)
    assert "no data rows (0 seen)" in p.stderr
    assert json.loads((tmp_path / "out/manifest.json").read_text())["seen"] == 0


def test_second_run_on_same_out_is_refused(data, tmp_path):
    root, good, _ = data
    cat = catalog(root, good[:2], {})
    out = tmp_path / "out"
    # the lock of a process killed with -9 is gone with it
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from hpcgan.utils.lock import acquire; "
                               f"acquire({str(out)!r}, 'holder'); print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert holder.stdout.readline().strip() == "held"
    p = run_cmd(hpcgan_cmd("preprocess", *sets(cat, out)), timeout=120, check=False)
    assert p.returncode == EXIT_LOCKED
    assert f"{out} is in use by another run (holder on" in p.stderr and f"pid {holder.pid}" in p.stderr
    assert not (out / "manifest.json").exists()
    holder.kill()
    holder.wait()
    run_cmd(hpcgan_cmd("preprocess", *sets(cat, out)), timeout=120)
    assert (out / LOCK_NAME).is_file() and (out / "manifest.json").is_file()


@pytest.mark.parametrize("stage", ["simulate", "translate", "evaluate"])
def test_simulate_translate_evaluate_refuse_a_locked_out(stage, tmp_path):
    out = tmp_path / "out"
    acquire(out, "test")
    try:
        small = ["--n-paired", "1", "--n-unpaired", "1"] if stage == "simulate" else []
        p = run_cmd(hpcgan_cmd(stage, "--out", str(out), *small), timeout=120, check=False)
    finally:
        release(out)
    assert p.returncode == EXIT_LOCKED and "is in use by another run (test on" in p.stderr, p.stderr[-2000:]


# ---- the reason table ----------------------------------------------------------------------------------
def _doc_templates() -> list[str]:
    text = (REPO / "docs/preprocess.md").read_text()
    section = text.split("\n## Quarantine", 1)[1].split("\n## ", 1)[0]
    return [m.group(1) for m in re.finditer(r"^\| `([^`]+)` \|", section, re.M)]


def test_reason_table_matches_the_code():
    docs, code = _doc_templates(), list(R.templates().values())
    assert sorted(docs) == sorted(code), {"only in docs": set(docs) - set(code), "only in code": set(code) - set(docs)}


REASON_CALLS = {"Reject", "FitsError", "FileProblem", "quarantine_entry"}


def _from_templates(node: ast.AST, funcs: dict[str, ast.FunctionDef]) -> bool:
    """A reason expression built from hpcgan.io.reasons: R.X, R.X.format(...), a variable passed on,
    str(e) of a caught reason, a conditional of those, one of those + a suffix (the path), or a call
    of a function of the module all of whose returns are such expressions."""
    if isinstance(node, ast.Attribute):
        return isinstance(node.value, ast.Name) and node.value.id == "R"
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, ast.Call):
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr == "format":
            return _from_templates(f.value, funcs)
        if isinstance(f, ast.Name) and f.id in funcs:
            returns = [r.value for r in ast.walk(funcs[f.id]) if isinstance(r, ast.Return)]
            return bool(returns) and all(_from_templates(r, funcs) for r in returns)
        return isinstance(f, ast.Name) and f.id == "str"
    if isinstance(node, ast.IfExp):
        return _from_templates(node.body, funcs) and _from_templates(node.orelse, funcs)
    if isinstance(node, ast.BinOp):
        return _from_templates(node.left, funcs)
    return False


def test_every_emitted_reason_is_a_template():
    bad = []
    for path in sorted([*(REPO / "preprocess").glob("*.py"), *(REPO / "hpcgan/io").glob("*.py")]):
        tree = ast.parse(path.read_text())
        funcs = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args:
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name in REASON_CALLS and not _from_templates(node.args[0], funcs):
                    bad.append(f"{path.name}:{node.lineno}")
    assert not bad, f"reasons not from hpcgan/io/reasons.py: {bad}"
