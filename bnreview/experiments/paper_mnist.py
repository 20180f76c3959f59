"""Runs of the chapter "The paper's MNIST experiment" (Sec. 4.1, Figure 1): the paper's MLP, with a pilot
that chooses its learning rate on held-out images, and how far its layers' inputs drift."""

from __future__ import annotations

from dataclasses import replace

from bnreview.config import TrainConfig, for_profile, is_quick, seeds
from bnreview.experiments.common import Plan, grid_plan, mean_or_nan, run_plan, seeded, val_size
from bnreview.findings.core import pilot_choice
from bnreview.probes import PERCENTILES
from bnreview.train import History

MLP_STEPS = 50_000
MLP_BATCH = 60
MLP_LR = 0.5
MLP_INIT_STD = 0.05
MLP_EVAL_EVERY = 500
MLP_PROBE_EVERY = 250
QUICK_MLP_STEPS = 600
MLP_PILOT_STEPS = 3_000  # the short runs that choose the learning rate
MLP_PILOT_LRS = (0.1, 0.5, 2.0)
MLP_PILOT_STDS = (0.01, 0.05)
NETWORKS = {"without BN": "none", "with BN": "all"}  # the paper's two MLPs: no BN, BN on every hidden layer


def paper_mlp_config(bn=(), quick_steps: int = QUICK_MLP_STEPS, **changes) -> TrainConfig:
    """Sec. 4.1: 28x28 input, 3 hidden layers of 100 sigmoid units, weights ~ N(0, 0.05^2), batch 60,
    50,000 steps of plain SGD at lr 0.5; test accuracy every 500 steps, the layers' inputs every 250.
    Quick profile: 2,000 images, 600 steps."""
    config = TrainConfig(**{"lr": MLP_LR, "model": "mlp", "activation": "sigmoid", "bn": bn,
                            "batch_size": MLP_BATCH, "steps": MLP_STEPS, "init_std": MLP_INIT_STD,
                            "eval_every": MLP_EVAL_EVERY, "probe_every": MLP_PROBE_EVERY, **changes})
    quick = for_profile(config, quick_steps=quick_steps)
    return replace(quick, eval_every=50, probe_every=25 if quick.probe_every else 0) if is_quick() else quick


def mlp_pilot_config(lr: float, init_std: float, bn=(), **changes) -> TrainConfig:
    """A short run of the paper's MLP (3,000 steps) to choose lr and the initial scale on ``VAL_SIZE``
    held-out training images (never on the test set). Quick profile: 200 steps."""
    return paper_mlp_config(bn, quick_steps=200, lr=lr, init_std=init_std, steps=MLP_PILOT_STEPS, probe_every=0,
                            val_size=val_size(), **changes)


def percentile_drift(history: History, layer: str, unit: bool = True, skip: int = 0) -> dict[str, float]:
    """How much a layer's input to its nonlinearity moves during training, from the probes.

    For the 15th, 50th and 85th percentiles (of one unit, or of the whole layer with
    ``unit=False``): ``range`` is max - min over the probes after the first ``skip``,
    ``step`` the mean absolute change between consecutive probes; ``mean_range`` and
    ``mean_step`` average them over the three percentiles.
    """
    prefix = "unit_p" if unit else "p"
    out = {}
    for p in PERCENTILES:
        values = history.probes[layer][f"{prefix}{p}"][skip:]
        out[f"range_p{p}"] = max(values) - min(values)
        out[f"step_p{p}"] = mean_or_nan([abs(b - a) for a, b in zip(values, values[1:])])
    out["mean_range"] = mean_or_nan([out[f"range_p{p}"] for p in PERCENTILES])
    out["mean_step"] = mean_or_nan([out[f"step_p{p}"] for p in PERCENTILES])
    return out


def pilot_plan() -> Plan:
    """The pilot: ``{(init_std, lr, "none"|"all"): [seed 0]}``, 3,000 steps each, holding out ``VAL_SIZE`` images."""
    return grid_plan({(std, lr, bn): mlp_pilot_config(lr, std, bn) for std in MLP_PILOT_STDS
                      for lr in MLP_PILOT_LRS for bn in ("none", "all")}, seed_list=[0])


def chosen_plan(choice: dict) -> tuple[Plan, Plan]:
    """The runs the pilot's ``choice`` decides: both networks at the chosen lr over the seeds, and seed 0
    of both at the runner-up lr: ``(runs, check)``."""
    runs = {name: seeded(paper_mlp_config(bn, lr=choice["lr"])) for name, bn in NETWORKS.items()}
    check = {name: seeded(paper_mlp_config(bn, lr=choice["runner_up"]), seeds()[:1]) for name, bn in NETWORKS.items()}
    return runs, check


def paper_mnist_runs() -> tuple[dict, dict, dict, dict]:
    """Every run of the paper-MNIST chapter: ``(pilot, runs, check, choice)``.

    ``pilot``: the runs of :func:`pilot_plan`; ``choice``: the learning rate (and runner-up) chosen on
    the validation images by :func:`bnreview.findings.pilot_choice`; ``runs`` and ``check``: the runs
    of :func:`chosen_plan`.
    """
    pilot = run_plan(pilot_plan())
    choice = pilot_choice(pilot, MLP_INIT_STD)
    runs, check = (run_plan(plan) for plan in chosen_plan(choice))
    return pilot, runs, check, choice
