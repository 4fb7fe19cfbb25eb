#!/usr/bin/env bash
# Configures (once) and builds kasmina in BUILD_DIR (default: build). Extra arguments go to
# `meson setup` on first configuration, e.g. scripts/build.sh build-cuda -Dcuda=enabled.
# CUDA is built automatically when nvcc is found (-Dcuda=auto).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" --buildtype=release "$@"
fi
# Meson 1.0 records no header dependencies for CUDA objects (nvcc is not asked for a depfile),
# so after a header change ninja would keep stale .cu objects (e.g. a struct layout that no
# longer matches the C++ side). Drop every CUDA object older than the newest header.
if compgen -G "$dir/*.p/*.cu.o" > /dev/null; then
  newest=$(find src kernels bench \( -name '*.hpp' -o -name '*.cuh' -o -name '*.h' \) \
    -printf '%T@\n' | sort -n | tail -1)
  for o in "$dir"/*.p/*.cu.o; do
    if awk -v a="$(stat -c %Y "$o")" -v b="$newest" 'BEGIN { exit !(a < b) }'; then
      rm -f "$o"
    fi
  done
fi
meson compile -C "$dir"
