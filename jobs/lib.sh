# Sourced by jobs/*.slurm: environment, signal trap + forward + requeue, the srun line, the completion check.
# Knobs (environment; all optional):
#   CONFIG=configs/x.yaml   hpcgan config (YAML holds the training knobs; the job holds resources only)
#   HPCGAN_AFTER=FILE       results of the stages before (hpcgan <stage> --after; jobs/chain.sh sets it)
#   HPCGAN_RESULT=FILE      where this stage writes the results so far plus its own (--result)
#   SITE=generic            jobs/sites/$SITE.sh: modules, NCCL/fabric variables, srun flags
#   SRUN_MPI=pmix           srun --mpi=$SRUN_MPI (pmix, pmi2, cray_shasta, none)
#   SRUN_ARGS="..."         extra srun flags (e.g. --gpu-bind=none)
#   HPCGAN_MAX_REQUEUE=20   stop requeueing after this many restarts (SLURM_RESTART_COUNT)
#   HPCGAN_ROOT=$SLURM_SUBMIT_DIR  the repository (sbatch copies the script, so $0 is no guide)
set -euo pipefail
HPCGAN_ROOT="${HPCGAN_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}"
cd "$HPCGAN_ROOT"
[ -f jobs/lib.sh ] || { echo "[job] $HPCGAN_ROOT is not the hpcgan repository: submit from its root or set HPCGAN_ROOT" >&2; exit 2; }
SITE="${SITE:-generic}"
[ -f "jobs/sites/$SITE.sh" ] || { echo "[job] no site profile jobs/sites/$SITE.sh" >&2; exit 2; }
# shellcheck source=/dev/null
source "jobs/sites/$SITE.sh"
# shellcheck source=/dev/null
source env/activate.sh
CONFIG="${CONFIG:-default}"
SRUN_MPI="${SRUN_MPI:-pmix}"
export CONFIG

_hpcgan_child=""
_hpcgan_signalled=""
_hpcgan_forward() {  # B:USR1 reaches only this shell: pass it to the step (srun relays it to every task)
  _hpcgan_signalled="$1"
  echo "[job] $(date -Is) SIG$1 received (time limit near or preempted): forwarding to the job step" >&2
  [ -n "$_hpcgan_child" ] && kill -s "$1" "$_hpcgan_child" 2>/dev/null || true
}
trap '_hpcgan_forward USR1' USR1
trap '_hpcgan_forward TERM' TERM

# _hpcgan_step CMD...: run CMD as one task per rank with srun, in the background so the trap can fire;
# its status in _hpcgan_rc.
_hpcgan_step() {
  echo "[job] $(date -Is) job ${SLURM_JOB_ID:-?} restart ${SLURM_RESTART_COUNT:-0} site=$SITE config=$CONFIG" \
       "tasks=${SLURM_NTASKS:-1} nodes=${SLURM_JOB_NUM_NODES:-1}: srun --mpi=$SRUN_MPI $*" >&2
  # shellcheck disable=SC2086
  srun --mpi="$SRUN_MPI" --kill-on-bad-exit=1 ${SRUN_ARGS:-} "$@" &
  _hpcgan_child=$!
  _hpcgan_rc=0
  while :; do
    wait "$_hpcgan_child" && _hpcgan_rc=0 || _hpcgan_rc=$?
    # wait returns >128 when a trapped signal interrupts it; the step is still running then
    kill -0 "$_hpcgan_child" 2>/dev/null || break
  done
  _hpcgan_child=""
}

# _hpcgan_finish RC: requeue the job if hpcgan.launch.requeue's rule says so (the step did not complete
# after USR1 reached this shell, or it exited 75; never after SIGTERM or past HPCGAN_MAX_REQUEUE
# restarts), else return RC.
_hpcgan_finish() {
  local rc="$1"
  # rc 0: done (a job shorter than the warning time gets USR1 at once and may still finish)
  if [ "$rc" -ne 0 ] && python -m hpcgan.launch.requeue "$rc" "$_hpcgan_signalled"; then
    scontrol requeue "${SLURM_JOB_ID}" || { echo "[job] scontrol requeue of ${SLURM_JOB_ID} failed" >&2; return 1; }
    exit 0
  fi
  return "$rc"
}

# hpcgan_srun CMD...: any command, one task per rank; its exit status decides (see _hpcgan_finish).
hpcgan_srun() {
  _hpcgan_step "$@"
  _hpcgan_finish "$_hpcgan_rc"
}

# hpcgan_stage STAGE [ARGS...]: `hpcgan STAGE` of hpcgan.stages with the job's config and chain files.
# Success is proven by the stage's completion record (hpcgan.launch.record: the manifest, catalog or
# metrics written by this step, the checkpoint of train.iters), not by srun's status: a step that
# exits 0 without it (it could not launch, or stopped early) ends the job with 70, or requeues it
# after USR1. The results of the stages before (HPCGAN_AFTER) must still have theirs.
hpcgan_stage() {
  local stage="$1"; shift
  local chain=() snap rc
  [ -n "${HPCGAN_AFTER:-}" ] && chain+=(--after "$HPCGAN_AFTER")
  [ -n "${HPCGAN_RESULT:-}" ] && chain+=(--result "$HPCGAN_RESULT")
  snap="$(python -m hpcgan.launch.record snapshot "$stage" --config "$CONFIG" "${chain[@]}" "$@")" || return $?
  _hpcgan_step hpcgan "$stage" --config "$CONFIG" "${chain[@]}" "$@"
  rc=$_hpcgan_rc
  if [ "$rc" -eq 0 ] && ! python -m hpcgan.launch.record check "$snap"; then
    echo "[job] srun exited 0 but stage $stage left no completion record: failing the job (exit 70)" >&2
    rc=70
  fi
  _hpcgan_finish "$rc"
}
