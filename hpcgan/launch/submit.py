"""``hpcgan submit``: run stages of :mod:`hpcgan.stages` as submitit jobs, each reading the one before.

    hpcgan submit -c my.yaml --stages preprocess,step1,step2,translate,evaluate --nodes 8 \
        --tasks-per-node 4 --gpus-per-node 4 --time-min 240 --partition gpu   # SLURM, each afterok the previous
    hpcgan submit -c demo --executor local --tasks-per-node 2 --stages step1 train.iters=20
    hpcgan submit -c demo --executor debug --stages step1   # in this process (pdb works)

Each stage is a :class:`StageJob` (submitit ``Checkpointable``): it runs the stage
(:func:`hpcgan.stages.run_chained`) on every task (srun starts one per rank; hpcgan.dist reads the
SLURM step environment). Stage *k* writes the results so far to ``<folder>/<stage>/result.json``
and stage *k+1* reads that file (``--after``): its input is the output dir or checkpoint the stage
before *named*, never a guess. ``--after FILE`` starts a chain from an earlier chain's result file.
A job never carries a "resume from X" argument: a requeued job re-runs the *same* pickle (fairchem
#1055), so at start it looks up the latest checkpoint of its run dir (``default_run_dir``, the
trainer's own naming), and the trainer resumes from that.

Time limits: the sbatch line gets ``--signal=USR1@<signal_delay_s>`` (SUBMITIT_PREEMPT_SIGNAL=USR1,
not the default USR2, because the trainer's stop handler listens to USR1/SIGTERM and overrides
submitit's handler). The trainer checkpoints at the next iteration and returns 75; rank 0 of the
StageJob then requeues the job (``scontrol requeue``, what submitit's own handler does) when
:func:`hpcgan.launch.requeue.should_requeue` says so (the rule ``jobs/lib.sh`` applies too), and
every rank exits without a result. Should submitit's handler fire instead (a stage without its own
handler, ``job._interrupt()``), :meth:`StageJob.checkpoint` resubmits a fresh StageJob.

Success is proven by the stage's completion record (:mod:`hpcgan.launch.record`), not by an exit
code: rank 0 of the StageJob checks it after the stage returned 0 (no record: the job fails), and the
sbatch script takes a snapshot before srun and checks the record after it (setup/teardown lines), so
a step that could not launch, or ended 0 without the record, fails the SLURM job (exit 70) and its
``afterok`` dependants never start.

From inside a job (chaining from a running stage), submissions happen under
``submitit.helpers.clean_env()`` so the new jobs do not inherit this job's SLURM_* geometry.
"""
from __future__ import annotations

import argparse
import os
import random
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

# before submitit is imported: its SLURM environment reads the signal name at import time
os.environ.setdefault("SUBMITIT_PREEMPT_SIGNAL", "USR1")

import submitit  # noqa: E402

from hpcgan.dist.env import detect  # noqa: E402
from hpcgan.launch.record import EXIT_NO_RECORD, check, snapshot  # noqa: E402
from hpcgan.launch.requeue import should_requeue  # noqa: E402
from hpcgan.log import get_logger  # noqa: E402
from hpcgan.stages import CHAIN, STAGES, StageFailed, StageResult, read_results, run_chained  # noqa: E402

log = get_logger(__name__)
ROOT = Path(__file__).resolve().parents[2]
EXECUTORS = ("auto", "slurm", "local", "debug")
TRAIN = "hpcgan.train.cli"


def _export_task_env() -> None:
    """submitit's local executor starts N processes with SUBMITIT_LOCAL_* only: give them the torchrun
    variables hpcgan.dist reads. Under srun the SLURM step variables already say it all."""
    if "SLURM_STEP_ID" in os.environ or "RANK" in os.environ:
        return
    try:
        env = submitit.JobEnvironment()
    except RuntimeError:  # not inside a submitit job (direct call)
        return
    if env.num_tasks <= 1:
        return
    os.environ.update(RANK=str(env.global_rank), WORLD_SIZE=str(env.num_tasks), LOCAL_RANK=str(env.local_rank),
                      LOCAL_WORLD_SIZE=str(env.num_tasks // max(1, env.num_nodes)))
    os.environ.setdefault("MASTER_ADDR", env.hostnames[0] if env.num_nodes > 1 else "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(random.Random(str(env.job_id)).randint(20000, 60000)))


@dataclass
class StageJob(submitit.helpers.Checkpointable):
    """One stage as a checkpointable submitit job: ``__call__`` runs it, ``checkpoint`` resubmits it."""

    stage: str
    configs: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    run_dir: str | None = None
    after: str | None = None  # result file of the stage before (read at start: it exists by then)
    result: str | None = None  # where this stage writes the results so far plus its own
    resumed_from: str | None = None  # set at start, for the log; never an input

    def argv(self) -> list[str]:
        out = []
        for c in self.configs:
            out += ["--config", c]
        if self.run_dir and STAGES[self.stage].module == TRAIN:
            out += ["--run-dir", self.run_dir]
        return out + list(self.overrides)

    def stage_run_dir(self) -> Path | None:
        """Where this stage checkpoints (train stages): the stage's own out dir, as the trainer names it."""
        stage = STAGES[self.stage]
        if stage.module != TRAIN:
            return None
        return stage.out_dir(*stage.parse([*stage.reads(read_results(self.after)), *self.argv()]))

    def latest_checkpoint(self) -> Path | None:
        rd = self.stage_run_dir()
        if rd is None:
            return None
        from hpcgan.io.checkpoint import latest

        return latest(rd)

    def __call__(self) -> StageResult:
        _export_task_env()
        ck = self.latest_checkpoint()
        self.resumed_from = str(ck) if ck else None
        rank = detect().rank
        if rank == 0 and STAGES[self.stage].module == TRAIN:
            log.info("stage %s: %s (restart %s)", self.stage,
                     f"resuming from {ck}" if ck else "no checkpoint in its run dir: starting fresh",
                     os.environ.get("SLURM_RESTART_COUNT", "0"))
        snap = snapshot(self.stage, self.argv(), self.after) if rank == 0 else None
        try:
            res = run_chained(self.stage, self.argv(), self.after, self.result)
        except StageFailed as e:
            requeue, why = should_requeue(e.rc)
            if requeue:
                self._requeue_after_stop(rank)
            raise RuntimeError(f"{e} ({why})") from None
        if snap is not None:
            ok, why = check(snap)
            if not ok:
                raise RuntimeError(f"stage {self.stage} exited 0 without its completion record: {why}")
        return res

    def requeue_marker(self) -> Path | None:
        """The file rank 0 leaves when it requeues this run of the job (the batch script's record check
        then stands aside: the job is not over)."""
        if not self.result:
            return None
        return Path(f"{self.result}.requeued-{os.environ.get('SLURM_JOB_ID', '')}-"
                    f"{os.environ.get('SLURM_RESTART_COUNT', '0') or '0'}")

    def record_lines(self) -> tuple[list[str], list[str]]:
        """sbatch setup and teardown lines: snapshot the completion record before srun; after it, fail the
        job (exit 70) when srun exited 0 but the record is missing (and rank 0 did not requeue it)."""
        py = shlex.quote(sys.executable)
        after = ["--after", self.after] if self.after else []
        snap = " ".join(shlex.quote(t) for t in ["snapshot", self.stage, *after, *self.argv()])
        marker = f"{shlex.quote(self.result)}.requeued-$SLURM_JOB_ID-${{SLURM_RESTART_COUNT:-0}}" if self.result \
            else "/nonexistent"
        setup = [f'HPCGAN_RECORD="$({py} -m hpcgan.launch.record {snap})" || exit $?']
        teardown = ["_hpcgan_rc=$?",
                    f'if [ "$_hpcgan_rc" -eq 0 ] && [ ! -e {marker} ] && '
                    f'! {py} -m hpcgan.launch.record check "$HPCGAN_RECORD"; then',
                    f'  echo "[job] srun exited 0 but stage {self.stage} left no completion record: failing the job '
                    f'(exit {EXIT_NO_RECORD})" >&2; exit {EXIT_NO_RECORD}',
                    "fi", 'exit "$_hpcgan_rc"']
        return setup, teardown

    def _requeue_after_stop(self, rank: int) -> None:
        """The stage stopped on a signal with a checkpoint saved: requeue (rank 0) and leave quietly."""
        job_id = os.environ.get("SLURM_JOB_ID")
        if not job_id:
            raise RuntimeError(f"stage {self.stage} stopped by a signal (checkpoint saved); not under SLURM, "
                               "so not requeued: submit it again to resume")
        if rank == 0:
            log.info("stage %s stopped by a signal with a checkpoint: requeueing job %s", self.stage, job_id)
            marker = self.requeue_marker()
            if marker is not None:
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
            subprocess.check_call(["scontrol", "requeue", job_id], timeout=60)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # no result pickle: the job is not over

    def checkpoint(self, *args, **kwargs) -> submitit.helpers.DelayedSubmission:
        """Resubmit a fresh StageJob with the same stage/config; it finds the latest checkpoint itself."""
        return submitit.helpers.DelayedSubmission(StageJob(self.stage, list(self.configs), list(self.overrides),
                                                           self.run_dir, self.after, self.result))


@dataclass
class Resources:
    nodes: int = 1
    tasks_per_node: int = 1
    gpus_per_node: int = 0
    cpus_per_task: int = 1
    time_min: int = 60
    partition: str | None = None
    account: str | None = None
    srun_mpi: str = "pmix"
    signal_delay_s: int = 300
    site: str = "generic"
    extra: dict = field(default_factory=dict)
    srun_args: tuple[str, ...] = ()  # more srun flags (jobs/lib.sh's SRUN_ARGS), e.g. --gpu-bind=none


def make_executor(kind: str, folder: str | Path, res: Resources, name: str, after: str | None = None,
                  record: tuple[list[str], list[str]] = ([], [])) -> submitit.Executor:
    """A submitit executor for one stage; ``after``: job id this one starts after (afterok, SLURM only);
    ``record``: setup and teardown lines of the completion-record check (:meth:`StageJob.record_lines`)."""
    cluster = None if kind == "auto" else kind
    ex = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    params: dict = dict(name=name, timeout_min=res.time_min, nodes=res.nodes, tasks_per_node=res.tasks_per_node,
                        cpus_per_task=res.cpus_per_task)
    if res.gpus_per_node:
        params["gpus_per_node"] = res.gpus_per_node
    if ex.cluster == "slurm":
        delay = res.signal_delay_s
        if delay >= res.time_min * 60 // 2:  # else the "time limit near" signal comes at once: requeue loop
            delay = max(30, res.time_min * 60 // 4)
            log.warning("signal delay %d s is not well below the time limit (%d min): using %d s",
                        res.signal_delay_s, res.time_min, delay)
        params.update(slurm_srun_args=[f"--mpi={res.srun_mpi}", "--kill-on-bad-exit=1", *res.srun_args],
                      slurm_signal_delay_s=delay,
                      slurm_setup=[f"cd {ROOT}", f"source {ROOT}/jobs/sites/{res.site}.sh",
                                   "export SUBMITIT_PREEMPT_SIGNAL=USR1", *record[0]],
                      slurm_teardown=list(record[1]),
                      slurm_additional_parameters={"requeue": True, **res.extra,
                                                   **({"dependency": f"afterok:{after}", "kill_on_invalid_dep": "yes"}
                                                      if after else {})})
        if res.partition:
            params["slurm_partition"] = res.partition
        if res.account:
            params["slurm_account"] = res.account
    ex.update_parameters(**params)
    return ex


def submit_chain(stages: Sequence[str], configs: list[str], overrides: list[str], executor: str = "auto",
                 folder: str | Path = "runs/submitit", res: Resources | None = None,
                 run_dirs: dict[str, str] | None = None, wait: bool = False,
                 after: str | None = None) -> list[submitit.Job]:
    """Submit ``stages`` in order, each reading the result file of the one before (the first reads
    ``after``, if given). SLURM: all at once, each ``afterok`` the previous. Local/debug (no
    dependencies there): one after the other, each waited for; a failure stops the chain."""
    res = res or Resources()
    jobs: list[submitit.Job] = []
    for s in stages:
        if s not in STAGES:
            raise ValueError(f"stage {s!r}; allowed: {', '.join(STAGES)}")
    keep = {k: os.environ[k] for k in ("SLURM_CONF",) if k in os.environ}  # clean_env drops it: sbatch needs it
    with submitit.helpers.clean_env():
        os.environ.update(keep)
        for s in stages:
            result = str((Path(folder) / s / "result.json").resolve())
            stage_job = StageJob(s, list(configs), list(overrides), (run_dirs or {}).get(s), after, result)
            ex = make_executor(executor, Path(folder) / s, res, f"hpcgan-{s}", jobs[-1].job_id if jobs else None,
                               stage_job.record_lines())
            sequential = ex.cluster != "slurm"
            job = ex.submit(stage_job)
            after = result
            log.info("submitted %s as job %s (%s)", s, job.job_id, ex.cluster)
            print(f"{s} {job.job_id}", flush=True)
            jobs.append(job)
            if sequential:
                job.results()  # raises on failure: later stages are not run
    if wait:
        for job in jobs:
            job.results()
    return jobs


def main(argv: Sequence[str] | None = None) -> int:
    from hpcgan.commandline import add_config_args

    p = argparse.ArgumentParser(prog="hpcgan submit", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(p)
    p.add_argument("--executor", choices=EXECUTORS, default="auto",
                   help="auto: slurm when sbatch is on PATH, else local")
    p.add_argument("--stages", default=",".join(CHAIN[1:]),
                   help=f"comma-separated, in order, of: {', '.join(STAGES)} (default: %(default)s)")
    p.add_argument("--after", help="a result.json of an earlier chain: the first stage reads from it")
    p.add_argument("--folder", default="runs/submitit", help="submitit logs and pickles")
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--tasks-per-node", type=int, default=1, help="ranks per node (one per GPU)")
    p.add_argument("--gpus-per-node", type=int, default=0)
    p.add_argument("--cpus-per-task", type=int, default=1)
    p.add_argument("--time-min", type=int, default=60)
    p.add_argument("--partition")
    p.add_argument("--account")
    p.add_argument("--srun-mpi", default="pmix", help="srun --mpi= plugin (pmix, pmi2, cray_shasta)")
    p.add_argument("--srun-arg", action="append", default=[], metavar="FLAG",
                   help="one more srun flag, e.g. --srun-arg=--gpu-bind=none (repeatable)")
    p.add_argument("--signal-delay-s", type=int, default=300, help="USR1 this long before the time limit")
    p.add_argument("--site", default="generic", help="jobs/sites/<site>.sh sourced before srun")
    p.add_argument("--run-dir", action="append", default=[], metavar="STAGE=DIR",
                   help="run dir of a train stage, e.g. step1=runs/x/step1 (repeatable)")
    p.add_argument("--wait", action="store_true", help="wait for every job and fail if one fails")
    a = p.parse_args(argv)
    stages = [s.strip() for s in a.stages.split(",") if s.strip()]
    bad = [s for s in stages if s not in STAGES]
    if bad:
        print(f"hpcgan submit: --stages: unknown {bad}; allowed: {', '.join(STAGES)}", file=sys.stderr)
        return 2
    run_dirs = dict(kv.split("=", 1) for kv in a.run_dir)
    res = Resources(a.nodes, a.tasks_per_node, a.gpus_per_node, a.cpus_per_task, a.time_min, a.partition,
                    a.account, a.srun_mpi, a.signal_delay_s, a.site, srun_args=tuple(a.srun_arg))
    try:
        submit_chain(stages, a.config, [*a.sets, *a.overrides], a.executor, a.folder, res, run_dirs, a.wait,
                     a.after and str(Path(a.after).resolve()))
    except (submitit.core.utils.FailedJobError, submitit.core.utils.UncompletedJobError, RuntimeError) as e:
        print(f"hpcgan submit: a stage failed: {str(e)[-2000:]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
