# Site profile: generic SLURM cluster (and the local one-node cluster of env/slurm-local.sh).
# Sourced by jobs/lib.sh before env/activate.sh. Set only what differs from the defaults.
# Launch: srun direct launch with PMIx (Open MPI/Horovod wire up through it; mpirun over ssh escapes
# SLURM's binding and accounting). If `srun --mpi=list` has no pmix, use SRUN_MPI=pmi2.
export SRUN_MPI="${SRUN_MPI:-pmix}"
# GPUs: leave all GPUs of a node visible to every task and pick the device by local rank
# (--gpus-per-task cgroups hide peer GPUs: NCCL loses P2P/NVLink). No-op without GPUs.
if [ -n "${SLURM_GPUS_ON_NODE:-}" ] || [ -n "${SLURM_JOB_GPUS:-}" ]; then
  export SRUN_ARGS="${SRUN_ARGS:-} --gpu-bind=none"
fi
# hpcgan's rendezvous (torch backend): MASTER_ADDR = first host of the step, MASTER_PORT from the job id.
# Clusters whose IB hostnames differ (JSC: "<host>i"): export MASTER_ADDR="$(scontrol show hostnames | head -1)i"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}"
