#!/usr/bin/env bash
# The GPU check of the fused kernels (issue #6), in one go, on a machine with a CUDA GPU:
#   1. the kernel tests on CUDA (Triton vs the torch reference: fp32, bf16, grads, opcheck incl.
#      AOT dispatch, torch.compile fullgraph, autocast);
#   2. benchmarks/kernels.py at production shapes (+ tiling sweep), table in $OUT/kernels.md;
#   3. benchmarks/train_step.py --device cuda: step 1 and 2 at width 1.0, batch 24, fp32 / bf16 /
#      bf16+compile, then bf16 + channels_last; it/s and the projected 60k-iteration wall time;
#   4. a short full-width science run (issue #14 item 3): simulate a pair on the device, preprocess,
#      step 1 and step 2 of `ours` for SCIENCE_S seconds each (SIGTERM = checkpoint + exit 75, the
#      trainer's own preemption path), translate with the model and with the resample baseline,
#      evaluate against the noise-free truth. Needs galsim/astropy/photutils/scipy/yaml on the device;
#      skipped with a line when they do not import (put wheels in $WHEELS to pip-install them offline).
# Usage (repo root or anywhere):  OUT=/some/dir bash benchmarks/gpu_check.sh
# Rehearsal on a CPU box (tiny sizes, every step runs, figures meaningless):
#   DRY_RUN=1 OUT=/tmp/gpu_dry bash benchmarks/gpu_check.sh
# Needs python3 with torch (CUDA), triton, pytest; the repo need not be installed (PYTHONPATH).
# Expected runtime on an H200: ~7-8 min (science run ~4 of them); every step has its own timeout.
# Writes (flat): summary.md, env.log, tests.log, kernels.md, kernels.json, bench.log, train_step.log,
# train_step.json, science.log, science_metrics.json, science_step2_metrics.jsonl.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
OUT=${OUT:-./gpu_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
unset TRITON_INTERPRET
PY=${PYTHON:-python3}
T0=$(date +%s)
# Without a GPU (a dry run of this script on a CPU box): the tests run in TRITON_INTERPRET and the
# benchmark in --smoke mode; the figures are then meaningless.
if $PY -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
  BENCH_ARGS=(--sweep --bf16-train --budget-s 170); TRAIN_DEVICE=cuda
else
  echo "!! no CUDA GPU: dry run (interpreter tests, smoke benchmark)"
  BENCH_ARGS=(--smoke --no-compile); TRAIN_DEVICE=
fi
DRY_RUN=${DRY_RUN:-0}
if [ "$DRY_RUN" = 1 ]; then
  SCIENCE_S=${SCIENCE_S:-20}; SCI_SETS=(model.width=0.0625 data.batch_size=2 simulate.n_paired=16 simulate.n_unpaired=16)
  TRAIN_DEVICE=${TRAIN_DEVICE:-cpu}; TRAIN_ARGS=(--width 0.0625 --batch 2 --iters 1 --modes fp32)
else
  SCIENCE_S=${SCIENCE_S:-110}; SCI_SETS=(model.width=1.0 data.batch_size=24 simulate.n_paired=2000 simulate.n_unpaired=4000)
  TRAIN_ARGS=()
fi
if [ -n "${WHEELS:-}" ] && [ -d "$WHEELS" ]; then
  $PY -m pip install -q --no-index --find-links "$WHEELS" galsim astropy photutils scipy reproject PyYAML tqdm \
    >"$OUT/wheels.log" 2>&1 || echo "!! offline wheel install failed (see wheels.log)"
fi
elapsed() { echo $(( $(date +%s) - T0 )); }

{
  date -u +"%Y-%m-%dT%H:%M:%SZ"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 || true
  $PY - <<'EOF'
import sys, torch, triton
print("python", sys.version.split()[0], "torch", torch.__version__, "triton", triton.__version__)
print("cuda available:", torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else "")
EOF
  git -C "$REPO" log --oneline -1 2>/dev/null || true
} >"$OUT/env.log" 2>&1
cat "$OUT/env.log"

echo "== [$(elapsed)s] 1/3 kernel tests on CUDA"
timeout 200 $PY -m pytest -q -p no:cacheprovider -o addopts="" tests/kernels -ra --durations=10 \
  >"$OUT/tests.log" 2>&1
TESTS_RC=$?
tail -n 15 "$OUT/tests.log"

echo "== [$(elapsed)s] 2/3 benchmarks/kernels.py"
timeout 240 $PY benchmarks/kernels.py "${BENCH_ARGS[@]}" \
  --md "$OUT/kernels.md" --json "$OUT/kernels.json" >"$OUT/bench.log" 2>&1
BENCH_RC=$?
tail -n 40 "$OUT/bench.log"

TRAIN_RC=skipped
if [ -f benchmarks/train_step.py ] && [ -n "$TRAIN_DEVICE" ]; then
  echo "== [$(elapsed)s] 3/4 benchmarks/train_step.py --device $TRAIN_DEVICE (eager/compile/bf16, then channels_last)"
  timeout 150 $PY benchmarks/train_step.py --device "$TRAIN_DEVICE" "${TRAIN_ARGS[@]}" \
    --json "$OUT/train_step.json" >"$OUT/train_step.log" 2>&1
  TRAIN_RC=$?
  CL_MODES=(--modes bf16); [ "$DRY_RUN" = 1 ] && CL_MODES=()
  timeout 90 $PY benchmarks/train_step.py --device "$TRAIN_DEVICE" "${TRAIN_ARGS[@]}" "${CL_MODES[@]}" --channels-last \
    >>"$OUT/train_step.log" 2>&1 || TRAIN_RC="$TRAIN_RC+cl:$?"
  tail -n 20 "$OUT/train_step.log"
else
  echo "== 3/4 benchmarks/train_step.py: not present or no GPU: skipped" | tee "$OUT/train_step.log"
fi

SCI_RC=skipped
if $PY -c "import galsim, astropy, photutils, scipy, yaml, reproject" 2>/dev/null; then
  echo "== [$(elapsed)s] 4/4 science run: ours at ${SCI_SETS[*]}, ${SCIENCE_S}s per step"
  SCI=$OUT/sci; rm -rf "$SCI"; mkdir -p "$SCI"
  H=(-m hpcgan.cli)
  SETS=("${SCI_SETS[@]}" simulate.out=$SCI/sim preprocess.catalog=$SCI/sim/catalog.csv preprocess.out=$SCI/shards
        data.shards=$SCI/shards train.run_dir=$SCI/train train.iters=1000000 train.ckpt_every=1000000
        train.sample_every=0 train.log_every=20 train.eval_every=50 train.device=${TRAIN_DEVICE:-cuda})
  {
    $PY "${H[@]}" simulate -c default "${SETS[@]}" && $PY -m preprocess -c default "${SETS[@]}" \
    && { timeout -s TERM "$SCIENCE_S" $PY "${H[@]}" train --step 1 -c default "${SETS[@]}"; true; } \
    && { timeout -s TERM "$SCIENCE_S" $PY "${H[@]}" train --step 2 -c default "${SETS[@]}"; true; } \
    && $PY "${H[@]}" translate -c default "${SETS[@]}" --checkpoint $SCI/train/ours-step2 --out $SCI/translate \
    && $PY "${H[@]}" translate -c default "${SETS[@]}" --method resample --out $SCI/baseline \
    && $PY "${H[@]}" evaluate -c default "${SETS[@]}" --translations $SCI/translate --baseline $SCI/baseline --out $SCI/eval
  } >"$OUT/science.log" 2>&1
  SCI_RC=$?
  cp "$SCI/eval/metrics.json" "$OUT/science_metrics.json" 2>/dev/null || true
  cp "$SCI/train/ours-step2/metrics.jsonl" "$OUT/science_step2_metrics.jsonl" 2>/dev/null || true
  rm -rf "$SCI"   # keep $OUT small: the figures are in science.log and science_metrics.json
  tail -n 30 "$OUT/science.log"
else
  echo "== 4/4 science run: galsim/astropy/photutils/scipy/yaml/reproject missing on this machine: skipped" | tee "$OUT/science.log"
fi

{
  echo "# GPU check of the fused kernels ($(date -u +%Y-%m-%d))"
  echo
  echo '```'
  cat "$OUT/env.log"
  echo '```'
  echo
  echo "- kernel tests (tests/kernels on CUDA): exit $TESTS_RC -- $(grep -E '[0-9]+ (passed|failed)' "$OUT/tests.log" | tail -n 1)"
  echo "- benchmarks/kernels.py: exit $BENCH_RC"
  echo "- benchmarks/train_step.py: exit $TRAIN_RC"
  echo "- science run (ours, ${SCIENCE_S}s per step): exit $SCI_RC"
  echo "- wall time: $(elapsed) s"
  echo
  echo "## Kernels"
  echo
  if [ -f "$OUT/kernels.md" ]; then cat "$OUT/kernels.md"; else echo "(no table: see bench.log)"; fi
  echo
  echo "## Train step (tail)"
  echo
  echo '```'
  tail -n 30 "$OUT/train_step.log"
  echo '```'
  echo
  echo "## Science run (tail)"
  echo
  echo '```'
  tail -n 40 "$OUT/science.log"
  echo '```'
} >"$OUT/summary.md"
echo "== [$(elapsed)s] done: $OUT/summary.md"
[ "$TESTS_RC" = 0 ] && [ "$BENCH_RC" = 0 ]
