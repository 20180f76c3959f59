"""LeNet-5 as the review trains it, with batch normalisation wherever you ask for it.

conv1 6@5x5 -> avg-pool 2 -> conv2 16@5x5 -> avg-pool 2 -> conv3 120@5x5 -> fc1 84 -> fc2 10,
tanh between layers, input 1x32x32: 61,706 parameters without BN (LeCun et al. 1998).

BN goes before the nonlinearity by default, ``z = g(BN(Wu))`` (paper, Sec. 3.2); the
layer in front of it then loses its bias, since BN's beta takes that role. With
``bn_position="after"`` it normalises the nonlinearity's output and the bias stays.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from bnreview import batchnorm

BN_LAYERS = ("conv1", "conv2", "conv3", "fc1")
BN_IMPLS = ("ours", "torch")
BN_POSITIONS = ("before", "after")
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}


def resolve_bn_layers(bn: str | Iterable[str] | None) -> tuple[str, ...]:
    """Normalise a BN placement to a tuple in network order.

    Accepts ``None``/``()``/``"none"`` (no BN), ``"all"`` (all four layers), one layer
    name, a comma-separated string, or any iterable of names from ``BN_LAYERS``.
    """
    if bn is None or bn == "none":
        return ()
    if bn == "all":
        return BN_LAYERS
    names = [name.strip() for name in bn.split(",")] if isinstance(bn, str) else list(bn)
    unknown = [name for name in names if name not in BN_LAYERS]
    if unknown:
        raise ValueError(
            f"unknown BN layer {unknown[0]!r}; accepted: any of {', '.join(BN_LAYERS)}, 'all' or 'none'"
        )
    return tuple(layer for layer in BN_LAYERS if layer in names)


def _check_choice(kind: str, value, accepted) -> None:
    if value not in accepted:
        raise ValueError(f"unknown {kind} {value!r}; accepted: {', '.join(map(repr, accepted))}")


def bn_module(kind: str, num_features: int, bn_impl: str) -> nn.Module:
    """A ``BatchNorm1d``/``BatchNorm2d`` from our implementation or torch's (identical constructors)."""
    _check_choice("bn_impl", bn_impl, BN_IMPLS)
    source = batchnorm if bn_impl == "ours" else nn
    return getattr(source, kind)(num_features)


class LeNet(nn.Module):
    """LeNet-5 with optional batch normalisation after conv1, conv2, conv3 and fc1."""

    def __init__(self, bn=(), bn_impl: str = "ours", bn_position: str = "before", activation: str = "tanh"):
        super().__init__()
        self.bn_layers = resolve_bn_layers(bn)
        _check_choice("bn_impl", bn_impl, BN_IMPLS)
        _check_choice("bn_position", bn_position, BN_POSITIONS)
        _check_choice("activation", activation, tuple(ACTIVATIONS))
        self.bn_position = bn_position

        def has_bias(layer: str) -> bool:
            return not (layer in self.bn_layers and bn_position == "before")

        self.conv1 = nn.Conv2d(1, 6, 5, bias=has_bias("conv1"))
        self.conv2 = nn.Conv2d(6, 16, 5, bias=has_bias("conv2"))
        self.conv3 = nn.Conv2d(16, 120, 5, bias=has_bias("conv3"))
        self.fc1 = nn.Linear(120, 84, bias=has_bias("fc1"))
        self.fc2 = nn.Linear(84, 10)
        widths = {"conv1": 6, "conv2": 16, "conv3": 120, "fc1": 84}
        self.bn = nn.ModuleDict(
            {
                layer: bn_module("BatchNorm1d" if layer == "fc1" else "BatchNorm2d", widths[layer], bn_impl)
                for layer in self.bn_layers
            }
        )
        self.act = ACTIVATIONS[activation]()
        self.pool = nn.AvgPool2d(2)

    def block(self, layer: str, z: torch.Tensor, record: dict | None = None) -> torch.Tensor:
        """One layer's nonlinearity, with BN before or after it where it was asked for."""
        normalise = layer in self.bn
        if normalise and self.bn_position == "before":
            z = self.bn[layer](z)
        if record is not None:
            record[layer] = z.detach()
        a = self.act(z)
        if normalise and self.bn_position == "after":
            a = self.bn[layer](a)
        return a

    def forward(self, x: torch.Tensor, record: dict | None = None) -> torch.Tensor:
        """Logits for a batch ``[N, 1, 32, 32]``; ``record`` (a dict) collects each layer's input to its nonlinearity."""
        x = self.pool(self.block("conv1", self.conv1(x), record))
        x = self.pool(self.block("conv2", self.conv2(x), record))
        x = self.block("conv3", self.conv3(x), record).flatten(1)
        x = self.block("fc1", self.fc1(x), record)
        return self.fc2(x)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
