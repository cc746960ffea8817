"""The parts every stage command shares: the config arguments (``--config``, ``--set``, ``key=value``),
parsing a stage's command line into its resolved config, and the run-on-ranks tail (lock, exit codes).

Below the stages (docs/architecture.md), so each stage's ``cli.py`` builds on it without importing
the ``hpcgan`` entry point (:mod:`hpcgan.cli`).
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from hpcgan.config import Config, ConfigError, dump_config, load_config
from hpcgan.log import get_logger

log = get_logger("hpcgan")


def add_config_args(p: argparse.ArgumentParser) -> None:
    """The config arguments every stage shares. Also makes ``p.parse_args`` intermixed (argparse's
    ``parse_intermixed_args``), so overrides may come before, between or after flags:
    ``hpcgan train --dry-run train.iters=3``."""
    p.parse_args = functools.partial(argparse.ArgumentParser.parse_intermixed_args, p)
    p.add_argument("--config", "-c", action="append", default=[],
                   help="YAML config file or name in configs/ (repeatable; later files win). Default: default")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override one key, e.g. train.lr=2e-4 (repeatable)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="more overrides, e.g. train.iters=100")


def flag_overrides(args: argparse.Namespace, flags: Mapping[str, str]) -> list[str]:
    """A stage's shorthand flags that were given (``dest -> config key``) as ``key=value`` overrides.

    Values are JSON-quoted, which YAML reads back exactly (paths with ':' or '#', numbers as typed).
    """
    return [f"{key}={json.dumps(getattr(args, dest))}" for dest, key in flags.items()
            if getattr(args, dest, None) is not None]


def config_from_args(args: argparse.Namespace, extra: Sequence[str] = (),
                     flags: Mapping[str, str] | None = None) -> Config:
    """Load the config named by the shared arguments; then ``--set``/positional overrides; then the
    stage's own flags (``flags``: dest -> key) and ``extra`` overrides, which win."""
    return load_config(args.config or ["default"],
                       [*args.sets, *args.overrides, *flag_overrides(args, flags or {}), *extra])


def parse_stage(p: argparse.ArgumentParser, argv: Sequence[str] | None, flags: Mapping[str, str] | None = None,
                extra: Callable[[argparse.Namespace], Sequence[str]] = lambda a: (),
                check: Callable[[Config], Any] = lambda cfg: None) -> Config | None:
    """Parse a stage command line (:func:`stage_parser`) into its resolved config, run ``check`` on it
    (config errors surface before MPI starts), and print it for ``--dry-run``: None then (exit 0)."""
    a = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    cfg = config_from_args(a, list(extra(a)), flags)
    check(cfg)
    if a.dry_run:
        print(dump_config(cfg), end="")
        return None
    return cfg


def stage_parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """A stage command's parser: the shared config arguments and ``--dry-run`` (print the config, exit)."""
    p = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(p)
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    return p


def run_on_ranks(stage: str, fn: Callable[[Any], int | None], out: str | Path | None = None,
                 errors: Mapping[type, int] | None = None, agreed: Mapping[type, int] | None = None) -> int:
    """The tail every MPI stage command shares: the communicator (:func:`hpcgan.dist.get_comm`), OUT's
    lock (``out``; exit 2 when another run holds it), then ``fn(comm)`` -> exit code (None = 0).

    An exception of a type in ``errors`` (and a :class:`ConfigError`: 2) is one error line and its code,
    any other is logged with its traceback (code 1); with several ranks either ends the whole job at once (``comm.fail``). One in
    ``agreed`` is raised on every rank alike (nobody waits): rank 0 logs it, every rank returns its code.
    Disks (:mod:`hpcgan.utils.disk`): too little free space to start is agreed (exit 74); a failed write
    is one line naming the file and the errno, then exit 74 at once (``os._exit``: HDF5 would crash the
    interpreter's exit after a failed flush)."""
    from hpcgan.dist.comm import get_comm
    from hpcgan.utils.disk import EXIT_IO, NoSpace, WriteError, hard_exit
    from hpcgan.utils.lock import EXIT_LOCKED, lock_out

    comm = get_comm()
    if out is not None and not lock_out(out, stage, comm):  # another run writes this OUT
        return EXIT_LOCKED
    errors, agreed = {ConfigError: 2, **(errors or {})}, {NoSpace: EXIT_IO, **(agreed or {})}
    try:
        return int(fn(comm) or 0)
    except tuple(agreed) as e:
        if comm.rank == 0:
            log.error("%s", e)
        return next(c for t, c in agreed.items() if isinstance(e, t))
    except WriteError as e:
        log.error("%s: %s", stage, e)
        hard_exit(comm.fail(EXIT_IO))
    except tuple(errors) as e:
        log.error("%s", e)
        code = next(c for t, c in errors.items() if isinstance(e, t))
    except Exception:
        log.exception("%s failed on rank %d/%d", stage, comm.rank, comm.size)
        code = 1
    return comm.fail(code)
