#!/usr/bin/env python3
"""TensorBoard's own reader on the event files of real `kasmina train` runs.

With `EventAccumulator` (the tensorboard package from PyPI) every scalar reads back exactly as
telemetry.h5 and summary.json hold it (float32, the precision of TensorBoard's scalars), the
histograms and texts hold what telemetry.h5 holds, a resumed run reads as one run without
duplicate steps, the files are readable while the run goes (and after SIGINT), and a damaged
last record is skipped with every record before it still read.

Runs under the interpreter that has the `tensorboard` package: this one, or the virtual
environment scripts/setup.sh makes ($KASMINA_PYENV, default ~/.cache/kasmina/pyenv). Without
it the test is skipped (exit 77) with a message. Needs KASMINA_BIN and KASMINA_SOURCE_ROOT (set
by meson test).
"""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

SKIP = 77
PYENV = os.environ.get("KASMINA_PYENV") or os.path.expanduser("~/.cache/kasmina/pyenv")


def require_packages():
    try:
        import h5py  # noqa: F401
        import numpy  # noqa: F401
        import tensorboard  # noqa: F401
        return
    except ImportError as e:
        missing = e.name
    python = os.path.join(PYENV, "bin", "python3")
    if os.environ.get("KASMINA_READBACK_REEXEC") != "1" and os.access(python, os.X_OK):
        os.environ["KASMINA_READBACK_REEXEC"] = "1"
        os.execv(python, [python] + sys.argv)
    print(f"SKIP: the Python package '{missing}' is not installed (scripts/setup.sh installs "
          f"tensorboard from PyPI into {PYENV}, beside Debian's python3-h5py)")
    sys.exit(SKIP)


require_packages()

import h5py  # noqa: E402
import numpy as np  # noqa: E402
from tensorboard.backend.event_processing import event_accumulator as ea  # noqa: E402
from tensorboard.backend.event_processing import plugin_event_accumulator as pea  # noqa: E402
from tensorboard.compat.proto import event_pb2  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

BIN = os.environ.get("KASMINA_BIN", "")
ROOT = os.environ.get("KASMINA_SOURCE_ROOT", ".")
CONFIG = os.path.join(ROOT, "configs", "spirals_seeds.yaml")
STEPS_PER_EPOCH = 31  # spirals_seeds: 2000 training samples, batches of 64


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def train(args, log):
    with open(log, "w") as out:
        return subprocess.run([BIN, "train", CONFIG] + args, stdout=out, stderr=subprocess.STDOUT,
                              timeout=240).returncode


def accumulator(logdir, purge=True):
    acc = ea.EventAccumulator(logdir, size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0,
                                                     ea.TENSORS: 0},
                              purge_orphaned_data=purge)
    acc.Reload()
    return acc


def plugin_accumulator(logdir):
    """The accumulator behind TensorBoard's pages (every summary as a tensor; it also discards
    the texts a restarted run supersedes, which the legacy EventAccumulator keeps)."""
    acc = pea.EventAccumulator(logdir, tensor_size_guidance={"scalars": 0, "histograms": 0,
                                                             "text": 0})
    acc.Reload()
    return acc


def f32(values):
    return np.asarray(values, dtype=np.float64).astype(np.float32)


def scalar_series(acc, tag):
    events = acc.Scalars(tag)
    return [e.step for e in events], f32([e.value for e in events])


def expect_scalars(acc, tag, steps, values):
    got_steps, got = scalar_series(acc, tag)
    check(got_steps == [int(s) for s in steps], f"{tag}: steps {got_steps} != {list(steps)}")
    check(np.array_equal(got, f32(values), equal_nan=True),
          f"{tag}: values {got} != telemetry.h5 {f32(values)}")


def text(acc, tag):
    return [(t.step, tensor_util.make_ndarray(t.tensor_proto).item().decode())
            for t in acc.Tensors(tag)]


def table_rows(markdown):
    """The rows of an event text's markdown table, cells unescaped."""
    rows = []
    for line in markdown.strip().split("\n")[2:]:
        cells = line.strip()[1:-1].replace("\\|", "\x00").split("|")
        rows.append([c.strip().replace("\x00", "|") for c in cells])
    return rows


def check_steps_and_epochs(acc, h5):
    steps = h5["steps"]
    for col in ("loss", "lr", "samples_per_second", "train_flops"):
        expect_scalars(acc, "steps/" + col, steps["step"][:], steps[col][:])
    epochs = h5["epochs"]
    at = epochs["epoch"][:] * STEPS_PER_EPOCH
    for col in ("train_loss", "train_accuracy", "validation_loss", "validation_accuracy",
                "test_loss", "test_accuracy", "seconds"):
        expect_scalars(acc, "epochs/" + col, at, epochs[col][:])
    return 4 * len(steps["step"]) + 7 * len(at)


def capacity_need(row, field):
    if not row[field["samples"]] > 0:
        return 0.0
    var = float(row[field["variance"]])
    g = float(row[field["grad_norm_ema"]])
    return (float(row[field["dead_fraction"]]) + 1.0 / (1.0 + max(var, 0.0)) +
            (g / (1.0 + g) if g > 0 else 0.0))


def check_seed_layers(acc, h5, summary):
    names = [n.decode().lower() if isinstance(n, bytes) else n.lower()
             for n in h5["events"].attrs["stage_names"]]
    count = 0
    for layer, grp in h5["seeds"].items():
        stats = grp["stats"][:]
        steps = grp["step"][:]
        field = {(f.decode() if isinstance(f, bytes) else f): i
                 for i, f in enumerate(grp["stats"].attrs["fields"])}
        stage = stats[:, :, field["stage"]].astype(int)
        for code, name in enumerate(names):
            expect_scalars(acc, f"{layer}/stage/{name}", steps, (stage == code).sum(axis=1))
            count += len(steps)
        added_steps, added = scalar_series(acc, f"{layer}/parameters_added")
        check(added_steps == list(steps), f"{layer}/parameters_added: steps {added_steps}")
        check(np.all(added[np.all(stage == 0, axis=1)] == 0),
              f"{layer}/parameters_added: parameters while every seed is dormant")
        count += len(steps)
        alpha = acc.Histograms(f"{layer}/alpha")
        health = acc.Histograms(f"{layer}/health")
        check([h.step for h in alpha] == list(steps), f"{layer}/alpha: steps")
        check([h.step for h in health] == list(steps), f"{layer}/health: steps")
        for i, (a, h) in enumerate(zip(alpha, health)):
            a, h = a.histogram_value, h.histogram_value
            want = [float(v) for v in stats[i, :, field["alpha"]]]
            check(a.num == len(want) and sum(a.bucket) == len(want), f"{layer}/alpha: count")
            check((a.min, a.max) == (min(want), max(want)), f"{layer}/alpha: extremes")
            total = 0.0
            for v in want:
                total += v
            check(a.sum == total, f"{layer}/alpha at {steps[i]}: sum {a.sum} != {total}")
            need = [capacity_need(row, field) for row in stats[i]]
            check(h.num == len(need), f"{layer}/health: count")
            for got, exp in ((h.min, min(need)), (h.max, max(need)), (h.sum, sum(need))):
                check(abs(got - exp) <= 1e-5 * max(1.0, abs(exp)),
                      f"{layer}/health at {steps[i]}: {got} != {exp}")
        if summary is not None:
            k = int(layer[len("kasmina"):])
            final = summary["growth"][k]["parameters_added"]
            check(added[-1] == final, f"{layer}/parameters_added: last {added[-1]} != {final}")
    return count


def check_events(pacc, h5):
    ev = h5["events"]
    decode = lambda col: [v.decode() for v in ev[col][:]]  # noqa: E731
    want = {}
    for step, layer, seed, frm, to, bp, reason, value in zip(
            ev["step"][:], decode("layer"), ev["seed"][:], ev["from"][:], ev["to"][:],
            decode("blueprint"), decode("reason"), ev["value"][:]):
        want.setdefault((layer, int(step)), []).append(
            (int(seed), int(frm), int(to), bp, reason, np.float32(value)))
    names = [n.decode() if isinstance(n, bytes) else n for n in ev.attrs["stage_names"]]
    got = {}
    for tag in pacc.Tags()["tensors"]:
        if not tag.startswith("events/"):
            continue
        for step, md in text(pacc, tag):
            check((tag[7:], step) not in got, f"{tag}: step {step} twice")
            got[(tag[7:], step)] = [
                (int(s), names.index(f), names.index(t), bp, reason,
                 np.float32(float(v)) if v else np.float32("nan"))
                for s, f, t, bp, reason, v in table_rows(md)]
    check(sorted(got) == sorted(want), f"event texts at {sorted(got)} != {sorted(want)}")
    for key, rows in want.items():
        same = all(a[:5] == b[:5] and (a[5] == b[5] or (np.isnan(a[5]) and np.isnan(b[5])))
                   for a, b in zip(got[key], rows))
        check(len(got[key]) == len(rows) and same, f"events {key}: {got[key]} != {rows}")
    return sum(len(r) for r in want.values())


def check_run(run, summary_expected=True):
    """Every scalar, histogram and text of RUN/tensorboard against telemetry.h5 (and summary)."""
    acc = accumulator(os.path.join(run, "tensorboard"))
    pacc = plugin_accumulator(os.path.join(run, "tensorboard"))
    with open(os.path.join(run, "summary.json")) as f:
        summary = json.load(f)
    with h5py.File(os.path.join(run, "telemetry.h5"), "r") as h5:
        n = check_steps_and_epochs(acc, h5)
        n += check_seed_layers(acc, h5, summary if summary_expected else None)
        n_events = check_events(pacc, h5)
    for tag in acc.Tags()["scalars"]:  # what TensorBoard's pages show: the same numbers
        steps, values = scalar_series(acc, tag)
        shown = pacc.Tensors(tag)
        check([e.step for e in shown] == steps, f"{tag}: steps shown")
        check(np.array_equal(f32([tensor_util.make_ndarray(e.tensor_proto).item()
                                  for e in shown]), values), f"{tag}: values shown")
    _, test_acc = scalar_series(acc, "epochs/test_accuracy")
    check(test_acc[-1] == np.float32(summary["test_accuracy"]), "test accuracy vs summary.json")
    _, test_loss = scalar_series(acc, "epochs/test_loss")
    check(test_loss[-1] == np.float32(summary["test_loss"]), "test loss vs summary.json")
    with open(os.path.join(run, "config.yaml")) as f:
        config = f.read()
    configs = text(pacc, "config")
    check(configs[-1][1] == "```yaml\n" + config + "```", "config text != config.yaml")
    return acc, n, n_events


def test_fresh_run(tmp):
    run = os.path.join(tmp, "fresh")
    rc = train(["--out", run, "--set", "train.epochs=6", "--set", "telemetry.every_steps=10"],
               run + ".log")
    check(rc == 0, f"train exited {rc}")
    acc, n, n_events = check_run(run)
    check(n > 400 and n_events >= 10, f"too little compared: {n} scalars, {n_events} events")
    check([s for s, _ in text(acc, "config")] == [0], "config text once, at step 0")
    check(len(acc.Tags()["histograms"]) == 4, "alpha and health of two layers")
    return run


def test_resumed_run(tmp):
    run = os.path.join(tmp, "resumed")
    common = ["--set", "telemetry.every_steps=10"]
    rc = train(["--out", run, "--set", "train.epochs=6", "--set", "checkpoint.every_steps=35",
                "--set", "checkpoint.keep=100"] + common, run + ".log")
    check(rc == 0, f"train exited {rc}")
    # Step 105 is inside a telemetry window (the layers read every 10 steps): the resumed run
    # drains again the events of steps 101..105 that the first run recorded.
    ckpt = os.path.join(run, "checkpoints", "step_105.h5")
    with open(run + ".resume.log", "w") as out:
        rc = subprocess.run([BIN, "train", "--resume", ckpt], stdout=out,
                            stderr=subprocess.STDOUT, timeout=240).returncode
    check(rc == 0, f"train --resume exited {rc}")
    check(len(os.listdir(os.path.join(run, "tensorboard"))) == 2, "a second event file")
    acc, _, _ = check_run(run)
    check([s for s, _ in text(acc, "config")] == [0, 106], "config texts at 0 and 106")
    # Without TensorBoard's purge the first run's steps after the checkpoint would show twice.
    raw = accumulator(os.path.join(run, "tensorboard"), purge=False)
    steps = [e.step for e in raw.Scalars("steps/loss")]
    check(len(steps) > len(set(steps)) and max(steps) > 105, "the first file holds later steps")


def test_live_and_interrupted(tmp):
    run = os.path.join(tmp, "live")
    with open(run + ".log", "w") as out:
        proc = subprocess.Popen([BIN, "train", CONFIG, "--out", run, "--set",
                                 "train.epochs=100000"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        seen = 0
        while time.time() < deadline and proc.poll() is None:
            logdir = os.path.join(run, "tensorboard")
            if os.path.isdir(logdir) and os.listdir(logdir):
                acc = accumulator(logdir)
                if "epochs/test_loss" in acc.Tags()["scalars"]:
                    seen = len(acc.Scalars("epochs/test_loss"))
                    if seen >= 2:
                        break
            time.sleep(0.05)
        check(proc.poll() is None and seen >= 2, "epochs readable while the run goes")
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    check(rc == 130, f"interrupted run exited {rc}")
    check_run(run, summary_expected=False)


def records(path):
    """(offset, length) of each record of an event file."""
    out, at = [], 0
    with open(path, "rb") as f:
        data = f.read()
    while at + 12 <= len(data):
        (n,) = struct.unpack("<Q", data[at:at + 8])
        out.append((at, 12 + n + 4))
        at += 12 + n + 4
    return out, data


def snapshot(acc):
    """Everything an accumulator read: scalar and histogram values, texts."""
    tags = acc.Tags()
    snap = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in tags["scalars"]}
    snap.update({t: [(e.step, e.histogram_value) for e in acc.Histograms(t)]
                 for t in tags["histograms"]})
    snap.update({t: text(acc, t) for t in tags["tensors"]})
    return snap


def test_damaged_last_record(tmp, run):
    src_dir = os.path.join(run, "tensorboard")
    (name,) = os.listdir(src_dir)
    spans, data = records(os.path.join(src_dir, name))
    last_at, last_len = spans[-1]
    last = event_pb2.Event.FromString(data[last_at + 12:last_at + last_len - 4])
    check(last.summary.value, "the last record is a summary")

    def read(content, label):
        d = os.path.join(tmp, "damaged-" + label)
        os.makedirs(d)
        with open(os.path.join(d, name), "wb") as f:
            f.write(content)
        return snapshot(accumulator(d))

    full = read(data, "none")
    good = read(data[:last_at], "cut")
    tag = last.summary.value[0].tag
    check(len(good[tag]) == len(full[tag]) - 1 and good[tag] == full[tag][:-1],
          f"cutting the last record drops one entry of {tag}")
    check({t: v for t, v in full.items() if t != tag} == {t: v for t, v in good.items()
                                                           if t != tag}, "other tags kept")

    def flipped(at):
        b = bytearray(data)
        b[at] ^= 0x40
        return bytes(b)

    cases = {
        "data": flipped(last_at + 12 + (last_len - 16) // 2),  # data CRC fails
        "length": flipped(last_at + 1),                      # length CRC fails
        "data-crc": flipped(last_at + last_len - 2),
        "truncated": data[:last_at + last_len // 2],        # a torn last record
    }
    for label, content in cases.items():
        check(read(content, label) == good, f"damaged last record ({label}): the good records")


def main():
    if not BIN or not os.access(BIN, os.X_OK):
        print("SKIP: KASMINA_BIN is not set to the kasmina binary")
        return SKIP
    tmp = tempfile.mkdtemp(prefix="kasmina-tb-")
    passed, failed = 0, 0
    try:
        fresh = None
        tests = [("fresh run reads back exactly", lambda: test_fresh_run(tmp)),
                 ("resumed run: one set of curves", lambda: test_resumed_run(tmp)),
                 ("readable while running, after SIGINT", lambda: test_live_and_interrupted(tmp)),
                 ("damaged last record skipped", lambda: test_damaged_last_record(tmp, fresh))]
        for name, fn in tests:
            try:
                result = fn()
                if fresh is None:
                    fresh = result
                passed += 1
                print(f"ok: {name}")
            except Exception as e:  # a failed check, a timeout, or an unreadable file
                failed += 1
                print(f"FAILED: {name}: {e}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
