"""scripts/bench_ab.py: its table from round files of known times (exact figures, units, a
benchmark only one side has, the "apart" mark), and an A/B run of the built binary against
itself on the CPU (two rounds of one benchmark), whose table must hold the medians of the
files it wrote. Run by meson (KASMINA_BIN, KASMINA_SOURCE_ROOT)."""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.environ.get("KASMINA_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import bench_ab  # noqa: E402
import bench_table  # noqa: E402

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what)


def write_run(path, runs):
    """A Google Benchmark JSON of the repetitions `runs` = {name: ([times], unit)}, with a
    median aggregate that the reader must leave out."""
    benchmarks = []
    for name, (times, unit) in runs.items():
        for t in times:
            benchmarks.append({"name": name + "/manual_time", "run_name": name + "/manual_time",
                               "run_type": "iteration", "real_time": t, "time_unit": unit})
        benchmarks.append({"name": name + "/manual_time_median", "run_name": name + "/manual_time",
                           "run_type": "aggregate", "aggregate_name": "median",
                           "real_time": 1e9, "time_unit": unit})
    with open(path, "w") as f:
        json.dump({"context": {}, "benchmarks": benchmarks}, f)


def known_files(tmp):
    files = {
        "a1": {"x": ([10.0, 12.0, 11.0], "us"), "y": ([2000.0, 4000.0, 3000.0], "ns"),
               "w": ([20.0], "us")},
        "a2": {"x": ([13.0, 12.0, 14.0], "us"), "y": ([3.5], "us"), "w": ([21.0], "us")},
        "a3": {"x": ([30.0], "us"), "y": ([3.1], "us"), "w": ([22.0], "us")},
        "b1": {"x": ([9.0, 9.5, 10.0], "us"), "y": ([3.2], "us"), "w": ([25.0], "us"),
               "z": ([0.001], "ms")},
        "b2": {"x": ([10.0, 10.0, 10.0], "us"), "y": ([3.3], "us"), "w": ([24.0], "us")},
        "b3": {"x": ([10.5], "us"), "y": ([3.25], "us"), "w": ([23.0], "us")},
    }
    paths = {}
    for k, runs in files.items():
        paths[k] = os.path.join(tmp, k + ".json")
        write_run(paths[k], runs)
    got = bench_ab.table([paths["a1"], paths["a2"], paths["a3"]],
                         [paths["b1"], paths["b2"], paths["b3"]])
    # x: A 11, 13, 30 (median 13; the mean would be 18), B 9.5, 10, 10.5 (median 10): -23.1%,
    #    every B round under every A round.
    # y: A 3.0 (from ns), 3.5, 3.1 (median 3.1), B 3.2, 3.3, 3.25 (3.25): +4.8%, rounds overlap.
    # w: A 20, 21, 22, B 25, 24, 23: +14.3%, every B round over every A round.
    # z: only in B.
    want = "\n".join([
        "| benchmark | A, median of each round (us) | B, median of each round (us) | B vs A |",
        "| --- | --- | --- | --- |",
        "| `x` | 11.00, 13.00, 30.00 | 9.50, 10.00, 10.50 | -23.1% apart |",
        "| `y` | 3.00, 3.50, 3.10 | 3.20, 3.30, 3.25 | +4.8% |",
        "| `w` | 20.00, 21.00, 22.00 | 25.00, 24.00, 23.00 | +14.3% apart |",
        "| `z` | - | 1.00 | - |",
    ]) + "\n"
    check(got == want, "table of known files:\n" + got + "wanted:\n" + want)


def real_run(tmp):
    binary = os.environ.get("KASMINA_BIN")
    if not binary:
        print("KASMINA_BIN not set: the real run is left out (run through meson test)")
        return
    out = os.path.join(tmp, "ab")
    name = "peak/copy/B256_S1000_C16"
    p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bench_ab.py"), "--rounds",
                        "2", "--repetitions", "2", out, binary, binary, "^" + name + "$", "--",
                        "--device", "cpu"], capture_output=True, text=True)
    check(p.returncode == 0, f"bench_ab.py exited {p.returncode}: {p.stderr}")
    if p.returncode != 0:
        return
    for f in ("a1.json", "b1.json", "a2.json", "b2.json", "ab.md"):
        check(os.path.exists(os.path.join(out, f)), f"{f} written")
    text = open(os.path.join(out, "ab.md")).read()
    check(text == p.stdout, "ab.md is the printed table")
    row = re.search(r"^\| `" + re.escape(name) + r"` \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$", text,
                    re.M)
    check(row is not None, "the benchmark's row in:\n" + text)
    if row is None:
        return
    def file_median(side, i):
        _, runs = bench_table.load(os.path.join(out, f"{side}{i}.json"))
        return bench_table.median_us(runs[name])

    med = {side: [file_median(side, i) for i in (1, 2)] for side in ("a", "b")}
    a_cells = [float(v) for v in row.group(1).split(",")]
    b_cells = [float(v) for v in row.group(2).split(",")]
    check(len(a_cells) == 2 and len(b_cells) == 2, "two rounds a side: " + row.group(0))
    pairs = zip(a_cells + b_cells, med["a"] + med["b"])
    check(all(abs(c - m) <= 0.005 + 1e-9 * m for c, m in pairs),
          f"the cells are the files' medians: {row.group(0)} against {med}")
    change = statistics.median(med["b"]) / statistics.median(med["a"]) - 1.0
    check(row.group(3).split()[0] == f"{100.0 * change:+.1f}%", "B vs A: " + row.group(3))
    check(all(m > 0 for m in med["a"] + med["b"]), "positive times")


with tempfile.TemporaryDirectory() as tmp:
    known_files(tmp)
    real_run(tmp)
print("FAILED" if failures else "OK", f"({len(failures)} failures)")
sys.exit(1 if failures else 0)
