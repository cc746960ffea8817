"""The parts every stage command shares: the config arguments (``--config``, ``--set``, ``key=value``),
a stage's flags written once (:class:`Flag`: the parser's argument and the config key it sets), parsing
a stage's command line into its resolved config, and the run-on-ranks tail (lock, exit codes).

Below the stages (docs/architecture.md), so each stage's ``cli.py`` builds on it without importing
the ``hpcgan`` entry point (:mod:`hpcgan.cli`).
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

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


@dataclass(frozen=True)
class Flag:
    """One flag of a stage command, written once: ``name`` (and ``aliases``), the config ``key`` it sets
    (None: the command reads the value itself), a ``help`` line, and argparse's ``type`` and ``choices``.
    A switch (``const`` given) takes no value: given, it sets ``key`` to ``const``.

    Its help reads ``= key (help)`` (``= key=value (help)`` for a switch); a flag without a key shows
    ``help`` alone. A stage's table of flags (``FLAGS`` in its ``cli.py``) makes its parser
    (:func:`stage_parser`) and its overrides (:func:`flag_overrides`)."""

    name: str
    key: str | None
    help: str = ""
    type: Callable[[str], Any] | None = None
    choices: Sequence[Any] | None = None
    const: Any = None
    aliases: tuple[str, ...] = ()

    @property
    def dest(self) -> str:
        return self.name.lstrip("-").replace("-", "_")

    def text(self) -> str:
        if self.key is None:
            return self.help
        key = self.key if self.const is None else f"{self.key}={json.dumps(self.const)}"
        return f"= {key}" + (f" ({self.help})" if self.help else "")

    def add_to(self, p: argparse.ArgumentParser) -> None:
        kw: dict[str, Any] = (dict(action="store_const", const=self.const) if self.const is not None
                              else dict(type=self.type, choices=self.choices))
        p.add_argument(self.name, *self.aliases, dest=self.dest, help=self.text(), **kw)


def flag_overrides(args: argparse.Namespace, flags: Iterable[Flag]) -> list[str]:
    """The flags of ``flags`` that were given and set a config key, as ``key=value`` overrides.

    Values are JSON-quoted, which YAML reads back exactly (paths with ':' or '#', numbers as typed).
    """
    return [f"{f.key}={json.dumps(getattr(args, f.dest))}" for f in flags
            if f.key is not None and getattr(args, f.dest, None) is not None]


def config_from_args(args: argparse.Namespace, extra: Sequence[str] = (), flags: Iterable[Flag] = ()) -> Config:
    """Load the config named by the shared arguments; then ``--set``/positional overrides; then the
    stage's own flags (``flags``, its :class:`Flag` table) and ``extra`` overrides, which win."""
    return load_config(args.config or ["default"],
                       [*args.sets, *args.overrides, *flag_overrides(args, flags), *extra])


def parse_stage(p: argparse.ArgumentParser, argv: Sequence[str] | None, flags: Iterable[Flag] = (),
                check: Callable[[Config], Any] = lambda cfg: None) -> Config | None:
    """Parse a stage command line (the parser of :func:`stage_parser` with the same ``flags``) into its
    resolved config, run ``check`` on it (config errors surface before MPI starts), and print it for
    ``--dry-run``: None then (exit 0)."""
    a = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    cfg = config_from_args(a, (), flags)
    check(cfg)
    if a.dry_run:
        print(dump_config(cfg), end="")
        return None
    return cfg


def stage_parser(prog: str, doc: str | None, flags: Iterable[Flag] = (),
                 dry_run: str = "print the resolved config and exit") -> argparse.ArgumentParser:
    """A stage command's parser: the shared config arguments, ``--dry-run`` (``dry_run``: its help) and
    the stage's ``flags``."""
    p = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(p)
    p.add_argument("--dry-run", action="store_true", help=dry_run)
    for f in flags:
        f.add_to(p)
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
