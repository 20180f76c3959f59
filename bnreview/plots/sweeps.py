"""The book's figures over seeds and sweeps, and the chapters' composite figures.

Where :mod:`bnreview.plots.runs` draws single runs (a few side by side), these draw many: the
mean over seeds with a min-max band, sweeps over learning rates, batch sizes and BN placements,
and the composite figures the chapters show, each titled with its setting.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from bnreview.plots.runs import WRONG, accuracy_curves, figure_and_axes, percentiles_over_training
from bnreview.train import History

__all__ = [
    "curves_over_steps", "lr_sweep_figure", "grouped_bars", "against_batch_size", "placement_by_lr",
    "weight_norm_curves", "figure_1a", "percentiles_figure", "accuracy_by_lr", "drift_by_lr", "batch_size_accuracy",
    "saturation_curves", "implementations", "regularisation", "accuracy_per_epoch",
]

# --- Figures of the chapters beyond the review (learning rates, the paper's MLP, what BN does) ---


def _spread(ax, x, values_by_run: list[list[float]], color, label, marker="o", scale=100.0):
    """Mean over runs as a line, min-max over runs as a band (runs are rows, x the columns)."""
    values = scale * np.array(values_by_run, dtype=float)
    ax.fill_between(x, values.min(0), values.max(0), color=color, alpha=0.2, lw=0)
    ax.plot(x, values.mean(0), marker=marker, ms=3, color=color, label=label)


def curves_over_steps(runs: dict[str, list], ax=None, title: str | None = None, ylim=None):
    """Test accuracy against SGD steps (``History.eval_acc``): mean over seeds, min-max band.

    The paper's Figure 1(a). ``runs`` maps a label to the runs of each seed.
    """
    fig, ax = figure_and_axes(ax)
    for i, (label, hs) in enumerate(runs.items()):
        n = min(len(h.eval_acc) for h in hs)
        _spread(ax, np.array(hs[0].eval_steps[:n]), [h.eval_acc[:n] for h in hs], f"C{i}",
                f"{label} ({len(hs)} seed{'s' if len(hs) > 1 else ''})", marker=None)
    ax.set(xlabel="SGD step", ylabel="test accuracy (%)", title=title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend(fontsize="small", loc="lower right")
    ax.grid(alpha=0.3)
    return fig


def lr_sweep_figure(rows: list[dict], accuracies=(0.97, 0.98), title: str | None = None, zoom=(90, 100)):
    """Final test accuracy, and steps to each accuracy in ``accuracies``, against the learning rate.

    ``rows`` are :func:`bnreview.experiments.sweep_rows`. Top: the final test accuracy, on
    the full scale and zoomed to ``zoom`` (%). Lines: mean over seeds; band: min-max; dots:
    single seeds; a red cross: a seed that diverged. Bottom: steps until each accuracy, for
    the seeds that reached it (the line averages those); an open triangle at the top marks a
    seed that never did.
    """
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    ncols = max(2, len(accuracies))
    fig, grid = plt.subplots(2, ncols, figsize=(5.5 * ncols, 8), layout="constrained", squeeze=False)
    acc_axes, step_axes = grid[0][:2], grid[1][:len(accuracies)]
    for ax in list(grid[0][2:]) + list(grid[1][len(accuracies):]):
        ax.axis("off")
    top = max((s for r in rows for v in r["steps_to"].values() for s in v if s is not None), default=1)
    for i, variant in enumerate(variants):
        mine = sorted((r for r in rows if r["variant"] == variant), key=lambda r: r["lr"])
        lrs = np.array([r["lr"] for r in mine])
        color = f"C{i}"
        for ax in acc_axes:
            ax.fill_between(lrs, [100 * r["min"] for r in mine], [100 * r["max"] for r in mine], color=color,
                            alpha=0.2, lw=0)
            ax.plot(lrs, [100 * r["mean"] for r in mine], "-o", color=color, ms=4, label=f"{variant} (mean, min-max)")
            for r in mine:
                for acc, diverged in zip(r["finals"], r.get("diverged_runs", [False] * r["n"])):
                    ax.plot(r["lr"], 100 * acc, "x" if diverged else ".", color=WRONG if diverged else color,
                            ms=8 if diverged else 4, alpha=0.8)
        for ax, acc in zip(step_axes, accuracies):
            ax.plot(lrs, [r["steps_to_mean"][acc] for r in mine], "-o", color=color, ms=4, label=variant)
            for r in mine:
                for s in r["steps_to"][acc]:
                    if s is None:
                        ax.plot(r["lr"], 1.08 * top, "^", mfc="none", color=color, ms=7)
                    else:
                        ax.plot(r["lr"], s, ".", color=color, alpha=0.6)
    acc_axes[0].plot([], [], "x", color=WRONG, label="a seed that diverged")
    acc_axes[0].set(ylim=(0, 100), title="Final test accuracy")
    acc_axes[1].set(ylim=zoom, title=f"Final test accuracy, {zoom[0]:g}-{zoom[1]:g}%")
    for ax in acc_axes:
        ax.set(xscale="log", xlabel="learning rate", ylabel="final test accuracy (%)")
        ax.legend(fontsize="small", loc="lower left")
    for ax, acc in zip(step_axes, accuracies):
        ax.plot([], [], "^", mfc="none", color="gray", label="a seed that never got there")
        ax.axhline(1.08 * top, color="gray", lw=0.5, ls=":")
        ax.set(xscale="log", xlabel="learning rate", ylabel="SGD steps", ylim=(0, 1.15 * top),
               title=f"Steps until the test accuracy reaches {100 * acc:g}%")
        ax.legend(fontsize="small", loc="lower right")
    for ax in list(acc_axes) + list(step_axes):
        ax.grid(alpha=0.3, which="both")
    if title:
        fig.suptitle(title)
    return fig


def grouped_bars(groups: dict[str, dict[str, list[float]]], ylabel: str, ax=None, title: str | None = None,
                 fmt: str = "{:.2f}", ylim=None, scale: float = 1.0):
    """Grouped bars: ``{group: {bar label: [value per seed]}}``, one colour per bar label.

    Each bar is the mean over seeds (labelled with its value); dots are the seeds, the
    error bar spans min to max. ``scale`` multiplies every value (100: fractions as percent).
    """
    fig, ax = figure_and_axes(ax, figsize=(7.5, 3.8))
    labels = list(dict.fromkeys(k for bars in groups.values() for k in bars))
    width = 0.8 / max(len(bars) for bars in groups.values())
    for j, label in enumerate(labels):
        for g, bars in enumerate(groups.values()):
            if label not in bars:
                continue
            vals = scale * np.array(bars[label], dtype=float)
            x = g + (list(bars).index(label) - (len(bars) - 1) / 2) * width  # centred on the group's bars
            bar = ax.bar(x, vals.mean(), width * 0.9, color=f"C{j}", label=label)
            ax.errorbar(x, vals.mean(), [[vals.mean() - vals.min()], [vals.max() - vals.mean()]], color="black",
                        capsize=3, lw=1)
            ax.plot(np.full(len(vals), x), vals, ".", color="black", ms=4)
            ax.bar_label(bar, [fmt.format(vals.mean())], fontsize=7, padding=2)
    handles, names = ax.get_legend_handles_labels()
    unique = dict(zip(names, handles))
    ax.legend(unique.values(), unique.keys(), fontsize="small")
    ax.set(xticks=range(len(groups)), xticklabels=list(groups), ylabel=ylabel, title=title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3, axis="y")
    return fig


def against_batch_size(series: dict[str, tuple[list[int], list[list[float]]]], ax=None, title: str | None = None,
                       ylabel: str = "test accuracy (%)", ylim=None, scale: float = 100.0, legend: str = "lower right"):
    """Accuracy against batch size (log scale): ``{label: (batch sizes, [values per seed] per batch size)}``.

    Mean over seeds as a line, min-max as a band; values are multiplied by ``scale``
    (100: fractions drawn in percent).
    """
    fig, ax = figure_and_axes(ax)
    markers = "osD^v<>"
    for i, (label, (sizes, values)) in enumerate(series.items()):
        by_seed = np.array(values, dtype=float).T  # seeds x batch sizes
        _spread(ax, np.array(sizes), by_seed, f"C{i}", label, marker=markers[i % len(markers)], scale=scale)
    sizes = sorted({b for s, _ in series.values() for b in s})
    ax.set(xscale="log", xlabel="batch size (examples per SGD step)", ylabel=ylabel, title=title)
    ax.set_xticks(sizes, [str(b) for b in sizes])
    ax.minorticks_off()
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend(fontsize="small", loc=legend)
    ax.grid(alpha=0.3)
    return fig


# --- Chapter lr_sweep: where BN goes at each learning rate, and the weight norms of Sec. 3.3 ---


def placement_by_lr(placement: dict, title: str | None = None):
    """Final test accuracy of every BN placement, before and after tanh, one panel per learning rate.

    ``placement`` is :func:`bnreview.experiments.placement_grid`'s ``{(placement, position, lr): runs}``;
    bars are means over seeds, dots the seeds, error bars min to max (:func:`grouped_bars`).
    """
    lrs = sorted({lr for _, _, lr in placement})
    fig, axes = plt.subplots(1, len(lrs), figsize=(4.8 * len(lrs), 3.9), layout="constrained", squeeze=False)
    names = {"-": "no BN", "before": "BN before tanh", "after": "BN after tanh"}
    for ax, lr in zip(axes[0], lrs):
        groups: dict[str, dict[str, list[float]]] = {}
        for (where, position, at), runs in placement.items():
            if at == lr:
                groups.setdefault(where, {})[names[position]] = [h.final_test_acc for h in runs]
        grouped_bars(groups, "final test accuracy (%)", ax=ax, scale=100, ylim=(0, 105), title=f"lr {lr:g}")
        ax.set_xlabel("layers with BN")
        ax.tick_params(axis="x", labelsize=8)
        if ax is not axes[0][0]:
            ax.get_legend().remove()
    if title:
        fig.suptitle(title)
    return fig


def weight_norm_curves(results: dict, layer: str, lrs, variants: dict[str, str], title: str | None = None):
    """The norm of ``layer``'s weights over the SGD steps: one colour per learning rate, one line style per variant.

    Values are ``probes[layer]["weight_norm"]``; lines are means over seeds, bands min to max.
    ``results`` is :func:`bnreview.experiments.lr_sweep`'s ``{(variant, lr): runs}``; ``variants`` maps each
    variant to the label it gets.
    """
    fig, ax = figure_and_axes(None, figsize=(7.5, 4.2))
    for i, lr in enumerate(lr for lr in lrs if all((v, lr) in results for v in variants)):
        for (variant, label), style in zip(variants.items(), ("-", "--", ":")):
            runs = results[variant, lr]
            n = min(len(h.probes[layer]["weight_norm"]) for h in runs)
            values = np.array([h.probes[layer]["weight_norm"][:n] for h in runs], dtype=float)
            steps = np.array(runs[0].probe_steps[:n])
            ax.fill_between(steps, values.min(0), values.max(0), color=f"C{i}", alpha=0.15, lw=0)
            ax.plot(steps, values.mean(0), style, color=f"C{i}", label=f"lr {lr:g}, {label}")
    ax.set(xlabel="SGD step", ylabel=f"||W|| of {layer}", title=title)
    ax.legend(fontsize="small", ncol=2)
    ax.grid(alpha=0.3)
    return fig


# --- Chapters paper_mnist and what_bn_does: composite figures, each titled with its setting ---


def figure_1a(runs: dict[str, list], title: str):
    """The paper's Figure 1(a) re-run: test accuracy against steps (mean, min-max over seeds), full and from 90%."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
    curves_over_steps(runs, ax=axes[0], title="test accuracy (mean, min-max over seeds)")
    curves_over_steps(runs, ax=axes[1], title="the same, from 90%", ylim=(90, 100))
    fig.suptitle(title)
    return fig


def percentiles_figure(runs: dict, layer: str, title: str, seed_index: int = 0):
    """:func:`~bnreview.plots.percentiles_over_training` of one seed per label, with a title.

    ``runs`` maps a label to a History or to the runs of each seed, of which the ``seed_index``-th is drawn.
    """
    chosen = {label: r if isinstance(r, History) else r[seed_index] for label, r in runs.items()}
    fig = percentiles_over_training(chosen, layer)
    fig.suptitle(title)
    return fig


def accuracy_by_lr(runs_by_lr: dict, title: str, zoom: dict | None = None):
    """Test accuracy against steps, one panel per learning rate: ``{lr: {label: runs}}``.

    ``zoom`` maps a learning rate to the y limits of its panel (default 0-100%).
    """
    fig, axes = plt.subplots(1, len(runs_by_lr), figsize=(6 * len(runs_by_lr), 4.2), layout="constrained",
                             squeeze=False)
    for ax, (lr, runs) in zip(axes[0], runs_by_lr.items()):
        curves_over_steps(runs, ax=ax, title=f"lr {lr:g}: test accuracy (mean, min-max over seeds)",
                          ylim=(zoom or {}).get(lr, (0, 100)))
    fig.suptitle(title)
    return fig


def drift_by_lr(groups_by_lr: dict, title: str):
    """How much one unit's input moves between probes, per layer, one panel per learning rate.

    ``groups_by_lr`` is ``{lr: {layer: {network: [value per seed]}}}``. Bars: means over seeds (value on
    top); dots: seeds; error bars: min to max. Each network keeps its colour and slot in every panel; a
    network missing from a panel (every seed diverged) leaves its slot empty, marked "diverged".
    """
    names = list(dict.fromkeys(n for groups in groups_by_lr.values() for bars in groups.values() for n in bars))
    width = 0.8 / max(len(names), 1)
    fig, axes = plt.subplots(1, len(groups_by_lr), figsize=(7 * len(groups_by_lr), 3.9), layout="constrained",
                             squeeze=False)
    for ax, (lr, groups) in zip(axes[0], groups_by_lr.items()):
        for g, bars in enumerate(groups.values()):
            for j, name in enumerate(names):
                x = g + (j - (len(names) - 1) / 2) * width
                if not bars.get(name):
                    ax.text(x, 0, "diverged", rotation=90, ha="center", va="bottom", fontsize=7, color=WRONG)
                    continue
                vals = np.array(bars[name], dtype=float)
                bar = ax.bar(x, vals.mean(), width * 0.9, color=f"C{j}", label=name)
                ax.errorbar(x, vals.mean(), [[vals.mean() - vals.min()], [vals.max() - vals.mean()]], color="black",
                            capsize=3, lw=1)
                ax.plot(np.full(len(vals), x), vals, ".", color="black", ms=4)
                ax.bar_label(bar, [f"{vals.mean():.2f}"], fontsize=7, padding=2)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        ax.legend(unique.values(), unique.keys(), fontsize="small")
        ax.set(xticks=range(len(groups)), xticklabels=list(groups), ylabel="mean change between probes",
               title=f"lr {lr:g}", xlabel="layer (unit 0; change of its 15th, 50th and 85th percentiles, averaged)")
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title)
    return fig


def batch_size_accuracy(series: dict, title: str):
    """:func:`against_batch_size` on the full scale and from 90%, side by side, with a title."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    against_batch_size(series, ax=axes[0], title="test accuracy (mean, min-max over seeds)")
    against_batch_size(series, ax=axes[1], title="the same, from 90%", ylim=(90, 100))
    fig.suptitle(title)
    return fig


# --- Chapters motivation, baseline, lenet_bn and regularisation (values from bnreview.findings) ---


def saturation_curves(table: dict, title: str | None = None):
    """The share of saturated units and the mean slope against the spread of the inputs, per activation.

    ``table`` is :func:`bnreview.findings.saturation_table`'s ``{activation: {"scale", "saturated", "mean_slope"}}``.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
    for name, row in table.items():
        left.plot(row["scale"], 100 * np.array(row["saturated"]), label=name)
        right.plot(row["scale"], row["mean_slope"], label=name)
    left.set(xscale="log", xlabel="std of the unit's input, s", ylabel="saturated units (%)",
             title="Units whose slope is < 10% of its maximum")
    right.set(xscale="log", xlabel="std of the unit's input, s", ylabel="mean slope / maximum slope",
              title="How much gradient gets through")
    for ax in (left, right):
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def implementations(runs: dict[str, History], title: str | None = None):
    """Two runs of one setting with different BN implementations, side by side.

    Left: test accuracy per epoch; right: the absolute difference of their step losses. Their time is
    benchmarks/trainer.py's, not the runs'.
    """
    (a_name, a), (b_name, b) = runs.items()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    accuracy_curves(runs, ax=axes[0], title="test accuracy per epoch")
    n = min(len(a.step_loss), len(b.step_loss))
    diffs = np.abs(np.array(a.step_loss[:n]) - np.array(b.step_loss[:n]))
    axes[1].semilogy(np.arange(1, n + 1), np.maximum(diffs, 1e-9), lw=0.6)
    axes[1].set(xlabel="SGD step", ylabel=f"|loss({a_name}) - loss({b_name})| (nats)",
                title="step losses, difference (floor 1e-9)")
    axes[1].grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def regularisation(runs: dict[str, list[History]], gaps: dict[str, list[float]], title: str | None = None):
    """Test accuracy per epoch over seeds (left) and the train-test gap (right), per variant.

    Left: the mean over seeds with a min-max band. Right: ``gaps`` (points per seed, from
    :func:`bnreview.findings.regularisation_findings`), bar at the mean, dots the seeds, error bar min to max.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained", width_ratios=(3, 2))
    for i, (label, hs) in enumerate(runs.items()):
        n = min(len(h.test_acc) for h in hs)
        _spread(left, np.arange(1, n + 1), [h.test_acc[:n] for h in hs], f"C{i}", label)
    left.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy per epoch (band: min to max)")
    left.xaxis.get_major_locator().set_params(integer=True)
    left.legend(fontsize="small", loc="lower right")
    left.grid(alpha=0.3)
    grouped_bars({"": gaps}, "training minus test accuracy (points)", ax=right, title="train-test gap at the end")
    right.set_xticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def accuracy_per_epoch(runs: dict[str, list[History]], ax=None, title: str | None = None):
    """Test accuracy after each epoch, ``{label: [History per seed]}``: mean over seeds, min-max band."""
    fig, ax = figure_and_axes(ax)
    for i, (label, hs) in enumerate(runs.items()):
        n = min(len(h.test_acc) for h in hs)
        _spread(ax, np.arange(1, n + 1), [h.test_acc[:n] for h in hs], f"C{i}",
                f"{label} ({len(hs)} seed{'s' if len(hs) > 1 else ''})")
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", title=title)
    ax.legend(fontsize="small", loc="lower right")
    ax.grid(alpha=0.3)
    return fig
