#!/usr/bin/env bash
# CUDA resume check (deterministic mode): a straight run of a config against the same run
# resumed from a checkpoint in the middle; compares the final summaries bit for bit and, on a
# difference, names the tensors that differ in the first checkpoint both runs wrote after the
# resume point (per-tensor CRC-32 from `kasmina inspect checkpoint --json`).
#   scripts/gpu_resume_check.sh KASMINA_COMMAND... -- CONFIG OUT_DIR [EVERY_STEPS [RESUME_STEP]]
# EVERY_STEPS (default 0): also write a checkpoint every that many steps (else once per epoch).
# RESUME_STEP: resume from the checkpoint of that step (default: the middle one), e.g. one inside
# an epoch.
set -euo pipefail
cmd=()
while [ "$1" != "--" ]; do cmd+=("$1"); shift; done
shift
config=$1; out=$2; every=${3:-0}; resume_step=${4:-}
device=${KASMINA_DEVICE:-cuda}  # cpu: the same check on the CPU engine
rm -rf "$out"; mkdir -p "$out"
"${cmd[@]}" train "$config" --device "$device" --set checkpoint.every_epochs=1 \
  --set checkpoint.every_steps="$every" --set checkpoint.keep=1000 \
  --out "$out/straight" > "$out/straight.log"
cp -r "$out/straight" "$out/resumed"
mid=$(ls "$out/resumed/checkpoints" | sort -t_ -k2 -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}')
if [ -n "$resume_step" ]; then mid=step_$resume_step.h5; fi
[ -f "$out/resumed/checkpoints/$mid" ] || { echo "no checkpoint $mid" >&2; exit 2; }
# The resumed run rewrites the checkpoints after mid; drop the straight run's copies first.
for f in "$out/resumed/checkpoints"/step_*.h5; do
  n=$(basename "$f" .h5); n=${n#step_}
  [ "$n" -gt "${mid//[^0-9]/}" ] && rm -f "$f"
done
"${cmd[@]}" train --resume "$out/resumed/checkpoints/$mid" > "$out/resumed.log"
python3 - "$out" "$mid" "${cmd[@]}" <<'PY'
import json, os, subprocess, sys
out, mid, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
a = json.load(open(f"{out}/straight/summary.json")); b = json.load(open(f"{out}/resumed/summary.json"))
keys = ["train_loss", "test_loss", "test_accuracy", "validation_loss", "parameters"]
same = all(a.get(k) == b.get(k) for k in keys)
print(f"resume from {mid}: " + ", ".join(f"{k} {a.get(k)!r} vs {b.get(k)!r}" for k in keys))
print("BITWISE EQUAL" if same else "DIFFERENT")
step = lambda f: int(f[len("step_"):-len(".h5")])
after = sorted((f for f in os.listdir(f"{out}/resumed/checkpoints") if step(f) > step(mid)), key=step)
def crcs(path):
    j = json.loads(subprocess.run(cmd + ["inspect", "checkpoint", path, "--json"], check=True,
                                  capture_output=True, text=True).stdout)
    return {t["name"]: t["crc32"] for g in j["tensor_groups"] for t in g["tensors"]}
compared = 0
for f in after:
    sa, sb = f"{out}/straight/checkpoints/{f}", f"{out}/resumed/checkpoints/{f}"
    if not os.path.exists(sa): continue
    ca, cb = crcs(sa), crcs(sb)
    compared += 1
    diff = sorted(n for n in ca if ca[n] != cb.get(n))
    if diff:
        print(f"first checkpoint that differs: {f}, {len(diff)} of {len(ca)} tensors: " + ", ".join(diff[:40]))
        break
else:
    print(f"{compared} later checkpoints compared: every tensor identical")
sys.exit(0 if same else 1)
PY
