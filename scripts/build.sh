#!/usr/bin/env bash
# Configures (once) and builds kasmina in BUILD_DIR (default: build). Extra arguments go to
# `meson setup` on first configuration, e.g. scripts/build.sh build-cuda -Dcuda=enabled.
# CUDA is built automatically when nvcc is found (-Dcuda=auto).
#   scripts/build.sh [BUILD_DIR] [--target TARGET]... [MESON_SETUP_ARGS...]
# --target builds only that target (e.g. `kasmina`: the binary without the test suites and
# their executables); without it everything is built. A first configuration for `--target kasmina`
# alone leaves the test suites out (-Dtests=false: GoogleTest need not be installed) and compiles
# with -O1 (less compile time than release's -O3, the same results) as a unity build (Meson's
# `--unity on`: a few sources per compiler call, so the large headers -- CLI11, yaml-cpp, HDF5,
# JSON -- are parsed once per group instead of once per file; about 35% less compile time on two
# cores; .ci/run builds it this way too, so a name clash between two files' anonymous namespaces
# fails CI); a later build
# of everything configures again with the test suites and -O3 (the instruction-count gate's
# baselines are of -O3) and finds what was installed since (e.g. MPI).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then dir=$1; shift; fi
targets=()
setup_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --target) [ $# -ge 2 ] || { echo "build.sh: --target needs a target name" >&2; exit 2; }
              targets+=("$2"); shift 2 ;;
    *) setup_args+=("$1"); shift ;;
  esac
done
set -- "${setup_args[@]+"${setup_args[@]}"}"
only_binary=false
if [ ${#targets[@]} -gt 0 ]; then
  only_binary=true
  for t in "${targets[@]}"; do [ "$t" = kasmina ] || only_binary=false; done
fi
if [ ! -f "$dir/build.ninja" ]; then
  if $only_binary; then set -- -Dtests=false -Doptimization=1 --unity on "$@"; fi
  # The CUDA compiler is nvcc through scripts/nvcc-deps (below), named in a machine file that
  # stays in the build directory (Meson reads it again when it regenerates).
  mkdir -p "$dir"
  printf "[binaries]\ncuda = '%s/scripts/nvcc-deps'\n" "$PWD" > "$dir/nvcc-deps.ini"
  meson setup "$dir" --buildtype=release --native-file "$dir/nvcc-deps.ini" "$@"
elif [ ${#targets[@]} -eq 0 ] &&
  grep -q '"name": "tests", "value": false' "$dir/meson-info/intro-buildoptions.json"; then
  meson setup --reconfigure "$dir" -Dtests=true -Doptimization=3 -Dunity=off "$@"
fi
# Meson 1.0 asks nvcc for no depfile: a directory configured here compiles CUDA through
# scripts/nvcc-deps, which writes one, so ninja rebuilds a .cu object when a header it includes
# changes. For a directory configured without it, header changes would leave stale .cu objects
# (e.g. a struct layout that no longer matches the C++ side): drop every CUDA object older than
# the newest header.
if compgen -G "$dir/*.p/*.cu.o" > /dev/null && ! grep -q 'nvcc-deps' "$dir/build.ninja"; then
  newest=$(find src kernels bench \( -name '*.hpp' -o -name '*.cuh' -o -name '*.h' \) \
    -printf '%T@\n' | sort -n | tail -1)
  for o in "$dir"/*.p/*.cu.o; do
    if awk -v a="$(stat -c %Y "$o")" -v b="$newest" 'BEGIN { exit !(a < b) }'; then
      rm -f "$o"
    fi
  done
fi
meson compile -C "$dir" "${targets[@]+"${targets[@]}"}"
