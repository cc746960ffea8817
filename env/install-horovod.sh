#!/usr/bin/env bash
# Build Horovod 0.28.1 from its PyPI sdist against the venv's torch and Debian's Open MPI, cache the
# wheel outside the repository, install it, verify it. Re-running installs from the cache (seconds).
#
# Why a build recipe at all (horovod #3998, #3996, #4014; docs/distributed.md): 0.28.1 (2023) is the last
# release; its sdist compiles with C++14 while torch>=2.1 headers need C++17 (fixed upstream only on
# master), and PyPI's cmake 4.x rejects the bundled gloo. So: download the sdist, patch
# CMAKE_CXX_STANDARD 14 -> 17 in CMakeLists.txt and horovod/torch/CMakeLists.txt, build with Debian's
# cmake first on PATH, MPI only (no Gloo: hpcgan launches with srun/mpirun, never horovodrun/elastic).
#
# Usage:   bash env/install-horovod.sh            (VENV=/path overrides the venv location)
# Knobs (environment):
#   HOROVOD_VERSION=0.28.1
#   HOROVOD_GPU_OPERATIONS=NCCL   GPU sites: NCCL allreduce on device tensors (needs CUDA torch and
#                                 NCCL headers/libs; HOROVOD_NCCL_HOME=/path if not in the default paths)
#   HPCGAN_HOROVOD_WITH_GLOO=1    also build Gloo (needs Debian cmake 3.x; only for horovodrun)
#   HPCGAN_WHEEL_CACHE=DIR        default ${XDG_CACHE_HOME:-$HOME/.cache}/hpcgan/wheels
#   HPCGAN_HOROVOD_REBUILD=1      ignore the cached wheel
#   MAX_JOBS=N                    parallel compile jobs (default: nproc)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
HVD_VER="${HOROVOD_VERSION:-0.28.1}"
CACHE="${HPCGAN_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hpcgan/wheels}"

say() { echo "[install-horovod] $*"; }
die() { echo "[install-horovod] ERROR: $*" >&2; exit 1; }

[ -x "$PY" ] || die "no venv at $VENV: run env/setup.sh first (make setup)"
command -v mpicxx >/dev/null || die "mpicxx not found: apt-get install -y openmpi-bin libopenmpi-dev (env/setup.sh does)"
# Debian's cmake first on PATH; a PyPI cmake 4.x (e.g. in the venv) breaks the bundled gloo sub-build.
export PATH="/usr/bin:/bin:$PATH"
command -v cmake >/dev/null || die "cmake not found: apt-get install -y cmake (Debian's 3.25 is the verified one)"

verify() {
  "$PY" - <<'PYEOF'
import horovod, horovod.torch as hvd
assert hvd.mpi_built(), "horovod was built without MPI"
print(f"[install-horovod] ok: horovod {horovod.__version__}, mpi_built={hvd.mpi_built()}, "
      f"gloo_built={hvd.gloo_built()}, nccl_built={bool(hvd.nccl_built())}")
PYEOF
}

TORCH_VER="$("$PY" -c 'import torch; print(torch.__version__)')" || die "torch not importable in $VENV"
PY_TAG="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
MPI_VER="$(mpirun --version 2>/dev/null | head -1 | grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?' | head -1 || echo unknown)"
OPS="cpu-mpi${HOROVOD_GPU_OPERATIONS:+-gpu-$(echo "$HOROVOD_GPU_OPERATIONS" | tr 'A-Z' 'a-z')}"
[ "${HPCGAN_HOROVOD_WITH_GLOO:-0}" = 1 ] && OPS="$OPS-gloo"
KEY="horovod-$HVD_VER-torch-$TORCH_VER-$PY_TAG-ompi-$MPI_VER-$OPS"
WHEEL_DIR="$CACHE/$KEY"
say "cache key $KEY"

# Already installed and matching?
if [ "${HPCGAN_HOROVOD_REBUILD:-0}" != 1 ] && [ -f "$VENV/.hpcgan-horovod" ] \
   && [ "$(cat "$VENV/.hpcgan-horovod")" = "$KEY" ] && verify 2>/dev/null; then
  say "already installed in $VENV ($KEY)"
  exit 0
fi

wheel="$(ls "$WHEEL_DIR"/horovod-*.whl 2>/dev/null | head -1 || true)"
if [ -n "$wheel" ] && [ "${HPCGAN_HOROVOD_REBUILD:-0}" != 1 ]; then
  say "installing cached wheel $wheel"
else
  say "no cached wheel in $WHEEL_DIR: building Horovod $HVD_VER from source (several minutes on 2 cores)"
  work="$(mktemp -d "${TMPDIR:-/tmp}/hpcgan-horovod-build.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  say "pip download --no-binary :all: horovod==$HVD_VER -> $work"
  "$PY" -m pip download -q --no-deps --no-binary :all: "horovod==$HVD_VER" -d "$work" \
    || die "pip download horovod==$HVD_VER failed (no access to PyPI? put the sdist in $work by hand)"
  tar -xzf "$work"/horovod-"$HVD_VER".tar.gz -C "$work" || die "could not unpack the sdist"
  src="$work/horovod-$HVD_VER"
  for f in "$src/CMakeLists.txt" "$src/horovod/torch/CMakeLists.txt"; do
    [ -f "$f" ] || die "expected $f in the sdist"
    if grep -q 'set(CMAKE_CXX_STANDARD 14)' "$f"; then
      sed -i 's/set(CMAKE_CXX_STANDARD 14)/set(CMAKE_CXX_STANDARD 17)/' "$f"
      say "patched C++14 -> C++17 in ${f#$src/}"
    fi
    grep -q 'CMAKE_CXX_STANDARD 17' "$f" || say "warning: no CMAKE_CXX_STANDARD 17 in ${f#$src/} after patching"
  done
  export HOROVOD_WITH_PYTORCH=1 HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_MXNET=1
  export HOROVOD_WITH_MPI=1 HOROVOD_CPU_OPERATIONS="${HOROVOD_CPU_OPERATIONS:-MPI}"
  if [ "${HPCGAN_HOROVOD_WITH_GLOO:-0}" = 1 ]; then export HOROVOD_WITH_GLOO=1; else export HOROVOD_WITHOUT_GLOO=1; fi
  export MAX_JOBS="${MAX_JOBS:-$(nproc)}" CMAKE_BUILD_PARALLEL_LEVEL="${MAX_JOBS:-$(nproc)}"
  say "build env: HOROVOD_WITH_PYTORCH=1 HOROVOD_WITH_MPI=1 HOROVOD_CPU_OPERATIONS=$HOROVOD_CPU_OPERATIONS" \
      "${HOROVOD_GPU_OPERATIONS:+HOROVOD_GPU_OPERATIONS=$HOROVOD_GPU_OPERATIONS} gloo=${HPCGAN_HOROVOD_WITH_GLOO:-0}" \
      "cmake=$(command -v cmake) ($(cmake --version | head -1)) jobs=$MAX_JOBS"
  log="$work/build.log"
  say "pip wheel --no-build-isolation (log: $log; kept at $CACHE/last-build.log)"
  mkdir -p "$CACHE"
  if ! "$PY" -m pip wheel -v --no-deps --no-build-isolation -w "$work/dist" "$src" >"$log" 2>&1; then
    cp "$log" "$CACHE/last-build.log" || true
    tail -40 "$log" >&2
    die "Horovod build failed; full log: $CACHE/last-build.log"
  fi
  cp "$log" "$CACHE/last-build.log" || true
  built="$(ls "$work"/dist/horovod-*.whl | head -1)" || die "pip wheel produced no horovod wheel"
  mkdir -p "$WHEEL_DIR"
  cp "$built" "$WHEEL_DIR/" || die "could not write the wheel cache $WHEEL_DIR"
  wheel="$WHEEL_DIR/$(basename "$built")"
  say "cached $wheel"
fi

# Runtime deps of horovod (cloudpickle, psutil, pyyaml, packaging) come from the registry as usual.
"$PY" -m pip install -q cloudpickle psutil pyyaml packaging "cffi>=1.4.0" || die "pip install of horovod's dependencies failed"
say "pip install $(basename "$wheel")"
"$PY" -m pip install -q --force-reinstall --no-deps "$wheel" || die "pip install $wheel failed"
verify || die "import horovod.torch / hvd.mpi_built() failed after install (wheel $wheel); HPCGAN_HOROVOD_REBUILD=1 rebuilds"
echo "$KEY" > "$VENV/.hpcgan-horovod"
