"""The book's figures, drawn from :class:`~bnreview.train.History` objects with matplotlib.

Every function takes the runs it draws (a ``{label: History}`` mapping where several are
compared), draws on a new figure unless given ``ax``, and returns the figure. Axes carry
units; titles state the setting (lr, batch size, epochs, seed) of the runs they show.

This module draws single runs, a few side by side, and the retraining panel's live curves
(:func:`live_curves`); the figures over seeds and sweeps and the chapters' composite figures are
in :mod:`bnreview.plots.sweeps`. The package :mod:`bnreview.plots` holds both: ``plots.<name>``.
"""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from bnreview.probes import PERCENTILES
from bnreview.train import History

__all__ = [
    "CORRECT", "WRONG", "LIVE_POINTS", "setting", "figure_and_axes", "loss_curves", "accuracy_curves",
    "moving_average", "step_loss", "prediction_grid", "mistakes_grid", "per_class_accuracy", "confusion_matrix",
    "percentiles_over_training", "layer_statistics", "layer_rows", "architecture_table",
    "accuracy_points", "live_curves", "png",
]

CORRECT, WRONG = "#1a7f37", "#cf222e"


def setting(history: History) -> str:
    """The caption line for a run: its config in words."""
    return history.train_config().describe()


def figure_and_axes(ax=None, figsize=(6.4, 4)):
    """``ax`` and its figure; a new figure of ``figsize`` inches with one axes when ``ax`` is None."""
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax.figure, ax


def _epochs(history: History) -> np.ndarray:
    return np.arange(1, len(history.test_loss) + 1)


def loss_curves(histories: dict[str, History], ax=None, title: str | None = None):
    """Training (solid) and test (dashed) cross-entropy per epoch: the review's Figures 1 and 3."""
    fig, ax = figure_and_axes(ax)
    for i, (label, h) in enumerate(histories.items()):
        color = f"C{i}"
        ax.plot(_epochs(h), h.train_loss, "-o", color=color, ms=3, label=f"{label}: training")
        ax.plot(_epochs(h), h.test_loss, "--s", color=color, ms=3, label=f"{label}: test")
    ax.set(xlabel="epoch", ylabel="cross-entropy loss (nats)", title=title)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def accuracy_curves(histories: dict[str, History], ax=None, title: str | None = None):
    """Test accuracy per epoch, one line per run."""
    fig, ax = figure_and_axes(ax)
    for label, h in histories.items():
        ax.plot(_epochs(h), 100 * np.array(h.test_acc), "-o", ms=3, label=label)
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", title=title)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def moving_average(values, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean of every ``window`` consecutive values (all, if fewer), at the 1-based index of each window's end."""
    values = np.asarray(values, dtype=float)
    window = max(1, min(window, len(values)))
    return np.arange(window, len(values) + 1), np.convolve(values, np.ones(window) / window, mode="valid")


def step_loss(histories: dict[str, History], ax=None, smooth: int = 50, title: str | None = None):
    """Training loss at every SGD step, smoothed by a moving average over ``smooth`` steps."""
    fig, ax = figure_and_axes(ax)
    for label, h in histories.items():
        ax.plot(*moving_average(h.step_loss, smooth), label=label)
    ax.set(xlabel="SGD step", ylabel=f"training loss (nats, mean of {smooth} steps)", yscale="log", title=title)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3, which="both")
    return fig


def _image_grid(images: torch.Tensor, titles: list[str], colors: list[str], cols: int, suptitle: str):
    rows = max(1, -(-len(titles) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.45 * rows), layout="constrained")
    for ax in np.atleast_1d(axes).flat:
        ax.axis("off")
    for ax, image, title, color in zip(np.atleast_1d(axes).flat, images, titles, colors):
        ax.imshow(image.squeeze(0).numpy(), cmap="gray_r")
        ax.set_title(title, color=color, fontsize=9)
    fig.suptitle(suptitle, fontsize=10)
    return fig


def prediction_grid(history: History, test_images: torch.Tensor, cols: int = 10):
    """A fixed set of test digits with predicted and true labels, green when they match, red when not.

    The review's Figures 2 and 4. The samples are the same for every run (a seeded draw).
    """
    titles = [f"pred {p} / true {t}" for p, t in zip(history.sample_pred, history.sample_true)]
    colors = [CORRECT if p == t else WRONG for p, t in zip(history.sample_pred, history.sample_true)]
    wrong = sum(c == WRONG for c in colors)
    return _image_grid(test_images[history.sample_indices], titles, colors, cols,
                       f"{len(titles)} fixed test samples, {wrong} misclassified: {setting(history)}")


def mistakes_grid(history: History, test_images: torch.Tensor, test_labels: torch.Tensor, n: int = 20, cols: int = 10):
    """The first ``n`` misclassified test digits, with what the network said."""
    index = history.mistake_indices[:n]
    titles = [f"pred {p} / true {test_labels[i].item()}" for i, p in zip(index, history.mistake_pred)]
    return _image_grid(test_images[index], titles, [WRONG] * len(index), cols,
                       f"{len(index)} of {len(history.mistake_indices)} misclassified test digits: {setting(history)}")


def per_class_accuracy(histories: dict[str, History], ax=None, title: str | None = None):
    """Test accuracy per digit, grouped bars, one colour per run."""
    fig, ax = figure_and_axes(ax, figsize=(7.5, 3.6))
    width = 0.8 / len(histories)
    lowest = 100.0
    for i, (label, h) in enumerate(histories.items()):
        acc = 100 * np.array(h.per_class_acc)
        lowest = min(lowest, acc.min())
        ax.bar(np.arange(10) + (i - (len(histories) - 1) / 2) * width, acc, width, label=label)
    ax.set(xlabel="digit", ylabel="test accuracy (%)", xticks=range(10), ylim=(max(0, lowest - 2), 100), title=title)
    ax.legend(fontsize="small", loc="lower right")
    ax.grid(alpha=0.3, axis="y")
    return fig


def confusion_matrix(history: History, ax=None, title: str | None = None):
    """Counts of (true digit, predicted digit) on the test set; the diagonal is hidden so errors stand out."""
    fig, ax = figure_and_axes(ax, figsize=(5, 4.4))
    counts = np.array(history.confusion)
    off = counts.copy()
    np.fill_diagonal(off, 0)
    image = ax.imshow(off, cmap="Reds")
    for (i, j), c in np.ndenumerate(counts):
        if c:
            ax.text(j, i, c, ha="center", va="center", fontsize=7, color="#555" if i == j else "black")
    fig.colorbar(image, ax=ax, label="misclassified test images (count)")
    ax.set(xlabel="predicted digit", ylabel="true digit", xticks=range(10), yticks=range(10),
           title=title or "Confusion matrix (diagonal: correct, grey)")
    return fig


def percentiles_over_training(histories: dict[str, History], layer: str, unit: bool = True, axes=None):
    """The 15th, 50th and 85th percentiles of one unit's input to its nonlinearity over training.

    The paper's Figure 1(b, c): one panel per run, shared y axis. ``unit=False`` pools
    every unit of the layer instead of following a single one.
    """
    if axes is None:
        fig, axes = plt.subplots(1, len(histories), figsize=(4.2 * len(histories), 3.4), sharey=True,
                                 layout="constrained", squeeze=False)
        axes = axes[0]
    prefix = "unit_p" if unit else "p"
    for ax, (label, h) in zip(axes, histories.items()):
        for p, style in zip(PERCENTILES, (":", "-", "--")):
            ax.plot(h.probe_steps, h.probes[layer][f"{prefix}{p}"], style, color="C0", label=f"{p}th percentile")
        ax.set(xlabel="SGD step", title=label)
        ax.grid(alpha=0.3)
    what = "one unit's" if unit else "all units'"
    axes[0].set_ylabel(f"{layer}: {what} input to the nonlinearity")
    axes[0].legend(fontsize="small")
    return axes[0].figure


def layer_statistics(histories: dict[str, History]):
    """Each layer's input to its nonlinearity and its share of saturated units over training, one column per run.

    Top: the median and the 15-85th percentile band over all units; bottom: saturated units (%).
    """
    layers = list(next(iter(histories.values())).probes)
    fig, axes = plt.subplots(2, len(histories), figsize=(4.6 * len(histories), 6), sharex=True, sharey="row",
                             layout="constrained", squeeze=False)
    for col, (label, h) in enumerate(histories.items()):
        top, bottom = axes[0, col], axes[1, col]
        for i, layer in enumerate(layers):
            stats = h.probes[layer]
            top.fill_between(h.probe_steps, stats["p15"], stats["p85"], color=f"C{i}", alpha=0.2)
            top.plot(h.probe_steps, stats["p50"], color=f"C{i}", label=layer)
            bottom.plot(h.probe_steps, 100 * np.array(stats["saturated"]), color=f"C{i}", label=layer)
        top.set(title=label)
        bottom.set(xlabel="SGD step")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("input to the nonlinearity\n(median, 15-85th percentile)")
    axes[1, 0].set_ylabel("saturated units (%)")
    axes[0, 0].legend(fontsize="small", ncol=2)
    return fig


def layer_rows(model) -> list[tuple[str, str, str, int]]:
    """(layer, what it is, output shape for one 1x32x32 image, parameters) for each layer of a LeNet, in order.

    The shapes are those the network itself records (``forward(x, record)``: each layer's output before
    its nonlinearity), not forward hooks: conv3 and conv1 run through ``models``' fast paths, which
    do not call the convolution modules.
    """
    from bnreview.models import count_parameters

    record = {}
    was_training = model.training
    with torch.no_grad():
        logits = model.eval()(torch.zeros(1, 1, 32, 32), record)
    model.train(was_training)
    shapes = {**{name: tuple(z.shape[1:]) for name, z in record.items()}, "fc2": tuple(logits.shape[1:])}
    rows = []
    for name, module in model.named_children():
        if name == "bn":
            rows += [(f"bn.{layer}", type(bn).__name__, "as its layer", count_parameters(bn)) for layer, bn in module.items()]
        elif name in shapes and count_parameters(module):
            rows.append((name, repr(module), "x".join(map(str, shapes[name])), count_parameters(module)))
    return rows


def architecture_table(model):
    """The network as a Markdown table (layer, module, output shape, parameters), for display in a notebook."""
    from IPython.display import Markdown

    from bnreview.models import count_parameters

    rows = "\n".join(f"| `{name}` | `{what}` | {shape} | {params:,} |" for name, what, shape, params in layer_rows(model))
    return Markdown("| layer | module | output (per image) | parameters |\n|---|---|---|---:|\n" + rows
                    + f"\n| **total** | | | **{count_parameters(model):,}** |")


# --- The retraining panel's figure (bnreview.widgets): drawn in a worker thread, after every epoch ---

LIVE_POINTS = 600  # at most this many points per step-loss curve: each panel is under 300 pixels wide


def _thinned(xs: np.ndarray, ys: np.ndarray, points: int = LIVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ``points`` of the curve, evenly spaced, the first and the last included."""
    if len(xs) <= points:
        return xs, ys
    keep = np.unique(np.linspace(0, len(xs) - 1, points).round().astype(int))
    return xs[keep], ys[keep]


def _live_figure() -> Figure:
    """The three empty panels of :func:`live_curves`, with fixed margins and fixed title positions."""
    fig = Figure(figsize=(13, 4), dpi=72)
    fig.subplots_adjust(left=0.05, right=0.95, bottom=0.13, wspace=0.22)
    _, accuracy, steps = fig.subplots(1, 3)
    steps.yaxis.tick_right()  # its ticks and label on the outside: between the panels they ran into the middle one
    steps.yaxis.set_label_position("right")
    accuracy.set(xlabel="SGD step", ylabel="test accuracy (%)")
    accuracy.set_title("test accuracy during training", y=1.0)  # a fixed y: no search for overlapping ticks
    accuracy.grid(alpha=0.3)
    steps.set(xlabel="SGD step", yscale="log")
    steps.set_title("training loss per step", y=1.0)
    steps.grid(alpha=0.3, which="both")
    return fig


def accuracy_points(history: History) -> tuple[list[int], list[float]]:
    """Test accuracy (%) against the SGD step: every ``eval_every`` steps where the run measured it, else per epoch."""
    end = len(history.step_loss)
    if history.eval_steps:
        xs, ys = list(history.eval_steps), [100 * a for a in history.eval_acc]
    else:
        xs = [min(k * history.steps_per_epoch, end) for k in range(1, len(history.test_acc) + 1)]
        ys = [100 * a for a in history.test_acc]
    if history.test_acc and (not xs or xs[-1] != end):
        xs.append(end)
        ys.append(100 * history.final_test_acc)
    return xs, [round(y, 2) for y in ys]


def live_curves(runs: dict[str, History], title: str = "", diverged_at: int | None = None,
                fig: Figure | None = None) -> Figure:
    """The retraining panel's figure: loss per epoch, test accuracy against steps, smoothed step loss of ``runs``.

    Drawn on a bare :class:`~matplotlib.figure.Figure` (no pyplot: safe in a worker thread) with
    fixed margins, and each step-loss curve thinned to :data:`LIVE_POINTS` points: a layout engine
    took about half the time of a redraw, and a reader waits for every one. Given ``fig``, a figure
    this function returned, it is redrawn in place (its axes and ticks are kept: about a third
    faster again). ``diverged_at`` marks the step where a run diverged on the step losses.
    """
    if fig is None:
        fig = _live_figure()
    else:
        for ax in fig.axes:
            for artist in [*ax.lines, *ax.collections]:
                artist.remove()
    losses, accuracy, steps = fig.axes
    fig.subplots_adjust(top=0.78 if "\n" in title else 0.84)
    fig.suptitle(title, fontsize=10)
    loss_curves(runs, ax=losses)
    losses.set_title("loss per epoch", y=1.0)
    finite = [v for h in runs.values() for v in h.train_loss + h.test_loss if np.isfinite(v) and v > 0]
    scale = "log" if finite and max(finite) / min(finite) > 50 else "linear"
    if losses.get_yscale() != scale:
        losses.set_yscale(scale)
    window = max(1, min(50, min(len(h.step_loss) for h in runs.values()) // 10))
    for i, (label, h) in enumerate(runs.items()):
        accuracy.plot(*accuracy_points(h), "-o", ms=3, color=f"C{i}", label=label)
        steps.plot(*_thinned(*moving_average(h.step_loss, window)), color=f"C{i}", label=label)
    accuracy.legend(fontsize="small", loc="lower right")
    steps.set_ylabel(f"training loss (nats, mean of {window} steps)")
    steps.legend(fontsize="small", loc="upper right")
    if diverged_at is not None:
        steps.axvline(diverged_at, color=WRONG, ls=":", lw=1)
    for ax in fig.axes:
        ax.relim()
        ax.autoscale_view()
    return fig


def png(fig) -> bytes:
    """The figure as PNG bytes, quickly compressed (the retraining panel sends one after every epoch)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", pil_kwargs={"compress_level": 1})
    return buffer.getvalue()
