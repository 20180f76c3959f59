"""The depth chapter's figures: BN's advantage against depth with its intervals, and the pilot's learning rates."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["advantage_by_depth", "pilot_by_depth"]

COLORS = {"without BN": "tab:blue", "with BN": "tab:orange"}


def _interval(ax, x, per_seed: list[list[float]], intervals: list[tuple[float, float] | None], color: str,
              transform=lambda v: v):
    """Each x's seeds as faint dots, their mean as a line, its 95% interval as an error bar (none where absent)."""
    for xi, values in zip(x, per_seed):
        ax.scatter([xi] * len(values), [transform(v) for v in values], s=8, color=color, alpha=0.35, lw=0)
    means = [transform(float(np.mean(v))) for v in per_seed]
    ax.plot(x, means, marker="o", color=color)
    for xi, mean, ci in zip(x, means, intervals):
        if ci is not None:
            lo, hi = transform(ci[0]), transform(ci[1])
            ax.errorbar([xi], [mean], yerr=[[mean - lo], [hi - mean]], color=color, capsize=4, lw=1.5)


def advantage_by_depth(depths, accuracy_diffs, accuracy_intervals, log_step_diffs, step_intervals,
                       title: str | None = None, layers: str = "hidden layers"):
    """Left: BN's advantage in final test accuracy (points) per depth; right: BN's steps to 90% over the steps
    without BN (a ratio, log scale; below 1 BN is faster). Dots: seeds; bars: 95% intervals of the paired mean.
    ``layers``: what the depth counts (the x axis's label)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    _interval(left, depths, accuracy_diffs, accuracy_intervals, "tab:orange")
    left.axhline(0, color="grey", lw=0.8)
    left.set_ylabel("BN's advantage in final test accuracy (points)")
    _interval(right, depths, log_step_diffs, step_intervals, "tab:green", transform=math.exp)
    right.axhline(1, color="grey", lw=0.8)
    right.set_yscale("log")
    right.set_ylabel("steps to 90% with BN / without")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(depths, [str(d) for d in depths])
        ax.set_xlabel(layers)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def pilot_by_depth(curves: dict[tuple[int, str], dict[float, float]], title: str | None = None,
                   layers: str = "hidden layers"):
    """Validation accuracy (%) against the learning rate, one panel per depth, both networks (the pilot's seed);
    ``layers``: what the depth counts (the panels' titles)."""
    depths = sorted({d for d, _ in curves})
    fig, axes = plt.subplots(1, len(depths), figsize=(2.6 * len(depths), 3), sharey=True, squeeze=False)
    for ax, depth in zip(axes[0], depths):
        for name, color in COLORS.items():
            points = sorted(curves.get((depth, name), {}).items())
            if points:
                ax.plot([lr for lr, _ in points], [acc for _, acc in points], marker="o", color=color, label=name)
        ax.set_xscale("log")
        ax.set_title(f"{depth} {layers}", fontsize=9)
        ax.set_xlabel("learning rate")
    axes[0][0].set_ylabel("validation accuracy (%)")
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
