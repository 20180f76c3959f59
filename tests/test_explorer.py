"""The explorer of precomputed runs (bnreview.explorer) on the tiny MNIST of conftest.py."""

import json
import math
import re

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from bnreview import data, experiments, explorer  # noqa: E402
from bnreview.models import BN_LAYERS  # noqa: E402
from bnreview.cache import load_cached  # noqa: E402
from bnreview.experiments import PLACEMENTS, compute_grid, grid_settings  # noqa: E402
from bnreview.explorer import DIV_ID, build_figure, explorer_html  # noqa: E402

LRS = (0.1, 1e4)  # 1e4 diverges within a few steps
KEYS = ("none", "fc1", "all")


def small_grid():
    return compute_grid(lrs=LRS, placements=KEYS, n_train=128, val_size=64, device="cpu")


@pytest.fixture(scope="module")
def grid(tiny_root, tmp_path_factory):
    """One grid for the tests that only read it, in a cache of its own (as conftest's ``isolated`` sets up)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(data.ENV_VAR, str(tiny_root))
        mp.setenv("BNREVIEW_CACHE", str(tmp_path_factory.mktemp("explorer-cache")))
        mp.delenv("BNREVIEW_QUICK", raising=False)
        return small_grid()


def test_full_grid_spans_the_learning_rates_and_placements_asked_for():
    full = grid_settings(quick=False)
    assert len(full["lrs"]) >= 6 and min(full["lrs"]) == 0.01 and 9 <= max(full["lrs"]) <= 10
    assert [p.key for p in full["placements"]] == ["none", "convs", "fc1", "all", "all-after"]
    by_key = {p.key: p for p in full["placements"]}
    assert by_key["convs"].bn == ("conv1", "conv2", "conv3") and by_key["fc1"].bn == ("fc1",)
    assert by_key["all"].bn == by_key["all-after"].bn and by_key["all-after"].position == "after"


def test_quick_profile_uses_a_much_smaller_grid_of_shrunk_runs(monkeypatch):
    full, quick = grid_settings(quick=False), grid_settings(quick=True)
    assert len(quick["lrs"]) * len(quick["placements"]) * 4 <= len(full["lrs"]) * len(full["placements"])
    full_run = experiments.placement_config(0.9, "all")
    monkeypatch.setenv("BNREVIEW_QUICK", "1")
    assert grid_settings() == quick
    quick_run = experiments.placement_config(0.9, "all")
    assert quick_run.n_train <= 2_000 and (full_run.n_train or 60_000) >= 10 * quick_run.n_train


def test_runs_are_the_learning_rate_chapters_runs():
    """Same configs, so the same cache entries: the explorer adds only the runs that chapter lacks."""
    for lr in LRS:
        assert experiments.placement_config(lr, "none") == experiments.sweep_config(lr, ())
        assert experiments.placement_config(lr, "all") == experiments.sweep_config(lr, BN_LAYERS)
    placed = set(experiments.placement_configs(3.0).values())
    for key in ("none", "convs", "fc1", "all", "all-after"):
        assert experiments.placement_config(3.0, key) in placed


def test_unknown_placement_is_named():
    with pytest.raises(ValueError, match="unknown placement 'middle'"):
        experiments.placement("middle")


def test_grid_is_trained_through_the_cache_and_read_back(forbid_training):
    grid = small_grid()
    assert grid.n_runs == len(LRS) * len(KEYS)
    for (i, j), config in grid.configs.items():
        p = grid.placements[j]
        assert (config.lr, config.bn, config.bn_position, config.n_train, config.seed) == (
            LRS[i], p.bn, p.position, 128, 0)
        assert load_cached(config) is not None
    assert grid.run(1e4, "all").diverged and not grid.run(0.1, "none").diverged
    forbid_training()
    again = small_grid()
    assert all(again.runs[k].test_acc == grid.runs[k].test_acc for k in grid.runs)


def test_figure_holds_every_run_and_shows_only_the_selected_one(grid):
    fig = build_figure(grid, selected=(0, 2))
    metas = [t.meta for t in fig.data]
    runs = [m for m in metas if m["kind"] == "loss" and not m["ref"]]
    assert len(runs) == len(LRS) * len(KEYS)  # one loss curve per run ...
    assert len([m for m in metas if m["kind"] == "acc" and not m["ref"]]) == len(LRS) * len(KEYS)  # ... and accuracy
    assert len([m for m in metas if m["kind"] == "marker"]) == len(LRS) * len(KEYS)
    assert len([m for m in metas if m["kind"] == "sweep" and not m["ref"]]) == len(KEYS)
    assert {(m["lr"], m["placement"]) for m in runs} == {(i, j) for i in range(len(LRS)) for j in range(len(KEYS))}
    shown = [t.meta for t in fig.data if t.visible]
    assert {(m["kind"], m["lr"], m["placement"], m["ref"]) for m in shown} == {
        ("loss", 0, 2, False), ("acc", 0, 2, False), ("marker", 0, 2, False), ("sweep", -1, 2, False),  # selected
        ("loss", 0, 0, True), ("acc", 0, 0, True), ("sweep", -1, 0, True),  # no BN at the same lr, for comparison
    }
    no_bn = build_figure(grid, selected=(1, 0))
    assert not any(t.meta["ref"] for t in no_bn.data if t.visible)  # no reference when no BN is selected


def test_html_has_the_div_controls_and_no_cdn(grid):
    page = explorer_html(grid)
    assert f'id="{DIV_ID}"' in page and re.search(rf'Plotly.newPlot\(\s*"{DIV_ID}"', page)
    assert page.index(f'<script src="{explorer.PLOTLY_SRC}"></script>') < page.index("Plotly.newPlot")
    assert "cdn" not in page.lower() and "https://" not in page and "http://" not in page.replace(
        "http://www.w3.org", "")
    assert f'id="{DIV_ID}-lr"' in page and f'max="{len(LRS) - 1}"' in page
    assert page.count("data-placement=") == len(KEYS)
    assert f'id="{DIV_ID}-controls" class="bn-explorer-controls" style="display: none"' in page  # shown by JS only
    assert "bnSelect" in page
    state = json.loads(re.search(r"var S = (\{.*?\});\n", page).group(1))
    assert state["placements"] == list(KEYS) and state["lrs"] == list(LRS)
    assert "diverged at step" in state["titles"][1][2]
    assert explorer_html(grid, plotly_src="/x/plotly.js").count('<script src="/x/plotly.js"></script>') == 1


def test_plotly_src_none_emits_no_script_tag(grid, monkeypatch):
    monkeypatch.setattr(explorer, "PLOTLY_SRC", None)
    monkeypatch.setenv(explorer.BOOK_ENV, "1")
    assert "<script src=" not in explorer_html(grid)
    assert explorer.explorer_display(grid).data.startswith('<div class="bn-explorer">')


def test_the_book_serves_plotly_js_and_a_live_notebook_carries_it(grid, monkeypatch):
    """JupyterLab serves no _static/ folder: outside the book's build the output brings plotly.js itself."""
    monkeypatch.setenv(explorer.BOOK_ENV, "1")
    book = explorer.explorer_display(grid).data
    assert f'<script src="{explorer.PLOTLY_SRC}"></script>' in book and len(book) < 10**6
    monkeypatch.delenv(explorer.BOOK_ENV)
    live = explorer.explorer_display(grid).data
    assert "<script src=" not in live and live.startswith('<script type="text/javascript">')
    assert live.rindex("Plotly.newPlot") > live.index('<div class="bn-explorer">') > 4 * 10**6  # plotly.js first


def test_summary_and_static_figure(grid):
    numbers = experiments.grid_summary(grid)
    assert numbers["none"]["best_lr"] == 0.1 and numbers["all"]["min_diverged_lr"] == 1e4
    assert numbers["fc1"]["n_diverged"] == 1
    assert numbers["seconds_per_run"] > 0
    fig = explorer.accuracy_vs_lr(grid)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and "2 SGD steps (1 epoch over 128 training images, 64 held out)" in ax.get_title()
    assert len(ax.get_legend().get_texts()) == len(KEYS) + 1  # the placements and "diverged"


def test_summary_uses_the_books_one_criterion_for_the_largest_lr_that_trains(grid):
    """Not "did not diverge": the run must also end at the accuracy (criteria.trains), like the lr chapter's."""
    h = grid.run(0.1, "all")
    assert not h.diverged
    below, above = h.final_test_acc + 0.01, h.final_test_acc - 0.01
    assert experiments.grid_summary(grid, accuracy=below)["all"]["largest_trains_lr"] is None  # no divergence, fails
    assert experiments.grid_summary(grid, accuracy=above)["all"]["largest_trains_lr"] == 0.1  # 1e4 diverged: fails
    table = explorer.summary_markdown(grid, accuracy=below)
    assert "largest lr that trains (ends at" in table and "did not diverge" not in table
    assert table.count("\n") == 1 + len(KEYS) and "lr chosen on validation" in table


def test_best_learning_rate_is_chosen_on_validation_not_test(grid, monkeypatch):
    from bnreview import criteria

    chosen = []
    real = criteria.best_by_validation
    monkeypatch.setattr(criteria, "best_by_validation", lambda runs, keys=None: chosen.append(runs) or real(runs, keys))
    experiments.grid_summary(grid)
    assert len(chosen) == len(KEYS) and all(h.val_acc for runs in chosen for hs in runs.values() for h in hs)


def test_loss_smoothing_leaves_gaps_for_non_finite_losses():
    xs, ys = explorer.trailing_mean([1.0, 3.0, math.inf, 2.0], window=2)
    assert xs == [1, 2, 3, 4] and ys == [1.0, 2.0, None, None]
    assert explorer.trailing_mean([4.0, 2.0, 0.0], window=10)[1] == [4.0, 3.0, 2.0]
    assert explorer.trailing_mean([1.0] * 12, window=3, every=5)[0] == [1, 5, 10, 12]  # the first, every 5th, the last


def test_accuracy_points_end_at_the_final_step(grid):
    h = grid.run(0.1, "all")
    xs, ys = explorer.accuracy_points(h)
    assert xs[0] == 0 and xs[-1] == len(h.step_loss) and ys[-1] == pytest.approx(100 * h.final_test_acc, abs=0.01)


def test_every_placement_has_a_label():
    assert len({p.label for p in PLACEMENTS}) == len(PLACEMENTS)
    assert len({p.key for p in PLACEMENTS}) == len({p.grid_key for p in PLACEMENTS}) == len(PLACEMENTS)
    grid_keys = {p.key for p in grid_settings(quick=False)["placements"] + grid_settings(quick=True)["placements"]}
    assert grid_keys <= {p.key for p in PLACEMENTS}  # the explorer's grid names placements of the one list
    assert set(experiments.SWEEP_NETWORKS.values()) <= {p.key for p in PLACEMENTS}


def test_script_and_style_ship_as_package_data(grid):
    """bnreview/static/explorer.js and explorer.css, read through importlib.resources and declared as package data."""
    from importlib import resources
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    static = resources.files("bnreview") / "static"
    script, style = (static / "explorer.js").read_text(encoding="utf-8"), (static / "explorer.css").read_text(
        encoding="utf-8")
    assert "gd.bnSelect = select" in script and "var S = ${state};" in script and "#${id}-controls" in style
    assert explorer.static_text("explorer.js") == script
    page = explorer_html(grid)
    assert "gd.bnSelect = select" in page and f"#{DIV_ID}-controls {{" in page and "${" not in page
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = pyproject["tool"]["setuptools"]["package-data"]["bnreview"]
    assert {"static/*.js", "static/*.css"} <= set(shipped)
    assert "bnreview.*" in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]  # bnreview.experiments


def test_explorer_findings_quote_the_sweeps_usable_range_and_the_grids_speed(grid):
    from bnreview import findings as fd

    sweep = {(fd.LR_NO_BN, lr): [grid.run(lr, "none")] * 3 for lr in LRS} | {
        (fd.LR_BN, lr): [grid.run(lr, "all")] * 3 for lr in LRS}
    f = fd.explorer_findings(grid, sweep)
    assert f.usable == (fd.largest_usable_lr(sweep, fd.LR_NO_BN), fd.largest_usable_lr(sweep, fd.LR_BN))
    assert f.sweep_seeds == 3 and f.grid is grid and f.claims == []  # the usable range: the sweep's, 3 seeds
    assert f.speed.one_seed and f.speed.n == len(LRS)
    assert f.summary == experiments.grid_summary(grid)
