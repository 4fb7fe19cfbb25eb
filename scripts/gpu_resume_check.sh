#!/usr/bin/env bash
# CUDA resume check (deterministic mode): a straight run of a config against the same run
# resumed from a checkpoint in the middle; compares the final summaries bit for bit.
#   scripts/gpu_resume_check.sh KASMINA_COMMAND... -- CONFIG OUT_DIR
set -euo pipefail
cmd=()
while [ "$1" != "--" ]; do cmd+=("$1"); shift; done
shift
config=$1; out=$2
rm -rf "$out"; mkdir -p "$out"
"${cmd[@]}" train "$config" --device cuda --set checkpoint.every_epochs=1 --set checkpoint.keep=100 \
  --out "$out/straight" > "$out/straight.log"
cp -r "$out/straight" "$out/resumed"
mid=$(ls "$out/resumed/checkpoints" | sort -t_ -k2 -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}')
"${cmd[@]}" train --resume "$out/resumed/checkpoints/$mid" > "$out/resumed.log"
python3 - "$out" "$mid" <<'PY'
import json, sys
out, mid = sys.argv[1], sys.argv[2]
a = json.load(open(f"{out}/straight/summary.json")); b = json.load(open(f"{out}/resumed/summary.json"))
keys = ["train_loss", "test_loss", "test_accuracy", "validation_loss", "parameters"]
same = all(a.get(k) == b.get(k) for k in keys)
print(f"resume from {mid}: " + ", ".join(f"{k} {a.get(k)!r} vs {b.get(k)!r}" for k in keys))
print("BITWISE EQUAL" if same else "DIFFERENT")
sys.exit(0 if same else 1)
PY
