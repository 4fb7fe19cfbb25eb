#!/usr/bin/env bash
# Installs what kasmina needs to build, test and train on Debian (bookworm or newer).
#   scripts/setup.sh          everything: the test suites, benchmarks, fuzzing, MPI, Python tools
#   scripts/setup.sh --train  only what `scripts/build.sh --target kasmina` and the quick start
#                             need (the README's first command; no PyPI packages)
# Idempotent: installs only missing packages and says which. The CUDA toolkit (and cuDNN 9,
# which a CUDA build links for its convolutions) is optional
# (a build without it has the CPU engine only) and is not installed here.
set -euo pipefail

mode=all
case ${1-} in
  "") ;;
  --train) mode=train ;;
  *) echo "setup.sh: unknown argument '$1' (allowed: --train)" >&2; exit 2 ;;
esac

# The `kasmina` binary and the quick start's data.
packages=(
  g++ meson ninja-build pkg-config          # build
  libyaml-cpp-dev libcli11-dev nlohmann-json3-dev zlib1g-dev
  libhdf5-dev                                # telemetry and checkpoints
  libprotobuf-dev protobuf-compiler          # TensorBoard event files (src/io/tensorboard/)
  libopenblas-dev                            # CPU GEMMs
  libsqlite3-dev                             # the kernel performance database
  libssl-dev                                 # SHA-256 (libcrypto) of blueprints and cached kernels
  libbenchmark-dev                           # `kasmina bench` (linked into the binary)
  dataset-fashion-mnist                      # /usr/share/datasets/fashion-mnist
)
# The rest: tests, tools and optional features.
if [ "$mode" = all ]; then
  packages+=(
    hdf5-tools                               # h5dump for users
    libgtest-dev libgmock-dev                # tests
    valgrind                                 # instruction-count CPU regression gate
    clang libclang-rt-dev                    # libFuzzer + ASan for scripts/fuzz.sh
    python3 python3-h5py python3-matplotlib  # scripts/plot_telemetry.py
    libopenmpi-dev openmpi-bin               # multi-process runs (mpirun), the CPU collectives
    python3-venv                             # the tensorboard package for its read-back test
  )
fi

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
  echo "setup: done"
fi
if [ "$mode" = train ]; then exit 0; fi

# TensorBoard's reader for tests/io/tensorboard_readback.py: the `tensorboard` package from PyPI
# in a virtual environment that also sees Debian's h5py and numpy, at $KASMINA_PYENV (default
# ~/.cache/kasmina/pyenv; the test looks there too).
pyenv=${KASMINA_PYENV:-${HOME:-~}/.cache/kasmina/pyenv}
if "$pyenv/bin/python3" -c 'import tensorboard' 2>/dev/null; then
  echo "setup: tensorboard already installed in $pyenv"
else
  echo "setup: installing the tensorboard package from PyPI into $pyenv"
  /usr/bin/python3 -m venv --system-site-packages "$pyenv"
  "$pyenv/bin/pip" install --quiet --disable-pip-version-check tensorboard
fi

# The safetensors reader, from PyPI into the same environment: tests/io/test_export_safetensors.py
# reads `kasmina export`'s files with it, and scripts/rebuild_torch.py loads them with it.
if "$pyenv/bin/python3" -c 'import safetensors' 2>/dev/null; then
  echo "setup: safetensors already installed in $pyenv"
else
  echo "setup: installing the safetensors package from PyPI into $pyenv"
  "$pyenv/bin/pip" install --quiet --disable-pip-version-check safetensors
fi
