"""What decides a run: :class:`TrainConfig`, the quick profile, the data a config trains on, and devices.

``TrainConfig(lr=0.9, bn="all")`` validates every field when it is built (a bad value fails
at once, naming what is accepted); every field is part of the cache key. The quick profile
(``BNREVIEW_QUICK=1``, CI's short notebook runs) shrinks a config to a data subset and few
epochs (:func:`for_profile`). :func:`data_split`
gives the images a config trains on, holds out for validation, or tests on: the held-out images
and a reduced training set are fixed by their own seeds, whatever the run's seed.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace

import torch

from bnreview.data import DATASETS, TRAIN_SIZE, load_mnist
from bnreview.models import (ACTIVATIONS, BN_IMPLS, BN_POSITIONS, MLP_DEPTH, MODELS, ConvNet, LeNet, PaperMLP,
                             bn_layers, init_gaussian, resolve_bn_layers)

QUICK_ENV = "BNREVIEW_QUICK"
SUBSET_SEED = 1234  # fixes which images a reduced training set holds, whatever the run's seed
VALIDATION_SEED = 4321  # fixes which training images are held out for validation, whatever the run's seed
PARTS = ("train", "validation", "test")


def is_quick() -> bool:
    """True in the quick profile (``BNREVIEW_QUICK=1``): CI's short notebook runs."""
    return os.environ.get(QUICK_ENV, "") not in ("", "0")


def for_profile(config: TrainConfig, quick_n_train: int = 2000, quick_epochs: int = 1,
                quick_steps: int | None = None) -> TrainConfig:
    """The config itself in a full run; in the quick profile, shrunk to a data subset and few epochs.

    A config that counts ``steps`` is cut to ``quick_steps`` (default: ``quick_epochs`` passes
    over the quick subset); probes and evaluations then come at least every 5 and 25 steps.
    """
    if not is_quick():
        return config
    n_train = quick_n_train if config.n_train is None else min(config.n_train, quick_n_train)
    probe_every = min(config.probe_every, 5) if config.probe_every else 0
    changes = dict(n_train=n_train, epochs=min(config.epochs, quick_epochs), probe_every=probe_every)
    if config.steps is not None:
        if quick_steps is None:
            quick_steps = quick_epochs * -(-n_train // config.batch_size)
        changes["steps"] = min(config.steps, quick_steps)
    if config.eval_every:
        changes["eval_every"] = min(config.eval_every, 25)
    return replace(config, **changes)


def review_config(**changes) -> TrainConfig:
    """The review's setting, shrunk in the quick profile: tanh LeNet, SGD at lr 0.9, 10 epochs, seed 0.

    The review does not state its batch size; we use 64. Layer statistics are probed every
    50 steps so that the motivation chapter can show them without another run.
    """
    return for_profile(TrainConfig(**{"lr": 0.9, "epochs": 10, "batch_size": 64, "probe_every": 50, **changes}),
                       quick_epochs=2)


def pick(full: Sequence, quick: Sequence) -> tuple:
    """``full`` in a full run, ``quick`` in the quick profile (a grid of learning rates, batch sizes, ...)."""
    return tuple(quick) if is_quick() else tuple(full)


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    """Mini-batches in one pass over ``n_images``: a last batch of one is dropped (BN needs two to compute a variance)."""
    full, rest = divmod(n_images, batch_size)
    return full + (rest >= 2)


DEVICE_FORMS = "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"


def _device_is_well_formed(device) -> bool:
    if not isinstance(device, str):
        return False
    kind, _, index = device.partition(":")
    if kind in ("auto", "cpu", "mps"):
        return not _
    return kind == "cuda" and (not _ or index.isdigit())


def available_devices() -> list[str]:
    """The devices this machine can train on: cpu, and cuda / mps where present."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found.append("mps")
    return found


def resolve_device(device: str) -> torch.device:
    """The torch device ``device`` names; ``"auto"``: CUDA where present, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def check_device(device: str) -> torch.device:
    """The torch device for ``device``, or a ValueError saying why it can't be used here and what can."""
    if not _device_is_well_formed(device):
        raise ValueError(f"device={device!r} is invalid; accepted: {DEVICE_FORMS}")
    if device != "auto" and device not in available_devices():
        raise ValueError(f"device {device!r} is not available here; available: {', '.join(available_devices())}")
    return resolve_device(device)


def _integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)

@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a run's numbers. Validated when built.

    Numbers may be any integral or real type (numpy's included) and are stored as Python
    ``int``/``float``, so that equal settings give equal configs and cache keys.
    """

    lr: float
    epochs: int = 10
    batch_size: int = 64
    momentum: float = 0.0
    weight_decay: float = 0.0
    lr_decay: float = 1.0  # after every epoch the learning rate is multiplied by this (exponential decay); 1: constant
    bn: tuple[str, ...] = ()
    bn_impl: str = "ours"
    bn_position: str = "before"
    activation: str = "tanh"
    seed: int = 0
    n_train: int | None = None
    probe_every: int = 0
    device: str = "auto"
    model: str = "lenet"  # "lenet" (the review's), "mlp" (the paper's Sec. 4.1 network) or "convnet" (28x28 input)
    init_std: float | None = None  # None: PyTorch's default initialisation; else weights ~ N(0, init_std^2), biases 0
    steps: int | None = None  # train for this many SGD steps (epochs is then ignored); None: ``epochs`` passes
    eval_every: int = 0  # test accuracy every this many steps (and at step 0); 0: once per epoch only
    bn_noise: float = 0.0  # strength of the noise after each BN layer (models.BNNoise); 0: none
    dataset: str = "mnist"  # "mnist" or "fashion-mnist" (bnreview.data.DATASETS)
    val_size: int = 0  # training images held out for validation (never trained on); 0: none
    dropout: float = 0.0  # LeNet only: dropout probability on the inputs of fc1 and fc2; 0: none
    hidden_layers: int = MLP_DEPTH  # the MLP's hidden layers of 100 units (the paper's: 3), the ConvNet's convolutions

    def __post_init__(self):
        def need(ok: bool, name: str, accepted: str):
            if not ok:
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid; accepted: {accepted}")

        def integer(name: str, low: int, accepted: str, optional: bool = False):
            value = getattr(self, name)
            if optional and value is None:
                return
            need(_integer(value) and value >= low, name, accepted)
            object.__setattr__(self, name, int(value))

        def real(name: str, ok, accepted: str, optional: bool = False):
            value = getattr(self, name)
            if optional and value is None:
                return
            need(_real(value) and ok(value), name, accepted)
            object.__setattr__(self, name, float(value))

        def choice(name: str, accepted):
            need(isinstance(getattr(self, name), str) and getattr(self, name) in accepted, name,
                 ", ".join(map(repr, accepted)))

        choice("model", MODELS)
        choice("dataset", tuple(DATASETS))
        integer("hidden_layers", 1, "an integer >= 1 (the MLP's hidden layers, the ConvNet's convolutions)")
        need(self.model != "lenet" or self.hidden_layers == MLP_DEPTH, "hidden_layers",
             f"{MLP_DEPTH} for LeNet (only the MLP's and the ConvNet's depth can change)")
        object.__setattr__(self, "bn", resolve_bn_layers(self.bn, bn_layers(self.model, self.hidden_layers)))
        real("lr", lambda v: v > 0, "a finite number > 0")
        integer("epochs", 1, "an integer >= 1")
        integer("batch_size", 2, "an integer >= 2 (BN needs two examples to compute a variance)")
        real("momentum", lambda v: 0 <= v < 1, "a number in [0, 1)")
        real("weight_decay", lambda v: v >= 0, "a finite number >= 0")
        real("lr_decay", lambda v: 0 < v <= 1, "a number in (0, 1] (1: a constant learning rate)")
        choice("bn_impl", BN_IMPLS)
        choice("bn_position", BN_POSITIONS)
        choice("activation", tuple(ACTIVATIONS))
        integer("seed", 0, "an integer >= 0")
        integer("val_size", 0, f"an integer from 0 to {TRAIN_SIZE - self.batch_size:,} (training images held out)")
        need(self.val_size <= TRAIN_SIZE - self.batch_size, "val_size",
             f"an integer from 0 to {TRAIN_SIZE - self.batch_size:,} (training images held out)")
        trainable = TRAIN_SIZE - self.val_size
        n_train_accepted = (f"None (all {trainable:,} training images) or an integer from batch_size "
                            f"({self.batch_size}) to {trainable:,}")
        integer("n_train", self.batch_size, n_train_accepted, optional=True)
        need(self.n_train is None or self.n_train <= trainable, "n_train", n_train_accepted)
        integer("probe_every", 0, "an integer >= 0 (0: no probes)")
        need(_device_is_well_formed(self.device), "device", DEVICE_FORMS)
        real("init_std", lambda v: v > 0, "None or a finite number > 0", optional=True)
        integer("steps", 1, "None (train for `epochs`) or an integer >= 1", optional=True)
        integer("eval_every", 0, "an integer >= 0 (0: evaluate once per epoch)")
        real("bn_noise", lambda v: v >= 0, "a finite number >= 0 (0: no noise)")
        need(not self.bn_noise or self.bn, "bn_noise", "0 when there is no BN layer (the noise goes after BN)")
        real("dropout", lambda v: 0 <= v < 1, "a number in [0, 1)")
        need(not self.dropout or self.model == "lenet", "dropout", "0 for " + ("the paper's MLP" if self.model == "mlp" else "the ConvNet") + " (dropout is LeNet's only)")

    @property
    def input_size(self) -> int:
        """Side of the input images: 32 (padded) for LeNet, 28 for the paper's MLP and the ConvNet."""
        return 32 if self.model == "lenet" else 28

    def build_model(self) -> LeNet | PaperMLP | ConvNet:
        """A freshly initialised network as this config describes it (seed the RNG first for a fixed start)."""
        kwargs = dict(bn=self.bn, bn_impl=self.bn_impl, bn_position=self.bn_position, activation=self.activation,
                      bn_noise=self.bn_noise, noise_seed=self.seed)
        if self.model == "mlp":
            model = PaperMLP(**kwargs, depth=self.hidden_layers)
        elif self.model == "convnet":
            model = ConvNet(**kwargs, depth=self.hidden_layers)
        else:
            model = LeNet(**kwargs, dropout=self.dropout)
        return model if self.init_std is None else init_gaussian(model, self.init_std)

    def to_dict(self) -> dict:
        """JSON-friendly fields (what a History and the cache store)."""
        return {**asdict(self), "bn": list(self.bn)}

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """The config ``to_dict`` gave (fields a newer bnreview dropped are ignored)."""
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in values.items() if k in known}
        return cls(**{**kept, "bn": tuple(kept.get("bn", ()))})

    def describe(self) -> str:
        """A one-line summary for captions and progress bars."""
        layers = "+".join(self.bn) if len(self.bn) <= 4 else f"all {len(self.bn)} layers"  # many: the deep networks'
        bn = "no BN" if not self.bn else f"BN on {layers} ({self.bn_position}, {self.bn_impl})"
        if self.bn_noise:
            bn += f" + noise {self.bn_noise:g}"
        data = f"{TRAIN_SIZE - self.val_size:,}" if self.n_train is None else f"{self.n_train:,}"
        length = (f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}" if self.steps is None
                  else f"{self.steps:,} step{'s' if self.steps != 1 else ''}")
        text = f"lr {self.lr:g}, {bn}, batch {self.batch_size}, {length}, {data} images, seed {self.seed}"
        if self.model != "lenet":
            kind = "convolutions" if self.model == "convnet" else "hidden layers"
            depth = "" if self.hidden_layers == MLP_DEPTH else f", {self.hidden_layers} {kind}"
            text = f"{self.model} ({self.activation}{depth}), " + text
        if self.dataset != "mnist":
            text = f"{DATASETS[self.dataset].display}: " + text
        if self.val_size:
            text += f", {self.val_size:,} held out"
        if self.dropout:
            text += f", dropout {self.dropout:g}"
        if self.momentum:
            text += f", momentum {self.momentum:g}"
        if self.weight_decay:
            text += f", weight decay {self.weight_decay:g}"
        if self.lr_decay != 1:
            text += f", lr x{self.lr_decay:g} per epoch"
        if self.init_std is not None:
            text += f", init N(0, {self.init_std:g}^2)"
        return text


def _split(config: TrainConfig, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the training images ``config`` trains on, and of those it holds out for validation.

    The held-out images are fixed by ``VALIDATION_SEED``, a reduced training set by
    ``SUBSET_SEED``: neither depends on the run's seed. With nothing held out, the training
    indices are those of the whole set in order (or the subset), exactly as before validation existed.
    ``size``: the number of training images (60,000; fewer in the tests' small data sets).
    """
    everything = torch.arange(size)
    if config.val_size:
        if config.val_size >= size:
            raise ValueError(f"val_size={config.val_size} is invalid here: the training set holds only {size:,} images")
        shuffled = torch.randperm(size, generator=torch.Generator().manual_seed(VALIDATION_SEED))
        held_out, everything = shuffled[:config.val_size], shuffled[config.val_size:].sort().values
    else:
        held_out = everything[:0]
    if config.n_train is not None and config.n_train < len(everything):
        keep = torch.randperm(len(everything), generator=torch.Generator().manual_seed(SUBSET_SEED))[:config.n_train]
        everything = everything[keep]
    return everything, held_out


def data_split(config: TrainConfig, part: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels of one part of ``config``'s data: what it trains on, what it holds out, or the test set.

    ``"train"``: the training images minus the ``val_size`` held out, cut to the fixed ``n_train``
    subset if asked; ``"validation"``: the held-out images (never trained on); ``"test"``: the test set.
    """
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; accepted: {', '.join(map(repr, PARTS))}")
    images, labels = load_mnist(train=part != "test", size=config.input_size, dataset=config.dataset)
    if part == "test":
        return images, labels
    training, held_out = _split(config, len(labels))
    index = training if part == "train" else held_out
    if part == "train" and len(index) == len(labels):
        return images, labels  # the whole set, in order: no copy
    return images[index], labels[index]

