"""LeNet-5 as the review trains it, with batch normalisation wherever you ask for it.

conv1 6@5x5 -> avg-pool 2 -> conv2 16@5x5 -> avg-pool 2 -> conv3 120@5x5 -> fc1 84 -> fc2 10,
tanh between layers, input 1x32x32: 61,706 parameters without BN (LeCun et al. 1998 had about 60,000: their
C3 connects each map to some of S2's maps only, conv2 here to all).

BN goes before the nonlinearity by default, ``z = g(BN(Wu))`` (paper, Sec. 3.2); the
layer in front of it then loses its bias, since BN's beta takes that role. With
``bn_position="after"`` it normalises the nonlinearity's output and the bias stays.

Also here: :class:`PaperMLP`, the network of the paper's own MNIST experiment (Sec. 4.1:
three fully connected hidden layers of 100 sigmoid units), :class:`ConvNet`, a plain stack of
convolutions in LeNet's style whose depth is free (the depth chapter's), and :class:`BNNoise`, the
"noisy BN" of Santurkar et al. (2018): random noise after each BN layer whose mean and
variance change at every training step.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from bnreview import batchnorm

BN_LAYERS = ("conv1", "conv2", "conv3", "fc1")
MLP_DEPTH = 3  # the paper's MLP: three hidden layers
MODELS = ("lenet", "mlp", "convnet")
CONV_WIDTH = 8  # channels of every ConvNet layer
BN_IMPLS = ("ours", "torch")
BN_POSITIONS = ("before", "after")
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}


def mlp_layers(depth: int = MLP_DEPTH) -> tuple[str, ...]:
    """The hidden layers of a :class:`PaperMLP` with ``depth`` of them: fc1, fc2, ..."""
    return tuple(f"fc{i}" for i in range(1, depth + 1))


def conv_layers(depth: int) -> tuple[str, ...]:
    """The convolutions of a :class:`ConvNet` with ``depth`` of them: conv1, conv2, ..."""
    return tuple(f"conv{i}" for i in range(1, depth + 1))


MLP_LAYERS = mlp_layers()  # the paper's MLP's hidden layers: fc1, fc2, fc3


def bn_layers(model: str, depth: int = MLP_DEPTH) -> tuple[str, ...]:
    """The layers of ``model`` ("lenet"; "mlp" or "convnet" with ``depth`` hidden layers) that can take BN."""
    if model == "lenet":
        return BN_LAYERS
    return conv_layers(depth) if model == "convnet" else mlp_layers(depth)


def resolve_bn_layers(bn: str | Iterable[str] | None, layers: tuple[str, ...] = BN_LAYERS) -> tuple[str, ...]:
    """Normalise a BN placement to a tuple in network order.

    Accepts ``None``/``()``/``"none"`` (no BN), ``"all"`` (every layer of ``layers``), one
    layer name, a comma-separated string, or any iterable of names from ``layers``
    (LeNet's ``BN_LAYERS`` by default, ``MLP_LAYERS`` for :class:`PaperMLP`). Spaces around
    names are ignored, and ``["all"]``/``["none"]`` mean what ``"all"``/``"none"`` do.
    """
    accepted = f"any of {', '.join(layers)} (a name, a comma-separated string or a list of names), 'all' or 'none'"
    if isinstance(bn, str):
        names = [name.strip() for name in bn.split(",")]
    elif bn is None or (isinstance(bn, Iterable) and all(isinstance(name, str) for name in bn)):
        names = [name.strip() for name in (bn or ())]
    else:
        raise ValueError(f"bn={bn!r} is invalid; accepted: {accepted}")
    names = [name for name in names if name]
    if names in (["none"], []):
        return ()
    if names == ["all"]:
        return tuple(layers)
    unknown = [name for name in names if name not in layers]
    if unknown:
        raise ValueError(f"unknown BN layer {unknown[0]!r} in bn={bn!r}; accepted: {accepted}")
    return tuple(layer for layer in layers if layer in names)


def _check_choice(kind: str, value, accepted) -> None:
    if value not in accepted:
        raise ValueError(f"unknown {kind} {value!r}; accepted: {', '.join(map(repr, accepted))}")


def bn_module(kind: str, num_features: int, bn_impl: str) -> nn.Module:
    """A ``BatchNorm1d``/``BatchNorm2d`` from our implementation or torch's (identical constructors)."""
    _check_choice("bn_impl", bn_impl, BN_IMPLS)
    source = batchnorm if bn_impl == "ours" else nn
    return getattr(source, kind)(num_features)


class BNNoise(nn.Module):
    """Noise after a BN layer whose mean and variance are random and change at every step.

    Santurkar et al. (2018), Sec. 2.1: "noisy" BN perturbs each activation of each example
    with i.i.d. noise from a non-zero-mean, non-unit-variance distribution whose parameters
    change at every step. Here, at training step ``t`` and for each channel ``c``:

        y = s[t, c] * x + e,   e ~ N(m[t, c], v[t, c]^2) drawn for every activation,
        s[t, c] ~ U(1 / (1 + strength), 1 + strength),  m[t, c] ~ U(-strength, strength),
        v[t, c] ~ U(0, strength).

    So the mean of a unit's output moves by up to ``strength`` and its standard deviation is
    rescaled by a factor between 1/(1 + strength) and 1 + strength, differently at each step.
    The draws are seeded by ``(seed, layer index, step)``; the step counter is a buffer, so a
    probe that restores the buffers leaves the noise sequence unchanged. Eval mode: identity.
    """

    def __init__(self, strength: float, seed: int = 0, index: int = 0):
        super().__init__()
        if not strength > 0:
            raise ValueError(f"BNNoise strength must be > 0, got {strength!r}")
        self.strength, self.seed, self.index = float(strength), int(seed), int(index)
        self.register_buffer("step", torch.tensor(0, dtype=torch.long))

    def extra_repr(self) -> str:
        """The noise's settings, for ``print(model)``."""
        return f"strength={self.strength}, seed={self.seed}, index={self.index}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with this step's noise in training; ``x`` itself in evaluation."""
        if not self.training:
            return x
        g = torch.Generator(device=x.device)
        g.manual_seed((self.seed * 1_000_003 + self.index * 7_919 + int(self.step)) % (2**63))
        self.step.add_(1)
        shape = [1, x.shape[1]] + [1] * (x.dim() - 2)
        a = self.strength

        def uniform(lo: float, hi: float) -> torch.Tensor:
            return (lo + (hi - lo) * torch.rand(x.shape[1], generator=g, device=x.device, dtype=x.dtype)).view(shape)

        scale, mean, std = uniform(1 / (1 + a), 1 + a), uniform(-a, a), uniform(0.0, a)
        noise = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
        return x * scale + mean + std * noise


def noise_modules(layers: tuple[str, ...], strength: float, seed: int) -> nn.ModuleDict:
    """One :class:`BNNoise` per BN layer (empty when ``strength`` is 0: the model is unchanged)."""
    if not strength:
        return nn.ModuleDict()
    return nn.ModuleDict({layer: BNNoise(strength, seed, i) for i, layer in enumerate(layers)})


def init_gaussian(model: nn.Module, std: float) -> nn.Module:
    """Every weight of every linear and convolutional layer from N(0, std^2), every bias 0 (BN keeps its gamma=1, beta=0)."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.normal_(module.weight, 0.0, std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


class _FirstConvFunction(torch.autograd.Function):
    """A convolution whose input needs no gradient (a network's first layer), with the weight's gradient as a convolution.

    dl/dW[o, c, i, j] = sum_n sum_p x[n, c, p + (i, j)] * g[n, o, p]: the input (images as channels)
    convolved with the output's gradient (images as input channels) as the kernel. For LeNet's conv1
    (one input channel) oneDNN ran this forward convolution twice as fast as its own backward pass on
    the machine where it was written. Which wins depends on the CPU: on an Intel Xeon with AVX-512,
    autograd's backward is faster, and LeNet's step 9% (no BN) and 5% (our BN) shorter with it
    (``benchmarks/first_conv.py``). Switching rounds differently, so it would retrain every LeNet run.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.has_bias = bias is not None
        return F.conv2d(x, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        grad_weight = F.conv2d(x.transpose(0, 1), grad.transpose(0, 1)).transpose(0, 1)  # (C_out, C_in, k, k)
        grad_bias = grad.sum((0, 2, 3)) if ctx.has_bias else None  # dl/db_o = sum_n sum_p g[n, o, p]
        return None, grad_weight, grad_bias


class _Pool2Function(torch.autograd.Function):
    """2x2 average pooling with stride 2 (LeNet's subsampling) as four strided adds, its gradient as a repeat.

    y[n, c, i, j] = (x[2i, 2j] + x[2i + 1, 2j] + x[2i, 2j + 1] + x[2i + 1, 2j + 1]) / 4, so
    dl/dx[n, c, p, q] = g[n, c, p // 2, q // 2] / 4. On 1 to 2 CPU threads this runs the forward pass
    about 3x and the backward pass about 3x faster than ``F.avg_pool2d`` (``benchmarks/trainer.py``).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return (x[:, :, 0::2, 0::2] + x[:, :, 1::2, 0::2] + x[:, :, 0::2, 1::2] + x[:, :, 1::2, 1::2]) * 0.25

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return (grad * 0.25).repeat_interleave(2, -1).repeat_interleave(2, -2)


def pool2(x: torch.Tensor) -> torch.Tensor:
    """2x2 average pooling, stride 2, of ``(N, C, H, W)`` with even H and W: ``F.avg_pool2d(x, 2)``, faster."""
    if x.shape[-1] % 2 or x.shape[-2] % 2:
        return F.avg_pool2d(x, 2)
    return _Pool2Function.apply(x)


def _plain(conv: nn.Conv2d) -> bool:
    """Stride 1, no padding, no dilation, no groups: the convolutions the two fast paths below compute."""
    return conv.stride == (1, 1) and conv.padding == (0, 0) and conv.dilation == (1, 1) and conv.groups == 1


def first_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` for an input that needs no gradient, its weight gradient computed as a forward convolution."""
    if x.requires_grad or not torch.is_grad_enabled() or not _plain(conv):
        return conv(x)
    return _FirstConvFunction.apply(x, conv.weight, conv.bias)


def dense_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` where the kernel covers the whole input: a fully connected layer, (N, C, k, k) -> (N, C_out, 1, 1)."""
    if x.shape[-2:] != conv.kernel_size or not _plain(conv):
        return conv(x)
    return F.linear(x.flatten(1), conv.weight.flatten(1), conv.bias)[:, :, None, None]


class _BNNet(nn.Module):
    """What LeNet and PaperMLP share: a layer's nonlinearity with BN (and noise) where asked for.

    Subclasses set ``bn`` (ModuleDict layer -> BN), ``noise`` (layer -> BNNoise), ``bn_position`` and ``act``.
    """

    def _normalise(self, layer: str, z: torch.Tensor) -> torch.Tensor:
        z = self.bn[layer](z)
        return self.noise[layer](z) if layer in self.noise else z

    def block(self, layer: str, z: torch.Tensor, record: dict | None = None) -> torch.Tensor:
        """One layer's nonlinearity, with BN (and its noise, if any) before or after it where it was asked for."""
        normalise = layer in self.bn
        if normalise and self.bn_position == "before":
            z = self._normalise(layer, z)
        if record is not None:
            record[layer] = z.detach()
        a = self.act(z)
        if normalise and self.bn_position == "after":
            a = self._normalise(layer, a)
        return a


class LeNet(_BNNet):
    """LeNet-5 with optional batch normalisation after conv1, conv2, conv3 and fc1.

    ``bn_noise > 0`` adds a :class:`BNNoise` of that strength after every BN layer (seeded by ``noise_seed``);
    ``dropout > 0`` drops the inputs of fc1 and fc2 with that probability while training.
    """

    def __init__(self, bn=(), bn_impl: str = "ours", bn_position: str = "before", activation: str = "tanh",
                 bn_noise: float = 0.0, noise_seed: int = 0, dropout: float = 0.0):
        super().__init__()
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout={dropout!r} is invalid; accepted: a probability in [0, 1)")
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
        self.noise = noise_modules(self.bn_layers, bn_noise, noise_seed)
        self.act = ACTIVATIONS[activation]()
        # Dropout on the inputs of the two fully connected layers, where LeNet holds most of its
        # weights (Srivastava et al. 2014 drop hidden units of fully connected layers). None at p = 0:
        # the network, its parameters and its random numbers are then exactly those without dropout.
        self.dropout = nn.Dropout(dropout) if dropout else None

    def forward(self, x: torch.Tensor, record: dict | None = None) -> torch.Tensor:
        """Logits for a batch ``[N, 1, 32, 32]``; ``record`` (a dict) collects each layer's input to its nonlinearity."""
        x = pool2(self.block("conv1", first_conv(self.conv1, x), record))  # (N, 1, 32, 32) -> conv (N, 6, 28, 28) -> pool (N, 6, 14, 14)
        x = pool2(self.block("conv2", self.conv2(x), record))  # -> conv (N, 16, 10, 10) -> pool (N, 16, 5, 5)
        x = self.drop(self.block("conv3", dense_conv(self.conv3, x), record).flatten(1))  # -> conv (N, 120, 1, 1) -> (N, 120)
        x = self.drop(self.block("fc1", self.fc1(x), record))  # -> (N, 84)
        return self.fc2(x)  # -> (N, 10) logits

    def drop(self, x: torch.Tensor) -> torch.Tensor:
        """Dropout where the model has it (training only), else ``x``."""
        return x if self.dropout is None else self.dropout(x)


class PaperMLP(_BNNet):
    """The network of the paper's MNIST experiment (Sec. 4.1, Figure 1), and deeper ones like it.

    28x28 input, flattened -> fc1 100 -> fc2 100 -> fc3 100 -> out 10, sigmoid units by
    default, BN on any of the hidden layers fc1, fc2, fc3 (``"all"``: every one). ``depth``
    hidden layers instead of 3 give the same network made deeper (fc1 ... fc{depth}), the
    depth chapter's; with the default 3 it is built exactly as before depth existed. Same
    ``forward(x, record)`` protocol as :class:`LeNet`: ``record`` collects each hidden
    layer's input to its nonlinearity, so :func:`bnreview.probes.probe` works unchanged.
    """

    def __init__(self, bn=(), bn_impl: str = "ours", bn_position: str = "before", activation: str = "sigmoid",
                 bn_noise: float = 0.0, noise_seed: int = 0, width: int = 100, side: int = 28,
                 depth: int = MLP_DEPTH):
        super().__init__()
        if not (isinstance(depth, int) and depth >= 1):
            raise ValueError(f"depth={depth!r} is invalid; accepted: an integer >= 1 (hidden layers)")
        self.layers = mlp_layers(depth)
        self.bn_layers = resolve_bn_layers(bn, self.layers)
        _check_choice("bn_impl", bn_impl, BN_IMPLS)
        _check_choice("bn_position", bn_position, BN_POSITIONS)
        _check_choice("activation", activation, tuple(ACTIVATIONS))
        self.bn_position = bn_position
        for i, layer in enumerate(self.layers):  # created in this order, so a seed gives the same start as ever
            bias = not (layer in self.bn_layers and bn_position == "before")
            setattr(self, layer, nn.Linear(side * side if i == 0 else width, width, bias=bias))
        self.out = nn.Linear(width, 10)
        self.bn = nn.ModuleDict({layer: bn_module("BatchNorm1d", width, bn_impl) for layer in self.bn_layers})
        self.noise = noise_modules(self.bn_layers, bn_noise, noise_seed)
        self.act = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor, record: dict | None = None) -> torch.Tensor:
        """Logits for a batch ``[N, 1, 28, 28]`` (or ``[N, 784]``)."""
        x = x.flatten(1)  # (N, 784)
        for layer in self.layers:  # -> (N, width)
            x = self.block(layer, getattr(self, layer)(x), record)
        return self.out(x)


class ConvNet(_BNNet):
    """A plain convolutional network in LeNet's style whose depth is free: the depth chapter's other network.

    28x28 input -> conv1 (1 -> 8 channels) -> avg-pool 2 -> conv2 ... conv{depth} (8 -> 8) -> avg-pool 2 -> out 10.
    Every convolution is 3x3 with padding 1 (the side is kept), followed by tanh as in LeNet; with BN on a layer
    (``"all"``: every one), BN goes before its tanh and the convolution loses its bias. Eight channels keep a
    16-layer network at about 20 ms a step on one thread. The middle layers see 14x14 maps; the output layer
    reads the last one's 8x7x7 values. Same ``forward(x, record)`` protocol as :class:`LeNet`.
    """

    def __init__(self, bn=(), bn_impl: str = "ours", bn_position: str = "before", activation: str = "tanh",
                 bn_noise: float = 0.0, noise_seed: int = 0, depth: int = MLP_DEPTH, width: int = CONV_WIDTH):
        super().__init__()
        if not (isinstance(depth, int) and depth >= 1):
            raise ValueError(f"depth={depth!r} is invalid; accepted: an integer >= 1 (convolutions)")
        self.layers = conv_layers(depth)
        self.bn_layers = resolve_bn_layers(bn, self.layers)
        _check_choice("bn_impl", bn_impl, BN_IMPLS)
        _check_choice("bn_position", bn_position, BN_POSITIONS)
        _check_choice("activation", activation, tuple(ACTIVATIONS))
        self.bn_position = bn_position
        for i, layer in enumerate(self.layers):
            bias = not (layer in self.bn_layers and bn_position == "before")
            setattr(self, layer, nn.Conv2d(1 if i == 0 else width, width, 3, padding=1, bias=bias))
        self.out = nn.Linear(width * 7 * 7, 10)
        self.bn = nn.ModuleDict({layer: bn_module("BatchNorm2d", width, bn_impl) for layer in self.bn_layers})
        self.noise = noise_modules(self.bn_layers, bn_noise, noise_seed)
        self.act = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor, record: dict | None = None) -> torch.Tensor:
        """Logits for a batch ``[N, 1, 28, 28]``."""
        x = pool2(self.block("conv1", self.conv1(x), record))  # (N, 1, 28, 28) -> conv (N, 8, 28, 28) -> pool (N, 8, 14, 14)
        for layer in self.layers[1:]:  # -> (N, 8, 14, 14)
            x = self.block(layer, getattr(self, layer)(x), record)
        return self.out(pool2(x).flatten(1))  # -> pool (N, 8, 7, 7) -> (N, 392) -> (N, 10) logits


def count_parameters(model: nn.Module) -> int:
    """Number of learned values (weights, biases, BN's gamma and beta)."""
    return sum(p.numel() for p in model.parameters())

