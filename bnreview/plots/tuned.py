"""The tuned baselines' figure (lenet_bn and fashion): each network's pilot over the learning rates, and the final
accuracies at the review's rate against each network's own."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["tuned_baselines"]

COLORS = {"no BN": "tab:blue", "BN": "tab:orange"}


def tuned_baselines(pilot: dict[str, dict[float, float]], rates: dict[str, float],
                    finals: dict[str, dict[str, list[float]]], title: str | None = None):
    """Each network's pilot over the learning rates, and its final accuracies at the review's rate and at its own.

    Left: validation accuracy (%) after the pilot against the learning rate (log scale), the chosen rate ringed and a
    diverged run marked at the bottom. Right: final test accuracy (%) of each network, one dot a seed and a bar at the
    mean, in each setting of ``finals`` (``{setting: {network: [accuracy per seed]}}``)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    finite = [v for curve in pilot.values() for v in curve.values() if not math.isnan(v)]
    floor = min(finite, default=0.0) - 1.0
    for name, curve in pilot.items():
        lrs = sorted(curve)
        left.plot(lrs, [floor if math.isnan(curve[lr]) else curve[lr] for lr in lrs], marker="o",
                  color=COLORS[name], label=name)
        for lr in lrs:
            if math.isnan(curve[lr]):
                left.annotate("diverged", (lr, floor), fontsize=7, color=COLORS[name], ha="center", va="bottom")
        chosen = rates[name]
        left.scatter([chosen], [floor if math.isnan(curve[chosen]) else curve[chosen]], s=160, facecolors="none",
                     edgecolors=COLORS[name], lw=1.5)
    rates = sorted({lr for curve in pilot.values() for lr in curve})
    left.set(xscale="log", xlabel="learning rate", ylabel="validation accuracy (%), first seed",
             title="The pilot (ringed: the rate chosen)")
    left.set_xticks(rates, [f"{lr:g}" for lr in rates])
    left.minorticks_off()
    left.legend(fontsize="small")
    settings = list(finals)
    width = 0.35
    for i, setting in enumerate(settings):
        for j, (name, values) in enumerate(finals[setting].items()):
            x = i + (j - 0.5) * width
            right.scatter([x] * len(values), values, s=12, color=COLORS[name], alpha=0.6, lw=0)
            right.hlines(np.mean(values), x - width / 3, x + width / 3, color=COLORS[name], lw=2,
                         label=name if i == 0 else None)
    right.set_xticks(range(len(settings)), settings)
    right.set(ylabel="final test accuracy (%)", title="Over the seeds")
    right.legend(fontsize="small")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
