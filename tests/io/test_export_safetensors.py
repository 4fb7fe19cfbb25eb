#!/usr/bin/python3
"""`kasmina export` read by the real safetensors reader (the PyPI package): every tensor of a
grown spirals run (configs/spirals_grow.yaml) loads and equals, bit for bit, what the checkpoint
holds (read with h5py): host parameters by name, the seeds' stage/alpha/blueprint arrays, and each
live seed's blueprint parameters cut from its pool slot by the layout of src/morph/blueprint_*.hpp
(residual_mlp W1 [h,C] b1 [h] W2 [C,h] b2 [C]; low_rank A [r,C] B [C,r]; diag_scale s [C] t [C]).
Skips (exit 77) when safetensors, numpy or h5py are missing."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import py_env  # noqa: E402

py_env.require("safetensors", "numpy", "h5py")
import h5py  # noqa: E402
import numpy as np  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

LIVE = {1, 2, 3, 4, 5, 6, 7}  # GERMINATED .. FOSSILIZED
BLUEPRINTS = ["residual_mlp", "low_rank", "diag_scale"]  # kind ids 0, 1, 2


def parts(blueprint, C, h, r):
    return {"residual_mlp": [("W1", (h, C)), ("b1", (h,)), ("W2", (C, h)), ("b2", (C,))],
            "low_rank": [("A", (r, C)), ("B", (C, r))],
            "diag_scale": [("s", (C,)), ("t", (C,))]}[blueprint]


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}")
        sys.exit(1)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        run = os.path.join(tmp, "grow")
        config = os.path.join(py_env.source_root(), "configs", "spirals_grow.yaml")
        r = py_env.kasmina("train", config, "--out", run)
        check(r.returncode == 0, f"train: {r.stdout}{r.stderr}")
        out = os.path.join(tmp, "grow.safetensors")
        r = py_env.kasmina("export", run, "--format", "safetensors", out)
        check(r.returncode == 0, f"export: {r.stdout}{r.stderr}")

        tensors = load_file(out)
        with safe_open(out, framework="np") as f:
            metadata = f.metadata()
        model = json.loads(metadata["model"])
        ckpt = h5py.File(os.path.join(run, "checkpoints", "step_930.h5"), "r")
        stored = ckpt["tensors"]
        expected = set()

        def same(name, array):
            expected.add(name)
            check(name in tensors, f"{name} missing from the file")
            got = tensors[name]
            check(got.dtype == array.dtype and got.shape == array.shape,
                  f"{name}: {got.dtype}{got.shape} vs {array.dtype}{array.shape}")
            check(got.tobytes() == array.tobytes(), f"{name}: values differ from the checkpoint")

        host = [n for n in ckpt["tensor_names"].asstr()[:] if n.startswith("layers.")]
        check(len(host) == 6, f"host parameters {host}")
        for name in host:
            same(name, stored[name][()])

        live = 0
        for layer in model["layers"]:
            if layer["type"] != "kasmina":
                continue
            section = stored[f"seeds/kasmina{layer['layer_index']}"]
            for field in ("stage", "alpha", "blueprint"):
                same(f"{layer['name']}.seeds.{field}", section[field][()])
            C, h, r = layer["chunk"], layer["hidden"], layer["rank"]
            pool = section["pool"][()]
            region = pool.size // (section["slot_owner"].size * 7)
            stage, slot, kind = section["stage"][()], section["slot"][()], section["blueprint"][()]
            for s in range(layer["seeds"]):
                if stage[s] not in LIVE:
                    continue
                live += 1
                offset = int(slot[s]) * 7 * region  # the slot's parameter region comes first
                for part, shape in parts(BLUEPRINTS[kind[s]], C, h, r):
                    n = int(np.prod(shape))
                    same(f"{layer['name']}.seeds.{s}.{part}",
                         pool[offset:offset + n].reshape(shape))
                    offset += n
        check(live == 6, f"{live} live seeds (spirals_grow ends with 6)")
        check(set(tensors) == expected, f"unexpected tensors {set(tensors) - expected}")
        summary = json.load(open(os.path.join(run, "summary.json")))
        check(model["parameters"]["seeds"] == summary["parameters_added"], "grown parameters")
        print(f"ok: {len(tensors)} tensors equal the checkpoint's values")
    return 0


if __name__ == "__main__":
    sys.exit(main())
