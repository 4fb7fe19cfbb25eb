#!/usr/bin/env bash
# Runs the GPU checks from a bundle of the build (BUNDLE/run: a wrapper that sets the library path;
# bin/ with the build's executables): device listing, the CUDA-vs-CPU suites (the op table driver
# tests/ops/cuda/test_ops_cuda_vs_cpu in its correctness and gradient modes, the morph, control, nn
# and core suites), the whole-model step test, a CUDA training run of configs/fmnist_mlp.yaml, and
# (when asked) benchmarks and the op table's timings (--op-perf [OP[,OP]]). Logs go to OUT_DIR
# (default ./gpu-logs); a summary table is printed last.
#   scripts/gpu_check.sh BUNDLE [OUT_DIR] [--no-train] [--bench FILTER] [--repetitions N]
#                        [--experiment] [--sanitize GTEST_FILTER] [--resume-check]
#                        [--op-perf OPS]   (OPS: op names, or all)
#                        [--run NAME 'ENV=... CONFIG --set KEY=VALUE ...']  (repeatable: a CUDA
#                        training run of CONFIG with those overrides and environment variables,
#                        logged as NAME, e.g. --run resnet-bf16 'configs/fmnist_resnet.yaml --set
#                        train.precision=bf16' or --run resnet-casts 'KASMINA_BF16_MAPS=0 ...')
set -uo pipefail
bundle=$1; shift
out=${1:-gpu-logs}; [ $# -gt 0 ] && shift
train=1; bench=""; sanitize=""; reps=1; experiment=0; resume=0; op_perf=
declare -a runs
while [ $# -gt 0 ]; do
  case $1 in
    --no-train) train=0 ;;
    --bench) bench=$2; shift ;;
    --sanitize) sanitize=$2; shift ;;
    --repetitions) reps=$2; shift ;;
    --experiment) experiment=1 ;;
    --resume-check) resume=1 ;;
    --op-perf) op_perf=$2; shift ;;
    --run) runs+=("$2" "$3"); shift 2 ;;
  esac
  shift
done
mkdir -p "$out"
export KASMINA_SOURCE_ROOT=$PWD OPENBLAS_NUM_THREADS=8
run=("$bundle/run")
declare -a rows
step() {  # name, command...
  local name=$1; shift
  local t0=$(date +%s%N)
  "$@" > "$out/$name.log" 2>&1
  local rc=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  rows+=("$(printf '%-28s rc=%-3s %7sms  %s' "$name" "$rc" "$ms" "$(grep -E 'PASSED|FAILED|tests ran|done:|BITWISE|DIFFERENT|differs|identical' "$out/$name.log" | tail -2 | tr '\n' ' ' | cut -c1-110)")")
}
step device "${run[@]}" bin/kasmina device
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv > "$out/nvidia-smi.csv" 2>&1
for t in tests/ops/cuda/test_ops_cuda_vs_cpu tests/nn/test_nn tests/morph/test_morph tests/morph/test_blueprint_seam tests/control/test_control tests/core/test_core; do
  [ -x "$bundle/bin/$t" ] && step "$(basename "$t")" "${run[@]}" "bin/$t"
done
if [ $train = 1 ]; then
  step train-fmnist-cuda "${run[@]}" bin/kasmina train configs/fmnist_mlp.yaml --device cuda --out "$out/run-fmnist-cuda"
  step train-fmnist-cuda-2 "${run[@]}" bin/kasmina train configs/fmnist_mlp.yaml --device cuda --out "$out/run-fmnist-cuda-2"
fi
if [ -n "$bench" ]; then
  step bench "${run[@]}" bin/kasmina bench --device cuda --filter "$bench" --repetitions "$reps" \
    --out "$out/bench.json" --save-baseline "$out/baseline.json"
  step bench-model "${run[@]}" bin/kasmina bench --device cuda --model configs/fmnist_mlp.yaml --iterations 200
fi
if [ -n "$op_perf" ]; then  # the op table's timings (printed, never asserted)
  opsel=(); [ "$op_perf" != all ] && opsel=("--op=$op_perf")
  step op-table-perf "${run[@]}" bin/tests/ops/cuda/test_ops_cuda_vs_cpu --mode=perf "${opsel[@]}"
fi
for ((i = 0; i < ${#runs[@]}; i += 2)); do  # --run NAME 'ENV=... CONFIG ARGS...'
  read -r -a words <<< "${runs[i + 1]}"
  envs=(); while [[ ${#words[@]} -gt 0 && ${words[0]} == *=* && ${words[0]} != -* ]]; do
    envs+=("${words[0]}"); words=("${words[@]:1}")
  done
  step "run-${runs[i]}" env "${envs[@]}" "${run[@]}" bin/kasmina train "${words[@]}" --device cuda \
    --out "$out/run-${runs[i]}"
done
if [ $experiment = 1 ]; then
  step growth-experiment bash scripts/growth_experiment.sh --wrapper "$bundle/run" --bin bin/kasmina \
    --device cuda --jobs 4 "$out/growth"
fi
if [ $resume = 1 ]; then  # CUDA resume equality (scripts/gpu_resume_check.sh)
  step resume-spirals-seeds bash scripts/gpu_resume_check.sh "${run[@]}" bin/kasmina -- configs/spirals_seeds.yaml "$out/resume-spirals" 10
  step resume-fmnist bash scripts/gpu_resume_check.sh "${run[@]}" bin/kasmina -- configs/fmnist_mlp.yaml "$out/resume-fmnist" 0
  # From inside an epoch (31 and 468 steps per epoch): cursor, partial loss sums, guard mark.
  step resume-spirals-mid-epoch bash scripts/gpu_resume_check.sh "${run[@]}" bin/kasmina -- configs/spirals_seeds.yaml "$out/resume-spirals-mid" 7 322
  step resume-fmnist-mid-epoch bash scripts/gpu_resume_check.sh "${run[@]}" bin/kasmina -- configs/fmnist_mlp.yaml "$out/resume-fmnist-mid" 100 4700
fi
if [ -n "$sanitize" ]; then
  cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  for tool in memcheck racecheck; do
    step "sanitizer-$tool" env LD_LIBRARY_PATH="$bundle/lib:/usr/local/cuda/lib64" KASMINA_DATA_DIR="$bundle/data/fashion-mnist" \
      timeout 150 "$cs" --tool "$tool" --error-exitcode 99 "$bundle/bin/tests/ops/cuda/test_ops_cuda_vs_cpu" --gtest_brief=1 "--gtest_filter=$sanitize"
  done
fi
printf '%s\n' "${rows[@]}"
