"""``hpcgan train``: one step of the two-step training (or a single-step variant).

    hpcgan train --step 1 -c demo                  # noise emulators -> demo_out/train/ours-step1
    hpcgan train --step 2 -c demo                  # generators      -> demo_out/train/ours-step2
    hpcgan train -c demo -c cyclegan train.iters=10 --run-dir /tmp/cg
    hpcgan train --step 1 -c demo --dry-run        # print the resolved config and the plan

Exit status: 0 done, 1 unusable checkpoint or missing data, 2 config error or a run dir in use by another
run, 65 stopped on non-finite losses
or weights (nothing non-finite saved; the last good checkpoint is named), 75 stopped by SIGUSR1 (or another stop
signal; checkpoint saved: run the same command again to resume; jobs requeue), 143 stopped by SIGTERM and 130 by
SIGINT (checkpoint saved; cancelled: never requeued, hpcgan/utils/stop_codes.py, hpcgan/launch/requeue.py).
"""
from __future__ import annotations

import sys
from typing import Sequence

from hpcgan.commandline import Flag, config_from_args, stage_parser
from hpcgan.io.checkpoint import CheckpointError
from hpcgan.utils.stop_codes import EXIT_REQUEUE as EXIT_INTERRUPTED  # noqa: F401 (tests read it)
from hpcgan.utils.stop_codes import stop_exit_code

EXIT_NONFINITE = 65  # sysexits EX_DATAERR: rerunning as is will not help (75 = EX_TEMPFAIL: it will)
FLAGS = (
    Flag("--step", "train.step", "training step", type=int, choices=(1, 2)),
    Flag("--run-dir", None, "output folder (default: {train.run_dir}/{variant}-step{N})"),
)


def main(argv: Sequence[str] | None = None) -> int:
    p = stage_parser("hpcgan train", __doc__.split("\n\n")[0], FLAGS,
                     dry_run="print the resolved config and plan, train nothing")
    a = p.parse_args(argv)
    cfg = config_from_args(a, (), FLAGS)
    from hpcgan.train.guard import NonFiniteError
    from hpcgan.train.trainer import run  # torch import after argument errors
    from hpcgan.utils.lock import EXIT_LOCKED, LockHeld

    try:
        res = run(cfg, a.run_dir, dry_run=a.dry_run)
    except (CheckpointError, FileNotFoundError) as e:
        print(f"hpcgan train: {e}", file=sys.stderr)
        return 1
    except NonFiniteError as e:
        print(f"hpcgan {e}", file=sys.stderr)
        return EXIT_NONFINITE
    except LockHeld as e:
        print(f"hpcgan train: {e}", file=sys.stderr)
        return EXIT_LOCKED
    if a.dry_run:
        return 0
    print(f"run dir: {res.run_dir} (iteration {res.iteration})")
    return stop_exit_code(res.stop_signal) if res.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
