#!/usr/bin/env bash
# Profiles on the GPU machine with Nsight Compute (per-kernel durations of a training step and
# of the morphogenetic benchmarks) from a bundle of the build (BUNDLE/run wrapper, bin/).
# Writes CSVs to OUT_DIR.
#   scripts/gpu_profile.sh BUNDLE OUT_DIR
#   scripts/gpu_profile.sh BUNDLE OUT_DIR batchnorm   where the batchnorm column sums' time goes:
#       the full Nsight Compute sections (launch, occupancy, warp states, scheduler, memory, source
#       counters) of bn_columns_kernel in each batchnorm benchmark of the ResNet's shapes, fp32 and
#       bf16 maps, one launch each, as text (OUT_DIR/ncu_bn.txt)
set -uo pipefail
bundle=$1; out=$2; mode=${3:-steps}; mkdir -p "$out"
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1 || echo /usr/local/cuda/bin/ncu)
export LD_LIBRARY_PATH="$bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export KASMINA_DATA_DIR="$bundle/data/fashion-mnist"
if [ "$mode" = batchnorm ]; then
  # One launch of the kernel per benchmark (after warm-up), every section, as text.
  for b in $("$bundle/bin/kasmina" bench --device cuda --list \
               --filter '^ops/batchnorm_(forward_train|backward)/'); do
    echo "=== $b" >> "$out/ncu_bn.txt"
    "$ncu" -k regex:bn_columns --launch-skip 5 --launch-count 1 \
      --section LaunchStats --section Occupancy --section WarpStateStats --section SchedulerStats \
      --section MemoryWorkloadAnalysis --section SourceCounters --section SpeedOfLight \
      "$bundle/bin/kasmina" bench --device cuda --filter "^$b\$" --min-time 0.01 \
      >> "$out/ncu_bn.txt" 2>> "$out/ncu_bn.log"
  done
  exit 0
fi
metrics=gpu__time_duration.sum,launch__registers_per_thread,launch__grid_size,launch__block_size,dram__bytes.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__warps_active.avg.pct_of_peak_sustained_active
# Steps 200.. of epoch 1 (graph replays; ncu profiles each graph node as a kernel).
"$ncu" --graph-profiling node --launch-skip 400 --launch-count 60 --metrics "$metrics" --csv \
  "$bundle/bin/kasmina" train configs/fmnist_mlp.yaml --device cuda --set train.epochs=1 \
  --out "$out/prof-run" > "$out/ncu_train.csv" 2> "$out/ncu_train.err"
# Each morph benchmark on its own (warm-up launches skipped), so every kernel of it shows.
for b in forward_telemetry/B512 forward_telemetry/B256 forward_backward; do
  "$ncu" -k regex:morph --launch-skip 12 --launch-count 8 --metrics "$metrics" --csv \
    "$bundle/bin/kasmina" bench --device cuda --filter "morph/$b" --min-time 0.01 \
    >> "$out/ncu_morph.csv" 2>> "$out/ncu_morph.err"
done
python3 - "$out" <<'PY'
import csv, sys, collections
out = sys.argv[1]
for name in ("ncu_train.csv", "ncu_morph.csv"):
    rows = [r for r in csv.reader(open(f"{out}/{name}")) if len(r) > 10]
    if not rows: print(name, "no rows"); continue
    hdr = rows[0]; ki = hdr.index("Kernel Name"); mi = hdr.index("Metric Name"); vi = hdr.index("Metric Value"); ii = hdr.index("ID")
    per = collections.OrderedDict()
    run = 0
    for r in rows[1:]:
        if r == hdr:  # the next appended run (its IDs start again at 0)
            run += 1
            continue
        per.setdefault((run, r[ii], r[ki][:70]), {})[r[mi]] = r[vi]
    print("==", name)
    for (run, i, k), m in list(per.items())[:60]:
        print(f"{i:>4} {k:70s} {m.get('gpu__time_duration.sum','?'):>10} ns  regs {m.get('launch__registers_per_thread','?'):>4} grid {m.get('launch__grid_size','?'):>7} blk {m.get('launch__block_size','?'):>5} dram {m.get('dram__bytes.sum','?')} dram% {m.get('dram__throughput.avg.pct_of_peak_sustained_elapsed','?')} occ% {m.get('sm__warps_active.avg.pct_of_peak_sustained_active','?')}")
PY
