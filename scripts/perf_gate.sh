#!/usr/bin/env bash
# CPU performance-regression gate by instruction counts.
#
#   scripts/perf_gate.sh PROBE BASELINE [--threshold PCT] [--update]
#
# Runs the instruction probe (kasmina-instruction-probe: a fixed number of calls of each hot CPU
# kernel) under valgrind's callgrind, counting only the measured calls, and compares each
# probe's instruction count (Ir) with BASELINE. Instruction counts are deterministic: they do
# not depend on the machine's load, so the gate does not flake on shared CI runners, and a
# kernel doing twice the work shows up as twice the count. OpenBLAS's kernel choice is pinned
# (OPENBLAS_CORETYPE=Haswell, one thread) so the counts do not depend on the CPU model.
#
# Exit status: 0 every probe within the threshold (default 3%); 1 a probe regressed, is missing
# or failed; 2 usage error or a baseline made with another build type or compiler; 77 (skipped)
# when valgrind is not installed. --update rewrites BASELINE from this run.
set -euo pipefail

usage() {
  echo "usage: $0 PROBE BASELINE [--threshold PCT] [--update]" >&2
  exit 2
}

[[ $# -ge 2 ]] || usage
probe=$1
baseline=$2
shift 2
threshold=3
update=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --threshold)
      [[ $# -ge 2 ]] || usage
      threshold=$2
      shift 2
      ;;
    --update)
      update=1
      shift
      ;;
    *) usage ;;
  esac
done
[[ $threshold =~ ^[0-9]+([.][0-9]+)?$ ]] || {
  echo "perf_gate: --threshold: '$threshold' is not a percentage (e.g. 3 or 2.5)" >&2
  exit 2
}
[[ -x $probe ]] || {
  echo "perf_gate: $probe: not an executable (build the kasmina-instruction-probe target)" >&2
  exit 2
}
if ! command -v valgrind > /dev/null; then
  echo "perf_gate: valgrind is not installed (scripts/setup.sh installs it); skipping" >&2
  exit 77
fi

export OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

context=$("$probe" --context)
start=$(date +%s)
if ! valgrind --tool=callgrind --collect-atstart=no \
  --callgrind-out-file="$work/callgrind.out" "$probe" > "$work/probe.log" 2> "$work/valgrind.log"; then
  echo "perf_gate: the probe failed under valgrind:" >&2
  cat "$work/probe.log" "$work/valgrind.log" >&2
  exit 1
fi
seconds=$(($(date +%s) - start))

# One profile part per probe, numbered in probe order (callgrind.out.1, .2, ...), each with
# "desc: Trigger: Client Request: NAME" and "summary: IR".
parts=()
for ((i = 1; ; ++i)); do
  [[ -e $work/callgrind.out.$i ]] || break
  parts+=("$work/callgrind.out.$i")
done
[[ ${#parts[@]} -gt 0 ]] || {
  echo "perf_gate: callgrind wrote no profile parts (does the probe mark its regions?)" >&2
  exit 1
}
awk '
  /^desc: Trigger: Client Request: / { name = $5 }
  /^summary: / { if (name != "") print name, $2; name = "" }
' "${parts[@]}" > "$work/current.txt"
[[ -s $work/current.txt ]] || {
  echo "perf_gate: no probe results in the callgrind output" >&2
  exit 1
}

if [[ $update -eq 1 ]]; then
  {
    echo "# Instructions (callgrind Ir) of the measured calls of each probe of"
    echo "# kasmina-instruction-probe; made by: scripts/perf_gate.sh PROBE BASELINE --update"
    echo "# context: $context"
    cat "$work/current.txt"
  } > "$baseline.tmp"
  mv "$baseline.tmp" "$baseline"
  echo "perf_gate: wrote $baseline ($(wc -l < "$work/current.txt") probes, ${seconds}s under valgrind)"
  exit 0
fi

[[ -r $baseline ]] || {
  echo "perf_gate: $baseline: cannot read the baseline (make one with --update)" >&2
  exit 2
}
base_context=$(sed -n 's/^# context: //p' "$baseline")
if [[ $base_context != "$context" ]]; then
  echo "perf_gate: $baseline was made with '$base_context', this build is '$context';" \
    "instruction counts depend on the compiler and build type: make a baseline for this" \
    "build with --update" >&2
  exit 2
fi

awk -v threshold="$threshold" -v seconds="$seconds" '
  FNR == NR { if ($0 !~ /^#/ && NF == 2) { base[$1] = $2; order[++n] = $1 } next }
  { cur[$1] = $2; if (!($1 in base)) added[++m] = $1 }
  END {
    printf "%-48s %15s %15s %9s  %s\n", "probe", "baseline Ir", "current Ir", "change", "verdict"
    bad = 0
    for (i = 1; i <= n; ++i) {
      name = order[i]
      if (!(name in cur)) { printf "%-48s %15s %15s %9s  %s\n", name, base[name], "-", "-", "MISSING"; bad = 1; continue }
      change = (cur[name] - base[name]) / base[name] * 100
      verdict = "ok"
      if (change > threshold) { verdict = "REGRESSED"; bad = 1 }
      else if (change < -threshold) verdict = "improved (update the baseline)"
      printf "%-48s %15d %15d %+8.2f%%  %s\n", name, base[name], cur[name], change, verdict
    }
    for (j = 1; j <= m; ++j) printf "%-48s %15s %15d %9s  %s\n", added[j], "-", cur[added[j]], "-", "new (not in the baseline)"
    printf "threshold %s%%, %ds under valgrind: %s\n", threshold, seconds, bad ? "FAILED" : "passed"
    exit bad
  }
' "$baseline" "$work/current.txt"
