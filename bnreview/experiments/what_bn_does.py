"""Runs of the chapter "What does BN really do?": noisy BN (after Santurkar et al. 2018), the batch size,
and inference with Algorithm 2's population statistics against PyTorch's moving averages."""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterable, Sequence

import torch

from bnreview.config import TrainConfig, data_split, for_profile, pick
from bnreview.data import batches
from bnreview.experiments.common import (Plan, cached_numbers, eval_accuracy, grid_plan, mean_or_nan, model_from,
                                         run_plan, sweep_config)
from bnreview.models import BN_LAYERS
from bnreview.train import History

NOISE = 1.0
NOISY_LRS = (0.9, 3.0)  # the review's learning rate, and one at which LeNet without BN diverges
BATCH_SIZES = (8, 16, 32, 64, 128, 256)
QUICK_BATCH_SIZES = (8, 64, 256)
BATCH_N_TRAIN = 20_000
BATCH_LR_AT_64 = 0.3  # lr = BATCH_LR_AT_64 * batch_size / 64 (linear scaling)


# ---------------------------------------------------------------------------------------
# Noisy BN and the batch size


def noisy_bn_configs(lr: float, strength: float = NOISE) -> dict[str, TrainConfig]:
    """No BN, BN on all four layers, and BN with :class:`~bnreview.models.BNNoise` after each BN layer."""
    return {
        "no BN": sweep_config(lr),
        "BN": sweep_config(lr, BN_LAYERS),
        "noisy BN": sweep_config(lr, BN_LAYERS, bn_noise=strength),
    }


def noisy_plan(lrs: Sequence[float] = NOISY_LRS) -> Plan:
    """``{(lr, "no BN" | "BN" | "noisy BN"): [config per seed]}`` at each of ``NOISY_LRS``."""
    return {(lr, name): configs for lr in lrs for name, configs in grid_plan(noisy_bn_configs(lr)).items()}


def noisy_runs(lrs: Sequence[float] = NOISY_LRS) -> dict[float, dict[str, list[History]]]:
    """The runs of :func:`noisy_plan`: ``{lr: {"no BN" | "BN" | "noisy BN": [History per seed]}}``."""
    runs = run_plan(noisy_plan(lrs))
    return {lr: {name: hs for (at, name), hs in runs.items() if at == lr} for lr in lrs}


def batch_lr(batch_size: int, lr_at_64: float = BATCH_LR_AT_64) -> float:
    """The learning rate used at ``batch_size``: linear scaling from ``lr_at_64`` at batch 64."""
    return lr_at_64 * batch_size / 64


def batch_size_config(batch_size: int, bn=BN_LAYERS, **changes) -> TrainConfig:
    """LeNet with batch ``batch_size`` and lr ``batch_lr(batch_size)``: one epoch over a fixed 20,000-image
    subset, so every batch size sees the same examples. Quick profile: 2,000 images."""
    config = TrainConfig(**{"lr": batch_lr(batch_size), "bn": bn, "batch_size": batch_size, "epochs": 1,
                            "n_train": BATCH_N_TRAIN, **changes})
    return for_profile(config)


def batch_size_plan(batch_sizes: Sequence[int] | None = None, variants: dict[str, tuple] | None = None,
                    seed_list: Iterable[int] | None = None) -> Plan:
    """``{(variant, batch size): [config per seed]}``, BN on all four layers and no BN by default."""
    batch_sizes = pick(BATCH_SIZES, QUICK_BATCH_SIZES) if batch_sizes is None else batch_sizes
    variants = {"no BN": (), "BN": BN_LAYERS} if variants is None else variants
    return grid_plan({(name, b): batch_size_config(b, bn) for name, bn in variants.items() for b in batch_sizes},
                     seed_list)


def batch_size_sweep(batch_sizes: Sequence[int] | None = None, variants: dict[str, tuple] | None = None,
                     seed_list: Iterable[int] | None = None) -> dict[tuple[str, int], list[History]]:
    """The runs of :func:`batch_size_plan`: ``{(variant, batch size): [History per seed]}``."""
    return run_plan(batch_size_plan(batch_sizes, variants, seed_list))


# ---------------------------------------------------------------------------------------
# Inference: moving averages, Algorithm 2's population statistics, batch statistics


def _bn_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    return list(model.bn.values()) if hasattr(model, "bn") else []


def run_test_data(history: History) -> tuple[torch.Tensor, torch.Tensor]:
    """The test images and labels the run was evaluated on."""
    return data_split(history.train_config(), "test")


@torch.no_grad()
def batch_stats_accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                         seed: int = 0) -> float:
    """Test accuracy when BN normalises each test mini-batch of ``batch_size`` with that batch's own
    statistics, as during training ("train mode"). BN's buffers are left as they were; noise
    layers stay off. The test set is cut into shuffled batches (seeded); a last batch of one is left out."""
    model.eval()
    bns = _bn_modules(model)
    saved = [copy.deepcopy(bn.state_dict()) for bn in bns]
    for bn in bns:
        bn.train()
    correct = seen = 0
    try:
        for x, y in batches(images, labels, batch_size, generator=torch.Generator().manual_seed(seed)):
            correct += (model(x).argmax(1) == y).sum().item()
            seen += len(y)
    finally:
        for bn, state in zip(bns, saved):
            bn.load_state_dict(state)
        model.eval()
    return correct / seen


@torch.no_grad()
def population_statistics(model: torch.nn.Module, images: torch.Tensor, batch_size: int, seed: int = 0,
                          max_batches: int | None = None) -> torch.nn.Module:
    """Algorithm 2, steps 8-10, exactly: a copy of ``model`` whose BN layers hold the population statistics.

    With the trained weights frozen, the training images are passed in mini-batches of
    ``batch_size`` through the network in training mode (each BN layer normalised with its
    batch's statistics, as during training), and every BN layer averages over all those
    batches: ``E[x] = E_B[mu_B]`` and ``Var[x] = m/(m-1) E_B[sigma_B^2]``. That is what
    ``momentum=None`` (a cumulative average) does from freshly reset buffers. One shuffled pass.
    """
    model = copy.deepcopy(model).eval()
    bns = _bn_modules(model)
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    labels = torch.zeros(len(images), dtype=torch.long)
    for i, (x, _) in enumerate(batches(images, labels, batch_size, generator=torch.Generator().manual_seed(seed))):
        if max_batches is not None and i >= max_batches:
            break
        model(x)
    for bn, momentum in zip(bns, momenta):
        bn.momentum = momentum
    return model.eval()


def _statistics_gaps(model: torch.nn.Module, population: torch.nn.Module) -> dict[str, float]:
    """Per BN layer and on average, mean over channels of |moving average - population value| / population std."""
    gaps = {}
    for layer in model.bn:
        ema, pop = model.bn[layer], population.bn[layer]
        pop_std = pop.running_var.sqrt()
        gaps[f"gap_mean_{layer}"] = ((ema.running_mean - pop.running_mean).abs() / pop_std).mean().item()
        gaps[f"gap_std_{layer}"] = ((ema.running_var.sqrt() - pop_std).abs() / pop_std).mean().item()
    gaps["gap_mean"] = mean_or_nan([gaps[f"gap_mean_{layer}"] for layer in model.bn])
    gaps["gap_std"] = mean_or_nan([gaps[f"gap_std_{layer}"] for layer in model.bn])
    return gaps


def inference_accuracies(history: History) -> dict[str, float]:
    """Test accuracy of a BN run three ways, and how far apart its two kinds of statistics are (cached beside the run):

    - ``ema``: eval mode with the moving averages kept during training (momentum 0.1, PyTorch's default);
    - ``population``: eval mode with Algorithm 2's population statistics, computed after
      training over one pass of the run's training images in batches of its batch size;
    - ``batch``: each test batch (of the training batch size) normalised with its own statistics;
    - ``gap_mean``/``gap_std`` (and per layer, ``gap_mean_<layer>``, ``gap_std_<layer>``): the mean
      over channels of |moving average - population value| / population std, for the mean and the std.
    """
    def compute():
        config = history.train_config()
        model = model_from(history)
        images, labels = run_test_data(history)
        train_images, _ = data_split(config, "train")
        population = population_statistics(model, train_images, config.batch_size)
        return {
            "ema": eval_accuracy(model, images, labels),
            "population": eval_accuracy(population, images, labels),
            "batch": batch_stats_accuracy(model, images, labels, config.batch_size),
            **_statistics_gaps(model, population),
        }

    return cached_numbers(history, "inference", compute, sys.modules[__name__])


def inference_by_batch(by_batch: dict[tuple[str, int], list[History]]) -> dict[int, list[dict[str, float]]]:
    """:func:`inference_accuracies` of every BN run of :func:`batch_size_sweep`'s ``by_batch``, per batch size."""
    return {b: [inference_accuracies(h) for h in runs] for (v, b), runs in by_batch.items() if v == "BN"}
