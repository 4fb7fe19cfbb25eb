#!/usr/bin/env bash
set -uo pipefail
b=/tmp/g; out=$1
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1 || echo /usr/local/cuda/bin/ncu)
export LD_LIBRARY_PATH="$b/lib:/usr/local/cuda/lib64"
"$ncu" -k regex:morph --launch-skip 14 --launch-count 14 --metrics gpu__time_duration.sum,launch__registers_per_thread,launch__grid_size,sm__warps_active.avg.pct_of_peak_sustained_active,sm__cycles_active.avg,gpc__cycles_elapsed.max --csv \
  "$b/bin/kasmina" bench --device cuda --filter 'morph/forward_backward' --min-time 0.01 > "$out/ncu_fb.csv" 2>&1
"$ncu" -k regex:morph --launch-skip 12 --launch-count 12 --metrics gpu__time_duration.sum,launch__registers_per_thread,launch__grid_size --csv \
  "$b/bin/kasmina" bench --device cuda --filter 'morph/forward_telemetry/B256' --min-time 0.01 > "$out/ncu_f256.csv" 2>&1
