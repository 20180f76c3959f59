"""The loss landscape along the gradient (Santurkar et al. 2018's Figure 4, on LeNet): with and without BN."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["landscape_curves"]

COLORS = {"without BN": "tab:blue", "with BN": "tab:orange"}
ROWS = {"loss_range": "range of the loss\nalong the gradient", "gradient_change": "largest change of\nthe gradient (l2)"}


def landscape_curves(measured: dict, title: str | None = None):
    """One column per learning rate, one row per measure (log scale), against the training step: the median over
    the seeds as a line, the min-max over the seeds as a band, without BN (blue) and with BN (orange)."""
    lrs = sorted({lr for _, lr in measured})
    fig, axes = plt.subplots(len(ROWS), len(lrs), figsize=(4.2 * len(lrs), 5.2), sharex=True, squeeze=False)
    for col, lr in enumerate(lrs):
        for row, (measure, label) in enumerate(ROWS.items()):
            ax = axes[row][col]
            for name, color in COLORS.items():
                runs = measured.get((name, lr), [])
                if not runs:
                    continue
                steps = runs[0]["steps"]
                values = np.array([run[measure] for run in runs], dtype=float)
                values[~np.isfinite(values)] = np.nan
                ax.fill_between(steps, np.nanmin(values, 0), np.nanmax(values, 0), color=color, alpha=0.2, lw=0)
                ax.plot(steps, np.nanmedian(values, 0), color=color, label=name)
            ax.set_yscale("log")
            if col == 0:
                ax.set_ylabel(label)
            if row == 0:
                ax.set_title(f"lr {lr:g}", fontsize=10)
            if row == len(ROWS) - 1:
                ax.set_xlabel("training step")
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
