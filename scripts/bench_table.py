#!/usr/bin/env python3
"""Turns a `kasmina bench --out FILE` JSON (Google Benchmark's schema) into a Markdown table:
median time over repetitions and the throughput counters (fractions of the run's own peaks)."""
import json
import statistics
import sys
from collections import OrderedDict

UNIT = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}


def load(path):
    """The run's context and its repetitions by benchmark name, in the file's order (aggregates
    left out; /manual_time dropped from the names)."""
    d = json.load(open(path))
    runs = OrderedDict()
    for b in d["benchmarks"]:
        if b.get("run_type") == "aggregate":
            continue
        name = b.get("run_name", b["name"]).replace("/manual_time", "")
        runs.setdefault(name, []).append(b)
    return d.get("context", {}), runs


def median_us(bs):
    """The median time of a benchmark's repetitions, in microseconds."""
    return statistics.median(b["real_time"] * UNIT[b["time_unit"]] for b in bs)


def main(path):
    ctx, runs = load(path)
    print(f"GPU/CPU: {ctx.get('kasmina_device_name', '?')}, driver {ctx.get('gpu_driver_version', '-')}, "
          f"CUDA runtime {ctx.get('cuda_runtime_version', '-')}, build {ctx.get('kasmina_build_type', '?')}, "
          f"commit {ctx.get('kasmina_git_commit', '?')}, {ctx.get('date', '')}")
    print()
    print("| benchmark | median time (us) | reps | bytes/s | frac of peak bw | FLOP/s | frac of peak FLOP/s | other |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, bs in runs.items():
        t = median_us(bs)
        def med(key):
            vals = [b[key] for b in bs if key in b]
            return statistics.median(vals) if vals else None
        def fmt(v, f):
            return "" if v is None else f.format(v)
        other = []
        for key in ("dormant_overhead",):
            if med(key) is not None:
                other.append(f"{key} {med(key):.3f}")
        print(f"| `{name}` | {t:.2f} | {len(bs)} | {fmt(med('bytes_per_second'), '{:.3g}')} | "
              f"{fmt(med('frac_of_peak_bw'), '{:.3f}')} | {fmt(med('flops_per_second'), '{:.3g}')} | "
              f"{fmt(med('frac_of_peak_flops'), '{:.3f}')} | {', '.join(other)} |")


if __name__ == "__main__":
    main(sys.argv[1])
