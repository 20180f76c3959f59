"""Train LeNet on MNIST with plain SGD and cross-entropy, as the review does, and record everything.

``train(TrainConfig(lr=0.9, bn="all"))`` returns a :class:`History`: per-epoch losses and
accuracies, every step's loss, per-class accuracy, the confusion matrix and a fixed set of
test predictions for the figures. Runs are deterministic on CPU: same config, same numbers on
the same kind of CPU (another instruction set rounds differently, and a chaotic run may end elsewhere).

A run *diverges* when its loss stops being a number or explodes: a non-finite step loss,
or a mean over the last ``DIVERGENCE_WINDOW`` steps above ``DIVERGENCE_LOSS`` = 10 ln 10
(ten times the loss of guessing uniformly among ten classes). With tanh units the loss of
an exploding run stays finite (it climbs past 1e6 at lr 1e5), so non-finiteness alone misses
it. A diverged run stops cleanly with ``diverged=True`` and the step it happened at.

Beyond the review's setting, a config can ask for the paper's own MNIST network
(``model="mlp"``, Sec. 4.1), Gaussian initial weights (``init_std``), a fixed number of SGD
steps instead of epochs (``steps``), test accuracy every few steps (``eval_every``, recorded
in ``History.eval_steps``/``eval_acc``), noise after each BN layer (``bn_noise``,
Santurkar et al. 2018), dropout (``dropout``), Fashion-MNIST (``dataset``) and a validation
split held out of the training set (``val_size``: accuracy on it per epoch in
``History.val_acc``, for choosing settings without looking at the test set). Every field is
part of the cache key.
"""

from __future__ import annotations

import math
import numbers
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from bnreview.data import DATASETS, TRAIN_SIZE, batches, load_mnist
from bnreview.models import (ACTIVATIONS, BN_IMPLS, BN_POSITIONS, MODELS, LeNet, PaperMLP, init_gaussian,
                             resolve_bn_layers)

QUICK_ENV = "BNREVIEW_QUICK"
PROGRESS_ENV = "BNREVIEW_PROGRESS"  # "0" hides progress bars (the book's build sets it: a bar frozen in a page helps nobody)
# Intra-op threads while training. PyTorch's CPU kernels split their reductions by thread, so
# the thread count changes the rounding, and a chaotic run (high lr) ends somewhere else:
# pinning it makes the same config give the same numbers on machines of the same CPU kind (across
# kinds, e.g. AVX-512 against AVX2, the kernels round differently). 2 = this project's CPUs.
TRAIN_THREADS = 2
DIVERGENCE_LOSS = 10 * math.log(10)
DIVERGENCE_WINDOW = 50
SUBSET_SEED = 1234  # fixes which images a reduced training set holds, whatever the run's seed
VALIDATION_SEED = 4321  # fixes which training images are held out for validation, whatever the run's seed
SAMPLE_SEED = 2015  # fixes the test images shown in the prediction grids
N_SAMPLES = 40
EVAL_BATCH = 1000


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
            quick_steps = quick_epochs * -(-min(n_train, 60_000) // config.batch_size)
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
    bn: tuple[str, ...] = ()
    bn_impl: str = "ours"
    bn_position: str = "before"
    activation: str = "tanh"
    seed: int = 0
    n_train: int | None = None
    probe_every: int = 0
    device: str = "auto"
    model: str = "lenet"  # "lenet" (the review's) or "mlp" (the paper's Sec. 4.1 network, 28x28 input)
    init_std: float | None = None  # None: PyTorch's default initialisation; else weights ~ N(0, init_std^2), biases 0
    steps: int | None = None  # train for this many SGD steps (epochs is then ignored); None: ``epochs`` passes
    eval_every: int = 0  # test accuracy every this many steps (and at step 0); 0: once per epoch only
    bn_noise: float = 0.0  # strength of the noise after each BN layer (models.BNNoise); 0: none
    dataset: str = "mnist"  # "mnist" or "fashion-mnist" (bnreview.data.DATASETS)
    val_size: int = 0  # training images held out for validation (never trained on); 0: none
    dropout: float = 0.0  # LeNet only: dropout probability on the inputs of fc1 and fc2; 0: none

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

        choice("model", tuple(MODELS))
        choice("dataset", tuple(DATASETS))
        object.__setattr__(self, "bn", resolve_bn_layers(self.bn, MODELS[self.model]))
        real("lr", lambda v: v > 0, "a finite number > 0")
        integer("epochs", 1, "an integer >= 1")
        integer("batch_size", 2, "an integer >= 2 (BN needs two examples to compute a variance)")
        real("momentum", lambda v: 0 <= v < 1, "a number in [0, 1)")
        real("weight_decay", lambda v: v >= 0, "a finite number >= 0")
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
        need(not self.dropout or self.model == "lenet", "dropout", "0 for the paper's MLP (dropout is LeNet's only)")

    @property
    def input_size(self) -> int:
        """Side of the input images: 32 (padded) for LeNet, 28 for the paper's MLP."""
        return 28 if self.model == "mlp" else 32

    def build_model(self) -> LeNet | PaperMLP:
        kwargs = dict(bn=self.bn, bn_impl=self.bn_impl, bn_position=self.bn_position, activation=self.activation,
                      bn_noise=self.bn_noise, noise_seed=self.seed)
        model = PaperMLP(**kwargs) if self.model == "mlp" else LeNet(**kwargs, dropout=self.dropout)
        return model if self.init_std is None else init_gaussian(model, self.init_std)

    def to_dict(self) -> dict:
        return {**asdict(self), "bn": list(self.bn)}

    def describe(self) -> str:
        """A one-line summary for captions and progress bars."""
        bn = "no BN" if not self.bn else f"BN on {'+'.join(self.bn)} ({self.bn_position}, {self.bn_impl})"
        if self.bn_noise:
            bn += f" + noise {self.bn_noise:g}"
        data = f"{TRAIN_SIZE - self.val_size:,}" if self.n_train is None else f"{self.n_train:,}"
        length = f"{self.epochs} epochs" if self.steps is None else f"{self.steps:,} steps"
        text = f"lr {self.lr:g}, {bn}, batch {self.batch_size}, {length}, {data} images, seed {self.seed}"
        if self.model != "lenet":
            text = f"{self.model} ({self.activation}), " + text
        if self.dataset != "mnist":
            text = f"{DATASETS[self.dataset].display}: " + text
        if self.val_size:
            text += f", {self.val_size:,} held out"
        if self.dropout:
            text += f", dropout {self.dropout:g}"
        if self.momentum:
            text += f", momentum {self.momentum:g}"
        if self.init_std is not None:
            text += f", init N(0, {self.init_std:g}^2)"
        return text


@dataclass
class History:
    """What a run produced. ``to_dict``/``from_dict`` round-trip it through JSON-friendly types."""

    config: dict
    train_loss: list[float] = field(default_factory=list)  # mean step loss over the epoch
    train_acc: list[float] = field(default_factory=list)  # accuracy on the epoch's batches, as trained
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list, compare=False)  # training time, evaluation excluded
    step_loss: list[float] = field(default_factory=list)
    steps_per_epoch: int = 0
    per_class_acc: list[float] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)  # rows: true class, columns: predicted
    sample_indices: list[int] = field(default_factory=list)
    sample_pred: list[int] = field(default_factory=list)
    sample_true: list[int] = field(default_factory=list)
    mistake_indices: list[int] = field(default_factory=list)
    mistake_pred: list[int] = field(default_factory=list)
    probe_steps: list[int] = field(default_factory=list)
    probes: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # layer -> statistic -> values
    diverged: bool = False
    diverged_step: int | None = None
    stopped: bool = False
    eval_steps: list[int] = field(default_factory=list)  # steps at which eval_acc was measured (eval_every > 0)
    eval_acc: list[float] = field(default_factory=list)  # test accuracy (eval mode) at those steps
    eval_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)  # per epoch, on the held-out images (config.val_size > 0)
    val_loss: list[float] = field(default_factory=list)
    state_dict: dict | None = field(default=None, repr=False, compare=False)

    @property
    def final_test_acc(self) -> float:
        return self.test_acc[-1] if self.test_acc else float("nan")

    @property
    def final_val_acc(self) -> float:
        """Accuracy on the held-out validation images at the end (NaN when the run held none out)."""
        return self.val_acc[-1] if self.val_acc else float("nan")

    def steps_to(self, accuracy: float) -> int | None:
        """Training steps until the test accuracy first reached ``accuracy``.

        Measured every ``eval_every`` steps where the run recorded that, else once per epoch.
        """
        if self.eval_steps:
            return next((step for step, acc in zip(self.eval_steps, self.eval_acc) if acc >= accuracy), None)
        for epoch, acc in enumerate(self.test_acc, start=1):
            if acc >= accuracy:
                return min(epoch * self.steps_per_epoch, len(self.step_loss))
        return None

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "state_dict"}

    @classmethod
    def from_dict(cls, data: dict, state_dict: dict | None = None) -> History:
        return cls(**data, state_dict=state_dict)


PERCENTILES = (15, 50, 85)  # the paper's Figure 1(b, c)
PROBE_BATCH = 256


def saturated(z: torch.Tensor, activation: str) -> torch.Tensor:
    """Where the nonlinearity's slope at ``z`` is below a tenth of its maximum: gradients barely pass."""
    if activation == "tanh":
        return 1 - torch.tanh(z) ** 2 < 0.1
    if activation == "sigmoid":
        s = torch.sigmoid(z)
        return s * (1 - s) < 0.025
    return z <= 0  # relu


@torch.no_grad()
def probe(model: torch.nn.Module, x: torch.Tensor, activation: str) -> dict[str, dict[str, float]]:
    """Statistics of every layer's input to its nonlinearity on the batch ``x``, as the training network sees it.

    The network runs in training mode (BN uses the batch's statistics, as during a step) and
    its running statistics are restored afterwards, so probing does not change the run.
    """
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    was_training = model.training
    model.train()
    record = {}
    model(x, record)
    for name, b in model.named_buffers():
        b.copy_(buffers[name])
    model.train(was_training)
    stats = {}
    for layer, z in record.items():
        q = torch.quantile(z.flatten().float(), torch.tensor([p / 100 for p in PERCENTILES], device=z.device))
        unit = z.flatten(1)[:, 0]  # one fixed unit: the paper follows "a typical sigmoid"
        qu = torch.quantile(unit.float(), torch.tensor([p / 100 for p in PERCENTILES], device=z.device))
        stats[layer] = {
            "mean": z.mean().item(), "std": z.std().item(),
            **{f"p{p}": v.item() for p, v in zip(PERCENTILES, q)},
            **{f"unit_p{p}": v.item() for p, v in zip(PERCENTILES, qu)},
            "saturated": saturated(z, activation).float().mean().item(),
            # ||W|| of the layer feeding this nonlinearity: with BN after it, W's scale does not change
            # the output, and the gradient shrinks as 1/||W|| (Sec. 3.3), so its growth lowers the
            # effective step lr / ||W||^2.
            "weight_norm": getattr(model, layer).weight.norm().item(),
        }
    return stats


def _record_probe(history: History, step: int, stats: dict) -> None:
    history.probe_steps.append(step)
    for layer, values in stats.items():
        for name, value in values.items():
            history.probes.setdefault(layer, {}).setdefault(name, []).append(value)


def _is_diverging(step_loss: list[float]) -> bool:
    last = step_loss[-1]
    window = step_loss[-DIVERGENCE_WINDOW:]
    return not math.isfinite(last) or sum(window) / len(window) > DIVERGENCE_LOSS


@torch.no_grad()
def evaluate(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, device=None):
    """Mean loss, accuracy and every prediction of ``model`` (switched to eval mode) on a data set."""
    model.eval()
    device = device or next(model.parameters()).device
    loss_sum, predictions = 0.0, []
    for x, y in batches(images, labels, EVAL_BATCH):
        logits = model(x.to(device))
        loss_sum += F.cross_entropy(logits, y.to(device), reduction="sum").item()
        predictions.append(logits.argmax(1).cpu())
    predictions = torch.cat(predictions)
    return loss_sum / len(labels), (predictions == labels).float().mean().item(), predictions


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


PARTS = ("train", "validation", "test")


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


def _record_final(history: History, predictions: torch.Tensor, labels: torch.Tensor) -> None:
    confusion = torch.bincount(labels * 10 + predictions, minlength=100).reshape(10, 10)
    history.confusion = confusion.tolist()
    history.per_class_acc = (confusion.diag() / confusion.sum(1).clamp(min=1)).tolist()
    samples = torch.randperm(len(labels), generator=torch.Generator().manual_seed(SAMPLE_SEED))[:N_SAMPLES]
    history.sample_indices = samples.tolist()
    history.sample_pred = predictions[samples].tolist()
    history.sample_true = labels[samples].tolist()
    wrong = (predictions != labels).nonzero().flatten()
    history.mistake_indices = wrong.tolist()
    history.mistake_pred = predictions[wrong].tolist()


def train(
    config: TrainConfig,
    progress: bool = True,
    callback: Callable[[int, History], None] | None = None,
    stop: threading.Event | None = None,
    on_step: Callable[[int], None] | None = None,
) -> History:
    """Train a fresh network as ``config`` says and return its :class:`History` (final weights in ``state_dict``).

    ``callback(epoch, history)`` runs after each epoch (live plots), ``on_step(steps_done)``
    after each SGD step (progress displays). Setting ``stop`` ends the run after the current
    batch with ``stopped=True``; what was learned is kept. Training runs on ``TRAIN_THREADS``
    CPU threads (the process's setting is restored afterwards).
    With ``config.steps`` the run ends after that many steps, mid-epoch if need be (the
    partial epoch gets its own entry in the per-epoch lists).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(TRAIN_THREADS)
    try:
        return _train(config, progress, callback, stop, on_step)
    finally:
        torch.set_num_threads(threads)


def _record_eval(history: History, model: torch.nn.Module, test: tuple, device, step: int) -> float:
    """Test accuracy and loss at ``step`` into ``history.eval_*``; returns the seconds it took."""
    started = time.perf_counter()
    loss, acc, _ = evaluate(model, *test, device)
    model.train()
    history.eval_steps.append(step)
    history.eval_acc.append(acc)
    history.eval_loss.append(loss)
    return time.perf_counter() - started


def _train(config, progress, callback, stop, on_step) -> History:
    device = check_device(config.device)  # before any data is loaded: a bad device fails at once
    torch.manual_seed(config.seed)
    model = config.build_model().to(device)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    images, labels = data_split(config, "train")
    validation = data_split(config, "validation") if config.val_size else None
    test = test_images, test_labels = data_split(config, "test")
    order = torch.Generator().manual_seed(config.seed)
    full, rest = divmod(len(labels), config.batch_size)
    history = History(config=config.to_dict(), steps_per_epoch=full + (rest >= 2))
    epochs = config.epochs if config.steps is None else -(-config.steps // history.steps_per_epoch)
    total_steps = epochs * history.steps_per_epoch if config.steps is None else config.steps
    probe_x = test_images[:PROBE_BATCH].to(device)
    if config.probe_every:
        _record_probe(history, 0, probe(model, probe_x, config.activation))
    if config.eval_every:
        _record_eval(history, model, test, device, 0)
    show = progress and os.environ.get(PROGRESS_ENV, "1") != "0"
    bar = tqdm(total=total_steps, disable=not show, desc=config.describe(), unit="step", leave=False)
    try:
        for epoch in range(1, epochs + 1):
            model.train()
            start, correct, seen, first_step = time.perf_counter(), 0, 0, len(history.step_loss)
            eval_seconds = 0.0  # evaluations within the epoch: kept out of its training time
            for x, y in batches(images, labels, config.batch_size, generator=order):
                x, y = x.to(device), y.to(device)
                logits = model(x)
                loss = F.cross_entropy(logits, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                history.step_loss.append(loss.item())
                step = len(history.step_loss)
                correct += (logits.argmax(1) == y).sum().item()
                seen += len(y)
                bar.update()
                if on_step is not None:
                    on_step(step)
                if config.probe_every and step % config.probe_every == 0:
                    _record_probe(history, step, probe(model, probe_x, config.activation))
                if _is_diverging(history.step_loss):
                    history.diverged, history.diverged_step = True, step
                    break
                if config.eval_every and step % config.eval_every == 0:
                    eval_seconds += _record_eval(history, model, test, device, step)
                if stop is not None and stop.is_set():
                    history.stopped = True
                    break
                if step >= total_steps:
                    break
            history.epoch_seconds.append(time.perf_counter() - start - eval_seconds)
            epoch_losses = history.step_loss[first_step:]
            history.train_loss.append(sum(epoch_losses) / max(len(epoch_losses), 1))
            history.train_acc.append(correct / max(seen, 1))
            if validation is not None:
                val_loss, val_acc, _ = evaluate(model, *validation, device)
                history.val_loss.append(val_loss)
                history.val_acc.append(val_acc)
            test_loss, test_acc, predictions = evaluate(model, test_images, test_labels, device)
            history.test_loss.append(test_loss)
            history.test_acc.append(test_acc)
            bar.set_postfix(test_acc=f"{test_acc:.4f}")
            if callback is not None:
                callback(epoch, history)
            if history.diverged or history.stopped:
                break
    finally:
        bar.close()
    _record_final(history, predictions, test_labels)
    history.state_dict = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return history
