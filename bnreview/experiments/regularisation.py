"""Runs of the chapter on regularisation (paper Sec. 3.4 and 4.2.1): does BN regularise, let dropout go, need less
L2, and take a faster learning-rate decay?

LeNet on a training set small enough to overfit, with BN, dropout, both or neither, each at its own
learning rate chosen on held-out images by a one-seed pilot (the protocol's rule: never by hand,
never on the test set), and the accuracy of each final network on its own training images (the
other side of the train-test gap). Then, for the networks with and without BN at those rates: a grid of
weight decays (L2), each network's chosen on the same held-out images by a second pilot, and an exponential
learning-rate decay at two speeds (the protocol's ``less-l2`` and ``faster-decay``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from bnreview.config import TrainConfig, data_split, for_profile, pick
from bnreview.experiments.common import (Plan, cached_numbers, eval_accuracy, grid_plan, model_from, run_plan, seeds,
                                        val_size)
from bnreview.criteria import best_per_group
from bnreview.models import BN_LAYERS
from bnreview.train import History

REG_N_TRAIN = 2_000
REG_EPOCHS = 15
REG_LRS = (0.1, 0.3, 0.9)  # the pilot's rates: each variant trains at the one best on the validation images
REG_DROPOUT = 0.5
REG_VARIANTS = {  # label -> (BN layers, dropout)
    "neither": ((), 0.0),
    "dropout": ((), REG_DROPOUT),
    "BN": (BN_LAYERS, 0.0),
    "BN + dropout": (BN_LAYERS, REG_DROPOUT),
}


def regularisation_config(bn=(), dropout: float = 0.0, lr: float = REG_LRS[1], **changes) -> TrainConfig:
    """The review's LeNet (tanh, plain SGD, batch 64) at ``lr`` on a fixed ``REG_N_TRAIN``-image subset
    for ``REG_EPOCHS`` epochs, long enough to fit it (nearly) completely, with BN on all four layers or
    none and dropout or none; ``VAL_SIZE`` other training images held out to choose ``lr``.
    Quick profile: 500 images, 3 epochs."""
    config = TrainConfig(**{"lr": lr, "bn": bn, "dropout": dropout, "batch_size": 64, "epochs": REG_EPOCHS,
                            "n_train": REG_N_TRAIN, "val_size": val_size(), **changes})
    return for_profile(config, quick_n_train=500, quick_epochs=3)


def reg_pilot_plan() -> Plan:
    """The pilot: ``{(variant, lr): [the first seed]}`` over ``REG_LRS`` (two of them in the quick profile)."""
    return grid_plan({(name, lr): regularisation_config(bn, p, lr=lr) for name, (bn, p) in REG_VARIANTS.items()
                      for lr in pick(REG_LRS, REG_LRS[1:])}, seed_list=seeds()[:1])


def reg_choice(pilot: dict[tuple[str, float], list[History]]) -> dict[str, float]:
    """Each variant's learning rate: its pilot's best on the validation images (:func:`best_per_group`)."""
    return best_per_group(pilot)


def regularisation_plan(choice: dict[str, float], seed_list: Iterable[int] | None = None) -> Plan:
    """``{variant: [config per seed]}`` for the four variants of ``REG_VARIANTS``, each at ``choice[variant]``
    (the pilot's run is the first seed's)."""
    return grid_plan({name: regularisation_config(bn, p, lr=choice[name]) for name, (bn, p) in REG_VARIANTS.items()},
                     seed_list)


def regularisation_runs(seed_list: Iterable[int] | None = None) -> dict[str, list[History]]:
    """The pilot, then the runs of :func:`regularisation_plan` at the rates it chose: ``{variant: [History per
    seed]}`` (each run's config holds its rate)."""
    return run_plan(regularisation_plan(reg_choice(run_plan(reg_pilot_plan())), seed_list))


REG_NETWORKS = ("neither", "BN")  # the variants the L2 grid and the decay schedules run
REG_WEIGHT_DECAYS = (0.0, 1e-4, 5e-4, 2.5e-3)  # factors of 5: the paper reduces BN-Inception's L2 five times
REG_LR_DECAYS = {"base": 0.9, "6x faster": 0.9 ** 6}  # per epoch; the paper lowers the rate "6 times faster"


def l2_pilot_plan(choice: dict[str, float]) -> Plan:
    """The L2 pilot: ``{(network, weight decay): [the first seed]}`` at each network's chosen rate (two weight decays
    in the quick profile); at weight decay 0 it is the chapter's own first-seed run."""
    return grid_plan({(name, wd): regularisation_config(REG_VARIANTS[name][0], lr=choice[name], weight_decay=wd)
                      for name in REG_NETWORKS for wd in pick(REG_WEIGHT_DECAYS, REG_WEIGHT_DECAYS[::3])},
                     seed_list=seeds()[:1])


def l2_choice(pilot: dict[tuple[str, float], list[History]]) -> dict[str, float]:
    """Each network's weight decay: its L2 pilot's best on the validation images (:func:`best_per_group`)."""
    return best_per_group(pilot)


def l2_plan(choice: dict[str, float], wd: dict[str, float], seed_list: Iterable[int] | None = None) -> Plan:
    """``{(network, "none" or "chosen"): [config per seed]}``: each network at its rate without weight decay and with
    its chosen one (the same configs when the choice is 0)."""
    return grid_plan({(name, which): regularisation_config(REG_VARIANTS[name][0], lr=choice[name], weight_decay=w)
                      for name in REG_NETWORKS for which, w in (("none", 0.0), ("chosen", wd[name]))}, seed_list)


def l2_runs(seed_list: Iterable[int] | None = None) -> tuple[dict, dict[str, float], dict]:
    """The L2 pilot, the weight decays it chose and the runs of :func:`l2_plan`: ``(pilot, {network: weight decay},
    {(network, "none" or "chosen"): [History per seed]})``."""
    choice = reg_choice(run_plan(reg_pilot_plan()))
    pilot = run_plan(l2_pilot_plan(choice))
    wd = l2_choice(pilot)
    return pilot, wd, run_plan(l2_plan(choice, wd, seed_list))


def decay_plan(choice: dict[str, float], seed_list: Iterable[int] | None = None) -> Plan:
    """``{(network, schedule): [config per seed]}``: each network at its chosen rate, decayed after every epoch by
    each factor of ``REG_LR_DECAYS``."""
    return grid_plan({(name, schedule): regularisation_config(REG_VARIANTS[name][0], lr=choice[name], lr_decay=d)
                      for name in REG_NETWORKS for schedule, d in REG_LR_DECAYS.items()}, seed_list)


def decay_runs(seed_list: Iterable[int] | None = None) -> dict[tuple[str, str], list[History]]:
    """The runs of :func:`decay_plan` at the rates the chapter's pilot chose."""
    return run_plan(decay_plan(reg_choice(run_plan(reg_pilot_plan())), seed_list))


def training_accuracy(history: History) -> float:
    """Accuracy of the run's final network on its own training images, in eval mode (no dropout, BN with its
    moving averages): the other side of the train-test gap. Cached beside the run."""
    def compute():
        images, labels = data_split(history.train_config(), "train")
        return {"train": eval_accuracy(model_from(history), images, labels)}

    return cached_numbers(history, "fit", compute, sys.modules[__name__])["train"]
