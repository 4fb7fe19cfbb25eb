#!/usr/bin/env bash
# Cold compiles of IR blueprints (issue 16), fused against tiered (the linked module runnable,
# then the fused one done), each run in a new kernel-cache directory with the driver's and
# NVRTC's own caches off (CUDA_CACHE_DISABLE=1); prints medians and ranges in ms.
#   scripts/ir_cold_compile.sh [--runs N] KASMINA_COMMAND...
# e.g. scripts/ir_cold_compile.sh build/kasmina, or on the GPU machine
# scripts/ir_cold_compile.sh --runs 5 BUNDLE/run bin/kasmina (a packed build). The blueprints: the three of
# configs/blueprints/builtins_ir.yaml at C = 16, h = r = 4 (each compiled from a file of its own),
# gated_mlp at C = 32, h = 64, and gated_mlp at C = 24 (a chunk width with no built-in template).
set -euo pipefail
runs=7
if [ "${1:-}" = "--runs" ]; then runs=$2; shift 2; fi
[ $# -gt 0 ] || { echo "usage: scripts/ir_cold_compile.sh [--runs N] KASMINA_COMMAND..." >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
python3 - "$root/configs/blueprints/builtins_ir.yaml" "$work" <<'PY'
import re, sys
body = open(sys.argv[1]).read().split('blueprints:\n', 1)[1]
for part in re.split(r'\n(?=  [a-z_]+:)', body):
    name = part.strip().split(':')[0]
    open(f'{sys.argv[2]}/{name}.yaml', 'w').write('blueprints:\n' + part.rstrip() + '\n')
PY
gated=$root/configs/blueprints/gated_mlp.yaml
cases=("diag_scale_ir $work/diag_scale_ir.yaml 16 4" "low_rank_ir $work/low_rank_ir.yaml 16 4"
       "residual_mlp_ir $work/residual_mlp_ir.yaml 16 4" "gated_mlp_C32_h64 $gated 32 64"
       "gated_mlp_C24_h8 $gated 24 8")
export CUDA_CACHE_DISABLE=1
for ((i = 1; i <= runs; ++i)); do
  for c in "${cases[@]}"; do
    read -r name file chunk hidden <<< "$c"
    for mode in tiered fused; do
      dir=$(mktemp -d -p "$work")
      KASMINA_IR_CODEGEN=$mode "$@" blueprint compile "$file" --chunk "$chunk" --hidden "$hidden" \
        --rank 4 --dir "$dir" | awk -v n="$name" -v m="$mode" '{print m, n, $5, $6}'
      rm -rf "$dir"
    done
  done
done > "$work/times"
python3 - "$work/times" <<'PY'
import collections, statistics, sys
t = collections.defaultdict(list)
for line in open(sys.argv[1]):
    mode, name, kind, ms = line.split()
    t[(name, f'{mode}: {kind}')].append(float(ms))
names = list(dict.fromkeys(n for n, _ in t))
cols = ['fused: fused', 'tiered: linked', 'tiered: fused']
print('| blueprint | fused | tiered: linked, runnable | tiered: fused done (since the start) |')
print('| --- | --- | --- | --- |')
for n in names:
    cells = []
    for c in cols:
        v = t.get((n, c), [])
        cells.append(f'{statistics.median(v):.0f} ({min(v):.0f}-{max(v):.0f})' if v else '-')
    print(f'| {n} | ' + ' | '.join(cells) + ' |')
PY
