"""SLURM side, on a one-node cluster on localhost (env/slurm-local.sh), started here and stopped after:
sbatch of a 2-task job through jobs/lib.sh (srun --mpi=pmix, horovod and torch backends), the USR1
trap/forward/requeue path, SIGTERM to the steps (never requeued), a step that exits 0 without running
(no completion record: the job and its chain fail), the submitit chain (SlurmExecutor, afterok, the
record check in its sbatch script) and submitit's local executor.

Needs root (slurmd and munged) and the Debian slurm/munge packages (`make setup` installs them).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, hpcgan_cmd, run_cmd

SLURM_LOCAL = str(REPO / "env" / "slurm-local.sh")
VENV = sys.prefix if (Path(sys.prefix) / "bin" / "activate").exists() else str(REPO / ".venv")  # the venv running pytest


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """SLURM_CONF of a running local cluster; started (and later stopped) here unless one runs already."""
    if os.geteuid() != 0:
        pytest.skip("the local SLURM cluster needs root (slurmd, munged)")
    missing = [b for b in ("slurmctld", "slurmd", "munged", "sbatch") if shutil.which(b) is None]
    if missing:
        pytest.fail(f"{missing} not found: run `make setup` (env/setup.sh installs slurm and munge)")
    p = subprocess.run(["bash", SLURM_LOCAL, "status"], capture_output=True, text=True)
    started = p.returncode != 0
    if started:
        p = subprocess.run(["bash", SLURM_LOCAL, "start"], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
    conf = p.stdout.strip().splitlines()[-1].split("=", 1)[1]
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = conf
    yield conf
    if old is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = old
    if started:
        subprocess.run(["bash", SLURM_LOCAL, "stop"], capture_output=True, text=True, timeout=120)


def job_env(**extra) -> dict:
    return {"HPCGAN_ROOT": str(REPO), "VENV": VENV, "HPCGAN_LOG_LEVEL": "WARNING", **extra}


def test_sbatch_two_tasks_srun_pmix(slurm, tmp_path):
    """A thin job through jobs/lib.sh: 2 tasks, srun --mpi=pmix, the dist check on both backends."""
    if importlib.util.find_spec("horovod") is None:
        pytest.fail("horovod is not installed: run `bash env/install-horovod.sh` (make setup does)")
    script = tmp_path / "check.slurm"
    script.write_text(f"""#!/bin/bash
#SBATCH -J hpcgan-test-check
#SBATCH -n 2
#SBATCH -t 5
source "$HPCGAN_ROOT/jobs/lib.sh"
hpcgan_srun python -m hpcgan.launch.check --backend horovod --out {tmp_path}/horovod.json
hpcgan_srun python -m hpcgan.launch.check --backend torch --out {tmp_path}/torch.json
""")
    jid = run_cmd(["sbatch", "--parsable", "-o", str(tmp_path / "out.txt"), str(script)], env=job_env()).stdout.strip()
    try:  # poll (sbatch --wait backs off exponentially: tens of seconds lost)
        wait_for(lambda: any(f"JobState={s}" in scontrol_job(jid) for s in ("COMPLETED", "FAILED", "CANCELLED",
                                                                          "TIMEOUT", "NODE_FAIL")), 240, "the job")
    finally:
        subprocess.run(["scancel", jid], capture_output=True)
    out = (tmp_path / "out.txt").read_text() if (tmp_path / "out.txt").exists() else ""
    assert "JobState=COMPLETED" in scontrol_job(jid), out[-3000:]
    for b in ("horovod", "torch"):
        r = json.loads((tmp_path / f"{b}.json").read_text())
        assert r["ok"] and r["size"] == 2 and r["launcher"] == "srun" and r["backend"] == b, r


def test_usr1_is_forwarded_and_job_requeued(slurm, tmp_path):
    """`--signal=B:USR1@300` path: the batch shell traps USR1, forwards it to the step, requeues the job;
    the second run (SLURM_RESTART_COUNT=1) finishes. USR1 is sent by hand here (scancel --batch)."""
    script = tmp_path / "rq.slurm"
    script.write_text(f"""#!/bin/bash
#SBATCH -n 2
#SBATCH -t 5
#SBATCH --requeue
#SBATCH --open-mode=append
source "$HPCGAN_ROOT/jobs/lib.sh"
hpcgan_srun python -c "
import os, signal, sys, time
r = os.environ['SLURM_PROCID']
if os.environ.get('SLURM_RESTART_COUNT', '0') != '0':
    open('{tmp_path}/second-' + r, 'w').write(os.environ['SLURM_RESTART_COUNT']); sys.exit(0)
signal.signal(signal.SIGUSR1, lambda *a: sys.exit(75))  # the trainer: checkpoint, exit 75
open('{tmp_path}/first-' + r, 'w').write('1')
time.sleep(120); sys.exit(3)
"
""")
    jid = run_cmd(["sbatch", "--parsable", "-o", str(tmp_path / "out.txt"), str(script)], env=job_env()).stdout.strip()
    try:
        wait_for(lambda: (tmp_path / "first-1").exists() and (tmp_path / "first-0").exists(), 60, "first run")
        time.sleep(0.5)
        run_cmd(["scancel", "--signal=USR1", "--batch", jid])
        wait_for(lambda: "Restarts=1" in scontrol_job(jid), 60, "requeue")

        def first_run_gone() -> bool:  # its step daemons still exiting: a new step 0 would clash with them
            return subprocess.run(["pgrep", "-f", rf"slurmstepd: \[{jid}\."], capture_output=True).returncode != 0

        wait_for(first_run_gone, 60, "the first run's step to end")

        def second_run_started() -> bool:
            if "JobState=PENDING" in scontrol_job(jid):  # requeued jobs are held ~2 min: release now
                subprocess.run(["scontrol", "update", f"JobId={jid}", "StartTime=now"], capture_output=True)
            return (tmp_path / "second-1").exists()

        wait_for(second_run_started, 150, "second run")
        wait_for(lambda: "JobState=COMPLETED" in scontrol_job(jid), 60, "completion")
    finally:
        subprocess.run(["scancel", jid], capture_output=True)
    out = (tmp_path / "out.txt").read_text()
    assert "SIGUSR1 received" in out and "requeueing" in out, out


def job_done(jid: str) -> bool:
    return any(f"JobState={s}" in scontrol_job(jid) for s in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT",
                                                               "NODE_FAIL", "OUT_OF_MEMORY"))


def test_step_that_never_ran_fails_the_job_and_its_chain(slurm, tmp_path):
    """Issue 23: an srun that exits 0 without running its step (here `SRUN_ARGS=--test-only`: srun only
    asks the scheduler) must not end COMPLETED. Through jobs/chain.sh: simulate ends FAILED with exit 70
    ("no completion record") and the preprocess job after it (afterok) never runs; the same chain
    without the option completes, its records written."""
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(f"simulate: {{out: {tmp_path}/sim, n_paired: 2, n_unpaired: 1}}\n"
                   f"preprocess: {{out: {tmp_path}/shards}}\n"
                   "data: {x: {stamp_size: 16}, y: {stamp_size: 40}}\n")
    sbatch_args = ["--", "--ntasks-per-node=1", "--cpus-per-task=1", "-t", "10", "-o", str(tmp_path / "%x-%j.out")]

    def chain(results: str, **env) -> dict[str, str]:
        p = run_cmd(["bash", str(REPO / "jobs" / "chain.sh"), "--stages", "simulate,preprocess", *sbatch_args],
                    env=job_env(CONFIG=str(cfg), RESULTS=str(tmp_path / results), **env))
        return dict(line.split() for line in p.stdout.split("\n") if line.strip())

    ids = chain("broken", SRUN_ARGS="--test-only")
    try:
        wait_for(lambda: job_done(ids["simulate"]) and job_done(ids["preprocess"]), 120, "the broken chain")
    finally:
        subprocess.run(["scancel", *ids.values()], capture_output=True)
    logs = "".join(f.read_text() for f in sorted(tmp_path.glob("*.out")))
    sim, pre = scontrol_job(ids["simulate"]), scontrol_job(ids["preprocess"])
    assert "JobState=FAILED" in sim and "ExitCode=70:0" in sim, logs[-3000:]
    assert "stage simulate left no completion record" in logs and "catalog.csv" in logs, logs[-3000:]
    # afterok never satisfied: the job never started (slurm shows RunTime=00:00:00 or, when it cancels
    # it before a start time is set, StartTime=Unknown with a RunTime counted from the epoch)
    assert "JobState=CANCELLED" in pre and ("RunTime=00:00:00" in pre or "StartTime=Unknown" in pre), pre
    assert not (tmp_path / "sim" / "catalog.csv").exists() and not (tmp_path / "shards").exists()

    ids = chain("ok")
    try:
        wait_for(lambda: job_done(ids["preprocess"]), 180, "the chain")
    finally:
        subprocess.run(["scancel", *ids.values()], capture_output=True)
    logs = "".join(f.read_text() for f in sorted(tmp_path.glob("*.out")))
    for jid in ids.values():
        assert "JobState=COMPLETED" in scontrol_job(jid), logs[-3000:]
    assert "completion record" in logs and (tmp_path / "shards" / "manifest.json").is_file(), logs[-3000:]


def test_sigterm_to_the_steps_is_never_requeued(slurm, tmp_path):
    """Issue 23: `scancel -s TERM JOBID` signals the steps only. A stage that stops on SIGTERM (the
    trainer's contract: checkpoint, exit stop_exit_code('SIGTERM') = 143) ends the job FAILED 143 with
    no restart, as docs/distributed.md says; the batch shell logs why it does not requeue."""
    script = tmp_path / "term.slurm"
    script.write_text(f"""#!/bin/bash
#SBATCH -n 1
#SBATCH -t 5
#SBATCH --requeue
#SBATCH --open-mode=append
source "$HPCGAN_ROOT/jobs/lib.sh"
hpcgan_srun python -c "
import signal, sys, time
from hpcgan.utils.stop_codes import stop_exit_code
signal.signal(signal.SIGTERM, lambda *a: sys.exit(stop_exit_code('SIGTERM')))  # the trainer: checkpoint, exit
open('{tmp_path}/started', 'w').write('1')
time.sleep(120); sys.exit(3)
"
""")
    jid = run_cmd(["sbatch", "--parsable", "-o", str(tmp_path / "out.txt"), str(script)], env=job_env()).stdout.strip()
    try:
        wait_for(lambda: (tmp_path / "started").exists(), 60, "the step")
        time.sleep(0.5)
        run_cmd(["scancel", "-s", "TERM", jid])
        wait_for(lambda: job_done(jid), 60, "the job to end")
        time.sleep(2)  # a requeue would show as Restarts=1 / PENDING by now
        info = scontrol_job(jid)
    finally:
        subprocess.run(["scancel", jid], capture_output=True)
    out = (tmp_path / "out.txt").read_text()
    assert "JobState=FAILED" in info and "ExitCode=143:0" in info and "Restarts=0" in info, info + out
    assert "not requeueing: exit 143 after SIGTERM" in out, out


def scontrol_job(jid: str) -> str:
    return subprocess.run(["scontrol", "show", "job", jid], capture_output=True, text=True).stdout


def wait_for(cond, timeout: float, what: str) -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_submitit_slurm_chain_with_dependency(slurm, tmp_path, monkeypatch):
    """hpcgan's StageJob through submitit's SlurmExecutor: two stages, the second afterok the first,
    2 tasks each with srun --mpi=pmix (auto backend -> horovod)."""
    from hpcgan.launch.submit import Resources, submit_chain
    from hpcgan.stages import StageResult

    monkeypatch.chdir(REPO)
    monkeypatch.setenv("VENV", VENV)
    jobs = submit_chain(["check", "check"], ["demo"], [], executor="slurm", folder=tmp_path,
                        res=Resources(tasks_per_node=2, time_min=15), wait=True)
    assert [j.results() for j in jobs] == [[StageResult("check", None)] * 2] * 2
    sbatch_second = (tmp_path / "check" / f"{jobs[1].job_id}_submission.sh").read_text()
    assert f"--dependency=afterok:{jobs[0].job_id}" in sbatch_second
    assert "--mpi=pmix" in sbatch_second and "--signal=USR1@300" in sbatch_second and "--requeue" in sbatch_second
    log0 = (tmp_path / "check" / f"{jobs[0].job_id}_0_log.out").read_text()
    assert "[check] backend: horovod" in log0 and "[check] ok: True" in log0, log0[-2000:]


def test_submitit_step_that_never_ran_fails_the_job(slurm, tmp_path, monkeypatch):
    """`hpcgan submit`'s sbatch script checks the completion record after srun: a step that exits 0
    without running (`--srun-arg=--test-only`) ends the SLURM job FAILED with exit 70, not COMPLETED."""
    from hpcgan.launch.submit import Resources, submit_chain

    monkeypatch.chdir(REPO)
    monkeypatch.setenv("VENV", VENV)
    (job,) = submit_chain(["simulate"], ["demo"], [f"simulate.out={tmp_path}/sim", "simulate.n_paired=1",
                                                     "simulate.n_unpaired=0"], executor="slurm", folder=tmp_path,
                          res=Resources(time_min=10, srun_args=("--test-only",)))
    try:
        wait_for(lambda: job_done(job.job_id), 120, "the job")
    finally:
        subprocess.run(["scancel", job.job_id], capture_output=True)
    info = scontrol_job(job.job_id)
    err = "".join(f.read_text() for f in (tmp_path / "simulate").glob("*.err"))
    assert "JobState=FAILED" in info and "ExitCode=70:0" in info, info + err[-2000:]
    assert "stage simulate left no completion record" in err and "catalog.csv" in err, err[-2000:]
    sub = next((tmp_path / "simulate").glob("*_submission.sh")).read_text()
    assert "hpcgan.launch.record snapshot simulate" in sub and "--test-only" in sub


def test_submit_cli_local_executor_two_tasks(tmp_path):
    """`hpcgan submit --executor local`: 2 local tasks get torchrun-style variables (torch backend)."""
    p = run_cmd(hpcgan_cmd("submit", "-c", "demo", "--executor", "local", "--tasks-per-node", "2", "--stages", "check",
                           "--folder", str(tmp_path), "--wait"), timeout=240, check=False)
    logs = "".join(f.read_text() for f in tmp_path.rglob("*.err")) + "".join(f.read_text() for f in tmp_path.rglob("*.out"))
    assert p.returncode == 0, f"{p.stdout}\n{p.stderr}\n{logs[-3000:]}"
    assert "[check] ok: True" in logs and "[check] size: 2" in logs and "[check] backend: torch" in logs, logs[-3000:]


def test_stage1_template_dry_run(slurm, tmp_path):
    """The product template itself: jobs/step1.slurm on 2 tasks (horovod under srun --mpi=pmix), the
    trainer in --dry-run (builds the phase on every rank, trains nothing)."""
    out = tmp_path / "s1.out"
    jid = run_cmd(["sbatch", "--parsable", "-N", "1", "--ntasks-per-node=2", "--cpus-per-task=1", "-t", "15",
                   "-o", str(out), str(REPO / "jobs" / "step1.slurm"), "--dry-run"],
                  env=job_env(CONFIG="demo")).stdout.strip()
    try:
        wait_for(lambda: any(f"JobState={s}" in scontrol_job(jid) for s in ("COMPLETED", "FAILED", "CANCELLED")),
                 180, "the job")
    finally:
        subprocess.run(["scancel", jid], capture_output=True)
    text = out.read_text() if out.exists() else ""
    assert "JobState=COMPLETED" in scontrol_job(jid), text[-3000:]
    assert text.count("# phase ours-step1") == 2 and "srun --mpi=pmix hpcgan step1 --config demo" in text, text[-3000:]


def test_stagejob_finds_latest_checkpoint_and_resubmits_fresh(tmp_path):
    """No cluster: a requeued StageJob re-runs the same pickle, so it must find the newest checkpoint of
    its run dir itself; checkpoint() hands submitit a fresh job with no stale resume argument."""
    import submitit

    from hpcgan.launch.submit import StageJob

    ck = tmp_path / "run" / "checkpoints"
    ck.mkdir(parents=True)
    for it in (2, 10, 11):
        (ck / f"ckpt-{it:07d}.pt").write_bytes(b"x")
        if it != 11:  # 11 is incomplete (no .sha256): not a checkpoint yet
            (ck / f"ckpt-{it:07d}.pt.sha256").write_text("x")
    job = StageJob("step1", ["demo"], ["train.iters=5"], run_dir=str(tmp_path / "run"))
    assert job.latest_checkpoint() == ck / "ckpt-0000010.pt"
    assert job.argv() == ["--config", "demo", "--run-dir", str(tmp_path / "run"), "train.iters=5"]
    job.resumed_from = "stale"
    sub = job.checkpoint()
    assert isinstance(sub, submitit.helpers.DelayedSubmission)
    fresh = sub.function
    assert isinstance(fresh, StageJob) and fresh is not job and fresh.resumed_from is None
    assert (fresh.stage, fresh.configs, fresh.overrides, fresh.run_dir) == (job.stage, job.configs, job.overrides,
                                                                            job.run_dir)
    # without --run-dir the run dir comes from the config, as the trainer names it (single-step: no -stepN)
    assert StageJob("step2", ["demo"]).stage_run_dir().name == "ours-step2"
    assert StageJob("step1", ["demo", "cyclegan"]).stage_run_dir().name == "cyclegan"
