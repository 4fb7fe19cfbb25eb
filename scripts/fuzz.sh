#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, AddressSanitizer, in BUILD_DIR, default
# build-fuzz) and runs each for SECONDS on its corpus (tests/fuzz/README.md).
#   scripts/fuzz.sh [--seconds N] [--build-dir DIR] [TARGET...]   (default: 60 s, all targets)
# Targets: config idx checkpoint telemetry. The seeds in tests/fuzz/<target>/ are read, never
# written: inputs libFuzzer finds go to DIR/corpus/<target>. libFuzzer runs in fork mode and
# goes on after a finding; every input it kept (DIR/crash-<target>-*: crash, sanitizer report,
# leak, input slower than 30 s or needing more than 2 GiB) is run again and sorted out:
#  - "HDF5": the HDF5 library crashed or stalled on a damaged file, which kasmina turns into
#    exit 2 with a message (src/io/hdf5_read_guard.hpp), or the sanitizer's report (a memcpy
#    of a damaged length, an allocation over 2 GiB) starts inside libhdf5; listed, not a
#    failure (tests/fuzz/README.md lists what is known);
#  - anything else is a finding: the script exits 1.
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

# HDF5's own leaks on damaged files are not kasmina's (tests/fuzz/lsan.supp says why); a huge
# allocation HDF5 asks for fails as it would without the sanitizer; a stalled HDF5 read is
# given up after 3 s instead of 30.
export LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0
export ASAN_OPTIONS=allocator_may_return_null=1
export KASMINA_HDF5_READ_TIMEOUT=3
findings=()
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
  rm -f "$dir"/crash-"$t"-*
  "$dir/tests/fuzz/fuzz_$t" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -malloc_limit_mb=1000000 \
    -artifact_prefix="$dir/crash-$t-" "${extra[@]}" "$corpus" "${seeds[@]}" \
    >"$dir/fuzz-$t.log" 2>&1 || true
  grep -E '^#[0-9]+: cov' "$dir/fuzz-$t.log" | tail -1 || true
  # The input files of processes that crashed (tests/fuzz/fuzz_input_file.hpp).
  for f in /dev/shm/kasmina-fuzz-*; do
    if [ -e "$f" ] && ! kill -0 "${f##*-}" 2>/dev/null; then rm -f "$f"; fi
  done
  for input in "$dir"/crash-"$t"-*; do
    [ -e "$input" ] || continue
    log=$input.log
    "$dir/tests/fuzz/fuzz_$t" -timeout=30 -rss_limit_mb=2048 -malloc_limit_mb=1000000 \
      "$input" >"$log" 2>&1 || true
    # The first frame of the report that is neither the sanitizer's, libFuzzer's nor libc's
    # (an interceptor such as strdup is a frame of the fuzz binary without a source line).
    frame=$(grep -E '^ +#[0-9]+ ' "$log" |
      grep -vE '__interceptor|__asan|__sanitizer|fuzzer::|libc\.so|sysdeps|operator new| in std::|include/c\+\+|/fuzz_[a-z]+\+0x' |
      head -1 || true)
    if grep -qE 'the HDF5 library (crashed|made no progress) reading it' "$log"; then
      echo "fuzz.sh: $t: HDF5 $(grep -oE '(crashed|made no progress) reading it[^"]*' "$log" |
        head -1) on $input (kasmina: exit 2)"
    elif [[ $frame == *libhdf5* ]] ||
        { grep -q 'out-of-memory' "$log" && grep -E '^ +#1 ' "$log" | grep -q libhdf5; }; then
      echo "fuzz.sh: $t: HDF5 $(grep -m1 -oE '(ERROR: [A-Za-z]+: [a-z -]+|out-of-memory)' "$log" ||
        true) inside libhdf5 on $input"
    elif grep -qE 'allocator is out of memory|allocation-size-too-big' "$log" &&
        [[ $frame == *src/io/* ]]; then
      # kasmina's own allocation of a size the file declares: std::bad_alloc, which
      # translate_damage() turns into exit 2 (a sanitizer build cannot throw it).
      echo "fuzz.sh: $t: allocation sized by the file in ${frame##* in } on $input (kasmina: exit 2)"
    elif ! grep -qE 'ERROR|Test unit written|deadly signal' "$log"; then
      echo "fuzz.sh: $t: $input does not fail when run again (flaky: timing or memory)"
    else
      findings+=("$input")
      echo "fuzz.sh: $t: FINDING $input" >&2
      grep -E 'ERROR|SUMMARY|#[0-9]+ 0x' "$log" | head -20 >&2 || true
    fi
  done
done
if [ ${#findings[@]} -gt 0 ]; then
  echo "fuzz.sh: ${#findings[@]} findings: ${findings[*]}" >&2
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, ${seconds}s each, no findings"
