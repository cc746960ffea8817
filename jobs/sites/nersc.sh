# Site profile: NERSC-like (Perlmutter: 4x A100 per node, Slingshot-11, Cray MPICH, SLURM).
# After docs.nersc.gov/machinelearning (launchers); docs/distributed.md, "Site profiles".
# Usage: SITE=nersc CONFIG=... sbatch -A <account> -C gpu -q regular -N 8 --gpus-per-node=4 \
#          --ntasks-per-node=4 --cpus-per-task=32 jobs/step1.slurm
module load pytorch 2>/dev/null || true   # or: module load python; source your own venv below
# Cray MPICH is wired by SLURM's cray_shasta plugin (the default there); Horovod must be built against
# that MPI (MPICC=cc, env/install-horovod.sh with HOROVOD_GPU_OPERATIONS=NCCL).
export SRUN_MPI="${SRUN_MPI:-cray_shasta}"
export SRUN_ARGS="${SRUN_ARGS:-} --gpu-bind=none"   # all 4 GPUs visible; device = local rank
# NCCL over Slingshot needs the libfabric (aws-ofi) plugin that the NCCL module provides
export NCCL_NET_GDR_LEVEL="${NCCL_NET_GDR_LEVEL:-PHB}"
export FI_CXI_DISABLE_HOST_REGISTER="${FI_CXI_DISABLE_HOST_REGISTER:-1}"
export MPICH_GPU_SUPPORT_ENABLED="${MPICH_GPU_SUPPORT_ENABLED:-0}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-8}"
export HDF5_USE_FILE_LOCKING=FALSE   # Lustre/DVS: read-only jobs need no HDF5 file locks
# Use the venv from $SCRATCH/... if you keep it there: export VENV=/path/to/venv
