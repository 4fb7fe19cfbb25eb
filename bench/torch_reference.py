#!/usr/bin/env python3
"""PyTorch's strongest variants of the Fashion-MNIST reference networks, for comparison with
kasmina's step times on the same GPU (bench/RESULTS.md, "PyTorch reference variants").

    python3 bench/torch_reference.py [--models resnet,vit,mlp] [--mode step|train]
        [--variants default|compile|all|NAME,...] [--data DIR] [--device cuda|cpu]
        [--batch 128] [--warmup 20] [--steps 100] [--epochs 10] [--max-batches N]
        [--optimizer auto|sgd|adamw] [--compile-mode MODE] [--no-augment] [--seed 1]
        [--json FILE]

Networks (bench/torch_reference_models.py; the parameter counts are checked): `resnet` (stages
of 32/64/128 channels, two basic blocks each, 1x1 projection shortcuts; 696,042 parameters),
`vit` (4x4 patches, width 128, depth 6, 4 heads, MLP 256, pre-norm; 805,130) and `mlp`
(784-256-128-10; 235,146). Data: Fashion-MNIST IDX files (plain or .gz) from --data, else
$KASMINA_DATA_DIR, else /usr/share/datasets/fashion-mnist; normalised with the training set's
mean and standard deviation and kept on the device; each training batch is gathered and
augmented on the device (random crop from the image padded by 2, horizontal flip; --no-augment
turns it off).

Variants (bench/torch_reference_steps.py says what each token means), e.g. eager+fp32,
eager+tf32+cl, graph+tf32, compile+graph+bf16+cl. Sets: `default` (eager and whole-step CUDA
graph variants, a few seconds per model), `compile` (torch.compile variants, about a minute of
compilation each), `all` (both). "+cl" is dropped for networks without convolutional stages
(vit, mlp). Each variant runs in its own try block: a failure is reported, the others go on.

--mode step: each variant's median step time over --steps steps (CUDA events around every
step, after --warmup steps), a step being the batch gather and augmentation, forward, backward
and optimizer step; the learning rate stays at its initial value. --mode train: --epochs epochs
of the configs' recipe (batch 128, last partial batch dropped; resnet: SGD lr 0.1, Nesterov
momentum 0.9, wd 5e-4, cosine, or --optimizer adamw: lr 1e-3, wd 0.01, cosine; vit: AdamW lr
1e-3, wd 0.05, 5% linear warm-up then cosine; mlp: AdamW lr 1e-3, wd 0.01, cosine; per-step
schedules), then the test accuracy; the training time excludes compilation and graph capture
(reported as prepare_s) and the evaluation. --max-batches N limits the batches per epoch (smoke
tests on the CPU).

Output: one JSON object per line and (model, variant) on stdout (and in --json FILE): model,
variant, status (ok | error), the measurements and the setup; a table on stderr with each
variant's step time relative to eager+fp32. Exit 0 when every variant ran, 1 when one failed,
2 for bad arguments or data.

On the GPU machine (PyTorch preinstalled); --data is any folder of the four IDX files (the Debian
package's below, or the copy packed with the build):
    python3 bench/torch_reference.py --data /usr/share/datasets/fashion-mnist --json torch-step.json
    python3 bench/torch_reference.py --data /usr/share/datasets/fashion-mnist --models resnet --variants compile
    python3 bench/torch_reference.py --data /usr/share/datasets/fashion-mnist --mode train --epochs 10 \
        --models resnet --variants eager+fp32,graph+tf32+cl
"""
import argparse
import json
import os
import statistics
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ beside the script
import torch  # noqa: E402

from torch_reference_data import FashionMNIST  # noqa: E402
from torch_reference_models import build_model, parameter_count  # noqa: E402
from torch_reference_steps import Trainer, Variant, learning_rate, recipe  # noqa: E402

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
MODELS = ("resnet", "vit", "mlp")
CONV_MODELS = {"resnet"}
VARIANT_SETS = {
    "default": ["eager+fp32", "eager+tf32", "eager+tf32+cl", "eager+tf32+fused+cl",
                "graph+fp32", "graph+tf32", "graph+tf32+cl", "eager+bf16+cl", "graph+bf16",
                "graph+bf16+cl"],
    "compile": ["compile+tf32", "compile+tf32+cl", "compile+graph+tf32+cl", "compile+bf16+cl"],
}
VARIANT_SETS["all"] = VARIANT_SETS["default"] + VARIANT_SETS["compile"]


class Timer:
    """Elapsed milliseconds of each of a run of steps: CUDA events on a GPU, the host clock on
    the CPU (where the work is synchronous)."""

    def __init__(self, device, count):
        self.cuda = device.type == "cuda"
        if self.cuda:
            self.marks = [torch.cuda.Event(enable_timing=True) for _ in range(count + 1)]
        else:
            self.marks = [0.0] * (count + 1)

    def mark(self, i):
        if self.cuda:
            self.marks[i].record()
        else:
            self.marks[i] = time.perf_counter()

    def elapsed_ms(self):
        if self.cuda:
            torch.cuda.synchronize()
            return [a.elapsed_time(b) for a, b in zip(self.marks, self.marks[1:])]
        return [(b - a) * 1e3 for a, b in zip(self.marks, self.marks[1:])]


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def batches(n, batch, generator, device):
    """The batches of one epoch: a permutation of the n training samples (drawn on the host
    from `generator`, so the same on every device), as [n // batch, batch] device indices."""
    perm = torch.randperm(n, generator=generator)[: (n // batch) * batch]
    return perm.view(-1, batch).to(device)


def measure_steps(trainer, args, generator):
    device = trainer.device
    epoch = batches(trainer.data.train_y.shape[0], args.batch, generator, device)
    lr = trainer.optimizer.defaults["lr"]
    lr = float(lr) if not torch.is_tensor(lr) else float(lr.item())
    for i in range(args.warmup):
        trainer.step(epoch[i % epoch.shape[0]], lr)
    synchronize(device)
    timer = Timer(device, args.steps)
    timer.mark(0)
    for i in range(args.steps):
        trainer.step(epoch[(args.warmup + i) % epoch.shape[0]], lr)
        timer.mark(i + 1)
    ms = sorted(timer.elapsed_ms())
    q = statistics.quantiles(ms, n=10) if len(ms) > 1 else [ms[0]] * 9
    return {"median_ms": statistics.median(ms), "mean_ms": sum(ms) / len(ms),
            "p10_ms": q[0], "p90_ms": q[-1], "steps": args.steps, "warmup": args.warmup}


def train(trainer, args, generator, optim):
    device = trainer.device
    n = trainer.data.train_y.shape[0]
    per_epoch = n // args.batch
    if args.max_batches:
        per_epoch = min(per_epoch, args.max_batches)
    total = per_epoch * args.epochs
    kind, base_lr, _, warmup = optim
    step = 0
    loss_sum = torch.zeros((), device=device)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(args.epochs):
        epoch = batches(n, args.batch, generator, device)
        loss_sum.zero_()
        for i in range(per_epoch):
            loss_sum += trainer.step(epoch[i], learning_rate(step, total, base_lr, warmup))
            step += 1
    synchronize(device)
    train_s = time.perf_counter() - start
    test_loss, test_acc = trainer.evaluate()
    return {"epochs": args.epochs, "steps": total, "train_s": train_s,
            "ms_per_step": 1e3 * train_s / max(1, total), "last_epoch_train_loss":
            float(loss_sum) / max(1, per_epoch), "test_loss": test_loss,
            "test_accuracy": test_acc, "optimizer": kind, "lr": base_lr,
            "weight_decay": optim[2], "warmup_fraction": warmup}


def run_variant(model_name, variant, data, args, environment):
    """The JSON record of one (model, variant): its measurements, or its error."""
    record = {"model": model_name, "variant": variant.name, "mode": args.mode,
              "batch": args.batch, "augment": not args.no_augment, "seed": args.seed}
    try:
        torch.manual_seed(args.seed)  # the same initial weights for every variant
        model = build_model(model_name)
        record["parameters"] = parameter_count(model)
        optim = recipe(model_name, args.optimizer)
        start = time.perf_counter()
        trainer = Trainer(model, variant, data, args.batch, optim[:3],
                          0 if args.no_augment else 2, args.compile_mode)
        synchronize(trainer.device)
        record["prepare_s"] = time.perf_counter() - start
        generator = torch.Generator().manual_seed(args.seed)
        if args.mode == "step":
            record.update(measure_steps(trainer, args, generator))
        else:
            record.update(train(trainer, args, generator, optim))
        record["status"] = "ok"
    except Exception as e:  # one failing variant (a compiler error, out of memory) goes on
        traceback.print_exc(file=sys.stderr)
        record["status"] = "error"
        record["error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    record.update(environment)
    return record


def print_table(records, mode):
    """The human-readable summary on stderr."""
    eager = {r["model"]: r for r in records if r["variant"] == "eager+fp32" and
             r["status"] == "ok"}
    out = sys.stderr
    if mode == "step":
        print(f"\n{'model':<7} {'variant':<24} {'median ms':>10} {'p10':>8} {'p90':>8} "
              f"{'vs eager+fp32':>14}", file=out)
    else:
        print(f"\n{'model':<7} {'variant':<24} {'train s':>9} {'ms/step':>8} {'test acc':>9}",
              file=out)
    for r in records:
        if r["status"] != "ok":
            print(f"{r['model']:<7} {r['variant']:<24} error: {r['error'][:80]}", file=out)
        elif mode == "step":
            base = eager.get(r["model"])
            ratio = f"{base['median_ms'] / r['median_ms']:.2f}x" if base else "-"
            print(f"{r['model']:<7} {r['variant']:<24} {r['median_ms']:>10.3f} "
                  f"{r['p10_ms']:>8.3f} {r['p90_ms']:>8.3f} {ratio:>14}", file=out)
        else:
            print(f"{r['model']:<7} {r['variant']:<24} {r['train_s']:>9.2f} "
                  f"{r['ms_per_step']:>8.3f} {r['test_accuracy']:>9.4f}", file=out)


def variant_names(spec):
    names = []
    for item in spec.split(","):
        item = item.strip()
        names += VARIANT_SETS.get(item, [item] if item else [])
    return names


def environment_of(device):
    env = {"torch": torch.__version__, "device": str(device)}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
        env["cuda"] = torch.version.cuda
        env["cudnn"] = torch.backends.cudnn.version()
    return env


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="resnet,vit,mlp", help="comma-separated: resnet,vit,mlp")
    p.add_argument("--mode", choices=("step", "train"), default="step")
    p.add_argument("--variants", default="default",
                   help="default | compile | all | comma-separated variant names or sets")
    p.add_argument("--data", help=f"Fashion-MNIST directory (default: $KASMINA_DATA_DIR, else "
                                   f"{DEFAULT_DATA_DIR})")
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--warmup", type=int, default=20, help="untimed steps (step mode)")
    p.add_argument("--steps", type=int, default=100, help="timed steps (step mode)")
    p.add_argument("--epochs", type=int, default=10, help="epochs (train mode)")
    p.add_argument("--max-batches", type=int, default=0,
                   help="at most this many batches per epoch (train mode; 0: all)")
    p.add_argument("--optimizer", choices=("auto", "sgd", "adamw"), default="auto",
                   help="auto: SGD for resnet, AdamW for vit and mlp")
    p.add_argument("--compile-mode", default="default",
                   help="torch.compile mode (default: 'default'; max-autotune-no-cudagraphs "
                        "tunes GEMM and convolution kernels, compiling for minutes)")
    p.add_argument("--no-augment", action="store_true", help="no crop and flip")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="also write the JSON lines to this file")
    args = p.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in models if m not in MODELS]
    if bad or not models:
        p.error(f"--models: unknown {', '.join(bad) or '(none)'}; allowed: {', '.join(MODELS)}")
    args.models = models
    if args.batch < 1 or args.steps < 1 or args.warmup < 0 or args.epochs < 1:
        p.error("--batch, --steps and --epochs must be >= 1, --warmup >= 0")
    return args


def main(argv):
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("torch_reference: error: --device cuda, but PyTorch sees no CUDA device",
              file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = True
    data_dir = args.data or os.environ.get("KASMINA_DATA_DIR") or DEFAULT_DATA_DIR
    try:
        per_model = {m: [] for m in args.models}
        for m in args.models:
            for name in variant_names(args.variants):
                v = Variant(name, m in CONV_MODELS)
                if v.name not in [u.name for u in per_model[m]]:
                    per_model[m].append(v)
        data = FashionMNIST(data_dir, device)
    except (ValueError, OSError) as e:
        print(f"torch_reference: error: {e}", file=sys.stderr)
        return 2
    environment = environment_of(device)
    out = open(args.json, "w") if args.json else None
    records = []
    for m, variants in per_model.items():
        for v in variants:
            print(f"torch_reference: {m} {v.name} ...", file=sys.stderr, flush=True)
            record = run_variant(m, v, data, args, environment)
            records.append(record)
            line = json.dumps(record)
            print(line, flush=True)
            if out:
                out.write(line + "\n")
                out.flush()
    if out:
        out.close()
    print_table(records, args.mode)
    return 0 if all(r["status"] == "ok" for r in records) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
