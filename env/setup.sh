#!/usr/bin/env bash
# Idempotent set-up of everything hpcgan needs on a fresh Debian machine:
#   Debian packages (Open MPI, SLURM, munge, cmake) -> .venv -> torch (pinned) -> hpcgan[dev].
# Re-running is fast: each step checks whether it is already done.
# Usage: bash env/setup.sh            (VENV=/path overrides the venv location)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
APT_PACKAGES=(openmpi-bin libopenmpi-dev slurmctld slurmd slurm-client munge slurm-wlm-basic-plugins cmake)

say() { echo "[setup] $*"; }
die() { echo "[setup] ERROR: $*" >&2; exit 1; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    die "Debian packages missing: ${missing[*]}. Run as root, or: sudo apt-get install -y ${missing[*]}"
  fi
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
else
  say "Debian packages present: ${APT_PACKAGES[*]}"
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating venv $VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create venv at $VENV"
fi
PY="$VENV/bin/python"

if "$PY" -c "import torch, sys; v = tuple(int(p) for p in torch.__version__.split('+')[0].split('.')[:2]); sys.exit(v < (2, 4))" 2>/dev/null; then
  say "torch present: $("$PY" -c 'import torch; print(torch.__version__)')"
else
  say "pip install torch==$TORCH_VERSION (CPU wheel from local disk on the project machines)"
  "$PY" -m pip install -q "torch==$TORCH_VERSION" || die "pip install torch==$TORCH_VERSION failed"
fi

# Reinstall the package only when its requirements changed (stamp = hash of setup.py).
stamp="$VENV/.hpcgan-setup-$(sha256sum "$ROOT/setup.py" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  say "pip install -e $ROOT[dev]"
  "$PY" -m pip install -q -e "$ROOT[dev]" || die "pip install -e .[dev] failed"
  rm -f "$VENV"/.hpcgan-setup-*; touch "$stamp"
else
  say "hpcgan[dev] already installed (setup.py unchanged)"
fi
"$PY" -c "import hpcgan, torch, mpi4py, h5py, astropy, galsim; print('[setup] ok: hpcgan', hpcgan.__version__, 'torch', torch.__version__)" \
  || die "import check failed"
