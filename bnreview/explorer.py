"""The explorer of precomputed runs for the static book: learning rate x where BN goes. It only draws.

The runs are the explorer's grid of :mod:`bnreview.experiments.lr_sweep`
(:func:`~bnreview.experiments.compute_grid` trains or reads them, a
:class:`~bnreview.experiments.Grid` holds them, :data:`~bnreview.experiments.PLACEMENTS` names the
placements). This module draws them as one plotly figure holding every run: in the page the
reader picks the learning rate with a slider and the placement with buttons; a few lines of
JavaScript switch which traces are visible. Nothing runs in Python there: the page needs no kernel.

* :func:`build_figure` makes the plotly figure; :func:`explorer_html` the HTML fragment (a
  ``<script src=PLOTLY_SRC>`` tag, the controls, the figure and its script);
  :func:`explorer_display` wraps it for display in a notebook.
* :func:`accuracy_vs_lr` draws the key result with matplotlib, for readers without JavaScript;
  :func:`summary_markdown` tabulates :func:`~bnreview.experiments.grid_summary`.

The script and the controls' style are package data, ``bnreview/static/explorer.js`` and
``explorer.css`` (:func:`static_text`), filled in with :class:`string.Template`.

The page's JavaScript API, for tests: the figure's div (id :data:`DIV_ID`) gets
``div.bnSelect(lrIndex, placementIndex)`` and ``div.bnState`` (``{lr, placement}``
indices) and the attributes ``data-lr``/``data-placement`` (value, key); each trace carries
``meta = {kind, lr, placement, ref}`` (``lr`` -1 for traces that span all learning rates).
The controls: ``<input type=range id="<DIV_ID>-lr">`` and ``<button data-placement="<j>"
data-key="<key>">`` inside ``#<DIV_ID>-controls``; ``#<DIV_ID>-summary`` states the
selected run's outcome.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Sequence
from importlib import resources
from string import Template

from bnreview import criteria, experiments
from bnreview.plots import accuracy_points
from bnreview.experiments import Grid
from bnreview.train import History

# Where the page loads plotly.js from, relative to the chapter's HTML page. The book's Sphinx
# extension (book/bnreview_book.py) copies the plotly package's plotly.min.js to
# <html>/_static/plotly.min.js. Set to None to emit no <script> tag (the page provides Plotly).
PLOTLY_SRC: str | None = "../_static/plotly.min.js"
BOOK_ENV = "BNREVIEW_BOOK"  # "1" while the book is built: pages serve plotly.js from _static/
DIV_ID = "bn-explorer"
LOSS_SMOOTH = 20  # steps in the trailing mean of the plotted training loss
LOSS_EVERY = 5  # plot the smoothed loss every this many steps (keeps the page small)
REFERENCE_COLOR = "#8c8c8c"
COLORS = ("#444444", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#d62728", "#8c564b")



def static_text(name: str) -> str:
    """A file of the package data ``bnreview/static`` (``explorer.js``, ``explorer.css``) as text."""
    return (resources.files("bnreview") / "static" / name).read_text(encoding="utf-8")


# --- words ---------------------------------------------------------------------------------

def lr_text(lr: float) -> str:
    """A learning rate as the page writes it ("0.9", "3")."""
    return f"{lr:g}"


def outcome(history: History) -> str:
    """A run's outcome in words: its final test accuracy, and where it diverged."""
    acc = f"final test accuracy {100 * history.final_test_acc:.1f}%"
    if history.diverged:
        return f"diverged at step {history.diverged_step}; {acc}"
    return acc


def run_label(grid: Grid, i: int, j: int) -> str:
    """Run ``(i, j)`` named by its learning rate and placement."""
    return f"lr {lr_text(grid.lrs[i])}, BN: {grid.placements[j].label}"


def run_title(grid: Grid, i: int, j: int) -> str:
    """Run ``(i, j)`` named, with its outcome."""
    return f"{run_label(grid, i, j)}: {outcome(grid.runs[i, j])}"


def settings_text(grid: Grid) -> str:
    """The setting every run of the grid shares, in words: steps, epochs, images, batch, seed."""
    c = grid.config
    epochs = f"{c.epochs} epoch{'s' * (c.epochs != 1)}"
    held_out = f", {c.val_size:,} held out" if c.val_size else ""
    return (f"{grid.steps:,} SGD steps ({epochs} over {grid.n_train_text()} training images{held_out}), "
            f"batch {c.batch_size}, seed {c.seed}")


def summary_markdown(grid: Grid, accuracy: float = criteria.TRAINS_ACCURACY) -> str:
    """:func:`~bnreview.experiments.grid_summary` as a Markdown table, one row per placement, in the words of the
    book's criteria."""
    numbers = experiments.grid_summary(grid, accuracy)

    def lr_or_dash(lr):
        return "-" if lr is None else lr_text(lr)

    rows = [f"| BN placement | lr chosen on validation | its final test accuracy | largest lr that trains "
            f"(ends at {100 * accuracy:g}% or more, no divergence; seed {grid.config.seed}) | runs that diverged |",
            "| --- | ---: | ---: | ---: | ---: |"]
    for p in grid.placements:
        row = numbers[p.key]
        rows.append(f"| {p.label} | {lr_text(row['best_lr'])} | {row['best_acc']:.2f}% | "
                    f"{lr_or_dash(row['largest_trains_lr'])} | {row['n_diverged']} of {len(grid.lrs)} |")
    return "\n".join(rows)


# --- the static figure ---------------------------------------------------------------------

def accuracy_vs_lr(grid: Grid, ax=None):
    """Final test accuracy against the learning rate, one line per placement; crosses mark diverged runs."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
    for j, p in enumerate(grid.placements):
        accs = [100 * grid.final_acc(i, j) for i in range(len(grid.lrs))]
        color = COLORS[j % len(COLORS)]
        ax.plot(grid.lrs, accs, "-o", ms=4, color=color, label=p.label)
        gone = [i for i in range(len(grid.lrs)) if grid.runs[i, j].diverged]
        ax.plot([grid.lrs[i] for i in gone], [accs[i] for i in gone], "x", ms=10, mew=2, color=color)
    ax.plot([], [], "kx", ms=8, mew=2, label="diverged")
    ax.set(xscale="log", xlabel="learning rate (SGD, log scale)", ylabel="final test accuracy (%)", ylim=(0, 100),
           title=f"LeNet after {settings_text(grid)}")
    ax.set_xticks(grid.lrs, [lr_text(lr) for lr in grid.lrs])
    ax.minorticks_off()
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", title="BN placement", title_fontsize="small", loc="lower left")
    return ax.figure


# --- the interactive figure ----------------------------------------------------------------

def trailing_mean(values: Sequence[float], window: int, every: int = 1) -> tuple[list[int], list[float | None]]:
    """Trailing mean over up to ``window`` steps (fewer at the start) at every ``every``-th step and the last one.

    Non-finite values leave gaps (None); values keep 4 significant digits (the page stays small).
    """
    xs, ys = [], []
    for k in range(len(values)):
        if (k + 1) % every and k != len(values) - 1 and k:
            continue
        chunk = values[max(0, k + 1 - window): k + 1]
        mean = sum(chunk) / len(chunk)
        xs.append(k + 1)
        ys.append(float(f"{mean:.4g}") if math.isfinite(mean) else None)
    return xs, ys


def default_selection(grid: Grid) -> tuple[int, int]:
    """The review's setting where the grid has it (lr 0.9, BN on all four layers), else the middle."""
    i = grid.lrs.index(0.9) if 0.9 in grid.lrs else len(grid.lrs) // 2
    keys = [p.key for p in grid.placements]
    j = keys.index("all") if "all" in keys else len(keys) - 1
    return i, j


class _Traces:
    """Adds the explorer's traces to ``fig``, each visible only when it belongs to the selection ``(i0, j0)``."""

    def __init__(self, fig, grid: Grid, selected: tuple[int, int]):
        import plotly.graph_objects as go

        self.go, self.fig, self.grid = go, fig, grid
        self.i0, self.j0 = selected
        keys = [p.key for p in grid.placements]
        self.none = keys.index("none") if "none" in keys else -1

    def visible(self, lr: int, j: int, ref: bool) -> bool:
        """A trace of learning rate ``lr`` (-1: all) and placement ``j`` shows for the selection."""
        return lr in (-1, self.i0) and (self.j0 != self.none if ref else j == self.j0)

    def kwargs(self, kind: str, lr: int, j: int, ref: bool = False) -> dict:
        """The visibility and ``meta`` of a trace."""
        return {"visible": self.visible(lr, j, ref), "meta": {"kind": kind, "lr": lr, "placement": j, "ref": ref}}

    def curves(self, i: int, j: int, label: str, color: str, dash: str, ref: bool) -> None:
        """Run ``(i, j)``'s training loss (top left) and test accuracy (top right)."""
        h, go, name = self.grid.runs[i, j], self.go, html.escape(label)
        line = dict(color=color, dash=dash, width=1.5 if ref else 2)
        xs, ys = trailing_mean(h.step_loss, LOSS_SMOOTH, LOSS_EVERY)
        mode = "lines+markers" if len(xs) < 40 else "lines"  # a run that diverged at once is a few points
        self.fig.add_trace(go.Scatter(x=xs, y=ys, mode=mode, marker=dict(size=5), name=label, line=line,
                                      legendgroup=label,
                                      hovertemplate=f"step %{{x}}: loss %{{y:.3g}}<extra>{name}</extra>",
                                      **self.kwargs("loss", i, j, ref)), row=1, col=1)
        xs, ys = accuracy_points(h)
        self.fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", marker=dict(size=5), name=label,
                                      showlegend=False, line=line, legendgroup=label,
                                      hovertemplate=f"step %{{x}}: %{{y:.2f}}%<extra>{name}</extra>",
                                      **self.kwargs("acc", i, j, ref)), row=1, col=2)

    def sweep(self, j: int, label: str, color: str, dash: str, ref: bool) -> None:
        """Placement ``j``'s final test accuracy against the learning rate (bottom)."""
        grid, n = self.grid, len(self.grid.lrs)
        accs = [round(100 * grid.final_acc(i, j), 2) for i in range(n)]
        symbols = ["x" if grid.runs[i, j].diverged else "circle" for i in range(n)]
        self.fig.add_trace(self.go.Scatter(
            x=list(grid.lrs), y=accs, mode="lines+markers", name=label, showlegend=False,
            text=[outcome(grid.runs[i, j]) for i in range(n)],
            line=dict(color=color, dash=dash, width=2 if dash == "solid" else 1.5),
            marker=dict(size=8, symbol=symbols, color=color),
            hovertemplate=f"lr %{{x}}: %{{text}}<extra>{html.escape(label)}</extra>",
            **self.kwargs("sweep", -1, j, ref)), row=2, col=1)

    def marker(self, i: int, j: int, color: str) -> None:
        """The ring around run ``(i, j)`` on the bottom panel."""
        h = self.grid.runs[i, j]
        self.fig.add_trace(self.go.Scatter(
            x=[self.grid.lrs[i]], y=[round(100 * h.final_test_acc, 2)], mode="markers", showlegend=False,
            marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(color=color, width=3)),
            hovertemplate=f"selected: {html.escape(outcome(h))}<extra></extra>",
            **self.kwargs("marker", i, j)), row=2, col=1)


def _style_axes(fig, grid: Grid) -> None:
    fig.update_xaxes(title_text="SGD step", row=1, col=1)
    ticks = [m * 10.0 ** e for e in range(-3, 7) for m in (1, 2, 5)]  # plotly's own log ticks drop the exponent
    fig.update_yaxes(title_text="training loss (nats)", type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks],
                     row=1, col=1)
    fig.update_xaxes(title_text="SGD step", row=1, col=2)
    fig.update_yaxes(title_text="test accuracy (%)", range=[0, 101], row=1, col=2)
    fig.update_xaxes(title_text="learning rate (log scale)", type="log", tickvals=list(grid.lrs),
                     ticktext=[lr_text(lr) for lr in grid.lrs], row=2, col=1)
    fig.update_yaxes(title_text="final test accuracy (%)", range=[0, 101], row=2, col=1)
    fig.update_layout(
        height=700, margin=dict(l=60, r=20, t=40, b=50), template="plotly_white",
        legend=dict(orientation="h", yanchor="bottom", y=1.06, x=0),
        meta={"lrs": list(grid.lrs), "placements": [p.key for p in grid.placements]},
    )


def build_figure(grid: Grid, selected: tuple[int, int] | None = None):
    """One plotly figure holding every run; only the selected run's traces (and the no-BN reference) are visible.

    Top left: training loss per step (trailing mean over :data:`LOSS_SMOOTH` steps, log
    scale). Top right: test accuracy along training. Bottom: final test accuracy against the
    learning rate for the selected placement, the selected run ringed. The no-BN runs are
    drawn in grey for comparison when another placement is selected. Every trace's ``meta``
    is ``{kind, lr, placement, ref}``, kind one of loss, acc, sweep, marker.
    """
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=2, cols=2, specs=[[{}, {}], [{"colspan": 2}, None]], horizontal_spacing=0.1, vertical_spacing=0.16,
        subplot_titles=(f"training loss (mean of the last {LOSS_SMOOTH} steps)", "test accuracy during training",
                        "final test accuracy against the learning rate"))
    traces = _Traces(fig, grid, default_selection(grid) if selected is None else selected)
    if traces.none >= 0:  # grey references first, so the selected run is drawn over them
        for i in range(len(grid.lrs)):
            traces.curves(i, traces.none, "no BN, same lr", REFERENCE_COLOR, "dash", True)
        traces.sweep(traces.none, "no BN", REFERENCE_COLOR, "dash", True)
    for j, p in enumerate(grid.placements):
        color = COLORS[j % len(COLORS)]
        for i in range(len(grid.lrs)):
            traces.curves(i, j, f"BN: {p.label}", color, "solid", False)
        traces.sweep(j, p.label, color, "solid", False)
        for i in range(len(grid.lrs)):
            traces.marker(i, j, color)
    _style_axes(fig, grid)
    return fig


# --- the page fragment ---------------------------------------------------------------------

def _controls_html(grid: Grid, div_id: str, selected: tuple[int, int]) -> str:
    i0, j0 = selected
    esc = html.escape
    buttons = "".join(
        f'<button type="button" data-placement="{j}" data-key="{esc(p.key)}" '
        f'aria-pressed="{"true" if j == j0 else "false"}">{esc(p.label)}</button>'
        for j, p in enumerate(grid.placements)
    )
    style = Template(static_text("explorer.css")).substitute(id=div_id)
    return (
        f"<style>{style}</style>"
        # Hidden until the script has wired it up: without JavaScript (or plotly.js) no dead control shows.
        f'<div id="{div_id}-controls" class="bn-explorer-controls" style="display: none">'
        f'<div class="bn-explorer-row"><label for="{div_id}-lr">learning rate</label>'
        f'<input type="range" id="{div_id}-lr" min="0" max="{len(grid.lrs) - 1}" step="1" value="{i0}" '
        f'aria-valuetext="{esc(lr_text(grid.lrs[i0]))}">'
        f'<output id="{div_id}-lr-value" for="{div_id}-lr">{esc(lr_text(grid.lrs[i0]))}</output>'
        f'<span class="bn-explorer-range">({esc(" / ".join(lr_text(lr) for lr in grid.lrs))})</span></div>'
        f'<div class="bn-explorer-row" role="group" aria-label="BN placement"><span>BN placement</span>{buttons}</div>'
        f'<p id="{div_id}-summary" aria-live="polite"><strong>{esc(run_title(grid, i0, j0))}</strong></p>'
        "</div>"
    )


def _script(grid: Grid, div_id: str, selected: tuple[int, int]) -> str:
    keys = [p.key for p in grid.placements]
    state = {
        "lrs": list(grid.lrs),
        "lrLabels": [lr_text(lr) for lr in grid.lrs],
        "placements": keys,
        "none": keys.index("none") if "none" in keys else -1,
        "titles": [[run_title(grid, i, j) for j in range(len(keys))] for i in range(len(grid.lrs))],
        "initial": list(selected),
    }
    return Template(static_text("explorer.js")).substitute(
        id=json.dumps(div_id), state=json.dumps(state).replace("</", "<\\/"))


def explorer_html(grid: Grid, div_id: str = DIV_ID, plotly_src: str | None = None,
                  selected: tuple[int, int] | None = None) -> str:
    """The explorer as an HTML fragment: plotly.js (from ``plotly_src``, default :data:`PLOTLY_SRC`), controls, figure.

    No CDN: the figure is emitted with ``include_plotlyjs=False``, so the page must serve
    plotly.js at ``plotly_src`` (the book does) or load it otherwise (``plotly_src=None``).
    """
    selected = default_selection(grid) if selected is None else selected
    src = PLOTLY_SRC if plotly_src is None else plotly_src
    fig = build_figure(grid, selected)
    figure = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                         post_script=_script(grid, div_id, selected),
                         config={"responsive": True, "displaylogo": False,
                                 "modeBarButtonsToRemove": ["select2d", "lasso2d"]})
    loader = f'<script src="{html.escape(src)}"></script>' if src else ""
    return f'<div class="bn-explorer">{loader}{_controls_html(grid, div_id, selected)}{figure}</div>'


def explorer_display(grid: Grid, **kwargs):
    """The explorer as a notebook display object (``IPython.display.HTML`` of :func:`explorer_html`).

    The book's build (``BNREVIEW_BOOK=1``, set by ``make book``) loads plotly.js from the page's
    ``_static/``. JupyterLab serves no such folder, so in a live notebook the output carries
    plotly.js itself (about 4.6 MB, from the installed ``plotly`` package: still no CDN).
    """
    from IPython.display import HTML

    if os.environ.get(BOOK_ENV) == "1" or "plotly_src" in kwargs:
        return HTML(explorer_html(grid, **kwargs))
    from plotly.offline import get_plotlyjs

    plotly_js = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    return HTML(plotly_js + explorer_html(grid, plotly_src="", **kwargs))
