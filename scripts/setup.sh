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
  libgtest-dev libgmock-dev libbenchmark-dev # tests and benchmarks
  valgrind                                   # instruction-count CPU regression gate
  clang libclang-rt-dev                      # libFuzzer + ASan for scripts/fuzz.sh
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
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  as_root=(sudo)
fi

echo "setup: installing ${#missing[@]} missing packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
