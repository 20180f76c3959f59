"""The training loop: LeNet (or the paper's MLP) with plain SGD and cross-entropy, recording everything.

``train(TrainConfig(lr=0.9, bn="all"))`` returns a :class:`History`: per-epoch losses and
accuracies, every step's loss, per-class accuracy, the confusion matrix, a fixed set of test
predictions for the figures, layer probes (:mod:`bnreview.probes`) and the final weights. Runs
are deterministic on CPU: same config, same numbers on the same kind of CPU (another
instruction set rounds differently, and a chaotic run may end elsewhere).

A run *diverges* when its loss stops being a number or explodes: a non-finite step loss,
or a mean over the last ``DIVERGENCE_WINDOW`` steps above ``DIVERGENCE_LOSS`` = 10 ln 10
(ten times the loss of guessing uniformly among ten classes). With tanh units the loss of
an exploding run stays finite (it climbs past 1e6 at lr 1e5), so non-finiteness alone misses
it. A diverged run stops cleanly with ``diverged=True`` and the step it happened at.
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from bnreview.config import TrainConfig, check_device, data_split, steps_per_epoch
from bnreview.data import batches
from bnreview.models import bn_layers
from bnreview.probes import PROBE_BATCH, probe, record_probe, record_updates

PROGRESS_ENV = "BNREVIEW_PROGRESS"  # "0" hides progress bars (the book's build sets it: a bar frozen in a page helps nobody)
# Intra-op threads while training. PyTorch's CPU kernels split their reductions by thread, so
# the thread count changes the rounding, and a chaotic run (high lr) ends somewhere else:
# pinning it makes the same config give the same numbers on machines of the same CPU kind (across
# kinds, e.g. AVX-512 against AVX2, the kernels round differently). One thread: a run then gives
# the same numbers on a laptop and on a 64-core server, and a machine's cores train that many runs
# at once (bnreview.precompute); on 2 cores, two one-thread runs train 1.4-1.6x as many steps per
# second as one two-thread run, whose small kernels leave the second core idle much of the time.
TRAIN_THREADS = 1
# glibc hands every freed block of 128 KB or more back to the kernel, so each step's activations
# come back as fresh pages: about 1,400 page faults per LeNet step here. Raising these two
# thresholds keeps freed memory in the process for the next step (the numbers are unchanged).
MALLOC_KEEP = 1 << 30  # bytes: M_MMAP_THRESHOLD and M_TRIM_THRESHOLD
DIVERGENCE_LOSS = 10 * math.log(10)
DIVERGENCE_WINDOW = 50
SAMPLE_SEED = 2015  # fixes the test images shown in the prediction grids
N_SAMPLES = 40
EVAL_BATCH = 1000


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
    # layer -> every step's update relative to the weights it changed, ||W_after - W_before|| / ||W_before||,
    # recorded with the probes (probe_every > 0): with BN after a layer, growing weights shrink it (Sec. 3.3)
    update_size: dict[str, list[float]] = field(default_factory=dict)
    state_dict: dict | None = field(default=None, repr=False, compare=False)

    def train_config(self) -> TrainConfig:
        """The :class:`TrainConfig` this run was made with."""
        return TrainConfig.from_dict(self.config)

    @property
    def final_test_acc(self) -> float:
        """Test accuracy after the last epoch (NaN before any)."""
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
        """Every field but the weights, as JSON-friendly types."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "state_dict"}

    @classmethod
    def from_dict(cls, data: dict, state_dict: dict | None = None) -> History:
        """The History ``to_dict`` gave, with its weights if given."""
        return cls(**data, state_dict=state_dict)


def is_diverging(step_loss: list[float]) -> bool:
    """True once the last step loss is not finite or the mean of the last ``DIVERGENCE_WINDOW`` exceeds ``DIVERGENCE_LOSS``."""
    last = step_loss[-1]
    window = step_loss[-DIVERGENCE_WINDOW:]
    return not math.isfinite(last) or sum(window) / len(window) > DIVERGENCE_LOSS


@torch.inference_mode()
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


def record_final(history: History, predictions: torch.Tensor, labels: torch.Tensor) -> None:
    """The confusion matrix, per-class accuracy, sample predictions and mistakes of the final test predictions."""
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


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed activation buffers for reuse (Linux only); True when it was told.

    Once per process, for the whole process: its peak memory stays reserved rather than going back
    to the system between steps. Elsewhere (macOS, Windows, musl) nothing changes.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from glibc's <malloc.h>
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MALLOC_KEEP)) and bool(libc.mallopt(M_TRIM_THRESHOLD, MALLOC_KEEP))


def train(
    config: TrainConfig,
    progress: bool = True,
    callback: Callable[[int, History], None] | None = None,
    stop: threading.Event | None = None,
    on_step: Callable[[int], None] | None = None,
    inspect: Callable[[int, torch.nn.Module, torch.Tensor, torch.Tensor], None] | None = None,
) -> History:
    """Train a fresh network as ``config`` says and return its :class:`History` (final weights in ``state_dict``).

    ``callback(epoch, history)`` runs after each epoch (live plots), ``on_step(steps_done)``
    after each SGD step (progress displays), ``inspect(step, model, x, y)`` between each backward pass
    and its update (a measurement along the run; it must leave weights, gradients and buffers as they
    were). Setting ``stop`` ends the run after the current batch with ``stopped=True``; what was learned is kept. Training runs on ``TRAIN_THREADS``
    CPU threads (the process's setting is restored afterwards).
    With ``config.steps`` the run ends after that many steps, mid-epoch if need be (the
    partial epoch gets its own entry in the per-epoch lists).
    """
    keep_freed_memory()
    threads = torch.get_num_threads()
    torch.set_num_threads(TRAIN_THREADS)
    try:
        return _Run(config, stop, on_step, inspect).train(progress, callback)
    finally:
        torch.set_num_threads(threads)


class _Run:
    """One training run's state: the network, its optimiser, its data and the History being filled."""

    def __init__(self, config: TrainConfig, stop: threading.Event | None, on_step: Callable[[int], None] | None,
                 inspect: Callable | None = None):
        self.config, self.stop, self.on_step, self.inspect = config, stop, on_step, inspect
        self.device = check_device(config.device)  # before any data is loaded: a bad device fails at once
        torch.manual_seed(config.seed)
        self.model = config.build_model().to(self.device)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
        self.images, self.labels = data_split(config, "train")
        self.validation = data_split(config, "validation") if config.val_size else None
        self.test = data_split(config, "test")
        self.order = torch.Generator().manual_seed(config.seed)
        self.history = History(config=config.to_dict(), steps_per_epoch=steps_per_epoch(len(self.labels), config.batch_size))
        per_epoch = self.history.steps_per_epoch
        self.epochs = config.epochs if config.steps is None else -(-config.steps // per_epoch)
        self.total_steps = self.epochs * per_epoch if config.steps is None else config.steps
        self.probe_x = self.test[0][:PROBE_BATCH].to(self.device)
        layers = bn_layers(config.model, config.hidden_layers) if config.probe_every else ()
        self.weights = {layer: getattr(self.model, layer).weight for layer in layers}  # whose update sizes are recorded
        self.eval_seconds = 0.0  # evaluations within the current epoch: kept out of its training time

    def train(self, progress: bool, callback: Callable[[int, History], None] | None) -> History:
        config, history = self.config, self.history
        if config.probe_every:
            record_probe(history, 0, probe(self.model, self.probe_x, config.activation))
        if config.eval_every:
            self.record_eval(0)
        show = progress and os.environ.get(PROGRESS_ENV, "1") != "0"
        self.bar = tqdm(total=self.total_steps, disable=not show, desc=config.describe(), unit="step", leave=False)
        try:
            for epoch in range(1, self.epochs + 1):
                self.bar.set_postfix(epoch=f"{epoch}/{self.epochs}")
                predictions = self.epoch()
                if callback is not None:
                    callback(epoch, history)
                if history.diverged or history.stopped:
                    break
        finally:
            self.bar.close()
        record_final(history, predictions, self.test[1])
        history.state_dict = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        return history

    def epoch(self) -> torch.Tensor:
        """One pass over the training images (or what is left of ``steps``), then the evaluations; the test predictions."""
        history, model = self.history, self.model
        model.train()
        start, correct, seen, first_step = time.perf_counter(), 0, 0, len(history.step_loss)
        self.eval_seconds = 0.0
        for x, y in batches(self.images, self.labels, self.config.batch_size, generator=self.order):
            x, y = x.to(self.device), y.to(self.device)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.inspect is not None:
                self.inspect(len(history.step_loss) + 1, model, x, y)
            before = {layer: w.detach().clone() for layer, w in self.weights.items()}
            self.optimizer.step()
            record_updates(history, before, self.weights)
            history.step_loss.append(loss.item())
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            if self.after_step(len(history.step_loss)):
                break
        history.epoch_seconds.append(time.perf_counter() - start - self.eval_seconds)
        if self.config.lr_decay != 1:  # exponential decay: each epoch's rate is the last one's times lr_decay
            for group in self.optimizer.param_groups:
                group["lr"] *= self.config.lr_decay
        epoch_losses = history.step_loss[first_step:]
        history.train_loss.append(sum(epoch_losses) / max(len(epoch_losses), 1))
        history.train_acc.append(correct / max(seen, 1))
        if self.validation is not None:
            val_loss, val_acc, _ = evaluate(model, *self.validation, self.device)
            history.val_loss.append(val_loss)
            history.val_acc.append(val_acc)
        test_loss, test_acc, predictions = evaluate(model, *self.test, self.device)
        history.test_loss.append(test_loss)
        history.test_acc.append(test_acc)
        self.bar.set_postfix(epoch=f"{len(history.test_acc)}/{self.epochs}", test_acc=f"{test_acc:.4f}")
        return predictions

    def after_step(self, step: int) -> bool:
        """Progress, probes, divergence, evaluations and Stop after SGD step ``step``; True ends the epoch."""
        config, history = self.config, self.history
        self.bar.update()
        if self.on_step is not None:
            self.on_step(step)
        if config.probe_every and step % config.probe_every == 0:
            record_probe(history, step, probe(self.model, self.probe_x, config.activation))
        if is_diverging(history.step_loss):
            history.diverged, history.diverged_step = True, step
            return True
        if config.eval_every and step % config.eval_every == 0:
            self.record_eval(step)
        if self.stop is not None and self.stop.is_set():
            history.stopped = True
            return True
        return step >= self.total_steps

    def record_eval(self, step: int) -> None:
        """Test accuracy and loss at ``step`` into ``history.eval_*``; its time is kept out of the epoch's."""
        started = time.perf_counter()
        loss, acc, _ = evaluate(self.model, *self.test, self.device)
        self.model.train()
        self.history.eval_steps.append(step)
        self.history.eval_acc.append(acc)
        self.history.eval_loss.append(loss)
        self.eval_seconds += time.perf_counter() - started
