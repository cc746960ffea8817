"""Shared test fixtures and helpers."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe"]


def run_cmd(args: list[str], timeout: float = 300, env: dict | None = None, check: bool = True,
            cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run a command, capture its output, and on failure show it in the assertion."""
    full_env = {**os.environ, **(env or {})}
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd or REPO)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {p.returncode}\nstdout:\n{p.stdout[-4000:]}\n"
                             f"stderr:\n{p.stderr[-4000:]}")
    return p


def hpcgan_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "hpcgan", *args]


def mpirun_cmd(n: int, *args: str) -> list[str]:
    if shutil.which("mpirun") is None:
        pytest.fail("mpirun not found: run `make test` (env/setup.sh installs openmpi-bin)")
    return [*MPIRUN, "-np", str(n), *args]


@pytest.fixture(autouse=True)
def _seeded_rng():
    """Every test draws the same random numbers on every run: tolerances are checked, not luck."""
    import numpy as np
    import torch
    torch.manual_seed(1234)
    np.random.seed(1234)


@pytest.fixture
def realdata() -> Path:
    """The shared real FITS files; tests using them skip, naming the folder, where it is absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"real survey data folder missing: {REALDATA}")
    return REALDATA
