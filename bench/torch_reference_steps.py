"""Training steps of bench/torch_reference.py, one per PyTorch execution variant.

A variant name is tokens joined by '+':
  execution   eager (default) | compile (torch.compile of the model) | graph (the whole step --
              batch gather, augmentation, forward, backward, fused optimizer step -- captured
              once in a CUDA graph and replayed; static inputs) | compile+graph (both)
  precision   fp32 (strict float32: no TF32) | tf32 (TF32 GEMMs and convolutions) |
              bf16 (autocast to bfloat16, TF32 for what stays float32)
  cl          channels-last memory format (convolutional models; dropped for the others)
  fused       the fused optimizer kernel in eager or compile (graph variants always use it)
"""
import math

import torch
from torch.nn import functional as F

from torch_reference_data import augment

EXECUTIONS = ("eager", "compile", "graph")
PRECISIONS = ("fp32", "tf32", "bf16")
WARMUP_STEPS = 3  # run before a graph capture (and to trigger compilation), then undone


class Variant:
    def __init__(self, name, conv_model):
        tokens = set(name.split("+"))
        unknown = tokens - set(EXECUTIONS) - set(PRECISIONS) - {"cl", "fused"}
        if unknown:
            raise ValueError(f"variant '{name}': unknown token(s) {', '.join(sorted(unknown))}")
        precisions = [p for p in PRECISIONS if p in tokens]
        if len(precisions) > 1:
            raise ValueError(f"variant '{name}': more than one precision")
        self.compile = "compile" in tokens
        self.graph = "graph" in tokens
        self.precision = precisions[0] if precisions else "fp32"
        self.channels_last = "cl" in tokens and conv_model
        self.fused = "fused" in tokens or self.graph or self.compile
        parts = ["compile" if self.compile else "", "graph" if self.graph else ""]
        parts = [p for p in parts if p] or ["eager"]
        parts.append(self.precision)
        if self.channels_last:
            parts.append("cl")
        if self.fused and not (self.graph or self.compile):
            parts.append("fused")
        self.name = "+".join(parts)  # canonical: what the model actually runs


def set_tf32(enabled):
    """TF32 for float32 GEMMs and convolutions on or off. The allow_tf32 flags: PyTorch 2.9+
    keeps them consistent with its per-backend fp32_precision settings, whereas setting only some
    of the latter makes a later read of the flags (inductor reads them) raise."""
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def recipe(model_name, optimizer):
    """(optimizer, lr, weight decay, warm-up fraction) of the configs' recipes."""
    if optimizer == "auto":
        optimizer = "sgd" if model_name == "resnet" else "adamw"
    if optimizer == "sgd":
        return "sgd", 0.1, 5e-4, 0.0
    return "adamw", 1e-3, 0.05 if model_name == "vit" else 0.01, 0.05 if model_name == "vit" else 0.0


def learning_rate(step, total, base, warmup_fraction):
    """Linear warm-up over the first warmup_fraction of the steps, then cosine decay to 0."""
    warmup = int(round(warmup_fraction * total))
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def make_optimizer(params, kind, lr, wd, variant, device):
    fused = {"fused": True} if variant.fused else {}
    if variant.graph:  # a learning rate that changes between replays lives on the device
        lr = torch.tensor(lr, dtype=torch.float32, device=device)
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd,
                               **fused)
    extra = {"capturable": True} if variant.graph else {}
    return torch.optim.AdamW(params, lr=lr, weight_decay=wd, **fused, **extra)


def set_lr(optimizer, lr):
    for group in optimizer.param_groups:
        if torch.is_tensor(group["lr"]):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


class Trainer:
    """One model trained by one variant: step(idx, lr) runs a training step on the training
    samples idx (a device int64 tensor of batch size) and returns the loss tensor."""

    def __init__(self, model, variant, data, batch, optim, augment_pad, compile_mode):
        """optim: (kind, lr, weight decay) as recipe() gives them."""
        self.device = data.train_x.device
        if variant.graph and self.device.type != "cuda":
            raise RuntimeError("graph variants need a CUDA device")
        set_tf32(variant.precision != "fp32")
        self.variant, self.data, self.batch, self.pad = variant, data, batch, augment_pad
        memory_format = torch.channels_last if variant.channels_last else torch.contiguous_format
        self.model = model.to(self.device, memory_format=memory_format).train()
        self.forward = self.model
        if variant.compile:
            torch._dynamo.reset()
            self.forward = torch.compile(self.model, mode=compile_mode)
        self.optimizer = make_optimizer(self.model.parameters(), *optim, variant, self.device)
        self.graph = None
        self._prepare()

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16,
                              enabled=self.variant.precision == "bf16",
                              cache_enabled=not self.variant.graph)

    def _input(self, x):
        if self.variant.channels_last:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def _loss(self, idx):
        x = torch.index_select(self.data.train_x, 0, idx)
        y = torch.index_select(self.data.train_y, 0, idx)
        if self.pad > 0:
            x = augment(x, self.pad, self.data.pad_value)
        with self._autocast():
            return F.cross_entropy(self.forward(self._input(x)), y)

    def _eager_step(self, idx):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._loss(idx)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def _prepare(self):
        """Compile (first calls) or capture the graph with a few steps, then restore the initial
        weights, buffers and a zero optimizer state in place (what the graph reads), so that
        training starts as from a fresh optimizer."""
        saved = [t.detach().clone() for t in self._state_tensors()]
        idx = torch.arange(self.data.train_y.shape[0] // 2, device=self.device)
        batch = self.batch
        if self.variant.graph:
            self.static_idx = idx[:batch].clone()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(WARMUP_STEPS):
                    self._eager_step(self.static_idx)
            torch.cuda.current_stream().wait_stream(side)
            self.optimizer.zero_grad(set_to_none=True)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.static_loss = self._loss(self.static_idx)
                self.static_loss.backward()
                self.optimizer.step()
        else:
            for i in range(WARMUP_STEPS):
                self._eager_step(idx[i * batch:(i + 1) * batch])
        with torch.no_grad():
            for t, s in zip(self._state_tensors(), saved):
                t.copy_(s)
            for state in self.optimizer.state.values():
                for v in state.values():
                    if torch.is_tensor(v):
                        v.zero_()

    def _state_tensors(self):
        return list(self.model.parameters()) + list(self.model.buffers())

    def step(self, idx, lr):
        set_lr(self.optimizer, lr)
        if self.graph is None:
            return self._eager_step(idx)
        self.static_idx.copy_(idx)
        self.graph.replay()
        return self.static_loss

    @torch.no_grad()
    def evaluate(self, batch=1000):
        """(test loss, test accuracy) of the model in evaluation mode (the eager module: the
        compiled one would recompile for it), in the variant's precision and layout."""
        self.model.eval()
        x_all, y_all = self.data.test_x, self.data.test_y
        loss, correct = 0.0, 0
        for begin in range(0, y_all.shape[0], batch):
            x, y = x_all[begin:begin + batch], y_all[begin:begin + batch]
            with self._autocast():
                logits = self.model(self._input(x)).float()
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
        self.model.train()
        return loss / y_all.shape[0], correct / y_all.shape[0]
