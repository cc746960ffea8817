#!/usr/bin/env bash
# Chain preprocess -> step 1 -> step 2 with --dependency=afterok (a requeued job keeps its id, so the
# next stage waits for its final success). Run from the repository root, on a login node:
#   CONFIG=configs/my.yaml SITE=generic jobs/chain.sh [--from step1] [-- extra sbatch args for every stage]
# Per-stage sbatch args: PREPROCESS_ARGS, STAGE1_ARGS, STAGE2_ARGS (e.g. "-N 8 --gpus-per-node=4").
# Prints the job ids; `squeue -u $USER` shows them pending on their dependencies.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
from=preprocess
while [ $# -gt 0 ]; do
  case "$1" in
    --from) from="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) echo "chain.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$from" in preprocess|step1|step2) ;; *) echo "chain.sh: --from preprocess|step1|step2" >&2; exit 2 ;; esac
command -v sbatch >/dev/null || { echo "chain.sh: sbatch not found (not on a SLURM login node?)" >&2; exit 2; }
mkdir -p logs
export CONFIG="${CONFIG:-default}" SITE="${SITE:-generic}"
# inside a job (chaining from a job): drop the job's SLURM_* so the new jobs do not inherit its geometry
for v in $(env | awk -F= '/^(SLURM_|SBATCH_|SRUN_)/ {print $1}'); do [ "$v" = SLURM_CONF ] || unset "$v"; done
dep=()
EXTRA=("$@")
submit() {  # name, script, per-stage args
  local id
  # shellcheck disable=SC2086
  id="$(sbatch --parsable --export=ALL "${dep[@]}" $3 "${EXTRA[@]}" "$2")" || true
  id="${id%%;*}"
  [ -n "$id" ] || { echo "chain.sh: sbatch of $2 failed" >&2; exit 1; }
  echo "$1 $id"
  dep=(--dependency="afterok:$id" --kill-on-invalid-dep=yes)
}
started=0
for s in preprocess step1 step2; do
  [ "$s" = "$from" ] && started=1
  [ "$started" = 1 ] || continue
  case "$s" in
    preprocess) submit preprocess jobs/preprocess.slurm "${PREPROCESS_ARGS:-}" ;;
    step1) submit step1 jobs/stage1.slurm "${STAGE1_ARGS:-}" ;;
    step2) submit step2 jobs/stage2.slurm "${STAGE2_ARGS:-}" ;;
  esac
done
