#!/usr/bin/python3
"""Rebuild a network written by `kasmina export` in PyTorch and evaluate it on Fashion-MNIST.

    scripts/rebuild_torch.py NETWORK.safetensors [--data-dir DIR] [--device cpu|cuda[:N]]
                             [--expect EVAL.json] [--tolerance-samples N] [--check-numpy]

Builds a torch.nn.Module from the file's `__metadata__["model"]` description and its tensors
(docs/EXPORT.md): linear, relu, gelu (tanh approximation), layernorm,
dropout (identity in evaluation), residual blocks, and kasmina layers with their grown seeds.
A seed whose stage blends (GRAFTING .. FOSSILIZED) with alpha > 0 adds alpha * delta(x) to its
columns [s*C, (s+1)*C) of the layer's input; its blueprint's delta is
  residual_mlp  W2 gelu(W1 x + b1) + b2
  low_rank      B (A x)
  diag_scale    x * s + t        (f(x) = x * (1 + s) + t)
  row_mlp       W2 gelu(W1 x_row + b1) + b2   (reads the layer's whole input row x_row)
Then evaluates the Fashion-MNIST test split (t10k-*, plain or gzip IDX) with the input
normalisation the network was trained with (x = pixel * scale + shift, in float32) and prints
the loss and accuracy.

--expect FILE compares with `kasmina eval RUN --json FILE` (or a run's summary.json): the number
of correct samples must match within --tolerance-samples (default 0) and the loss within 1e-4
relative; exit 1 otherwise. --check-numpy runs the same forward in NumPy instead of PyTorch
(no PyTorch needed), float32 like kasmina. Needs the `safetensors` and `numpy` packages
(scripts/setup.sh installs them in ~/.cache/kasmina/pyenv, or $KASMINA_PYENV: run this script
with that environment's python3). Exit 2 for a bad input.
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys

import numpy as np

BLUEPRINTS = ("residual_mlp", "low_rank", "diag_scale", "row_mlp")
BLENDED_STAGES = {3, 4, 5, 6, 7}  # GRAFTING, STABILIZATION, EVALUATING, FINE_TUNING, FOSSILIZED
GELU_K = 0.7978845608028654  # sqrt(2/pi)
GELU_C = 0.044715
DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"


class InputError(Exception):
    pass


# ---- the file ---------------------------------------------------------------------------------

def load_network(path):
    """(description, {name: numpy array}) of an exported network."""
    try:
        from safetensors import safe_open
    except ImportError:
        raise InputError("the 'safetensors' package is not installed (scripts/setup.sh puts it "
                         "in ~/.cache/kasmina/pyenv: run this script with its bin/python3)")
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    try:
        with safe_open(path, framework="np") as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except Exception as e:  # the reader raises its own error types
        raise InputError(f"{path}: not a safetensors file ({e})")
    if metadata.get("format") != "kasmina-network":
        raise InputError(f"{path}: not a network written by `kasmina export` "
                         "(no __metadata__ format kasmina-network)")
    if int(metadata.get("format_version", "0")) > 1:
        raise InputError(f"{path}: format_version {metadata['format_version']} is newer than "
                         "this script reads (1)")
    return json.loads(metadata["model"]), tensors


def seed_plan(layer, tensors):
    """The seeds of a kasmina layer that change its output: (first column, last column, alpha,
    blueprint, {part: array})."""
    stage = tensors[layer["seed_stage"]]
    alpha = tensors[layer["seed_alpha"]]
    plan = []
    for seed in layer["live_seeds"]:
        s = seed["seed"]
        if int(stage[s]) in BLENDED_STAGES and float(alpha[s]) > 0.0:
            if seed["blueprint"] not in BLUEPRINTS:
                raise InputError(f"seed {s} of {layer['name']} grew the blueprint "
                                 f"'{seed['blueprint']}'; this script knows {', '.join(BLUEPRINTS)}")
            parts = {part: tensors[name] for part, name in seed["tensors"].items()}
            begin, end = seed["columns"]
            plan.append((begin, end, alpha[s], seed["blueprint"], parts))
    return plan


# ---- the data ---------------------------------------------------------------------------------

def read_idx(path):
    for candidate in (path, path + ".gz"):
        if os.path.isfile(candidate):
            with open(candidate, "rb") as f:
                raw = f.read()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
                raise InputError(f"{candidate}: not an unsigned-byte IDX file")
            ndim = raw[3]
            dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
            data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
            if data.size != int(np.prod(dims)):
                raise InputError(f"{candidate}: holds {data.size} values, its header says "
                                 f"{int(np.prod(dims))}")
            return data.reshape(dims)
    raise InputError(f"{path}(.gz): no such file")


def load_test_split(description, data_dir):
    if description["input"]["dataset"] != "fashion_mnist":
        raise InputError(f"the network was trained on {description['input']['dataset']}; this "
                         "script evaluates Fashion-MNIST networks")
    images = read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte"))
    labels = read_idx(os.path.join(data_dir, "t10k-labels-idx1-ubyte")).astype(np.int64)
    images = images.reshape(images.shape[0], -1)
    features = description["input"]["features"]
    if images.shape[1] != features:
        raise InputError(f"{data_dir}: images have {images.shape[1]} values, the network "
                         f"expects {features}")
    scale = np.float32(description["input"]["scale"])
    shift = np.float32(description["input"]["shift"])
    x = images.astype(np.float32) * scale + shift  # as kasmina's batch gather, in float32
    return x.astype(np.float32), labels


# ---- NumPy forward (--check-numpy) ------------------------------------------------------------

def np_gelu(x):
    k, c, half, one = (np.float32(v) for v in (GELU_K, GELU_C, 0.5, 1.0))
    return half * x * (one + np.tanh(k * (x + c * x * x * x)))


def delta(blueprint, p, x, gelu):
    """delta(x) = f(x) - x of a built-in blueprint with parameters p (NumPy arrays or torch
    tensors alike) on the rows x of its chunk (row_mlp: on the whole rows; see reads())."""
    if blueprint in ("residual_mlp", "row_mlp"):
        return gelu(x @ p["W1"].T + p["b1"]) @ p["W2"].T + p["b2"]
    if blueprint == "low_rank":
        return (x @ p["A"].T) @ p["B"].T
    assert blueprint == "diag_scale", blueprint  # seed_plan admits only the built-ins
    return x * p["s"] + p["t"]  # f(x) = x * (1 + s) + t


def reads(blueprint, x, begin, end):
    """The input of a seed's blueprint: its chunk, or the whole row for row_mlp."""
    return x if blueprint == "row_mlp" else x[:, begin:end]


def np_forward(layers, tensors, x):
    for layer in layers:
        kind = layer["type"]
        if kind == "linear":
            y = x @ tensors[layer["weight"]].T
            x = y + tensors[layer["bias"]] if layer["bias"] else y
        elif kind == "relu":
            x = np.maximum(x, np.float32(0.0))
        elif kind == "gelu":
            x = np_gelu(x)
        elif kind == "layernorm":
            x64 = x.astype(np.float64)
            mean = x64.mean(axis=1, keepdims=True)
            var = ((x64 - mean) ** 2).mean(axis=1, keepdims=True)
            rstd = (1.0 / np.sqrt(var + np.float64(np.float32(layer["eps"])))).astype(np.float32)
            x = (x - mean.astype(np.float32)) * rstd * tensors[layer["weight"]] + \
                tensors[layer["bias"]]
        elif kind == "dropout":
            pass
        elif kind == "residual":
            x = x + np_forward(layer["layers"], tensors, x)
        elif kind == "kasmina":
            out = x.copy()
            for begin, end, alpha, blueprint, parts in seed_plan(layer, tensors):
                out[:, begin:end] = x[:, begin:end] + alpha * delta(
                    blueprint, parts, reads(blueprint, x, begin, end), np_gelu)
            x = out
        else:
            raise InputError(f"layer {layer['name']}: unknown type '{kind}'")
        x = x.astype(np.float32, copy=False)
    return x


# ---- PyTorch ----------------------------------------------------------------------------------

def torch_module(description, tensors):
    import torch
    from torch import nn

    def param(name):
        return nn.Parameter(torch.from_numpy(np.array(tensors[name])), requires_grad=False)

    class Residual(nn.Module):
        def __init__(self, body):
            super().__init__()
            self.body = body

        def forward(self, x):
            return x + self.body(x)

    class Seed(nn.Module):
        """A grown seed's blueprint: its parameters by part name, delta(x) as forward."""

        def __init__(self, blueprint, parts):
            super().__init__()
            self.blueprint = blueprint
            self.params = nn.ParameterDict(
                {k: nn.Parameter(torch.from_numpy(np.array(v)), requires_grad=False)
                 for k, v in parts.items()})

        def forward(self, x):
            gelu = lambda v: nn.functional.gelu(v, approximate="tanh")  # noqa: E731
            return delta(self.blueprint, self.params, x, gelu)

    class Kasmina(nn.Module):
        """The morphogenetic layer as grown: x, with alpha * delta(x) added in each blended
        seed's columns."""

        def __init__(self, layer):
            super().__init__()
            self.columns, self.alphas, self.kinds = [], [], []
            self.seeds = nn.ModuleList()
            for begin, end, alpha, blueprint, parts in seed_plan(layer, tensors):
                self.columns.append((begin, end))
                self.alphas.append(float(alpha))  # a float32 value, exact as a Python float
                self.seeds.append(Seed(blueprint, parts))
                self.kinds.append(blueprint)

        def forward(self, x):
            if not self.columns:
                return x
            out = x.clone()
            for (begin, end), alpha, seed, kind in zip(self.columns, self.alphas, self.seeds,
                                                       self.kinds):
                out[:, begin:end] = x[:, begin:end] + alpha * seed(reads(kind, x, begin, end))
            return out

    def build(layers):
        modules = []
        for layer in layers:
            kind = layer["type"]
            if kind == "linear":
                m = nn.Linear(layer["in"], layer["out"], bias=layer["bias"] is not None)
                m.weight = param(layer["weight"])
                if layer["bias"]:
                    m.bias = param(layer["bias"])
            elif kind == "relu":
                m = nn.ReLU()
            elif kind == "gelu":
                m = nn.GELU(approximate="tanh")
            elif kind == "layernorm":
                m = nn.LayerNorm(layer["width"], eps=layer["eps"])
                m.weight = param(layer["weight"])
                m.bias = param(layer["bias"])
            elif kind == "dropout":
                m = nn.Dropout(layer["p"])
            elif kind == "residual":
                m = Residual(build(layer["layers"]))
            elif kind == "kasmina":
                m = Kasmina(layer)
            else:
                raise InputError(f"layer {layer['name']}: unknown type '{kind}'")
            modules.append(m)
        return nn.Sequential(*modules)

    return build(description["layers"]).eval()


# ---- evaluation -------------------------------------------------------------------------------

def loss_and_correct(logits, labels):
    z = logits.astype(np.float64)
    zmax = z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z - zmax).sum(axis=1)) + zmax[:, 0]
    loss = float((lse - z[np.arange(len(labels)), labels]).sum())
    correct = int((np.argmax(logits, axis=1) == labels).sum())  # the first maximum, as kasmina
    return loss, correct


def evaluate(description, tensors, x, labels, check_numpy, device, batch):
    if check_numpy:
        forward = lambda xb: np_forward(description["layers"], tensors, xb)  # noqa: E731
    else:
        try:
            import torch
        except ImportError:
            raise InputError("PyTorch is not installed (use --check-numpy for the NumPy forward)")
        torch.backends.cuda.matmul.allow_tf32 = False  # float32 GEMMs, as kasmina's fp32 mode
        model = torch_module(description, tensors).to(device)

        def forward(xb):
            with torch.no_grad():
                return model(torch.from_numpy(xb).to(device)).cpu().numpy()
    loss_sum, correct = 0.0, 0
    for begin in range(0, len(labels), batch):
        logits = forward(x[begin:begin + batch])
        l, c = loss_and_correct(logits, labels[begin:begin + batch])
        loss_sum += l
        correct += c
    return loss_sum / len(labels), correct


def read_expected(path):
    try:
        with open(path) as f:
            j = json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: {e}")
    for loss_key, acc_key in (("loss", "accuracy"), ("test_loss", "test_accuracy")):
        if loss_key in j and acc_key in j:
            return float(j[loss_key]), float(j[acc_key])
    raise InputError(f"{path}: neither 'loss'/'accuracy' (kasmina eval --json) nor "
                     "'test_loss'/'test_accuracy' (summary.json)")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("network", help="a file written by `kasmina export --format safetensors`")
    parser.add_argument("--data-dir", help="Fashion-MNIST directory (default: KASMINA_DATA_DIR, "
                                           f"else {DEFAULT_DATA_DIR})")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--batch", type=int, default=1000, help="evaluation batch size")
    parser.add_argument("--expect", help="kasmina eval --json output (or summary.json) to match")
    parser.add_argument("--tolerance-samples", type=int, default=0,
                        help="correct samples the result may differ by (default 0)")
    parser.add_argument("--check-numpy", action="store_true",
                        help="run the forward in NumPy instead of PyTorch")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or os.environ.get("KASMINA_DATA_DIR") or DEFAULT_DATA_DIR
    try:
        description, tensors = load_network(args.network)
        x, labels = load_test_split(description, data_dir)
        expected = read_expected(args.expect) if args.expect else None
        loss, correct = evaluate(description, tensors, x, labels, args.check_numpy, args.device,
                                 max(1, args.batch))
    except InputError as e:
        print(f"rebuild_torch: error: {e}", file=sys.stderr)
        return 2
    n = len(labels)
    engine = "numpy" if args.check_numpy else f"torch ({args.device})"
    print(f"{engine}: test loss {loss:.6f}  test accuracy {correct / n:.4f} ({correct} of {n})")
    if expected is None:
        return 0
    exp_loss, exp_acc = expected
    exp_correct = int(round(exp_acc * n))
    ok = abs(correct - exp_correct) <= args.tolerance_samples and \
        math.isclose(loss, exp_loss, rel_tol=1e-4, abs_tol=1e-7)
    print(f"kasmina: test loss {exp_loss:.6f}  test accuracy {exp_acc:.4f} ({exp_correct} of {n})"
          f"  -> {'match' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
