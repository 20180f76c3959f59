"""Runs of the chapter "Is MNIST too easy?": the review's experiment on Fashion-MNIST.

Fashion-MNIST has MNIST's format, size and number of classes, and is much harder, so it tells
whether the review's "no advantage" was about LeNet or about MNIST. Three sets of runs, every
one through the run cache: the review's settings (:func:`fashion_review_runs`), the
learning-rate question at a few rates with the learning-rate chapter's budget
(:func:`fashion_lr_runs`), and d2l's published LeNet settings (:func:`d2l_runs`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bnreview.config import TrainConfig, for_profile, review_config
from bnreview.experiments.common import SEEDS, Plan, grid_plan, run_plan, seeded, seeds
from bnreview.experiments.lr_sweep import lr_sweep_plan
from bnreview.models import BN_LAYERS
from bnreview.train import History

FASHION = "fashion-mnist"
FASHION_LRS = (0.1, 0.9, 3.0)  # below, at and above the review's rate
# d2l (Dive into Deep Learning, 0.17 edition), LeNet on Fashion-MNIST: sigmoid, batch 256, 10 epochs;
# lr 0.9 without BN, lr 1.0 with BN on all four layers (test accuracy 0.779 and 0.858 there).
D2L_SETTINGS = {"no BN": ((), 0.9), "BN": (BN_LAYERS, 1.0)}
D2L_SEEDS = SEEDS[:3]  # a check of our LeNet against d2l's published numbers, not a tested claim: three seeds
D2L_PUBLISHED = {"no BN": 0.779, "BN": 0.858}


def fashion_review_plan(seed_list: Iterable[int] | None = None) -> Plan:
    """The review's settings (tanh LeNet, SGD lr 0.9, batch 64, 10 epochs) on Fashion-MNIST, without and with
    BN on all four layers, one config per seed: ``{"no BN": [...], "BN": [...]}`` (no layer probes)."""
    return {name: seeded(review_config(dataset=FASHION, probe_every=0, bn=bn), seed_list)
            for name, bn in (("no BN", ()), ("BN", BN_LAYERS))}


def fashion_review_runs(seed_list: Iterable[int] | None = None) -> dict[str, list[History]]:
    """The runs of :func:`fashion_review_plan`."""
    return run_plan(fashion_review_plan(seed_list))


def fashion_lr_plan(lrs: Sequence[float] = FASHION_LRS, seed_list: Iterable[int] | None = None) -> Plan:
    """The learning-rate chapter's sweep (one epoch over the 55,000 training images left after the validation
    hold-out, test accuracy every 100 steps) on Fashion-MNIST at ``lrs``: ``{(network, lr): [config per seed]}``."""
    return lr_sweep_plan(lrs, seed_list=seed_list, dataset=FASHION, probe_every=0)


def fashion_lr_runs(lrs: Sequence[float] = FASHION_LRS, seed_list: Iterable[int] | None = None
                    ) -> dict[tuple[str, float], list[History]]:
    """The runs of :func:`fashion_lr_plan`: ``{(network, lr): [History per seed]}``."""
    return run_plan(fashion_lr_plan(lrs, seed_list))


def d2l_config(bn: tuple[str, ...], lr: float) -> TrainConfig:
    """d2l's LeNet setting on Fashion-MNIST with the book's LeNet: sigmoid, batch 256, 10 epochs (quick: 1 epoch
    over 2,000 images)."""
    return for_profile(TrainConfig(lr=lr, bn=bn, activation="sigmoid", batch_size=256, epochs=10, dataset=FASHION))


def d2l_plan(seed_list: Iterable[int] | None = None) -> Plan:
    """d2l's two settings with the book's LeNet, one config per seed (default ``D2L_SEEDS``):
    ``{"no BN": [...], "BN": [...]}``."""
    return grid_plan({name: d2l_config(bn, lr) for name, (bn, lr) in D2L_SETTINGS.items()},
                     seeds(D2L_SEEDS) if seed_list is None else seed_list)


def d2l_runs(seed_list: Iterable[int] | None = None) -> dict[str, list[History]]:
    """The runs of :func:`d2l_plan`."""
    return run_plan(d2l_plan(seed_list))
