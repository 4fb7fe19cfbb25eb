#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, AddressSanitizer, in BUILD_DIR, default
# build-fuzz) and runs each for SECONDS on its corpus (tests/fuzz/README.md).
#   scripts/fuzz.sh [--seconds N] [--build-dir DIR] [TARGET...]   (default: 60 s, all targets)
# Targets: config idx checkpoint telemetry. The seeds in tests/fuzz/<target>/ are read, never
# written: inputs libFuzzer finds go to DIR/corpus/<target>. A finding (crash, sanitizer report,
# leak, input slower than 10 s or needing more than 2 GiB) is written to DIR/crash-<target>-*
# and makes the script exit 1 once every target has run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60
dir=build-fuzz
targets=()
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --build-dir) dir=$2; shift 2 ;;
    config|idx|checkpoint|telemetry) targets+=("$1"); shift ;;
    *) echo "fuzz.sh: unknown argument '$1' (targets: config idx checkpoint telemetry)" >&2
       exit 2 ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(config idx checkpoint telemetry)

if [ ! -f "$dir/build.ninja" ]; then
  CC=clang CXX=clang++ meson setup "$dir" -Dfuzz=enabled -Dtests=false -Dcuda=disabled \
    --buildtype=debugoptimized
fi
meson compile -C "$dir" "${targets[@]/#/fuzz_}"

# HDF5's own leaks on damaged files are not kasmina's (tests/fuzz/lsan.supp says why).
export LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0
failed=()
for t in "${targets[@]}"; do
  corpus=$dir/corpus/$t
  mkdir -p "$corpus"
  seeds=(tests/fuzz/"$t")
  extra=()
  if [ "$t" = config ]; then
    seeds+=(configs)
    extra=(-dict=tests/fuzz/config.dict)
  fi
  echo "fuzz.sh: $t for ${seconds}s"
  if ! "$dir/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$dir/crash-$t-" "${extra[@]}" \
      "$corpus" "${seeds[@]}" 2>"$dir/fuzz-$t.log"; then
    failed+=("$t")
    tail -60 "$dir/fuzz-$t.log" >&2
  fi
  grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$dir/fuzz-$t.log" || true
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: findings in: ${failed[*]} (inputs: $dir/crash-*)" >&2
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, ${seconds}s each, no findings"
