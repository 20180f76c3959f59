"""Train LeNet on MNIST with plain SGD and cross-entropy, as the review does, and record everything.

``train(TrainConfig(lr=0.9, bn="all"))`` returns a :class:`History`: per-epoch losses and
accuracies, every step's loss, per-class accuracy, the confusion matrix and a fixed set of
test predictions for the figures. Runs are deterministic on CPU: same config, same numbers.

A run *diverges* when its loss stops being a number or explodes: a non-finite step loss,
or a mean over the last ``DIVERGENCE_WINDOW`` steps above ``DIVERGENCE_LOSS`` = 10 ln 10
(ten times the loss of guessing uniformly among ten classes). With tanh units the loss of
an exploding run stays finite (it climbs past 1e6 at lr 1e5), so non-finiteness alone misses
it. A diverged run stops cleanly with ``diverged=True`` and the step it happened at.

Beyond the review's setting, a config can ask for the paper's own MNIST network
(``model="mlp"``, Sec. 4.1), Gaussian initial weights (``init_std``), a fixed number of SGD
steps instead of epochs (``steps``), test accuracy every few steps (``eval_every``, recorded
in ``History.eval_steps``/``eval_acc``) and noise after each BN layer (``bn_noise``,
Santurkar et al. 2018). Every field is part of the cache key.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from bnreview.data import batches, load_mnist
from bnreview.models import (ACTIVATIONS, BN_IMPLS, BN_POSITIONS, MODELS, LeNet, PaperMLP, init_gaussian,
                             resolve_bn_layers)

QUICK_ENV = "BNREVIEW_QUICK"
PROGRESS_ENV = "BNREVIEW_PROGRESS"  # "0" hides progress bars (the book's build sets it: a bar frozen in a page helps nobody)
# Intra-op threads while training. PyTorch's CPU kernels split their reductions by thread, so
# the thread count changes the rounding, and a chaotic run (high lr) ends somewhere else:
# pinning it makes the same config give the same numbers on any machine. 2 = this project's CPUs.
TRAIN_THREADS = 2
DIVERGENCE_LOSS = 10 * math.log(10)
DIVERGENCE_WINDOW = 50
SUBSET_SEED = 1234  # fixes which images a reduced training set holds, whatever the run's seed
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


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a run's numbers. Validated when built."""

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

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"model={self.model!r} is invalid; accepted: {' or '.join(map(repr, MODELS))}")
        object.__setattr__(self, "bn", resolve_bn_layers(self.bn, MODELS[self.model]))

        def need(ok: bool, name: str, accepted: str):
            if not ok:
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid; accepted: {accepted}")

        number = (int, float)
        need(isinstance(self.lr, number) and math.isfinite(self.lr) and self.lr > 0, "lr", "a finite number > 0")
        need(isinstance(self.epochs, int) and self.epochs >= 1, "epochs", "an integer >= 1")
        need(isinstance(self.batch_size, int) and self.batch_size >= 2, "batch_size",
             "an integer >= 2 (BN needs two examples to compute a variance)")
        need(isinstance(self.momentum, number) and 0 <= self.momentum < 1, "momentum", "a number in [0, 1)")
        need(isinstance(self.weight_decay, number) and 0 <= self.weight_decay < math.inf, "weight_decay",
             "a finite number >= 0")
        need(self.bn_impl in BN_IMPLS, "bn_impl", " or ".join(map(repr, BN_IMPLS)))
        need(self.bn_position in BN_POSITIONS, "bn_position", " or ".join(map(repr, BN_POSITIONS)))
        need(self.activation in ACTIVATIONS, "activation", ", ".join(map(repr, ACTIVATIONS)))
        need(isinstance(self.seed, int) and self.seed >= 0, "seed", "an integer >= 0")
        need(self.n_train is None or (isinstance(self.n_train, int) and self.n_train >= self.batch_size),
             "n_train", f"None (all 60,000 images) or an integer >= batch_size ({self.batch_size})")
        need(isinstance(self.probe_every, int) and self.probe_every >= 0, "probe_every",
             "an integer >= 0 (0: no probes)")
        need(self.device == "auto" or self.device.split(":")[0] in ("cpu", "cuda", "mps"), "device",
             "'auto', 'cpu', 'cuda[:N]' or 'mps'")
        need(self.init_std is None or (isinstance(self.init_std, number) and math.isfinite(self.init_std)
                                       and self.init_std > 0), "init_std", "None or a finite number > 0")
        need(self.steps is None or (isinstance(self.steps, int) and self.steps >= 1), "steps",
             "None (train for `epochs`) or an integer >= 1")
        need(isinstance(self.eval_every, int) and self.eval_every >= 0, "eval_every",
             "an integer >= 0 (0: evaluate once per epoch)")
        need(isinstance(self.bn_noise, number) and math.isfinite(self.bn_noise) and self.bn_noise >= 0,
             "bn_noise", "a finite number >= 0 (0: no noise)")
        need(not self.bn_noise or self.bn, "bn_noise", "0 when there is no BN layer (the noise goes after BN)")

    @property
    def input_size(self) -> int:
        """Side of the input images: 32 (padded) for LeNet, 28 for the paper's MLP."""
        return 28 if self.model == "mlp" else 32

    def build_model(self) -> LeNet | PaperMLP:
        cls = PaperMLP if self.model == "mlp" else LeNet
        model = cls(bn=self.bn, bn_impl=self.bn_impl, bn_position=self.bn_position, activation=self.activation,
                    bn_noise=self.bn_noise, noise_seed=self.seed)
        return model if self.init_std is None else init_gaussian(model, self.init_std)

    def to_dict(self) -> dict:
        return {**asdict(self), "bn": list(self.bn)}

    def describe(self) -> str:
        """A one-line summary for captions and progress bars."""
        bn = "no BN" if not self.bn else f"BN on {'+'.join(self.bn)} ({self.bn_position}, {self.bn_impl})"
        if self.bn_noise:
            bn += f" + noise {self.bn_noise:g}"
        data = "60,000" if self.n_train is None else f"{self.n_train:,}"
        length = f"{self.epochs} epochs" if self.steps is None else f"{self.steps:,} steps"
        text = f"lr {self.lr:g}, {bn}, batch {self.batch_size}, {length}, {data} images, seed {self.seed}"
        if self.model != "lenet":
            text = f"{self.model} ({self.activation}), " + text
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
    state_dict: dict | None = field(default=None, repr=False, compare=False)

    @property
    def final_test_acc(self) -> float:
        return self.test_acc[-1] if self.test_acc else float("nan")

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


def _training_set(n_train: int | None, size: int = 32):
    images, labels = load_mnist(train=True, size=size)
    if n_train is None or n_train >= len(labels):
        return images, labels
    keep = torch.randperm(len(labels), generator=torch.Generator().manual_seed(SUBSET_SEED))[:n_train]
    return images[keep], labels[keep]


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


def _train(config, progress, callback, stop, on_step) -> History:
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    model = config.build_model().to(device)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    images, labels = _training_set(config.n_train, config.input_size)
    test_images, test_labels = load_mnist(train=False, size=config.input_size)
    order = torch.Generator().manual_seed(config.seed)
    full, rest = divmod(len(labels), config.batch_size)
    history = History(config=config.to_dict(), steps_per_epoch=full + (rest >= 2))
    epochs = config.epochs if config.steps is None else -(-config.steps // history.steps_per_epoch)
    total_steps = epochs * history.steps_per_epoch if config.steps is None else config.steps
    probe_x = test_images[:PROBE_BATCH].to(device)
    if config.probe_every:
        _record_probe(history, 0, probe(model, probe_x, config.activation))

    eval_seconds = [0.0]  # time spent in record_eval, kept out of epoch_seconds

    def record_eval(step: int) -> None:
        started = time.perf_counter()
        loss, acc, _ = evaluate(model, test_images, test_labels, device)
        model.train()
        eval_seconds[0] += time.perf_counter() - started
        history.eval_steps.append(step)
        history.eval_acc.append(acc)
        history.eval_loss.append(loss)

    if config.eval_every:
        record_eval(0)
    show = progress and os.environ.get(PROGRESS_ENV, "1") != "0"
    bar = tqdm(total=total_steps, disable=not show, desc=config.describe(), unit="step", leave=False)
    try:
        for epoch in range(1, epochs + 1):
            model.train()
            start, correct, seen, first_step = time.perf_counter(), 0, 0, len(history.step_loss)
            eval_seconds[0] = 0.0
            for x, y in batches(images, labels, config.batch_size, generator=order):
                x, y = x.to(device), y.to(device)
                logits = model(x)
                loss = F.cross_entropy(logits, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                history.step_loss.append(loss.item())
                correct += (logits.argmax(1) == y).sum().item()
                seen += len(y)
                bar.update()
                if on_step is not None:
                    on_step(len(history.step_loss))
                if config.probe_every and len(history.step_loss) % config.probe_every == 0:
                    _record_probe(history, len(history.step_loss), probe(model, probe_x, config.activation))
                if _is_diverging(history.step_loss):
                    history.diverged, history.diverged_step = True, len(history.step_loss)
                    break
                if config.eval_every and len(history.step_loss) % config.eval_every == 0:
                    record_eval(len(history.step_loss))
                if stop is not None and stop.is_set():
                    history.stopped = True
                    break
                if len(history.step_loss) >= total_steps:
                    break
            history.epoch_seconds.append(time.perf_counter() - start - eval_seconds[0])
            epoch_losses = history.step_loss[first_step:]
            history.train_loss.append(sum(epoch_losses) / max(len(epoch_losses), 1))
            history.train_acc.append(correct / max(seen, 1))
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
