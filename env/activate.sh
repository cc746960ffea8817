# Source me: puts hpcgan's venv on PATH for batch jobs and shells (jobs/lib.sh sources it).
#   source env/activate.sh            (VENV=/path overrides .venv of the repository)
_hpcgan_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$_hpcgan_root/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[activate] no venv at $VENV: run make setup (env/setup.sh) or set VENV" >&2
  return 1 2>/dev/null || exit 1
fi
# shellcheck source=/dev/null
source "$VENV/bin/activate"
export PYTHONUNBUFFERED=1
# one thread per core given to the task (torch otherwise starts one per core of the node per rank)
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}"
unset _hpcgan_root
