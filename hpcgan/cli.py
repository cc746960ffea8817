"""``hpcgan`` command: one sub-command per stage, each a ``main(argv) -> int`` in its own package.

Every stage takes ``--config FILE|NAME`` (repeatable, later wins) and ``key.sub=value`` overrides
(positional, anywhere among the flags, or ``--set``); ``hpcgan config`` prints the resolved configuration.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from hpcgan.commandline import add_config_args, config_from_args
from hpcgan.config import ConfigError, dump_config
from hpcgan.log import get_logger, setup_logging

log = get_logger("hpcgan")



def main(argv: Sequence[str] | None = None) -> int:
    """``hpcgan <command> ...``: a stage of :data:`hpcgan.stages.STAGES` (chained with ``--after`` /
    ``--result``) or another command of :data:`hpcgan.stages.COMMANDS`; ``--help`` lists them all."""
    from hpcgan import stages

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in stages.COMMANDS:
        if argv and argv[0] not in ("-h", "--help"):
            print(f"hpcgan: unknown command {argv[0]!r}; allowed: {', '.join(stages.COMMANDS)}", file=sys.stderr)
            return 2
        width = max(map(len, stages.COMMANDS))
        print("usage: hpcgan <command> [--config FILE] [key.sub=value ...]\n\ncommands:")
        for name, c in stages.COMMANDS.items():
            print(f"  {name:<{width}}  {c.help}")
        print("\n`hpcgan <command> --help` for its flags; docs/ for the details")
        return 0
    setup_logging()
    stage, rest = argv[0], argv[1:]
    try:
        if stage in stages.STAGES:
            return stages.main(stage, rest)
        cmd = stages.COMMANDS[stage]
        return getattr(importlib.import_module(cmd.module), cmd.entry)(rest)
    except ConfigError as e:
        print(f"hpcgan {stage}: config error: {e}", file=sys.stderr)
        return 2


def config_main(argv: Sequence[str]) -> int:
    """``hpcgan config``: print the resolved configuration (YAML)."""
    p = argparse.ArgumentParser(prog="hpcgan config", description=config_main.__doc__)
    add_config_args(p)
    print(dump_config(config_from_args(p.parse_args(argv))), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
