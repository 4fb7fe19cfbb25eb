#!/usr/bin/env bash
# Refactoring check: runs configs with a kasmina binary and records, per config, the final
# losses of summary.json and the CRC-32 of every tensor of every checkpoint; with two record
# files, says whether they are identical bit for bit and names what differs.
#   scripts/same_results.sh record KASMINA_COMMAND... -- OUT_DIR [--device D] [--epochs N] CONFIG...
#   scripts/same_results.sh compare A.json B.json
# `record` writes OUT_DIR/results.json (and the runs under OUT_DIR/runs/). The default configs
# are quickstart, spirals_seeds, spirals_grow and fmnist_grow_chunks on the CPU, each for the epochs of
# its config (--epochs N shortens them all).
set -euo pipefail
mode=$1; shift
if [ "$mode" = compare ]; then
  python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
bad = 0
for cfg in sorted(set(a) | set(b)):
    ra, rb = a.get(cfg), b.get(cfg)
    if ra is None or rb is None:
        print(f"{cfg}: only in {'B' if ra is None else 'A'}"); bad += 1; continue
    diffs = [k for k in sorted(set(ra["summary"]) | set(rb["summary"]))
             if ra["summary"].get(k) != rb["summary"].get(k)]
    ta, tb = ra["tensors"], rb["tensors"]
    tdiff = sorted(n for n in set(ta) | set(tb) if ta.get(n) != tb.get(n))
    if diffs or tdiff:
        bad += 1
        print(f"{cfg}: DIFFERENT summary {diffs} tensors {len(tdiff)}: {', '.join(tdiff[:20])}")
    else:
        print(f"{cfg}: identical ({len(ta)} checkpoint tensors, " +
              ", ".join(f"{k} {ra['summary'][k]!r}" for k in ('train_loss', 'test_loss')) + ")")
print("SAME RESULTS" if bad == 0 else f"{bad} config(s) differ")
sys.exit(1 if bad else 0)
PY
  exit $?
fi
[ "$mode" = record ] || { echo "usage: $0 record CMD... -- OUT [--device D] [--epochs N] [CONFIG...] | compare A B" >&2; exit 2; }
cmd=()
while [ "$1" != "--" ]; do cmd+=("$1"); shift; done
shift
out=$1; shift
device=cpu; epochs=; configs=()
while [ $# -gt 0 ]; do
  case $1 in
    --device) device=$2; shift ;;
    --epochs) epochs=$2; shift ;;
    *) configs+=("$1") ;;
  esac
  shift
done
[ ${#configs[@]} -gt 0 ] || configs=(configs/quickstart.yaml configs/spirals_seeds.yaml \
                                     configs/spirals_grow.yaml configs/fmnist_grow_chunks.yaml)
rm -rf "$out/runs"; mkdir -p "$out/runs"
for c in "${configs[@]}"; do
  name=$(basename "$c" .yaml)
  "${cmd[@]}" train "$c" --device "$device" ${epochs:+--set train.epochs="$epochs"} \
    --set checkpoint.every_epochs=1 --set checkpoint.keep=1000 --out "$out/runs/$name" \
    > "$out/runs/$name.log" 2>&1
done
python3 - "$out" "${cmd[@]}" <<'PY'
import json, os, subprocess, sys
out, cmd = sys.argv[1], sys.argv[2:]
res = {}
for name in sorted(os.listdir(f"{out}/runs")):
    d = f"{out}/runs/{name}"
    if not os.path.isdir(d): continue
    s = json.load(open(f"{d}/summary.json"))
    keep = {k: s.get(k) for k in ("train_loss", "test_loss", "test_accuracy", "validation_loss",
                                   "parameters", "steps")}
    tensors = {}
    for f in sorted(os.listdir(f"{d}/checkpoints")):
        j = json.loads(subprocess.run(cmd + ["inspect", "checkpoint", f"{d}/checkpoints/{f}", "--json"],
                                      check=True, capture_output=True, text=True).stdout)
        for g in j["tensor_groups"]:
            for t in g["tensors"]:
                tensors[f"{f}:{t['name']}"] = t["crc32"]
    res[name] = {"summary": keep, "tensors": tensors}
json.dump(res, open(f"{out}/results.json", "w"), indent=1, sort_keys=True)
print(f"recorded {len(res)} runs in {out}/results.json")
PY
