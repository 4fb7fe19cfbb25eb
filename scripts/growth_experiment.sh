#!/usr/bin/env bash
# The grown-vs-static experiment of docs/GROWTH.md: 3 seeds each of
#   (a) the host of configs/fmnist_grow.yaml without growth (controller none: seeds stay dormant,
#       the layer is the identity),
#   (b) a static 784-H-10 network (configs/fmnist_static.yaml) whose parameter count matches the
#       grown network's mean final count,
#   (c) the grown network (configs/fmnist_grow.yaml, heuristic controller).
#   scripts/growth_experiment.sh KASMINA_COMMAND... -- OUT_DIR [extra train args]
# e.g. scripts/growth_experiment.sh .gpu/run bin/kasmina -- runs/growth --device cuda
set -euo pipefail
cmd=()
while [ "$1" != "--" ]; do cmd+=("$1"); shift; done
shift
out=$1; shift
mkdir -p "$out"
seeds=(1 2 3)
for s in "${seeds[@]}"; do
  "${cmd[@]}" train configs/fmnist_grow.yaml --seed "$s" --set controller.type=none "$@" \
    --out "$out/a-host-seed$s" > "$out/a-host-seed$s.log"
  "${cmd[@]}" train configs/fmnist_grow.yaml --seed "$s" "$@" --out "$out/c-grown-seed$s" \
    > "$out/c-grown-seed$s.log"
done
# H for (b): 784*H + H + 10*H + 10 parameters = the grown networks' mean parameter count.
hidden=$(python3 - "$out" <<'PY'
import json, sys, glob
ps = [json.load(open(f))["parameters"] for f in glob.glob(sys.argv[1] + "/c-grown-seed*/summary.json")]
print(max(1, round((sum(ps) / len(ps) - 10) / 795)))
PY
)
for s in "${seeds[@]}"; do
  "${cmd[@]}" train configs/fmnist_static.yaml --seed "$s" --set "model.layers.0.out=$hidden" "$@" \
    --out "$out/b-static-seed$s" > "$out/b-static-seed$s.log"
done
python3 - "$out" <<'PY'
import json, sys, glob, statistics as st
out = sys.argv[1]
rows = []
for tag, name in (("a-host", "(a) host, no growth"), ("b-static", "(b) static, grown size"), ("c-grown", "(c) grown")):
    runs = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/{tag}-seed*/summary.json"))]
    acc = [r["test_accuracy"] for r in runs]
    par = [r["parameters"] for r in runs]
    sec = [r["train_seconds"] for r in runs]
    val = [r.get("validation_accuracy", float("nan")) for r in runs]
    grown = [sum(g["fossilized"] for g in r.get("growth", [])) for r in runs]
    culled = [sum(g["culled"] for g in r.get("growth", [])) for r in runs]
    rows.append((name, st.mean(acc), st.stdev(acc), st.mean(val), min(par), max(par), st.mean(sec), acc, grown, culled))
print("| run | test accuracy (mean ± std, 3 seeds) | validation accuracy | parameters | training seconds | per seed | fossilized | culled |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for name, m, sd, v, pmin, pmax, sec, acc, g, c in rows:
    pr = f"{pmin}" if pmin == pmax else f"{pmin}–{pmax}"
    print(f"| {name} | {m:.4f} ± {sd:.4f} | {v:.4f} | {pr} | {sec:.2f} | {', '.join(f'{a:.4f}' for a in acc)} | {g} | {c} |")
PY
echo "static hidden width H = $hidden"
