"""Runs of the chapter "Is LeNet too shallow?": two families of networks made deeper, without and with BN before every
nonlinearity, each network at its own learning rate, chosen by a first-seed pilot on held-out images.

- ``"mlp"``: the paper's sigmoid MLP with 2 to 16 hidden layers of 100 units, 10,000 steps;
- ``"convnet"``: a plain stack of 2 to 16 tanh convolutions in LeNet's style (:class:`bnreview.models.ConvNet`),
  3,000 steps (a 16-layer step costs about 20 ms on one thread, 15 times the MLP's).

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
DEPTH_EVAL_EVERY = 250  # steps between test evaluations (for "steps to 90%")
DEPTH_ACCURACY = 0.90  # the accuracy whose steps are counted (depth-steps)
FAMILIES = ("mlp", "convnet")
ACTIVATION = {"mlp": "sigmoid", "convnet": "tanh"}  # the paper's MLP's units; LeNet's
FAMILY_STEPS = {"mlp": 10_000, "convnet": 3_000}
DEPTH_STEPS = FAMILY_STEPS["mlp"]


def depth_config(depth: int, bn, lr: float, family: str = "mlp", **changes) -> TrainConfig:
    """A network of ``family`` with ``depth`` hidden layers (a sigmoid MLP of 100 units a layer, or a ConvNet of tanh
    convolutions), PyTorch's default initialisation, batch 60, plain SGD at ``lr`` for ``FAMILY_STEPS[family]``
    steps, test accuracy every 250 steps, ``VAL_SIZE`` images held out.
    Quick profile: 2,000 images, 200 steps, test accuracy every 50."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; accepted: {', '.join(map(repr, FAMILIES))}")
    config = TrainConfig(**{"lr": lr, "model": family, "activation": ACTIVATION[family], "bn": bn,
                            "hidden_layers": depth, "batch_size": MLP_BATCH, "steps": FAMILY_STEPS[family],
                            "eval_every": DEPTH_EVAL_EVERY, "val_size": val_size(), **changes})
    quick = for_profile(config, quick_steps=200)
    return replace(quick, eval_every=50) if is_quick() else quick


def depth_pilot_plan(family: str = "mlp") -> Plan:
    """``{(depth, lr, network): [seed 0]}``: every depth and network of ``family`` at every rate, first seed."""
    return grid_plan({(depth, lr, name): depth_config(depth, bn, lr, family) for depth in pick(DEPTHS, QUICK_DEPTHS)
                      for lr in pick(DEPTH_LRS, QUICK_DEPTH_LRS) for name, bn in NETWORKS.items()}, seed_list=[0])


def depth_choice(pilot: dict) -> dict[tuple[int, str], float]:
    """``{(depth, network): lr}``: each network's rate at each depth, the best of the pilot's on validation."""
    return dict(sorted(best_per_group({((depth, name), lr): runs for (depth, lr, name), runs in pilot.items()}).items()))


def depth_plan(choice: dict[tuple[int, str], float], family: str = "mlp") -> Plan:
    """``{(depth, network): [config per seed]}`` at the rates ``choice`` gives (seed 0's runs are the pilot's)."""
    return grid_plan({(depth, name): depth_config(depth, NETWORKS[name], lr, family)
                      for (depth, name), lr in choice.items()}, seeds())


@dataclass(frozen=True)
class DepthRuns:
    """The depth chapter's runs: the pilot, the rates it chose and the comparison over the seeds."""

    pilot: dict[tuple[int, float, str], list[History]]
    choice: dict[tuple[int, str], float]
    runs: dict[tuple[int, str], list[History]]


def depth_runs(family: str = "mlp") -> DepthRuns:
    """The pilot, then every network of ``family`` at every depth at its chosen rate over the seeds."""
    pilot = run_plan(depth_pilot_plan(family))
    choice = depth_choice(pilot)
    return DepthRuns(pilot, choice, run_plan(depth_plan(choice, family)))
