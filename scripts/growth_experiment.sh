#!/usr/bin/env bash
# The grown-vs-static experiment of docs/GROWTH.md on Fashion-MNIST: every arm with the same
# recipe (AdamW, cosine, batch 128, 5,000 validation samples carved from train; test read once at
# the end), paired seeds, then a table (mean ± std test accuracy, parameters, training FLOPs, wall
# time) from the runs' summary.json files, and a plot of test accuracy against training FLOPs
# when matplotlib is installed (scripts/growth_table.py).
#
#   scripts/growth_experiment.sh [options] OUT_DIR [-- extra kasmina train arguments]
#     --bin PATH           the kasmina binary (default build/kasmina)
#     --wrapper CMD        run the binaries through CMD (e.g. a GPU bundle's run wrapper: CMD BIN
#                          train ...); BIN is then not checked here
#     --device DEV         cpu | cuda | cuda:N (default cuda)
#     --epochs N           training epochs of every arm (default 20)
#     --seeds "S..."       paired seeds (default "1 2 3 4 5")
#     --jobs N             runs at once (default 1; a few small runs share one GPU well)
#     --baseline-bin PATH  also run the grown arm with another binary (e.g. a build of the commit
#                          before a change), labelled "grown, baseline binary"
#     --arms "A..."        only these arms (default: all; names below)
# e.g. on the GPU machine:
#   scripts/growth_experiment.sh --bin build/kasmina --device cuda --jobs 4 runs/growth
# (scripts/gpu_check.sh BUNDLE OUT --experiment runs it from a bundle.)
#
# Arms (configs/fmnist_static.yaml and configs/fmnist_grow_chunks.yaml):
#   static8 static16 static32 static64  the capacity curve, static 784-H-10
#   host          fmnist_grow_chunks without growth (controller none: the kasmina layer is the identity)
#   grown         fmnist_grow_chunks as shipped (heuristic controller: gradient seed choice, germination
#                 window, gradient trigger)
#   grown_plateau fmnist_grow_chunks with the earlier controller policy (seed_choice health, no window,
#                 plateau trigger only)
#   grown_task    fmnist_grow_chunks with TRAINING on the task gradient (training_objective
#                 task_gradient) instead of reconstruction
#   matched_size  static 784-H-10, H matching the grown runs' mean final parameter count
#   matched_flops static 784-H-10, H matching the grown runs' mean training FLOPs
#   baseline      fmnist_grow_chunks with --baseline-bin (only when given)
#   width8_32 width16_64  width seeds (fmnist_static with linear grow_from): 8 -> 32 / 16 -> 64
#                 hidden units, activated at the start of epochs 1, 2, 3, zero outgoing weights
#                 (their final topology from step 0 is static32 / static64)
#   width8_32_late  8 -> 32 from 60% of the epochs (epochs 12-14 of 20)
#   width8_32_naive width16_64_naive  the naive control: random outgoing weights at activation
#   width8_32_ctl width16_64_ctl  the same width seeds under the heuristic controller
#                 (grow_schedule controller): each of the 3 steps when the next group's gradient
#                 ratio reaches grad_trigger_ratio (1.5) or on a validation plateau, inside the
#                 germination window (the first half of the steps); "width_grown" lines of the
#                 run logs give the steps
#   width8_32_ctl12 width16_64_ctl12  the same with grad_trigger_ratio 1.2
#   width8_32_ctl10 width16_64_ctl10  the same with grad_trigger_ratio 1.0 (grow as soon as the
#                 new units would get at least the active units' gradient)
#   layer_seed    configs/fmnist_grow.yaml: a whole-layer seed (residual_mlp 32 -> 64 -> 32,
#                 zero last layer) germinated at the start of epoch 2
#   layer_host    fmnist_grow without growth (the whole-layer seed's host: 784-32-10 with a
#                 dormant kasmina layer, its own initialisation streams)
#   layer_seed_step0  the same seed germinated at step 0 (its topology trained from the start)
#   layer_seed_z0 layer_seed with the keep/cull test on the mean gain only (controller.eval_z 0)
#   layer_seed_ctl the same seed germinated by the heuristic controller instead of the schedule
#                 (its defaults: germination window, plateau or gradient trigger, paired test)
#   matched_layer_size matched_layer_flops  static 784-H-10 matching layer_seed's parameters /
#                 training FLOPs
#   rows          configs/fmnist_grow_rows.yaml: four row seeds (row_mlp 32 -> 24 -> 8 each, reading
#                 the whole layer, writing their own 8 units) germinated at the start of epoch 2
#   rows_step0    the same four germinated at step 0 (their topology trained from the start)
#   rows_z0       rows with the keep/cull test on the mean gain only (controller.eval_z 0): each
#                 seed is judged by its own removal, which four redundant seeds each pass narrowly
#   rows_ctl      the four row seeds under the heuristic controller (gradient seed choice,
#                 germination window, plateau or gradient trigger, paired test per seed)
#   rows_ctl10    rows_ctl with grad_trigger_ratio 1.0 (germinate whenever max_active allows, the
#                 best chunk by gradient score first)
#   matched_rows_size matched_rows_flops  static 784-H-10 matching rows' parameters / FLOPs
# The whole-layer seed runs on the GEMM path (src/morph/seed_path.hpp: a single seed whose chunk
# and hidden width reach 32 x 32).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=build/kasmina device=cuda epochs=20 seeds="1 2 3 4 5" jobs=1 baseline="" arms="" wrapper=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --wrapper) wrapper=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --baseline-bin) baseline=$2; shift 2 ;;
    --arms) arms=$2; shift 2 ;;
    --) shift; break ;;
    -*) echo "growth_experiment.sh: unknown option $1" >&2; exit 2 ;;
    *) out=$1; shift ;;
  esac
done
[ -n "${out:-}" ] || { echo "usage: growth_experiment.sh [options] OUT_DIR [-- train args]" >&2; exit 2; }
[ -n "$wrapper" ] || [ -x "$bin" ] ||
  { echo "growth_experiment.sh: $bin is not an executable" >&2; exit 2; }
export GROWTH_WRAPPER=$wrapper
extra=("$@")
mkdir -p "$out"
want() { [ -z "$arms" ] || [[ " $arms " == *" $1 "* ]]; }
static="$root/configs/fmnist_static.yaml" grow="$root/configs/fmnist_grow_chunks.yaml"
layer="$root/configs/fmnist_grow.yaml" rows="$root/configs/fmnist_grow_rows.yaml"
late=$(( epochs * 3 / 5 ))
common=(--device "$device" --set "train.epochs=$epochs" --set checkpoint.at_end=false
        --set checkpoint.every_epochs=0)

# One line per run: ARM SEED BINARY CONFIG [--set ...]; run with up to $jobs at once.
queue() {
  local arm=$1 seed=$2 b=$3 cfg=$4; shift 4
  printf '%s\0' "$arm" "$seed" "$b" "$cfg" "$@" | base64 -w0
  echo
}
run_queue() {
  local list=$1
  [ -s "$list" ] || return 0
  # shellcheck disable=SC2016
  xargs -P "$jobs" -I{} bash -c '
    mapfile -d "" -t a < <(printf %s "$1" | base64 -d)
    arm=${a[0]} seed=${a[1]} b=${a[2]} cfg=${a[3]}
    dir="$2/$arm-seed$seed"
    rm -rf "$dir"
    # shellcheck disable=SC2086
    $GROWTH_WRAPPER "$b" train "$cfg" --seed "$seed" "${a[@]:4}" --out "$dir" > "$dir.log" 2>&1 ||
      { echo "failed: $arm seed $seed (see $dir.log)" >&2; exit 1; }
    echo "done: $arm seed $seed"' _ {} "$out" < "$list"
}

first="$out/.queue1" second="$out/.queue2"
: > "$first"
: > "$second"
for s in $seeds; do
  for h in 8 16 32 64; do
    want "static$h" && queue "static$h" "$s" "$bin" "$static" "${common[@]}" \
      --set "model.layers.0.out=$h" "${extra[@]}" >> "$first"
  done
  want host && queue host "$s" "$bin" "$grow" "${common[@]}" --set controller.type=none \
    "${extra[@]}" >> "$first"
  want grown && queue grown "$s" "$bin" "$grow" "${common[@]}" "${extra[@]}" >> "$first"
  want grown_plateau && queue grown_plateau "$s" "$bin" "$grow" "${common[@]}" \
    --set controller.seed_choice=health --set controller.germination_window=1 \
    --set controller.grad_trigger_ratio=0 "${extra[@]}" >> "$first"
  want grown_task && queue grown_task "$s" "$bin" "$grow" "${common[@]}" \
    --set model.layers.2.training_objective=task_gradient "${extra[@]}" >> "$first"
  for w in "8 32" "16 64"; do
    read -r lo hi <<< "$w"
    want "width${lo}_$hi" && queue "width${lo}_$hi" "$s" "$bin" "$static" "${common[@]}" \
      --set "model.layers.0.out=$hi" --set "model.layers.0.grow_from=$lo" "${extra[@]}" >> "$first"
    want "width${lo}_${hi}_naive" && queue "width${lo}_${hi}_naive" "$s" "$bin" "$static" \
      "${common[@]}" --set "model.layers.0.out=$hi" --set "model.layers.0.grow_from=$lo" \
      --set model.layers.0.grow_init=naive "${extra[@]}" >> "$first"
    ctl=(--set "model.layers.0.out=$hi" --set "model.layers.0.grow_from=$lo"
         --set model.layers.0.grow_schedule=controller --set controller.type=heuristic)
    want "width${lo}_${hi}_ctl" && queue "width${lo}_${hi}_ctl" "$s" "$bin" "$static" \
      "${common[@]}" "${ctl[@]}" "${extra[@]}" >> "$first"
    for r in 1.2 1.0; do  # arms ..._ctl12, ..._ctl10
      want "width${lo}_${hi}_ctl${r/./}" && queue "width${lo}_${hi}_ctl${r/./}" "$s" "$bin" \
        "$static" "${common[@]}" "${ctl[@]}" --set "controller.grad_trigger_ratio=$r" \
        "${extra[@]}" >> "$first"
    done
  done
  want width8_32_late && queue width8_32_late "$s" "$bin" "$static" "${common[@]}" \
    --set model.layers.0.out=32 --set model.layers.0.grow_from=8 \
    --set "model.layers.0.grow_first_epoch=$late" "${extra[@]}" >> "$first"
  want layer_host && queue layer_host "$s" "$bin" "$layer" "${common[@]}" \
    --set controller.type=none --set 'schedule=[]' "${extra[@]}" >> "$first"
  want layer_seed && queue layer_seed "$s" "$bin" "$layer" "${common[@]}" "${extra[@]}" >> "$first"
  want layer_seed_step0 && queue layer_seed_step0 "$s" "$bin" "$layer" "${common[@]}" \
    --set schedule.0.step=0 "${extra[@]}" >> "$first"
  want layer_seed_z0 && queue layer_seed_z0 "$s" "$bin" "$layer" "${common[@]}" \
    --set controller.eval_z=0 "${extra[@]}" >> "$first"
  want layer_seed_ctl && queue layer_seed_ctl "$s" "$bin" "$layer" "${common[@]}" \
    --set controller.type=heuristic --set 'schedule=[]' "${extra[@]}" >> "$first"
  want rows && queue rows "$s" "$bin" "$rows" "${common[@]}" "${extra[@]}" >> "$first"
  want rows_step0 && queue rows_step0 "$s" "$bin" "$rows" "${common[@]}" --set schedule.0.step=0 \
    --set schedule.1.step=0 --set schedule.2.step=0 --set schedule.3.step=0 "${extra[@]}" >> "$first"
  want rows_z0 && queue rows_z0 "$s" "$bin" "$rows" "${common[@]}" --set controller.eval_z=0 \
    "${extra[@]}" >> "$first"
  want rows_ctl && queue rows_ctl "$s" "$bin" "$rows" "${common[@]}" \
    --set controller.type=heuristic --set 'schedule=[]' "${extra[@]}" >> "$first"
  want rows_ctl10 && queue rows_ctl10 "$s" "$bin" "$rows" "${common[@]}" \
    --set controller.type=heuristic --set 'schedule=[]' --set controller.grad_trigger_ratio=1.0 \
    "${extra[@]}" >> "$first"
  if [ -n "$baseline" ] && want baseline; then
    queue baseline "$s" "$baseline" "$grow" "${common[@]}" "${extra[@]}" >> "$first"
  fi
done
t0=$(date +%s)
run_queue "$first"

# Static widths matched to an arm's runs: ARM PREFIX (the arms PREFIX_size, PREFIX_flops match
# its mean final parameter count and its mean training FLOPs, from the static runs' FLOPs per
# hidden unit).
matched() {
  local arm=$1 prefix=$2 hsize hflops
  { want "${prefix}_size" || want "${prefix}_flops"; } && [ -d "$out/$arm-seed${seeds%% *}" ] ||
    return 0
  read -r hsize hflops < <(python3 "$root/scripts/growth_table.py" --match "$out" "$arm")
  : > "$second"
  for s in $seeds; do
    want "${prefix}_size" && queue "${prefix}_size" "$s" "$bin" "$static" "${common[@]}" \
      --set "model.layers.0.out=$hsize" "${extra[@]}" >> "$second"
    want "${prefix}_flops" && queue "${prefix}_flops" "$s" "$bin" "$static" "${common[@]}" \
      --set "model.layers.0.out=$hflops" "${extra[@]}" >> "$second"
  done
  run_queue "$second"
  echo "static widths matched to $arm: H = $hsize (parameters), H = $hflops (training FLOPs)"
}
matched grown matched
matched layer_seed matched_layer
matched rows matched_rows
rm -f "$first" "$second"
echo "all runs: $(( $(date +%s) - t0 )) s"
python3 "$root/scripts/growth_table.py" "$out"
