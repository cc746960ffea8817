"""The stage registry: one :class:`Stage` per stage, for ``hpcgan <stage>``, ``hpcgan submit`` and ``jobs/*.slurm``.

    simulate -> preprocess -> step1 -> step2 -> translate -> evaluate     (and ``check``: is the job wired right?)

A stage is its command (a module with ``main(argv) -> int`` that parses, runs and returns the exit
code), the overrides it always gets (``step1``: ``train.step=1``), where it writes (derived from the
config with the very function the stage uses: ``default_run_dir`` for training), and what it reads
from the stages before it. ``Stage.run(argv)`` returns a :class:`StageResult` naming its output dir
(and, for training, the checkpoint it left); a failing stage raises :class:`StageFailed` with its exit
code. A new stage is one entry in :data:`STAGES`.

Chaining: ``hpcgan <stage> --after PREV.json --result THIS.json ...`` reads the results of the stages
before (``PREV.json``, written by the previous stage) and turns them into overrides (``step2`` gets
``train.init_from=<step1's checkpoint>``, ``translate`` gets ``translate.checkpoint=<the last train
stage's checkpoint>``, ...), runs, and writes the results so far plus its own to ``THIS.json``
(rank 0). Explicit overrides on the command line still win. ``jobs/chain.sh`` and ``hpcgan submit``
pass these two flags; nothing downstream guesses a path.
"""
from __future__ import annotations

import argparse
import importlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from hpcgan.config import Config
from hpcgan.dist.env import detect
from hpcgan.log import get_logger

log = get_logger(__name__)
Done = Mapping[str, "StageResult"]  # results of the stages before, by name


@dataclass(frozen=True)
class StageResult:
    """What a stage left: its output dir and a few named outputs (``extra``: checkpoint, catalog, ...)."""

    name: str
    out_dir: str | None
    extra: dict[str, Any] = field(default_factory=dict)


class StageFailed(RuntimeError):
    def __init__(self, name: str, rc: int):
        super().__init__(f"stage {name} exited {rc}")
        self.name, self.rc = name, rc


def _quoted(key: str, value: Any) -> str:
    return f"{key}={json.dumps(str(value))}"  # JSON-quoted: YAML reads paths with ':' or '#' back exactly


# ---- where each stage writes, and what it tells the next ------------------------------------------
def _train_dir(cfg: Config, a: argparse.Namespace) -> Path:
    from hpcgan.train.trainer import default_run_dir  # the function the trainer names its run dir with

    return Path(a.run_dir) if a.run_dir else default_run_dir(cfg)


def _train_extra(out: Path) -> dict:
    from hpcgan.io.checkpoint import checkpoint_sha256, latest

    ck = latest(out)
    return {"checkpoint": str(ck), "checkpoint_sha256": checkpoint_sha256(ck)} if ck else {}


def _translate_extra(out: Path) -> dict:
    man = json.loads((out / "manifest.json").read_text())
    return {"manifest": str(out / "manifest.json"), "checkpoint": man.get("checkpoint"),  # none: --method resample
            "checkpoint_sha256": man.get("checkpoint_sha256")}


def _shards(done: Done, key: str) -> list[str]:
    return [_quoted(key, done["preprocess"].out_dir)] if "preprocess" in done else []


def _last_checkpoint(done: Done) -> list[str]:
    for s in ("step2", "step1"):  # a single-step variant has only step1
        if s in done and done[s].extra.get("checkpoint"):
            return [_quoted("translate.checkpoint", done[s].extra["checkpoint"])]
    return []


def _reads_step2(done: Done) -> list[str]:
    ck = done["step1"].extra.get("checkpoint") if "step1" in done else None
    return _shards(done, "data.shards") + ([_quoted("train.init_from", ck)] if ck else [])


def _reads_evaluate(done: Done) -> list[str]:
    out = [_quoted("evaluate.translations", done["translate"].out_dir)] if "translate" in done else []
    return out + ([_quoted("evaluate.catalog", done["simulate"].extra["catalog"])] if "simulate" in done else [])


@dataclass(frozen=True)
class Stage:
    """One stage: its command, fixed overrides, output dir, the overrides it reads from earlier results."""

    name: str
    module: str  # main(argv) -> int
    fixed: tuple[str, ...] = ()  # overrides it always runs with (after the caller's: they win)
    out_dir: Callable[[Config, argparse.Namespace], Path] | None = None
    extra: Callable[[Path], dict] = lambda out: {}
    reads: Callable[[Done], list[str]] = lambda done: []
    in_chain: bool = True  # in the default chain (CHAIN)
    help: str = ""  # one line, for `hpcgan --help`
    # "module:function" declaring the parts of the config the stage takes (the knobs it ignores derive
    # from it: hpcgan.config.integrity.no_effect); "" = none declared
    sections: str = ""

    def parse(self, argv: Sequence[str]) -> tuple[Config, argparse.Namespace]:
        """The config this stage runs with for ``argv`` (flags it does not know are left to its command)."""
        from hpcgan.commandline import add_config_args, config_from_args

        flags = getattr(importlib.import_module(self.module), "FLAGS", ())  # its table of hpcgan.commandline.Flag
        p = argparse.ArgumentParser(prog=f"hpcgan {self.name}", add_help=False, allow_abbrev=False)
        add_config_args(p)
        for f in flags:
            f.add_to(p)
        if not any(f.dest == "run_dir" for f in flags):
            p.add_argument("--run-dir", dest="run_dir")
        a, unknown = p.parse_known_intermixed_args(argv)
        # argparse stops at a flag it does not know (--dry-run): the overrides, in their order
        loose = {*a.overrides, *unknown} - set(a.sets)
        a.overrides = [t for t in argv if t in loose and "=" in t and not t.startswith("-")]
        return config_from_args(a, self.fixed, flags), a

    def command(self, argv: Sequence[str]) -> list[str]:
        """The command line of its ``main``."""
        return [*argv, *self.fixed]

    def run(self, argv: Sequence[str]) -> StageResult:
        """Run the command; its result, or :class:`StageFailed` with its exit code."""
        rc = importlib.import_module(self.module).main(self.command(argv))
        if rc:
            raise StageFailed(self.name, rc)
        if self.out_dir is None:
            return StageResult(self.name, None)
        out = self.out_dir(*self.parse(argv))
        return StageResult(self.name, str(out), self.extra(out))


STAGES: dict[str, Stage] = {s.name: s for s in (
    Stage("simulate", "hpcgan.simulate.cli",
          out_dir=lambda cfg, a: Path(cfg.simulate.out), extra=lambda out: {"catalog": str(out / "catalog.csv")},
          help="render a simulated SDSS/CFHT survey pair with ground truth (FITS stamps + catalog.csv)"),
    Stage("match", "hpcgan.match.cli", out_dir=lambda cfg, a: Path(cfg.match.out),
          extra=lambda out: {"catalog": str(out / "catalog.csv")}, in_chain=False,
          help="pair two real survey catalogs by position into the catalog preprocess reads (not in the chain)"),
    Stage("preprocess", "preprocess.cli",
          out_dir=lambda cfg, a: Path(cfg.preprocess.out),
          reads=lambda done: [_quoted("preprocess.catalog", done[s].extra["catalog"])
                              for s in ("match", "simulate") if s in done][:1],
          help="FITS stamps or survey frames -> per-rank HDF5 shards (MPI), bad inputs quarantined"),
    Stage("step1", "hpcgan.train.cli",
          fixed=("train.step=1",), out_dir=_train_dir, extra=_train_extra,
          reads=lambda done: _shards(done, "data.shards"), sections="hpcgan.train.trainer:sections",
          help="training step 1: noise emulators (a single-step variant's only step); = train --step 1"),
    Stage("step2", "hpcgan.train.cli",
          fixed=("train.step=2",), out_dir=_train_dir, extra=_train_extra,
          reads=_reads_step2, sections="hpcgan.train.trainer:sections",
          help="training step 2: generators, from step 1's noise emulators; = train --step 2"),
    Stage("translate", "hpcgan.translate.cli",
          out_dir=lambda cfg, a: Path(cfg.translate.out), extra=_translate_extra,
          reads=lambda done: _shards(done, "translate.shards") + _last_checkpoint(done),
          sections="hpcgan.translate.run:sections",
          help="bulk translation of shards with the trained checkpoint (FITS + HDF5 out)"),
    Stage("evaluate", "hpcgan.evaluate.cli",
          out_dir=lambda cfg, a: Path(cfg.evaluate.out),
          extra=lambda out: {"metrics": str(out / "metrics.json")}, reads=_reads_evaluate,
          help="score the translation against truth and real counterparts (metrics.json, figures)"),
    Stage("check", "hpcgan.launch.check", in_chain=False,
          help="is the job wired right: ranks, gradients, bandwidth (not in the chain)"),
)}
CHAIN = tuple(name for name, s in STAGES.items() if s.in_chain)


@dataclass(frozen=True)
class Command:
    """A command of ``hpcgan`` besides the stages: ``entry(argv) -> int`` of ``module`` (imported lazily,
    so ``hpcgan --help`` stays fast)."""

    name: str
    module: str
    help: str
    entry: str = "main"


# every command of `hpcgan`, in the order `hpcgan --help` lists them: the stages, and these
COMMANDS: dict[str, Stage | Command] = {
    "config": Command("config", "hpcgan.cli", "print the resolved configuration (YAML)", entry="config_main"),
    **STAGES,
    "train": Command("train", "hpcgan.train.cli", "training, the step from --step N or train.step (alias: step1, step2)"),
    "submit": Command("submit", "hpcgan.launch.submit",
                      "submit stages as SLURM jobs (or run them locally) through submitit, chained"),
}


def ignored(cfg: Config, name: str) -> list[str]:
    """The knobs stage ``name`` ignores in ``cfg`` (with its fixed overrides), one warning line each, from the
    stage's declaration of the parts of the config it takes (``Stage.sections``; none declared: [])."""
    from hpcgan.config.integrity import flat, no_effect, replace_key
    from hpcgan.config.loader import parse_override

    stage = STAGES[name]
    if not stage.sections:
        return []
    for o in stage.fixed:
        for key, value in flat(parse_override(o)):
            cfg = replace_key(cfg, key, value)
    module, _, fn = stage.sections.partition(":")
    return no_effect(cfg, *getattr(importlib.import_module(module), fn)(cfg))


def read_results(path: str | Path | None) -> dict[str, StageResult]:
    """The results a stage's ``--result`` file holds (the chain so far), by stage name."""
    if not path:
        return {}
    return {r["name"]: StageResult(**r) for r in json.loads(Path(path).read_text())}


def write_results(path: str | Path, done: Done) -> None:
    from hpcgan.utils.atomic import atomic_write_text

    atomic_write_text(Path(path), json.dumps([asdict(r) for r in done.values()], indent=1) + "\n")


def run_chained(name: str, argv: Sequence[str], after: str | Path | None = None,
                result: str | Path | None = None) -> StageResult:
    """Run stage ``name`` reading the earlier results in ``after``; rank 0 writes them plus its own to ``result``."""
    stage = STAGES[name]
    done = read_results(after)
    wired = stage.reads(done)
    if wired:
        log.info("stage %s reads from %s: %s", name, after, " ".join(wired))
    res = stage.run([*wired, *argv])  # explicit overrides come later: they win
    if result and detect().rank == 0:
        write_results(result, {**done, name: res})
    return res


def main(name: str, argv: Sequence[str]) -> int:
    """``hpcgan <name> [--after PREV.json] [--result THIS.json] ...``: the stage's command, chained."""
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    p.add_argument("--after", help="results of the stages before (a --result file)")
    p.add_argument("--result", help="write the results so far plus this stage's here")
    a, rest = p.parse_known_args(argv)
    if not (a.after or a.result):  # plain `hpcgan <stage>`: exactly its command
        return importlib.import_module(STAGES[name].module).main(STAGES[name].command(rest))
    try:
        run_chained(name, rest, a.after, a.result)
    except StageFailed as e:
        return e.rc
    return 0
