"""Tuned baselines: the review's comparison with each network at its own learning rate, chosen on validation.

The review's setting (lr 0.9 for both networks) is the review's question. This asks another: is BN better than a
network without it that trains at its own best rate? The protocol's ``tuned-accuracy`` (MNIST) and
``tuned-harder-task`` (Fashion-MNIST) entries fix the rule before any run: a first-seed pilot trains each network
for the full 10 epochs at each rate of :data:`TUNED_LRS`, with :data:`VAL_SIZE` training images held out; each
network keeps the rate with the best final validation accuracy, and trains at it over the seeds. The pilot's run at
the chosen rate is also the first seed's run of the comparison (the same config, one cache entry).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bnreview.config import TrainConfig, pick, review_config
from bnreview.criteria import best_per_group
from bnreview.experiments.common import Plan, grid_plan, run_plan, seeds, val_size
from bnreview.models import BN_LAYERS
from bnreview.train import History

TUNED_LRS = (0.03, 0.1, 0.3, 0.9)  # the pilot's rates: the review's 0.9 and three below it, x3 apart
QUICK_TUNED_LRS = (0.1, 0.9)
TUNED_NETWORKS = {"no BN": (), "BN": BN_LAYERS}  # BN on all four layers, as in the review


def tuned_config(dataset: str, bn, lr: float) -> TrainConfig:
    """The review's setting (tanh LeNet, plain SGD, batch 64, 10 epochs) on ``dataset`` at ``lr``, with
    ``VAL_SIZE`` training images held out to choose the rate, and no layer probes. Quick: 2,000 images, 2 epochs."""
    return review_config(dataset=dataset, bn=bn, lr=lr, val_size=val_size(), probe_every=0)


def tuned_pilot_plan(dataset: str) -> Plan:
    """``{(network, lr): [the first seed]}``: both networks at every rate of ``TUNED_LRS`` (two in the quick
    profile)."""
    return grid_plan({(name, lr): tuned_config(dataset, bn, lr) for name, bn in TUNED_NETWORKS.items()
                      for lr in pick(TUNED_LRS, QUICK_TUNED_LRS)}, seed_list=seeds()[:1])


def tuned_choice(pilot: dict[tuple[str, float], list[History]]) -> dict[str, float]:
    """Each network's rate: the best of its pilot's on the validation images (:func:`best_per_group`)."""
    return best_per_group(pilot)


def tuned_plan(dataset: str, choice: dict[str, float], seed_list: Iterable[int] | None = None) -> Plan:
    """``{network: [config per seed]}``: each network at the rate ``choice`` gives it."""
    return grid_plan({name: tuned_config(dataset, TUNED_NETWORKS[name], choice[name]) for name in TUNED_NETWORKS},
                     seed_list)


@dataclass(frozen=True)
class TunedRuns:
    """The pilot, the rate it chose for each network and the comparison's runs over the seeds."""

    pilot: dict[tuple[str, float], list[History]]
    choice: dict[str, float]
    runs: dict[str, list[History]]


def tuned_runs(dataset: str = "mnist") -> TunedRuns:
    """The pilot on ``dataset``, then both networks at their chosen rates over the seeds."""
    pilot = run_plan(tuned_pilot_plan(dataset))
    choice = tuned_choice(pilot)
    return TunedRuns(pilot, choice, run_plan(tuned_plan(dataset, choice)))
