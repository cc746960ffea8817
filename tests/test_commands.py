"""The one command registry (hpcgan.stages): ``hpcgan --help`` lists every command with a line, the
old spellings stay aliases (``hpcgan train --step 1`` = ``hpcgan step1``), an unknown command is one line."""
from __future__ import annotations

from hpcgan.cli import main
from hpcgan.stages import CHAIN, COMMANDS, STAGES


def test_help_lists_every_command_with_a_line(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert set(STAGES) | {"config", "train", "submit"} <= set(COMMANDS)
    for name, cmd in COMMANDS.items():
        assert cmd.help and "\n" not in cmd.help, name
        assert any(line.split()[:1] == [name] and cmd.help in line for line in out), name
    assert set(CHAIN) <= set(STAGES)


def test_unknown_command_is_one_line(capsys):
    assert main(["bogus"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'bogus'" in err and "step1" in err and "train" in err


def test_train_step_is_the_stage(capsys):
    for old, new in ((["train", "--step", "1"], ["step1"]), (["train", "--step", "2"], ["step2"])):
        assert main([*old, "--dry-run", "train.iters=7"]) == 0
        a = capsys.readouterr().out
        assert main([*new, "--dry-run", "train.iters=7"]) == 0
        assert capsys.readouterr().out == a and "iters: 7" in a
