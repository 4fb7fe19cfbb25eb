#!/usr/bin/env python3
"""Interleaved A/B timing of two kasmina binaries, the way bench/RESULTS.md compares a change with
main: in the same call, alternated, so that the machine's drift falls on both. ROUNDS rounds each
run `A bench` then `B bench` with the same filter, repetitions and extra arguments (their JSON
kept as OUT_DIR/a1.json, b1.json, ...); then a Markdown table, printed and written to
OUT_DIR/ab.md: each benchmark's median per round for A and for B, and B against A (the median of
B's round medians over the median of A's, minus 1), marked "apart" when every B round lies on the
same side of every A round.

  scripts/bench_ab.py [--rounds N] [--repetitions R] [--wrapper CMD] OUT_DIR BIN_A BIN_B FILTER
                      [-- BENCH_ARGS...]
e.g. on the GPU machine, main's binary against a branch's, from a bundle:
  scripts/bench_ab.py --wrapper .gpu/run $OUT/ab bin/kasmina_main bin/kasmina \\
      '^train_step/fmnist_mlp_784-256-128-10/B(128|256)$' -- --device cuda
"""
import argparse
import os
import shlex
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_table  # noqa: E402  (scripts/bench_table.py: the JSON reader)


def round_medians(paths):
    """{benchmark: [median us of each file]} over the files, names in first-seen order."""
    out = {}
    for p in paths:
        _, runs = bench_table.load(p)
        for name, bs in runs.items():
            out.setdefault(name, []).append(bench_table.median_us(bs))
    return out


def table(a_paths, b_paths):
    """The Markdown table of A's rounds (a_paths) against B's (b_paths)."""
    a, b = round_medians(a_paths), round_medians(b_paths)
    lines = ["| benchmark | A, median of each round (us) | B, median of each round (us) | B vs A |",
             "| --- | --- | --- | --- |"]
    for name in list(a) + [n for n in b if n not in a]:
        av, bv = a.get(name, []), b.get(name, [])
        cells = [", ".join(f"{v:.2f}" for v in av) or "-", ", ".join(f"{v:.2f}" for v in bv) or "-"]
        if av and bv:
            change = statistics.median(bv) / statistics.median(av) - 1.0
            apart = max(bv) < min(av) or min(bv) > max(av)
            cells.append(f"{100.0 * change:+.1f}%" + (" apart" if apart else ""))
        else:
            cells.append("-")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv):
    extra = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--wrapper", default="", help="a command to run the binaries through")
    ap.add_argument("out_dir")
    ap.add_argument("bin_a")
    ap.add_argument("bin_b")
    ap.add_argument("filter")
    o = ap.parse_args(argv)
    if o.rounds < 1 or o.repetitions < 1:
        ap.error("--rounds and --repetitions must be at least 1")
    os.makedirs(o.out_dir, exist_ok=True)
    wrapper = shlex.split(o.wrapper)
    paths = {"a": [], "b": []}
    for i in range(1, o.rounds + 1):
        for side, binary in (("a", o.bin_a), ("b", o.bin_b)):
            path = os.path.join(o.out_dir, f"{side}{i}.json")
            cmd = [*wrapper, binary, "bench", "--filter", o.filter, "--repetitions",
                   str(o.repetitions), "--out", path, *extra]
            with open(os.path.join(o.out_dir, f"{side}{i}.log"), "w") as log:
                rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
            if rc != 0:
                print(f"bench_ab: {' '.join(cmd)} exited {rc} (its output: "
                      f"{os.path.join(o.out_dir, f'{side}{i}.log')})", file=sys.stderr)
                return 1
            paths[side].append(path)
    text = table(paths["a"], paths["b"])
    with open(os.path.join(o.out_dir, "ab.md"), "w") as f:
        f.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
