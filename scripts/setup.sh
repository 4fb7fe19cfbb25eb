#!/usr/bin/env bash
# Installs what kasmina needs to build, test and train on Debian (bookworm or newer).
# Idempotent: installs only missing packages and says which. The CUDA toolkit is optional
# (a build without it has the CPU engine only) and is not installed here.
set -euo pipefail

packages=(
  g++ meson ninja-build pkg-config          # build
  libyaml-cpp-dev libcli11-dev nlohmann-json3-dev zlib1g-dev
  libhdf5-dev hdf5-tools                     # telemetry and checkpoints (h5dump for users)
  libopenblas-dev                            # CPU GEMMs
  python3-numpy python3-venv                 # scripts/rebuild_torch.py, the PyPI venv below
  libgtest-dev libgmock-dev libbenchmark-dev # tests and benchmarks
  valgrind                                   # instruction-count CPU regression gate
  python3 python3-h5py python3-matplotlib    # scripts/plot_telemetry.py
  dataset-fashion-mnist                      # /usr/share/datasets/fashion-mnist
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
else
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    as_root=(sudo)
  fi
  echo "setup: installing ${#missing[@]} missing packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# PyPI packages the tests and scripts use (the safetensors reader checks `kasmina export`), in a
# virtual environment at .venv/ in the source tree (ignored by git) that also sees Debian's
# numpy and h5py. Tests that need it skip with a message when it is missing.
venv="$(cd "$(dirname "$0")/.." && pwd)/.venv"
pypi_packages=(safetensors)
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating the Python virtual environment $venv"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
for p in "${pypi_packages[@]}"; do
  if ! "$venv/bin/python" -c "import $p" 2>/dev/null; then
    echo "setup: installing $p from PyPI into $venv"
    "$venv/bin/python" -m pip install -q "$p"
  fi
done
echo "setup: done"
