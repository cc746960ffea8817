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

# commands besides the stages of hpcgan.stages (simulate ... evaluate, step1/step2 = train --step 1/2);
# modules imported lazily so `hpcgan --help` stays fast
COMMANDS = {"config": "hpcgan.cli", "train": "hpcgan.train.cli", "submit": "hpcgan.launch.submit"}


def main(argv: Sequence[str] | None = None) -> int:
    from hpcgan import stages

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in {**COMMANDS, **stages.STAGES}:
        known = ", ".join(dict.fromkeys(["config", *stages.STAGES, *COMMANDS]))
        if argv and argv[0] not in ("-h", "--help"):
            print(f"hpcgan: unknown command {argv[0]!r}; allowed: {known}", file=sys.stderr)
            return 2
        print(f"usage: hpcgan <command> [--config FILE] [key.sub=value ...]\ncommands: {known}")
        return 0
    setup_logging()
    stage, rest = argv[0], argv[1:]
    try:
        if stage == "config":
            return config_main(rest)
        if stage in stages.STAGES:
            return stages.main(stage, rest)
        return importlib.import_module(COMMANDS[stage]).main(rest)
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
