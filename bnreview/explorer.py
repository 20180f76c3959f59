"""An explorer of precomputed runs for the static book: learning rate x where BN goes.

The book trains LeNet for every pair of a learning rate in :data:`LRS` and a BN placement
in :data:`PLACEMENTS`, then draws one plotly figure holding every run. In the page the
reader picks the learning rate with a slider and the placement with buttons; a few lines of
JavaScript switch which traces are visible. Nothing runs in Python there: the page needs no
kernel.

The runs are those of the learning-rate chapter (:func:`bnreview.experiments.sweep_config`:
one epoch over the training set, test accuracy every 100 steps; seed 0), so they are shared
through the run cache: that chapter already trains no BN and BN on all four layers at every
learning rate, and every placement at lr 0.1, 0.9 and 3; the explorer adds the other placements at the
other learning rates.

* :func:`compute_grid` trains (or reads from the cache) the grid; :func:`grid_settings`
  gives the full profile's grid or, under ``BNREVIEW_QUICK=1``, a much smaller one.
* :func:`build_figure` makes the plotly figure; :func:`explorer_html` the HTML fragment (a
  ``<script src=PLOTLY_SRC>`` tag, the controls, the figure and its script);
  :func:`explorer` wraps it for display in a notebook.
* :func:`accuracy_vs_lr` draws the key result with matplotlib, for readers without JavaScript.

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
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from bnreview import cache, experiments, findings
from bnreview.models import BN_LAYERS
from bnreview.config import TrainConfig, is_quick
from bnreview.train import History

# Where the page loads plotly.js from, relative to the chapter's HTML page. The book's Sphinx
# extension (book/bnreview_book.py) copies the plotly package's plotly.min.js to
# <html>/_static/plotly.min.js. Set to None to emit no <script> tag (the page provides Plotly).
PLOTLY_SRC: str | None = "../_static/plotly.min.js"
DIV_ID = "bn-explorer"

LRS = experiments.LRS  # the learning-rate chapter's: 0.01 ... 9
QUICK_LRS = experiments.QUICK_LRS
QUICK_PLACEMENTS = ("none", "all")
SEED = 0
LOSS_SMOOTH = 20  # steps in the trailing mean of the plotted training loss
LOSS_EVERY = 5  # plot the smoothed loss every this many steps (keeps the page small)
REFERENCE_COLOR = "#8c8c8c"


@dataclass(frozen=True)
class Placement:
    """Where BN goes in LeNet: on which layers, before or after the nonlinearity."""

    key: str
    label: str
    bn: tuple[str, ...]
    position: str = "before"


PLACEMENTS = (
    Placement("none", "no BN", ()),
    Placement("convs", "convolutions only", ("conv1", "conv2", "conv3")),
    Placement("fc1", "fc1 only", ("fc1",)),
    Placement("all", "all four layers", BN_LAYERS),
    Placement("all-after", "all four, after tanh", BN_LAYERS, "after"),
)
PLACEMENT_BY_KEY = {p.key: p for p in PLACEMENTS}
COLORS = ("#444444", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#d62728", "#8c564b")


def placement(key: str | Placement) -> Placement:
    if isinstance(key, Placement):
        return key
    try:
        return PLACEMENT_BY_KEY[key]
    except KeyError:
        raise ValueError(f"unknown placement {key!r}; accepted: {', '.join(PLACEMENT_BY_KEY)}") from None


def grid_settings(quick: bool | None = None) -> dict:
    """The grid the book computes: learning rates and placements.

    Full profile: :data:`LRS` x every placement in :data:`PLACEMENTS`. Quick profile
    (``BNREVIEW_QUICK=1``): :data:`QUICK_LRS`, with and without BN (and each run shrunk by
    the quick profile, see :func:`bnreview.experiments.sweep_config`).
    """
    quick = is_quick() if quick is None else quick
    if quick:
        return {"lrs": tuple(QUICK_LRS), "placements": tuple(map(placement, QUICK_PLACEMENTS))}
    return {"lrs": tuple(LRS), "placements": PLACEMENTS}


def run_config(lr: float, where: str | Placement, seed: int = SEED, **changes) -> TrainConfig:
    """One run of the grid: the learning-rate chapter's run (same cache entry) with BN where asked."""
    p = placement(where)
    if p.bn:
        changes = {"bn_position": p.position, **changes}
    return experiments.sweep_config(lr, p.bn, seed=seed, **changes)


@dataclass
class Grid:
    """Runs for every (learning rate, placement) pair; ``runs[i, j]`` is lr ``lrs[i]`` with ``placements[j]``."""

    lrs: tuple[float, ...]
    placements: tuple[Placement, ...]
    configs: dict[tuple[int, int], TrainConfig] = field(default_factory=dict)
    runs: dict[tuple[int, int], History] = field(default_factory=dict)
    wall_seconds: float = 0.0  # this computation's wall time (small when the runs came from the cache)

    def index(self, lr: float, where: str | Placement) -> tuple[int, int]:
        key = placement(where).key
        return self.lrs.index(lr), [p.key for p in self.placements].index(key)

    def run(self, lr: float, where: str | Placement) -> History:
        return self.runs[self.index(lr, where)]

    @property
    def config(self) -> TrainConfig:
        """The settings every run shares (the first run's config; lr and BN differ)."""
        return self.configs[0, 0]

    @property
    def epochs(self) -> int:
        return self.config.epochs

    @property
    def n_train(self) -> int | None:
        return self.config.n_train

    @property
    def steps(self) -> int:
        """SGD steps of a run that did not diverge."""
        h = self.runs[0, 0]
        return self.config.steps or self.epochs * h.steps_per_epoch

    def train_seconds(self, i: int, j: int) -> float:
        """The run's training time when it was computed (evaluation excluded), from its History."""
        return float(sum(self.runs[i, j].epoch_seconds))

    @property
    def n_runs(self) -> int:
        return len(self.runs)

    def final_acc(self, i: int, j: int) -> float:
        return self.runs[i, j].final_test_acc

    def n_train_text(self) -> str:
        return f"{60_000 - self.config.val_size:,}" if self.n_train is None else f"{self.n_train:,}"


def compute_grid(
    lrs: Sequence[float] | None = None,
    placements: Iterable[str | Placement] | None = None,
    seed: int = SEED,
    progress: bool = False,
    make_config: Callable[..., TrainConfig] = run_config,
    **changes,
) -> Grid:
    """Train (or read from the run cache) every run of the grid. Unset arguments come from :func:`grid_settings`.

    ``changes`` override fields of every run's config (tests: a small ``n_train``, ``device``).
    """
    settings = grid_settings()
    lrs = tuple(settings["lrs"] if lrs is None else lrs)
    chosen = tuple(map(placement, settings["placements"] if placements is None else placements))
    grid = Grid(lrs=lrs, placements=chosen)
    start = time.perf_counter()
    for j, p in enumerate(chosen):
        for i, lr in enumerate(lrs):
            config = make_config(lr, p, seed=seed, **changes)
            grid.configs[i, j] = config
            grid.runs[i, j] = cache.cached_train(config, progress=progress)
    grid.wall_seconds = time.perf_counter() - start
    return grid


# --- words and numbers ---------------------------------------------------------------------

def lr_text(lr: float) -> str:
    return f"{lr:g}"


def outcome(history: History) -> str:
    """A run's outcome in words: its final test accuracy, and where it diverged."""
    acc = f"final test accuracy {100 * history.final_test_acc:.1f}%"
    if history.diverged:
        return f"diverged at step {history.diverged_step}; {acc}"
    return acc


def run_label(grid: Grid, i: int, j: int) -> str:
    return f"lr {lr_text(grid.lrs[i])}, BN: {grid.placements[j].label}"


def run_title(grid: Grid, i: int, j: int) -> str:
    return f"{run_label(grid, i, j)}: {outcome(grid.runs[i, j])}"


def summary(grid: Grid, accuracy: float = findings.TRAINS_ACCURACY) -> dict:
    """Numbers for the chapter's text, per placement, with the book's one set of criteria (:mod:`bnreview.findings`):

    - ``best_lr``: the learning rate chosen on the held-out validation images
      (:func:`~bnreview.findings.best_by_validation`), ``best_acc`` its final test accuracy (%);
    - ``largest_trains_lr``: the largest learning rate that trains (:func:`~bnreview.findings.trains`: the
      run ends at ``accuracy`` test accuracy or more and did not diverge), here on the grid's one seed;
    - ``min_diverged_lr``/``n_diverged``: the smallest learning rate at which the run diverged, and how many did.
    """
    out = {}
    for j, p in enumerate(grid.placements):
        runs = {lr: [grid.runs[i, j]] for i, lr in enumerate(grid.lrs)}
        best = findings.best_by_validation(runs, grid.lrs)
        diverged = [lr for lr in grid.lrs if runs[lr][0].diverged]
        out[p.key] = {
            "label": p.label,
            "best_lr": best,
            "best_acc": 100 * runs[best][0].final_test_acc,
            "largest_trains_lr": findings.largest_trainable_lr({(p.key, lr): r for lr, r in runs.items()}, p.key,
                                                               accuracy),
            "min_diverged_lr": min(diverged) if diverged else None,
            "n_diverged": len(diverged),
        }
    seconds = [grid.train_seconds(i, j) for (i, j) in grid.runs]
    out["seconds_per_run"] = sum(seconds) / max(len(seconds), 1)
    out["seconds_total"] = sum(seconds)
    return out


def summary_markdown(grid: Grid, accuracy: float = findings.TRAINS_ACCURACY) -> str:
    """:func:`summary` as a Markdown table, one row per placement, in the words of the book's criteria."""
    numbers = summary(grid, accuracy)

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


def settings_text(grid: Grid) -> str:
    c = grid.config
    epochs = f"{c.epochs} epoch{'s' * (c.epochs != 1)}"
    held_out = f", {c.val_size:,} held out" if c.val_size else ""
    return (f"{grid.steps:,} SGD steps ({epochs} over {grid.n_train_text()} training images{held_out}), "
            f"batch {c.batch_size}, seed {c.seed}")


# --- the interactive figure ----------------------------------------------------------------

def _smoothed(values: Sequence[float], window: int, every: int = 1) -> tuple[list[int], list[float | None]]:
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


def _line_mode(xs: Sequence) -> str:
    return "lines+markers" if len(xs) < 40 else "lines"  # a run that diverged at once is a few points


def default_selection(grid: Grid) -> tuple[int, int]:
    """The review's setting where the grid has it (lr 0.9, BN on all four layers), else the middle."""
    i = grid.lrs.index(0.9) if 0.9 in grid.lrs else len(grid.lrs) // 2
    keys = [p.key for p in grid.placements]
    j = keys.index("all") if "all" in keys else len(keys) - 1
    return i, j


def build_figure(grid: Grid, selected: tuple[int, int] | None = None):
    """One plotly figure holding every run; only the selected run's traces (and the no-BN reference) are visible.

    Top left: training loss per step (trailing mean over :data:`LOSS_SMOOTH` steps, log
    scale). Top right: test accuracy along training. Bottom: final test accuracy against the
    learning rate for the selected placement, the selected run ringed. The no-BN runs are
    drawn in grey for comparison when another placement is selected. Every trace's ``meta``
    is ``{kind, lr, placement, ref}``, kind one of loss, acc, sweep, marker.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    i0, j0 = default_selection(grid) if selected is None else selected
    keys = [p.key for p in grid.placements]
    none = keys.index("none") if "none" in keys else -1
    fig = make_subplots(
        rows=2, cols=2, specs=[[{}, {}], [{"colspan": 2}, None]], horizontal_spacing=0.1, vertical_spacing=0.16,
        subplot_titles=(f"training loss (mean of the last {LOSS_SMOOTH} steps)", "test accuracy during training",
                        "final test accuracy against the learning rate"))

    def visible(lr: int, j: int, ref: bool) -> bool:
        return lr in (-1, i0) and (j0 != none if ref else j == j0)

    def meta(kind, lr, j, ref=False):
        return {"kind": kind, "lr": lr, "placement": j, "ref": ref}

    def curves(i, j, label, color, dash, ref):
        h = grid.runs[i, j]
        width = 1.5 if ref else 2
        xs, ys = _smoothed(h.step_loss, LOSS_SMOOTH, LOSS_EVERY)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode=_line_mode(xs), marker=dict(size=5), name=label,
                                 line=dict(color=color, dash=dash, width=width), legendgroup=label,
                                 visible=visible(i, j, ref), meta=meta("loss", i, j, ref),
                                 hovertemplate=f"step %{{x}}: loss %{{y:.3g}}<extra>{html.escape(label)}</extra>"),
                      row=1, col=1)
        xs, ys = accuracy_points(h)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", marker=dict(size=5), name=label, showlegend=False,
                                 line=dict(color=color, dash=dash, width=width), legendgroup=label,
                                 visible=visible(i, j, ref), meta=meta("acc", i, j, ref),
                                 hovertemplate=f"step %{{x}}: %{{y:.2f}}%<extra>{html.escape(label)}</extra>"),
                      row=1, col=2)

    # Grey references first, so the selected run is drawn over them.
    if none >= 0:
        for i in range(len(grid.lrs)):
            curves(i, none, "no BN, same lr", REFERENCE_COLOR, "dash", True)
        fig.add_trace(_sweep_trace(go, grid, none, "no BN", REFERENCE_COLOR, "dash", visible(-1, none, True),
                                   meta("sweep", -1, none, True)), row=2, col=1)
    for j, p in enumerate(grid.placements):
        color = COLORS[j % len(COLORS)]
        for i in range(len(grid.lrs)):
            curves(i, j, f"BN: {p.label}", color, "solid", False)
        fig.add_trace(_sweep_trace(go, grid, j, p.label, color, "solid", visible(-1, j, False), meta("sweep", -1, j)),
                      row=2, col=1)
        for i in range(len(grid.lrs)):
            h = grid.runs[i, j]
            fig.add_trace(go.Scatter(x=[grid.lrs[i]], y=[round(100 * h.final_test_acc, 2)], mode="markers",
                                     showlegend=False,
                                     marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(color=color, width=3)),
                                     visible=visible(i, j, False), meta=meta("marker", i, j),
                                     hovertemplate=f"selected: {html.escape(outcome(h))}<extra></extra>"),
                          row=2, col=1)
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
        meta={"lrs": list(grid.lrs), "placements": keys},
    )
    return fig


def _sweep_trace(go, grid: Grid, j: int, label: str, color: str, dash: str, visible: bool, meta: dict):
    accs = [100 * grid.final_acc(i, j) for i in range(len(grid.lrs))]
    diverged = [grid.runs[i, j].diverged for i in range(len(grid.lrs))]
    text = [outcome(grid.runs[i, j]) for i in range(len(grid.lrs))]
    return go.Scatter(x=list(grid.lrs), y=[round(a, 2) for a in accs], mode="lines+markers", name=label, text=text,
                      showlegend=False,
                      line=dict(color=color, dash=dash, width=2 if dash == "solid" else 1.5),
                      marker=dict(size=8, symbol=["x" if d else "circle" for d in diverged], color=color),
                      visible=visible, meta=meta,
                      hovertemplate=f"lr %{{x}}: %{{text}}<extra>{html.escape(label)}</extra>")


_CONTROLS_CSS = """
#{id}-controls {{ margin: 0.5em 0; font-size: 0.95em; }}
#{id}-controls .bn-explorer-row {{ display: flex; flex-wrap: wrap; align-items: center; gap: 0.5em; margin: 0.3em 0; }}
#{id}-controls input[type=range] {{ width: 16em; }}
#{id}-controls output {{ font-weight: bold; min-width: 3em; }}
#{id}-controls button {{ border: 1px solid #888; border-radius: 4px; background: #fff; color: #222;
  padding: 0.2em 0.7em; cursor: pointer; }}
#{id}-controls button[aria-pressed=true] {{ background: #1f77b4; border-color: #1f77b4; color: #fff; }}
#{id}-summary {{ margin: 0.3em 0; }}
"""

_SCRIPT = """
(function () {
  var gd = document.getElementById(%(id)s);
  var S = %(state)s;
  var controls = document.getElementById(%(id)s + "-controls");
  var slider = document.getElementById(%(id)s + "-lr");
  var shown = document.getElementById(%(id)s + "-lr-value");
  var summary = document.getElementById(%(id)s + "-summary");
  var buttons = controls.querySelectorAll("button[data-placement]");
  function clamp(k, n) { k = Math.round(Number(k)); return isFinite(k) ? Math.max(0, Math.min(n - 1, k)) : 0; }
  function select(i, j) {
    i = clamp(i, S.lrs.length); j = clamp(j, S.placements.length);
    var visible = gd.data.map(function (t) {
      var m = t.meta || {};
      var lrOk = m.lr === -1 || m.lr === i;
      return lrOk && (m.ref ? j !== S.none : m.placement === j);
    });
    gd.bnState = {lr: i, placement: j};
    gd.setAttribute("data-lr", String(S.lrs[i]));
    gd.setAttribute("data-placement", S.placements[j]);
    slider.value = String(i);
    shown.textContent = S.lrLabels[i];
    summary.firstChild.textContent = S.titles[i][j];
    for (var b = 0; b < buttons.length; b++) {
      buttons[b].setAttribute("aria-pressed", Number(buttons[b].getAttribute("data-placement")) === j ? "true" : "false");
    }
    return Plotly.restyle(gd, {visible: visible});
  }
  gd.bnSelect = select;
  slider.addEventListener("input", function () { select(slider.value, gd.bnState.placement); });
  for (var b = 0; b < buttons.length; b++) {
    buttons[b].addEventListener("click", function (event) {
      select(gd.bnState.lr, event.currentTarget.getAttribute("data-placement"));
    });
  }
  controls.style.display = "";
  select(S.initial[0], S.initial[1]);
})();
"""


def _controls_html(grid: Grid, div_id: str, selected: tuple[int, int]) -> str:
    i0, j0 = selected
    esc = html.escape
    buttons = "".join(
        f'<button type="button" data-placement="{j}" data-key="{esc(p.key)}" '
        f'aria-pressed="{"true" if j == j0 else "false"}">{esc(p.label)}</button>'
        for j, p in enumerate(grid.placements)
    )
    return (
        f"<style>{_CONTROLS_CSS.format(id=div_id)}</style>"
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


def explorer_html(grid: Grid, div_id: str = DIV_ID, plotly_src: str | None = None,
                  selected: tuple[int, int] | None = None) -> str:
    """The explorer as an HTML fragment: plotly.js (from ``plotly_src``, default :data:`PLOTLY_SRC`), controls, figure.

    No CDN: the figure is emitted with ``include_plotlyjs=False``, so the page must serve
    plotly.js at ``plotly_src`` (the book does) or load it otherwise (``plotly_src=None``).
    """
    selected = default_selection(grid) if selected is None else selected
    src = PLOTLY_SRC if plotly_src is None else plotly_src
    keys = [p.key for p in grid.placements]
    state = {
        "lrs": list(grid.lrs),
        "lrLabels": [lr_text(lr) for lr in grid.lrs],
        "placements": keys,
        "none": keys.index("none") if "none" in keys else -1,
        "titles": [[run_title(grid, i, j) for j in range(len(keys))] for i in range(len(grid.lrs))],
        "initial": list(selected),
    }
    script = _SCRIPT % {"id": json.dumps(div_id), "state": json.dumps(state).replace("</", "<\\/")}
    fig = build_figure(grid, selected)
    figure = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, post_script=script,
                         config={"responsive": True, "displaylogo": False,
                                 "modeBarButtonsToRemove": ["select2d", "lasso2d"]})
    loader = f'<script src="{html.escape(src)}"></script>' if src else ""
    return f'<div class="bn-explorer">{loader}{_controls_html(grid, div_id, selected)}{figure}</div>'


def explorer(grid: Grid, **kwargs):
    """The explorer for display in a notebook (``IPython.display.HTML``)."""
    from IPython.display import HTML

    return HTML(explorer_html(grid, **kwargs))
