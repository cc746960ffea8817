#!/usr/bin/env bash
# The GPU check of the fused kernels (issue #6), in one go, on a machine with a CUDA GPU:
#   1. the kernel tests on CUDA (Triton vs the torch reference: fp32, bf16, grads, opcheck incl.
#      AOT dispatch, torch.compile fullgraph, autocast);
#   2. benchmarks/kernels.py at production shapes (+ tiling sweep), table in $OUT/kernels.md;
#   3. benchmarks/train_step.py --device cuda, if that file exists.
# Usage (repo root or anywhere):  OUT=/some/dir bash benchmarks/gpu_check.sh
# Needs python3 with torch (CUDA), triton, pytest; the repo need not be installed (PYTHONPATH).
# Expected runtime on an H200: ~3-5 min; every step has its own timeout (worst case ~7 min).
# Writes (at most 8 files, flat): summary.md, env.log, tests.log, kernels.md, kernels.json,
# bench.log, train_step.log.
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
  echo "== [$(elapsed)s] 3/3 benchmarks/train_step.py --device cuda"
  timeout 120 $PY benchmarks/train_step.py --device cuda >"$OUT/train_step.log" 2>&1
  TRAIN_RC=$?
  tail -n 20 "$OUT/train_step.log"
else
  echo "== 3/3 benchmarks/train_step.py: not present or no GPU: skipped" | tee "$OUT/train_step.log"
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
} >"$OUT/summary.md"
echo "== [$(elapsed)s] done: $OUT/summary.md"
[ "$TESTS_RC" = 0 ] && [ "$BENCH_RC" = 0 ]
