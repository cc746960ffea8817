"""Exit code 75 and the requeue rule, once, for ``jobs/lib.sh`` and ``hpcgan submit`` alike.

A stage that stops on a signal (``train.stop_signals``) saves a checkpoint and exits
:data:`EXIT_REQUEUE` (75, sysexits EX_TEMPFAIL: running the same command again resumes). A job is
requeued when (:func:`should_requeue`):

- the step failed after the batch shell got the time-limit warning (``--signal=B:USR1``), whatever
  its exit code (a stage without its own handler is killed by USR1; its rerun keeps what it
  committed), or
- the stage exited 75 with no signal seen by the batch shell (submitit sends USR1 to the tasks);

and never when the step succeeded, after SIGTERM (``scancel`` or preemption: SLURM decides), or once
``SLURM_RESTART_COUNT`` reaches ``HPCGAN_MAX_REQUEUE`` (default 20).

    python -m hpcgan.launch.requeue RC [SIGNAL]   # exit 0: requeue; 1: do not (one line why)
"""
from __future__ import annotations

import os
import sys
from typing import Sequence

EXIT_REQUEUE = 75
MAX_REQUEUE = 20


def restarts() -> int:
    return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)


def max_requeue() -> int:
    return int(os.environ.get("HPCGAN_MAX_REQUEUE", MAX_REQUEUE))


def should_requeue(rc: int, signal: str | None = None, restart: int | None = None,
                   limit: int | None = None) -> tuple[bool, str]:
    """Whether a step that ended with ``rc`` (after ``signal`` reached the batch shell, if any) is
    requeued, and why (one line)."""
    restart = restarts() if restart is None else restart
    limit = max_requeue() if limit is None else limit
    if rc == 0:
        return False, "the stage finished"
    if signal == "TERM":
        return False, f"exit {rc} after SIGTERM (cancelled or preempted)"
    if signal != "USR1" and rc != EXIT_REQUEUE:
        return False, f"exit {rc}: a failure, not a stop on a signal"
    if restart >= limit:
        return False, f"restart {restart} >= HPCGAN_MAX_REQUEUE={limit}"
    return True, f"exit {rc} after {'SIGUSR1' if signal == 'USR1' else 'a stop signal'} (restart {restart})"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not 1 <= len(argv) <= 2 or not argv[0].lstrip("-").isdigit():
        print("usage: python -m hpcgan.launch.requeue RC [SIGNAL]", file=sys.stderr)
        return 2
    yes, why = should_requeue(int(argv[0]), (argv[1] if len(argv) > 1 else "") or None)
    print(f"[job] {'requeueing' if yes else 'not requeueing'}: {why}", file=sys.stderr)
    return 0 if yes else 1


if __name__ == "__main__":
    sys.exit(main())
