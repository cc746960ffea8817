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


STAGE_CLIS = {"simulate": "hpcgan.simulate.cli", "match": "hpcgan.match.cli", "preprocess": "preprocess.cli",
              "train": "hpcgan.train.cli", "translate": "hpcgan.translate.cli", "evaluate": "hpcgan.evaluate.cli"}


def test_every_stage_flag_is_one_table_row_its_help_and_its_key(capsys, monkeypatch):
    """Each stage's ``FLAGS`` (hpcgan.commandline.Flag) is its parser: ``--help`` shows every flag with
    its help text, and every key a flag sets is a key of the config."""
    import importlib

    import pytest

    from hpcgan.config import load_config

    cfg = load_config(["default"], [])
    monkeypatch.setenv("COLUMNS", "1000")  # argparse wraps help text at hyphens too
    for name, module in STAGE_CLIS.items():
        flags = importlib.import_module(module).FLAGS
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
        out = " ".join(capsys.readouterr().out.split())
        for f in flags:
            assert f.name in out and " ".join(f.text().split()) in out, (name, f.name)
            if f.key is not None:
                section, _, rest = f.key.partition(".")
                node = getattr(cfg, section)
                for part in rest.split("."):
                    assert hasattr(node, part), (name, f.key)
                    node = getattr(node, part)


def test_switches_and_aliases_set_their_keys(tmp_path, capsys):
    assert main(["translate", "--dry-run", "--fits", "--add-noise", "--n-realisations", "3", "-c", "demo"]) == 0
    out = capsys.readouterr().out
    assert "  fits: true\n" in out and "  add_noise: true\n" in out and "  n_realisations: 3\n" in out
    assert main(["simulate", "--dry-run", "--no-noise", "-o", str(tmp_path / "s"), "--n-paired", "5"]) == 0
    out = capsys.readouterr().out
    assert "  noise: false\n" in out and f"  out: {tmp_path / 's'}\n" in out and "  n_paired: 5\n" in out
    assert main(["translate", "--dry-run", "-c", "demo"]) == 0  # a switch not given sets nothing
    out = capsys.readouterr().out
    assert "  fits: false\n" in out and "  add_noise: false\n" in out
