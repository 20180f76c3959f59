"""Runs of the chapter "The paper's MNIST experiment" (Sec. 4.1, Figure 1): the paper's MLP, with a pilot
that chooses its learning rate on held-out images, and how far its layers' inputs drift."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bnreview.config import TrainConfig, for_profile, is_quick
from bnreview.experiments.common import Plan, grid_plan, run_plan, seeded, seeds, val_size
from bnreview.criteria import pilot_choice
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
PILOT_SEEDS = 3  # the pilot's seeds: one ranked lr 0.5 and 2 the other way round on another CPU kind
MLP_INIT_STDS = (0.01, 0.05, 0.5)  # the initialisation grid: pilot-length runs at each network's chosen rate
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


def pilot_plan() -> Plan:
    """The pilot: ``{(init_std, lr, "none"|"all"): [seeds 0-2]}``, 3,000 steps each, holding out ``VAL_SIZE`` images
    (the first seed only in the quick profile)."""
    return grid_plan({(std, lr, bn): mlp_pilot_config(lr, std, bn) for std in MLP_PILOT_STDS
                      for lr in MLP_PILOT_LRS for bn in ("none", "all")}, seed_list=seeds()[:PILOT_SEEDS])


def chosen_plan(choice: dict) -> tuple[Plan, Plan, Plan, Plan]:
    """The runs the pilot's ``choice`` decides, over the seeds unless said: ``(runs, own, check, init)``.

    ``runs``: both networks at the rate chosen for the network without BN (the paper's comparison, one rate
    for both); ``own``: the network with BN at its own chosen rate (the same runs when the rates agree);
    ``check``: both at the runner-up rate, first seed only; ``init``: ``{(init_std, network): [...]}``, pilot-length
    runs of each network at its own chosen rate for every scale of ``MLP_INIT_STDS``.
    """
    rate = {"without BN": choice["lr"], "with BN": choice["bn_lr"]}
    runs = {name: seeded(paper_mlp_config(bn, lr=choice["lr"])) for name, bn in NETWORKS.items()}
    own = {"with BN": seeded(paper_mlp_config("all", lr=rate["with BN"]))}
    check = {name: seeded(paper_mlp_config(bn, lr=choice["runner_up"]), seeds()[:1]) for name, bn in NETWORKS.items()}
    init = grid_plan({(std, name): mlp_pilot_config(rate[name], std, bn) for std in MLP_INIT_STDS
                      for name, bn in NETWORKS.items()})
    return runs, own, check, init


@dataclass(frozen=True)
class MlpRuns:
    """Every run of the paper-MNIST chapter, by role (see :func:`pilot_plan` and :func:`chosen_plan`)."""

    pilot: dict  # {(init_std, lr, "none"|"all"): [History]}, first seed
    runs: dict  # {"without BN": [...], "with BN": [...]} at the rate chosen for the network without BN
    own: list  # the network with BN at its own chosen rate, one History per seed
    check: dict  # both networks at the runner-up rate, first seed
    init: dict  # {(init_std, network): [History per seed]}, pilot-length runs at each network's own rate
    choice: dict  # bnreview.criteria.pilot_choice


def paper_mnist_runs() -> MlpRuns:
    """The pilot, then every run its choice (:func:`bnreview.criteria.pilot_choice`, on validation) decides."""
    pilot = run_plan(pilot_plan())
    choice = pilot_choice(pilot, MLP_INIT_STD)
    runs, own, check, init = (run_plan(plan) for plan in chosen_plan(choice))
    return MlpRuns(pilot, runs, own["with BN"], check, init, choice)
