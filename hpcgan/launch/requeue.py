"""Exit codes of a stopped stage and the requeue rule, once, for ``jobs/lib.sh`` and ``hpcgan submit`` alike.

A stage that stops on a signal (``train.stop_signals``) saves a checkpoint and exits by the signal
(:func:`stop_exit_code`): :data:`EXIT_REQUEUE` (75, sysexits EX_TEMPFAIL: running the same command
again resumes) after SIGUSR1 (the time-limit warning), :data:`EXIT_TERMINATED` (143 = 128 + 15)
after SIGTERM (cancelled or preempted: the stage is over, SLURM decides what follows). A job is
requeued when (:func:`should_requeue`):

- the step did not complete (failed, or ended without its completion record,
  :mod:`hpcgan.launch.record`) after the batch shell got the time-limit warning
  (``--signal=B:USR1``), whatever its exit code (a stage without its own handler is killed by USR1;
  its rerun keeps what it committed), or
- the stage exited 75 with no signal seen by the batch shell (submitit sends USR1 to the tasks;
  ``scancel --signal=USR1`` without ``--batch`` too);

and never when the step completed, after SIGTERM (``scancel``, ``scancel -s TERM`` to the batch
shell or to the steps, preemption), or once ``SLURM_RESTART_COUNT`` reaches ``HPCGAN_MAX_REQUEUE``
(default 20). A step that exits 0 without its record, with no signal, fails the job (exit
:data:`~hpcgan.launch.record.EXIT_NO_RECORD`, 70): it did not start or stopped early for a reason
a requeue would not fix.

    python -m hpcgan.launch.requeue RC [SIGNAL]   # exit 0: requeue; 1: do not (one line why)
"""
from __future__ import annotations

import os
import sys
from typing import Sequence

from hpcgan.launch.record import EXIT_NO_RECORD
from hpcgan.utils.stop_codes import EXIT_INTERRUPTED, EXIT_REQUEUE, EXIT_TERMINATED, stop_exit_code  # noqa: F401

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
    if signal == "TERM" or rc in (EXIT_TERMINATED, EXIT_INTERRUPTED):
        return False, f"exit {rc} after SIG{signal or ('TERM' if rc == EXIT_TERMINATED else 'INT')} (cancelled or " \
                      "preempted: resubmit to resume)"
    if signal != "USR1" and rc == EXIT_NO_RECORD:
        return False, f"exit {rc}: the step ended without its completion record (it did not start or stopped early)"
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
