"""The whole chain on the local SLURM cluster (env/slurm-local.sh, started as in tests/test_slurm.py):
simulate -> preprocess -> step1 -> step2 -> translate -> evaluate through `hpcgan submit`, each job
afterok the one before and reading the result file of the one before; then translate -> evaluate
again through jobs/chain.sh and the jobs/*.slurm templates, from the submit chain's step-2 result.
Tiny: 6+6 stamps, width 0.0625, 2 iterations per step.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpcgan.utils.atomic import sha256_file
from tests.conftest import REPO, hpcgan_cmd, run_cmd
from tests.test_slurm import VENV, job_env, scontrol_job, slurm, wait_for  # noqa: F401  (slurm: the fixture)

STAGES = ("simulate", "preprocess", "step1", "step2", "translate", "evaluate")


def tiny(d: Path) -> list[str]:
    """Where every stage writes, and a tiny size; no input path: each stage reads the one before."""
    return [f"simulate.out={d}/sim", "simulate.n_paired=6", "simulate.n_unpaired=6", f"preprocess.out={d}/shards",
            "model.width=0.0625", f"train.run_dir={d}/train", "train.iters=2", "train.ckpt_every=2",
            "train.log_every=1", "train.sample_every=0", "train.eval_every=0", "data.batch_size=2",
            f"translate.out={d}/translate", f"evaluate.out={d}/eval"]


@pytest.fixture(scope="module")
def chain(slurm, tmp_path_factory) -> Path:
    """`hpcgan submit` of all six stages on SLURM, waited for; its folder."""
    d = tmp_path_factory.mktemp("chain")
    p = run_cmd(hpcgan_cmd("submit", "--executor", "slurm", "--stages", ",".join(STAGES),
                           "--folder", str(d / "submitit"), "--time-min", "15", "--wait", *tiny(d)),
                timeout=300, check=False,
                env={"VENV": VENV, "HPCGAN_LOG_LEVEL": "WARNING"})
    logs = "".join(f.read_text() for f in sorted((d / "submitit").rglob("*_log.*")))
    assert p.returncode == 0, f"{p.stdout}\n{p.stderr[-3000:]}\n{logs[-4000:]}"
    return d


def test_submit_chains_all_six_stages(chain):
    """Each job afterok the previous; each stage's input is the output the stage before named; evaluate's
    metrics.json names the checkpoint it scored (path and sha256 of step 2's last checkpoint)."""
    results = {r["name"]: r for r in json.loads((chain / "submitit" / "evaluate" / "result.json").read_text())}
    assert list(results) == list(STAGES)
    ids = {}
    for s in STAGES:
        (sub,) = (chain / "submitit" / s).glob("*_submission.sh")
        ids[s] = sub.name.split("_")[0]
    for prev, s in zip(STAGES, STAGES[1:]):
        assert f"--dependency=afterok:{ids[prev]}" in (chain / "submitit" / s / f"{ids[s]}_submission.sh").read_text()
    step2 = results["step2"]["extra"]
    assert results["step2"]["out_dir"] == str(chain / "train" / "ours-step2")
    assert Path(step2["checkpoint"]).parent == chain / "train" / "ours-step2" / "checkpoints"
    assert step2["checkpoint_sha256"] == sha256_file(step2["checkpoint"])
    metrics = json.loads((chain / "eval" / "metrics.json").read_text())
    assert (metrics["checkpoint"], metrics["checkpoint_sha256"]) == (step2["checkpoint"], step2["checkpoint_sha256"])
    assert metrics["translations"] == str((chain / "translate").resolve()) and metrics["n_objects"] > 0


def test_chain_sh_translate_and_evaluate_templates(chain, tmp_path):
    """jobs/chain.sh --stages translate,evaluate --after <step-2 result>: jobs/translate.slurm and
    jobs/evaluate.slurm, afterok, the translation of the checkpoint the result file names."""
    cfg = tmp_path / "again.yaml"  # under chain.sh the YAML holds the knobs; the jobs hold resources only
    cfg.write_text(f"translate: {{out: {tmp_path}/translate}}\nevaluate: {{out: {tmp_path}/eval}}\n")
    env = job_env(CONFIG=str(cfg), RESULTS=str(tmp_path / "results"))
    p = run_cmd(["bash", str(REPO / "jobs" / "chain.sh"), "--stages", "translate,evaluate", "--after",
                 str(chain / "submitit" / "step2" / "result.json"), "--", "--ntasks-per-node=1",
                 "--cpus-per-task=1", "-t", "10", "-o", str(tmp_path / "%x-%j.out")], env=env)
    ids = dict(line.split() for line in p.stdout.split("\n") if line.strip())
    assert list(ids) == ["translate", "evaluate"], p.stdout
    assert f"Dependency=afterok:{ids['translate']}" in scontrol_job(ids["evaluate"]) or \
        "JobState=COMPLETED" in scontrol_job(ids["evaluate"])
    wait_for(lambda: any(f"JobState={s}" in scontrol_job(ids["evaluate"]) for s in ("COMPLETED", "FAILED", "CANCELLED",
                                                                                  "TIMEOUT")), 200, "evaluate")
    logs = "".join(f.read_text() for f in sorted(tmp_path.glob("*.out")))
    assert "JobState=COMPLETED" in scontrol_job(ids["evaluate"]), logs[-4000:]
    results = json.loads((tmp_path / "results" / "evaluate.json").read_text())
    assert [r["name"] for r in results] == list(STAGES[:4]) + ["translate", "evaluate"]
    metrics = json.loads(Path(results[-1]["extra"]["metrics"]).read_text())
    assert metrics["checkpoint"] == results[3]["extra"]["checkpoint"]
    assert metrics["translations"] == str(tmp_path / "translate")
    assert f"srun --mpi=pmix hpcgan translate --config {cfg} --after" in logs, logs[-3000:]


def test_each_stage_reads_what_the_one_before_named(tmp_path):
    """No cluster: the overrides a stage gets from earlier results, and explicit overrides win over them."""
    from hpcgan.stages import STAGES as REG
    from hpcgan.stages import StageResult

    done = {"simulate": StageResult("simulate", "/s", {"catalog": "/s/catalog.csv"}),
            "preprocess": StageResult("preprocess", "/p"),
            "step1": StageResult("step1", "/t/cyclegan", {"checkpoint": "/t/cyclegan/checkpoints/ckpt-0000002.pt"})}
    assert REG["preprocess"].reads(done) == ['preprocess.catalog="/s/catalog.csv"']
    assert REG["step2"].reads(done) == ['data.shards="/p"', 'train.init_from="/t/cyclegan/checkpoints/ckpt-0000002.pt"']
    # a single-step variant has no step 2: translate takes step 1's checkpoint
    assert REG["translate"].reads(done) == ['translate.shards="/p"',
                                            'translate.checkpoint="/t/cyclegan/checkpoints/ckpt-0000002.pt"']
    cfg, _ = REG["translate"].parse([*REG["translate"].reads(done), "-c", "demo", "--dry-run",
                                     "translate.checkpoint=/mine.pt", "--out", str(tmp_path)])
    assert (cfg.translate.checkpoint, cfg.translate.out, cfg.translate.shards) == ("/mine.pt", str(tmp_path), "/p")


@pytest.mark.parametrize("rc,signal,restart,want", [
    (0, "USR1", 0, False),   # finished anyway
    (75, None, 0, True),     # the trainer stopped on a signal (submit: USR1 goes to the tasks)
    (1, "USR1", 0, True),    # time-limit warning, stage without a handler
    (1, None, 0, False),     # a failure
    (75, "TERM", 0, False),  # scancel / preemption
    (75, None, 20, False),   # HPCGAN_MAX_REQUEUE reached
])
def test_requeue_rule(rc, signal, restart, want):
    from hpcgan.launch.requeue import should_requeue

    assert should_requeue(rc, signal, restart, 20)[0] is want
