"""The figures' modules: every figure reachable as ``plots.<name>``, and the retraining panel's live curves.

Histories are made by hand (no training): the figures only read them.
"""

import ast
import inspect

import matplotlib.pyplot as plt
import numpy as np
import pytest

from bnreview import plots
from bnreview.plots import runs as plots_runs
from bnreview.plots import sweeps as plots_sweeps
from bnreview.plots import tuned as plots_tuned
from bnreview.config import TrainConfig
from bnreview.train import History


def made(epochs: int, steps_per_epoch: int, lr: float = 0.1, **fields) -> History:
    """A run of ``epochs`` epochs whose losses fall and accuracies rise, without training."""
    steps = epochs * steps_per_epoch
    return History(config=TrainConfig(lr=lr, epochs=epochs).to_dict(), steps_per_epoch=steps_per_epoch,
                   train_loss=list(np.geomspace(2.0, 0.02, epochs)), test_loss=list(np.geomspace(1.0, 0.05, epochs)),
                   test_acc=list(np.linspace(0.9, 0.99, epochs)), step_loss=list(np.geomspace(2.3, 0.01, steps)),
                   **fields)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_every_figure_is_reachable_as_plots_name():
    for module in (plots_runs, plots_sweeps, plots_tuned):
        for name in module.__all__:
            assert getattr(plots, name) is getattr(module, name) and name in plots.__all__
    from bnreview.plots import lr_sweep_figure  # noqa: F401  (``from plots import`` finds them too)

    assert not hasattr(plots, "lr_sweep")  # renamed: experiments.lr_sweep runs the sweep, this draws it
    with pytest.raises(AttributeError):
        plots.no_such_figure


@pytest.mark.parametrize("module", [plots_runs, plots_sweeps, plots_tuned], ids=lambda m: m.__name__)
def test_every_public_function_has_a_one_line_summary(module):
    tree = ast.parse(inspect.getsource(module))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            doc = ast.get_docstring(node)
            lines = doc.splitlines() if doc else []
            assert lines and (len(lines) == 1 or not lines[1].strip()), f"{node.name}: no one-line summary"


def test_moving_average_is_the_mean_of_each_window():
    xs, ys = plots.moving_average([1, 2, 3, 4, 5], 2)
    assert list(xs) == [2, 3, 4, 5] and list(ys) == [1.5, 2.5, 3.5, 4.5]
    xs, ys = plots.moving_average([1, 3], 50)  # fewer values than the window: one mean of them all
    assert list(xs) == [2] and list(ys) == [2.0]


def test_live_curves_draws_loss_accuracy_and_thinned_step_losses():
    baseline, run = made(10, 938), made(1, 938, lr=5.0, diverged=True, diverged_step=400)
    fig = plots.live_curves({"baseline": baseline, "this run": run}, "baseline: a\nthis run: b", diverged_at=400)
    losses, accuracy, steps = fig.axes
    assert fig.get_suptitle() == "baseline: a\nthis run: b"
    assert [ax.get_title() for ax in fig.axes] == ["loss per epoch", "test accuracy during training",
                                                  "training loss per step"]
    assert losses.get_yscale() == "log"  # the losses span more than a factor of 50
    assert steps.get_yscale() == "log" and steps.get_ylabel() == "training loss (nats, mean of 50 steps)"
    curves = [line for line in steps.lines if line.get_label() in ("baseline", "this run")]
    assert len(curves) == 2 and all(len(line.get_xdata()) <= plots.LIVE_POINTS for line in curves)
    assert curves[0].get_xdata()[-1] == 9380  # thinned, the last step kept
    assert any(list(line.get_xdata()) == [400, 400] for line in steps.lines)  # where the run diverged
    assert accuracy.lines[0].get_xdata()[-1] == 9380 and accuracy.lines[1].get_xdata()[-1] == 938
    assert plots.png(fig)[:4] == b"\x89PNG"


def test_redrawing_in_place_draws_the_same_picture_as_a_new_figure():
    baseline, run = made(10, 100), made(2, 100, lr=0.5)
    fig = plots.live_curves({"baseline": baseline}, "baseline only")
    plots.png(fig)
    again = plots.live_curves({"baseline": baseline, "this run": run}, "baseline: a\nthis run: b", 150, fig=fig)
    assert again is fig
    assert plots.png(again) == plots.png(plots.live_curves({"baseline": baseline, "this run": run},
                                                           "baseline: a\nthis run: b", 150))


def test_lr_sweep_figure_draws_accuracy_and_steps_against_the_learning_rate():
    rows = [{"variant": v, "lr": lr, "n": 2, "mean": 0.95, "min": 0.9, "max": 0.99, "finals": [0.9, 0.99],
             "diverged_runs": [False, lr > 1], "steps_to": {0.97: [100, None], 0.98: [200, None]},
             "steps_to_mean": {0.97: 100, 0.98: 200}} for v in ("no BN", "BN") for lr in (0.1, 9.0)]
    fig = plots.lr_sweep_figure(rows, title="sweep")
    assert len(fig.axes) == 4 and fig.axes[0].get_xscale() == "log" and fig.axes[2].get_ylabel() == "SGD steps"
    assert fig.get_suptitle() == "sweep"


def test_tuned_baselines_rings_each_chosen_rate_and_marks_a_diverged_pilot():
    pilot = {"no BN": {0.1: 98.5, 0.9: float("nan")}, "BN": {0.1: 98.0, 0.9: 98.9}}
    finals = {"review's rate": {"no BN": [98.0, 98.2], "BN": [98.9, 99.0]},
              "own rate": {"no BN": [98.8, 98.9], "BN": [98.9, 99.0]}}
    fig = plots.tuned_baselines(pilot, {"no BN": 0.1, "BN": 0.9}, finals, title="tuned")
    left, right = fig.axes
    assert left.get_xscale() == "log" and [t.get_text() for t in left.texts] == ["diverged"]
    assert [t.get_text() for t in right.get_xticklabels()] == ["review's rate", "own rate"]
    assert fig.get_suptitle() == "tuned"


def test_architecture_table_lists_every_layer_even_those_on_a_fast_path():
    """conv1 and conv3 run through models' fast paths (no module call): the table must still list them."""
    from bnreview.models import LeNet
    from bnreview.plots import architecture_table, layer_rows

    assert [row[0] for row in layer_rows(LeNet())] == ["conv1", "conv2", "conv3", "fc1", "fc2"]
    table = architecture_table(LeNet(bn="all")).data
    assert "| `conv3` | `Conv2d(16, 120, kernel_size=(5, 5), stride=(1, 1), bias=False)` | 120x1x1 | 48,000 |" in table
    assert "| `conv1` | `Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), bias=False)` | 6x28x28 | 150 |" in table
    assert "**61,932**" in table
