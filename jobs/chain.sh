#!/usr/bin/env bash
# Chain stages of hpcgan.stages with --dependency=afterok (a requeued job keeps its id, so the next
# stage waits for its final success); each stage reads the result file of the one before, so step 2
# starts from the checkpoint step 1 named, translate from the last training checkpoint, evaluate from
# that translation. Run from the repository root, on a login node:
#   CONFIG=configs/my.yaml SITE=generic jobs/chain.sh [--stages S1,S2,..] [--from STAGE] [--after FILE]
#       [-- extra sbatch args for every stage]
# Stages (default preprocess,step1,step2,translate,evaluate; also simulate, check): jobs/<stage>.slurm,
# else jobs/stage.slurm. --from drops the stages before STAGE; --after FILE reads an earlier chain's
# result file (e.g. logs/chain-.../step2.json). Per-stage sbatch args: <STAGE>_ARGS, e.g.
# STEP1_ARGS="-N 8 --gpus-per-node=4" TRANSLATE_ARGS="-N 2". Result files: $RESULTS (default
# logs/chain-<date>-<pid>/<stage>.json). Prints "<stage> <job id>"; `squeue -u $USER` shows them pending.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
stages=preprocess,step1,step2,translate,evaluate
from=""
after=""
while [ $# -gt 0 ]; do
  case "$1" in
    --stages) stages="$2"; shift 2 ;;
    --from) from="$2"; shift 2 ;;
    --after) after="$(realpath "$2")"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "chain.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
IFS=, read -r -a list <<<"$stages"
if [ -n "$from" ]; then
  for i in "${!list[@]}"; do [ "${list[$i]}" = "$from" ] && { list=("${list[@]:$i}"); from=""; break; }; done
  [ -z "$from" ] || { echo "chain.sh: --from $from is not one of $stages" >&2; exit 2; }
fi
[ -z "$after" ] || [ -f "$after" ] || { echo "chain.sh: --after: no file $after" >&2; exit 2; }
command -v sbatch >/dev/null || { echo "chain.sh: sbatch not found (not on a SLURM login node?)" >&2; exit 2; }
RESULTS="$(realpath -m "${RESULTS:-logs/chain-$(date +%Y%m%d-%H%M%S)-$$}")"
mkdir -p logs "$RESULTS"
export CONFIG="${CONFIG:-default}" SITE="${SITE:-generic}"
# inside a job (chaining from a job): drop the job's SLURM_* so the new jobs do not inherit its geometry
# (keep SLURM_CONF, and hpcgan's own SRUN_MPI / SRUN_ARGS knobs of jobs/lib.sh)
for v in $(env | awk -F= '/^(SLURM_|SBATCH_|SRUN_)/ {print $1}'); do
  case "$v" in SLURM_CONF|SRUN_MPI|SRUN_ARGS) ;; *) unset "$v" ;; esac
done
dep=()
EXTRA=("$@")
for s in "${list[@]}"; do
  script="jobs/$s.slurm" name=()
  [ -f "$script" ] || { script=jobs/stage.slurm; name=(-J "hpcgan-$s"); }
  args_var="$(echo "${s}_ARGS" | tr '[:lower:]-' '[:upper:]_')"
  result="$RESULTS/$s.json"
  # shellcheck disable=SC2086
  id="$(sbatch --parsable --export="ALL,STAGE=$s,HPCGAN_AFTER=$after,HPCGAN_RESULT=$result" "${name[@]}" \
        "${dep[@]}" ${!args_var:-} "${EXTRA[@]}" "$script")" || true
  id="${id%%;*}"
  [ -n "$id" ] || { echo "chain.sh: sbatch of $script ($s) failed" >&2; exit 1; }
  echo "$s $id"
  dep=(--dependency="afterok:$id" --kill-on-invalid-dep=yes)
  after="$result"
done
