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
meson compile -C "$dir"
