"""Completion records: a stage's success is proven by its output, never by an exit code alone.

An ``srun`` whose step could not start (a PMIx socket clash, a node that died at launch) can still
exit 0; so can a step that was stopped before it finished. ``jobs/lib.sh`` and ``hpcgan submit``
therefore look, after the step, for the record the stage writes last:

=====================  ===============================================  ===========================
stage                  record                                           counts when
=====================  ===============================================  ===========================
simulate, match        ``OUT/catalog.csv``                              written by this step
preprocess, translate  ``OUT/manifest.json``                            written by this step
evaluate               ``OUT/metrics.json``                             written by this step
step1, step2           a complete checkpoint (``.pt`` + ``.sha256``)    there, iteration >= train.iters
                       of the run dir
check                  none (its exit code)
=====================  ===============================================  ===========================

"Written by this step": the file differs (inode, size, mtime) from what was there before the step
(each of these stages rewrites its record atomically at the end of every successful run, a resumed
one included), so a record left by an earlier run proves nothing. A training run that had already
reached ``train.iters`` has its proof on disk. ``--dry-run``/``--help`` ask for no record.

The stages before (``--after``, a chain's result file) are checked too: a result whose record is
gone (a stale result file) stops the chain before the step starts.

    python -m hpcgan.launch.record snapshot STAGE [--after PREV.json] [ARGS...]   # before: one JSON line
    python -m hpcgan.launch.record check SNAPSHOT       # after: 0 = there; 1 = missing (one line why)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

EXIT_NO_RECORD = 70  # sysexits EX_SOFTWARE: the step ended 0 without the record of a finished stage
FILES = {"simulate": "catalog.csv", "match": "catalog.csv", "preprocess": "manifest.json",
         "translate": "manifest.json", "evaluate": "metrics.json"}
TRAIN = ("step1", "step2")
NO_WORK = ("--dry-run", "-h", "--help")  # flags with which a stage writes nothing


def _fingerprint(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _checkpoint_at(run_dir: Path, iters: int) -> Path | None:
    """The newest complete checkpoint of ``run_dir`` at iteration >= ``iters``."""
    from hpcgan.io.checkpoint import list_checkpoints

    done = [p for it, p in list_checkpoints(run_dir) if it >= iters]
    return done[-1] if done else None


def snapshot(stage: str, argv: Sequence[str], after: str | Path | None = None) -> dict:
    """What the step of ``stage`` run with ``argv`` (and the results in ``after``) must leave, and what
    is there now. ValueError (one line) when a result in ``after`` has lost its record."""
    from hpcgan.stages import STAGES, read_results

    done = read_results(after)
    for name, res in done.items():
        why = result_missing(name, res.out_dir, res.extra)
        if why:
            raise ValueError(f"stage {stage}: the result of stage {name} in {after} is stale: {why}")
    if any(t in NO_WORK for t in argv) or stage not in STAGES or STAGES[stage].out_dir is None:
        return {"stage": stage, "kind": "none"}
    st = STAGES[stage]
    cfg, a = st.parse([*st.reads(done), *argv])
    out = Path(st.out_dir(cfg, a)).absolute()
    if stage in TRAIN:
        return {"stage": stage, "kind": "checkpoint", "run_dir": str(out), "iters": cfg.train.iters}
    if stage not in FILES:
        return {"stage": stage, "kind": "none"}
    rec = out / FILES[stage]
    return {"stage": stage, "kind": "fresh", "record": str(rec), "before": _fingerprint(rec)}


def check(snap: dict) -> tuple[bool, str]:
    """Whether the step left its record (``snap`` from :func:`snapshot` before it), and a line why."""
    kind, stage = snap.get("kind"), snap.get("stage")
    if kind == "none":
        return True, f"stage {stage}: no completion record to check"
    if kind == "checkpoint":
        ck = _checkpoint_at(Path(snap["run_dir"]), int(snap["iters"]))
        if ck is None:
            return False, (f"stage {stage}: no complete checkpoint at iteration {snap['iters']} (train.iters) in "
                           f"{snap['run_dir']}/checkpoints: the step did not finish")
        return True, f"stage {stage}: completion record {ck}"
    rec = Path(snap["record"])
    now = _fingerprint(rec)
    if now is None:
        return False, f"stage {stage}: no {rec}: the step did not finish (or did not start)"
    if now == snap.get("before"):
        return False, f"stage {stage}: {rec} is the one from before this step: the step did not finish"
    return True, f"stage {stage}: completion record {rec}"


def result_missing(name: str, out_dir: str | None, extra: dict) -> str:
    """Why the result of stage ``name`` (a chain result file's entry) lacks its record ('' = it has it)."""
    if name in TRAIN:
        ck = extra.get("checkpoint")
        return "" if not ck or Path(ck).is_file() else f"its checkpoint {ck} is gone"
    if name in FILES and out_dir:
        rec = Path(out_dir) / FILES[name]
        return "" if rec.is_file() else f"{rec} is gone"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["check"] and len(argv) == 2:
        try:
            ok, why = check(json.loads(argv[1]))
        except (ValueError, KeyError, TypeError) as e:
            ok, why = False, f"no usable snapshot ({e}): the record cannot be checked"
        print(f"[job] {why}", file=sys.stderr)
        return 0 if ok else 1
    if argv[:1] == ["snapshot"] and len(argv) >= 2:
        p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
        p.add_argument("--after")
        p.add_argument("--result")
        a, rest = p.parse_known_args(argv[2:])
        from hpcgan.config import ConfigError

        try:
            print(json.dumps(snapshot(argv[1], rest, a.after)))
        except ConfigError as e:
            print(f"hpcgan {argv[1]}: config error: {e}", file=sys.stderr)
            return 2
        except (ValueError, OSError) as e:
            print(f"[job] {e}", file=sys.stderr)
            return 1
        return 0
    print("usage: python -m hpcgan.launch.record snapshot STAGE [--after F] [ARGS...] | check SNAPSHOT",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    os.environ.setdefault("HPCGAN_LOG_LEVEL", "WARNING")
    sys.exit(main())
