#!/usr/bin/env python3
"""The table (and plot) of scripts/growth_experiment.sh from its runs' summary.json files.

  growth_table.py OUT_DIR           markdown table: per arm mean ± std test accuracy, parameters,
                                    training FLOPs, training seconds, germinated/fossilized/culled;
                                    OUT_DIR/accuracy_vs_flops.png when matplotlib is installed
  growth_table.py --match OUT_DIR [ARM]
                                    prints two hidden widths H of a static 784-H-10 network: the
                                    one matching the ARM runs' (default grown) mean final
                                    parameter count, and the one matching their mean training
                                    FLOPs (from the static runs' FLOPs, linear in H)
"""
import glob
import json
import os
import statistics as st
import sys

ORDER = ["static8", "static16", "static32", "static64", "host", "grown", "grown_plateau",
         "grown_task", "baseline", "matched_size", "matched_flops", "width8_32", "width16_64",
         "width8_32_late", "width8_32_naive", "width16_64_naive", "width8_32_ctl",
         "width16_64_ctl", "width8_32_ctl12", "width16_64_ctl12",
         "width8_32_ctl10", "width16_64_ctl10", "layer_host", "layer_seed",
         "layer_seed_step0", "layer_seed_z0", "layer_seed_ctl", "matched_layer_size",
         "matched_layer_flops", "rows", "rows_step0", "rows_z0", "rows_ctl", "rows_ctl10", "matched_rows_size",
         "matched_rows_flops"]
LABEL = {
    "static8": "static 784-8", "static16": "static 784-16", "static32": "static 784-32",
    "static64": "static 784-64", "host": "host, no growth (784-32 + dormant seeds)",
    "grown": "grown (gradient choice, window, trigger)",
    "grown_plateau": "grown (health choice, plateau only, no window)",
    "grown_task": "grown, TRAINING on the task gradient",
    "baseline": "grown, baseline binary", "matched_size": "static, grown size",
    "matched_flops": "static, grown training FLOPs",
    "width8_32": "width seeds 8 -> 32 (epochs 1-3)",
    "width16_64": "width seeds 16 -> 64 (epochs 1-3)",
    "width8_32_late": "width seeds 8 -> 32, late (from 60% of the epochs)",
    "width8_32_naive": "width 8 -> 32, naive (random outgoing weights)",
    "width16_64_naive": "width 16 -> 64, naive (random outgoing weights)",
    "width8_32_ctl": "width seeds 8 -> 32 under the controller",
    "width16_64_ctl": "width seeds 16 -> 64 under the controller",
    "width8_32_ctl12": "width seeds 8 -> 32 under the controller, trigger ratio 1.2",
    "width16_64_ctl12": "width seeds 16 -> 64 under the controller, trigger ratio 1.2",
    "width8_32_ctl10": "width seeds 8 -> 32 under the controller, trigger ratio 1.0",
    "width16_64_ctl10": "width seeds 16 -> 64 under the controller, trigger ratio 1.0",
    "layer_host": "whole-layer seed's host, no growth (784-32 + dormant seed)",
    "layer_seed": "whole-layer seed 32 -> 64 -> 32 at epoch 2",
    "layer_seed_step0": "whole-layer seed from step 0 (its topology from the start)",
    "layer_seed_z0": "whole-layer seed, keep/cull by the mean only (eval_z 0)",
    "layer_seed_ctl": "whole-layer seed germinated by the heuristic controller",
    "matched_layer_size": "static, whole-layer seed's size",
    "matched_layer_flops": "static, whole-layer seed's training FLOPs",
    "rows": "four row seeds 32 -> 24 -> 8 at epoch 2",
    "rows_step0": "four row seeds from step 0 (their topology from the start)",
    "rows_z0": "four row seeds, keep/cull by the mean only (eval_z 0)",
    "rows_ctl": "four row seeds under the heuristic controller",
    "rows_ctl10": "four row seeds under the controller, trigger ratio 1.0",
    "matched_rows_size": "static, row seeds' size",
    "matched_rows_flops": "static, row seeds' training FLOPs",
}


def runs(out):
    arms = {}
    for f in sorted(glob.glob(os.path.join(out, "*-seed*", "summary.json"))):
        arm = os.path.basename(os.path.dirname(f)).rsplit("-seed", 1)[0]
        arms.setdefault(arm, []).append(json.load(open(f)))
    return arms


def mean_sd(v):
    return st.mean(v), (st.stdev(v) if len(v) > 1 else 0.0)


def match(out, arm="grown"):
    arms = runs(out)
    grown = arms.get(arm, [])
    if not grown:
        sys.exit("growth_table.py: no " + arm + " runs in " + out)
    params = st.mean(r["parameters"] for r in grown)
    flops = st.mean(r.get("train_flops", 0.0) for r in grown)
    # 784-H-10: 795 H + 10 parameters; training FLOPs linear in H (two static runs give the line).
    h_size = max(1, round((params - 10) / 795))
    pts = sorted((int(a[6:]), st.mean(r["train_flops"] for r in rs))
                 for a, rs in arms.items() if a.startswith("static") and a[6:].isdigit())
    if len(pts) >= 2:
        (h0, f0), (h1, f1) = pts[0], pts[-1]
        slope = (f1 - f0) / (h1 - h0)
        h_flops = max(1, round(h0 + (flops - f0) / slope))
    else:
        h_flops = h_size
    print(h_size, h_flops)


def table(out):
    arms = runs(out)
    rows = []
    print("| arm | test accuracy (mean ± std) | n | parameters | training FLOPs | training s | "
          "germinated / fossilized / culled (sum) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for arm in ORDER + sorted(set(arms) - set(ORDER)):
        rs = arms.get(arm)
        if not rs:
            continue
        acc = [r["test_accuracy"] for r in rs]
        par = [r["parameters"] for r in rs]
        flops = [r["train_flops"] for r in rs if "train_flops" in r]  # absent: older binaries
        sec = [r["train_seconds"] for r in rs]
        grow = [sum(g[k] for r in rs for g in r.get("growth", []))
                for k in ("germinated", "fossilized", "culled")]
        m, sd = mean_sd(acc)
        fm = st.mean(flops) if flops else float("nan")
        pr = f"{min(par)}" if min(par) == max(par) else f"{min(par)}–{max(par)}"
        ft = f"{fm:.3e}" if flops else "—"
        print(f"| {LABEL.get(arm, arm)} | {m:.4f} ± {sd:.4f} | {len(rs)} | {pr} | {ft} | "
              f"{st.mean(sec):.2f} | {grow[0]} / {grow[1]} / {grow[2]} |")
        if flops:
            rows.append((arm, fm, m, sd))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot)")
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for arm, fm, m, sd in rows:
        ax.errorbar(fm, m, yerr=sd, fmt="o", capsize=3, label=LABEL.get(arm, arm))
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs (analytic)")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "accuracy_vs_flops.png"), dpi=120)
    print("plot: " + os.path.join(out, "accuracy_vs_flops.png"))


if __name__ == "__main__":
    if len(sys.argv) in (3, 4) and sys.argv[1] == "--match":
        match(*sys.argv[2:])
    elif len(sys.argv) == 2:
        table(sys.argv[1])
    else:
        sys.exit(__doc__)
