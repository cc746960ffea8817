"""hpcgan.dist.comm, the stages' communicator: serial in-process, and 2 ranks under mpirun (every
collective; a rank that raises ends the job non-zero at once)."""
from __future__ import annotations

import sys
import time

import pytest

from hpcgan.dist.comm import Comm, get_comm
from tests.conftest import REPO, mpirun_cmd, run_cmd

SCRIPT = str(REPO / "tests" / "dist_scripts" / "comm_ops.py")


def test_serial_comm():
    c = get_comm()  # no launcher: one process, mpi4py not needed
    assert isinstance(c, Comm) and c.mpi is None and (c.rank, c.size) == (0, 1)
    assert c.bcast("x") == "x" and c.gather(3) == [3] and c.allgather(4) == [4]
    assert c.allreduce(5) == 5 and c.allreduce(2.5, "max") == 2.5
    c.barrier()
    assert c.fail(3) == 3  # alone: the caller exits with the code
    with pytest.raises(ValueError, match="allowed: sum, max, min"):
        c.allreduce(1, "prod")


def test_two_ranks_collectives():
    p = run_cmd(mpirun_cmd(2, sys.executable, SCRIPT), timeout=120)
    assert p.stdout.count("comm ok") == 2


def test_two_ranks_failing_rank_aborts_quickly():
    t0 = time.monotonic()
    p = run_cmd(mpirun_cmd(2, sys.executable, SCRIPT, "--fail-rank", "1"), timeout=120, check=False)
    assert p.returncode != 0 and time.monotonic() - t0 < 40  # not the survivor's 60 s sleep
    assert "[rank 1] uncaught RuntimeError: aborting the job" in p.stderr and "comm ok" not in p.stdout
