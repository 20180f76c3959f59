"""Runs of the chapter "Is LeNet too shallow?": the paper's sigmoid MLP made deeper (2 to 16 hidden layers), without
and with BN before every sigmoid, each network at its own learning rate, chosen by a first-seed pilot on held-out images.

The pilot trains every (depth, network) at every rate of :data:`DEPTH_LRS` for seed 0, with the full settings of the
comparison: its run at the chosen rate is also seed 0's run of the comparison (same config, one cache entry).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bnreview.config import TrainConfig, for_profile, is_quick, pick
from bnreview.criteria import best_per_group
from bnreview.experiments.common import Plan, grid_plan, run_plan, seeds, val_size
from bnreview.experiments.paper_mnist import MLP_BATCH, NETWORKS
from bnreview.train import History

DEPTHS = (2, 4, 8, 16)  # hidden layers of 100 sigmoid units
QUICK_DEPTHS = (2, 8)
DEPTH_LRS = (0.03, 0.1, 0.3, 1.0, 3.0)
QUICK_DEPTH_LRS = (0.3, 3.0)
DEPTH_STEPS = 10_000
DEPTH_EVAL_EVERY = 250  # steps between test evaluations (for "steps to 90%")
DEPTH_ACCURACY = 0.90  # the accuracy whose steps are counted (depth-steps)


def depth_config(depth: int, bn, lr: float, **changes) -> TrainConfig:
    """A sigmoid MLP with ``depth`` hidden layers of 100 units, PyTorch's default initialisation, batch 60,
    10,000 steps of plain SGD at ``lr``, test accuracy every 250 steps, ``VAL_SIZE`` images held out.
    Quick profile: 2,000 images, 200 steps, test accuracy every 50."""
    config = TrainConfig(**{"lr": lr, "model": "mlp", "activation": "sigmoid", "bn": bn, "hidden_layers": depth,
                            "batch_size": MLP_BATCH, "steps": DEPTH_STEPS, "eval_every": DEPTH_EVAL_EVERY,
                            "val_size": val_size(), **changes})
    quick = for_profile(config, quick_steps=200)
    return replace(quick, eval_every=50) if is_quick() else quick


def depth_pilot_plan() -> Plan:
    """``{(depth, lr, network): [seed 0]}``: every depth and network at every rate, first seed."""
    return grid_plan({(depth, lr, name): depth_config(depth, bn, lr) for depth in pick(DEPTHS, QUICK_DEPTHS)
                      for lr in pick(DEPTH_LRS, QUICK_DEPTH_LRS) for name, bn in NETWORKS.items()}, seed_list=[0])


def depth_choice(pilot: dict) -> dict[tuple[int, str], float]:
    """``{(depth, network): lr}``: each network's rate at each depth, the best of the pilot's on validation."""
    return dict(sorted(best_per_group({((depth, name), lr): runs for (depth, lr, name), runs in pilot.items()}).items()))


def depth_plan(choice: dict[tuple[int, str], float]) -> Plan:
    """``{(depth, network): [config per seed]}`` at the rates ``choice`` gives (seed 0's runs are the pilot's)."""
    return grid_plan({(depth, name): depth_config(depth, NETWORKS[name], lr) for (depth, name), lr in choice.items()},
                     seeds())


@dataclass(frozen=True)
class DepthRuns:
    """The depth chapter's runs: the pilot, the rates it chose and the comparison over the seeds."""

    pilot: dict[tuple[int, float, str], list[History]]
    choice: dict[tuple[int, str], float]
    runs: dict[tuple[int, str], list[History]]


def depth_runs() -> DepthRuns:
    """The pilot, then every network at every depth at its chosen rate over the seeds."""
    pilot = run_plan(depth_pilot_plan())
    choice = depth_choice(pilot)
    return DepthRuns(pilot, choice, run_plan(depth_plan(choice)))
