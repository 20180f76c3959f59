"""What every chapter's runs share: seeds and grids through the run cache, the sweep's config, summaries,
and numbers derived from a finished run (its network rebuilt, its accuracy, cached beside it).

Results come back as ``{key: [History, ...]}`` (one History per seed) and are summarised into
plain rows (``list[dict]``) that the chapters show and tabulate.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import replace
from types import ModuleType

import torch

from bnreview.cache import cache_dir, cache_key, cached_json, cached_train, entry_path
from bnreview import protocol
from bnreview.config import TrainConfig, for_profile, is_quick
from bnreview.data import batches
from bnreview.train import PROGRESS_ENV, History

# Every comparison runs these seeds (the first one only in the quick profile): the protocol's ten (protocol.SEEDS).
SEEDS = tuple(range(protocol.SEEDS))
# Training images held out to choose settings on (a best learning rate, the MLP's lr and initial
# scale): the test set is only ever used to report the chosen setting.
VAL_SIZE = 5_000
SWEEP_EVAL_EVERY = 100  # steps between test evaluations of a sweep run (for "steps to 97%")


def seeds(full: Sequence[int] = SEEDS) -> tuple[int, ...]:
    """The seeds a chapter runs: all of them in a full run, the first one in the quick profile."""
    return tuple(full[:1]) if is_quick() else tuple(full)


def val_size() -> int:
    """The held-out validation images, ``VAL_SIZE``, read when a config is built (the tests shrink it)."""
    return VAL_SIZE


def sweep_config(lr: float, bn=(), **changes) -> TrainConfig:
    """One run of the learning-rate sweep: LeNet, batch 64, one epoch over the 55,000 training images
    left after holding out ``VAL_SIZE`` for validation, test accuracy every 100 steps, layer
    statistics (and weight norms) every 50 steps. Quick profile: 2,000 images, one epoch (32 steps),
    test accuracy every 8 steps."""
    config = TrainConfig(**{"lr": lr, "bn": bn, "epochs": 1, "batch_size": 64, "eval_every": SWEEP_EVAL_EVERY,
                            "probe_every": 50, "val_size": val_size(), **changes})
    quick = for_profile(config)
    return replace(quick, eval_every=8) if is_quick() else quick


# ---------------------------------------------------------------------------------------
# Runs


# A plan: what a chapter trains, before anything is trained. {key: [one TrainConfig per seed]}.
# Chapters run plans (run_plan); bnreview.runs lists and precomputes the same plans.
Plan = dict[Hashable, list[TrainConfig]]


def seeded(config: TrainConfig, seed_list: Iterable[int] | None = None) -> list[TrainConfig]:
    """``config`` once per seed (default: :func:`seeds`, the first one in the quick profile)."""
    return [replace(config, seed=s) for s in (seeds() if seed_list is None else seed_list)]


def grid_plan(configs: dict[Hashable, TrainConfig], seed_list: Iterable[int] | None = None) -> Plan:
    """Every config of ``{key: config}`` over the seeds: ``{key: [config per seed]}``."""
    seed_list = tuple(seeds() if seed_list is None else seed_list)
    return {key: seeded(config, seed_list) for key, config in configs.items()}


def run_configs(configs: Sequence[TrainConfig], progress: bool = True) -> list[History]:
    """Every run of ``configs``, in order, from the cache where it can be.

    Where a person waits (a live notebook, a terminal) and some run is not cached, a bar counts the
    runs done of the total and each run's own bar its epochs. ``progress=False``, or
    ``BNREVIEW_PROGRESS=0`` (the book's build and CI), keeps both quiet.
    """
    from tqdm.auto import tqdm

    show = (progress and os.environ.get(PROGRESS_ENV, "1") != "0"
            and any(not entry_path(config).exists() for config in configs))
    histories = []
    with tqdm(total=len(configs), desc="runs (cached ones are read)", unit="run", disable=not show) as bar:
        for config in configs:
            histories.append(cached_train(config, progress=progress))
            bar.update()
    return histories


def run_plan(plan: Plan, progress: bool = True) -> dict[Hashable, list[History]]:
    """Every run of ``plan``, from the cache where it can be: ``{key: [History per seed]}``."""
    histories = iter(run_configs([config for configs in plan.values() for config in configs], progress))
    return {key: [next(histories) for _ in configs] for key, configs in plan.items()}


def run_seeds(config: TrainConfig, seed_list: Iterable[int] | None = None, progress: bool = True) -> list[History]:
    """``config`` trained once per seed (from the cache where it can be)."""
    return run_configs(seeded(config, seed_list), progress)


def run_grid(configs: dict[Hashable, TrainConfig], seed_list: Iterable[int] | None = None,
             progress: bool = True) -> dict[Hashable, list[History]]:
    """Every config of ``{key: config}`` over the seeds: ``{key: [History per seed]}``."""
    return run_plan(grid_plan(configs, seed_list), progress)


def mean_or_nan(values: Sequence[float]) -> float:
    """The mean of ``values``, NaN when there are none."""
    return sum(values) / len(values) if values else float("nan")


def final_accuracies(histories: list[History]) -> list[float]:
    """Final test accuracy of each run; a diverged run counts with what it was left at."""
    return [h.final_test_acc for h in histories]


def seed_summary(histories: list[History], accuracies: Sequence[float] = (0.97, 0.98)) -> dict:
    """Mean, min and max of the final test accuracy over seeds, diverged runs, and steps to each accuracy.

    ``steps_to[acc]`` lists each seed's first step at that test accuracy (None: never);
    ``steps_to_mean[acc]`` averages the seeds that got there (NaN if none did).
    """
    finals = final_accuracies(histories)
    steps_to = {acc: [h.steps_to(acc) for h in histories] for acc in accuracies}
    return {
        "n": len(histories),
        "finals": finals,
        "mean": sum(finals) / len(finals),
        "min": min(finals),
        "max": max(finals),
        "diverged": sum(h.diverged for h in histories),
        "diverged_runs": [h.diverged for h in histories],
        "steps_to": steps_to,
        "steps_to_mean": {acc: mean_or_nan([s for s in v if s is not None]) for acc, v in steps_to.items()},
        "reached": {acc: sum(s is not None for s in v) for acc, v in steps_to.items()},
    }


def model_from(history: History, device: str = "cpu") -> torch.nn.Module:
    """A fresh network built from the run's config, holding the run's final weights and BN statistics."""
    model = history.train_config().build_model()
    model.load_state_dict(history.state_dict)
    return model.to(device).eval()


@torch.no_grad()
def eval_accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Test accuracy in eval mode: BN uses the statistics stored in its buffers (Algorithm 2's map)."""
    model.eval()
    correct = sum((model(x).argmax(1) == y).sum().item() for x, y in batches(images, labels, 1000))
    return correct / len(labels)


def cached_numbers(history: History, name: str, compute: Callable[[], dict], *modules: ModuleType) -> dict:
    """``compute()`` once per run and per version of the code that derives it: stored as JSON beside the run.

    The key adds to the run's the source of this module (the rebuilt network, the accuracy) and
    of ``modules``: the caller passes the module that computes, ``sys.modules[__name__]``. An
    edit to how a number is derived then misses instead of serving the old number.
    """
    key = cache_key(history.train_config(), sys.modules[__name__], *modules)
    return cached_json(cache_dir() / f"{key}.{name}.json", compute)
