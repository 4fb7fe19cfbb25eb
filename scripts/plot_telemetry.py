#!/usr/bin/python3
"""Plot a kasmina run's telemetry (RUN_DIR/telemetry.h5) into RUN_DIR/plots/*.png.

    scripts/plot_telemetry.py RUN_DIR [--field NAME]
    scripts/plot_telemetry.py RUN_DIR RUN_DIR... [--out DIR]

Writes, for one run:
  loss.png                 training loss per step and per-epoch train/validation/test loss
  accuracy.png             per-epoch train/validation/test accuracy
  seed_timeline.png        one row per seed that ever left DORMANT, coloured by lifecycle stage,
                           with markers for germinate / fossilize / cull / rollback events
  seed_health_<layer>.png  one per-seed statistic (--field, default: the first) over time x seeds

Runs without morphogenetic layers get only the curves. With several runs, their curves on one
plot each, one colour per run, into --out (default ./plots-compare):
  compare_loss.png         training loss per step (smoothed) and test loss per epoch
  compare_accuracy.png     test accuracy per epoch (validation dashed, where recorded)
`kasmina inspect runs RUN_DIR...` prints the same runs' differing settings and final metrics.
The layout read here is documented in docs/FORMATS.md. Needs python3-h5py and
python3-matplotlib (headless: Agg backend).
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import h5py  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

STAGES = ["DORMANT", "GERMINATED", "TRAINING", "GRAFTING", "STABILIZATION", "EVALUATING",
          "FINE_TUNING", "FOSSILIZED", "CULLED", "CANCELLED", "ROLLED_BACK"]
STAGE_COLOURS = ["#dddddd", "#9ecae1", "#4292c6", "#41ab5d", "#a1d99b", "#fdae6b",
                 "#fd8d3c", "#238b45", "#cb181d", "#969696", "#6a51a3"]
MARKERS = {1: ("^", "germinate"), 7: ("*", "fossilize"), 8: ("x", "cull"), 10: ("v", "rollback")}


class TelemetryError(Exception):
    pass


def column(f, path):
    """A dataset's rows up to its checksum_rows (what the writer had fully written)."""
    ds = f[path]
    rows = int(ds.attrs.get("checksum_rows", ds.shape[0]))
    data = ds[:rows]
    if data.dtype.kind == "O":
        data = np.array([v.decode() if isinstance(v, bytes) else v for v in data], dtype=object)
    return data


def table(f, group):
    cols = {name: column(f, f"{group}/{name}") for name in f[group]}
    n = min((len(c) for c in cols.values()), default=0)
    return {k: v[:n] for k, v in cols.items()}, n


def load(path):
    if not os.path.exists(path):
        raise TelemetryError(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise TelemetryError(f"{path}: not an HDF5 file")
    f = h5py.File(path, "r", locking=False) if h5py.version.version_tuple >= (3, 5) else \
        h5py.File(path, "r")
    fmt = f.attrs.get("format")
    fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
    if fmt != "kasmina-telemetry":
        raise TelemetryError(f"{path}: is a {fmt} file, expected kasmina-telemetry" if fmt else
                             f"{path}: not a kasmina file (no 'format' attribute)")
    if int(f.attrs["schema_version"]) > 1:
        raise TelemetryError(f"{path}: schema_version {int(f.attrs['schema_version'])} is newer "
                             "than this script supports (1)")
    return f


def plot_curves(f, run_dir, out_dir, title):
    steps, n_steps = table(f, "steps")
    epochs, n_epochs = table(f, "epochs")
    written = []

    fig, ax = plt.subplots(figsize=(9, 5))
    if n_steps:
        ax.plot(steps["step"], steps["loss"], lw=0.6, alpha=0.5, color="#4292c6",
                label="train loss (step)")
        if n_steps >= 20:
            x, smooth = smoothed(steps["step"], steps["loss"])
            ax.plot(x, smooth, lw=1.5, color="#08519c",
                    label=f"train loss ({n_steps - len(x) + 1}-step mean)")
    if n_epochs and n_steps:
        # place epoch metrics at the last step of each epoch
        ends = epoch_end_steps(run_dir, steps, n_steps, epochs)
        for key, colour in (("train_loss", "#08519c"), ("validation_loss", "#fd8d3c"),
                            ("test_loss", "#cb181d")):
            if np.any(np.isfinite(epochs[key])):
                ax.plot(ends, epochs[key], "o-", color=colour, label=f"{key} (epoch)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"{title}: loss")
    if n_steps or n_epochs:
        ax.legend(loc="upper right")
    else:
        ax.text(0.5, 0.5, "no steps recorded", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "loss.png"), dpi=120)
    plt.close(fig)
    written.append("loss.png")

    fig, ax = plt.subplots(figsize=(9, 5))
    plotted = False
    for key, colour in (("train_accuracy", "#08519c"), ("validation_accuracy", "#fd8d3c"),
                        ("test_accuracy", "#cb181d")):
        if n_epochs and np.any(np.isfinite(epochs[key])):
            ax.plot(epochs["epoch"], epochs[key], "o-", color=colour, label=key)
            plotted = True
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title}: accuracy")
    if plotted:
        ax.legend(loc="lower right")
    else:
        ax.text(0.5, 0.5, "no epoch accuracy recorded", ha="center", va="center",
                transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "accuracy.png"), dpi=120)
    plt.close(fig)
    written.append("accuracy.png")
    return written


def last_step(f):
    candidates = []
    steps, n = table(f, "steps")
    if n:
        candidates.append(int(steps["step"].max()))
    events, m = table(f, "events")
    if m:
        candidates.append(int(events["step"].max()))
    for layer in f["seeds"]:
        s = column(f, f"seeds/{layer}/step")
        if len(s):
            candidates.append(int(s.max()))
    return max(candidates) if candidates else 0


def plot_timeline(f, out_dir, title):
    events, m = table(f, "events")
    if m == 0:
        return []
    end = last_step(f) + 1
    # per (layer, seed): ordered (step, from, to)
    history = {}
    order = np.argsort(events["step"], kind="stable")
    for i in order:
        key = (events["layer"][i], int(events["seed"][i]))
        history.setdefault(key, []).append((int(events["step"][i]), int(events["from"][i]),
                                            int(events["to"][i])))
    rows = [k for k, h in history.items() if any(t != 0 and fr != t for _, fr, t in h)]
    if not rows:
        return []
    rows.sort()
    height = min(0.25 * len(rows) + 1.5, 60)
    fig, ax = plt.subplots(figsize=(11, height))
    for y, key in enumerate(rows):
        stage, since = 0, 0
        for step, fr, to in history[key]:
            if fr == to:
                continue
            if step > since:
                ax.broken_barh([(since, step - since)], (y - 0.4, 0.8),
                               facecolors=STAGE_COLOURS[stage % len(STAGE_COLOURS)])
            stage, since = to, step
            if to in MARKERS:
                ax.plot(step, y, MARKERS[to][0], color="black", ms=6)
        ax.broken_barh([(since, max(end - since, 0))], (y - 0.4, 0.8),
                       facecolors=STAGE_COLOURS[stage % len(STAGE_COLOURS)])
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{layer}:{seed}" for layer, seed in rows],
                       fontsize=max(4, min(9, 400 // max(len(rows), 1))))
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlim(0, end)
    ax.set_xlabel("step")
    ax.set_title(f"{title}: seed lifecycle ({len(rows)} seeds left DORMANT)")
    handles = [Patch(color=c, label=s) for s, c in zip(STAGES, STAGE_COLOURS)]
    handles += [Line2D([], [], marker=mk, color="black", ls="", label=name)
                for mk, name in MARKERS.values()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "seed_timeline.png"), dpi=120)
    plt.close(fig)
    return ["seed_timeline.png"]


def plot_health(f, out_dir, title, field):
    written = []
    for layer in f["seeds"]:
        stats_ds = f[f"seeds/{layer}/stats"]
        fields = [x.decode() if isinstance(x, bytes) else x for x in stats_ds.attrs["fields"]]
        name = field if field is not None else fields[0]
        if name not in fields:
            raise TelemetryError(f"layer {layer}: no statistic '{name}' (have: {', '.join(fields)})")
        steps = column(f, f"seeds/{layer}/step")
        stats = column(f, f"seeds/{layer}/stats")
        t = min(len(steps), len(stats))
        if t == 0:
            continue
        values = stats[:t, :, fields.index(name)]  # [T, S]
        fig, ax = plt.subplots(figsize=(11, 5))
        extent = (float(steps[0]), float(steps[t - 1]) if t > 1 else float(steps[0]) + 1,
                  values.shape[1] - 0.5, -0.5)
        im = ax.imshow(values.T, aspect="auto", interpolation="nearest", cmap="viridis",
                       extent=extent)
        fig.colorbar(im, ax=ax, label=name)
        ax.set_xlabel("step")
        ax.set_ylabel("seed")
        ax.set_title(f"{title}: {layer} seed health ({name})")
        fig.tight_layout()
        out = f"seed_health_{layer}.png"
        fig.savefig(os.path.join(out_dir, out), dpi=120)
        plt.close(fig)
        written.append(out)
    return written


def run_title(f, default="run"):
    name = f.attrs.get("config_name", "")
    return name.decode() if isinstance(name, bytes) else (name or default)


def epoch_end_steps(run_dir, steps, n_steps, epochs):
    """The step at which each recorded epoch ended: epoch x steps per epoch, from the run's
    summary.json (steps / epochs) when it has one, else the last step row of each epoch."""
    try:
        with open(os.path.join(run_dir, "summary.json")) as f:
            summary = json.load(f)
        per_epoch = int(summary["steps"]) / int(summary["epochs"])
        if per_epoch > 0:
            return [e * per_epoch for e in epochs["epoch"]]
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        pass
    if not n_steps:
        return [np.nan] * len(epochs["epoch"])
    return [steps["step"][steps["epoch"] == e].max() if np.any(steps["epoch"] == e) else np.nan
            for e in epochs["epoch"]]


def smoothed(steps, loss):
    """The step losses as a running mean of about 1/50 of the run (at least 5 steps)."""
    n = len(loss)
    if n < 20:
        return steps, loss
    k = max(5, n // 50)
    return steps[k - 1:], np.convolve(loss, np.ones(k) / k, mode="valid")


def plot_compare(run_dirs, out_dir):
    """Several runs' curves on one plot each; returns the files written."""
    runs = []
    for d in run_dirs:
        f = load(os.path.join(d, "telemetry.h5"))
        steps, n_steps = table(f, "steps")
        epochs, n_epochs = table(f, "epochs")
        label = f"{run_title(f)} ({os.path.basename(os.path.normpath(d))})"
        ends = epoch_end_steps(d, steps, n_steps, epochs)
        runs.append((label, steps, n_steps, epochs, n_epochs, ends))
        f.close()
    colours = plt.get_cmap("tab10")
    os.makedirs(out_dir, exist_ok=True)

    def loss_curves(ax, i, label, steps, n_steps, epochs, n_epochs, ends):
        if n_steps:
            x, y = smoothed(steps["step"], steps["loss"])
            ax.plot(x, y, lw=1.2, color=colours(i % 10), alpha=0.8, label=f"{label}: train loss")
        if n_epochs and np.any(np.isfinite(epochs["test_loss"])) and np.any(np.isfinite(ends)):
            ax.plot(ends, epochs["test_loss"], "o--", ms=3, color=colours(i % 10),
                    label=f"{label}: test loss")

    def accuracy_curves(ax, i, label, steps, n_steps, epochs, n_epochs, ends):
        for key, style in (("test_accuracy", "o-"), ("validation_accuracy", ":")):
            if n_epochs and np.any(np.isfinite(epochs[key])):
                ax.plot(epochs["epoch"], epochs[key], style, ms=3, color=colours(i % 10),
                        label=f"{label}: {key.split('_')[0]}")

    written = []
    for name, curves, xlabel, ylabel, where in (
            ("compare_loss.png", loss_curves, "step", "loss", "upper right"),
            ("compare_accuracy.png", accuracy_curves, "epoch", "accuracy", "lower right")):
        fig, ax = plt.subplots(figsize=(10, 5.5))
        for i, run in enumerate(runs):
            curves(ax, i, *run)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{ylabel} of {len(runs)} runs")
        ax.legend(loc=where, fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, name), dpi=120)
        plt.close(fig)
        written.append(name)
    return written


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                        help="run directory holding telemetry.h5 (several: compare them)")
    parser.add_argument("--field", help="per-seed statistic for the health heatmap "
                                        "(default: the first field of each layer)")
    parser.add_argument("--out", help="with several runs: directory for the comparison plots "
                                      "(default ./plots-compare)")
    args = parser.parse_args(argv)
    if len(args.run_dirs) > 1:
        out_dir = args.out or "plots-compare"
        try:
            written = plot_compare(args.run_dirs, out_dir)
        except (TelemetryError, KeyError, OSError) as e:
            print(f"plot_telemetry: error: {e}", file=sys.stderr)
            return 2
        for w in written:
            print(os.path.join(out_dir, w))
        return 0
    args.run_dir = args.run_dirs[0]
    path = os.path.join(args.run_dir, "telemetry.h5")
    try:
        with load(path) as f:
            title = run_title(f)
            out_dir = os.path.join(args.run_dir, "plots")
            os.makedirs(out_dir, exist_ok=True)
            written = plot_curves(f, args.run_dir, out_dir, title)
            has_layers = "seeds" in f and len(f["seeds"]) > 0
            written += plot_timeline(f, out_dir, title)
            written += plot_health(f, out_dir, title, args.field)
    except (TelemetryError, KeyError, OSError) as e:
        print(f"plot_telemetry: error: {e}", file=sys.stderr)
        return 2
    if not has_layers:
        print("no morphogenetic layers in this run: wrote the loss and accuracy curves only")
    for w in written:
        print(os.path.join(out_dir, w))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
