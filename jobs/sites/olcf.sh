# Site profile: OLCF-like (Frontier: 4x MI250X = 8 GCDs per node, Slingshot-11, Cray MPICH, ROCm/RCCL).
# After the OLCF PyTorch-on-Frontier guide (docs/distributed.md, "Site profiles"): avoid torchrun (slow start at
# scale), srun direct launch with one GCD per task bound closest, NCCL/RCCL on the hsn0 interface,
# environment staged on node-local NVMe, sbatch --export=NONE for a clean environment.
# Usage: SITE=olcf CONFIG=... sbatch -A <proj> -N 64 --ntasks-per-node=8 --gpus-per-task=1 \
#          --cpus-per-task=7 -C nvme jobs/step1.slurm
module load PrgEnv-gnu rocm craype-accel-amd-gfx90a 2>/dev/null || true
export SRUN_MPI="${SRUN_MPI:-cray_shasta}"
export SRUN_ARGS="${SRUN_ARGS:-} --gpus-per-task=1 --gpu-bind=closest"  # one GCD per task: device index 0
export NCCL_SOCKET_IFNAME="${NCCL_SOCKET_IFNAME:-hsn0}"
export NCCL_CROSS_NIC="${NCCL_CROSS_NIC:-1}"
export NCCL_NET_GDR_LEVEL="${NCCL_NET_GDR_LEVEL:-3}"
export FI_CXI_ATS="${FI_CXI_ATS:-0}"
export MIOPEN_USER_DB_PATH="/tmp/miopen-${USER:-u}-${SLURM_JOB_ID:-0}"; export MIOPEN_CUSTOM_CACHE_DIR="$MIOPEN_USER_DB_PATH"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-7}"
export HDF5_USE_FILE_LOCKING=FALSE
# Environment on NVMe (thousands of Python imports hit Lustre otherwise): pack the venv once with
#   tar -C "$(dirname "$VENV")" -czf venv.tgz "$(basename "$VENV")"
# and set HPCGAN_SBCAST_VENV=/path/venv.tgz: it is copied to /mnt/bb/$USER on every node here.
if [ -n "${HPCGAN_SBCAST_VENV:-}" ] && [ -n "${SLURM_JOB_ID:-}" ]; then
  sbcast -pf "$HPCGAN_SBCAST_VENV" "/mnt/bb/$USER/venv.tgz"
  srun --ntasks-per-node=1 tar -xzf "/mnt/bb/$USER/venv.tgz" -C "/mnt/bb/$USER"
  export VENV="/mnt/bb/$USER/$(basename "${HPCGAN_SBCAST_VENV%.tgz}")"
fi
