"""The reference networks of bench/torch_reference.py in PyTorch: the Fashion-MNIST ResNet and
ViT of configs/fmnist_resnet.yaml and configs/fmnist_vit.yaml, and the 784-256-128-10 MLP of
configs/fmnist_mlp.yaml. Each constructor checks its parameter count."""
import torch
from torch import nn
from torch.nn import functional as F

EXPECTED_PARAMETERS = {"resnet": 696_042, "vit": 805_130, "mlp": 235_146}


class BasicBlock(nn.Module):
    """3x3 conv, BN, ReLU, 3x3 conv, BN, plus the shortcut (identity, or a 1x1 conv + BN where
    the stride or the width changes), then ReLU."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class ResNet(nn.Module):
    """Stem 3x3 conv 1->32 + BN + ReLU; stages of 32, 64, 128 channels with two basic blocks
    each (stride 2 at the start of stages 2 and 3: 28 -> 14 -> 7); global average pool;
    linear 10."""

    def __init__(self, widths=(32, 64, 128), classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        blocks, cin = [], widths[0]
        for i, w in enumerate(widths):
            blocks += [BasicBlock(cin, w, 1 if i == 0 else 2), BasicBlock(w, w, 1)]
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(cin, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Attention(nn.Module):
    """Multi-head self-attention: one qkv linear, fused scaled-dot-product attention, output
    linear (the parameters of nn.MultiheadAttention)."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x):
        b, t, c = x.shape
        qkv = self.qkv(x).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + MLP(LN(x)) with GELU."""

    def __init__(self, width, heads, hidden):
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.ln2 = nn.LayerNorm(width)
        # tanh GELU: the approximation kasmina's gelu layer computes
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"),
                                 nn.Linear(hidden, width))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class ViT(nn.Module):
    """4x4 patches of a 28x28 image -> 49 tokens of width 128 (a linear embedding, written as a
    stride-4 conv) + a class token + learned position embeddings; 6 pre-norm blocks with 4
    heads and MLP 256; final LayerNorm; linear 10 on the class token."""

    def __init__(self, patch=4, image=28, width=128, depth=6, heads=4, hidden=256, classes=10):
        super().__init__()
        tokens = (image // patch) ** 2
        self.embed = nn.Conv2d(1, width, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, width))
        self.pos = nn.Parameter(torch.zeros(1, tokens + 1, width))
        self.blocks = nn.Sequential(*[EncoderBlock(width, heads, hidden) for _ in range(depth)])
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, classes)
        nn.init.trunc_normal_(self.pos, std=0.02)
        nn.init.trunc_normal_(self.cls, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2)  # [B, 49, width]
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


class MLP(nn.Module):
    """784-256-128-10 with ReLU (PyTorch's default initialisation, as the kasmina config)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(),
                                 nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x):
        return self.net(x)


BUILDERS = {"resnet": ResNet, "vit": ViT, "mlp": MLP}


def parameter_count(model):
    return sum(p.numel() for p in model.parameters())


def build_model(name):
    """The network `name`; raises if its parameter count is not the one of its kasmina config."""
    model = BUILDERS[name]()
    n = parameter_count(model)
    if n != EXPECTED_PARAMETERS[name]:
        raise AssertionError(f"{name}: {n:,} parameters, expected {EXPECTED_PARAMETERS[name]:,}")
    return model
