"""Runs of the chapter on regularisation (paper Sec. 3.4 and 4.2.1): does BN let dropout go?

LeNet on a training set small enough to overfit, with BN, dropout, both or neither, and the
accuracy of each final network on its own training images (the other side of the train-test gap).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from bnreview.config import TrainConfig, data_split, for_profile
from bnreview.experiments.common import Plan, cached_numbers, eval_accuracy, grid_plan, model_from, run_plan
from bnreview.models import BN_LAYERS
from bnreview.train import History

REG_N_TRAIN = 2_000
REG_EPOCHS = 15
REG_LR = 0.3  # a rate at which both networks train on the subset (lr 0.9 makes the last epoch's accuracy erratic)
REG_DROPOUT = 0.5
REG_VARIANTS = {  # label -> (BN layers, dropout)
    "neither": ((), 0.0),
    "dropout": ((), REG_DROPOUT),
    "BN": (BN_LAYERS, 0.0),
    "BN + dropout": (BN_LAYERS, REG_DROPOUT),
}


def regularisation_config(bn=(), dropout: float = 0.0, **changes) -> TrainConfig:
    """The review's LeNet (tanh, plain SGD, batch 64) at lr ``REG_LR`` on a fixed ``REG_N_TRAIN``-image
    subset for ``REG_EPOCHS`` epochs, long enough to fit it (nearly) completely, with BN on all four
    layers or none and dropout or none. Quick profile: 500 images, 3 epochs."""
    config = TrainConfig(**{"lr": REG_LR, "bn": bn, "dropout": dropout, "batch_size": 64, "epochs": REG_EPOCHS,
                            "n_train": REG_N_TRAIN, **changes})
    return for_profile(config, quick_n_train=500, quick_epochs=3)


def regularisation_plan(seed_list: Iterable[int] | None = None) -> Plan:
    """``{variant: [config per seed]}`` for the four variants of ``REG_VARIANTS``."""
    return grid_plan({name: regularisation_config(bn, p) for name, (bn, p) in REG_VARIANTS.items()}, seed_list)


def regularisation_runs(seed_list: Iterable[int] | None = None) -> dict[str, list[History]]:
    """The runs of :func:`regularisation_plan`: ``{variant: [History per seed]}``."""
    return run_plan(regularisation_plan(seed_list))


def training_accuracy(history: History) -> float:
    """Accuracy of the run's final network on its own training images, in eval mode (no dropout, BN with its
    moving averages): the other side of the train-test gap. Cached beside the run."""
    def compute():
        images, labels = data_split(history.train_config(), "train")
        return {"train": eval_accuracy(model_from(history), images, labels)}

    return cached_numbers(history, "fit", compute, sys.modules[__name__])["train"]
