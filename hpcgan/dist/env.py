"""Who am I in the job: rank, world size, local rank and the rendezvous address, from the launcher.

Launchers, first match wins (a launcher started inside another one sets its own variables last):

* ``mpirun`` (Open MPI): ``OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK/LOCAL_SIZE``
* ``mpiexec`` of MPICH / Intel MPI (Hydra): ``PMI_RANK``, ``PMI_SIZE``, ``MPI_LOCALRANKID``,
  ``MPI_LOCALNRANKS`` (launcher ``mpirun``)
* ``torchrun`` (or submitit's ``TorchDistributedEnvironment().export()``): ``RANK``, ``WORLD_SIZE``,
  ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``
* ``srun``: ``SLURM_PROCID``, ``SLURM_STEP_NUM_TASKS`` (or ``SLURM_NTASKS``), ``SLURM_LOCALID``,
  ``SLURM_NODEID`` + ``SLURM_STEP_TASKS_PER_NODE`` for the local size, and the master address is the
  first host of ``scontrol show hostnames $SLURM_STEP_NODELIST`` (``SLURM_JOB_NODELIST``).
  Only a job *step* counts: the batch shell also has ``SLURM_PROCID=0`` and ``SLURM_NTASKS=N`` but
  is one process, so ``python train.py`` typed into an sbatch script runs as one rank, not N waiting.

``MASTER_ADDR``/``MASTER_PORT`` in the environment always win (JSC-style ``i`` host suffixes, site
profiles in jobs/sites/).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Mapping, Optional

DEFAULT_PORT = 29500


@dataclass(frozen=True)
class LaunchEnv:
    """Who this process is in the job (from :func:`detect`) and, once :func:`hpcgan.dist.init` chose
    one, the backend its collectives use (``Dist.info``)."""
    launcher: str = "none"  # none | mpirun | torchrun | srun
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    master_addr: Optional[str] = None
    master_port: Optional[int] = None
    job_id: Optional[str] = None
    backend: str = "none"  # none | horovod | torch: set by hpcgan.dist.init, never by detect


def expand_tasks_per_node(spec: str) -> list[int]:
    """SLURM's compressed counts: ``'2(x3),1'`` -> ``[2, 2, 2, 1]``."""
    out: list[int] = []
    for part in filter(None, spec.split(",")):
        m = re.fullmatch(r"\s*(\d+)(?:\(x(\d+)\))?\s*", part)
        if not m:
            raise ValueError(f"cannot parse SLURM tasks-per-node {spec!r}")
        out += [int(m.group(1))] * int(m.group(2) or 1)
    return out


def expand_nodelist(nodelist: str) -> list[str]:
    """Pure-Python ``scontrol show hostnames`` for the common forms: ``a,b``, ``nid[001-003,007]``,
    ``gpu[01-02]-ib``. Used when scontrol is not on PATH (tests, login-node tools)."""
    hosts: list[str] = []
    # split on commas not inside brackets
    parts, depth, cur = [], 0, ""
    for ch in nodelist:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    for part in filter(None, (p.strip() for p in parts)):
        m = re.fullmatch(r"([^\[]*)\[([^\]]+)\](.*)", part)
        if not m:
            hosts.append(part)
            continue
        prefix, ranges, suffix = m.groups()
        for r in ranges.split(","):
            lo, _, hi = r.partition("-")
            if hi:
                width = len(lo)
                hosts += [f"{prefix}{i:0{width}d}{suffix}" for i in range(int(lo), int(hi) + 1)]
            else:
                hosts.append(f"{prefix}{lo}{suffix}")
    return hosts


def slurm_hostnames(nodelist: str) -> list[str]:
    """Hosts of a SLURM node list, via ``scontrol show hostnames`` (the authority), else parsed here."""
    if shutil.which("scontrol"):
        try:
            p = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True,
                               timeout=30)
            if p.returncode == 0 and p.stdout.split():
                return p.stdout.split()
        except (OSError, subprocess.SubprocessError):
            pass
    return expand_nodelist(nodelist)


def _port_from_id(job_id: str | None, salt: str | None = None) -> int:
    """A port every rank derives alike from the job (and step) id, in 20000..39999."""
    if not job_id:
        return DEFAULT_PORT
    digits = int(re.sub(r"\D", "", job_id) or 0) * 97 + int(re.sub(r"\D", "", salt or "") or 0)
    return 20000 + digits % 20000


def detect(environ: Mapping[str, str] | None = None) -> LaunchEnv:
    """The launch environment of this process (see the module docstring for the order)."""
    e = os.environ if environ is None else environ
    addr = e.get("MASTER_ADDR") or None
    port = int(e["MASTER_PORT"]) if e.get("MASTER_PORT") else None

    if "OMPI_COMM_WORLD_RANK" in e and "OMPI_COMM_WORLD_SIZE" in e:
        size = int(e["OMPI_COMM_WORLD_SIZE"])
        local_size = int(e.get("OMPI_COMM_WORLD_LOCAL_SIZE", "1"))
        if addr is None and local_size == size:
            addr = "127.0.0.1"  # one node; several nodes: the torch backend asks MPI for rank 0's host
        job = e.get("OMPI_MCA_ess_base_jobid") or e.get("SLURM_JOB_ID")
        return LaunchEnv("mpirun", int(e["OMPI_COMM_WORLD_RANK"]), size,
                         int(e.get("OMPI_COMM_WORLD_LOCAL_RANK", "0")), local_size, addr,
                         port if port is not None else (_port_from_id(job) if job else None), job)

    if "PMI_RANK" in e and "PMI_SIZE" in e and "MPI_LOCALRANKID" in e:  # Hydra (srun's pmi2 sets no MPI_LOCAL*)
        size, local_size = int(e["PMI_SIZE"]), int(e.get("MPI_LOCALNRANKS", "1"))
        return LaunchEnv("mpirun", int(e["PMI_RANK"]), size, int(e["MPI_LOCALRANKID"]), local_size,
                         addr or ("127.0.0.1" if local_size == size else None), port, e.get("SLURM_JOB_ID"))

    if "RANK" in e and "WORLD_SIZE" in e:
        size = int(e["WORLD_SIZE"])
        return LaunchEnv("torchrun", int(e["RANK"]), size, int(e.get("LOCAL_RANK", "0")),
                         int(e.get("LOCAL_WORLD_SIZE", "1")), addr or ("127.0.0.1" if size == 1 else None),
                         port if port is not None else DEFAULT_PORT, e.get("TORCHELASTIC_RUN_ID"))

    in_step = any(k in e for k in ("SLURM_STEP_ID", "SLURM_STEPID", "SLURM_STEP_NUM_TASKS"))
    if in_step and "SLURM_PROCID" in e:
        size = int(e.get("SLURM_STEP_NUM_TASKS") or e.get("SLURM_NTASKS") or 1)
        local_rank = int(e.get("SLURM_LOCALID", "0"))
        per_node = e.get("SLURM_STEP_TASKS_PER_NODE") or e.get("SLURM_TASKS_PER_NODE")
        local_size = 1
        if per_node:
            counts = expand_tasks_per_node(per_node)
            node = int(e.get("SLURM_NODEID", "0"))
            local_size = counts[node] if node < len(counts) else counts[-1]
        job = e.get("SLURM_JOB_ID") or e.get("SLURM_JOBID")
        if addr is None:
            nodelist = e.get("SLURM_STEP_NODELIST") or e.get("SLURM_JOB_NODELIST") or e.get("SLURM_NODELIST")
            hosts = slurm_hostnames(nodelist) if nodelist else []
            addr = hosts[0] if hosts else "127.0.0.1"
        if port is None:
            port = _port_from_id(job, e.get("SLURM_STEP_ID") or e.get("SLURM_STEPID"))
        return LaunchEnv("srun", int(e["SLURM_PROCID"]), size, local_rank, local_size, addr, port, job)

    return LaunchEnv("none", 0, 1, 0, 1, addr or "127.0.0.1", port if port is not None else DEFAULT_PORT)
