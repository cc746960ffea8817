"""The stages' communicator on N ranks (tests/test_comm.py): every collective, then optionally a
failing rank. Prints ``comm ok rank=R`` on success.

Usage: mpirun -np 2 python comm_ops.py [--fail-rank R]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from hpcgan.dist.comm import get_comm  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--fail-rank", type=int, default=-1)
    a = p.parse_args()
    comm = get_comm()
    r, n = comm.rank, comm.size
    assert n > 1, "run under mpirun with several ranks"
    assert comm.bcast({"k": r}, root=0) == {"k": 0}
    assert comm.allgather(r) == list(range(n))
    g = comm.gather(r * 10)
    assert g == [10 * i for i in range(n)] if r == 0 else g is None
    assert comm.allreduce(r) == sum(range(n))
    assert comm.allreduce(float(r), "max") == n - 1 and comm.allreduce(r, "min") == 0
    comm.barrier()
    if r == a.fail_rank:
        raise RuntimeError(f"test failure on rank {r}")
    if a.fail_rank >= 0:
        comm.barrier()  # the others wait here: the failing rank's hook must end them
        time.sleep(60)
    print(f"comm ok rank={r}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
