"""Fashion-MNIST for bench/torch_reference.py: the IDX files (plain or gzip) read into device
tensors, normalised with the training set's mean and standard deviation, and the training-time
augmentation (random crop from the image padded by `pad`, horizontal flip with probability 1/2)
done on the device with torch ops, one batch at a time."""
import gzip
import os
import struct

import numpy as np
import torch

SPLITS = {"train": "train", "test": "t10k"}


def read_idx(path):
    """The array of an unsigned-byte IDX file at `path` or `path.gz` (gzip detected by magic)."""
    for candidate in (path, path + ".gz"):
        if not os.path.isfile(candidate):
            continue
        with open(candidate, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
            raise ValueError(f"{candidate}: not an unsigned-byte IDX file")
        dims = struct.unpack(f">{raw[3]}I", raw[4:4 + 4 * raw[3]])
        values = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * raw[3])
        if values.size != int(np.prod(dims)):
            raise ValueError(f"{candidate}: {values.size} values, the header says {dims}")
        return values.reshape(dims)
    raise FileNotFoundError(f"{path}(.gz): no such file")


class FashionMNIST:
    """Both splits on `device`: images [N, 1, 28, 28] float32 normalised, labels int64."""

    def __init__(self, data_dir, device):
        raw = {}
        for split, prefix in SPLITS.items():
            images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte"))
            labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte"))
            raw[split] = (images.astype(np.float32) / 255.0, labels.astype(np.int64))
        train = raw["train"][0]
        self.mean = float(train.mean(dtype=np.float64))
        self.std = float(train.std(dtype=np.float64))
        self.pad_value = -self.mean / self.std  # a black pixel after normalisation
        for split, (images, labels) in raw.items():
            x = torch.from_numpy((images - self.mean) / self.std).unsqueeze(1).to(device)
            setattr(self, f"{split}_x", x.contiguous())
            setattr(self, f"{split}_y", torch.from_numpy(labels).to(device))


def augment(x, pad, pad_value):
    """Random crop of size HxW from x padded by `pad` on every side (offsets uniform in
    [0, 2*pad]), then a horizontal flip with probability 1/2, per sample. Draws from the
    default generator of x's device, so a CUDA graph can capture it."""
    b, c, h, w = x.shape
    xp = torch.nn.functional.pad(x, (pad, pad, pad, pad), value=pad_value)
    offsets = torch.randint(0, 2 * pad + 1, (b, 2), device=x.device)
    flip = torch.randint(0, 2, (b, 1), device=x.device)
    rows = offsets[:, 0:1] + torch.arange(h, device=x.device)  # [B, H]
    cols = torch.arange(w, device=x.device).expand(b, w)
    cols = torch.where(flip.bool(), (w - 1) - cols, cols) + offsets[:, 1:2]  # [B, W]
    batch = torch.arange(b, device=x.device).view(b, 1, 1, 1)
    chan = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return xp[batch, chan, rows.view(b, 1, h, 1), cols.view(b, 1, 1, w)]
